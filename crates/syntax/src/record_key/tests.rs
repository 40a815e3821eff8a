//! Unit tests for `RecordKey`: error messages and the TID conversion.

use super::{RecordKey, RecordKeyError};

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<RecordKey>().unwrap_err();
    assert_eq!(err(""), RecordKeyError::Empty);
    assert_eq!(err("."), RecordKeyError::DotSegment);
    assert_eq!(err(".."), RecordKeyError::DotSegment);
    assert_eq!(err("a/b"), RecordKeyError::InvalidChar { ch: '/', pos: 1 });
    assert_eq!(err(&"o".repeat(513)), RecordKeyError::TooLong);
    assert_eq!(
        err(".").to_string(),
        "record key must not be \".\" or \"..\""
    );
}

#[test]
fn tids_and_self_are_record_keys() {
    let tid: crate::Tid = "3jzfcijpj2z2a".parse().unwrap();
    assert_eq!(RecordKey::from(tid), "3jzfcijpj2z2a");
    assert_eq!(RecordKey::self_key(), "self");
    assert!("...".parse::<RecordKey>().is_ok());
}
