//! Crash safety of the real `relay serve` binary (issue 4, "Prove it"): many concurrent
//! `createRecord` writers, then SIGKILL mid-write, then a restart on the same data directory.
//! After each of several kill/restart cycles, every acknowledged write must still be there
//! (`getRecord` with the same CID, counted by `listRecords`), `getRepo` must verify with the
//! account's `#atproto` key from its PLC DID document, `getLatestCommit` must name the same
//! commit as the CAR, and a new write must succeed. At the end, a firehose replay from cursor 0
//! must hold every acknowledged create, with an unbroken `since`/`rev` chain per repository.
//!
//! Only loopback is used; every spawned process is killed when its guard drops.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ACCOUNTS: usize = 4;
const WRITERS: usize = 16;
const CYCLES: usize = 3;
/// Kill after this long of writing, or after this many acknowledged writes, whichever is first.
const WRITE_TIME: Duration = Duration::from_millis(1500);
const MAX_ACKS_PER_CYCLE: usize = 400;
const COLLECTION: &str = "app.bsky.feed.post";

/// A spawned process, SIGKILLed and reaped when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

fn spawn(args: &[&str], env: &[(&str, String)], log: PathBuf) -> Proc {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("open log");
    let err = out.try_clone().expect("clone log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay"));
    cmd.args(args)
        .env_remove("RELAY_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc {
        child: cmd.spawn().expect("spawn relay"),
        log,
    }
}

/// Polls `url` until it answers 200 (60 s), failing early if the process exits.
async fn wait_http(proc: &mut Proc, url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = proc.child.try_wait().expect("try_wait") {
            panic!(
                "process exited ({status}) before {url} answered; log:\n{}",
                proc.log_tail()
            );
        }
        if let Ok(r) = client.get(url).timeout(Duration::from_secs(2)).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{url} did not answer within 60 s; log:\n{}",
        proc.log_tail()
    );
}

struct Stack {
    dir: PathBuf,
    plc_url: String,
    pds_port: u16,
    pds_url: String,
    _plc: Proc,
}

impl Stack {
    async fn start(dir: PathBuf) -> Stack {
        let plc_port = free_port();
        let plc_url = format!("http://127.0.0.1:{plc_port}");
        let mut plc = spawn(
            &[
                "plc",
                "serve",
                "--bind",
                "127.0.0.1",
                "--port",
                &plc_port.to_string(),
                "--data",
                dir.join("plc.jsonl").to_str().expect("utf-8 path"),
            ],
            &[],
            dir.join("plc.log"),
        );
        wait_http(&mut plc, &format!("{plc_url}/_health")).await;
        let mut pds_port = free_port();
        while pds_port == plc_port {
            pds_port = free_port();
        }
        Stack {
            pds_url: format!("http://127.0.0.1:{pds_port}"),
            dir,
            plc_url,
            pds_port,
            _plc: plc,
        }
    }

    /// Starts `relay serve` on the stack's data directory and waits for its health check.
    async fn serve(&self) -> Proc {
        let env = [
            (
                "RELAY_DATA_DIR",
                self.dir.join("data").to_string_lossy().into_owned(),
            ),
            ("RELAY_BIND", "127.0.0.1".to_owned()),
            ("RELAY_PORT", self.pds_port.to_string()),
            ("RELAY_HOSTNAME", "localhost".to_owned()),
            ("RELAY_PUBLIC_URL", self.pds_url.clone()),
            ("RELAY_SERVICE_HANDLE_DOMAINS", ".test".to_owned()),
            ("RELAY_PLC_URL", self.plc_url.clone()),
            ("RELAY_ALLOW_PRIVATE_OUTBOUND", "true".to_owned()),
            ("RELAY_APPVIEW_DID", String::new()),
        ];
        let mut proc = spawn(&["serve"], &env, self.dir.join("relay.log"));
        wait_http(&mut proc, &format!("{}/xrpc/_health", self.pds_url)).await;
        proc
    }
}

struct Account {
    did: String,
    handle: String,
    password: String,
    jwt: String,
    /// Every acknowledged write: rkey -> CID.
    acked: BTreeMap<String, String>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn post_json(client: &reqwest::Client, url: &str, jwt: Option<&str>, body: &Value) -> Value {
    let mut req = client.post(url).json(body);
    if let Some(jwt) = jwt {
        req = req.bearer_auth(jwt);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert!(status.is_success(), "POST {url}: {status} {text}");
    serde_json::from_str(&text).expect("JSON body")
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let resp = client.get(url).send().await.expect("send");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert!(status.is_success(), "GET {url}: {status} {text}");
    serde_json::from_str(&text).expect("JSON body")
}

fn post_record(i: usize) -> Value {
    json!({"$type": COLLECTION, "text": format!("crash test post {i}"), "createdAt": "2026-01-01T00:00:00.000Z"})
}

/// An acknowledged write: (rkey, record CID).
type Ack = (String, String);

/// Splits a createRecord answer into (rkey, cid).
fn ack_of(v: &Value) -> Ack {
    let uri = v["uri"].as_str().expect("uri");
    let rkey = uri.rsplit('/').next().expect("rkey").to_owned();
    (rkey, v["cid"].as_str().expect("cid").to_owned())
}

/// Runs the writers until the server is killed; returns the acknowledged writes per account.
async fn write_until_killed(
    pds_url: &str,
    jwts: &[String],
    dids: &[String],
    server: &mut Proc,
) -> Vec<Vec<Ack>> {
    let client = client();
    let acks: Arc<Vec<Mutex<Vec<Ack>>>> =
        Arc::new((0..ACCOUNTS).map(|_| Mutex::new(Vec::new())).collect());
    let total = Arc::new(AtomicUsize::new(0));
    let rejected = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let a = w % ACCOUNTS;
        let (client, acks, total, rejected, stop) = (
            client.clone(),
            acks.clone(),
            total.clone(),
            rejected.clone(),
            stop.clone(),
        );
        let url = format!("{pds_url}/xrpc/com.atproto.repo.createRecord");
        let (jwt, did) = (jwts[a].clone(), dids[a].clone());
        tasks.push(tokio::spawn(async move {
            // Bounded: a writer stops on its first transport error (the kill) or after 10k tries.
            for i in 0..10_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let body = json!({"repo": did, "collection": COLLECTION, "record": post_record(w * 100_000 + i)});
                let Ok(resp) = client.post(&url).bearer_auth(&jwt).json(&body).send().await
                else {
                    break;
                };
                if resp.status() != reqwest::StatusCode::OK {
                    rejected.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                // Only a fully received 200 answer counts as acknowledged.
                let Ok(v) = resp.json::<Value>().await else {
                    break;
                };
                acks[a].lock().expect("lock").push(ack_of(&v));
                total.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let start = Instant::now();
    while start.elapsed() < WRITE_TIME && total.load(Ordering::SeqCst) < MAX_ACKS_PER_CYCLE {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("writer finishes after the kill")
            .expect("writer task");
    }
    let rejected = rejected.load(Ordering::SeqCst);
    assert_eq!(
        rejected, 0,
        "non-200 answers to createRecord before the kill"
    );
    (0..ACCOUNTS)
        .map(|a| std::mem::take(&mut *acks[a].lock().expect("lock")))
        .collect()
}

/// Every durability check for one account after a restart.
async fn check_account(client: &reqwest::Client, stack: &Stack, acct: &Account) {
    let base = format!("{}/xrpc", stack.pds_url);
    let did = &acct.did;

    // Every acknowledged record is there with the same CID.
    for (rkey, cid) in &acct.acked {
        let url = format!(
            "{base}/com.atproto.repo.getRecord?repo={did}&collection={COLLECTION}&rkey={rkey}"
        );
        let resp = client.get(&url).send().await.expect("getRecord");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(
            status.is_success(),
            "acknowledged record {did}/{rkey} lost after SIGKILL: {status} {text}"
        );
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["cid"].as_str(), Some(cid.as_str()), "{did}/{rkey} CID");
    }

    // listRecords counts at least every acknowledged record (bounded pagination).
    let mut listed = 0usize;
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut url = format!(
            "{base}/com.atproto.repo.listRecords?repo={did}&collection={COLLECTION}&limit=100"
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let v = get_json(client, &url).await;
        let page = v["records"].as_array().expect("records");
        listed += page.len();
        cursor = v["cursor"].as_str().map(str::to_owned);
        if page.is_empty() || cursor.is_none() {
            break;
        }
    }
    assert!(
        listed >= acct.acked.len(),
        "{did}: listRecords has {listed}, {} acknowledged",
        acct.acked.len()
    );

    // getRepo verifies (structure, hashes, MST, signature with the PLC document's key).
    let doc_json = get_json(client, &format!("{}/{did}", stack.plc_url)).await;
    let did_parsed: syntax::Did = did.as_str().try_into().expect("did");
    let doc = identity::DidDocument::from_json_for(&did_parsed, &doc_json).expect("DID doc");
    let key = doc.signing_key().expect("#atproto key");
    let resp = client
        .get(format!("{base}/com.atproto.sync.getRepo?did={did}"))
        .send()
        .await
        .expect("getRepo");
    assert!(resp.status().is_success(), "getRepo: {}", resp.status());
    let car = resp.bytes().await.expect("CAR");
    let opts = repo::repo::VerifyOptions {
        key: Some(key),
        did: Some(did_parsed),
        ..Default::default()
    };
    let verified = repo::repo::verify_car(&car[..], &opts)
        .unwrap_or_else(|e| panic!("{did}: getRepo CAR does not verify after SIGKILL: {e}"));
    assert!(verified.signature_checked);
    let in_car = verified.collections.get(COLLECTION).copied().unwrap_or(0);
    assert!(
        in_car as usize >= acct.acked.len(),
        "{did}: CAR has {in_car} posts, {} acknowledged",
        acct.acked.len()
    );
    assert_eq!(in_car as usize, listed, "{did}: CAR vs listRecords");

    // The head the server reports is the commit in the CAR.
    let latest = get_json(
        client,
        &format!("{base}/com.atproto.sync.getLatestCommit?did={did}"),
    )
    .await;
    assert_eq!(
        latest["rev"].as_str(),
        Some(verified.rev().as_str()),
        "{did}: getLatestCommit rev vs CAR commit rev"
    );
    assert_eq!(
        latest["cid"].as_str(),
        Some(verified.commit_cid.to_string().as_str()),
        "{did}: getLatestCommit cid vs CAR root"
    );
}

/// Replays the whole firehose (`subscribeRepos?cursor=0`) and checks it has no gaps for the
/// acknowledged writes: seqs strictly increase; per repo, every `#commit`'s `since` is the
/// previous commit's `rev` (the first one's is null); the last rev is the one
/// `getLatestCommit` reports; and every acknowledged record appears as a `create` op with the
/// same CID.
async fn check_firehose(client: &reqwest::Client, stack: &Stack, accounts: &[Account]) {
    use data_model::Value as Cbor;
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let url = format!(
        "ws://127.0.0.1:{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0",
        stack.pds_port
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    let mut last_seq = 0i64;
    let mut frames = 0usize;
    // did -> last rev; did -> (path -> cid) of create ops.
    let mut revs: BTreeMap<String, String> = BTreeMap::new();
    let mut created: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    // Bounded: stop after 2 s of silence (caught up) or 100k frames.
    while frames < 100_000 {
        let msg = match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(m)) => m.expect("ws message"),
        };
        let Message::Binary(bytes) = msg else {
            continue;
        };
        frames += 1;
        let f = firehose::decode_frame(&bytes).expect("frame");
        assert_eq!(f.op, 1, "error frame on replay: {f:?}");
        let seq = f.seq().expect("seq");
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
        if f.t.as_deref() != Some("#commit") {
            continue;
        }
        let m = f.body.as_map().expect("body map");
        let repo = f.str_field("repo").expect("repo").to_owned();
        let rev = f.str_field("rev").expect("rev").to_owned();
        match (revs.get(&repo), m.get("since")) {
            (Some(prev), Some(Cbor::String(since))) => {
                assert_eq!(since, prev, "{repo}: firehose gap at seq {seq}");
            }
            (None, Some(Cbor::Null)) => {}
            (prev, since) => panic!("{repo}: since {since:?} after {prev:?} at seq {seq}"),
        }
        revs.insert(repo.clone(), rev);
        let Some(Cbor::List(ops)) = m.get("ops") else {
            panic!("ops list")
        };
        for op in ops {
            let o = op.as_map().expect("op map");
            if let (Some(Cbor::String(action)), Some(Cbor::String(path)), Some(Cbor::Link(cid))) =
                (o.get("action"), o.get("path"), o.get("cid"))
                && action == "create"
            {
                created
                    .entry(repo.clone())
                    .or_default()
                    .insert(path.clone(), cid.to_string());
            }
        }
    }
    println!("firehose replay: {frames} frames, last seq {last_seq}");
    for acct in accounts {
        let did = &acct.did;
        let latest = get_json(
            client,
            &format!(
                "{}/xrpc/com.atproto.sync.getLatestCommit?did={did}",
                stack.pds_url
            ),
        )
        .await;
        assert_eq!(
            revs.get(did).map(String::as_str),
            latest["rev"].as_str(),
            "{did}: last firehose commit vs getLatestCommit"
        );
        let creates = created.get(did).cloned().unwrap_or_default();
        for (rkey, cid) in &acct.acked {
            assert_eq!(
                creates.get(&format!("{COLLECTION}/{rkey}")),
                Some(cid),
                "{did}: acknowledged {rkey} missing from the firehose"
            );
        }
    }
}

/// checklist: crash safety (issue 4). SIGKILL during 16 concurrent writers, restart, 3 cycles.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_concurrent_writes_loses_no_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!(
        "relay-crash-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let stack = Stack::start(dir.clone()).await;
    let mut server = stack.serve().await;
    let base = format!("{}/xrpc", stack.pds_url);

    let c = client();
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        let handle = format!("crash{i}.test");
        let password = format!("crash-password-{i}");
        let v = post_json(
            &c,
            &format!("{base}/com.atproto.server.createAccount"),
            None,
            &json!({"handle": handle, "email": format!("crash{i}@example.com"), "password": password}),
        )
        .await;
        accounts.push(Account {
            did: v["did"].as_str().expect("did").to_owned(),
            handle,
            password,
            jwt: v["accessJwt"].as_str().expect("accessJwt").to_owned(),
            acked: BTreeMap::new(),
        });
    }

    for cycle in 0..CYCLES {
        let jwts: Vec<String> = accounts.iter().map(|a| a.jwt.clone()).collect();
        let dids: Vec<String> = accounts.iter().map(|a| a.did.clone()).collect();
        let acks = write_until_killed(&stack.pds_url, &jwts, &dids, &mut server).await;
        let cycle_acks: usize = acks.iter().map(Vec::len).sum();
        assert!(cycle_acks > 0, "cycle {cycle}: no write was acknowledged");
        for (acct, list) in accounts.iter_mut().zip(acks) {
            for (rkey, cid) in list {
                assert!(
                    acct.acked.insert(rkey.clone(), cid).is_none(),
                    "rkey {rkey} acknowledged twice"
                );
            }
        }
        println!("cycle {cycle}: {cycle_acks} acknowledged writes, then SIGKILL");

        server = stack.serve().await;
        let c = client();
        for acct in &mut accounts {
            check_account(&c, &stack, acct).await;
            // Log in again (the account survived) and write once more.
            let session = post_json(
                &c,
                &format!("{base}/com.atproto.server.createSession"),
                None,
                &json!({"identifier": acct.handle, "password": acct.password}),
            )
            .await;
            assert_eq!(session["did"].as_str(), Some(acct.did.as_str()));
            acct.jwt = session["accessJwt"].as_str().expect("accessJwt").to_owned();
            let v = post_json(
                &c,
                &format!("{base}/com.atproto.repo.createRecord"),
                Some(&acct.jwt),
                &json!({"repo": acct.did, "collection": COLLECTION, "record": post_record(cycle)}),
            )
            .await;
            let (rkey, cid) = ack_of(&v);
            acct.acked.insert(rkey, cid);
        }
    }
    // The final state (including the post-restart writes) checks out too.
    let c = client();
    for acct in &accounts {
        check_account(&c, &stack, acct).await;
    }
    check_firehose(&c, &stack, &accounts).await;
    let total: usize = accounts.iter().map(|a| a.acked.len()).sum();
    println!("{CYCLES} SIGKILL cycles, {total} acknowledged writes all present and verified");
    server.kill();
    drop(server);
    drop(stack);
    let _ = std::fs::remove_dir_all(&dir);
}
