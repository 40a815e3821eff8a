//! DID documents: the rendering a PLC directory serves, checked field by field against the
//! did:plc spec's "Presentation as DID Document" example and the reference library's document
//! test; and reading the atproto signing key, PDS and handle out of documents, including the
//! legacy key forms and did:web documents (checklist #114, #115).

use std::collections::BTreeMap;

use crypto::{Curve, Keypair};
use identity::{DidDocError, DidDocument, PlcFields, PlcService, PlcState};
use serde_json::json;
use syntax::{Did, Handle};

const SPEC_DID: &str = "did:plc:7iza6de2dwap2sbkpav7c6c6";
const SPEC_SIGNING: &str = "did:key:zDnaeh9v2RmcMo13Du2d6pjUf5bZwtauYxj3n9dYjw4EZUAR7";

fn did(s: &str) -> Did {
    s.parse().unwrap()
}

/// The data of the spec's "Presentation as DID Document" example.
fn spec_state() -> PlcState {
    PlcState {
        did: did(SPEC_DID),
        fields: PlcFields {
            rotation_keys: vec![
                "did:key:zDnaedvvAsDE6H3BDdBejpx9ve2Tz95cymyCAKF66JbyMh1Lt".into(),
                SPEC_SIGNING.into(),
            ],
            verification_methods: BTreeMap::from([("atproto".into(), SPEC_SIGNING.into())]),
            also_known_as: vec!["at://alice.test".into()],
            services: BTreeMap::from([(
                "atproto_pds".into(),
                PlcService {
                    service_type: "AtprotoPersonalDataServer".into(),
                    endpoint: "https://example.test".into(),
                },
            )]),
        },
    }
}

/// The spec example, as plc.directory (the reference library) renders it. Two deliberate
/// differences from the spec's hand-written rendering: the verification-method id is absolute
/// (`<did>#atproto`, where the spec shows `#atproto`), and the endpoint is the data's
/// `https://example.test` (the spec's rendering says `https://example2.com`, a typo).
#[test]
fn plc_document_matches_the_reference_rendering() {
    let doc = spec_state().document();
    let expected = json!({
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/security/suites/ecdsa-2019/v1"
        ],
        "id": SPEC_DID,
        "alsoKnownAs": ["at://alice.test"],
        "verificationMethod": [{
            "id": format!("{SPEC_DID}#atproto"),
            "type": "Multikey",
            "controller": SPEC_DID,
            "publicKeyMultibase": "zDnaeh9v2RmcMo13Du2d6pjUf5bZwtauYxj3n9dYjw4EZUAR7"
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": "https://example.test"
        }]
    });
    // Same members in the same order as the reference's `JSON.stringify`.
    assert_eq!(
        serde_json::to_string(&doc.to_json()).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
    // `/data` has the reference's shape too.
    assert_eq!(
        serde_json::to_string(&spec_state().to_json()).unwrap(),
        serde_json::to_string(&json!({
            "did": SPEC_DID,
            "verificationMethods": {"atproto": SPEC_SIGNING},
            "rotationKeys": spec_state().fields.rotation_keys,
            "alsoKnownAs": ["at://alice.test"],
            "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": "https://example.test"}}
        }))
        .unwrap()
    );
}

/// Mirrors `packages/lib/tests/document.test.ts`: several keys and services, one suite context
/// per curve in order of first use, services with relative ids.
#[test]
fn plc_document_with_several_keys_and_services() {
    let k256 = Keypair::generate(Curve::K256).public_key().to_did_key();
    let p256 = Keypair::generate(Curve::P256).public_key().to_did_key();
    let state = PlcState {
        did: did("did:example:alice"),
        fields: PlcFields {
            rotation_keys: vec![],
            verification_methods: BTreeMap::from([
                ("atproto".into(), k256.clone()),
                ("other".into(), p256.clone()),
            ]),
            also_known_as: vec!["at://alice.test".into(), "https://bob.test".into()],
            services: BTreeMap::from([
                (
                    "atproto_pds".into(),
                    PlcService {
                        service_type: "AtprotoPersonalDataServer".into(),
                        endpoint: "https://example.com".into(),
                    },
                ),
                (
                    "other".into(),
                    PlcService {
                        service_type: "SomeService".into(),
                        endpoint: "https://other.com".into(),
                    },
                ),
            ]),
        },
    };
    let json = state.document().to_json();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "@context",
            "id",
            "alsoKnownAs",
            "verificationMethod",
            "service"
        ]
    );
    assert_eq!(
        json["@context"],
        json!([
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/security/suites/secp256k1-2019/v1",
            "https://w3id.org/security/suites/ecdsa-2019/v1"
        ])
    );
    assert_eq!(
        json["alsoKnownAs"],
        json!(["at://alice.test", "https://bob.test"])
    );
    let vm = &json["verificationMethod"];
    assert_eq!(vm[0]["id"], "did:example:alice#atproto");
    assert_eq!(
        vm[0]["publicKeyMultibase"],
        k256.strip_prefix("did:key:").unwrap()
    );
    assert_eq!(vm[1]["id"], "did:example:alice#other");
    assert_eq!(vm[1]["type"], "Multikey");
    assert_eq!(vm[1]["controller"], "did:example:alice");
    assert_eq!(
        vm[1]["publicKeyMultibase"],
        p256.strip_prefix("did:key:").unwrap()
    );
    assert_eq!(
        json["service"][1],
        json!({"id": "#other", "type": "SomeService", "serviceEndpoint": "https://other.com"})
    );
}

/// One row of the DID-document reading table.
struct ReadCase {
    name: &'static str,
    doc: serde_json::Value,
    signing_key: Result<String, fn(&DidDocError) -> bool>,
    pds: Result<&'static str, fn(&DidDocError) -> bool>,
    handle: Option<&'static str>,
}

fn check_read(case: &ReadCase) {
    let expected_did = did(case.doc["id"].as_str().unwrap());
    let doc = DidDocument::from_json_for(&expected_did, &case.doc)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    match (&case.signing_key, doc.signing_key()) {
        (Ok(want), Ok(got)) => assert_eq!(&got.to_did_key(), want, "{}", case.name),
        (Err(kind), Err(e)) => assert!(kind(&e), "{}: {e}", case.name),
        (want, got) => panic!(
            "{}: signing key {got:?}, wanted {}",
            case.name,
            want.is_ok()
        ),
    }
    match (&case.pds, doc.pds_endpoint()) {
        (Ok(want), Ok(got)) => assert_eq!(got, *want, "{}", case.name),
        (Err(kind), Err(e)) => assert!(kind(&e), "{}: {e}", case.name),
        (want, got) => panic!("{}: pds {got:?}, wanted {want:?}", case.name),
    }
    let want_handle = case.handle.map(|h| h.parse::<Handle>().unwrap());
    assert_eq!(doc.handle(), want_handle, "{}", case.name);
}

#[test]
fn reading_did_documents() {
    let k256 = Keypair::generate(Curve::K256).public_key();
    let p256 = Keypair::generate(Curve::P256).public_key();
    // Legacy forms: bare SEC1 points in base58btc, uncompressed for K-256, compressed for P-256.
    let legacy_k256 = format!("z{}", bs58::encode(k256.uncompressed_bytes()).into_string());
    let legacy_p256 = format!("z{}", bs58::encode(p256.compressed_bytes()).into_string());
    let d = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    let pds = |id: &str, ty: &str, ep: &str| json!({"id": id, "type": ty, "serviceEndpoint": ep});
    let vm = |id: &str, ty: &str, ctl: &str, key: &str| json!({"id": id, "type": ty, "controller": ctl, "publicKeyMultibase": key});
    let doc =
        |aka: serde_json::Value, vms: Vec<serde_json::Value>, svcs: Vec<serde_json::Value>| {
            json!({"@context": ["https://www.w3.org/ns/did/v1"], "id": d, "alsoKnownAs": aka,
               "verificationMethod": vms, "service": svcs})
        };
    let good_pds = || {
        pds(
            "#atproto_pds",
            "AtprotoPersonalDataServer",
            "https://pds.example.com",
        )
    };

    let cases = [
        ReadCase {
            name: "spec rendering (relative ids)",
            doc: json!({
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": SPEC_DID,
                "alsoKnownAs": ["at://alice.test"],
                "verificationMethod": [vm("#atproto", "Multikey", SPEC_DID,
                    "zDnaeh9v2RmcMo13Du2d6pjUf5bZwtauYxj3n9dYjw4EZUAR7")],
                "service": [pds("#atproto_pds", "AtprotoPersonalDataServer", "https://example2.com")]
            }),
            signing_key: Ok(SPEC_SIGNING.into()),
            pds: Ok("https://example2.com"),
            handle: Some("alice.test"),
        },
        ReadCase {
            name: "absolute ids, trailing slash on the endpoint",
            doc: doc(
                json!(["at://Alice.Example.com"]),
                vec![vm(
                    &format!("{d}#atproto"),
                    "Multikey",
                    d,
                    &k256.to_multikey(),
                )],
                vec![pds(
                    &format!("{d}#atproto_pds"),
                    "AtprotoPersonalDataServer",
                    "https://pds.example.com/",
                )],
            ),
            signing_key: Ok(k256.to_did_key()),
            pds: Ok("https://pds.example.com/"),
            handle: Some("alice.example.com"),
        },
        ReadCase {
            name: "legacy EcdsaSecp256k1VerificationKey2019 (uncompressed)",
            doc: doc(
                json!(["at://atproto.com"]),
                vec![vm(
                    "#atproto",
                    "EcdsaSecp256k1VerificationKey2019",
                    d,
                    &legacy_k256,
                )],
                vec![good_pds()],
            ),
            signing_key: Ok(k256.to_did_key()),
            pds: Ok("https://pds.example.com"),
            handle: Some("atproto.com"),
        },
        ReadCase {
            name: "legacy EcdsaSecp256r1VerificationKey2019 (compressed)",
            doc: doc(
                json!([]),
                vec![vm(
                    "#atproto",
                    "EcdsaSecp256r1VerificationKey2019",
                    d,
                    &legacy_p256,
                )],
                vec![pds(
                    "#atproto_pds",
                    "AtprotoPersonalDataServer",
                    "http://localhost:2583",
                )],
            ),
            signing_key: Ok(p256.to_did_key()),
            pds: Ok("http://localhost:2583"),
            handle: None,
        },
        ReadCase {
            name: "first matching method wins; other ids, types and controllers are skipped",
            doc: doc(
                json!([
                    "https://bob.test",
                    "at://not a handle",
                    "at://second.example.com"
                ]),
                vec![
                    vm("#other", "Multikey", d, &p256.to_multikey()),
                    vm(
                        "#atproto",
                        "Multikey",
                        "did:plc:someoneelse",
                        &p256.to_multikey(),
                    ),
                    vm(
                        "did:web:example.com#atproto",
                        "Multikey",
                        d,
                        &p256.to_multikey(),
                    ),
                    vm("#atproto", "JsonWebKey2020", d, &p256.to_multikey()),
                    json!({"id": "#atproto", "type": "Multikey"}),
                    vm("#atproto", "Multikey", d, &k256.to_multikey()),
                    vm("#atproto", "Multikey", d, &p256.to_multikey()),
                ],
                vec![
                    pds("#atproto_pds", "SomethingElse", "https://wrong.example.com"),
                    json!({"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": {"x": 1}}),
                    good_pds(),
                    pds(
                        "#atproto_pds",
                        "AtprotoPersonalDataServer",
                        "https://later.example.com",
                    ),
                ],
            ),
            signing_key: Ok(k256.to_did_key()),
            pds: Ok("https://pds.example.com"),
            handle: Some("second.example.com"),
        },
        ReadCase {
            name: "no atproto key or PDS",
            doc: json!({"id": d}),
            signing_key: Err(|e| matches!(e, DidDocError::NoSigningKey)),
            pds: Err(|e| matches!(e, DidDocError::NoPds)),
            handle: None,
        },
        ReadCase {
            name: "invalid key and non-origin endpoints",
            doc: doc(
                json!(["at://alice.test"]),
                vec![vm("#atproto", "Multikey", d, "zNotAKey")],
                vec![pds(
                    "#atproto_pds",
                    "AtprotoPersonalDataServer",
                    "https://pds.example.com/xrpc",
                )],
            ),
            signing_key: Err(|e| matches!(e, DidDocError::InvalidSigningKey(_))),
            pds: Err(|e| matches!(e, DidDocError::InvalidPdsEndpoint(_))),
            handle: Some("alice.test"),
        },
        ReadCase {
            name: "non-http endpoint",
            doc: doc(
                json!([]),
                vec![],
                vec![pds(
                    "#atproto_pds",
                    "AtprotoPersonalDataServer",
                    "ftp://pds.example.com",
                )],
            ),
            signing_key: Err(|e| matches!(e, DidDocError::NoSigningKey)),
            pds: Err(|e| matches!(e, DidDocError::InvalidPdsEndpoint(_))),
            handle: None,
        },
    ];
    for case in &cases {
        check_read(case);
    }
    println!("did documents: {} read cases", cases.len());
}

#[test]
fn malformed_documents() {
    let d = did("did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    let other = did("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(
        DidDocument::from_json(&json!([])),
        Err(DidDocError::NotObject)
    );
    assert_eq!(
        DidDocument::from_json(&json!({})),
        Err(DidDocError::MissingId)
    );
    assert!(matches!(
        DidDocument::from_json(&json!({"id": "not a did"})),
        Err(DidDocError::InvalidId(_))
    ));
    assert_eq!(
        DidDocument::from_json(&json!({"id": d.as_str(), "alsoKnownAs": "at://x.test"})),
        Err(DidDocError::WrongType("alsoKnownAs"))
    );
    // The id must be the DID that was resolved (checklist #114).
    assert_eq!(
        DidDocument::from_json_for(&other, &json!({"id": d.as_str()})),
        Err(DidDocError::IdMismatch {
            expected: other,
            found: d
        })
    );
}

/// The did:web document we serve reads back as what we put in (checklist #115).
#[test]
fn did_web_document_round_trip() {
    let key = Keypair::generate(Curve::P256).public_key();
    let web = identity::did_web_for_host(&"alice.example.com".parse().unwrap());
    let handle: Handle = "alice.example.com".parse().unwrap();
    let doc = DidDocument::atproto(&web, Some(&handle), &key, "https://pds.example.com");
    let json = doc.to_json();
    assert_eq!(json["id"], "did:web:alice.example.com");
    assert_eq!(
        json["verificationMethod"][0]["id"],
        "did:web:alice.example.com#atproto"
    );
    let back = DidDocument::from_json_for(&web, &json).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.signing_key().unwrap(), key);
    assert_eq!(back.pds_endpoint().unwrap(), "https://pds.example.com");
    assert_eq!(back.handle(), Some(handle));
}
