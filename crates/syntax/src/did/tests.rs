//! Unit tests for `Did`: accessors and the exact error for each kind of bad input.

use super::{Did, DidError};

#[test]
fn accessors() {
    let did: Did = "did:plc:7iza6de2dwap2sbkpav7c6c6".parse().unwrap();
    assert_eq!(did.method(), "plc");
    assert_eq!(did.identifier(), "7iza6de2dwap2sbkpav7c6c6");
    let web: Did = "did:web:localhost%3A1234:a:b".parse().unwrap();
    assert_eq!(web.method(), "web");
    assert_eq!(web.identifier(), "localhost%3A1234:a:b");
    assert_eq!(web.to_string(), "did:web:localhost%3A1234:a:b");
    assert_eq!(format!("{web:?}"), "Did(\"did:web:localhost%3A1234:a:b\")");
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Did>().unwrap_err();
    assert_eq!(err(""), DidError::Empty);
    assert_eq!(err("DID:plc:x"), DidError::MissingPrefix);
    assert_eq!(err("did:plc"), DidError::MissingIdentifier);
    assert_eq!(err("did:PLC:x"), DidError::InvalidMethod);
    assert_eq!(err("did::x"), DidError::InvalidMethod);
    assert_eq!(err("did:plc:x:"), DidError::BadEnding);
    assert_eq!(err("did:plc:x%"), DidError::BadEnding);
    assert_eq!(
        err("did:plc:a/b"),
        DidError::InvalidChar { ch: '/', pos: 9 }
    );
    assert_eq!(err("did:plc:é"), DidError::InvalidChar { ch: 'é', pos: 8 });
    assert_eq!(
        err(&format!("did:plc:{}", "a".repeat(2041))),
        DidError::TooLong
    );
    assert_eq!(
        err("did:plc:a/b").to_string(),
        "DID contains disallowed character '/' at byte 9 (allowed: ASCII letters, digits, '.', '_', ':', '%', '-')"
    );
}

#[test]
fn max_length_is_inclusive() {
    let s = format!("did:plc:{}", "a".repeat(2040));
    assert_eq!(s.len(), 2048);
    assert!(s.parse::<Did>().is_ok());
}
