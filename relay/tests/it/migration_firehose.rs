//! Both firehoses watched during a real account migration between two relays sharing one PLC
//! directory (checklist #101): live `subscribeRepos` subscriptions on the old and the new
//! relay are opened before the migration starts, the official steps run over XRPC (the same
//! steps as `interop-tests/e2e/migration.test.mjs`), and the frames each relay sent for the
//! account are then decoded and checked: the new relay stays silent while the account is
//! deactivated except for the `#identity` of the confirmed PLC update, then announces the
//! activation with `#account` (active) and a `#sync` of its head signed with the new key; the
//! old relay announces `#account` (`deactivated`) and no commit after it.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::Request;
use data_model::{Cid, Value};
use firehose::{DecodedFrame, decode_frame};
use futures::StreamExt;
use repo::commit::Commit;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Reply, Server, TestRelay, send};
use crate::email_tokens::last_token;
use crate::pds_flow::{create_account, get, ok, post};

/// How long to wait for a relay's frames to arrive.
const WAIT: Duration = Duration::from_secs(10);

/// The new relay's service DID and public URL.
const NEW_DID: &str = "did:web:newpds.test";
const NEW_URL: &str = "https://newpds.test";

const HANDLE: &str = "mover.test";
const EMAIL: &str = "mover.test@example.com";

/// A tiny PNG header (enough for MIME sniffing).
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 7,
];

/// A live (no cursor) `subscribeRepos` subscription to a relay served on a real socket; the
/// binary messages are forwarded as they come and decoded by [`Watch::collect`].
struct Watch {
    /// Keeps the relay's socket open.
    _server: Server,
    messages: mpsc::UnboundedReceiver<Bytes>,
    reader: tokio::task::JoinHandle<()>,
}

/// Serves `relay`'s app on a free port and subscribes to its firehose without a cursor.
async fn watch(relay: &TestRelay) -> Watch {
    let server = Server::start(relay.app.clone()).await;
    let url = format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", server.addr);
    let (mut ws, resp) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    assert_eq!(resp.status().as_u16(), 101);
    let (tx, messages) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let bytes = match msg {
                Message::Binary(b) => b,
                Message::Close(_) => break,
                _ => continue, // ping/pong
            };
            if tx.send(bytes).is_err() {
                break;
            }
        }
    });
    // As the firehose tests do: give the subscription time to reach the live stream.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Watch {
        _server: server,
        messages,
        reader,
    }
}

impl Watch {
    /// Every frame received until the relay's current head seq, decoded (each must be a
    /// valid event frame, op 1).
    async fn collect(mut self, relay: &TestRelay) -> Vec<DecodedFrame> {
        let head = crate::common::stored_head(relay).await;
        let mut frames: Vec<DecodedFrame> = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while frames.last().and_then(DecodedFrame::seq).unwrap_or(0) < head {
            let bytes = match tokio::time::timeout_at(deadline, self.messages.recv()).await {
                Ok(Some(b)) => b,
                other => panic!(
                    "stream ended or timed out ({other:?}) before seq {head}: {:?}",
                    kinds(&frames)
                ),
            };
            let f = decode_frame(&bytes).unwrap_or_else(|e| panic!("frame per spec: {e}"));
            assert_eq!(f.op, 1, "an event frame, not an error: {f:?}");
            frames.push(f);
        }
        self.reader.abort();
        frames
    }
}

fn map(f: &DecodedFrame) -> &BTreeMap<String, Value> {
    f.body.as_map().expect("body map")
}

fn kinds(frames: &[DecodedFrame]) -> Vec<&str> {
    frames
        .iter()
        .map(|f| f.t.as_deref().unwrap_or("ERROR"))
        .collect()
}

/// The frames about `did` (`did` of `#identity`/`#account`/`#sync`, `repo` of `#commit`).
fn about<'a>(frames: &'a [DecodedFrame], did: &str) -> Vec<&'a DecodedFrame> {
    frames
        .iter()
        .filter(|f| f.str_field("did") == Some(did) || f.str_field("repo") == Some(did))
        .collect()
}

fn kinds_of<'a>(frames: &[&'a DecodedFrame]) -> Vec<&'a str> {
    frames
        .iter()
        .map(|f| f.t.as_deref().unwrap_or("ERROR"))
        .collect()
}

fn seq(f: &DecodedFrame) -> i64 {
    f.seq().expect("seq")
}

fn active(f: &DecodedFrame) -> &Value {
    map(f).get("active").expect("active")
}

/// The `#atproto` key of `did`'s document in the shared PLC directory.
async fn plc_key(relay: &TestRelay, did: &str) -> crypto::PublicKey {
    let doc = relay
        .state
        .plc()
        .document(&did.parse().expect("did"))
        .await
        .expect("DID document");
    let mk = doc["verificationMethod"][0]["publicKeyMultibase"]
        .as_str()
        .expect("publicKeyMultibase");
    crypto::PublicKey::from_multikey(mk).expect("multikey")
}

/// The commit a `#sync` or `#commit` frame carries: (commit CID, decoded commit), checking the
/// CAR's root is the commit and the frame's `rev` is the commit's.
fn carried_commit(f: &DecodedFrame) -> (Cid, Commit) {
    let m = map(f);
    let Value::Bytes(car) = &m["blocks"] else {
        panic!("blocks bytes")
    };
    let reader = repo::car::CarReader::new(car.as_slice()).expect("CAR");
    let root = reader.roots()[0];
    if let Some(Value::Link(c)) = m.get("commit") {
        assert_eq!(*c, root, "#commit's commit is the CAR root");
    }
    let block = reader
        .map(|b| b.expect("block"))
        .find(|(cid, _)| *cid == root)
        .expect("commit block");
    let commit = Commit::decode(&block.1).expect("commit");
    assert_eq!(Some(commit.rev().as_str()), f.str_field("rev"));
    (root, commit)
}

async fn raw_post(relay: &TestRelay, nsid: &str, token: &str, ct: &str, body: Vec<u8>) -> Reply {
    let req = Request::post(format!("/xrpc/{nsid}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", ct)
        .body(Body::from(body))
        .unwrap();
    send(&relay.app, req).await
}

/// What the migration produced, for the firehose checks.
struct Migrated {
    did: String,
    /// The `#atproto` key before the migration (the old relay's) and after (the new relay's).
    old_key: crypto::PublicKey,
    new_key: crypto::PublicKey,
    /// The last rev the old relay wrote.
    old_rev: String,
    /// The new relay's firehose head before `submitPlcOperation` and before `activateAccount`.
    new_before_submit: i64,
    new_before_activate: i64,
    /// The old relay's firehose head before `deactivateAccount`.
    old_before_deactivate: i64,
    /// The new relay's `getLatestCommit` after activation: (cid, rev).
    new_head: (String, String),
    /// The first post written on the new relay after the switch: its commit (cid, rev).
    first_new_commit: (String, String),
}

/// The whole migration, old -> new, as `interop-tests/e2e/migration.test.mjs`.
async fn migrate(old: &TestRelay, new: &TestRelay) -> Migrated {
    // Old relay: an account, a blob, records, preferences.
    let alice = create_account(old, HANDLE).await;
    let did = alice.did.clone();
    let old_key = plc_key(old, &did).await;
    let blob = ok(raw_post(
        old,
        "com.atproto.repo.uploadBlob",
        &alice.access,
        "image/png",
        PNG.to_vec(),
    )
    .await)["blob"]
        .clone();
    ok(post(
        old,
        "com.atproto.repo.createRecord",
        Some(&alice.access),
        json!({"repo": did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": "moving house", "createdAt": "2024-01-01T00:00:00.000Z",
            "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]},
        }}),
    )
    .await);
    ok(post(
        old,
        "com.atproto.repo.createRecord",
        Some(&alice.access),
        json!({"repo": did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": "second", "createdAt": "2024-01-01T00:00:01.000Z",
        }}),
    )
    .await);
    ok(post(
        old,
        "app.bsky.actor.putPreferences",
        Some(&alice.access),
        json!({"preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false}]}),
    )
    .await);
    let old_rev = ok(get(
        old,
        &format!("com.atproto.sync.getLatestCommit?did={did}"),
        None,
    )
    .await)["rev"]
        .as_str()
        .expect("rev")
        .to_owned();

    // New relay: createAccount{did} with the old server's service-auth token (deactivated).
    let service_did = ok(get(new, "com.atproto.server.describeServer", None).await)["did"]
        .as_str()
        .expect("did")
        .to_owned();
    assert_eq!(service_did, NEW_DID);
    let token = ok(get(
        old,
        &format!("com.atproto.server.getServiceAuth?aud={service_did}&lxm=com.atproto.server.createAccount"),
        Some(&alice.access),
    )
    .await)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let created = ok(post(
        new,
        "com.atproto.server.createAccount",
        Some(&token),
        json!({"handle": HANDLE, "did": did, "email": EMAIL, "password": "hunter2-password"}),
    )
    .await);
    let access = created["accessJwt"].as_str().expect("access").to_owned();
    let status = ok(get(new, "com.atproto.server.checkAccountStatus", Some(&access)).await);
    assert_eq!(status["activated"], false, "{status}");

    // Repository: old getRepo -> new importRepo.
    let car = get(old, &format!("com.atproto.sync.getRepo?did={did}"), None).await;
    assert!(car.status.is_success(), "{}", car.status);
    ok(raw_post(
        new,
        "com.atproto.repo.importRepo",
        &access,
        "application/vnd.ipld.car",
        car.body.to_vec(),
    )
    .await);

    // Blobs: new listMissingBlobs -> old getBlob -> new uploadBlob.
    let missing = ok(get(new, "com.atproto.repo.listMissingBlobs", Some(&access)).await);
    let missing = missing["blobs"].as_array().expect("blobs").clone();
    assert_eq!(missing.len(), 1, "{missing:?}");
    for b in &missing {
        let cid = b["cid"].as_str().expect("cid");
        let bytes = get(
            old,
            &format!("com.atproto.sync.getBlob?did={did}&cid={cid}"),
            None,
        )
        .await;
        assert!(bytes.status.is_success(), "{}", bytes.status);
        ok(raw_post(
            new,
            "com.atproto.repo.uploadBlob",
            &access,
            "image/png",
            bytes.body.to_vec(),
        )
        .await);
    }

    // Preferences: old getPreferences -> new putPreferences.
    let prefs = ok(get(old, "app.bsky.actor.getPreferences", Some(&alice.access)).await);
    ok(post(new, "app.bsky.actor.putPreferences", Some(&access), prefs).await);

    // Identity: new recommended credentials, old signs (emailed code), new submits.
    let creds = ok(get(
        new,
        "com.atproto.identity.getRecommendedDidCredentials",
        Some(&access),
    )
    .await);
    assert_eq!(creds["services"]["atproto_pds"]["endpoint"], NEW_URL);
    ok(post(
        old,
        "com.atproto.identity.requestPlcOperationSignature",
        Some(&alice.access),
        json!({}),
    )
    .await);
    let mut sign = creds.clone();
    sign["token"] = json!(last_token(old, EMAIL));
    let operation = ok(post(
        old,
        "com.atproto.identity.signPlcOperation",
        Some(&alice.access),
        sign,
    )
    .await)["operation"]
        .clone();
    let new_before_submit = crate::common::stored_head(new).await;
    ok(post(
        new,
        "com.atproto.identity.submitPlcOperation",
        Some(&access),
        json!({ "operation": operation }),
    )
    .await);
    let new_key = plc_key(new, &did).await;
    assert_ne!(
        new_key.to_did_key(),
        old_key.to_did_key(),
        "the new relay signs with a key of its own"
    );
    assert_eq!(
        Some(new_key.to_did_key().as_str()),
        creds["verificationMethods"]["atproto"].as_str()
    );

    // Switch: new activateAccount, old deactivateAccount.
    let new_before_activate = crate::common::stored_head(new).await;
    ok(post(
        new,
        "com.atproto.server.activateAccount",
        Some(&access),
        json!({}),
    )
    .await);
    let old_before_deactivate = crate::common::stored_head(old).await;
    ok(post(
        old,
        "com.atproto.server.deactivateAccount",
        Some(&alice.access),
        json!({}),
    )
    .await);
    let latest = ok(get(
        new,
        &format!("com.atproto.sync.getLatestCommit?did={did}"),
        None,
    )
    .await);
    let new_head = (
        latest["cid"].as_str().expect("cid").to_owned(),
        latest["rev"].as_str().expect("rev").to_owned(),
    );
    // The old relay refuses writes now: no commit can follow its #account (deactivated).
    let refused = post(
        old,
        "com.atproto.repo.createRecord",
        Some(&alice.access),
        json!({"repo": did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": "too late", "createdAt": "2024-01-01T00:00:02.000Z",
        }}),
    )
    .await;
    assert!(!refused.status.is_success(), "{}", refused.status);
    // The new relay takes writes: its first #commit continues from the #sync.
    let written = ok(post(
        new,
        "com.atproto.repo.createRecord",
        Some(&access),
        json!({"repo": did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": "hello from the new house", "createdAt": "2024-01-01T00:00:03.000Z",
        }}),
    )
    .await);
    let first_new_commit = (
        written["commit"]["cid"].as_str().expect("cid").to_owned(),
        written["commit"]["rev"].as_str().expect("rev").to_owned(),
    );

    Migrated {
        did,
        old_key,
        new_key,
        old_rev,
        new_before_submit,
        new_before_activate,
        old_before_deactivate,
        new_head,
        first_new_commit,
    }
}

/// Checklist #101: both firehoses during a real migration. New relay: nothing on
/// `createAccount{did}`/import/blobs/preferences; `#identity` once the PLC update is confirmed
/// (still deactivated, no `#account` active); on activation `#account` (active), then (as the
/// reference's `activateAccount` over-emits) `#identity` again and a `#sync` of the head
/// `getLatestCommit` reports, new rev, signed with the new key from the PLC document (and the
/// first write's `#commit` chained on it: `since`, `prevData`, same key). Old
/// relay: `#account` (`active: false`, `deactivated`) after `deactivateAccount` and nothing
/// after it.
#[tokio::test]
async fn checklist_101_both_firehoses_during_a_migration() {
    let old = TestRelay::start(&[]).await;
    let plc_url = old._plc.url();
    let new = TestRelay::start(&[
        ("RELAY_PLC_URL", plc_url.as_str()),
        ("RELAY_SERVICE_DID", NEW_DID),
        ("RELAY_PUBLIC_URL", NEW_URL),
    ])
    .await;
    let old_watch = watch(&old).await;
    let new_watch = watch(&new).await;
    let m = migrate(&old, &new).await;
    let old_frames = old_watch.collect(&old).await;
    let new_frames = new_watch.collect(&new).await;
    let did = m.did.as_str();

    // New relay.
    let mine = about(&new_frames, did);
    let seqs: Vec<i64> = mine.iter().map(|f| seq(f)).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "increasing seq: {seqs:?}"
    );
    // While deactivated: no events on creation, import, blobs or preferences; the confirmed
    // identity update gets its #identity; nothing active, no repo event.
    let (deactivated, activated): (Vec<&DecodedFrame>, Vec<&DecodedFrame>) =
        mine.iter().partition(|f| seq(f) <= m.new_before_activate);
    assert!(
        deactivated.iter().all(|f| seq(f) > m.new_before_submit),
        "nothing before the PLC update: {:?}",
        kinds_of(&deactivated)
    );
    assert_eq!(kinds_of(&deactivated), ["#identity"], "{deactivated:?}");
    for f in &deactivated {
        if f.t.as_deref() == Some("#account") {
            assert_eq!(active(f), &Value::Bool(false), "{f:?}");
        }
        assert!(!matches!(f.t.as_deref(), Some("#commit" | "#sync")));
    }
    let identity = deactivated[0];
    if let Some(handle) = identity.str_field("handle") {
        assert_eq!(handle, HANDLE);
    }
    // Activation: #account (active), #identity (the reference's over-emission), #sync; then
    // the first write's #commit.
    assert_eq!(
        kinds_of(&activated),
        ["#account", "#identity", "#sync", "#commit"],
        "{activated:?}"
    );
    let account = activated[0];
    assert_eq!(active(account), &Value::Bool(true));
    assert!(!map(account).contains_key("status"), "{account:?}");
    assert_eq!(activated[1].str_field("handle"), Some(HANDLE));
    // Checklist order: #identity (identity confirmed) < #account (active) < #sync.
    let sync = activated[2];
    assert!(seq(identity) < seq(account) && seq(account) < seq(sync));
    let (cid, commit) = carried_commit(sync);
    assert_eq!(
        cid.to_string(),
        m.new_head.0,
        "#sync carries getLatestCommit's cid"
    );
    assert_eq!(
        sync.str_field("rev"),
        Some(m.new_head.1.as_str()),
        "#sync carries getLatestCommit's rev"
    );
    assert!(
        m.new_head.1 > m.old_rev,
        "a new rev: {} after {}",
        m.new_head.1,
        m.old_rev
    );
    assert_eq!(commit.did().as_str(), did);
    commit
        .verify(&m.new_key)
        .expect("signed with the new key from the PLC document");
    assert!(
        commit.verify(&m.old_key).is_err(),
        "not the old relay's signature"
    );
    // The first write after the switch: a #commit chained on the #sync, new key.
    let next = activated[3];
    let (next_cid, next_commit) = carried_commit(next);
    assert_eq!(next_cid.to_string(), m.first_new_commit.0);
    assert_eq!(next.str_field("rev"), Some(m.first_new_commit.1.as_str()));
    assert_eq!(next.str_field("since"), Some(m.new_head.1.as_str()));
    assert_eq!(
        map(next).get("prevData"),
        Some(&Value::Link(*commit.data())),
        "prevData is the synced commit's data"
    );
    next_commit.verify(&m.new_key).expect("new key");

    // Old relay: the account's life there, then #account (deactivated) and nothing after it.
    let theirs = about(&old_frames, did);
    let seqs: Vec<i64> = theirs.iter().map(|f| seq(f)).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "increasing seq: {seqs:?}"
    );
    let (before, after): (Vec<&DecodedFrame>, Vec<&DecodedFrame>) = theirs
        .iter()
        .partition(|f| seq(f) <= m.old_before_deactivate);
    assert_eq!(
        kinds_of(&before),
        [
            "#identity",
            "#account",
            "#commit",
            "#sync",
            "#commit",
            "#commit"
        ],
        "creation and the two posts"
    );
    assert_eq!(active(before[1]), &Value::Bool(true));
    for f in before
        .iter()
        .filter(|f| f.t.as_deref() != Some("#identity"))
    {
        if f.t.as_deref() != Some("#account") {
            let (_, c) = carried_commit(f);
            c.verify(&m.old_key).expect("old relay's key");
        }
    }
    assert_eq!(kinds_of(&after), ["#account"], "{after:?}");
    assert_eq!(active(after[0]), &Value::Bool(false));
    assert_eq!(after[0].str_field("status"), Some("deactivated"));
}
