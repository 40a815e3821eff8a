//! The serde surface: every type is a plain JSON string, parsed (and so validated) on the way in.

use syntax::{AtIdentifier, AtUri, Datetime, Did, Handle, Nsid, RecordKey, Tid};

#[test]
fn types_are_json_strings() {
    let json = serde_json::json!({
        "did": "did:plc:7iza6de2dwap2sbkpav7c6c6",
        "handle": "Alice.Test",
        "uri": "at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/3jzfcijpj2z2a",
        "nsid": "app.bsky.feed.post",
        "rkey": "self",
        "tid": "3jzfcijpj2z2a",
        "at": "alice.test",
        "createdAt": "2024-01-01T00:00:00.000Z",
    });
    let did: Did = serde_json::from_value(json["did"].clone()).unwrap();
    let handle: Handle = serde_json::from_value(json["handle"].clone()).unwrap();
    let uri: AtUri = serde_json::from_value(json["uri"].clone()).unwrap();
    let nsid: Nsid = serde_json::from_value(json["nsid"].clone()).unwrap();
    let rkey: RecordKey = serde_json::from_value(json["rkey"].clone()).unwrap();
    let tid: Tid = serde_json::from_value(json["tid"].clone()).unwrap();
    let at: AtIdentifier = serde_json::from_value(json["at"].clone()).unwrap();
    let dt: Datetime = serde_json::from_str("\"2024-01-01T00:00:00.000Z\"").unwrap();
    assert_eq!(serde_json::to_value(&did).unwrap(), json["did"]);
    assert_eq!(serde_json::to_value(&handle).unwrap(), "alice.test");
    assert_eq!(serde_json::to_value(&uri).unwrap(), json["uri"]);
    assert_eq!(serde_json::to_value(&nsid).unwrap(), json["nsid"]);
    assert_eq!(serde_json::to_value(&rkey).unwrap(), json["rkey"]);
    assert_eq!(serde_json::to_value(tid).unwrap(), json["tid"]);
    assert_eq!(serde_json::to_value(&at).unwrap(), json["at"]);
    assert_eq!(serde_json::to_value(&dt).unwrap(), json["createdAt"]);
}

#[test]
fn invalid_strings_fail_with_the_parse_message() {
    let e = serde_json::from_str::<Did>("\"did:PLC:x\"").unwrap_err();
    assert!(
        e.to_string()
            .contains("DID method must be one or more lowercase ASCII letters"),
        "{e}"
    );
    assert!(serde_json::from_str::<Tid>("123").is_err());
}
