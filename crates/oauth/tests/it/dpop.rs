//! DPoP proof verification (checklist #155, #159): RFC 9449's own example, then one good
//! proof broken one way at a time, each refused for its own reason.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{Curve, Keypair};
use oauth::dpop::{DpopError, IatWindow, ProofTarget, access_token_hash, verify};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const URL: &str = "https://pds.example.com/oauth/token";

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// A compact JWS of `header` and `payload` signed by `key`.
fn sign(header: &Value, payload: &Value, key: &Keypair) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn header(key: &Keypair) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.curve().jwt_alg(), "jwk": key.public_key().to_jwk()})
}

fn claims() -> Value {
    json!({"jti": "proof-1", "htm": "POST", "htu": URL, "iat": NOW, "nonce": "n0"})
}

fn target() -> ProofTarget<'static> {
    ProofTarget {
        method: "POST",
        url: URL,
        access_token: None,
    }
}

fn check(proof: &str, target: &ProofTarget<'_>) -> Result<oauth::dpop::DpopProof, DpopError> {
    verify(proof, target, NOW, IatWindow::default())
}

/// RFC 9449 §4.1 Figure 2 (the example proof) and §6.1 (its key's thumbprint).
#[test]
fn checklist_159_rfc9449_example_proof() {
    let proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
    let at = ProofTarget {
        method: "POST",
        url: "https://server.example.com/token",
        access_token: None,
    };
    let ok = verify(proof, &at, 1_562_262_616, IatWindow::default()).expect("RFC example");
    assert_eq!(ok.jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    assert_eq!(ok.jti, "-BwC3ESc6acc2lTc");
    assert_eq!(ok.nonce, None);
    // The same proof is refused for another endpoint, and long after it was made.
    let other = ProofTarget {
        url: "https://server.example.com/par",
        ..at
    };
    assert_eq!(
        verify(proof, &other, 1_562_262_616, IatWindow::default()).unwrap_err(),
        DpopError::Url
    );
    assert_eq!(
        verify(proof, &at, 1_562_262_616 + 3600, IatWindow::default()).unwrap_err(),
        DpopError::Iat
    );
}

#[test]
fn checklist_159_good_proofs_on_both_curves() {
    for curve in [Curve::P256, Curve::K256] {
        let key = Keypair::generate(curve);
        let proof = sign(&header(&key), &claims(), &key);
        let ok = check(&proof, &target()).expect("valid proof");
        assert_eq!(ok.jkt, key.public_key().jwk_thumbprint());
        assert_eq!(ok.jti, "proof-1");
        assert_eq!(ok.iat, NOW);
        assert_eq!(ok.nonce.as_deref(), Some("n0"));
        assert_eq!(ok.replay_key(), format!("{}:proof-1", ok.jkt));
    }
}

/// One thing wrong at a time: (what, header edit, claims edit, expected error).
#[test]
fn checklist_155_each_broken_proof_is_refused_for_its_reason() {
    type Edit = fn(&mut Value);
    let none: Edit = |_| {};
    let cases: Vec<(&str, Edit, Edit, DpopError)> = vec![
        ("typ JWT", |h| h["typ"] = json!("JWT"), none, DpopError::Typ),
        (
            "no typ",
            |h| {
                h.as_object_mut().unwrap().remove("typ");
            },
            none,
            DpopError::Typ,
        ),
        (
            "alg none",
            |h| h["alg"] = json!("none"),
            none,
            DpopError::Alg,
        ),
        (
            "alg HS256",
            |h| h["alg"] = json!("HS256"),
            none,
            DpopError::Alg,
        ),
        (
            "alg RS256",
            |h| h["alg"] = json!("RS256"),
            none,
            DpopError::Alg,
        ),
        (
            "no jwk",
            |h| {
                h.as_object_mut().unwrap().remove("jwk");
            },
            none,
            DpopError::Key("missing".into()),
        ),
        (
            "jwk with d",
            |h| h["jwk"]["d"] = json!("AAAA"),
            none,
            DpopError::Key(String::new()),
        ),
        (
            "ES256K with a P-256 key",
            |h| h["alg"] = json!("ES256K"),
            none,
            DpopError::Key(String::new()),
        ),
        (
            "no jti",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("jti");
            },
            DpopError::Claim("jti"),
        ),
        (
            "empty jti",
            none,
            |c| c["jti"] = json!(""),
            DpopError::Claim("jti"),
        ),
        (
            "numeric jti",
            none,
            |c| c["jti"] = json!(7),
            DpopError::Claim("jti"),
        ),
        (
            "huge jti",
            none,
            |c| c["jti"] = json!("j".repeat(513)),
            DpopError::Claim("jti"),
        ),
        (
            "no htm",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("htm");
            },
            DpopError::Claim("htm"),
        ),
        (
            "htm GET",
            none,
            |c| c["htm"] = json!("GET"),
            DpopError::Method,
        ),
        (
            "htm lower case",
            none,
            |c| c["htm"] = json!("post"),
            DpopError::Method,
        ),
        (
            "no htu",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("htu");
            },
            DpopError::Claim("htu"),
        ),
        (
            "htu other path",
            none,
            |c| c["htu"] = json!("https://pds.example.com/oauth/par"),
            DpopError::Url,
        ),
        (
            "htu other host",
            none,
            |c| c["htu"] = json!("https://evil.example.com/oauth/token"),
            DpopError::Url,
        ),
        (
            "htu http",
            none,
            |c| c["htu"] = json!("http://pds.example.com/oauth/token"),
            DpopError::Url,
        ),
        (
            "htu other port",
            none,
            |c| c["htu"] = json!("https://pds.example.com:8443/oauth/token"),
            DpopError::Url,
        ),
        (
            "htu relative",
            none,
            |c| c["htu"] = json!("/oauth/token"),
            DpopError::Url,
        ),
        (
            "htu not http",
            none,
            |c| c["htu"] = json!("wss://pds.example.com/oauth/token"),
            DpopError::Url,
        ),
        (
            "no iat",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("iat");
            },
            DpopError::Claim("iat"),
        ),
        (
            "iat a string",
            none,
            |c| c["iat"] = json!("1800000000"),
            DpopError::Claim("iat"),
        ),
        (
            "iat too old",
            none,
            |c| c["iat"] = json!(NOW - 301),
            DpopError::Iat,
        ),
        (
            "iat too far ahead",
            none,
            |c| c["iat"] = json!(NOW + 61),
            DpopError::Iat,
        ),
        (
            "nonce a number",
            none,
            |c| c["nonce"] = json!(5),
            DpopError::Claim("nonce"),
        ),
    ];
    let key = Keypair::generate(Curve::P256);
    for (what, edit_header, edit_claims, want) in cases {
        let (mut h, mut c) = (header(&key), claims());
        edit_header(&mut h);
        edit_claims(&mut c);
        let got = check(&sign(&h, &c, &key), &target()).expect_err(what);
        match (&got, &want) {
            // The key errors carry the crypto crate's reason; the variant is what matters.
            (DpopError::Key(_), DpopError::Key(w)) if w.is_empty() => {}
            _ => assert_eq!(got, want, "{what}"),
        }
    }
}

#[test]
fn checklist_155_htu_is_compared_after_normalisation() {
    let key = Keypair::generate(Curve::P256);
    for htu in [
        "https://pds.example.com/oauth/token?x=1",
        "https://pds.example.com/oauth/token#frag",
        "HTTPS://PDS.Example.COM/oauth/token",
        "https://pds.example.com:443/oauth/token",
    ] {
        let mut c = claims();
        c["htu"] = json!(htu);
        check(&sign(&header(&key), &c, &key), &target()).expect(htu);
    }
    // The request URL's own query is ignored too.
    let with_query = ProofTarget {
        url: "https://pds.example.com/oauth/token?code=abc",
        ..target()
    };
    check(&sign(&header(&key), &claims(), &key), &with_query).expect("request query");
    // The path is case-sensitive.
    let mut c = claims();
    c["htu"] = json!("https://pds.example.com/OAUTH/token");
    assert_eq!(
        check(&sign(&header(&key), &c, &key), &target()).unwrap_err(),
        DpopError::Url
    );
}

#[test]
fn checklist_155_signature_must_be_the_headers_key() {
    let key = Keypair::generate(Curve::P256);
    let other = Keypair::generate(Curve::P256);
    // Signed by another key than the one in the header.
    let forged = sign(&header(&key), &claims(), &other);
    assert_eq!(check(&forged, &target()).unwrap_err(), DpopError::Signature);
    // A payload swapped under a valid signature.
    let good = sign(&header(&key), &claims(), &key);
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut c = claims();
    c["jti"] = json!("proof-2");
    let swapped = b64(&c);
    parts[1] = &swapped;
    assert_eq!(
        check(&parts.join("."), &target()).unwrap_err(),
        DpopError::Signature
    );
    // Two keys bind to two thumbprints: a token bound to one is not usable with the other.
    let a = check(&good, &target()).expect("good");
    let b = check(&sign(&header(&other), &claims(), &other), &target()).expect("other");
    assert_ne!(a.jkt, b.jkt);
}

#[test]
fn checklist_155_ath_binds_the_access_token() {
    let key = Keypair::generate(Curve::P256);
    let resource = ProofTarget {
        method: "GET",
        url: "https://pds.example.com/xrpc/com.atproto.repo.listRecords",
        access_token: Some("token-a"),
    };
    let mut c = claims();
    c["htm"] = json!("GET");
    c["htu"] = json!(resource.url);
    // No ath with a token: refused.
    assert_eq!(
        check(&sign(&header(&key), &c, &key), &resource).unwrap_err(),
        DpopError::Ath
    );
    // Another token's hash: refused.
    c["ath"] = json!(access_token_hash("token-b"));
    assert_eq!(
        check(&sign(&header(&key), &c, &key), &resource).unwrap_err(),
        DpopError::Ath
    );
    c["ath"] = json!(access_token_hash("token-a"));
    check(&sign(&header(&key), &c, &key), &resource).expect("matching ath");
    // RFC 9449 §7.1's example: the hash of "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn checklist_155_malformed_proofs() {
    let key = Keypair::generate(Curve::P256);
    let good = sign(&header(&key), &claims(), &key);
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("four parts", format!("{good}.x")),
        (
            "header not base64url",
            format!("***.{}.{}", parts[1], parts[2]),
        ),
        (
            "header not an object",
            format!("{}.{}.{}", b64(&json!([1])), parts[1], parts[2]),
        ),
        (
            "payload not JSON",
            format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode("nope"),
                parts[2]
            ),
        ),
        (
            "signature not base64url",
            format!("{}.{}.@@", parts[0], parts[1]),
        ),
        ("empty", String::new()),
    ];
    for (what, proof) in cases {
        assert!(
            matches!(check(&proof, &target()), Err(DpopError::Malformed(_))),
            "{what}"
        );
    }
    let huge = format!("{good}{}", "A".repeat(oauth::dpop::MAX_PROOF_LEN));
    assert_eq!(check(&huge, &target()).unwrap_err(), DpopError::TooLong);
    // A signature of the wrong length.
    let short = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode([1u8; 63])
    );
    assert_eq!(check(&short, &target()).unwrap_err(), DpopError::Signature);
}
