//! `interop-tests/atproto-interop-tests/data-model/*.json`: fixtures must match byte for byte,
//! valid documents are accepted, invalid ones rejected (checklist #1-#3, #8-#11, #13).

use base64::Engine as _;
use data_model::{Value, cbor, cid_for_cbor, json};

fn vectors(name: &str) -> Vec<serde_json::Value> {
    let path = format!(
        "{}/../../interop-tests/atproto-interop-tests/data-model/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(!cases.is_empty(), "{name} has no cases");
    println!("data-model/{name}: {} cases", cases.len());
    cases
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap()
}

#[test]
fn fixtures_are_byte_exact_both_ways() {
    for case in vectors("data-model-fixtures.json") {
        let want_cbor = b64(case["cbor_base64"].as_str().unwrap());
        let want_cid = case["cid"].as_str().unwrap();

        // JSON -> Value -> CBOR bytes -> CID
        let value = json::from_json(&case["json"]).unwrap();
        let bytes = cbor::encode(&value);
        assert_eq!(bytes, want_cbor, "encoding of {}", case["json"]);
        assert_eq!(cid_for_cbor(&bytes).to_string(), want_cid);

        // CBOR bytes -> Value -> JSON (same document back)
        let decoded = cbor::decode(&want_cbor).unwrap();
        assert_eq!(decoded, value);
        assert_eq!(json::to_json(&decoded), case["json"]);
    }
}

#[test]
fn valid_documents_are_accepted_and_round_trip() {
    for case in vectors("data-model-valid.json") {
        let note = case["note"].as_str().unwrap_or("?");
        let value = json::from_json(&case["json"]).unwrap_or_else(|e| panic!("{note}: {e}"));
        let bytes = cbor::encode(&value);
        assert_eq!(cbor::decode(&bytes).unwrap(), value, "{note}");
    }
}

#[test]
fn invalid_documents_are_rejected() {
    for case in vectors("data-model-invalid.json") {
        let note = case["note"].as_str().unwrap_or("?");
        assert!(
            json::from_json(&case["json"]).is_err(),
            "accepted invalid case: {note}"
        );
    }
}

#[test]
fn blob_refs_are_found_including_legacy() {
    let doc = serde_json::json!({
        "$type": "app.bsky.feed.post",
        "embed": {"images": [{"image": {
            "$type": "blob",
            "ref": {"$link": "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},
            "mimeType": "image/jpeg", "size": 10000}}]},
        "legacy": {"cid": "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity", "mimeType": "image/png"}
    });
    let v: Value = json::from_json(&doc).unwrap();
    let refs = v.blob_refs();
    assert_eq!(refs.len(), 2);
    assert!(refs.iter().any(|r| r.legacy && r.size.is_none()));
    assert!(refs.iter().any(|r| !r.legacy && r.size == Some(10000)));
}
