//! Unit tests for `CidString`.

use super::{CidString, CidStringError};

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<CidString>().unwrap_err();
    assert_eq!(err("noop"), CidStringError::TooShort);
    assert_eq!(
        err("cid:bafyabcdefgh"),
        CidStringError::InvalidChar { ch: ':', pos: 3 }
    );
    assert_eq!(
        err("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"),
        CidStringError::CidV0
    );
    assert_eq!(err(&"b".repeat(257)), CidStringError::TooLong);
    assert_eq!(
        err("noop").to_string(),
        "CID string is shorter than 8 characters"
    );
}
