//! `interop-tests/atproto-interop-tests/crypto/*.json`: signature fixtures (checklist #16, #18,
//! #19, #22) and did:key derivation from private keys (checklist #21).

use base64::Engine as _;
use crypto::{CryptoError, Curve, Keypair, PublicKey};

fn vectors(name: &str) -> Vec<serde_json::Value> {
    let path = format!(
        "{}/../../interop-tests/atproto-interop-tests/crypto/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(!cases.is_empty(), "{name} has no cases");
    println!("crypto/{name}: {} cases", cases.len());
    cases
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap()
}

fn s(case: &serde_json::Value, field: &str) -> String {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("missing {field}"))
        .to_owned()
}

/// One signature fixture: the did:key and the legacy multibase form decode to the same key, and
/// verification through either gives the expected verdict, for the expected reason.
fn check_signature(case: &serde_json::Value) {
    let comment = s(case, "comment");
    let curve = Curve::from_jwt_alg(&s(case, "algorithm")).unwrap();
    assert_eq!(
        Curve::from_legacy_did_doc_type(&s(case, "didDocSuite")),
        Some(curve)
    );

    let from_did = PublicKey::from_did_key(&s(case, "publicKeyDid")).unwrap();
    let legacy = PublicKey::from_legacy_multibase(curve, &s(case, "publicKeyMultibase")).unwrap();
    assert_eq!(
        from_did, legacy,
        "{comment}: did:key and legacy multibase differ"
    );
    assert_eq!(from_did.curve(), curve, "{comment}");

    let msg = b64(&s(case, "messageBase64"));
    let sig = b64(&s(case, "signatureBase64"));
    let tags: Vec<&str> = case["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for key in [&from_did, &legacy] {
        let got = key.verify(&msg, &sig);
        if case["validSignature"].as_bool().unwrap() {
            assert_eq!(got, Ok(()), "{comment}");
        } else if tags.contains(&"high-s") {
            assert_eq!(got, Err(CryptoError::HighS), "{comment}");
            // The twin is otherwise valid: the lenient JWS path accepts it.
            assert_eq!(key.verify_allow_high_s(&msg, &sig), Ok(()), "{comment}");
        } else if tags.contains(&"der-encoded") {
            assert!(
                matches!(got, Err(CryptoError::SignatureLength { .. })),
                "{comment}: {got:?}"
            );
            assert!(key.verify_allow_high_s(&msg, &sig).is_err(), "{comment}");
        } else {
            panic!("{comment}: invalid case with unknown tags {tags:?}");
        }
    }
}

#[test]
fn signature_fixtures() {
    let cases = vectors("signature-fixtures.json");
    for case in &cases {
        check_signature(case);
    }
    // checklist #16, #18, #19: both curves, with a high-S and a DER case each.
    for curve in ["ES256", "ES256K"] {
        for tag in ["high-s", "der-encoded"] {
            assert!(
                cases.iter().any(|c| c["algorithm"] == curve
                    && c["tags"].as_array().unwrap().iter().any(|t| t == tag)),
                "no {tag} case for {curve}"
            );
        }
    }
}

/// One w3c did:key vector: the private key derives the expected did:key, which parses back.
fn check_didkey(curve: Curve, private: &[u8], want: &str) {
    let key = Keypair::from_private_bytes(curve, private).unwrap();
    assert_eq!(key.public_key().to_did_key(), want);
    assert_eq!(PublicKey::from_did_key(want).unwrap(), key.public_key());
    assert_eq!(&key.private_bytes()[..], private);
}

#[test]
fn w3c_didkey_k256() {
    for case in vectors("w3c_didkey_K256.json") {
        let private = hex::decode(s(&case, "privateKeyBytesHex")).unwrap();
        check_didkey(Curve::K256, &private, &s(&case, "publicDidKey"));
    }
}

#[test]
fn w3c_didkey_p256() {
    for case in vectors("w3c_didkey_P256.json") {
        let private = bs58::decode(s(&case, "privateKeyBytesBase58"))
            .into_vec()
            .unwrap();
        check_didkey(Curve::P256, &private, &s(&case, "publicDidKey"));
    }
}
