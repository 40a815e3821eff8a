//! Unit tests for `RepoPath` (checklist #34).

use super::{RepoPath, RepoPathError};
use crate::{NsidError, RecordKeyError};

#[test]
fn parts() {
    let p: RepoPath = "app.bsky.feed.post/3jzfcijpj2z2a".parse().unwrap();
    assert_eq!(p.collection_str(), "app.bsky.feed.post");
    assert_eq!(p.rkey_str(), "3jzfcijpj2z2a");
    assert_eq!(p.collection(), "app.bsky.feed.post");
    assert_eq!(p.rkey(), "3jzfcijpj2z2a");
    assert_eq!(RepoPath::new(&p.collection(), &p.rkey()), p);
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<RepoPath>().unwrap_err();
    assert_eq!(err("app.bsky.feed.post"), RepoPathError::MissingSlash);
    assert_eq!(
        err("app.bsky.feed.post/a/b"),
        RepoPathError::TooManySegments
    );
    assert_eq!(err("/app.bsky.feed.post/a"), RepoPathError::TooManySegments);
    assert_eq!(
        err("a..b/x"),
        RepoPathError::Collection(NsidError::EmptySegment)
    );
    assert_eq!(
        err("app.bsky.feed.post/"),
        RepoPathError::RecordKey(RecordKeyError::Empty)
    );
    assert_eq!(
        err("app.bsky.feed.post/.."),
        RepoPathError::RecordKey(RecordKeyError::DotSegment)
    );
    assert_eq!(
        err("app.bsky.feed.post/a b").to_string(),
        "repo path record key is invalid: record key contains disallowed character ' ' at byte 1 (allowed: ASCII letters, digits, '.', '-', '_', ':', '~')"
    );
}
