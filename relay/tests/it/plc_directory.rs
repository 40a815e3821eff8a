//! The local PLC directory over HTTP with our client (checklist #106-#111, #113): genesis,
//! update, DID document, data, logs, audit log; invalid operations refused with a clear message
//! in the reference's `{"message"}` shape; tombstones; recovery forks; persistence across
//! restarts (including a torn last line).

use std::path::Path;
use std::sync::Arc;

use crypto::{Curve, Keypair};
use identity::{Operation, PlcFields, SignedOperation};
use relay::plc_directory::{self, PlcClient, PlcClientError, PlcDirectory};
use relay::ssrf::{OutboundPolicy, SafeClient};
use serde_json::Value;
use syntax::{Did, Handle};

use crate::common::{Server, temp_dir};

struct Account {
    recovery: Keypair,
    rotation: Keypair,
    signing: Keypair,
}

impl Account {
    fn new() -> Account {
        Account {
            recovery: Keypair::generate(Curve::K256),
            rotation: Keypair::generate(Curve::P256),
            signing: Keypair::generate(Curve::K256),
        }
    }

    fn fields(&self, handle: &str) -> PlcFields {
        PlcFields::atproto(
            vec![
                self.recovery.public_key().to_did_key(),
                self.rotation.public_key().to_did_key(),
            ],
            &self.signing.public_key(),
            &handle.parse::<Handle>().unwrap(),
            "https://pds.example.com",
        )
    }

    fn genesis(&self) -> (Did, SignedOperation) {
        let op = Operation::genesis(self.fields("alice.test")).sign(&self.rotation);
        (op.genesis_did().unwrap(), op)
    }
}

fn client(server: &Server) -> PlcClient {
    let http = SafeClient::new(OutboundPolicy {
        allow_private: true,
    })
    .unwrap();
    PlcClient::new(http, &server.url())
}

async fn start(directory: PlcDirectory) -> Server {
    Server::start(plc_directory::router(Arc::new(directory))).await
}

/// POSTs raw JSON and returns (status, body).
async fn post_raw(server: &Server, did: &str, body: String) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(format!("{}/{did}", server.url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn rejected(err: PlcClientError) -> String {
    match err {
        PlcClientError::Status { status, message } => {
            assert_eq!(status.as_u16(), 400, "{message}");
            message
        }
        other => panic!("expected a 400, got {other}"),
    }
}

#[tokio::test]
async fn genesis_update_document_and_logs() {
    let server = start(PlcDirectory::in_memory()).await;
    let plc = client(&server);
    let alice = Account::new();
    let (did, genesis) = alice.genesis();
    plc.submit(&did, &genesis).await.unwrap();

    // The DID document shows our signing key, handle and PDS.
    let reply = reqwest::get(format!("{}/{did}", server.url()))
        .await
        .unwrap();
    assert_eq!(
        reply.headers().get("content-type").unwrap(),
        "application/did+ld+json"
    );
    let doc: Value = reply.json().await.unwrap();
    assert_eq!(doc["id"], did.as_str());
    assert_eq!(doc["alsoKnownAs"][0], "at://alice.test");
    let signing_multibase = alice
        .signing
        .public_key()
        .to_did_key()
        .trim_start_matches("did:key:")
        .to_owned();
    assert_eq!(
        doc["verificationMethod"][0]["publicKeyMultibase"],
        signing_multibase
    );
    assert_eq!(
        doc["service"][0]["serviceEndpoint"],
        "https://pds.example.com"
    );
    assert_eq!(plc.document(&did).await.unwrap(), doc);

    // Update: new handle, signed by the PDS rotation key, prev = genesis CID.
    let update =
        Operation::update(alice.fields("alice2.test"), genesis.cid()).sign(&alice.rotation);
    plc.submit(&did, &update).await.unwrap();

    let data = plc.data(&did).await.unwrap();
    assert_eq!(data["did"], did.as_str());
    assert_eq!(data["alsoKnownAs"], serde_json::json!(["at://alice2.test"]));
    assert_eq!(
        data["rotationKeys"][1],
        alice.rotation.public_key().to_did_key()
    );

    let last = plc.last_operation(&did).await.unwrap();
    assert_eq!(last, update);

    let log: Value = reqwest::get(format!("{}/{did}/log", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        log,
        serde_json::json!([genesis.to_json(), update.to_json()])
    );

    let audit = plc.audit_log(&did).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].cid, genesis.cid());
    assert_eq!(audit[1].cid, update.cid());
    assert!(audit.iter().all(|e| !e.nullified));
    assert!(audit[0].created_at < audit[1].created_at);

    // The client's replay validation agrees.
    let verified = plc.verified_log(&did).await.unwrap();
    assert_eq!(verified.head().unwrap().cid, update.cid());
    server.stop().await;
}

#[tokio::test]
async fn invalid_operations_are_refused_with_a_clear_message() {
    let server = start(PlcDirectory::in_memory()).await;
    let plc = client(&server);
    let alice = Account::new();
    let (did, genesis) = alice.genesis();

    // Genesis submitted under another DID.
    let (other_did, _) = Account::new().genesis();
    let message = rejected(plc.submit(&other_did, &genesis).await.unwrap_err());
    assert!(message.contains("genesis operation derives"), "{message}");

    // Genesis signed by a key that is not one of its rotation keys.
    let forged = Operation::genesis(alice.fields("alice.test")).sign(&alice.signing);
    let forged_did = forged.genesis_did().unwrap();
    let message = rejected(plc.submit(&forged_did, &forged).await.unwrap_err());
    assert!(message.contains("signature"), "{message}");

    plc.submit(&did, &genesis).await.unwrap();

    // A second genesis for the same DID.
    let message = rejected(plc.submit(&did, &genesis).await.unwrap_err());
    assert!(message.contains("already exists"), "{message}");

    // An update signed by the repo signing key (not a rotation key).
    let update = Operation::update(alice.fields("bob.test"), genesis.cid()).sign(&alice.signing);
    let message = rejected(plc.submit(&did, &update).await.unwrap_err());
    assert!(message.contains("signature"), "{message}");

    // An update whose prev is unknown.
    let unrelated = Operation::genesis(Account::new().fields("x.test")).sign(&alice.rotation);
    let update = Operation::update(alice.fields("bob.test"), unrelated.cid()).sign(&alice.rotation);
    let message = rejected(plc.submit(&did, &update).await.unwrap_err());
    assert!(message.contains("prev"), "{message}");

    // Malformed bodies, in the reference's {"message"} shape.
    let (status, body) = post_raw(&server, did.as_str(), "{not json".to_owned()).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("invalid JSON"),
        "{body}"
    );
    let mut extra = genesis.to_json();
    extra["extra"] = Value::Bool(true);
    let (status, body) = post_raw(&server, did.as_str(), extra.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("extra"),
        "{body}"
    );
    let (status, body) = post_raw(
        &server,
        "did:web:example.com",
        genesis.to_json().to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("did:plc"),
        "{body}"
    );

    // Nothing above changed the log.
    assert_eq!(plc.audit_log(&did).await.unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn unknown_and_tombstoned_dids() {
    let server = start(PlcDirectory::in_memory()).await;
    let plc = client(&server);
    let alice = Account::new();
    let (did, genesis) = alice.genesis();

    for path in ["", "/data", "/log", "/log/audit", "/log/last"] {
        let reply = reqwest::get(format!("{}/{did}{path}", server.url()))
            .await
            .unwrap();
        assert_eq!(reply.status(), 404, "{path}");
        let body: Value = reply.json().await.unwrap();
        assert_eq!(
            body["message"],
            format!("DID not registered: {did}"),
            "{path}"
        );
    }
    assert!(matches!(
        plc.document(&did).await,
        Err(PlcClientError::NotFound(_))
    ));

    plc.submit(&did, &genesis).await.unwrap();
    let tombstone = Operation::tombstone(genesis.cid()).sign(&alice.rotation);
    plc.submit(&did, &tombstone).await.unwrap();

    let reply = reqwest::get(format!("{}/{did}", server.url()))
        .await
        .unwrap();
    assert_eq!(reply.status(), 404);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["message"], format!("DID not available: {did}"));
    assert_eq!(plc.last_operation(&did).await.unwrap(), tombstone);
    assert_eq!(plc.audit_log(&did).await.unwrap().len(), 2);

    // Nothing can follow a tombstone.
    let update =
        Operation::update(alice.fields("back.test"), tombstone.cid()).sign(&alice.rotation);
    let message = rejected(plc.submit(&did, &update).await.unwrap_err());
    assert!(message.contains("tombstone"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn recovery_fork_nullifies_the_overridden_operation() {
    // checklist #113: the recovery key (priority 0) overrides an op signed by the PDS key.
    let server = start(PlcDirectory::in_memory()).await;
    let plc = client(&server);
    let alice = Account::new();
    let (did, genesis) = alice.genesis();
    plc.submit(&did, &genesis).await.unwrap();
    let hijack = Operation::update(alice.fields("evil.test"), genesis.cid()).sign(&alice.rotation);
    plc.submit(&did, &hijack).await.unwrap();
    let recover =
        Operation::update(alice.fields("alice.test"), genesis.cid()).sign(&alice.recovery);
    plc.submit(&did, &recover).await.unwrap();

    let audit = plc.audit_log(&did).await.unwrap();
    let flags: Vec<bool> = audit.iter().map(|e| e.nullified).collect();
    assert_eq!(flags, vec![false, true, false]);
    let data = plc.data(&did).await.unwrap();
    assert_eq!(data["alsoKnownAs"], serde_json::json!(["at://alice.test"]));
    plc.verified_log(&did).await.unwrap();

    // The PDS key can no longer fork at genesis: the recovery key took authority there.
    let again = Operation::update(alice.fields("evil2.test"), genesis.cid()).sign(&alice.rotation);
    let message = rejected(plc.submit(&did, &again).await.unwrap_err());
    assert!(!message.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn export_lists_entries_as_json_lines() {
    let server = start(PlcDirectory::in_memory()).await;
    let plc = client(&server);
    let (alice, bob) = (Account::new(), Account::new());
    let (a_did, a_op) = alice.genesis();
    let (b_did, b_op) = bob.genesis();
    plc.submit(&a_did, &a_op).await.unwrap();
    plc.submit(&b_did, &b_op).await.unwrap();
    let reply = reqwest::get(format!("{}/export?count=1", server.url()))
        .await
        .unwrap();
    assert_eq!(
        reply.headers().get("content-type").unwrap(),
        "application/jsonlines"
    );
    let text = reply.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["did"], a_did.as_str());
    let reply = reqwest::get(format!("{}/export?count=0", server.url()))
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    server.stop().await;
}

async fn audit_json(directory: &PlcDirectory, did: &Did) -> Value {
    match directory.audit_log(did.as_str()).await {
        plc_directory::Lookup::Found(json) => json,
        other => panic!("no audit log: {other:?}"),
    }
}

#[tokio::test]
async fn file_store_survives_restart_and_torn_writes() {
    let dir = temp_dir("plc-store");
    let path = dir.join("plc.jsonl");
    let alice = Account::new();
    let (did, genesis) = alice.genesis();
    let hijack = Operation::update(alice.fields("evil.test"), genesis.cid()).sign(&alice.rotation);
    let recover =
        Operation::update(alice.fields("alice.test"), genesis.cid()).sign(&alice.recovery);

    let before = {
        let directory = PlcDirectory::open(&path).await.unwrap();
        for op in [&genesis, &hijack, &recover] {
            directory.submit(did.as_str(), &op.to_json()).await.unwrap();
        }
        audit_json(&directory, &did).await
    };
    assert_eq!(before[1]["nullified"], true);

    // Reopen: the replay recomputes nullification.
    let directory = PlcDirectory::open(&path).await.unwrap();
    assert_eq!(audit_json(&directory, &did).await, before);
    drop(directory);

    // A crash mid-write leaves a torn last line: it is dropped, and new writes still work.
    append(&path, "{\"did\":\"did:plc:tor");
    let directory = PlcDirectory::open(&path).await.unwrap();
    assert_eq!(audit_json(&directory, &did).await, before);
    let update =
        Operation::update(alice.fields("alice3.test"), recover.cid()).sign(&alice.rotation);
    directory
        .submit(did.as_str(), &update.to_json())
        .await
        .unwrap();
    drop(directory);
    let directory = PlcDirectory::open(&path).await.unwrap();
    assert_eq!(
        audit_json(&directory, &did).await.as_array().unwrap().len(),
        4
    );
    drop(directory);

    // A corrupt complete line is an error naming the line, never skipped.
    append(&path, "garbage\n");
    let err = PlcDirectory::open(&path).await.unwrap_err().to_string();
    assert!(err.contains("line 5"), "{err}");
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[tokio::test]
async fn client_refuses_private_directories_without_the_flag() {
    let server = start(PlcDirectory::in_memory()).await;
    let plc = PlcClient::new(
        SafeClient::new(OutboundPolicy::PUBLIC_ONLY).unwrap(),
        &server.url(),
    );
    let (did, _) = Account::new().genesis();
    assert!(matches!(
        plc.document(&did).await,
        Err(PlcClientError::Ssrf(_))
    ));
    server.stop().await;
}
