//! Unit tests for session and service tokens: domain separation, tampering, expiry.

use super::*;
use crate::secrets::SecretKey;

fn tokens() -> SessionTokens {
    SessionTokens::new(
        &SecretKey::from_bytes([1; 32]),
        "did:web:pds.test".parse().expect("did"),
    )
}

fn alice() -> Did {
    "did:plc:alice".parse().expect("did")
}

#[test]
fn access_and_refresh_are_not_interchangeable() {
    let t = tokens();
    let access = t.access(&alice(), AccessScope::Full, 100, 60);
    let refresh = t.refresh(&alice(), "jti-1", 100, 60);
    let claims = t
        .verify(&access, TokenType::Access, 120)
        .expect("access ok");
    assert_eq!(t.access_context(&claims).expect("ctx").did, alice());
    assert_eq!(
        t.verify(&refresh, TokenType::Refresh, 120)
            .expect("refresh ok")
            .jti
            .as_deref(),
        Some("jti-1")
    );
    let e = t
        .verify(&refresh, TokenType::Access, 120)
        .expect_err("refresh as access");
    assert_eq!(e.kind(), ErrorKind::InvalidToken);
    let e = t
        .verify(&access, TokenType::Refresh, 120)
        .expect_err("access as refresh");
    assert_eq!(e.kind(), ErrorKind::InvalidToken);
}

#[test]
fn expired_forged_and_malformed() {
    let t = tokens();
    let access = t.access(
        &alice(),
        AccessScope::AppPassword { privileged: false },
        100,
        60,
    );
    let e = t
        .verify(&access, TokenType::Access, 160)
        .expect_err("expired");
    assert_eq!(e.kind(), ErrorKind::ExpiredToken);
    let other = SessionTokens::new(
        &SecretKey::from_bytes([2; 32]),
        "did:web:pds.test".parse().expect("did"),
    );
    let forged = other.access(&alice(), AccessScope::Full, 100, 60);
    assert_eq!(
        t.verify(&forged, TokenType::Access, 120)
            .expect_err("forged")
            .kind(),
        ErrorKind::InvalidToken
    );
    let wrong_aud = SessionTokens::new(
        &SecretKey::from_bytes([1; 32]),
        "did:web:other.test".parse().expect("did"),
    )
    .access(&alice(), AccessScope::Full, 100, 60);
    assert_eq!(
        t.verify(&wrong_aud, TokenType::Access, 120)
            .expect_err("aud")
            .kind(),
        ErrorKind::InvalidToken
    );
    for bad in ["", "a.b", "a.b.c.d", "!!!.???.###", "e30.e30.e30"] {
        assert_eq!(
            t.verify(bad, TokenType::Access, 0).expect_err(bad).kind(),
            ErrorKind::InvalidToken
        );
    }
    // Swap the payload of a valid token: signature no longer matches.
    let mut parts: Vec<&str> = access.split('.').collect();
    let full = t.access(&alice(), AccessScope::Full, 100, 60);
    let full_parts: Vec<&str> = full.split('.').collect();
    parts[1] = full_parts[1];
    let spliced = parts.join(".");
    assert_eq!(
        t.verify(&spliced, TokenType::Access, 120)
            .expect_err("spliced")
            .kind(),
        ErrorKind::InvalidToken
    );
}

#[test]
fn service_jwt_verifies_with_account_key() {
    let key = crypto::Keypair::generate(crypto::Curve::K256);
    let jwt = service_jwt(
        &key,
        &alice(),
        "did:web:api.test#bsky_appview",
        Some("app.bsky.feed.getTimeline"),
        100,
        160,
    );
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "ES256K");
    assert_eq!(header["typ"], "JWT");
    let body: serde_json::Value =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(body["iss"], "did:plc:alice");
    assert_eq!(body["lxm"], "app.bsky.feed.getTimeline");
    assert_eq!(body["exp"], 160);
    assert!(body["jti"].as_str().is_some_and(|j| j.len() == 32));
    let sig = B64.decode(parts[2]).expect("b64");
    key.public_key()
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("signature verifies");
}

#[test]
fn two_access_tokens_issued_in_the_same_second_differ() {
    let t = tokens();
    let a = t.access(&alice(), AccessScope::Full, 100, 60);
    let b = t.access(&alice(), AccessScope::Full, 100, 60);
    assert_ne!(a, b);
    assert!(t.verify(&a, TokenType::Access, 120).is_ok());
    assert!(t.verify(&b, TokenType::Access, 120).is_ok());
}
