//! Unit tests for `AtIdentifier`: which branch parses, and which error comes back.

use super::{AtIdentifier, AtIdentifierError};
use crate::{DidError, HandleError};

#[test]
fn branches() {
    let id: AtIdentifier = "did:plc:abc".parse().unwrap();
    assert_eq!(id.as_did().unwrap().method(), "plc");
    assert!(id.as_handle().is_none());
    let id: AtIdentifier = "Alice.Test".parse().unwrap();
    assert_eq!(id.as_handle().unwrap().as_str(), "alice.test");
    assert_eq!(id.as_str(), "alice.test");
    assert_eq!(
        AtIdentifier::try_from("did:web:a.com".to_owned())
            .unwrap()
            .as_str(),
        "did:web:a.com"
    );
}

#[test]
fn errors_come_from_the_matching_parser() {
    let err = |s: &str| s.parse::<AtIdentifier>().unwrap_err();
    assert_eq!(
        err("DID:plc:abc"),
        AtIdentifierError::Did(DidError::MissingPrefix)
    );
    assert_eq!(
        err("@handle"),
        AtIdentifierError::Handle(HandleError::InvalidChar { ch: '@', pos: 0 })
    );
    assert_eq!(
        err("blah").to_string(),
        "handle needs at least two labels separated by '.'"
    );
}
