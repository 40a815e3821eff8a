//! Unit tests for the private helpers: MIME pattern matching, reference normalisation and the
//! structural checks that the interop vectors do not reach.

use crate::catalog::full_name;
use crate::check::is_mime_pattern;
use crate::validate::mime_matches;
use crate::{LexiconDoc, SchemaError, SchemaProblem};

#[test]
fn mime_patterns_match_like_accept_lists() {
    assert!(mime_matches("image/*", "image/png"));
    assert!(mime_matches("image/*", "IMAGE/JPEG"));
    assert!(mime_matches("image/png", "image/png; charset=binary"));
    assert!(mime_matches("*/*", "video/mp4"));
    assert!(!mime_matches("image/*", "text/plain"));
    assert!(!mime_matches("image/*", "image/"));
    assert!(!mime_matches("image/*", "imagex/png"));
    assert!(!mime_matches("image/png", "image/pngx"));
    assert!(!mime_matches("*/*", "nonsense"));
}

#[test]
fn mime_pattern_syntax() {
    for ok in [
        "image/*",
        "*/*",
        "video/mp4",
        "application/vnd.ipld.car",
        "text/plain+x",
    ] {
        assert!(is_mime_pattern(ok), "{ok}");
    }
    for bad in [
        "image",
        "*/png",
        "image/",
        "/png",
        "image/png/x",
        "image/ png",
        "",
    ] {
        assert!(!is_mime_pattern(bad), "{bad}");
    }
}

#[test]
fn refs_normalise_to_full_names() {
    let base = "app.bsky.feed.post";
    assert_eq!(full_name(base, "#replyRef"), "app.bsky.feed.post#replyRef");
    assert_eq!(full_name(base, "#main"), "app.bsky.feed.post");
    assert_eq!(
        full_name(base, "app.bsky.embed.images"),
        "app.bsky.embed.images"
    );
    assert_eq!(
        full_name(base, "app.bsky.embed.images#main"),
        "app.bsky.embed.images"
    );
    assert_eq!(
        full_name(base, "app.bsky.embed.images#image"),
        "app.bsky.embed.images#image"
    );
}

fn problem(doc: serde_json::Value) -> SchemaProblem {
    match LexiconDoc::from_json_value(doc) {
        Err(SchemaError::Invalid { problem, .. }) => problem,
        other => panic!("expected a structural problem, got {other:?}"),
    }
}

#[test]
fn structural_rules_beyond_the_vectors() {
    let doc = |defs: serde_json::Value| serde_json::json!({"lexicon": 1, "id": "com.example.test", "defs": defs});
    assert_eq!(
        problem(doc(
            serde_json::json!({"main": {"type": "object", "required": ["a"], "properties": {}}})
        )),
        SchemaProblem::RequiredNotAProperty("a".into())
    );
    assert_eq!(
        problem(doc(
            serde_json::json!({"main": {"type": "string", "minLength": 5, "maxLength": 2}})
        )),
        SchemaProblem::MinAboveMax
    );
    assert_eq!(
        problem(doc(
            serde_json::json!({"main": {"type": "blob", "accept": ["png"]}})
        )),
        SchemaProblem::BadMimePattern("png".into())
    );
    assert_eq!(
        problem(doc(
            serde_json::json!({"main": {"type": "object", "properties": {"x": {"type": "ref", "ref": "not an nsid"}}}})
        )),
        SchemaProblem::BadRef("not an nsid".into())
    );
    assert!(matches!(
        problem(doc(
            serde_json::json!({"main": {"type": "query", "output": {"encoding": "application/json", "schema": {"type": "string"}}}})
        )),
        SchemaProblem::NotAllowed {
            type_name: "string",
            ..
        }
    ));
    assert!(matches!(
        problem(doc(
            serde_json::json!({"main": {"type": "object", "properties": {"x": {"type": "query"}}}})
        )),
        SchemaProblem::NotAllowed {
            type_name: "query",
            ..
        }
    ));
    assert!(matches!(
        LexiconDoc::from_json_value(
            serde_json::json!({"lexicon": 2, "id": "com.example.test", "defs": {}})
        ),
        Err(SchemaError::Version(2))
    ));
    assert!(matches!(
        LexiconDoc::from_json_value(doc(
            serde_json::json!({"main": {"type": "record", "key": "literal:", "record": {"type": "object"}}})
        )),
        Err(SchemaError::Json(_))
    ));
    assert!(matches!(
        LexiconDoc::from_json_value(doc(
            serde_json::json!({"main": {"type": "string", "format": "email"}})
        )),
        Err(SchemaError::Json(_))
    ));
}
