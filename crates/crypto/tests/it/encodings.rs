//! Key encodings: did:key and multikey round trips and spec examples (checklist #21), the legacy
//! multibase form (checklist #22), JWK and RFC 7638 thumbprints, private key handling.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{CryptoError, Curve, Keypair, PublicKey};

/// The examples in the atproto cryptography spec ("Public Key Encoding").
const SPEC_P256: &str = "did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo";
const SPEC_K256: &str = "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc";

#[test]
fn spec_examples_parse_and_round_trip() {
    for (did, curve) in [(SPEC_P256, Curve::P256), (SPEC_K256, Curve::K256)] {
        let key = PublicKey::from_did_key(did).unwrap();
        assert_eq!(key.curve(), curve);
        assert_eq!(key.to_did_key(), did);
        assert_eq!(format!("{key:?}"), format!("PublicKey({did})"));
        assert_eq!(key.to_string(), did);
    }
}

#[test]
fn generated_keys_round_trip_through_every_encoding() {
    for curve in Curve::ALL {
        for _ in 0..20 {
            let key = Keypair::generate(curve);
            let public = key.public_key();
            let did = public.to_did_key();
            let prefix = match curve {
                Curve::P256 => "did:key:zDnae",
                Curve::K256 => "did:key:zQ3s",
            };
            assert!(did.starts_with(prefix), "{did}");
            assert_eq!(did, format!("did:key:{}", public.to_multikey()));
            assert_eq!(PublicKey::from_did_key(&did).unwrap(), public);
            assert_eq!(
                PublicKey::from_multikey(&public.to_multikey()).unwrap(),
                public
            );

            // multicodec prefix (checklist #21) in front of the compressed point.
            let raw = bs58::decode(&public.to_multikey()[1..]).into_vec().unwrap();
            let codec: &[u8] = match curve {
                Curve::P256 => &[0x80, 0x24],
                Curve::K256 => &[0xe7, 0x01],
            };
            assert_eq!(&raw[..2], codec);
            assert_eq!(raw[2..], public.compressed_bytes());

            // legacy form (checklist #22): compressed and uncompressed, no codec.
            for point in [
                &public.compressed_bytes()[..],
                &public.uncompressed_bytes()[..],
            ] {
                let legacy = format!("z{}", bs58::encode(point).into_string());
                assert_eq!(
                    PublicKey::from_legacy_multibase(curve, &legacy).unwrap(),
                    public
                );
            }

            let rebuilt = Keypair::from_private_bytes(curve, &key.private_bytes()[..]).unwrap();
            assert_eq!(rebuilt.public_key(), public);
            assert_eq!(rebuilt.curve(), curve);
        }
    }
}

#[test]
fn bad_multikeys_are_rejected() {
    let ed25519 = format!(
        "z{}",
        bs58::encode(
            [0xed, 0x01]
                .iter()
                .chain(&[1u8; 32])
                .copied()
                .collect::<Vec<u8>>()
        )
        .into_string()
    );
    let err = PublicKey::from_multikey(&ed25519).unwrap_err();
    assert_eq!(err, CryptoError::UnsupportedMulticodec(0xed));
    assert!(err.to_string().starts_with("unsupported multicodec 0xed"));

    let key = PublicKey::from_did_key(SPEC_K256).unwrap();
    let multikey = key.to_multikey();
    assert!(matches!(
        PublicKey::from_multikey(&multikey[1..]),
        Err(CryptoError::InvalidMultibase(_))
    ));
    assert!(matches!(
        PublicKey::from_multikey("z0OIl"),
        Err(CryptoError::InvalidMultibase(_))
    ));
    assert_eq!(
        PublicKey::from_did_key(&multikey),
        Err(CryptoError::NotDidKey)
    );
    assert_eq!(
        PublicKey::from_did_key("did:web:example.com"),
        Err(CryptoError::NotDidKey)
    );

    // An uncompressed point behind the codec is not a multikey.
    let mut raw = vec![0xe7, 0x01];
    raw.extend_from_slice(&key.uncompressed_bytes());
    let uncompressed = format!("z{}", bs58::encode(raw).into_string());
    assert_eq!(
        PublicKey::from_multikey(&uncompressed),
        Err(CryptoError::InvalidPublicKey { curve: Curve::K256 })
    );

    // About half of all x coordinates have no point on the curve: some last byte must fail.
    let mut off_curve = key.compressed_bytes();
    let mut rejected = false;
    for x in 0..=255u8 {
        off_curve[32] = x;
        if PublicKey::from_sec1_bytes(Curve::K256, &off_curve).is_err() {
            rejected = true;
            break;
        }
    }
    assert!(rejected);
    // The K-256 point read as a P-256 key is either invalid or a different key.
    if let Ok(p) = PublicKey::from_sec1_bytes(Curve::P256, &key.compressed_bytes()) {
        assert_ne!(p, key);
    }
    assert!(PublicKey::from_sec1_bytes(Curve::P256, &[0u8; 33]).is_err());
}

#[test]
fn private_keys_are_validated() {
    for curve in Curve::ALL {
        assert!(matches!(
            Keypair::from_private_bytes(curve, &[1u8; 31]),
            Err(CryptoError::InvalidPrivateKey { .. })
        ));
        assert!(Keypair::from_private_bytes(curve, &[1u8; 33]).is_err());
        assert!(Keypair::from_private_bytes(curve, &[0u8; 32]).is_err());
        assert!(Keypair::from_private_bytes(curve, &crate::order(curve)).is_err());
        assert!(Keypair::from_private_bytes(curve, &[0xff; 32]).is_err());
        assert!(Keypair::from_private_bytes(curve, &crate::half_order(curve)).is_ok());
    }
}

#[test]
fn keypair_debug_shows_no_secret() {
    for curve in Curve::ALL {
        let key = Keypair::generate(curve);
        let secret = key.private_bytes();
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.public_key().to_did_key()), "{debug}");
        for leak in [
            hex::encode(&secret[..]),
            hex::encode_upper(&secret[..]),
            URL_SAFE_NO_PAD.encode(&secret[..]),
            bs58::encode(&secret[..]).into_string(),
            format!("{:?}", &secret[..]),
        ] {
            assert!(!debug.contains(&leak), "{debug}");
        }
    }
}

#[test]
fn jwk_fields() {
    for curve in Curve::ALL {
        let key = Keypair::generate(curve);
        let public = key.public_key();
        let jwk = public.to_jwk();
        let obj = jwk.as_object().unwrap();
        let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["crv", "kty", "x", "y"]);
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], curve.jwk_crv());
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        assert_eq!(x, public.uncompressed_bytes()[1..33]);
        assert_eq!(y, public.uncompressed_bytes()[33..]);
        assert_eq!(PublicKey::from_jwk(&jwk).unwrap(), public);

        let private = key.to_jwk_private();
        let d = URL_SAFE_NO_PAD
            .decode(private["d"].as_str().unwrap())
            .unwrap();
        assert_eq!(d, key.private_bytes()[..]);
        assert_eq!(private["x"], jwk["x"]);
        assert!(matches!(
            PublicKey::from_jwk(&private),
            Err(CryptoError::InvalidJwk(_))
        ));

        // Thumbprint: base64url(sha256(canonical JSON with members in lexicographic order)).
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            curve.jwk_crv(),
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(
            public.jwk_thumbprint(),
            URL_SAFE_NO_PAD.encode(crypto::sha256(canonical.as_bytes()))
        );
    }
}

/// The DPoP proof key of RFC 9449 (section 4.1 example) and its `jkt` (section 6.1).
#[test]
fn rfc9449_jwk_thumbprint() {
    let jwk = serde_json::json!({
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256"
    });
    let key = PublicKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.curve(), Curve::P256);
    assert_eq!(
        key.jwk_thumbprint(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
    assert_eq!(key.to_jwk()["x"], jwk["x"]);
}

#[test]
fn bad_jwks_are_rejected() {
    let good = PublicKey::from_did_key(SPEC_P256).unwrap().to_jwk();
    let mut cases = Vec::new();
    for (field, value) in [
        ("kty", serde_json::json!("OKP")),
        ("crv", serde_json::json!("P-384")),
        ("x", serde_json::json!("AAAA")),
        ("y", serde_json::json!(good["x"].as_str().unwrap())), // (x, x) is off the curve
        ("x", serde_json::json!(17)),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        cases.push(bad);
    }
    cases.push(serde_json::json!("not an object"));
    for bad in cases {
        assert!(PublicKey::from_jwk(&bad).is_err(), "{bad}");
    }
}

#[test]
fn curve_names() {
    for curve in Curve::ALL {
        assert_eq!(Curve::from_jwt_alg(curve.jwt_alg()), Some(curve));
        assert_eq!(Curve::from_jwk_crv(curve.jwk_crv()), Some(curve));
        assert_eq!(Curve::from_multicodec(curve.multicodec()), Some(curve));
        assert_eq!(
            Curve::from_legacy_did_doc_type(curve.legacy_did_doc_type()),
            Some(curve)
        );
    }
    assert_eq!(Curve::from_jwt_alg("ES384"), None);
}
