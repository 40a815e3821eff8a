//! The vendored `lexicons/` folder: every document loads and every reference resolves, and
//! realistic Bluesky records pass while broken variants fail with path-naming errors
//! (checklist #31, #33, #182, #183).

use data_model::Value;
use lexicon::{RecordKeyType, ValidationErrorKind};
use serde_json::json;
use syntax::{Nsid, RecordKey};

use crate::vendored;

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const CID: &str = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";
const BLOB_CID: &str = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy";

fn nsid(s: &str) -> Nsid {
    s.parse().unwrap()
}

fn value(json: serde_json::Value) -> Value {
    data_model::json::from_json(&json).unwrap()
}

/// Validates `record` as a record of its own `$type`.
fn validate(record: &serde_json::Value) -> Result<(), lexicon::ValidationError> {
    let collection = nsid(record["$type"].as_str().unwrap());
    vendored().validate_record(&collection, &value(record.clone()))
}

/// Asserts `record` is rejected with exactly this message (path and problem).
#[track_caller]
fn rejects(record: serde_json::Value, message: &str) {
    match validate(&record) {
        Ok(()) => panic!("accepted, expected {message:?}: {record}"),
        Err(e) => assert_eq!(e.to_string(), message),
    }
}

fn blob(mime: &str, size: i64) -> serde_json::Value {
    json!({"$type": "blob", "ref": {"$link": BLOB_CID}, "mimeType": mime, "size": size})
}

fn post() -> serde_json::Value {
    json!({
        "$type": "app.bsky.feed.post",
        "text": "hello @alice.test, see https://example.com #rust ✨",
        "createdAt": "2024-11-23T15:47:01.123Z",
        "langs": ["en", "pt-BR"],
        "facets": [
            {
                "index": {"byteStart": 6, "byteEnd": 17},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": DID}]
            },
            {
                "index": {"byteStart": 23, "byteEnd": 42},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"}]
            },
            {
                "index": {"byteStart": 43, "byteEnd": 48},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "rust"}]
            }
        ],
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [
                {"image": blob("image/jpeg", 123_456), "alt": "a cat", "aspectRatio": {"width": 4, "height": 3}},
                {"image": blob("image/png", 2048), "alt": ""}
            ]
        },
        "reply": {
            "root": {"uri": format!("at://{DID}/app.bsky.feed.post/3kznmn7xqxl22"), "cid": CID},
            "parent": {"uri": format!("at://{DID}/app.bsky.feed.post/3kznmn7xqxl23"), "cid": CID}
        },
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]},
        "tags": ["atproto"],
        "clientOnlyField": {"anything": true}
    })
}

fn profile() -> serde_json::Value {
    json!({
        "$type": "app.bsky.actor.profile",
        "displayName": "Alice 🇩🇪",
        "description": "writes Rust\nlikes cats",
        "avatar": blob("image/png", 54_321),
        "banner": blob("image/jpeg", 999_999),
        "pinnedPost": {"uri": format!("at://{DID}/app.bsky.feed.post/3kznmn7xqxl22"), "cid": CID},
        "createdAt": "2023-04-01T00:00:00Z"
    })
}

fn like() -> serde_json::Value {
    json!({
        "$type": "app.bsky.feed.like",
        "subject": {"uri": format!("at://{DID}/app.bsky.feed.post/3kznmn7xqxl22"), "cid": CID},
        "createdAt": "2024-11-23T15:47:01Z"
    })
}

fn follow() -> serde_json::Value {
    json!({
        "$type": "app.bsky.graph.follow",
        "subject": "did:web:example.com",
        "createdAt": "2024-11-23T15:47:01.000000Z"
    })
}

#[test]
fn every_vendored_lexicon_loads_and_resolves() {
    let catalog = vendored();
    println!("lexicons/: {} lexicons loaded", catalog.len());
    assert!(catalog.len() >= 400, "only {} lexicons", catalog.len());
    assert_eq!(catalog.unresolved_refs(), Vec::<&str>::new());
    assert!(catalog.doc("app.bsky.feed.post").is_some());
    assert!(catalog.is_known_collection(&nsid("app.bsky.feed.post")));
    assert!(catalog.is_known_collection(&nsid("com.atproto.lexicon.schema")));
    // A defs document and an endpoint are known lexicons but not collections.
    assert!(!catalog.is_known_collection(&nsid("app.bsky.feed.defs")));
    assert!(!catalog.is_known_collection(&nsid("com.atproto.repo.createRecord")));
    assert!(!catalog.is_known_collection(&nsid("com.example.unknown")));
}

#[test]
fn realistic_records_pass() {
    for record in [post(), profile(), like(), follow()] {
        if let Err(e) = validate(&record) {
            panic!("{}: {e}", record["$type"]);
        }
    }
    // The minimal post, and an empty profile.
    validate(
        &json!({"$type": "app.bsky.feed.post", "text": "", "createdAt": "2024-01-01T00:00:00Z"}),
    )
    .unwrap();
    validate(&json!({"$type": "app.bsky.actor.profile"})).unwrap();
}

#[test]
fn open_unions_accept_unlisted_types_but_still_need_one() {
    let mut p = post();
    p["embed"] = json!({"$type": "com.example.fancy.embed", "whatever": [1, 2, 3]});
    validate(&p).unwrap();

    p["embed"] = json!({"images": []});
    rejects(
        p,
        r#"Record/embed: must be an object which includes the "$type" property"#,
    );

    // `#main` spelled out in a `$type` names the same variant.
    let mut p = post();
    p["embed"]["$type"] = json!("app.bsky.embed.images#main");
    p["embed"]["images"][0]["alt"] = json!(1);
    rejects(p, "Record/embed/images/0/alt: must be a string");
}

#[test]
fn broken_posts_name_the_path() {
    let mut p = post();
    p["embed"]["images"][0]["alt"] = json!(123);
    rejects(p, "Record/embed/images/0/alt: must be a string");

    let mut p = post();
    p.as_object_mut().unwrap().remove("createdAt");
    rejects(p, r#"Record: must have the property "createdAt""#);

    let mut p = post();
    p["createdAt"] = json!("2024-11-23 15:47");
    let e = validate(&p).unwrap_err();
    assert_eq!(e.path(), "Record/createdAt");
    assert!(
        matches!(e.kind(), ValidationErrorKind::BadFormat { .. }),
        "{e}"
    );

    let mut p = post();
    p["text"] = json!("ä".repeat(301));
    rejects(p, "Record/text: must not be longer than 300 graphemes");

    let mut p = post();
    p["text"] = json!("x".repeat(3001));
    rejects(p, "Record/text: must not be longer than 3000 bytes (UTF-8)");

    let mut p = post();
    p["facets"][1]["features"][0]["uri"] = json!("not a uri");
    let e = validate(&p).unwrap_err();
    assert_eq!(e.path(), "Record/facets/1/features/0/uri");

    let mut p = post();
    p["facets"][0]["index"]["byteStart"] = json!("6");
    rejects(p, "Record/facets/0/index/byteStart: must be an integer");

    let mut p = post();
    p["reply"]["parent"]["cid"] = json!("nope");
    let e = validate(&p).unwrap_err();
    assert_eq!(e.path(), "Record/reply/parent/cid");

    let mut p = post();
    p["embed"]["images"][1]["image"] = blob("text/html", 10);
    let e = validate(&p).unwrap_err();
    assert_eq!(e.path(), "Record/embed/images/1/image");
    assert!(
        matches!(e.kind(), ValidationErrorKind::BlobMimeType { .. }),
        "{e}"
    );

    let mut p = post();
    p["embed"]["images"] = json!(
        (0..5)
            .map(|_| json!({"image": blob("image/png", 1), "alt": ""}))
            .collect::<Vec<_>>()
    );
    rejects(p, "Record/embed/images: must not have more than 4 elements");

    let mut p = post();
    p["embed"]["images"][0]["image"] = json!({"cid": BLOB_CID, "mimeType": "image/png"});
    let e = validate(&p).unwrap_err();
    assert_eq!(*e.kind(), ValidationErrorKind::LegacyBlob, "{e}");

    let mut p = post();
    p["langs"] = json!(["english"]);
    let e = validate(&p).unwrap_err();
    assert_eq!(e.path(), "Record/langs/0");

    let mut p = post();
    p["labels"] = json!({"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": 7}]});
    rejects(p, "Record/labels/values/0/val: must be a string");
}

#[test]
fn broken_profiles_likes_and_follows_fail() {
    let mut p = profile();
    p["avatar"] = blob("image/png", 1_000_001);
    rejects(
        p,
        "Record/avatar: blob is too large (1000001 bytes; at most 1000000 allowed)",
    );

    let mut p = profile();
    p["avatar"] = blob("image/gif", 10);
    let e = validate(&p).unwrap_err();
    assert_eq!(e.path(), "Record/avatar");

    let mut p = profile();
    p["displayName"] = json!("ä".repeat(65));
    rejects(
        p,
        "Record/displayName: must not be longer than 64 graphemes",
    );

    let mut l = like();
    l["subject"].as_object_mut().unwrap().remove("cid");
    rejects(l, r#"Record/subject: must have the property "cid""#);

    let mut f = follow();
    f["subject"] = json!("alice.test");
    let e = validate(&f).unwrap_err();
    assert_eq!(e.path(), "Record/subject");

    let mut f = follow();
    f["subject"] = serde_json::Value::Null;
    rejects(f, "Record/subject: must be a string");
}

#[test]
fn record_type_must_match_the_collection() {
    let catalog = vendored();
    let like = value(like());
    let e = catalog
        .validate_record(&nsid("app.bsky.feed.repost"), &like)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"Record/$type: must be "app.bsky.feed.repost", got "app.bsky.feed.like""#
    );

    let mut no_type = like.clone();
    if let Value::Map(m) = &mut no_type {
        m.remove("$type");
    }
    let e = catalog
        .validate_record(&nsid("app.bsky.feed.like"), &no_type)
        .unwrap_err();
    assert_eq!(e.to_string(), "Record/$type: must be a string");

    let e = catalog
        .validate_record(&nsid("com.example.nothing"), &like)
        .unwrap_err();
    assert!(
        matches!(e.kind(), ValidationErrorKind::UnknownRecordType(_)),
        "{e}"
    );
}

#[test]
fn record_key_rules_come_from_the_lexicons() {
    let catalog = vendored();
    let key = |c: &str| catalog.record_key_type(&nsid(c)).unwrap().clone();
    let rkey = |s: &str| -> RecordKey { s.parse().unwrap() };

    assert_eq!(key("app.bsky.feed.post"), RecordKeyType::Tid);
    assert_eq!(
        key("app.bsky.actor.profile"),
        RecordKeyType::Literal("self".into())
    );
    assert_eq!(key("app.bsky.feed.generator"), RecordKeyType::Any);
    assert_eq!(key("com.atproto.lexicon.schema"), RecordKeyType::Nsid);
    assert_eq!(catalog.record_key_type(&nsid("app.bsky.feed.defs")), None);

    key("app.bsky.feed.post")
        .check(&rkey("3kznmn7xqxl22"))
        .unwrap();
    key("app.bsky.actor.profile").check(&rkey("self")).unwrap();
    key("app.bsky.feed.generator")
        .check(&rkey("whats-hot"))
        .unwrap();
    key("com.atproto.lexicon.schema")
        .check(&rkey("app.bsky.feed.post"))
        .unwrap();

    // checklist #31: createRecord of a profile with rkey `foo` must be refused.
    let e = key("app.bsky.actor.profile")
        .check(&rkey("foo"))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"record key "foo" does not match the collection's key type (literal:self)"#
    );
    key("app.bsky.feed.post").check(&rkey("self")).unwrap_err();
    key("com.atproto.lexicon.schema")
        .check(&rkey("3kznmn7xqxl22"))
        .unwrap_err();
}
