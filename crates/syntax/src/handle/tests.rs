//! Unit tests for `Handle`: lowercase normalisation, disallowed TLDs, error messages.

use super::{DISALLOWED_TLDS, Handle, HandleError};

#[test]
fn normalises_to_lowercase() {
    let h: Handle = "Alice.Example.COM".parse().unwrap();
    assert_eq!(h.as_str(), "alice.example.com");
    let h = Handle::try_from("XX.LCS.MIT.EDU".to_owned()).unwrap();
    assert_eq!(h, "xx.lcs.mit.edu");
    assert_eq!(h.tld(), "edu");
}

// checklist #26: syntax accepts these, the helper flags them.
#[test]
fn disallowed_tlds_are_valid_syntax_but_flagged() {
    for tld in DISALLOWED_TLDS {
        let h: Handle = format!("laptop.{}", tld.to_uppercase()).parse().unwrap();
        assert!(h.is_disallowed_tld(), "{h}");
    }
    let ok: Handle = "alice.bsky.social".parse().unwrap();
    assert!(!ok.is_disallowed_tld());
    let test: Handle = "alice.test".parse().unwrap();
    assert!(!test.is_disallowed_tld());
    assert!(test.is_test_tld());
    // a label that merely contains a disallowed word is fine
    let h: Handle = "local.example.com".parse().unwrap();
    assert!(!h.is_disallowed_tld());
    assert!(Handle::invalid().is_disallowed_tld());
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Handle>().unwrap_err();
    assert_eq!(err(""), HandleError::Empty);
    assert_eq!(err("john"), HandleError::TooFewLabels);
    assert_eq!(err("john..test"), HandleError::EmptyLabel);
    assert_eq!(err("john.test."), HandleError::EmptyLabel);
    assert_eq!(err("-john.test"), HandleError::LabelHyphen);
    assert_eq!(err("john.0"), HandleError::TldNotLetter);
    assert_eq!(
        err("jo_hn.test"),
        HandleError::InvalidChar { ch: '_', pos: 2 }
    );
    assert_eq!(
        err(" john.test"),
        HandleError::InvalidChar { ch: ' ', pos: 0 }
    );
    let long_label = format!("short.{}.test", "o".repeat(64));
    assert_eq!(err(&long_label), HandleError::LabelTooLong);
    assert_eq!(
        err(&long_label).to_string(),
        "handle label longer than 63 characters"
    );
    let too_long = format!("{}test", "a.".repeat(125));
    assert_eq!(err(&too_long), HandleError::TooLong);
}
