//! Unit tests for `AtUri`: parts, constructors, error messages (checklist #32).

use super::{AtUri, AtUriError};
use crate::{AtIdentifier, NsidError, RecordKeyError};

#[test]
fn parts() {
    let u: AtUri = "at://did:plc:asdf123/com.atproto.feed.post/record"
        .parse()
        .unwrap();
    assert_eq!(u.authority_str(), "did:plc:asdf123");
    assert!(matches!(u.authority(), AtIdentifier::Did(_)));
    assert_eq!(u.collection_str(), Some("com.atproto.feed.post"));
    assert_eq!(u.rkey_str(), Some("record"));
    assert_eq!(u.repo_path().unwrap(), "com.atproto.feed.post/record");

    let u: AtUri = "at://User.Bsky.Social/com.atproto.feed.post"
        .parse()
        .unwrap();
    assert_eq!(
        u.as_str(),
        "at://User.Bsky.Social/com.atproto.feed.post",
        "text kept as given"
    );
    assert_eq!(u.authority().as_str(), "user.bsky.social");
    assert_eq!(u.collection().unwrap(), "com.atproto.feed.post");
    assert_eq!(u.rkey(), None);
    assert_eq!(u.repo_path(), None);

    let u: AtUri = "at://did:plc:asdf123".parse().unwrap();
    assert_eq!(u.collection_str(), None);
    assert_eq!(u.rkey_str(), None);
}

#[test]
fn constructors_agree_with_parse() {
    let u: AtUri = "at://did:plc:asdf123/com.atproto.feed.post/record"
        .parse()
        .unwrap();
    let a = u.authority();
    let c = u.collection().unwrap();
    let r = u.rkey().unwrap();
    assert_eq!(AtUri::for_record(&a, &c, &r), u);
    assert_eq!(
        AtUri::for_collection(&a, &c),
        "at://did:plc:asdf123/com.atproto.feed.post"
            .parse::<AtUri>()
            .unwrap()
    );
    assert_eq!(
        AtUri::for_repo(&a),
        "at://did:plc:asdf123".parse::<AtUri>().unwrap()
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<AtUri>().unwrap_err();
    assert_eq!(err("AT://did:plc:x"), AtUriError::MissingScheme);
    assert_eq!(err("at://did:plc:x/"), AtUriError::TrailingSlash);
    assert_eq!(err("at:///did:plc:x"), AtUriError::EmptyAuthority);
    assert_eq!(
        err("at://a.com//app.bsky.feed.post"),
        AtUriError::EmptySegment
    );
    assert_eq!(err("at://a.com/a.b.c/d/e"), AtUriError::TooManySegments);
    assert_eq!(
        err("at://a.com#/frag"),
        AtUriError::QueryOrFragment { ch: '#', pos: 10 }
    );
    assert_eq!(
        err("at://a.com/a.b.c?x=1"),
        AtUriError::QueryOrFragment { ch: '?', pos: 16 }
    );
    assert_eq!(
        err("at://a.com/12345"),
        AtUriError::Collection(NsidError::TooFewSegments)
    );
    assert_eq!(
        err("at://a.com/a.b.c/.."),
        AtUriError::RecordKey(RecordKeyError::DotSegment)
    );
    assert_eq!(
        err("at://name").to_string(),
        "AT-URI authority is invalid: handle needs at least two labels separated by '.'"
    );
    assert_eq!(
        err("at://did:plc:").to_string(),
        "AT-URI authority is invalid: DID must not end with ':' or '%'"
    );
}
