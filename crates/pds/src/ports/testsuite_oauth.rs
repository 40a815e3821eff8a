//! Conformance cases for [`OAuthStore`] (feature `testsuite`), the OAuth Authorization Server's
//! state (checklist sections O and P): pushed requests and their expiry, PKCE challenge memory,
//! codes issued once from a request and redeemed once, sessions and their rotating refresh
//! tokens (reuse revokes), listing, deletion with the account, and the sweep of expired rows.
//! Run like `testsuite::cases`, on a fresh store per case.
//!
//! Times are small made-up [`Millis`]; a row is live while `now < expires_at`.
//! A challenge's memory ends at its expiry, whether or not [`OAuthStore::sweep`] ran.

use std::sync::Arc;

use super::testsuite::{Case, CaseFuture};
use super::testsuite_account_admin::{AdminStore, did, make_account};
use super::*;

/// A store implementing [`AccountStore`] (to make and delete accounts) and [`OAuthStore`].
pub trait OAuthSuiteStore: AdminStore + OAuthStore {}

impl<T> OAuthSuiteStore for T where T: AdminStore + OAuthStore {}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$(Case { name: stringify!($name), run: |s| -> CaseFuture { Box::pin($name(s)) } }),*]
    };
}

/// Every case, for a fresh store each.
pub fn cases<S: OAuthSuiteStore>() -> Vec<Case<S>> {
    cases![
        oauth_request_round_trip_and_expiry,
        oauth_challenge_reuse_refused,
        oauth_challenge_allowed_again_after_its_memory_expires,
        oauth_issue_code_consumes_the_request,
        oauth_take_code_fresh_then_reused,
        oauth_take_code_unknown_and_expired,
        oauth_session_round_trip_and_expiry,
        oauth_rotate_refresh_rotates,
        oauth_rotate_refresh_reuse_revokes_the_session,
        oauth_rotate_refresh_unknown_and_expired,
        oauth_revoke_session,
        oauth_sessions_of_newest_first,
        oauth_sessions_and_codes_go_with_the_account,
        oauth_sweep_removes_expired_rows,
    ]
}

/// A made-up SHA-256 digest.
fn digest(n: u8) -> [u8; 32] {
    let mut d = [n; 32];
    d[0] = 0xd1;
    d
}

fn request(id: &str, expires_at: Millis) -> OAuthRequestRow {
    OAuthRequestRow {
        id: id.to_owned(),
        client_id: "https://app.example/client-metadata.json".to_owned(),
        data: format!(r#"{{"request":"{id}"}}"#),
        expires_at,
    }
}

fn code(n: u8, account: u32, expires_at: Millis) -> OAuthCodeRow {
    OAuthCodeRow {
        digest: digest(n),
        did: did(account),
        client_id: "https://app.example/client-metadata.json".to_owned(),
        data: format!(r#"{{"approved":{n}}}"#),
        expires_at,
    }
}

/// Session `id` of account `account`, refresh token `digest(refresh)`, created at
/// `created_at`, refresh token valid until 3 000 and session until 10 000.
fn session(id: &str, account: u32, refresh: u8, created_at: Millis) -> OAuthSessionRow {
    OAuthSessionRow {
        id: id.to_owned(),
        did: did(account),
        client_id: "https://app.example/client-metadata.json".to_owned(),
        scope: "atproto transition:generic".to_owned(),
        dpop_jkt: format!("dpop-jkt-{id}"),
        client_key: None,
        refresh_digest: digest(refresh),
        created_at,
        refresh_expires_at: 3_000,
        expires_at: 10_000,
    }
}

fn is_challenge_conflict(err: &StoreError) -> bool {
    matches!(err, StoreError::Conflict(Conflict::OAuthChallenge))
}

/// The `now` of `put_request` calls unless a case is about the challenge's expiry.
const NOW: Millis = 1_000;

async fn oauth_request_round_trip_and_expiry<S: OAuthSuiteStore>(s: Arc<S>) {
    let r = request("req-1", 2_000);
    s.put_request(&r, "challenge-1", 2_000, NOW)
        .await
        .expect("put");
    assert_eq!(
        s.request("req-1", 1_000).await.expect("get"),
        Some(r.clone())
    );
    assert_eq!(s.request("req-1", 1_999).await.expect("get"), Some(r));
    assert_eq!(
        s.request("req-1", 2_000).await.expect("get"),
        None,
        "expired at expires_at"
    );
    assert_eq!(s.request("req-2", 1_000).await.expect("get"), None);
}

async fn oauth_challenge_reuse_refused<S: OAuthSuiteStore>(s: Arc<S>) {
    let r1 = request("req-1", 2_000);
    s.put_request(&r1, "challenge", 5_000, NOW)
        .await
        .expect("put");
    let err = s
        .put_request(&request("req-2", 2_000), "challenge", 5_000, NOW)
        .await
        .expect_err("challenge seen before");
    assert!(is_challenge_conflict(&err), "{err:?}");
    assert_eq!(
        s.request("req-2", 1_000).await.expect("get"),
        None,
        "nothing written on a reused challenge"
    );
    assert_eq!(s.request("req-1", 1_000).await.expect("get"), Some(r1));
    // Still refused after the first request is gone: the memory outlives the request.
    make_account(&*s, 1, None).await;
    s.issue_code("req-1", &code(1, 1, 2_000), 1_000)
        .await
        .expect("issue");
    assert_eq!(s.request("req-1", 1_000).await.expect("get"), None);
    let err = s
        .put_request(&request("req-3", 2_000), "challenge", 5_000, NOW)
        .await
        .expect_err("challenge seen before");
    assert!(is_challenge_conflict(&err), "{err:?}");
    // Another challenge is fine.
    s.put_request(&request("req-2", 2_000), "other", 5_000, NOW)
        .await
        .expect("put");
    assert!(s.request("req-2", 1_000).await.expect("get").is_some());
}

async fn oauth_challenge_allowed_again_after_its_memory_expires<S: OAuthSuiteStore>(s: Arc<S>) {
    s.put_request(&request("req-1", 2_000), "challenge", 5_000, NOW)
        .await
        .expect("put");
    // Still remembered just before its expiry.
    let err = s
        .put_request(&request("req-0", 8_000), "challenge", 9_000, 4_999)
        .await
        .expect_err("challenge still remembered");
    assert!(is_challenge_conflict(&err), "{err:?}");
    // At its expiry, without a sweep, it may be recorded anew.
    let r2 = request("req-2", 8_000);
    s.put_request(&r2, "challenge", 9_000, 5_000)
        .await
        .expect("memory expired: recorded again");
    assert_eq!(s.request("req-2", 5_000).await.expect("get"), Some(r2));
    // Remembered anew, until 9 000.
    let err = s
        .put_request(&request("req-3", 8_000), "challenge", 9_000, 8_999)
        .await
        .expect_err("challenge seen again");
    assert!(is_challenge_conflict(&err), "{err:?}");
    assert_eq!(s.request("req-3", 5_000).await.expect("get"), None);
    // And after a sweep past the new expiry, too.
    s.sweep(9_000).await.expect("sweep");
    s.put_request(&request("req-4", 12_000), "challenge", 20_000, 9_000)
        .await
        .expect("swept: recorded again");
}

async fn oauth_issue_code_consumes_the_request<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    s.put_request(&request("req-1", 2_000), "c1", 2_000, NOW)
        .await
        .expect("put");
    s.issue_code("req-1", &code(1, 1, 1_600), 1_000)
        .await
        .expect("issue");
    assert_eq!(
        s.request("req-1", 1_000).await.expect("get"),
        None,
        "the request is gone"
    );
    let err = s
        .issue_code("req-1", &code(2, 1, 1_600), 1_001)
        .await
        .expect_err("a request yields one code");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        s.take_code(&digest(2), 1_002).await.expect("take"),
        CodeTake::Unknown,
        "the second code was not stored"
    );

    // An expired request yields nothing.
    s.put_request(&request("req-2", 2_000), "c2", 2_000, NOW)
        .await
        .expect("put");
    let err = s
        .issue_code("req-2", &code(3, 1, 2_600), 2_000)
        .await
        .expect_err("expired request");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        s.take_code(&digest(3), 2_001).await.expect("take"),
        CodeTake::Unknown
    );
    // An unknown request neither.
    let err = s
        .issue_code("req-9", &code(4, 1, 2_600), 1_000)
        .await
        .expect_err("unknown request");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    // The first code is there.
    assert!(matches!(
        s.take_code(&digest(1), 1_100).await.expect("take"),
        CodeTake::Fresh(_)
    ));
}

async fn oauth_take_code_fresh_then_reused<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    s.put_request(&request("req-1", 2_000), "c1", 2_000, NOW)
        .await
        .expect("put");
    let c = code(1, 1, 1_600);
    s.issue_code("req-1", &c, 1_000).await.expect("issue");
    assert_eq!(
        s.take_code(&digest(1), 1_100).await.expect("take"),
        CodeTake::Fresh(c.clone()),
        "the code as issued (its data, not the request's)"
    );
    assert_eq!(
        s.take_code(&digest(1), 1_101).await.expect("take"),
        CodeTake::Reused { session_id: None },
        "used, no session linked yet"
    );
    s.create_session(&session("sess-1", 1, 10, 1_100), Some(&digest(1)))
        .await
        .expect("session");
    assert_eq!(
        s.take_code(&digest(1), 1_200).await.expect("take"),
        CodeTake::Reused {
            session_id: Some("sess-1".to_owned())
        }
    );
    assert_eq!(
        s.take_code(&digest(1), 1_300).await.expect("take"),
        CodeTake::Reused {
            session_id: Some("sess-1".to_owned())
        },
        "every later call"
    );
}

async fn oauth_take_code_unknown_and_expired<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    for (n, id) in [(1, "req-1"), (2, "req-2")] {
        s.put_request(&request(id, 2_000), id, 2_000, NOW)
            .await
            .expect("put");
        s.issue_code(id, &code(n, 1, 1_600), 1_000)
            .await
            .expect("issue");
    }
    assert_eq!(
        s.take_code(&digest(9), 1_100).await.expect("take"),
        CodeTake::Unknown,
        "wrong digest"
    );
    assert_eq!(
        s.take_code(&digest(1), 1_600).await.expect("take"),
        CodeTake::Unknown,
        "expired at expires_at"
    );
    // A used code that expired is unknown too.
    assert!(matches!(
        s.take_code(&digest(2), 1_599).await.expect("take"),
        CodeTake::Fresh(_)
    ));
    assert_eq!(
        s.take_code(&digest(2), 1_600).await.expect("take"),
        CodeTake::Unknown
    );
}

async fn oauth_session_round_trip_and_expiry<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    let public = session("sess-1", 1, 10, 1_000);
    let mut confidential = session("sess-2", 1, 20, 1_001);
    confidential.client_id = "https://confidential.example/client-metadata.json".to_owned();
    confidential.scope = "atproto".to_owned();
    confidential.client_key = Some(("key-1".to_owned(), "client-jkt".to_owned()));
    confidential.refresh_expires_at = 4_000;
    confidential.expires_at = 20_000;
    s.create_session(&public, None).await.expect("create");
    s.create_session(&confidential, None).await.expect("create");
    assert_eq!(
        s.session("sess-1", 1_500).await.expect("get"),
        Some(public.clone())
    );
    assert_eq!(
        s.session("sess-2", 1_500).await.expect("get"),
        Some(confidential.clone())
    );
    assert_eq!(
        s.session_by_refresh(&digest(20), 1_500).await.expect("get"),
        Some(confidential.clone())
    );
    assert_eq!(
        s.session_by_refresh(&digest(10), 1_500).await.expect("get"),
        Some(public.clone())
    );
    assert_eq!(s.session("sess-9", 1_500).await.expect("get"), None);
    // The session outlives its refresh token; not its own end.
    assert_eq!(
        s.session("sess-1", 9_999).await.expect("get"),
        Some(public.clone())
    );
    assert_eq!(
        s.session_by_refresh(&digest(10), 3_000).await.expect("get"),
        None,
        "refresh token expired"
    );
    assert_eq!(s.session("sess-1", 10_000).await.expect("get"), None);
    assert_eq!(
        s.session("sess-2", 10_000).await.expect("get"),
        Some(confidential)
    );
}

async fn oauth_rotate_refresh_rotates<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    let original = session("sess-1", 1, 10, 1_000);
    s.create_session(&original, None).await.expect("create");
    let rotated = s
        .rotate_refresh(&digest(10), &digest(11), 5_000, 1_500)
        .await
        .expect("rotate");
    let expected = OAuthSessionRow {
        refresh_digest: digest(11),
        refresh_expires_at: 5_000,
        ..original
    };
    assert_eq!(
        rotated,
        RefreshRotation::Rotated(Box::new(expected.clone()))
    );
    assert_eq!(
        s.session_by_refresh(&digest(11), 1_600).await.expect("get"),
        Some(expected.clone())
    );
    assert_eq!(
        s.session_by_refresh(&digest(10), 1_600).await.expect("get"),
        None,
        "found by the new digest only"
    );
    assert_eq!(
        s.session("sess-1", 1_600).await.expect("get"),
        Some(expected.clone())
    );
    // The new expiry counts: still rotatable after the old one (3 000).
    let again = s
        .rotate_refresh(&digest(11), &digest(12), 6_000, 4_000)
        .await
        .expect("rotate");
    assert_eq!(
        again,
        RefreshRotation::Rotated(Box::new(OAuthSessionRow {
            refresh_digest: digest(12),
            refresh_expires_at: 6_000,
            ..expected
        }))
    );
}

async fn oauth_rotate_refresh_reuse_revokes_the_session<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    s.create_session(&session("sess-1", 1, 10, 1_000), None)
        .await
        .expect("create");
    s.create_session(&session("sess-2", 1, 20, 1_001), None)
        .await
        .expect("create");
    assert!(matches!(
        s.rotate_refresh(&digest(10), &digest(11), 5_000, 1_500)
            .await
            .expect("rotate"),
        RefreshRotation::Rotated(_)
    ));
    assert_eq!(
        s.rotate_refresh(&digest(10), &digest(12), 5_000, 1_600)
            .await
            .expect("reuse"),
        RefreshRotation::Reused,
        "the previous token presented again"
    );
    assert_eq!(
        s.session("sess-1", 1_600).await.expect("get"),
        None,
        "revoked"
    );
    assert_eq!(
        s.session_by_refresh(&digest(11), 1_600).await.expect("get"),
        None
    );
    assert_eq!(
        s.session_by_refresh(&digest(12), 1_600).await.expect("get"),
        None,
        "the reuse stored nothing"
    );
    assert_eq!(
        s.rotate_refresh(&digest(11), &digest(13), 5_000, 1_700)
            .await
            .expect("rotate"),
        RefreshRotation::Unknown,
        "the session is gone"
    );
    assert!(
        s.session("sess-2", 1_700).await.expect("get").is_some(),
        "other sessions untouched"
    );
}

async fn oauth_rotate_refresh_unknown_and_expired<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    let original = session("sess-1", 1, 10, 1_000);
    s.create_session(&original, None).await.expect("create");
    assert_eq!(
        s.rotate_refresh(&digest(99), &digest(11), 5_000, 1_500)
            .await
            .expect("rotate"),
        RefreshRotation::Unknown,
        "random digest"
    );
    assert_eq!(
        s.rotate_refresh(&digest(10), &digest(11), 5_000, 3_000)
            .await
            .expect("rotate"),
        RefreshRotation::Unknown,
        "refresh token expired at refresh_expires_at"
    );
    assert_eq!(
        s.session("sess-1", 3_000).await.expect("get"),
        Some(original.clone()),
        "nothing changed"
    );
    assert_eq!(
        s.session_by_refresh(&digest(11), 2_000).await.expect("get"),
        None
    );
    // A session past its end cannot be refreshed, even with a live refresh token.
    let mut short = session("sess-2", 1, 20, 1_000);
    short.expires_at = 2_000;
    short.refresh_expires_at = 5_000;
    s.create_session(&short, None).await.expect("create");
    assert_eq!(
        s.rotate_refresh(&digest(20), &digest(21), 6_000, 2_000)
            .await
            .expect("rotate"),
        RefreshRotation::Unknown,
        "session ended"
    );
}

async fn oauth_revoke_session<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    s.create_session(&session("sess-1", 1, 10, 1_000), None)
        .await
        .expect("create");
    s.create_session(&session("sess-2", 1, 20, 1_000), None)
        .await
        .expect("create");
    assert!(s.revoke_session("sess-1").await.expect("revoke"));
    assert!(!s.revoke_session("sess-1").await.expect("revoke again"));
    assert!(!s.revoke_session("sess-9").await.expect("revoke unknown"));
    assert_eq!(s.session("sess-1", 1_500).await.expect("get"), None);
    assert_eq!(
        s.session_by_refresh(&digest(10), 1_500).await.expect("get"),
        None
    );
    assert_eq!(
        s.rotate_refresh(&digest(10), &digest(11), 5_000, 1_500)
            .await
            .expect("rotate"),
        RefreshRotation::Unknown
    );
    assert!(s.session("sess-2", 1_500).await.expect("get").is_some());
}

async fn oauth_sessions_of_newest_first<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    make_account(&*s, 2, None).await;
    for (id, refresh, at) in [("s-a", 1, 100), ("s-b", 2, 300), ("s-c", 3, 200)] {
        s.create_session(&session(id, 1, refresh, at), None)
            .await
            .expect("create");
    }
    let mut ended = session("s-ended", 1, 4, 400);
    ended.expires_at = 1_000;
    s.create_session(&ended, None).await.expect("create");
    s.create_session(&session("s-other", 2, 5, 250), None)
        .await
        .expect("create");
    let ids = |v: Vec<OAuthSessionRow>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.sessions_of(&did(1), 999).await.expect("list")),
        vec!["s-ended", "s-b", "s-c", "s-a"]
    );
    assert_eq!(
        ids(s.sessions_of(&did(1), 1_000).await.expect("list")),
        vec!["s-b", "s-c", "s-a"],
        "newest first, ended ones left out"
    );
    let listed = s.sessions_of(&did(2), 1_000).await.expect("list");
    assert_eq!(listed, vec![session("s-other", 2, 5, 250)], "whole rows");
    assert!(
        s.sessions_of(&did(3), 1_000)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn oauth_sessions_and_codes_go_with_the_account<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    make_account(&*s, 2, None).await;
    s.create_session(&session("sess-1", 1, 10, 1_000), None)
        .await
        .expect("create");
    s.create_session(&session("sess-2", 2, 20, 1_000), None)
        .await
        .expect("create");
    s.put_request(&request("req-1", 2_000), "c1", 2_000, NOW)
        .await
        .expect("put");
    s.issue_code("req-1", &code(1, 1, 1_600), 1_000)
        .await
        .expect("issue");
    let tombstone = NewEvent {
        did: did(1),
        kind: EventKind::Account,
        event: vec![0xa0],
        created_at: 1_100,
    };
    s.delete_account(&did(1), tombstone).await.expect("delete");
    assert_eq!(s.session("sess-1", 1_200).await.expect("get"), None);
    assert_eq!(
        s.session_by_refresh(&digest(10), 1_200).await.expect("get"),
        None
    );
    assert!(
        s.sessions_of(&did(1), 1_200)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(!s.revoke_session("sess-1").await.expect("revoke"));
    assert_eq!(
        s.take_code(&digest(1), 1_200).await.expect("take"),
        CodeTake::Unknown,
        "codes go too"
    );
    assert!(
        s.session("sess-2", 1_200).await.expect("get").is_some(),
        "other accounts keep theirs"
    );
}

async fn oauth_sweep_removes_expired_rows<S: OAuthSuiteStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    // One expired and one live row of each kind (the requests behind codes are consumed).
    s.put_request(&request("req-old", 2_000), "c-old", 2_000, NOW)
        .await
        .expect("put");
    s.put_request(&request("req-live", 9_000), "c-live", 9_000, NOW)
        .await
        .expect("put");
    s.put_request(&request("req-a", 9_000), "c-a", 9_000, NOW)
        .await
        .expect("put");
    s.put_request(&request("req-b", 9_000), "c-b", 9_000, NOW)
        .await
        .expect("put");
    s.issue_code("req-a", &code(1, 1, 2_000), 1_000)
        .await
        .expect("issue");
    s.issue_code("req-b", &code(2, 1, 9_000), 1_000)
        .await
        .expect("issue");
    assert!(matches!(
        s.take_code(&digest(1), 1_000).await.expect("take"),
        CodeTake::Fresh(_)
    ));
    let mut old = session("sess-old", 1, 10, 1_000);
    old.expires_at = 2_000;
    s.create_session(&old, None).await.expect("create");
    s.create_session(&session("sess-live", 1, 20, 1_000), None)
        .await
        .expect("create");

    assert_eq!(
        s.sweep(1_999).await.expect("sweep"),
        0,
        "nothing expired yet"
    );
    // req-old, c-old, code 1 (used), sess-old.
    assert_eq!(s.sweep(5_000).await.expect("sweep"), 4);
    assert_eq!(s.sweep(5_000).await.expect("sweep"), 0, "already swept");

    // The live rows are all there.
    assert!(s.request("req-live", 5_000).await.expect("get").is_some());
    assert!(matches!(
        s.take_code(&digest(2), 5_000).await.expect("take"),
        CodeTake::Fresh(_)
    ));
    assert!(s.session("sess-live", 5_000).await.expect("get").is_some());
    let err = s
        .put_request(&request("req-x", 9_000), "c-live", 9_000, NOW)
        .await
        .expect_err("live challenge memory kept");
    assert!(is_challenge_conflict(&err), "{err:?}");
    // The expired memory went.
    s.put_request(&request("req-new", 9_000), "c-old", 9_000, NOW)
        .await
        .expect("expired challenge memory removed");

    // Everything left expires at 9 000 (sessions at 10 000): requests req-live and req-new;
    // challenges c-live, c-a, c-b, c-old; code 2.
    assert_eq!(s.sweep(9_000).await.expect("sweep"), 7);
    assert!(s.session("sess-live", 9_000).await.expect("get").is_some());
    assert_eq!(s.sweep(10_000).await.expect("sweep"), 1, "sess-live");
    assert_eq!(s.session("sess-live", 9_999).await.expect("get"), None);
}
