//! Conformance suites for the storage ports (feature `testsuite`): one async function per
//! contract clause, generic over any store implementing every port ([`FullStore`]).
//!
//! A backend runs them with a fresh, empty store per case:
//!
//! ```ignore
//! for case in pds::ports::testsuite::cases::<MyStore>() {
//!     let store = Arc::new(fresh_store().await);
//!     println!("port conformance: {}", case.name);
//!     (case.run)(store).await;
//! }
//! ```
//!
//! Cases panic (assert) on a contract violation; they never need network or clocks. Fixtures
//! are made-up but well-formed: blocks are real DAG-CBOR with matching CIDs, so a backend that
//! checks hashes would pass too.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use data_model::{Cid, Value};
use repo::blockstore::BlockMap;
use syntax::{Did, Handle, Nsid, RecordKey, Tid};

use super::*;

/// A store implementing every port.
pub trait FullStore:
    AccountStore + RepoStore + BlobMetaStore + PreferenceStore + EventStore + 'static
{
}

impl<T> FullStore for T where
    T: AccountStore + RepoStore + BlobMetaStore + PreferenceStore + EventStore + 'static
{
}

/// The future a case returns.
pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One conformance case.
pub struct Case<S> {
    /// Name, printed by the runner.
    pub name: &'static str,
    /// Runs the case against a fresh store.
    pub run: fn(Arc<S>) -> CaseFuture,
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$(Case { name: stringify!($name), run: |s| Box::pin($name(s)) }),*]
    };
}

/// Every case, for a fresh store each.
pub fn cases<S: FullStore>() -> Vec<Case<S>> {
    cases![
        account_create_and_lookup,
        account_create_conflicts_write_nothing,
        account_update_handle,
        account_status_changes,
        account_delete_keeps_only_tombstone,
        account_list_repos_in_creation_order,
        app_passwords,
        refresh_tokens_single_use,
        password_change_revokes_sessions,
        commit_head_compare_and_swap,
        commit_record_index,
        commit_blocks_and_since,
        commit_blob_references,
        commit_concurrent_failures_are_isolated,
        repo_replace_and_missing_blobs,
        blob_metadata,
        preferences,
        events_log,
        events_seq_floor,
        events_activation_batch,
        events_retention_window,
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn did(n: u32) -> Did {
    format!("did:plc:testaccount{n:011}")
        .parse()
        .expect("valid did")
}

fn handle(s: &str) -> Handle {
    s.parse().expect("valid handle")
}

fn nsid(s: &str) -> Nsid {
    s.parse().expect("valid nsid")
}

fn rkey(s: &str) -> RecordKey {
    s.parse().expect("valid rkey")
}

fn tid(n: u64) -> Tid {
    Tid::from_u64(1_700_000_000_000_000 + n)
}

/// A block: DAG-CBOR `{"n": <label>}` and its CID.
fn block(label: &str) -> (Cid, Vec<u8>) {
    let mut m = BTreeMap::new();
    m.insert("n".to_owned(), Value::String(label.to_owned()));
    let bytes = data_model::cbor::encode(&Value::Map(m));
    (data_model::cid_for_cbor(&bytes), bytes)
}

fn blob_cid(label: &str) -> Cid {
    data_model::cid_for_raw(label.as_bytes())
}

fn event(d: &Did, kind: EventKind, label: &str, at: Millis) -> NewEvent {
    NewEvent {
        did: d.clone(),
        kind,
        event: label.as_bytes().to_vec(),
        created_at: at,
    }
}

fn new_account(n: u32, h: &str, email: Option<&str>) -> NewAccount {
    NewAccount {
        did: did(n),
        handle: handle(h),
        email: email.map(str::to_owned),
        password_hash: Some(format!("$argon2id$fake{n}")),
        encrypted_signing_key: vec![n as u8; 40],
        created_at: 1_000,
        deactivated: false,
    }
}

/// The first commit of account `n`: one commit block, rev `tid(1)`.
fn first_commit(n: u32) -> CommitWrite {
    let d = did(n);
    let (cid, bytes) = block(&format!("commit-1-{n}"));
    let mut blocks = BlockMap::new();
    blocks.insert(cid, bytes);
    CommitWrite {
        event: Some(event(&d, EventKind::Commit, "commit-1", 1_000)),
        did: d,
        cid,
        rev: tid(1),
        prev: None,
        blocks,
        removed_blocks: Vec::new(),
        records: Vec::new(),
        now: 1_000,
    }
}

/// Creates account `n` with handle `user<n>.test` and its first commit; returns the head.
async fn setup_account<S: FullStore>(s: &S, n: u32) -> Cid {
    let c = first_commit(n);
    let head = c.cid;
    s.create_account(new_account(n, &format!("user{n}.test"), None), c, vec![])
        .await
        .expect("create account");
    head
}

/// A commit on `prev` with rev `tid(rev)`, a commit block, one record block per put and the
/// given record changes.
fn commit_on(n: u32, prev: Cid, rev: u64, records: Vec<RecordChange>) -> CommitWrite {
    let d = did(n);
    let (cid, bytes) = block(&format!("commit-{rev}-{n}"));
    let mut blocks = BlockMap::new();
    blocks.insert(cid, bytes);
    for r in &records {
        if let RecordChange::Put { rkey, .. } = r {
            let (rc, rb) = block(&format!("record-{}", rkey.as_str()));
            blocks.insert(rc, rb);
        }
    }
    CommitWrite {
        event: Some(event(
            &d,
            EventKind::Commit,
            &format!("commit-{rev}"),
            2_000,
        )),
        did: d,
        cid,
        rev: tid(rev),
        prev: Some(prev),
        blocks,
        removed_blocks: Vec::new(),
        records,
        now: 2_000,
    }
}

/// A put whose CID is the record block [`commit_on`] adds for it.
fn put(collection: &str, key: &str, blobs: Vec<Cid>) -> RecordChange {
    RecordChange::Put {
        collection: nsid(collection),
        rkey: rkey(key),
        cid: block(&format!("record-{key}")).0,
        blobs,
    }
}

fn delete(collection: &str, key: &str) -> RecordChange {
    RecordChange::Delete {
        collection: nsid(collection),
        rkey: rkey(key),
    }
}

fn temp_blob(n: u32, label: &str, at: Millis) -> BlobRow {
    BlobRow {
        did: did(n),
        cid: blob_cid(label),
        mime_type: "image/png".to_owned(),
        size: 42,
        temp: true,
        created_at: at,
    }
}

async fn all_events<S: FullStore>(s: &S) -> Vec<StoredEvent> {
    s.events_after(0, 10_000).await.expect("events")
}

fn is_conflict(r: &StoreError, want: &Conflict) -> bool {
    matches!(r, StoreError::Conflict(c) if c == want)
}

// ---------------------------------------------------------------------------------------------
// Accounts

async fn account_create_and_lookup<S: FullStore>(s: Arc<S>) {
    let d = did(1);
    let events = vec![
        event(&d, EventKind::Identity, "identity", 1_000),
        event(&d, EventKind::Account, "account", 1_000),
    ];
    let c = first_commit(1);
    let head = c.cid;
    let seq = s
        .create_account(
            new_account(1, "alice.test", Some("Alice@Example.com")),
            c,
            events,
        )
        .await
        .expect("create");
    let got = s.account(&d).await.expect("lookup").expect("exists");
    assert_eq!(got.handle.as_str(), "alice.test");
    assert_eq!(got.email.as_deref(), Some("Alice@Example.com"));
    assert_eq!(got.password_hash.as_deref(), Some("$argon2id$fake1"));
    assert_eq!(got.deactivated_at, None);
    assert_eq!(got.takedown_ref, None);
    let by_handle = s
        .account_by_handle(&handle("alice.test"))
        .await
        .expect("by handle");
    assert_eq!(by_handle.map(|a| a.did), Some(d.clone()));
    let by_email = s
        .account_by_email("alice@example.COM")
        .await
        .expect("by email");
    assert_eq!(
        by_email.map(|a| a.did),
        Some(d.clone()),
        "email is case-insensitive"
    );
    assert!(s.account(&did(99)).await.expect("lookup").is_none());
    assert!(
        s.account_by_handle(&handle("nobody.test"))
            .await
            .expect("lookup")
            .is_none()
    );
    assert_eq!(s.signing_key(&d).await.expect("key"), Some(vec![1u8; 40]));
    assert_eq!(s.signing_key(&did(99)).await.expect("key"), None);
    let root = s.repo_root(&d).await.expect("root").expect("has root");
    assert_eq!(
        root,
        RepoRoot {
            cid: head,
            rev: tid(1)
        }
    );
    // Events in order: identity, account, then the commit (checklist #98).
    let evs = all_events(&*s).await;
    let kinds: Vec<EventKind> = evs.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Identity, EventKind::Account, EventKind::Commit]
    );
    assert!(evs.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(seq, Some(evs[2].seq));
    assert_eq!(evs[0].event, b"identity");
}

async fn account_create_conflicts_write_nothing<S: FullStore>(s: Arc<S>) {
    s.create_account(
        new_account(1, "alice.test", Some("a@example.com")),
        first_commit(1),
        vec![],
    )
    .await
    .expect("create");
    let before = all_events(&*s).await.len();
    let same_did = s
        .create_account(new_account(1, "other.test", None), first_commit(1), vec![])
        .await
        .expect_err("duplicate did");
    assert!(is_conflict(&same_did, &Conflict::Did), "{same_did:?}");
    let same_handle = s
        .create_account(new_account(2, "alice.test", None), first_commit(2), vec![])
        .await
        .expect_err("duplicate handle");
    assert!(
        is_conflict(&same_handle, &Conflict::Handle),
        "{same_handle:?}"
    );
    let same_email = s
        .create_account(
            new_account(3, "carol.test", Some("A@EXAMPLE.com")),
            first_commit(3),
            vec![event(&did(3), EventKind::Identity, "x", 1)],
        )
        .await
        .expect_err("duplicate email");
    assert!(is_conflict(&same_email, &Conflict::Email), "{same_email:?}");
    assert!(s.account(&did(2)).await.expect("lookup").is_none());
    assert!(s.account(&did(3)).await.expect("lookup").is_none());
    assert!(s.repo_root(&did(3)).await.expect("root").is_none());
    assert_eq!(
        all_events(&*s).await.len(),
        before,
        "failed creates append no event"
    );
}

async fn account_update_handle<S: FullStore>(s: Arc<S>) {
    setup_account(&*s, 1).await;
    setup_account(&*s, 2).await;
    let seq = s
        .update_handle(
            &did(1),
            &handle("new1.test"),
            Some(event(&did(1), EventKind::Identity, "id", 5)),
        )
        .await
        .expect("update");
    assert!(seq.is_some());
    let a = s.account(&did(1)).await.expect("lookup").expect("exists");
    assert_eq!(a.handle.as_str(), "new1.test");
    assert!(
        s.account_by_handle(&handle("user1.test"))
            .await
            .expect("lookup")
            .is_none()
    );
    let taken = s
        .update_handle(&did(1), &handle("user2.test"), None)
        .await
        .expect_err("taken");
    assert!(is_conflict(&taken, &Conflict::Handle), "{taken:?}");
    let missing = s
        .update_handle(&did(9), &handle("x9.test"), None)
        .await
        .expect_err("no account");
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");
}

async fn account_status_changes<S: FullStore>(s: Arc<S>) {
    setup_account(&*s, 1).await;
    let d = did(1);
    let seq = s
        .set_deactivated(
            &d,
            Some(10),
            Some(20),
            Some(event(&d, EventKind::Account, "off", 10)),
        )
        .await
        .expect("deactivate");
    assert!(seq.is_some());
    let a = s.account(&d).await.expect("lookup").expect("exists");
    assert_eq!((a.deactivated_at, a.delete_after), (Some(10), Some(20)));
    assert!(
        s.accounts_due_for_deletion(19, 10)
            .await
            .expect("due")
            .is_empty()
    );
    assert_eq!(
        s.accounts_due_for_deletion(20, 10).await.expect("due"),
        vec![d.clone()]
    );
    s.set_deactivated(&d, None, None, None)
        .await
        .expect("activate");
    let a = s.account(&d).await.expect("lookup").expect("exists");
    assert_eq!((a.deactivated_at, a.delete_after), (None, None));
    assert!(
        s.accounts_due_for_deletion(i64::MAX, 10)
            .await
            .expect("due")
            .is_empty()
    );
    s.set_takedown(&d, Some("ticket-1".to_owned()), None)
        .await
        .expect("takedown");
    let a = s.account(&d).await.expect("lookup").expect("exists");
    assert_eq!(a.takedown_ref.as_deref(), Some("ticket-1"));
    s.set_takedown(&d, None, None).await.expect("restore");
    assert_eq!(
        s.account(&d)
            .await
            .expect("lookup")
            .expect("exists")
            .takedown_ref,
        None
    );
    let missing = s
        .set_deactivated(&did(9), Some(1), None, None)
        .await
        .expect_err("missing");
    assert!(matches!(missing, StoreError::NotFound));
    let missing = s
        .set_takedown(&did(9), None, None)
        .await
        .expect_err("missing");
    assert!(matches!(missing, StoreError::NotFound));
}

async fn account_delete_keeps_only_tombstone<S: FullStore>(s: Arc<S>) {
    let head = setup_account(&*s, 1).await;
    setup_account(&*s, 2).await;
    let d = did(1);
    s.put_temp_blob(temp_blob(1, "b1", 1)).await.expect("blob");
    s.apply_commit(commit_on(
        1,
        head,
        2,
        vec![put("app.test.post", "a", vec![blob_cid("b1")])],
    ))
    .await
    .expect("commit");
    s.put_preferences(&d, "app.bsky", "[]")
        .await
        .expect("prefs");
    s.create_app_password(AppPasswordRow {
        did: d.clone(),
        name: "phone".to_owned(),
        password_hash: "h".to_owned(),
        privileged: false,
        created_at: 1,
    })
    .await
    .expect("app password");
    s.insert_refresh_token(RefreshTokenRow {
        id: "t1".to_owned(),
        did: d.clone(),
        app_password_name: None,
        expires_at: i64::MAX,
    })
    .await
    .expect("token");

    let deleted = s
        .delete_account(&d, event(&d, EventKind::Account, "tombstone", 9))
        .await
        .expect("delete");
    assert_eq!(deleted.blobs, vec![blob_cid("b1")]);
    assert!(s.account(&d).await.expect("lookup").is_none());
    assert!(s.repo_root(&d).await.expect("root").is_none());
    assert!(s.signing_key(&d).await.expect("key").is_none());
    assert!(s.get_block(&d, &head).await.expect("block").is_none());
    assert!(
        s.record(&d, &nsid("app.test.post"), &rkey("a"))
            .await
            .expect("rec")
            .is_none()
    );
    assert!(s.blob(&d, &blob_cid("b1")).await.expect("blob").is_none());
    assert!(
        s.preferences(&d, "app.bsky")
            .await
            .expect("prefs")
            .is_none()
    );
    assert!(s.list_app_passwords(&d).await.expect("list").is_empty());
    assert!(s.refresh_token("t1").await.expect("token").is_none());
    let evs = all_events(&*s).await;
    let mine: Vec<&StoredEvent> = evs.iter().filter(|e| e.did == d).collect();
    assert_eq!(mine.len(), 1, "only the tombstone is kept");
    assert_eq!(mine[0].event, b"tombstone");
    assert_eq!(mine[0].seq, deleted.seq);
    assert!(
        evs.iter().any(|e| e.did == did(2)),
        "other accounts' events are kept"
    );
    assert!(s.account(&did(2)).await.expect("lookup").is_some());
    let again = s
        .delete_account(&d, event(&d, EventKind::Account, "again", 10))
        .await
        .expect_err("already deleted");
    assert!(matches!(again, StoreError::NotFound));
}

/// Creation order, DID breaking ties; the cursor is (created_at, DID) of the last row.
async fn account_list_repos_in_creation_order<S: FullStore>(s: Arc<S>) {
    for (n, at) in [(3, 1_000), (1, 3_000), (2, 2_000), (4, 2_000)] {
        let mut account = new_account(n, &format!("user{n}.test"), None);
        account.created_at = at;
        s.create_account(account, first_commit(n), vec![])
            .await
            .expect("create account");
    }
    s.set_deactivated(&did(2), Some(5), None, None)
        .await
        .expect("deactivate");
    let page1 = s.list_repos(None, 2).await.expect("page 1");
    let dids: Vec<Did> = page1.iter().map(|r| r.did.clone()).collect();
    assert_eq!(dids, [did(3), did(2)], "oldest first, then by DID");
    assert_eq!(page1[1].deactivated_at, Some(5));
    assert_eq!(page1[1].created_at, 2_000);
    assert_eq!(page1[0].rev, tid(1));
    let page2 = s
        .list_repos(Some((2_000, &did(2))), 2)
        .await
        .expect("page 2");
    let dids: Vec<Did> = page2.iter().map(|r| r.did.clone()).collect();
    assert_eq!(dids, [did(4), did(1)], "the tie, then the newest");
    assert!(
        s.list_repos(Some((3_000, &did(1))), 2)
            .await
            .expect("page 3")
            .is_empty()
    );
}

async fn app_passwords<S: FullStore>(s: Arc<S>) {
    setup_account(&*s, 1).await;
    let d = did(1);
    let row = |name: &str, privileged| AppPasswordRow {
        did: d.clone(),
        name: name.to_owned(),
        password_hash: format!("hash-{name}"),
        privileged,
        created_at: 7,
    };
    s.create_app_password(row("zeta", false))
        .await
        .expect("create");
    s.create_app_password(row("alpha", true))
        .await
        .expect("create");
    let dup = s
        .create_app_password(row("alpha", false))
        .await
        .expect_err("dup");
    assert!(is_conflict(&dup, &Conflict::AppPasswordName), "{dup:?}");
    let listed = s.list_app_passwords(&d).await.expect("list");
    assert_eq!(listed, vec![row("alpha", true), row("zeta", false)]);
    let missing = s
        .create_app_password(AppPasswordRow {
            did: did(9),
            ..row("x", false)
        })
        .await
        .expect_err("no account");
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");

    for (id, app) in [
        ("t-alpha", Some("alpha")),
        ("t-zeta", Some("zeta")),
        ("t-main", None),
    ] {
        s.insert_refresh_token(RefreshTokenRow {
            id: id.to_owned(),
            did: d.clone(),
            app_password_name: app.map(str::to_owned),
            expires_at: i64::MAX,
        })
        .await
        .expect("token");
    }
    assert!(s.delete_app_password(&d, "alpha").await.expect("delete"));
    assert!(
        !s.delete_app_password(&d, "alpha")
            .await
            .expect("delete again")
    );
    assert!(
        s.refresh_token("t-alpha").await.expect("t").is_none(),
        "its sessions are revoked"
    );
    assert!(s.refresh_token("t-zeta").await.expect("t").is_some());
    assert!(s.refresh_token("t-main").await.expect("t").is_some());
    assert_eq!(
        s.list_app_passwords(&d).await.expect("list"),
        vec![row("zeta", false)]
    );
}

async fn refresh_tokens_single_use<S: FullStore>(s: Arc<S>) {
    setup_account(&*s, 1).await;
    let tok = |id: &str, exp| RefreshTokenRow {
        id: id.to_owned(),
        did: did(1),
        app_password_name: None,
        expires_at: exp,
    };
    s.insert_refresh_token(tok("a", 100)).await.expect("insert");
    assert_eq!(
        s.refresh_token("a").await.expect("get"),
        Some(tok("a", 100))
    );
    assert!(
        s.rotate_refresh_token("a", tok("b", 200))
            .await
            .expect("rotate")
    );
    assert!(
        !s.rotate_refresh_token("a", tok("c", 300))
            .await
            .expect("reuse"),
        "single use"
    );
    assert!(s.refresh_token("a").await.expect("get").is_none());
    assert!(
        s.refresh_token("c").await.expect("get").is_none(),
        "failed rotation stores nothing"
    );
    assert!(s.refresh_token("b").await.expect("get").is_some());
    assert!(s.delete_refresh_token("b").await.expect("delete"));
    assert!(!s.delete_refresh_token("b").await.expect("delete again"));
    s.insert_refresh_token(tok("old", 10))
        .await
        .expect("insert");
    s.insert_refresh_token(tok("new", 1_000))
        .await
        .expect("insert");
    assert_eq!(
        s.delete_expired_refresh_tokens(500).await.expect("expire"),
        1
    );
    assert!(s.refresh_token("old").await.expect("get").is_none());
    assert!(s.refresh_token("new").await.expect("get").is_some());
    let orphan = s
        .insert_refresh_token(RefreshTokenRow {
            did: did(9),
            ..tok("x", 1)
        })
        .await
        .expect_err("no account");
    assert!(matches!(orphan, StoreError::NotFound), "{orphan:?}");
}

async fn password_change_revokes_sessions<S: FullStore>(s: Arc<S>) {
    setup_account(&*s, 1).await;
    s.insert_refresh_token(RefreshTokenRow {
        id: "t".to_owned(),
        did: did(1),
        app_password_name: None,
        expires_at: i64::MAX,
    })
    .await
    .expect("token");
    s.set_password_hash(&did(1), "$argon2id$new")
        .await
        .expect("set");
    let a = s.account(&did(1)).await.expect("lookup").expect("exists");
    assert_eq!(a.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(s.refresh_token("t").await.expect("get").is_none());
    let missing = s
        .set_password_hash(&did(9), "x")
        .await
        .expect_err("missing");
    assert!(matches!(missing, StoreError::NotFound));
}

// ---------------------------------------------------------------------------------------------
// Repositories

async fn commit_head_compare_and_swap<S: FullStore>(s: Arc<S>) {
    let head = setup_account(&*s, 1).await;
    let events_before = all_events(&*s).await.len();
    let stale = commit_on(
        1,
        block("not-the-head").0,
        2,
        vec![put("app.test.post", "a", vec![])],
    );
    let stale_cid = stale.cid;
    let err = s.apply_commit(stale).await.expect_err("stale prev");
    assert!(is_conflict(&err, &Conflict::HeadMoved), "{err:?}");
    assert!(
        s.get_block(&did(1), &stale_cid)
            .await
            .expect("block")
            .is_none(),
        "rolled back"
    );
    assert!(
        s.record(&did(1), &nsid("app.test.post"), &rkey("a"))
            .await
            .expect("r")
            .is_none()
    );
    assert_eq!(all_events(&*s).await.len(), events_before);

    let second_first = s
        .apply_commit(first_commit(1))
        .await
        .expect_err("head exists");
    assert!(
        is_conflict(&second_first, &Conflict::HeadMoved),
        "{second_first:?}"
    );

    let ok = commit_on(1, head, 2, vec![]);
    let new_head = ok.cid;
    let applied = s.apply_commit(ok).await.expect("commit");
    assert!(applied.seq.is_some());
    assert_eq!(
        s.repo_root(&did(1)).await.expect("root"),
        Some(RepoRoot {
            cid: new_head,
            rev: tid(2)
        })
    );
    let replay = s
        .apply_commit(commit_on(1, head, 3, vec![]))
        .await
        .expect_err("old prev");
    assert!(is_conflict(&replay, &Conflict::HeadMoved), "{replay:?}");

    let unknown = s
        .apply_commit(commit_on(9, head, 2, vec![]))
        .await
        .expect_err("no account");
    assert!(matches!(unknown, StoreError::NotFound), "{unknown:?}");
    let unknown_first = s
        .apply_commit(first_commit(9))
        .await
        .expect_err("no account");
    assert!(
        matches!(unknown_first, StoreError::NotFound),
        "{unknown_first:?}"
    );
}

async fn commit_record_index<S: FullStore>(s: Arc<S>) {
    let head = setup_account(&*s, 1).await;
    let d = did(1);
    let posts = nsid("app.test.post");
    let c2 = commit_on(
        1,
        head,
        2,
        vec![
            put("app.test.post", "b", vec![]),
            put("app.test.post", "a", vec![]),
            put("app.test.post", "c", vec![]),
            put("app.test.like", "x", vec![]),
        ],
    );
    let h2 = c2.cid;
    s.apply_commit(c2).await.expect("commit 2");
    let a = s
        .record(&d, &posts, &rkey("a"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(a.cid, block("record-a").0);
    assert_eq!(a.bytes, block("record-a").1);
    assert_eq!(a.rev, tid(2));
    assert!(
        s.record(&d, &posts, &rkey("zz"))
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        s.record(&did(2), &posts, &rkey("a"))
            .await
            .expect("get")
            .is_none()
    );

    let keys = |rows: Vec<RecordRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.rkey.into_string()).collect()
    };
    let desc = s
        .list_records(&d, &posts, None, 10, false)
        .await
        .expect("list");
    assert_eq!(
        keys(desc),
        ["c", "b", "a"],
        "newest (highest rkey) first by default"
    );
    let asc = s
        .list_records(&d, &posts, None, 10, true)
        .await
        .expect("list");
    assert_eq!(keys(asc), ["a", "b", "c"]);
    let page = s
        .list_records(&d, &posts, Some(&rkey("c")), 1, false)
        .await
        .expect("list");
    assert_eq!(keys(page), ["b"]);
    let page = s
        .list_records(&d, &posts, Some(&rkey("a")), 5, true)
        .await
        .expect("list");
    assert_eq!(keys(page), ["b", "c"]);
    let end = s
        .list_records(&d, &posts, Some(&rkey("a")), 5, false)
        .await
        .expect("list");
    assert!(end.is_empty());
    assert_eq!(
        s.collections(&d).await.expect("collections"),
        vec![nsid("app.test.like"), nsid("app.test.post")]
    );

    // Update one, delete another.
    let mut c3 = commit_on(1, h2, 3, vec![delete("app.test.post", "b")]);
    let (new_a, new_a_bytes) = block("record-a-v2");
    c3.blocks.insert(new_a, new_a_bytes);
    c3.records.push(RecordChange::Put {
        collection: posts.clone(),
        rkey: rkey("a"),
        cid: new_a,
        blobs: vec![],
    });
    c3.records.push(delete("app.test.like", "x"));
    s.apply_commit(c3).await.expect("commit 3");
    let a = s
        .record(&d, &posts, &rkey("a"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((a.cid, a.rev), (new_a, tid(3)));
    assert!(
        s.record(&d, &posts, &rkey("b"))
            .await
            .expect("get")
            .is_none()
    );
    let all = s
        .list_records(&d, &posts, None, 10, true)
        .await
        .expect("list");
    assert_eq!(keys(all), ["a", "c"]);
    assert_eq!(s.collections(&d).await.expect("collections"), vec![posts]);
}

async fn commit_blocks_and_since<S: FullStore>(s: Arc<S>) {
    let head = setup_account(&*s, 1).await;
    setup_account(&*s, 2).await;
    let d = did(1);
    let c2 = commit_on(1, head, 2, vec![put("app.test.post", "a", vec![])]);
    let h2 = c2.cid;
    s.apply_commit(c2).await.expect("commit 2");
    let c3 = commit_on(1, h2, 3, vec![put("app.test.post", "b", vec![])]);
    let h3 = c3.cid;
    s.apply_commit(c3).await.expect("commit 3");

    assert_eq!(
        s.get_block(&d, &head).await.expect("get"),
        Some(block("commit-1-1").1)
    );
    assert!(
        s.get_block(&did(2), &h2).await.expect("get").is_none(),
        "blocks are per account"
    );
    let missing = block("nope").0;
    let got = s
        .get_blocks(&d, &[h2, missing, h3])
        .await
        .expect("get many");
    assert_eq!(got.len(), 2);
    assert!(got.contains(&h2) && got.contains(&h3) && !got.contains(&missing));

    let all = s.blocks_since(&d, None).await.expect("all");
    assert_eq!(all.len(), 5, "3 commits + 2 records");
    let since2 = s.blocks_since(&d, Some(&tid(2))).await.expect("since");
    let cids: Vec<Cid> = since2.iter().map(|(c, _)| *c).collect();
    let mut want = vec![h3, block("record-b").0];
    want.sort();
    assert_eq!(cids, want);
    assert!(
        s.blocks_since(&d, Some(&tid(3)))
            .await
            .expect("since")
            .is_empty()
    );

    // A block written again keeps its first rev.
    let mut c4 = commit_on(1, h3, 4, vec![]);
    let (rb, rb_bytes) = block("record-a");
    c4.blocks.insert(rb, rb_bytes);
    s.apply_commit(c4).await.expect("commit 4");
    let since3 = s.blocks_since(&d, Some(&tid(3))).await.expect("since");
    assert_eq!(since3.len(), 1, "only the new commit block");
}

async fn commit_blob_references<S: FullStore>(s: Arc<S>) {
    let head = setup_account(&*s, 1).await;
    let d = did(1);
    let (b1, b2) = (blob_cid("one"), blob_cid("two"));
    s.put_temp_blob(temp_blob(1, "one", 1))
        .await
        .expect("upload");
    s.put_temp_blob(temp_blob(1, "two", 1))
        .await
        .expect("upload");

    let unknown = blob_cid("never-uploaded");
    let bad = commit_on(
        1,
        head,
        2,
        vec![put("app.test.post", "a", vec![b1, unknown])],
    );
    let err = s.apply_commit(bad).await.expect_err("unknown blob");
    assert!(
        is_conflict(&err, &Conflict::MissingBlob(unknown)),
        "{err:?}"
    );
    assert!(
        s.blob(&d, &b1).await.expect("blob").expect("exists").temp,
        "rolled back"
    );
    assert_eq!(
        s.repo_root(&d).await.expect("root").map(|r| r.cid),
        Some(head)
    );

    let c2 = commit_on(
        1,
        head,
        2,
        vec![
            put("app.test.post", "a", vec![b1]),
            put("app.test.post", "b", vec![b1, b2]),
        ],
    );
    let h2 = c2.cid;
    let applied = s.apply_commit(c2).await.expect("commit");
    assert!(applied.orphaned_blobs.is_empty());
    let stats = s.repo_stats(&d).await.expect("stats");
    assert_eq!(
        stats,
        RepoStats {
            blocks: 4,
            records: 2,
            expected_blobs: 2,
            imported_blobs: 2
        },
        "first commit + commit 2 + 2 record blocks"
    );
    assert_eq!(
        s.repo_stats(&did(9)).await.expect("stats"),
        RepoStats::default()
    );
    assert!(!s.blob(&d, &b1).await.expect("blob").expect("exists").temp);
    assert!(!s.blob(&d, &b2).await.expect("blob").expect("exists").temp);

    // Removing b's references orphans b2 only (b1 is still used by a).
    let c3 = commit_on(1, h2, 3, vec![delete("app.test.post", "b")]);
    let h3 = c3.cid;
    let applied = s.apply_commit(c3).await.expect("commit");
    assert_eq!(applied.orphaned_blobs, vec![b2]);
    assert!(s.blob(&d, &b2).await.expect("blob").is_none());
    assert!(s.blob(&d, &b1).await.expect("blob").is_some());

    // Updating a to drop its blob orphans b1.
    let c4 = commit_on(1, h3, 4, vec![put("app.test.post", "a", vec![])]);
    let applied = s.apply_commit(c4).await.expect("commit");
    assert_eq!(applied.orphaned_blobs, vec![b1]);
    assert!(s.blob(&d, &b1).await.expect("blob").is_none());
}

/// Concurrent commits for different accounts (a backend may apply them in one transaction):
/// a failing one changes nothing and does not take the others down; seqs stay gap-free.
async fn commit_concurrent_failures_are_isolated<S: FullStore>(s: Arc<S>) {
    let mut heads = Vec::new();
    for n in 1..=6 {
        heads.push(setup_account(&*s, n).await);
    }
    let before = all_events(&*s).await;
    let writes: Vec<CommitWrite> = (1..=6u32)
        .map(|n| {
            let prev = if n.is_multiple_of(2) {
                block("stale").0
            } else {
                heads[(n - 1) as usize]
            };
            commit_on(
                n,
                prev,
                2,
                vec![put("app.test.post", &format!("r{n}"), vec![])],
            )
        })
        .collect();
    let results = futures::future::join_all(writes.into_iter().map(|w| s.apply_commit(w))).await;
    for (i, res) in results.iter().enumerate() {
        let n = i as u32 + 1;
        if n.is_multiple_of(2) {
            let err = res.as_ref().expect_err("stale prev");
            assert!(is_conflict(err, &Conflict::HeadMoved), "{err:?}");
            assert_eq!(
                s.repo_root(&did(n)).await.expect("root").map(|r| r.rev),
                Some(tid(1))
            );
            let rk = rkey(&format!("r{n}"));
            assert!(
                s.record(&did(n), &nsid("app.test.post"), &rk)
                    .await
                    .expect("r")
                    .is_none()
            );
        } else {
            assert!(res.as_ref().expect("applied").seq.is_some());
            assert_eq!(
                s.repo_root(&did(n)).await.expect("root").map(|r| r.rev),
                Some(tid(2))
            );
        }
    }
    let after = all_events(&*s).await;
    assert_eq!(
        after.len(),
        before.len() + 3,
        "one event per successful commit"
    );
    assert!(
        after.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "gap-free"
    );
}

/// `replace_repo` (importRepo): swaps the whole repository; references to blobs not uploaded
/// yet are kept and listed as missing until uploaded.
async fn repo_replace_and_missing_blobs<S: FullStore>(s: Arc<S>) {
    let h1 = setup_account(&*s, 1).await;
    let d = did(1);
    s.put_temp_blob(temp_blob(1, "gone", 1))
        .await
        .expect("upload");
    s.put_temp_blob(temp_blob(1, "have", 1))
        .await
        .expect("upload");
    let c2 = commit_on(
        1,
        h1,
        2,
        vec![put("app.test.post", "old", vec![blob_cid("gone")])],
    );
    let h2 = c2.cid;
    s.apply_commit(c2).await.expect("commit");

    let (new_cid, new_bytes) = block("imported-commit");
    let mut blocks = BlockMap::new();
    blocks.insert(new_cid, new_bytes);
    let mut records = Vec::new();
    for (key, blobs) in [
        ("x", vec![blob_cid("have"), blob_cid("missing1")]),
        ("y", vec![blob_cid("missing2")]),
    ] {
        let (rc, rb) = block(&format!("record-{key}"));
        blocks.insert(rc, rb);
        records.push((nsid("app.test.post"), rkey(key), rc, blobs));
    }
    let replace = |prev: Cid| RepoReplace {
        did: d.clone(),
        prev,
        cid: new_cid,
        rev: tid(9),
        blocks: blocks.clone(),
        records: records.clone(),
        event: Some(event(&d, EventKind::Sync, "sync", 9)),
        now: 9,
    };
    let stale = s.replace_repo(replace(h1)).await.expect_err("stale prev");
    assert!(is_conflict(&stale, &Conflict::HeadMoved), "{stale:?}");
    assert_eq!(
        s.repo_root(&d).await.expect("root").map(|r| r.cid),
        Some(h2)
    );
    let unknown = s
        .replace_repo(RepoReplace {
            did: did(9),
            ..replace(h2)
        })
        .await
        .expect_err("no account");
    assert!(matches!(unknown, StoreError::NotFound), "{unknown:?}");

    let applied = s.replace_repo(replace(h2)).await.expect("replace");
    assert!(applied.seq.is_some());
    assert_eq!(applied.orphaned_blobs, vec![blob_cid("gone")]);
    assert_eq!(
        s.repo_root(&d).await.expect("root"),
        Some(RepoRoot {
            cid: new_cid,
            rev: tid(9)
        })
    );
    assert!(
        s.get_block(&d, &h2).await.expect("get").is_none(),
        "old blocks dropped"
    );
    assert_eq!(s.blocks_since(&d, None).await.expect("all").len(), 3);
    let posts = nsid("app.test.post");
    assert!(
        s.record(&d, &posts, &rkey("old"))
            .await
            .expect("r")
            .is_none()
    );
    let x = s
        .record(&d, &posts, &rkey("x"))
        .await
        .expect("r")
        .expect("imported");
    assert_eq!(x.rev, tid(9));
    assert!(
        !s.blob(&d, &blob_cid("have"))
            .await
            .expect("blob")
            .expect("kept")
            .temp
    );
    assert!(s.blob(&d, &blob_cid("gone")).await.expect("blob").is_none());

    let mut missing = vec![blob_cid("missing1"), blob_cid("missing2")];
    missing.sort_by_key(Cid::to_string);
    let listed = s.list_missing_blobs(&d, None, 10).await.expect("missing");
    assert_eq!(listed.iter().map(|m| m.0).collect::<Vec<_>>(), missing);
    let page = s
        .list_missing_blobs(&d, Some(&missing[0]), 10)
        .await
        .expect("page");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, missing[1]);
    // Uploading a missing blob makes it permanent at once.
    let label = if missing[0] == blob_cid("missing1") {
        "missing1"
    } else {
        "missing2"
    };
    assert!(
        s.put_temp_blob(temp_blob(1, label, 10))
            .await
            .expect("upload")
    );
    assert!(
        !s.blob(&d, &missing[0])
            .await
            .expect("blob")
            .expect("row")
            .temp
    );
    let listed = s.list_missing_blobs(&d, None, 10).await.expect("missing");
    assert_eq!(listed.iter().map(|m| m.0).collect::<Vec<_>>(), missing[1..]);
    let stats = s.repo_stats(&d).await.expect("stats");
    assert_eq!((stats.expected_blobs, stats.imported_blobs), (3, 2));
}

// ---------------------------------------------------------------------------------------------
// Blobs, preferences, events

async fn blob_metadata<S: FullStore>(s: Arc<S>) {
    let head = setup_account(&*s, 1).await;
    setup_account(&*s, 2).await;
    let d = did(1);
    assert!(
        s.put_temp_blob(temp_blob(1, "x", 10))
            .await
            .expect("upload")
    );
    assert!(
        !s.put_temp_blob(temp_blob(1, "x", 99)).await.expect("again"),
        "re-upload no-op"
    );
    let row = s
        .blob(&d, &blob_cid("x"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(row, temp_blob(1, "x", 10));
    assert!(
        s.blob(&did(2), &blob_cid("x"))
            .await
            .expect("get")
            .is_none(),
        "per account"
    );
    let orphan = s
        .put_temp_blob(BlobRow {
            did: did(9),
            ..temp_blob(1, "y", 1)
        })
        .await
        .expect_err("no account");
    assert!(matches!(orphan, StoreError::NotFound), "{orphan:?}");

    assert!(
        s.list_blobs(&d, None, None, 10)
            .await
            .expect("list")
            .is_empty(),
        "temp not listed"
    );
    for label in ["p", "q", "r"] {
        s.put_temp_blob(temp_blob(1, label, 10))
            .await
            .expect("upload");
    }
    let c2 = commit_on(
        1,
        head,
        2,
        vec![put("app.test.post", "a", vec![blob_cid("p")])],
    );
    let h2 = c2.cid;
    s.apply_commit(c2).await.expect("commit");
    let c3 = commit_on(
        1,
        h2,
        3,
        vec![put(
            "app.test.post",
            "b",
            vec![blob_cid("q"), blob_cid("r")],
        )],
    );
    s.apply_commit(c3).await.expect("commit");
    let mut all = vec![blob_cid("p"), blob_cid("q"), blob_cid("r")];
    all.sort_by_key(Cid::to_string);
    assert_eq!(s.list_blobs(&d, None, None, 10).await.expect("list"), all);
    let first = s.list_blobs(&d, None, None, 1).await.expect("list");
    assert_eq!(first, all[..1]);
    let rest = s
        .list_blobs(&d, None, Some(&all[0]), 10)
        .await
        .expect("list");
    assert_eq!(rest, all[1..]);
    let mut since2 = vec![blob_cid("q"), blob_cid("r")];
    since2.sort_by_key(Cid::to_string);
    assert_eq!(
        s.list_blobs(&d, Some(&tid(2)), None, 10)
            .await
            .expect("since"),
        since2
    );
    assert!(
        s.list_blobs(&d, Some(&tid(3)), None, 10)
            .await
            .expect("since")
            .is_empty()
    );

    // GC takes only old temporary blobs.
    s.put_temp_blob(temp_blob(2, "young", 500))
        .await
        .expect("upload");
    let taken = s.take_expired_temp_blobs(100, 10).await.expect("gc");
    assert_eq!(taken, vec![(d.clone(), blob_cid("x"))]);
    assert!(s.blob(&d, &blob_cid("x")).await.expect("get").is_none());
    assert!(
        s.blob(&did(2), &blob_cid("young"))
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        s.blob(&d, &blob_cid("p")).await.expect("get").is_some(),
        "permanent kept"
    );
    assert!(
        s.take_expired_temp_blobs(100, 10)
            .await
            .expect("gc")
            .is_empty()
    );
}

async fn preferences<S: FullStore>(s: Arc<S>) {
    setup_account(&*s, 1).await;
    let d = did(1);
    assert!(s.preferences(&d, "app.bsky").await.expect("get").is_none());
    s.put_preferences(&d, "app.bsky", r#"[{"$type":"a"}]"#)
        .await
        .expect("put");
    s.put_preferences(&d, "other", "[1]").await.expect("put");
    s.put_preferences(&d, "app.bsky", "[]")
        .await
        .expect("replace");
    assert_eq!(
        s.preferences(&d, "app.bsky").await.expect("get").as_deref(),
        Some("[]")
    );
    assert_eq!(
        s.preferences(&d, "other").await.expect("get").as_deref(),
        Some("[1]")
    );
    let missing = s
        .put_preferences(&did(9), "app.bsky", "[]")
        .await
        .expect_err("no account");
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");
}

async fn events_log<S: FullStore>(s: Arc<S>) {
    assert_eq!(s.latest_seq().await.expect("latest"), None);
    let d = did(1);
    let mut seqs = Vec::new();
    for i in 0..5 {
        let at = 100 * i;
        seqs.push(
            s.append_event(event(&d, EventKind::Identity, &format!("e{i}"), at))
                .await
                .expect("append"),
        );
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
    assert_eq!(s.latest_seq().await.expect("latest"), Some(seqs[4]));
    let page = s.events_after(seqs[1], 2).await.expect("page");
    let got: Vec<Seq> = page.iter().map(|e| e.seq).collect();
    assert_eq!(got, seqs[2..4]);
    assert_eq!(page[0].event, b"e2");
    assert_eq!(page[0].kind, EventKind::Identity);
    assert_eq!(page[0].created_at, 200);
    assert_eq!(s.prune_events_before(250).await.expect("prune"), 3);
    let left: Vec<Seq> = all_events(&*s).await.iter().map(|e| e.seq).collect();
    assert_eq!(left, seqs[3..]);
    s.prune_events_before(i64::MAX).await.expect("prune all");
    assert_eq!(
        s.latest_seq().await.expect("latest"),
        Some(seqs[4]),
        "survives pruning"
    );
    let next = s
        .append_event(event(&d, EventKind::Info, "i", 1))
        .await
        .expect("append");
    assert!(next > seqs[4], "never reused");
}

/// The sequence is raised to a floor, never lowered, across pruning (checklist #75).
async fn events_seq_floor<S: FullStore>(s: Arc<S>) {
    assert_eq!(s.raise_seq_floor(0).await.expect("no-op"), None);
    assert_eq!(s.raise_seq_floor(1_000).await.expect("raise"), Some(1_000));
    let d = did(1);
    let first = s
        .append_event(event(&d, EventKind::Identity, "a", 1))
        .await
        .expect("append");
    assert_eq!(first, 1_001, "the next seq follows the floor");
    assert_eq!(
        s.raise_seq_floor(10).await.expect("lower floor"),
        Some(1_001),
        "never lowered"
    );
    let second = s
        .append_event(event(&d, EventKind::Identity, "b", 2))
        .await
        .expect("append");
    assert_eq!(second, 1_002);
    s.prune_events_before(i64::MAX).await.expect("prune all");
    assert_eq!(s.raise_seq_floor(5_000).await.expect("raise"), Some(5_000));
    let third = s
        .append_event(event(&d, EventKind::Identity, "c", 3))
        .await
        .expect("append");
    assert_eq!(third, 5_001, "raised over an empty, pruned log");
    assert_eq!(s.latest_seq().await.expect("latest"), Some(5_001));
}

/// Activation appends several events in one transaction, in order (issue 5; checklist #89).
async fn events_activation_batch<S: FullStore>(s: Arc<S>) {
    setup_account(&*s, 1).await;
    let d = did(1);
    let before = all_events(&*s).await.len();
    let last = s
        .set_deactivated_with_events(
            &d,
            None,
            None,
            vec![
                event(&d, EventKind::Account, "active", 5),
                event(&d, EventKind::Identity, "identity", 5),
                event(&d, EventKind::Sync, "sync", 5),
            ],
        )
        .await
        .expect("activate")
        .expect("seq");
    let evs = all_events(&*s).await;
    let added: Vec<&[u8]> = evs[before..].iter().map(|e| e.event.as_slice()).collect();
    assert_eq!(added, [&b"active"[..], b"identity", b"sync"]);
    assert_eq!(evs.last().map(|e| e.seq), Some(last));
    let none = s
        .set_deactivated_with_events(&d, Some(9), None, Vec::new())
        .await
        .expect("no events");
    assert_eq!(none, None);
    let missing = s
        .set_deactivated_with_events(
            &did(9),
            None,
            None,
            vec![event(&d, EventKind::Sync, "x", 1)],
        )
        .await
        .expect_err("missing");
    assert!(matches!(missing, StoreError::NotFound));
    assert_eq!(
        all_events(&*s).await.len(),
        evs.len(),
        "failed call appends nothing"
    );
}

/// Pruning removes a seq prefix and remembers how far it went; the window start is found by
/// time (issue 5; checklist #79).
async fn events_retention_window<S: FullStore>(s: Arc<S>) {
    assert_eq!(s.pruned_through().await.expect("pruned"), 0);
    assert_eq!(s.first_seq_since(0).await.expect("first"), None);
    let d = did(1);
    // created_at is slightly out of order (clock skew between writers): 100, 300, 200, 400.
    let mut seqs = Vec::new();
    for (i, at) in [100, 300, 200, 400].into_iter().enumerate() {
        seqs.push(
            s.append_event(event(&d, EventKind::Identity, &format!("e{i}"), at))
                .await
                .expect("append"),
        );
    }
    assert_eq!(s.first_seq_since(250).await.expect("first"), Some(seqs[1]));
    assert_eq!(s.first_seq_since(401).await.expect("first"), None);
    assert_eq!(s.prune_events_before(50).await.expect("prune nothing"), 0);
    assert_eq!(s.pruned_through().await.expect("pruned"), 0);
    // Only the prefix before the first event inside the window goes, so the retained log stays
    // contiguous (the 200 event after the 300 one is kept).
    assert_eq!(s.prune_events_before(250).await.expect("prune"), 1);
    assert_eq!(s.pruned_through().await.expect("pruned"), seqs[0]);
    let left: Vec<Seq> = all_events(&*s).await.iter().map(|e| e.seq).collect();
    assert_eq!(left, seqs[1..]);
    assert_eq!(s.prune_events_before(1_000).await.expect("prune all"), 3);
    assert_eq!(s.pruned_through().await.expect("pruned"), seqs[3]);
    assert_eq!(s.prune_events_before(2_000).await.expect("empty"), 0);
    assert_eq!(s.pruned_through().await.expect("pruned"), seqs[3], "kept");
}
