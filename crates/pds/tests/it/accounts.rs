//! Accounts and sessions: createAccount -> DID in the PLC directory, login by handle/DID/email,
//! refresh (single use), app passwords, deactivation, deletion, events (checklist #98, #102,
//! #112, #129-#131, #134, #137).

use pds::ports::EventKind;
use pds::{AccessScope, CreateAccount, ErrorKind};

use crate::harness::{create_account, expect_kind, test_pds};

#[tokio::test]
async fn create_account_registers_did_and_emits_events_in_order() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    assert_eq!(alice.did.method(), "plc");
    let doc = pds::PlcClient::resolve(&*t.plc, &alice.did)
        .await
        .expect("resolve")
        .expect("did known to PLC");
    assert_eq!(
        doc.handle().map(|h| h.into_string()).as_deref(),
        Some("alice.test")
    );
    let key = doc.signing_key().expect("signing key");
    assert_eq!(doc.pds_endpoint().expect("pds"), "https://pds.test");
    // The repo signing key is not the PLC rotation key (checklist #112).
    assert_ne!(
        key.to_did_key(),
        t.pds.config().plc_rotation_key.public_key().to_did_key()
    );

    let evs = t.pds.events().events_after(0, 100).await.expect("events");
    let kinds: Vec<EventKind> = evs.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Identity,
            EventKind::Account,
            EventKind::Commit,
            EventKind::Sync
        ]
    );
    assert_eq!(*t.pds.subscribe_events().borrow(), evs[3].seq);

    let status = t.pds.get_repo_status(&alice.did).await.expect("status");
    assert!(status.active && status.status.is_none() && status.rev.is_some());
}

#[tokio::test]
async fn sessions_login_refresh_single_use_and_logout() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    for id in [
        "alice.test",
        "ALICE.test",
        alice.did.as_str(),
        "alice@example.com",
    ] {
        let s = t.pds.create_session(id, "password").await.expect(id);
        assert_eq!(s.did, alice.did);
        assert_eq!(s.handle.as_str(), "alice.test");
        assert!(s.active);
    }
    for (id, pw) in [
        ("alice.test", "wrong"),
        ("nobody.test", "password"),
        ("did:plc:nobody", "password"),
        ("", ""),
    ] {
        let e = t.pds.create_session(id, pw).await.expect_err(id);
        assert_eq!(e.kind(), ErrorKind::AuthRequired, "{id}");
    }

    let s = t
        .pds
        .create_session("alice.test", "password")
        .await
        .expect("login");
    // Token domain separation (checklist #130).
    expect_kind(
        t.pds.verify_access_token(&s.refresh_jwt),
        ErrorKind::InvalidToken,
        "refresh as access",
    );
    expect_kind(
        t.pds.refresh_session(&s.access_jwt).await,
        ErrorKind::InvalidToken,
        "access as refresh",
    );

    let s2 = t
        .pds
        .refresh_session(&s.refresh_jwt)
        .await
        .expect("refresh");
    assert_eq!(s2.did, alice.did);
    expect_kind(
        t.pds.refresh_session(&s.refresh_jwt).await,
        ErrorKind::InvalidToken,
        "single use",
    );
    let auth = t
        .pds
        .verify_access_token(&s2.access_jwt)
        .expect("new access");
    assert_eq!(auth.scope, AccessScope::Full);
    let info = t.pds.get_session(&auth).await.expect("get session");
    assert_eq!(info.email.as_deref(), Some("alice@example.com"));

    assert_eq!(
        t.pds.collect_expired_sessions().await.expect("gc"),
        0,
        "none expired yet"
    );
    t.pds.delete_session(&s2.refresh_jwt).await.expect("logout");
    expect_kind(
        t.pds.refresh_session(&s2.refresh_jwt).await,
        ErrorKind::InvalidToken,
        "revoked",
    );
}

#[tokio::test]
async fn app_passwords_are_limited_and_revocable() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let app = t
        .pds
        .create_app_password(&alice.auth, "phone", false)
        .await
        .expect("create");
    let password = app.password.clone().expect("password returned once");
    let listed = t.pds.list_app_passwords(&alice.auth).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].password.is_none());
    expect_kind(
        t.pds.create_app_password(&alice.auth, "phone", false).await,
        ErrorKind::InvalidRequest,
        "dup",
    );

    let s = t
        .pds
        .create_session("alice.test", &password)
        .await
        .expect("app password login");
    let app_auth = t.pds.verify_access_token(&s.access_jwt).expect("verify");
    assert_eq!(
        app_auth.scope,
        AccessScope::AppPassword { privileged: false }
    );
    // Account management is refused to app-password sessions (checklist #131).
    expect_kind(
        t.pds.create_app_password(&app_auth, "x", false).await,
        ErrorKind::InvalidToken,
        "no scope",
    );
    expect_kind(
        t.pds.deactivate_account(&app_auth, None).await,
        ErrorKind::InvalidToken,
        "no scope",
    );
    expect_kind(
        t.pds
            .get_service_auth(
                &app_auth,
                "did:web:api.test",
                None,
                Some("chat.bsky.convo.listConvos"),
            )
            .await,
        ErrorKind::InvalidRequest,
        "privileged method",
    );
    // The refreshed session keeps the app-password grant.
    let s2 = t
        .pds
        .refresh_session(&s.refresh_jwt)
        .await
        .expect("refresh");
    assert_eq!(
        t.pds
            .verify_access_token(&s2.access_jwt)
            .expect("verify")
            .scope,
        app_auth.scope
    );

    t.pds
        .revoke_app_password(&alice.auth, "phone")
        .await
        .expect("revoke");
    expect_kind(
        t.pds.refresh_session(&s2.refresh_jwt).await,
        ErrorKind::InvalidToken,
        "revoked",
    );
    expect_kind(
        t.pds.create_session("alice.test", &password).await,
        ErrorKind::AuthRequired,
        "gone",
    );
}

#[tokio::test]
async fn service_auth_rules() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let token = t
        .pds
        .get_service_auth(
            &alice.auth,
            "did:web:api.test#bsky_appview",
            None,
            Some("app.bsky.feed.getTimeline"),
        )
        .await
        .expect("token");
    assert_eq!(token.split('.').count(), 3);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let cases: &[(Option<i64>, Option<&str>, Option<ErrorKind>)] = &[
        (
            Some(now + 2 * 3600),
            Some("app.bsky.feed.getTimeline"),
            Some(ErrorKind::BadExpiration),
        ),
        (
            Some(now - 10),
            Some("app.bsky.feed.getTimeline"),
            Some(ErrorKind::BadExpiration),
        ),
        (Some(now + 600), None, Some(ErrorKind::BadExpiration)),
        (Some(now + 600), Some("app.bsky.feed.getTimeline"), None),
        (
            None,
            Some("com.atproto.server.updateEmail"),
            Some(ErrorKind::InvalidRequest),
        ),
        (
            None,
            Some("com.atproto.server.createAppPassword"),
            Some(ErrorKind::InvalidRequest),
        ),
        (None, Some("not an nsid"), Some(ErrorKind::InvalidRequest)),
    ];
    for (exp, lxm, want) in cases {
        let got = t
            .pds
            .get_service_auth(&alice.auth, "did:web:api.test", *exp, *lxm)
            .await;
        assert_eq!(
            got.err().map(|e| e.kind()),
            *want,
            "exp={exp:?} lxm={lxm:?}"
        );
    }
    let bad_aud = t
        .pds
        .get_service_auth(&alice.auth, "not-a-did", None, None)
        .await;
    expect_kind(bad_aud, ErrorKind::InvalidRequest, "aud");
}

#[tokio::test]
async fn deactivate_activate_delete() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    t.pds
        .deactivate_account(&alice.auth, None)
        .await
        .expect("deactivate");
    let status = t.pds.get_repo_status(&alice.did).await.expect("status");
    assert_eq!((status.active, status.status), (false, Some("deactivated")));
    // Public reads refused, the owner still reads (checklist #66).
    expect_kind(
        t.pds.get_repo(&alice.did, None, None).await,
        ErrorKind::RepoDeactivated,
        "public",
    );
    t.pds
        .get_repo(&alice.did, None, Some(&alice.auth))
        .await
        .expect("owner");
    expect_kind(
        t.pds
            .create_record(
                &alice.auth,
                alice.repo(),
                crate::harness::nsid("app.bsky.feed.post"),
                None,
                crate::harness::post("x"),
                None,
                None,
            )
            .await,
        ErrorKind::AccountDeactivated,
        "deactivated write",
    );
    let s = t
        .pds
        .create_session("alice.test", "password")
        .await
        .expect("deactivated can log in");
    assert_eq!((s.active, s.status), (false, Some("deactivated")));
    t.pds.activate_account(&alice.auth).await.expect("activate");
    assert!(
        t.pds
            .get_repo_status(&alice.did)
            .await
            .expect("status")
            .active
    );
    let check = t
        .pds
        .check_account_status(&alice.auth)
        .await
        .expect("check");
    assert!(check.activated);
    assert_eq!(check.indexed_records, 0);

    // deleteAccount needs the password and the emailed token (requestAccountDelete).
    t.pds
        .request_account_delete(&alice.auth)
        .await
        .expect("request delete");
    let mail = t.mailer.sent().pop().expect("delete email");
    let token = mail
        .text
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 11 && l.as_bytes()[5] == b'-')
        .expect("token");
    expect_kind(
        t.pds.delete_account(&alice.did, "wrong", token).await,
        ErrorKind::AuthRequired,
        "bad password",
    );
    t.pds
        .delete_account(&alice.did, "password", token)
        .await
        .expect("delete");
    expect_kind(
        t.pds.get_repo_status(&alice.did).await,
        ErrorKind::RepoNotFound,
        "gone",
    );
    expect_kind(
        t.pds.get_repo(&alice.did, None, None).await,
        ErrorKind::RepoNotFound,
        "gone",
    );
    let evs = t.pds.events().events_after(0, 100).await.expect("events");
    assert_eq!(evs.len(), 1, "only the tombstone remains");
    assert_eq!(evs[0].kind, EventKind::Account);
    // The handle is free again.
    create_account(&t, "alice").await;
}

#[tokio::test]
async fn bring_your_own_did_starts_deactivated_without_events() {
    let t = test_pds().await;
    let did: syntax::Did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz".parse().expect("did");
    let created = t
        .pds
        .create_account(CreateAccount {
            handle: "mover.test".to_owned(),
            password: Some("pw".to_owned()),
            did: Some(did.clone()),
            ..CreateAccount::default()
        })
        .await
        .expect("byo did");
    assert_eq!(created.did, did);
    assert!(
        t.pds
            .events()
            .events_after(0, 10)
            .await
            .expect("events")
            .is_empty()
    );
    let status = t.pds.get_repo_status(&did).await.expect("status");
    assert_eq!(status.status, Some("deactivated"));
    let bad = t
        .pds
        .create_account(CreateAccount {
            handle: "webpath.test".to_owned(),
            did: Some("did:web:example.com:path".parse().expect("did")),
            ..CreateAccount::default()
        })
        .await
        .expect_err("did:web with a path (checklist #115)");
    assert_eq!(bad.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn preferences_round_trip() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    assert!(
        t.pds
            .get_preferences(&alice.auth)
            .await
            .expect("get")
            .is_empty()
    );
    let prefs = vec![
        serde_json::json!({"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false}),
        serde_json::json!({"$type": "app.bsky.actor.defs#personalDetailsPref", "birthDate": "2000-01-01T00:00:00.000Z"}),
    ];
    t.pds
        .put_preferences(&alice.auth, prefs.clone())
        .await
        .expect("put");
    assert_eq!(
        t.pds.get_preferences(&alice.auth).await.expect("get"),
        prefs
    );
    expect_kind(
        t.pds
            .put_preferences(
                &alice.auth,
                vec![serde_json::json!({"$type": "com.example.pref"})],
            )
            .await,
        ErrorKind::InvalidRequest,
        "namespace",
    );
    let untyped = t
        .pds
        .put_preferences(&alice.auth, vec![serde_json::json!({"a": 1})])
        .await;
    expect_kind(untyped, ErrorKind::InvalidRequest, "no $type");
    // App-password sessions do not see personal details.
    let app = t
        .pds
        .create_app_password(&alice.auth, "app", false)
        .await
        .expect("app pw");
    let s = t
        .pds
        .create_session("alice.test", &app.password.expect("pw"))
        .await
        .expect("login");
    let app_auth = t.pds.verify_access_token(&s.access_jwt).expect("verify");
    assert_eq!(
        t.pds.get_preferences(&app_auth).await.expect("get").len(),
        1
    );
}

#[tokio::test]
async fn update_handle_updates_plc_and_emits_identity() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    create_account(&t, "bob").await;
    t.pds
        .update_handle(&alice.auth, "Alice2.TEST", false)
        .await
        .expect("update");
    let h: syntax::Handle = "alice2.test".parse().expect("handle");
    assert_eq!(
        t.pds.resolve_local_handle(&h).await.expect("resolve"),
        Some(alice.did.clone())
    );
    let old: syntax::Handle = "alice.test".parse().expect("handle");
    assert_eq!(
        t.pds.resolve_local_handle(&old).await.expect("resolve"),
        None
    );
    let s = t
        .pds
        .create_session("alice2.test", "password")
        .await
        .expect("new handle logs in");
    assert_eq!(
        s.handle.as_str(),
        "alice2.test",
        "stored lowercase (checklist #121)"
    );
    let doc = pds::PlcClient::resolve(&*t.plc, &alice.did)
        .await
        .expect("resolve")
        .expect("doc");
    assert_eq!(
        doc.handle().map(|h| h.into_string()).as_deref(),
        Some("alice2.test")
    );
    let evs = t.pds.events().events_after(0, 100).await.expect("events");
    assert_eq!(evs.last().map(|e| e.kind), Some(EventKind::Identity));

    let cases: &[(&str, bool, ErrorKind)] = &[
        ("bob.test", false, ErrorKind::HandleNotAvailable),
        ("alice.example.com", false, ErrorKind::UnsupportedDomain),
        ("alice.local", true, ErrorKind::InvalidHandle),
        ("www.test", false, ErrorKind::InvalidHandle),
    ];
    for (h, ext, want) in cases {
        let e = t
            .pds
            .update_handle(&alice.auth, h, *ext)
            .await
            .expect_err(h);
        assert_eq!(e.kind(), *want, "{h}");
    }
    t.pds
        .update_handle(&alice.auth, "alice.example.com", true)
        .await
        .expect("verified external handle");
    let doc = pds::PlcClient::resolve(&*t.plc, &alice.did)
        .await
        .expect("resolve")
        .expect("doc");
    assert_eq!(
        doc.handle().map(|h| h.into_string()).as_deref(),
        Some("alice.example.com")
    );
}

#[tokio::test]
async fn takedown_blocks_login_and_reads() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    t.pds
        .set_takedown(&alice.did, Some("ticket-1".to_owned()))
        .await
        .expect("takedown");
    expect_kind(
        t.pds.create_session("alice.test", "password").await,
        ErrorKind::AccountTakedown,
        "login",
    );
    expect_kind(
        t.pds.refresh_session(&alice.refresh_jwt).await,
        ErrorKind::AccountTakedown,
        "refresh",
    );
    expect_kind(
        t.pds.get_session(&alice.auth).await,
        ErrorKind::AccountTakedown,
        "getSession",
    );
    expect_kind(
        t.pds.get_repo(&alice.did, None, None).await,
        ErrorKind::RepoTakendown,
        "getRepo",
    );
    let status = t.pds.get_repo_status(&alice.did).await.expect("status");
    assert_eq!((status.active, status.status), (false, Some("takendown")));
    let own = t.pds.get_repo(&alice.did, None, Some(&alice.auth)).await;
    expect_kind(own, ErrorKind::RepoTakendown, "not even the owner");
    let listed = t.pds.list_repos(None, None).await.expect("list");
    assert_eq!(listed.repos[0].status, Some("takendown"));
    t.pds.set_takedown(&alice.did, None).await.expect("restore");
    t.pds
        .create_session("alice.test", "password")
        .await
        .expect("login again");
    let evs = t.pds.events().events_after(0, 100).await.expect("events");
    let accounts = evs.iter().filter(|e| e.kind == EventKind::Account).count();
    assert_eq!(accounts, 3, "create, takedown, restore");
}

#[tokio::test]
async fn recommended_did_credentials_match_the_plc_document() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let creds = t
        .pds
        .recommended_did_credentials(&alice.auth)
        .await
        .expect("creds");
    let doc = pds::PlcClient::resolve(&*t.plc, &alice.did)
        .await
        .expect("resolve")
        .expect("doc");
    assert_eq!(
        creds["verificationMethods"]["atproto"],
        doc.signing_key().expect("key").to_did_key()
    );
    assert_eq!(creds["alsoKnownAs"][0], "at://alice.test");
    assert_eq!(
        creds["services"]["atproto_pds"]["endpoint"],
        "https://pds.test"
    );
    assert_eq!(
        creds["services"]["atproto_pds"]["type"],
        "AtprotoPersonalDataServer"
    );
    assert_eq!(
        creds["rotationKeys"][0],
        t.pds.config().plc_rotation_key.public_key().to_did_key()
    );
}

#[tokio::test]
async fn admin_delete_account() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    t.pds
        .admin_delete_account(&alice.did)
        .await
        .expect("admin delete");
    expect_kind(
        t.pds.get_repo_status(&alice.did).await,
        ErrorKind::RepoNotFound,
        "gone",
    );
    expect_kind(
        t.pds.admin_delete_account(&alice.did).await,
        ErrorKind::RepoNotFound,
        "twice",
    );
}

#[tokio::test]
async fn deactivated_accounts_are_deleted_after_delete_after() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let bob = create_account(&t, "bob").await;
    t.pds
        .deactivate_account(&alice.auth, Some(1))
        .await
        .expect("deactivate, due long ago");
    t.pds
        .deactivate_account(&bob.auth, Some(i64::MAX))
        .await
        .expect("deactivate, due never");
    assert_eq!(t.pds.delete_due_accounts().await.expect("reap"), 1);
    expect_kind(
        t.pds.get_repo_status(&alice.did).await,
        ErrorKind::RepoNotFound,
        "deleted",
    );
    assert!(!t.pds.get_repo_status(&bob.did).await.expect("kept").active);
    assert_eq!(t.pds.delete_due_accounts().await.expect("reap"), 0);
}
