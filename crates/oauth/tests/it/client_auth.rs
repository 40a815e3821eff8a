//! `private_key_jwt` client assertions (checklist #160): one good assertion, then one thing
//! wrong at a time; the key-set checks that bind and revoke sessions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{Curve, Keypair};
use oauth::client_auth::{ClientAuthError, JWT_BEARER, key_still_published, verify_assertion};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const CLIENT: &str = "https://app.example.com/client-metadata.json";
const ISSUER: &str = "https://pds.example.com";

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

fn sign(header: &Value, claims: &Value, key: &Keypair) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()))
    )
}

fn jwk(key: &Keypair, kid: &str) -> Value {
    let mut j = key.public_key().to_jwk();
    j["kid"] = json!(kid);
    j
}

fn header() -> Value {
    json!({"alg": "ES256", "kid": "k1"})
}

fn claims() -> Value {
    json!({"iss": CLIENT, "sub": CLIENT, "aud": ISSUER, "jti": "a-1", "iat": NOW, "exp": NOW + 60})
}

fn verify(
    assertion: &str,
    jwks: &Value,
) -> Result<oauth::client_auth::ClientAssertion, ClientAuthError> {
    verify_assertion(Some(JWT_BEARER), assertion, CLIENT, ISSUER, jwks, NOW)
}

#[test]
fn checklist_160_a_good_assertion_names_its_key() {
    let key = Keypair::generate(Curve::P256);
    let jwks = json!({"keys": [jwk(&Keypair::generate(Curve::P256), "k0"), jwk(&key, "k1")]});
    let ok = verify(&sign(&header(), &claims(), &key), &jwks).expect("good assertion");
    assert_eq!(ok.kid, "k1");
    assert_eq!(ok.alg, "ES256");
    assert_eq!(ok.jkt, key.public_key().jwk_thumbprint());
    assert_eq!(ok.jti, "a-1");
    // `aud` may be a list that contains the issuer; `exp` is optional.
    let mut c = claims();
    c["aud"] = json!(["https://other.example", ISSUER]);
    c.as_object_mut().unwrap().remove("exp");
    verify(&sign(&header(), &c, &key), &jwks).expect("aud list");
    // ES256K keys work too.
    let k = Keypair::generate(Curve::K256);
    let jwks_k = json!({"keys": [jwk(&k, "k1")]});
    let h = json!({"alg": "ES256K", "kid": "k1"});
    assert_eq!(
        verify(&sign(&h, &claims(), &k), &jwks_k)
            .expect("es256k")
            .alg,
        "ES256K"
    );
}

#[test]
fn checklist_160_each_broken_assertion_is_refused_for_its_reason() {
    type Edit = fn(&mut Value);
    let none: Edit = |_| {};
    let cases: Vec<(&str, Edit, Edit, ClientAuthError)> = vec![
        (
            "alg none",
            |h| h["alg"] = json!("none"),
            none,
            ClientAuthError::Alg,
        ),
        (
            "alg HS256",
            |h| h["alg"] = json!("HS256"),
            none,
            ClientAuthError::Alg,
        ),
        (
            "no kid",
            |h| {
                h.as_object_mut().unwrap().remove("kid");
            },
            none,
            ClientAuthError::UnknownKey,
        ),
        (
            "unknown kid",
            |h| h["kid"] = json!("k9"),
            none,
            ClientAuthError::UnknownKey,
        ),
        (
            "alg on the other curve",
            |h| h["alg"] = json!("ES256K"),
            none,
            ClientAuthError::UnknownKey,
        ),
        (
            "iss other client",
            none,
            |c| c["iss"] = json!("https://evil.example.com/m.json"),
            ClientAuthError::Claim("iss"),
        ),
        (
            "no sub",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("sub");
            },
            ClientAuthError::Claim("sub"),
        ),
        (
            "aud other server",
            none,
            |c| c["aud"] = json!("https://other.example"),
            ClientAuthError::Claim("aud"),
        ),
        (
            "aud with a path",
            none,
            |c| c["aud"] = json!("https://pds.example.com/oauth/token"),
            ClientAuthError::Claim("aud"),
        ),
        (
            "no aud",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("aud");
            },
            ClientAuthError::Claim("aud"),
        ),
        (
            "no jti",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("jti");
            },
            ClientAuthError::Claim("jti"),
        ),
        (
            "empty jti",
            none,
            |c| c["jti"] = json!(""),
            ClientAuthError::Claim("jti"),
        ),
        (
            "no iat",
            none,
            |c| {
                c.as_object_mut().unwrap().remove("iat");
            },
            ClientAuthError::Claim("iat"),
        ),
        (
            "iat over a minute old",
            none,
            |c| c["iat"] = json!(NOW - 61),
            ClientAuthError::Expired,
        ),
        (
            "iat ahead",
            none,
            |c| c["iat"] = json!(NOW + 11),
            ClientAuthError::Expired,
        ),
        (
            "exp passed",
            none,
            |c| c["exp"] = json!(NOW),
            ClientAuthError::Expired,
        ),
        (
            "exp a string",
            none,
            |c| c["exp"] = json!("later"),
            ClientAuthError::Claim("exp"),
        ),
    ];
    let key = Keypair::generate(Curve::P256);
    let jwks = json!({"keys": [jwk(&key, "k1")]});
    for (what, eh, ec, want) in cases {
        let (mut h, mut c) = (header(), claims());
        eh(&mut h);
        ec(&mut c);
        assert_eq!(
            verify(&sign(&h, &c, &key), &jwks).unwrap_err(),
            want,
            "{what}"
        );
    }
}

#[test]
fn checklist_160_signature_type_and_key_set() {
    let key = Keypair::generate(Curve::P256);
    let jwks = json!({"keys": [jwk(&key, "k1")]});
    let good = sign(&header(), &claims(), &key);
    // Wrong or missing assertion type.
    for t in [
        None,
        Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
    ] {
        assert_eq!(
            verify_assertion(t, &good, CLIENT, ISSUER, &jwks, NOW).unwrap_err(),
            ClientAuthError::AssertionType
        );
    }
    // Signed by a key the client did not publish under that kid.
    let other = Keypair::generate(Curve::P256);
    assert_eq!(
        verify(&sign(&header(), &claims(), &other), &jwks).unwrap_err(),
        ClientAuthError::Signature
    );
    // Keys marked for encryption or holding a private part are not used.
    let mut enc = jwk(&key, "k1");
    enc["use"] = json!("enc");
    assert_eq!(
        verify(&good, &json!({"keys": [enc]})).unwrap_err(),
        ClientAuthError::UnknownKey
    );
    let mut private = key.to_jwk_private();
    private["kid"] = json!("k1");
    assert_eq!(
        verify(&good, &json!({"keys": [private]})).unwrap_err(),
        ClientAuthError::UnknownKey
    );
    // Not a key set.
    assert_eq!(
        verify(&good, &json!([jwk(&key, "k1")])).unwrap_err(),
        ClientAuthError::Jwks
    );
    // Malformed assertions.
    for bad in [
        "",
        "a.b",
        "a.b.c.d",
        "!!.??.**",
        &format!("{good}{}", "A".repeat(9000)),
    ] {
        assert_eq!(
            verify(bad, &jwks).unwrap_err(),
            ClientAuthError::Malformed,
            "{bad:.20}"
        );
    }
}

#[test]
fn checklist_160_a_key_removed_from_the_jwks_is_noticed() {
    let key = Keypair::generate(Curve::P256);
    let jkt = key.public_key().jwk_thumbprint();
    let before = json!({"keys": [jwk(&key, "k1")]});
    assert!(key_still_published(&before, "k1", &jkt));
    // Rotated: the kid now names another key, or is gone.
    let rotated = json!({"keys": [jwk(&Keypair::generate(Curve::P256), "k1")]});
    assert!(!key_still_published(&rotated, "k1", &jkt));
    assert!(!key_still_published(&json!({"keys": []}), "k1", &jkt));
}
