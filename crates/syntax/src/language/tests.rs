//! Unit tests for `Language`: structure, duplicates, error messages.

use super::{Language, LanguageError};

#[test]
fn accepts_structures() {
    for ok in [
        "en",
        "zh-yue-HK",
        "zh-Hant-TW",
        "de-1996",
        "en-gb",
        "en-GB-oed",
        "EN-gb-OED",
        "x-whatever",
        "en-a-bbb-x-a-ccc",
        "en-US-u-islamcal",
        "pt-br",
    ] {
        assert!(ok.parse::<Language>().is_ok(), "{ok}");
    }
    let tag: Language = "pt-BR".parse().unwrap();
    assert_eq!(tag.primary(), "pt");
    assert_eq!(tag.as_str(), "pt-BR");
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Language>().unwrap_err();
    assert_eq!(err(""), LanguageError::Empty);
    assert_eq!(
        err("JA").to_string(),
        "language tag is not well-formed BCP 47 at byte 0: primary language subtag must be 2 or 3 lowercase ASCII letters"
    );
    assert_eq!(
        err("ja-"),
        LanguageError::Malformed {
            pos: 3,
            reason: "empty subtag (leading, trailing or double '-')"
        }
    );
    assert!(matches!(
        err("en-a"),
        LanguageError::Malformed { pos: 3, .. }
    ));
    assert!(matches!(
        err("en-x"),
        LanguageError::Malformed { pos: 4, .. }
    ));
    assert!(matches!(
        err("de-419-DE"),
        LanguageError::Malformed { pos: 7, .. }
    ));
    assert!(matches!(
        err("en-verylongone"),
        LanguageError::Malformed { pos: 3, .. }
    ));
    assert_eq!(
        err("de-DE-1901-1901"),
        LanguageError::DuplicateVariant("1901".into())
    );
    assert_eq!(
        err("en-rozaj-ROZAJ").to_string(),
        "language tag repeats the variant subtag \"rozaj\""
    );
    assert_eq!(
        err("en-u-co-phonebk-U-ca-buddhist"),
        LanguageError::DuplicateExtension('u')
    );
    assert!(!err("en-a-foo-a-bar").is_syntax());
    // a singleton inside private use is not an extension
    assert!("en-x-a-b-a-c".parse::<Language>().is_ok());
}

#[test]
fn many_variants_stay_cheap() {
    let variants: Vec<String> = (1000..10000).map(|n| n.to_string()).collect();
    let tag = format!("en-{}", variants.join("-"));
    assert!(tag.parse::<Language>().is_ok());
    let dup = format!("{tag}-5555");
    assert_eq!(
        dup.parse::<Language>().unwrap_err(),
        LanguageError::DuplicateVariant("5555".into())
    );
}
