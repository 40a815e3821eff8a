//! `com.atproto.sync.subscribeRepos` over a real WebSocket against a real server: HTTP rules
//! (405/426/400), every event of an account's life in order and verified (commit signature,
//! `since`/`prevData` chain, sync-1.1 inversion), cursor replay after a reconnect, FutureCursor,
//! ConsumerTooSlow, junk from the client ignored, idle timeout, and replay across a restart
//! (checklist #70-#94, #96-#104).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use data_model::{Cid, Value};
use firehose::{DecodedFrame, decode_frame};
use futures::{SinkExt, StreamExt};
use repo::blockstore::BlockMap;
use repo::commit::Commit;
use repo::mst::{RecordOp, verify_inversion};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{Server, TestRelay, send};
use crate::pds_flow::{create_account, ok, post};

const WAIT: Duration = Duration::from_secs(10);

struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

#[derive(Debug)]
enum Got {
    Frame(Box<DecodedFrame>),
    Closed(Option<u16>),
    Timeout,
}

async fn connect(server: &Server, cursor: Option<i64>) -> Ws {
    let q = cursor.map(|c| format!("?cursor={c}")).unwrap_or_default();
    let url = format!(
        "ws://{}/xrpc/com.atproto.sync.subscribeRepos{q}",
        server.addr
    );
    let (s, resp) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    assert_eq!(resp.status().as_u16(), 101);
    Ws(s)
}

/// Checklist #94: every event's `time` is `YYYY-MM-DDTHH:MM:SS.mmmZ`, millisecond precision as
/// the reference's `toISOString()`, and a valid datetime.
fn assert_millisecond_time(time: &str) {
    let shape = time.len() == 24
        && time.bytes().enumerate().all(|(i, c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(shape, "time {time:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ");
    assert!(time.parse::<syntax::Datetime>().is_ok(), "time {time:?}");
}

impl Ws {
    async fn next(&mut self, wait: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) => return Got::Closed(None),
                Ok(Some(Err(_))) => return Got::Closed(None),
                Ok(Some(Ok(Message::Binary(b)))) => {
                    let f = decode_frame(&b).unwrap_or_else(|e| panic!("frame per spec: {e}"));
                    if let Some(time) = f.str_field("time") {
                        assert_millisecond_time(time);
                    }
                    return Got::Frame(Box::new(f));
                }
                Ok(Some(Ok(Message::Close(c)))) => {
                    return Got::Closed(c.map(|c| u16::from(c.code)));
                }
                Ok(Some(Ok(Message::Text(t)))) => panic!("text frame from the server: {t}"),
                Ok(Some(Ok(_))) => {} // ping/pong
            }
        }
    }

    async fn frames(&mut self, n: usize) -> Vec<DecodedFrame> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.next(WAIT).await {
                Got::Frame(f) => out.push(*f),
                other => panic!("after {} of {n} frames: {other:?} ({out:?})", out.len()),
            }
        }
        out
    }

    async fn quiet(&mut self, wait: Duration) {
        match self.next(wait).await {
            Got::Timeout => {}
            other => panic!("expected nothing, got {other:?}"),
        }
    }
}

fn map(f: &DecodedFrame) -> &std::collections::BTreeMap<String, Value> {
    f.body.as_map().expect("body map")
}

fn link(v: Option<&Value>) -> Option<Cid> {
    match v {
        Some(Value::Link(c)) => Some(*c),
        _ => None,
    }
}

/// What a subscriber knows per repo: the last rev and MST root, and the signing key.
#[derive(Default)]
struct Chains {
    last: HashMap<String, (String, Cid)>,
    keys: HashMap<String, crypto::PublicKey>,
}

impl Chains {
    async fn key(&mut self, relay: &TestRelay, did: &str) -> crypto::PublicKey {
        if let Some(k) = self.keys.get(did) {
            return k.clone();
        }
        let doc = relay
            .state
            .plc()
            .document(&did.parse().expect("did"))
            .await
            .expect("doc");
        let mk = doc["verificationMethod"][0]["publicKeyMultibase"]
            .as_str()
            .expect("key");
        let key = crypto::PublicKey::from_multikey(mk).expect("multikey");
        self.keys.insert(did.to_owned(), key.clone());
        key
    }

    /// Checks one `#commit` the way a relay does (checklist #82-#88, #94).
    async fn check_commit(&mut self, relay: &TestRelay, f: &DecodedFrame) -> Vec<RecordOp> {
        let m = map(f);
        let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
        let mut want: BTreeSet<&str> = [
            "seq", "repo", "commit", "rev", "since", "blocks", "ops", "rebase", "tooBig", "blobs",
            "time",
        ]
        .into_iter()
        .collect();
        if m.contains_key("prevData") {
            want.insert("prevData");
        }
        assert_eq!(keys, want, "#commit field set (checklist #82)");
        assert_eq!(m["rebase"], Value::Bool(false));
        assert_eq!(m["tooBig"], Value::Bool(false));
        assert_eq!(m["blobs"], Value::List(Vec::new()));
        let repo = f.str_field("repo").expect("repo").to_owned();
        let rev = f.str_field("rev").expect("rev").to_owned();
        f.str_field("time")
            .expect("time")
            .parse::<syntax::Datetime>()
            .expect("time is a datetime (checklist #94)");
        let commit_cid = link(m.get("commit")).expect("commit link");
        let Value::Bytes(car) = &m["blocks"] else {
            panic!("blocks bytes")
        };
        assert!(car.len() <= 2_000_000);
        let reader = repo::car::CarReader::new(car.as_slice()).expect("CAR");
        assert_eq!(reader.roots(), [commit_cid], "CAR root is the commit");
        let mut blocks = BlockMap::new();
        for b in reader {
            let (cid, bytes) = b.expect("block");
            blocks.insert(cid, bytes);
        }
        let commit =
            Commit::decode(blocks.get(&commit_cid).expect("commit block")).expect("commit");
        commit
            .verify(&self.key(relay, &repo).await)
            .expect("signature (checklist #85)");
        assert_eq!(commit.rev().as_str(), rev);
        assert_eq!(commit.did().as_str(), repo);
        let prev = self.last.get(&repo).cloned();
        match (&prev, m.get("since")) {
            (Some((r, _)), Some(Value::String(s))) => assert_eq!(s, r, "since = previous rev"),
            (None, Some(Value::Null)) => {}
            (p, s) => panic!("since {s:?} after {p:?}"),
        }
        let prev_data = link(m.get("prevData"));
        assert_eq!(
            prev_data,
            prev.as_ref().map(|p| p.1),
            "prevData = previous data (#83)"
        );
        let Value::List(ops) = &m["ops"] else {
            panic!("ops list")
        };
        let mut record_ops = Vec::new();
        for op in ops {
            let o = op.as_map().expect("op map");
            let action = match &o["action"] {
                Value::String(s) => s.as_str(),
                other => panic!("action {other:?}"),
            };
            let path = match &o["path"] {
                Value::String(s) => s.clone(),
                other => panic!("path {other:?}"),
            };
            let cid = link(o.get("cid"));
            let prev = link(o.get("prev"));
            match action {
                "create" => assert!(cid.is_some() && !o.contains_key("prev"), "{o:?}"),
                "update" => assert!(cid.is_some() && prev.is_some(), "{o:?}"),
                "delete" => assert!(o["cid"] == Value::Null && prev.is_some(), "{o:?}"),
                other => panic!("action {other}"),
            }
            record_ops.push(RecordOp {
                path,
                old: prev,
                new: cid,
            });
        }
        if let Some(pd) = prev_data {
            verify_inversion(&blocks, commit.data(), &record_ops, &pd)
                .expect("inverting the ops gives prevData (checklist #83)");
        }
        self.last.insert(repo, (rev, *commit.data()));
        record_ops
    }
}

fn kinds(frames: &[DecodedFrame]) -> Vec<&str> {
    frames
        .iter()
        .map(|f| f.t.as_deref().unwrap_or("ERROR"))
        .collect()
}

fn assert_consecutive(frames: &[DecodedFrame]) {
    let seqs: Vec<i64> = frames.iter().map(|f| f.seq().expect("seq")).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gap-free seqs: {seqs:?}"
    );
}

async fn write(
    relay: &TestRelay,
    token: &str,
    nsid: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    ok(post(relay, nsid, Some(token), body).await)
}

fn admin_auth() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:admin-secret")
    )
}

async fn takedown(relay: &TestRelay, did: &str, applied: bool) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/xrpc/com.atproto.admin.updateSubjectStatus")
        .header("content-type", "application/json")
        .header("authorization", admin_auth())
        .body(Body::from(
            json!({
                "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did},
                "takedown": {"applied": applied, "ref": "t-1"},
            })
            .to_string(),
        ))
        .unwrap();
    ok(send(&relay.app, req).await);
}

/// Checklist #70: only a GET upgrade is served.
#[tokio::test]
async fn http_rules() {
    let relay = TestRelay::start(&[]).await;
    let path = "/xrpc/com.atproto.sync.subscribeRepos";
    let r = send(&relay.app, Request::post(path).body(Body::empty()).unwrap()).await;
    r.assert_xrpc_error(405, "InvalidRequest");
    let r = send(&relay.app, Request::get(path).body(Body::empty()).unwrap()).await;
    r.assert_xrpc_error(426, "InvalidRequest");
    let r = send(
        &relay.app,
        Request::get(format!("{path}?cursor=abc"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    r.assert_xrpc_error(400, "InvalidRequest");
}

/// Every event of accounts' lives, received live and verified, then replayed with a cursor
/// after a disconnect: exactly the missed events (checklist #76, #78, #82-#92, #96-#104).
#[tokio::test]
async fn lifecycle_events_live_verified_and_replayed() {
    let relay = TestRelay::start(&[("RELAY_ADMIN_PASSWORD", "admin-secret")]).await;
    let server = Server::start(relay.app.clone()).await;
    let mut live = connect(&server, None).await;
    live.quiet(Duration::from_millis(200)).await;
    let mut chains = Chains::default();

    // createAccount: #identity, #account, #commit (empty, first rev), #sync (checklist #98).
    let alice = create_account(&relay, "alice.test").await;
    let f = live.frames(4).await;
    assert_eq!(kinds(&f), ["#identity", "#account", "#commit", "#sync"]);
    assert_consecutive(&f);
    assert_eq!(f[0].str_field("did"), Some(alice.did.as_str()));
    assert_eq!(f[0].str_field("handle"), Some("alice.test"));
    assert_eq!(map(&f[1])["active"], Value::Bool(true));
    assert!(!map(&f[1]).contains_key("status"));
    let ops = chains.check_commit(&relay, &f[2]).await;
    assert!(ops.is_empty(), "first commit is empty (checklist #87)");
    // #sync: a CAR with only the commit block, rev matching (checklist #88).
    let Value::Bytes(car) = &map(&f[3])["blocks"] else {
        panic!("blocks")
    };
    let reader = repo::car::CarReader::new(car.as_slice()).expect("CAR");
    let root = reader.roots()[0];
    let blocks: Vec<_> = reader.map(|b| b.expect("block")).collect();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, root);
    assert_eq!(root, link(map(&f[2]).get("commit")).expect("commit"));
    assert_eq!(f[3].str_field("rev"), f[2].str_field("rev"));
    assert!(car.len() <= 10_000);
    for frame in &f {
        assert!(
            !map(frame).contains_key("$type"),
            "no $type (checklist #72)"
        );
    }
    let last_seen = f[3].seq().expect("seq");
    let alice_at_cursor = chains.last.get(&alice.did).cloned().expect("alice's chain");

    // Record writes: create, update, delete, and a multi-op applyWrites (checklist #84).
    let created = write(
        &relay,
        &alice.access,
        "com.atproto.repo.createRecord",
        json!({"repo": alice.did, "collection": "app.bsky.feed.post", "rkey": "3kabc2222222a",
               "record": {"$type": "app.bsky.feed.post", "text": "one", "createdAt": "2026-01-01T00:00:00Z"}}),
    )
    .await;
    let updated = write(
        &relay,
        &alice.access,
        "com.atproto.repo.putRecord",
        json!({"repo": alice.did, "collection": "app.bsky.feed.post", "rkey": "3kabc2222222a",
               "record": {"$type": "app.bsky.feed.post", "text": "two", "createdAt": "2026-01-01T00:00:00Z"}}),
    )
    .await;
    write(
        &relay,
        &alice.access,
        "com.atproto.repo.applyWrites",
        json!({"repo": alice.did, "writes": [
            {"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.like", "rkey": "3kabc2222222b",
             "value": {"$type": "app.bsky.feed.like", "createdAt": "2026-01-01T00:00:00Z",
                       "subject": {"uri": created["uri"], "cid": updated["cid"]}}},
            {"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": "3kabc2222222a"},
        ]}),
    )
    .await;
    let f = live.frames(3).await;
    assert_eq!(kinds(&f), ["#commit", "#commit", "#commit"]);
    let ops = chains.check_commit(&relay, &f[0]).await;
    assert_eq!(ops.len(), 1);
    assert_eq!(
        ops[0].new.map(|c| c.to_string()).as_deref(),
        created["cid"].as_str()
    );
    let ops = chains.check_commit(&relay, &f[1]).await;
    assert_eq!(
        ops[0].old.map(|c| c.to_string()).as_deref(),
        created["cid"].as_str(),
        "update prev"
    );
    let ops = chains.check_commit(&relay, &f[2]).await;
    assert_eq!(ops.len(), 2);

    // A second account, a handle change, deactivation and activation, takedown and restore.
    let bob = create_account(&relay, "bob.test").await;
    let f = live.frames(4).await;
    chains.check_commit(&relay, &f[2]).await;
    write(
        &relay,
        &alice.access,
        "com.atproto.identity.updateHandle",
        json!({"handle": "alice2.test"}),
    )
    .await;
    let f = live.frames(1).await;
    assert_eq!(kinds(&f), ["#identity"]);
    assert_eq!(
        f[0].str_field("handle"),
        Some("alice2.test"),
        "checklist #90"
    );

    write(
        &relay,
        &bob.access,
        "com.atproto.server.deactivateAccount",
        json!({}),
    )
    .await;
    let f = live.frames(1).await;
    assert_eq!(kinds(&f), ["#account"]);
    assert_eq!(map(&f[0])["active"], Value::Bool(false));
    assert_eq!(f[0].str_field("status"), Some("deactivated"));
    // No #commit for an inactive account (checklist #93).
    let r = post(
        &relay,
        "com.atproto.repo.createRecord",
        Some(&bob.access),
        json!({"repo": bob.did, "collection": "app.bsky.feed.post",
               "record": {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-01-01T00:00:00Z"}}),
    )
    .await;
    assert!(!r.status.is_success());
    write(
        &relay,
        &bob.access,
        "com.atproto.server.activateAccount",
        json!({}),
    )
    .await;
    let f = live.frames(3).await;
    assert_eq!(
        kinds(&f),
        ["#account", "#identity", "#sync"],
        "activation (checklist #89, #104)"
    );
    assert_eq!(map(&f[0])["active"], Value::Bool(true));
    assert_eq!(f[1].str_field("handle"), Some("bob.test"));
    assert_eq!(
        f[2].str_field("rev"),
        chains.last.get(&bob.did).map(|l| l.0.as_str())
    );

    takedown(&relay, &bob.did, true).await;
    takedown(&relay, &bob.did, false).await;
    let f = live.frames(2).await;
    assert_eq!(kinds(&f), ["#account", "#account"]);
    assert_eq!(
        f[0].str_field("status"),
        Some("takendown"),
        "checklist #103"
    );
    assert_eq!(map(&f[1])["active"], Value::Bool(true));

    // Disconnect; meanwhile alice writes and bob deletes his account.
    drop(live);
    let mut missed_cids = Vec::new();
    for i in 0..5 {
        let out = write(
            &relay,
            &alice.access,
            "com.atproto.repo.createRecord",
            json!({"repo": alice.did, "collection": "app.bsky.feed.post",
                   "record": {"$type": "app.bsky.feed.post", "text": format!("missed {i}"), "createdAt": "2026-01-01T00:00:00Z"}}),
        )
        .await;
        missed_cids.push(out["cid"].as_str().unwrap().to_owned());
    }
    let token =
        crate::email_tokens::delete_token(&relay, &bob.access, "bob.test@example.com").await;
    ok(post(
        &relay,
        "com.atproto.server.deleteAccount",
        None,
        json!({"did": bob.did, "password": "hunter2-password", "token": token}),
    )
    .await);

    // Reconnect with the last cursor seen before the disconnect... the whole history since
    // alice's creation, minus bob's events (deleted with his account, checklist #102).
    let mut replay = connect(&server, Some(last_seen)).await;
    let mut got = Vec::new();
    loop {
        match replay.next(Duration::from_millis(500)).await {
            Got::Frame(f) => got.push(*f),
            Got::Timeout => break,
            Got::Closed(c) => panic!("closed {c:?}"),
        }
    }
    let bob_events: Vec<&DecodedFrame> = got
        .iter()
        .filter(|f| {
            f.str_field("did") == Some(bob.did.as_str())
                || f.str_field("repo") == Some(bob.did.as_str())
        })
        .collect();
    assert_eq!(
        bob_events.len(),
        1,
        "only bob's tombstone is kept: {bob_events:?}"
    );
    assert_eq!(bob_events[0].t.as_deref(), Some("#account"));
    assert_eq!(bob_events[0].str_field("status"), Some("deleted"));
    assert_eq!(map(bob_events[0])["active"], Value::Bool(false));
    let seqs: Vec<i64> = got.iter().map(|f| f.seq().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "increasing: {seqs:?}");
    assert!(
        seqs[0] > last_seen,
        "strictly after the cursor (checklist #78)"
    );
    // The last five alice commits are exactly the missed writes, verified.
    let alice_commits: Vec<&DecodedFrame> = got
        .iter()
        .filter(|f| {
            f.t.as_deref() == Some("#commit") && f.str_field("repo") == Some(alice.did.as_str())
        })
        .collect();
    let mut replay_chains = Chains::default();
    replay_chains
        .last
        .insert(alice.did.clone(), alice_at_cursor);
    let mut created_cids = Vec::new();
    for c in &alice_commits {
        for op in replay_chains.check_commit(&relay, c).await {
            if op.old.is_none() {
                created_cids.push(op.new.expect("cid").to_string());
            }
        }
    }
    assert_eq!(created_cids[created_cids.len() - 5..], missed_cids[..]);
    // Only the message types of sync 1.1 appear (checklist #92).
    for f in &got {
        assert!(
            matches!(
                f.t.as_deref(),
                Some("#commit" | "#sync" | "#identity" | "#account")
            ),
            "{:?}",
            f.t
        );
    }
    server.stop().await;
}

/// Checklist #73, #77: a future cursor gets one error frame, then the socket closes.
#[tokio::test]
async fn future_cursor_error_frame_then_close() {
    let relay = TestRelay::start(&[]).await;
    let server = Server::start(relay.app.clone()).await;
    create_account(&relay, "alice.test").await;
    let head = crate::common::stored_head(&relay).await;
    let mut ws = connect(&server, Some(head + 1_000_000)).await;
    let Got::Frame(f) = ws.next(WAIT).await else {
        panic!("error frame")
    };
    assert_eq!(f.op, -1);
    assert_eq!(f.t, None);
    assert_eq!(f.str_field("error"), Some("FutureCursor"));
    assert!(matches!(ws.next(WAIT).await, Got::Closed(_)));
    // Exactly at the head: accepted, nothing to replay, then live (checklist #76).
    let head = crate::common::stored_head(&relay).await;
    let mut ws = connect(&server, Some(head)).await;
    ws.quiet(Duration::from_millis(300)).await;
    // cursor=0: the whole window (checklist #79).
    let mut ws0 = connect(&server, Some(0)).await;
    let f = ws0.frames(4).await;
    assert_eq!(f[0].seq(), Some(crate::common::first_seq(&relay).await));
    assert_eq!(kinds(&f), ["#identity", "#account", "#commit", "#sync"]);
    server.stop().await;
}

/// Checklist #74: frames from the client are ignored; the stream goes on.
#[tokio::test]
async fn client_frames_are_ignored() {
    let relay = TestRelay::start(&[]).await;
    let server = Server::start(relay.app.clone()).await;
    let mut ws = connect(&server, None).await;
    ws.0.send(Message::Text("hello".into()))
        .await
        .expect("text");
    ws.0.send(Message::Binary(vec![0xff, 0x00, 0x13].into()))
        .await
        .expect("binary");
    create_account(&relay, "alice.test").await;
    let f = ws.frames(4).await;
    assert_eq!(kinds(&f), ["#identity", "#account", "#commit", "#sync"]);
    server.stop().await;
}

/// Checklist #180: past `firehose_max_subscribers` open connections a new one is refused
/// before the upgrade (503 `TooManySubscribers`, `Retry-After`); a closed connection frees
/// its place.
#[tokio::test]
async fn subscriber_cap_refuses_then_frees_a_place() {
    let relay = TestRelay::start(&[("RELAY_FIREHOSE_MAX_SUBSCRIBERS", "2")]).await;
    let server = Server::start(relay.app.clone()).await;
    let first = connect(&server, None).await;
    let _second = connect(&server, None).await;
    let url = format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", server.addr);
    match tokio_tungstenite::connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503);
            assert_eq!(
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("60")
            );
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
            assert!(body.contains("TooManySubscribers"), "{body}");
        }
        other => panic!("third subscriber: expected 503, got {other:?}"),
    }
    drop(first);
    // The server notices the close when it next reads; retry for a while.
    let mut admitted = false;
    for _ in 0..50 {
        if let Ok((_ws, resp)) = tokio_tungstenite::connect_async(url.clone()).await {
            assert_eq!(resp.status().as_u16(), 101);
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(admitted, "a closed connection frees its place");
    server.stop().await;
}

/// Checklist #80: a subscriber that stops reading while the PDS writes heavily gets
/// `ConsumerTooSlow` (once the socket drains) and is closed; memory stays bounded by the
/// live buffer.
#[tokio::test]
async fn consumer_too_slow_over_websocket() {
    let relay = TestRelay::start(&[("RELAY_FIREHOSE_BUFFER_EVENTS", "8")]).await;
    let server = Server::start(relay.app.clone()).await;
    let alice = create_account(&relay, "alice.test").await;
    let mut ws = connect(&server, None).await;
    let mut reader = connect(&server, None).await;
    // ~30 MB of commits (records just under the 150 KiB JSON body limit): more than the socket
    // buffers hold, so the server-side task blocks and falls out of the 8-event live buffer.
    let big = "x".repeat(120_000);
    let n = 250;
    for i in 0..n {
        create_big_record(
            &relay,
            &alice,
            "com.example.blob",
            &format!("k{i}"),
            "data",
            &big,
        )
        .await;
        // The other subscriber keeps up the whole time.
        let f = reader.frames(1).await;
        assert_eq!(kinds(&f), ["#commit"]);
    }
    let (events, _) = relay.state.firehose().start().await.expect("hub").usage();
    assert!(events <= 8);
    let mut got_frames = 0;
    loop {
        match ws.next(WAIT).await {
            Got::Frame(f) if f.op == 1 => got_frames += 1,
            Got::Frame(f) => {
                assert_eq!(f.str_field("error"), Some("ConsumerTooSlow"));
                break;
            }
            other => panic!("after {got_frames} frames: {other:?}"),
        }
    }
    assert!(got_frames < n, "{got_frames}");
    assert!(matches!(ws.next(WAIT).await, Got::Closed(_)));
    server.stop().await;
}

/// A relay over `config` with its own PLC directory server.
async fn open_relay(
    config: relay::Config,
    secrets: relay::secrets::Secrets,
    plc: Server,
) -> TestRelay {
    let state = relay::AppState::open_with(config, secrets, |c| {
        c.password_cost = pds::PasswordCost::InsecureFastForTests;
    })
    .await
    .unwrap();
    TestRelay {
        app: relay::app(state.clone()),
        state,
        _plc: plc,
    }
}

async fn plc_server() -> Server {
    Server::start(relay::plc_directory::router(std::sync::Arc::new(
        relay::plc_directory::PlcDirectory::in_memory(),
    )))
    .await
}

/// A client that never answers pings is disconnected after the idle timeout; one that does
/// (tungstenite answers while reading) stays.
#[tokio::test]
async fn idle_timeout_and_pings() {
    let plc = plc_server().await;
    let plc_url = plc.url();
    let dir = crate::common::temp_dir("firehose-idle");
    let mut config = crate::common::test_config(&dir, &[("RELAY_PLC_URL", plc_url.as_str())]);
    config.firehose.ping_interval = Duration::from_millis(100);
    config.firehose.idle_timeout = Duration::from_millis(400);
    let relay = open_relay(config, relay::secrets::Secrets::ephemeral(), plc).await;
    let server = Server::start(relay.app.clone()).await;
    let mut silent = connect(&server, None).await;
    let mut active = connect(&server, None).await;
    // The active client reads (and so answers pings) for a while.
    active.quiet(Duration::from_millis(900)).await;
    // The silent one did not read at all, so it never answered a ping.
    match silent.next(Duration::from_secs(2)).await {
        // 1001 "idle timeout" when the close frame is read before the client's (late) pong
        // replies hit the closed socket; None otherwise.
        Got::Closed(code) => assert!(matches!(code, Some(1001) | None), "{code:?}"),
        other => panic!("the silent client was not disconnected: {other:?}"),
    }
    active.quiet(Duration::from_millis(300)).await;
    server.stop().await;
}

/// Checklist #75: events written before a restart are replayed after it; seq continues.
#[tokio::test]
async fn replay_across_restart() {
    let dir = crate::common::temp_dir("firehose-restart");
    let plc = plc_server().await;
    let plc_url = plc.url();
    let config = crate::common::test_config(&dir, &[("RELAY_PLC_URL", plc_url.as_str())]);
    let secrets = relay::secrets::Secrets::ephemeral();
    let first = open_relay(
        config.clone(),
        secrets.clone(),
        Server::start(axum::Router::new()).await,
    )
    .await;
    let alice = create_account(&first, "alice.test").await;
    let before = crate::common::stored_head(&first).await;
    assert_eq!(
        before - crate::common::first_seq(&first).await,
        3,
        "4 events"
    );
    drop(first);
    let restarted_at = now_ms();

    let second = open_relay(config, secrets, plc).await;
    let server = Server::start(second.app.clone()).await;
    let mut ws = connect(&server, Some(0)).await;
    let f = ws.frames(4).await;
    assert_eq!(kinds(&f), ["#identity", "#account", "#commit", "#sync"]);
    let mut chains = Chains::default();
    chains.check_commit(&second, &f[2]).await;
    let session = ok(post(
        &second,
        "com.atproto.server.createSession",
        None,
        json!({"identifier": "alice.test", "password": "hunter2-password"}),
    )
    .await);
    write(
        &second,
        session["accessJwt"].as_str().unwrap(),
        "com.atproto.repo.createRecord",
        json!({"repo": alice.did, "collection": "app.bsky.feed.post",
               "record": {"$type": "app.bsky.feed.post", "text": "after restart", "createdAt": "2026-01-01T00:00:00Z"}}),
    )
    .await;
    let f = ws.frames(1).await;
    let after = f[0].seq().expect("seq");
    assert!(
        after > before,
        "seq goes on increasing, no reuse: {before} -> {after}"
    );
    assert!(
        after > restarted_at,
        "the clock floor: {after} is above the restart time {restarted_at} ms"
    );
    chains.check_commit(&second, &f[0]).await;
    server.stop().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap())
}

/// Checklist #75 (after a reset, start well above the old values): the relay writes four
/// events, the database is then put back to a backup taken after the second one (the newer
/// rows and the sequence high-water mark rolled back), and the relay restarts. With the
/// default clock floor the next seq is above every seq subscribers have seen; with the floor
/// off it reissues one (what relays would drop as a duplicate), which shows what the floor
/// guards against.
#[tokio::test]
async fn checklist_75_restore_from_older_backup_never_reissues_a_seq() {
    for (floor, reissues) in [("clock", false), ("off", true)] {
        let dir = crate::common::temp_dir("firehose-restore");
        let plc = plc_server().await;
        let plc_url = plc.url();
        let config = crate::common::test_config(
            &dir,
            &[
                ("RELAY_PLC_URL", plc_url.as_str()),
                ("RELAY_FIREHOSE_SEQ_FLOOR", floor),
            ],
        );
        let secrets = relay::secrets::Secrets::ephemeral();
        let first = open_relay(
            config.clone(),
            secrets.clone(),
            Server::start(axum::Router::new()).await,
        )
        .await;
        create_account(&first, "alice.test").await;
        let seen = crate::common::stored_head(&first).await;
        let backup = crate::common::first_seq(&first).await + 1;
        drop(first);
        // The clock must have moved past the seqs handed out since the first start-up.
        tokio::time::sleep(Duration::from_millis(10)).await;
        roll_back_event_log(&dir.join("relay.sqlite"), backup).await;

        let second = open_relay(config, secrets, plc).await;
        let alice = ok(post(
            &second,
            "com.atproto.server.createSession",
            None,
            json!({"identifier": "alice.test", "password": "hunter2-password"}),
        )
        .await);
        let did = alice["did"].as_str().unwrap().to_owned();
        write(
            &second,
            alice["accessJwt"].as_str().unwrap(),
            "com.atproto.repo.createRecord",
            json!({"repo": did, "collection": "app.bsky.feed.post",
                   "record": {"$type": "app.bsky.feed.post", "text": "after restore", "createdAt": "2026-01-01T00:00:00Z"}}),
        )
        .await;
        let next = crate::common::stored_head(&second).await;
        assert_eq!(
            next <= seen,
            reissues,
            "{floor}: seen up to {seen}, next {next}"
        );
        println!("checklist #75 floor={floor}: seen {seen}, restored to {backup}, next {next}");
    }
}

/// Puts the event log back to how a backup taken at `through` had it: later rows gone and
/// the AUTOINCREMENT high-water mark at `through`.
async fn roll_back_event_log(db: &std::path::Path, through: i64) {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .expect("open the database");
    sqlx::query("DELETE FROM repo_seq WHERE seq > ?")
        .bind(through)
        .execute(&mut conn)
        .await
        .expect("delete");
    sqlx::query("UPDATE sqlite_sequence SET seq = ? WHERE name = 'repo_seq'")
        .bind(through)
        .execute(&mut conn)
        .await
        .expect("roll back the sequence");
    sqlx::Connection::close(conn).await.expect("close");
}

/// The firehose options: documented in the example file with their defaults, read from the
/// environment, tiers of retention, and bad values refused with the option's name.
#[test]
fn firehose_config_options() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/relay.example.toml"))
        .unwrap();
    for key in [
        "firehose_retention",
        "firehose_buffer_events",
        "firehose_buffer_bytes",
        "firehose_seq_floor",
        "firehose_zero_copy",
        "firehose_relay_quota",
        "crawlers",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key} ="))),
            "relay.example.toml documents {key}"
        );
    }
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    let d = relay::Config::from_sources(None, env(&[])).unwrap();
    assert_eq!(d.firehose.retention, Duration::from_secs(72 * 3600));
    assert_eq!(d.firehose.buffer_events, 10_000);
    assert!(d.firehose.crawlers.is_empty());
    assert!(d.firehose.zero_copy, "zero-copy sends are on by default");
    assert_eq!(d.firehose.relay_quotas, firehose::RELAY_DEFAULT_QUOTAS);
    assert_eq!(
        d.firehose.firehose_config().relay_quotas,
        firehose::RELAY_DEFAULT_QUOTAS
    );
    let c = relay::Config::from_sources(Some("firehose_relay_quota = \"off\""), env(&[])).unwrap();
    assert!(c.firehose.relay_quotas.is_empty());
    let c = relay::Config::from_sources(
        None,
        env(&[("RELAY_FIREHOSE_RELAY_QUOTA", "500/s, 50000/d")]),
    )
    .unwrap();
    assert_eq!(
        c.firehose
            .relay_quotas
            .iter()
            .map(|q| (q.events, q.window.as_secs()))
            .collect::<Vec<_>>(),
        [(500, 1), (50_000, 86_400)]
    );
    for (tier, days) in [("7d", 7), ("30d", 30), ("90d", 90)] {
        let c =
            relay::Config::from_sources(None, env(&[("RELAY_FIREHOSE_RETENTION", tier)])).unwrap();
        assert_eq!(c.firehose.retention, Duration::from_secs(days * 86_400));
    }
    let c = relay::Config::from_sources(
        Some("crawlers = [\"bsky.network\", \"http://127.0.0.1:9/\"]\nfirehose_buffer_events = 5"),
        env(&[]),
    )
    .unwrap();
    assert_eq!(
        c.firehose.crawlers,
        ["https://bsky.network", "http://127.0.0.1:9"]
    );
    assert_eq!(c.firehose.buffer_events, 5);
    use relay::firehose_service::SeqFloor;
    assert_eq!(d.firehose.seq_floor, SeqFloor::Clock);
    for (value, want) in [
        ("clock", SeqFloor::Clock),
        ("off", SeqFloor::Off),
        ("5000000", SeqFloor::Fixed(5_000_000)),
    ] {
        let c =
            relay::Config::from_sources(None, env(&[("RELAY_FIREHOSE_SEQ_FLOOR", value)])).unwrap();
        assert_eq!(c.firehose.seq_floor, want, "{value}");
    }
    for (var, value) in [
        ("RELAY_FIREHOSE_SEQ_FLOOR", "0"),
        ("RELAY_FIREHOSE_SEQ_FLOOR", "9007199254740992"),
        ("RELAY_FIREHOSE_SEQ_FLOOR", "yesterday"),
        ("RELAY_FIREHOSE_RETENTION", "3w"),
        ("RELAY_FIREHOSE_RETENTION", "0h"),
        ("RELAY_FIREHOSE_BUFFER_EVENTS", "0"),
        ("RELAY_CRAWLERS", "ftp://x"),
        ("RELAY_FIREHOSE_ZERO_COPY", "maybe"),
        ("RELAY_FIREHOSE_RELAY_QUOTA", "50 per second"),
    ] {
        let e = relay::Config::from_sources(None, env(&[(var, value)])).unwrap_err();
        let name = var.trim_start_matches("RELAY_").to_ascii_lowercase();
        assert!(
            e.to_string().contains(&name)
                || e.to_string().contains(var)
                || e.to_string().contains("firehose_buffer"),
            "{var}={value}: {e}"
        );
    }
}

/// `relay serve`'s background tasks send `requestCrawl {hostname}` to each configured relay at
/// start-up, through the SSRF-guarded client (private targets allowed in this test config).
#[tokio::test]
async fn request_crawl_at_startup() {
    use axum::routing::post as post_route;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let fake_bgs = Server::start(axum::Router::new().route(
        "/xrpc/com.atproto.sync.requestCrawl",
        post_route(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                axum::Json(json!({}))
            }
        }),
    ))
    .await;
    let url = fake_bgs.url();
    let relay = TestRelay::start(&[
        ("RELAY_CRAWLERS", url.as_str()),
        ("RELAY_HOSTNAME", "pds.example.com"),
    ])
    .await;
    let tasks = relay::firehose_service::spawn_background(&relay.state)
        .await
        .expect("background");
    let body = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("requestCrawl sent")
        .expect("body");
    assert_eq!(body, json!({"hostname": "pds.example.com"}));
    for t in tasks {
        t.abort();
    }
}

/// Creates record `rkey` in `collection` whose one field `field` holds `value`.
async fn create_big_record(
    relay: &TestRelay,
    account: &crate::pds_flow::Account,
    collection: &str,
    rkey: &str,
    field: &str,
    value: &str,
) {
    write(
        relay,
        &account.access,
        "com.atproto.repo.createRecord",
        json!({"repo": account.did, "collection": collection, "rkey": rkey,
               "record": {"$type": collection, field: value}}),
    )
    .await;
}

/// The bandwidth limit of the checklist #180 tests: 32 KiB/s, so a burst of 32 KiB.
const THROTTLE_RATE: usize = 32 * 1024;

/// A relay limited to [`THROTTLE_RATE`] per connection whose log holds an account's creation
/// and 20 commits of an 8,000-character record (~175 KiB of frames); returns how many events
/// its log holds.
async fn throttled_relay_with_big_records() -> (TestRelay, Server, usize) {
    let rate = THROTTLE_RATE.to_string();
    let relay = TestRelay::start(&[("RELAY_FIREHOSE_MAX_BYTES_PER_SECOND", rate.as_str())]).await;
    let server = Server::start(relay.app.clone()).await;
    let alice = create_account(&relay, "alice.test").await;
    let big = "t".repeat(8_000);
    for i in 0..20 {
        create_big_record(
            &relay,
            &alice,
            "com.example.big",
            &format!("k{i}"),
            "text",
            &big,
        )
        .await;
    }
    let head = crate::common::stored_head(&relay).await;
    assert_eq!(
        head - crate::common::first_seq(&relay).await,
        23,
        "24 events"
    );
    (relay, server, 24)
}

/// Checklist #180 (bandwidth throttling): a replay from `cursor=0` well over the burst arrives
/// whole and in order, but no faster than the limit allows: the last frame cannot leave before
/// (total - burst - last write) / rate. Pings from the client are answered while the throttle
/// holds the stream back. Only a lower bound on time is checked.
#[tokio::test]
async fn checklist_180_replay_is_throttled_in_order() {
    let (relay, server, events) = throttled_relay_with_big_records().await;
    let started = std::time::Instant::now();
    let mut ws = connect(&server, Some(0)).await;
    let (mut frames, mut total, mut largest) = (Vec::new(), 0usize, 0usize);
    let (mut pinged, mut pong_before_end) = (false, false);
    while frames.len() < events {
        let msg = tokio::time::timeout(WAIT, ws.0.next())
            .await
            .unwrap_or_else(|_| panic!("after {} frames: nothing for {WAIT:?}", frames.len()))
            .expect("stream open")
            .expect("message");
        match msg {
            Message::Binary(b) => {
                total += b.len();
                largest = largest.max(b.len());
                frames.push(decode_frame(&b).expect("frame per spec"));
                if frames.len() == 6 && !pinged {
                    ws.0.send(Message::Ping(b"throttled?".to_vec().into()))
                        .await
                        .expect("ping");
                    pinged = true;
                }
            }
            Message::Pong(p) if &p[..] == b"throttled?" => pong_before_end = true,
            Message::Close(c) => panic!("closed after {} frames: {c:?}", frames.len()),
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(
        kinds(&frames[..4]),
        ["#identity", "#account", "#commit", "#sync"]
    );
    assert!(kinds(&frames[4..]).iter().all(|k| *k == "#commit"));
    assert_eq!(
        frames[0].seq(),
        Some(crate::common::first_seq(&relay).await)
    );
    assert_consecutive(&frames);
    assert!(
        pong_before_end,
        "the client's ping is answered during the replay"
    );
    // Each write is at most an eighth of a second's worth or one frame.
    let last_write = largest.max(THROTTLE_RATE / 8);
    assert!(
        total > 4 * THROTTLE_RATE,
        "well over the burst: {total} bytes"
    );
    let floor = (total - THROTTLE_RATE - last_write) as f64 / THROTTLE_RATE as f64 - 0.1;
    println!(
        "checklist #180: {} frames, {total} bytes at {THROTTLE_RATE} B/s in {elapsed:?} \
         (floor {floor:.2} s)",
        frames.len()
    );
    assert!(
        elapsed.as_secs_f64() >= floor,
        "{total} bytes in {elapsed:?}: faster than {THROTTLE_RATE} B/s allows ({floor:.2} s)"
    );
    server.stop().await;
}

/// Checklist #180: while the throttle holds a replay back, a shutdown still closes the
/// connection (1001) at once instead of after the rest of the replay.
#[tokio::test]
async fn checklist_180_shutdown_while_throttled() {
    let (relay, server, events) = throttled_relay_with_big_records().await;
    let mut ws = connect(&server, Some(0)).await;
    // Past the burst: the server is now waiting between writes.
    let first = ws.frames(8).await;
    assert_consecutive(&first);
    relay.state.firehose().close();
    let mut more = 0;
    loop {
        match ws.next(WAIT).await {
            Got::Frame(f) => {
                assert!(f.op == 1, "no error frame on shutdown: {f:?}");
                more += 1;
            }
            Got::Closed(code) => {
                assert_eq!(code, Some(1001));
                break;
            }
            Got::Timeout => panic!("not closed after the shutdown"),
        }
    }
    assert!(
        8 + more < events,
        "closed before the replay ended ({more} frames after the shutdown)"
    );
    server.stop().await;
}

/// Checklist #180: `firehose_max_bytes_per_second` defaults to 8 MiB/s, is read from the
/// environment and the file, `0` turns it off, and values under 1 KiB/s are refused by name.
#[test]
fn checklist_180_bandwidth_option() {
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    let d = relay::Config::from_sources(None, env(&[])).unwrap();
    assert_eq!(d.firehose.max_bytes_per_second, 8 * 1024 * 1024);
    let var = "RELAY_FIREHOSE_MAX_BYTES_PER_SECOND";
    for (value, want) in [("0", 0), ("1024", 1024), ("32768", 32_768)] {
        let c = relay::Config::from_sources(None, env(&[(var, value)])).unwrap();
        assert_eq!(c.firehose.max_bytes_per_second, want, "{value}");
    }
    let c =
        relay::Config::from_sources(Some("firehose_max_bytes_per_second = 0"), env(&[])).unwrap();
    assert_eq!(c.firehose.max_bytes_per_second, 0);
    for value in ["1", "1023", "-5", "fast"] {
        let e = relay::Config::from_sources(None, env(&[(var, value)])).unwrap_err();
        assert!(
            e.to_string().contains("FIREHOSE_MAX_BYTES_PER_SECOND")
                || e.to_string().contains("firehose_max_bytes_per_second"),
            "{value}: {e}"
        );
    }
}

async fn latest_commit(relay: &TestRelay, did: &str) -> serde_json::Value {
    ok(crate::pds_flow::get(
        relay,
        &format!("com.atproto.sync.getLatestCommit?did={did}"),
        None,
    )
    .await)
}

/// Checklist #89: importing a repository into an account that is already active (a rebuild of
/// its own repository from a CAR) announces the new head with a `#sync`: its CAR holds only the
/// new commit, which is the head `getLatestCommit` reports, newer than the previous head, and
/// signed with the account's key; nothing else is emitted.
#[tokio::test]
async fn checklist_89_import_into_an_active_account_emits_sync() {
    let relay = TestRelay::start(&[]).await;
    let server = Server::start(relay.app.clone()).await;
    let alice = create_account(&relay, "alice.test").await;
    for i in 0..3 {
        write(
            &relay,
            &alice.access,
            "com.atproto.repo.createRecord",
            json!({"repo": alice.did, "collection": "app.bsky.feed.post",
                   "record": {"$type": "app.bsky.feed.post", "text": format!("post {i}"),
                              "createdAt": "2026-11-23T12:00:00.000Z"}}),
        )
        .await;
    }
    let before = latest_commit(&relay, &alice.did).await;
    let car = crate::pds_flow::get(
        &relay,
        &format!("com.atproto.sync.getRepo?did={}", alice.did),
        None,
    )
    .await;
    assert!(car.status.is_success());
    let mut live = connect(&server, Some(crate::common::stored_head(&relay).await)).await;

    let request = Request::post("/xrpc/com.atproto.repo.importRepo")
        .header("authorization", format!("Bearer {}", alice.access))
        .header("content-type", "application/vnd.ipld.car")
        .body(Body::from(car.body.to_vec()))
        .unwrap();
    let reply = send(&relay.app, request).await;
    assert!(reply.status.is_success(), "importRepo: {}", reply.status);

    let f = live.frames(1).await;
    assert_eq!(kinds(&f), ["#sync"], "checklist #89");
    let after = latest_commit(&relay, &alice.did).await;
    assert_eq!(f[0].str_field("did"), Some(alice.did.as_str()));
    assert_eq!(f[0].str_field("rev"), after["rev"].as_str());
    assert!(
        after["rev"].as_str() > before["rev"].as_str(),
        "the imported head is newer than the previous one"
    );
    let Value::Bytes(car) = &map(&f[0])["blocks"] else {
        panic!("blocks bytes")
    };
    let reader = repo::car::CarReader::new(car.as_slice()).expect("CAR");
    let head: Cid = after["cid"].as_str().expect("cid").parse().expect("cid");
    assert_eq!(
        reader.roots(),
        [head],
        "the #sync CAR's root is the new head"
    );
    let blocks: Vec<(Cid, Vec<u8>)> = reader.map(|b| b.expect("block")).collect();
    assert_eq!(blocks.len(), 1, "a #sync carries the commit block only");
    let commit = Commit::decode(&blocks[0].1).expect("commit");
    let key = Chains::default().key(&relay, &alice.did).await;
    commit.verify(&key).expect("signed with the account's key");
    live.quiet(Duration::from_millis(300)).await;
}

/// Checklist #86: a write whose `#commit` would carry more than 2,000,000 bytes of blocks is
/// refused with 400 `InvalidRequest` (the reference's message), not sent with `tooBig`: even
/// with the JSON body limit raised far enough to send 50 records of 60 KB in one
/// `applyWrites`, nothing is written and no event is emitted; 20 of them (1.2 MB) go through.
/// (The records differ: identical records would share one block.) A record over 1 MiB is
/// refused the same way.
#[tokio::test]
async fn checklist_86_commit_over_2mb_is_refused() {
    let relay = TestRelay::start(&[("RELAY_JSON_BODY_LIMIT", "8000000")]).await;
    let server = Server::start(relay.app.clone()).await;
    let alice = create_account(&relay, "alice.test").await;
    let big = "y".repeat(60_000);
    let writes = |n: usize, prefix: &str| -> serde_json::Value {
        let list: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                json!({"$type": "com.atproto.repo.applyWrites#create",
                       "collection": "com.example.big", "rkey": format!("{prefix}{i}"),
                       "value": {"$type": "com.example.big",
                                 "data": format!("{prefix}{i} {big}")}})
            })
            .collect();
        json!({"repo": alice.did, "writes": list})
    };
    let mut live = connect(&server, Some(crate::common::stored_head(&relay).await)).await;

    let body = refused_untouched(
        &relay,
        &alice,
        &mut live,
        "com.atproto.repo.applyWrites",
        writes(50, "a"),
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("Max event size"),
        "{body}"
    );

    write(
        &relay,
        &alice.access,
        "com.atproto.repo.applyWrites",
        writes(20, "b"),
    )
    .await;
    let f = live.frames(1).await;
    assert_eq!(kinds(&f), ["#commit"]);
    let Value::Bytes(car) = &map(&f[0])["blocks"] else {
        panic!("blocks bytes")
    };
    assert!(
        car.len() > 1_000_000 && car.len() <= 2_000_000,
        "{}",
        car.len()
    );

    // The 1 MiB record cap (`repo::MAX_RECORD_SIZE`), reachable with the body limit raised:
    // a record just over it is refused and writes nothing; one just under goes through.
    let record = |n: usize, rkey: &str| {
        json!({"repo": alice.did, "collection": "com.example.big", "rkey": rkey,
               "record": {"$type": "com.example.big", "data": "z".repeat(n)}})
    };
    refused_untouched(
        &relay,
        &alice,
        &mut live,
        "com.atproto.repo.createRecord",
        record(1_100_000, "over"),
    )
    .await;
    write(
        &relay,
        &alice.access,
        "com.atproto.repo.createRecord",
        record(1_000_000, "under"),
    )
    .await;
    assert_eq!(kinds(&live.frames(1).await), ["#commit"]);
}

/// Posts `body` to `nsid` as `account`: it must be refused with 400 `InvalidRequest`, leave
/// the repository head where it was and emit nothing on `live`. Returns the error body.
async fn refused_untouched(
    relay: &TestRelay,
    account: &crate::pds_flow::Account,
    live: &mut Ws,
    nsid: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let before = latest_commit(relay, &account.did).await;
    let reply = post(relay, nsid, Some(&account.access), body).await;
    reply.assert_xrpc_error(400, "InvalidRequest");
    assert_eq!(
        latest_commit(relay, &account.did).await,
        before,
        "nothing written"
    );
    live.quiet(Duration::from_millis(300)).await;
    serde_json::from_slice(&reply.body).expect("json")
}

/// `firehose_zero_copy` (default on): on Linux live frames are spooled and sent with
/// `sendfile` (so every other test here runs over that path); `false` turns it off. Either
/// way a live subscriber gets every frame, small and large (64-bit length header), in order
/// and per spec, with a cursor replay (from memory) in between.
#[tokio::test]
async fn zero_copy_option_and_both_send_paths() {
    for zero_copy in [true, false] {
        let value = zero_copy.to_string();
        let relay = TestRelay::start(&[("RELAY_FIREHOSE_ZERO_COPY", value.as_str())]).await;
        assert_eq!(relay.state.config().firehose.zero_copy, zero_copy);
        let hub = relay.state.firehose().start().await.expect("hub").clone();
        assert_eq!(
            hub.spooling(),
            zero_copy && cfg!(target_os = "linux"),
            "zero_copy {zero_copy}"
        );
        let server = Server::start(relay.app.clone()).await;
        let alice = create_account(&relay, "alice.test").await;
        let mut live = connect(&server, None).await;
        let big = "z".repeat(100_000);
        let mut seqs = Vec::new();
        for i in 0..6 {
            if i % 3 == 2 {
                create_big_record(
                    &relay,
                    &alice,
                    "com.example.big",
                    &format!("b{i}"),
                    "v",
                    &big,
                )
                .await;
            } else {
                create_big_record(
                    &relay,
                    &alice,
                    "com.example.small",
                    &format!("s{i}"),
                    "v",
                    "x",
                )
                .await;
            }
            let f = live.frames(1).await;
            assert_eq!(kinds(&f), ["#commit"], "zero_copy {zero_copy}");
            seqs.push(f[0].seq().expect("seq"));
        }
        let mut replay = connect(&server, Some(seqs[0])).await;
        let again = replay.frames(5).await;
        assert_consecutive(&again);
        assert_eq!(again[4].seq(), seqs.last().copied());
        create_big_record(&relay, &alice, "com.example.small", "last", "v", "y").await;
        let (a, b) = (live.frames(1).await, replay.frames(1).await);
        assert_eq!(a[0].seq(), b[0].seq());
        assert_eq!(a[0].seq(), Some(seqs[5] + 1));
        assert_eq!(hub.spooling(), zero_copy && cfg!(target_os = "linux"));
        server.stop().await;
    }
}
