//! Unit tests for `Nsid`: accessors, case preservation, error messages.

use super::{Nsid, NsidError};

#[test]
fn accessors() {
    let n: Nsid = "app.bsky.feed.post".parse().unwrap();
    assert_eq!(n.authority(), "app.bsky.feed");
    assert_eq!(n.name(), "post");
    assert_eq!(n.authority_domain(), "feed.bsky.app");
    let n: Nsid = "com.Example.fooBarV2".parse().unwrap();
    assert_eq!(n.as_str(), "com.Example.fooBarV2", "case is kept");
    assert_eq!(n.name(), "fooBarV2");
    assert_eq!(n.authority_domain(), "example.com");
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Nsid>().unwrap_err();
    assert_eq!(err(""), NsidError::Empty);
    assert_eq!(err("com.example"), NsidError::TooFewSegments);
    assert_eq!(err("example"), NsidError::TooFewSegments);
    assert_eq!(err("one.two..three"), NsidError::EmptySegment);
    assert_eq!(err("a."), NsidError::TooFewSegments);
    assert_eq!(err("com.example."), NsidError::EmptySegment);
    assert_eq!(err("com.example-.foo"), NsidError::SegmentHyphen);
    assert_eq!(err("0two.example.foo"), NsidError::FirstSegmentDigit);
    assert_eq!(err("com.example.fooBar.2"), NsidError::InvalidName);
    assert_eq!(err("a-0.b-1.c-3"), NsidError::InvalidName);
    assert_eq!(
        err("com.atproto.feed.p_st"),
        NsidError::InvalidChar { ch: '_', pos: 18 }
    );
    assert_eq!(
        err(&format!("com.{}.foo", "o".repeat(64))).to_string(),
        "NSID segment longer than 63 characters"
    );
}
