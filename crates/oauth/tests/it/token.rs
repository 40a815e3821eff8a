//! Access and refresh tokens (checklist #161, #162): round trip, and each refusal.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{Curve, Keypair};
use oauth::token::{
    AccessClaims, Confirmation, TokenError, lifetimes, new_refresh_token, random_id,
    refresh_token_digest, sign_access_token, verify_access_token,
};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://pds.example.com";
const AUD: &str = "did:web:pds.example.com";

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: "did:plc:abc".into(),
        client_id: "https://app.example.com/m.json".into(),
        scope: "atproto transition:generic".into(),
        cnf: Confirmation {
            jkt: "jkt-1".into(),
        },
        iat: NOW,
        exp: NOW + lifetimes::ACCESS_TOKEN,
        jti: "session-1".into(),
    }
}

#[test]
fn checklist_162_access_token_round_trip_and_lifetime() {
    for curve in [Curve::P256, Curve::K256] {
        let key = Keypair::generate(curve);
        let token = sign_access_token(&claims(), &key);
        let got =
            verify_access_token(&token, &key.public_key(), ISS, AUD, NOW + 10).expect("valid");
        assert_eq!(got, claims());
        // Expired at `exp`.
        assert_eq!(
            verify_access_token(
                &token,
                &key.public_key(),
                ISS,
                AUD,
                NOW + lifetimes::ACCESS_TOKEN
            ),
            Err(TokenError::Expired)
        );
    }
    // The spec's bounds, checked at compile time.
    const {
        assert!(lifetimes::ACCESS_TOKEN < 30 * 60 && lifetimes::ACCESS_TOKEN <= 15 * 60);
        assert!(lifetimes::PUBLIC_SESSION <= 14 * 24 * 3600);
        assert!(lifetimes::CONFIDENTIAL_REFRESH <= 180 * 24 * 3600);
    }
}

#[test]
fn access_tokens_are_refused_for_each_reason() {
    let key = Keypair::generate(Curve::P256);
    let token = sign_access_token(&claims(), &key);
    let pk = key.public_key();
    // Another server's key.
    let other = Keypair::generate(Curve::P256);
    assert_eq!(
        verify_access_token(&token, &other.public_key(), ISS, AUD, NOW),
        Err(TokenError::Signature)
    );
    // Another issuer or audience.
    assert_eq!(
        verify_access_token(&token, &pk, "https://other.example", AUD, NOW),
        Err(TokenError::Audience)
    );
    assert_eq!(
        verify_access_token(&token, &pk, ISS, "did:web:other.example", NOW),
        Err(TokenError::Audience)
    );
    // Issued more than a minute in the future.
    assert_eq!(
        verify_access_token(&token, &pk, ISS, AUD, NOW - 61),
        Err(TokenError::Expired)
    );
    // A key on the other curve: the algorithm does not match.
    let k = Keypair::generate(Curve::K256);
    assert_eq!(
        verify_access_token(&token, &k.public_key(), ISS, AUD, NOW),
        Err(TokenError::Kind)
    );
    // A payload swapped under the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims();
    c.sub = "did:plc:someone-else".into();
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    let forged = format!("{}.{}.{}", parts[0], body, parts[2]);
    assert_eq!(
        verify_access_token(&forged, &pk, ISS, AUD, NOW),
        Err(TokenError::Signature)
    );
    // A legacy-style HS256 header (or any other typ) is not an OAuth access token.
    for header in [
        r#"{"typ":"at+jwt","alg":"HS256"}"#,
        r#"{"typ":"JWT","alg":"ES256"}"#,
        r#"{"typ":"refresh+jwt","alg":"ES256"}"#,
    ] {
        let t = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            parts[1],
            parts[2]
        );
        assert_eq!(
            verify_access_token(&t, &pk, ISS, AUD, NOW),
            Err(TokenError::Kind),
            "{header}"
        );
    }
    for bad in ["", "a.b", "a.b.c.d", "!.!.!"] {
        assert_eq!(
            verify_access_token(bad, &pk, ISS, AUD, NOW),
            Err(TokenError::Malformed),
            "{bad}"
        );
    }
}

#[test]
fn refresh_tokens_are_random_and_stored_as_digests() {
    let (a, da) = new_refresh_token();
    let (b, db) = new_refresh_token();
    assert_ne!(a, b);
    assert_ne!(da, db);
    assert_eq!(refresh_token_digest(&a), da);
    assert!(a.starts_with("rt-") && a.len() == 46);
    assert_ne!(random_id(), random_id());
    assert_eq!(random_id().len(), 22);
}
