//! `interop-tests/atproto-interop-tests/lexicon/`: schema documents that must parse or be
//! rejected, and record data checked against `catalog/record.json` (checklist #182).

use lexicon::{Catalog, LexiconDoc};
use syntax::{Nsid, RecordKey};

fn vectors(name: &str) -> Vec<serde_json::Value> {
    let path = crate::repo_path(&format!(
        "interop-tests/atproto-interop-tests/lexicon/{name}"
    ));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(!cases.is_empty(), "{name} has no cases");
    println!("lexicon/{name}: {} cases", cases.len());
    cases
}

fn interop_catalog() -> Catalog {
    let catalog = Catalog::from_dir(crate::repo_path(
        "interop-tests/atproto-interop-tests/lexicon/catalog",
    ))
    .unwrap();
    assert_eq!(catalog.len(), 5);
    catalog
}

#[test]
fn valid_lexicons_parse() {
    for case in vectors("lexicon-valid.json") {
        let name = case["name"].as_str().unwrap();
        if let Err(e) = LexiconDoc::from_json_value(case["lexicon"].clone()) {
            panic!("{name}: rejected: {e}");
        }
    }
}

#[test]
fn invalid_lexicons_are_rejected() {
    for case in vectors("lexicon-invalid.json") {
        let name = case["name"].as_str().unwrap();
        match LexiconDoc::from_json_value(case["lexicon"].clone()) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => println!("  {name}: {e}"),
        }
    }
}

/// The record's `$type` as a collection NSID, and its value in the data model.
fn record(case: &serde_json::Value) -> (Nsid, data_model::Value) {
    let data = case["data"].clone();
    let collection: Nsid = data["$type"].as_str().unwrap().parse().unwrap();
    let value = data_model::json::from_json(&data)
        .unwrap_or_else(|e| panic!("{}: not valid data-model JSON: {e}", case["name"]));
    (collection, value)
}

#[test]
fn valid_record_data_passes() {
    let catalog = interop_catalog();
    for case in vectors("record-data-valid.json") {
        let name = case["name"].as_str().unwrap();
        let (collection, value) = record(&case);
        if let Err(e) = catalog.validate_record(&collection, &value) {
            panic!("{name}: {e}");
        }
        let rkey: RecordKey = case["rkey"].as_str().unwrap().parse().unwrap();
        let key_type = catalog.record_key_type(&collection).unwrap();
        key_type.check(&rkey).unwrap();
    }
}

#[test]
fn invalid_record_data_fails() {
    let catalog = interop_catalog();
    for case in vectors("record-data-invalid.json") {
        let name = case["name"].as_str().unwrap();
        let (collection, value) = record(&case);
        match catalog.validate_record(&collection, &value) {
            Ok(()) => panic!("{name}: accepted"),
            Err(e) => println!("  {name}: {e}"),
        }
    }
}

/// The vectors' three `unknown` cases also lack the required `integer`, so they fail before
/// reaching `unknown`; with `integer` present the `unknown` rule itself must reject them.
#[test]
fn unknown_rejects_non_objects_and_blobs() {
    let catalog = interop_catalog();
    let collection: Nsid = "example.lexicon.record".parse().unwrap();
    let blob = serde_json::json!({"$type": "blob", "mimeType": "text/plain", "size": 1,
        "ref": {"$link": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}});
    for (unknown, message) in [
        (
            serde_json::json!(false),
            "Record/unknown: must be an object",
        ),
        (
            serde_json::json!({"$bytes": "AAEC"}),
            "Record/unknown: must be an object",
        ),
        (
            serde_json::json!("text"),
            "Record/unknown: must be an object",
        ),
        (blob, "Record/unknown: must be an object, not a blob"),
    ] {
        let data = serde_json::json!({"$type": "example.lexicon.record", "integer": 1, "unknown": unknown});
        let value = data_model::json::from_json(&data).unwrap();
        let e = catalog.validate_record(&collection, &value).unwrap_err();
        assert_eq!(e.to_string(), message);
    }
}
