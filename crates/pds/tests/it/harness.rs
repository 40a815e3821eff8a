//! Test harness: builds a [`Pds`] over a fresh SQLite database in a temporary directory.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use data_model::Value;
use pds::{
    AuthContext, CreateAccount, ErrorKind, MemoryPlc, PasswordCost, Pds, PdsConfig, PdsDeps,
    RecordWriteResult, SecretKey,
};
use store::SqliteStore;
use syntax::{AtIdentifier, Did};

pub(crate) struct TestPds {
    pub(crate) pds: Arc<Pds>,
    pub(crate) plc: Arc<MemoryPlc>,
    pub(crate) store: SqliteStore,
    /// Every email the PDS sent.
    pub(crate) mailer: Arc<pds::mailer::MemoryMailer>,
    pub(crate) _dir: tempfile::TempDir,
}

fn catalog() -> Arc<lexicon::Catalog> {
    static CATALOG: OnceLock<Arc<lexicon::Catalog>> = OnceLock::new();
    CATALOG
        .get_or_init(|| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lexicons");
            Arc::new(lexicon::Catalog::from_dir(dir).expect("lexicons load"))
        })
        .clone()
}

pub(crate) async fn test_pds() -> TestPds {
    test_pds_with_plc(Arc::new(MemoryPlc::new())).await
}

/// A test PDS using a given PLC directory (several PDSes can share one, as in migrations).
pub(crate) async fn test_pds_with_plc(plc: Arc<MemoryPlc>) -> TestPds {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("pds.sqlite"))
        .await
        .expect("open store");
    let blob_dir = dir.path().join("blobs");
    std::fs::create_dir_all(&blob_dir).expect("blob dir");
    let blob_store = Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(&blob_dir).expect("object store"),
    );
    let mut config = PdsConfig::new(
        "did:web:pds.test".parse().expect("did"),
        "https://pds.test",
        vec![".test".to_owned()],
        SecretKey::generate(),
        crypto::Keypair::generate(crypto::Curve::K256),
    );
    config.password_cost = PasswordCost::InsecureFastForTests;
    config.blob_upload_limit = 1024 * 1024;
    let mut deps = PdsDeps::from_store(Arc::new(store.clone()), blob_store, catalog(), plc.clone());
    let mailer = Arc::new(pds::mailer::MemoryMailer::new());
    deps.mailer = mailer.clone();
    TestPds {
        pds: Arc::new(Pds::new(config, deps)),
        plc,
        store,
        mailer,
        _dir: dir,
    }
}

/// An account created through `createAccount` with password "password".
pub(crate) struct TestAccount {
    pub(crate) did: Did,
    pub(crate) auth: AuthContext,
    pub(crate) access_jwt: String,
    pub(crate) refresh_jwt: String,
}

impl TestAccount {
    pub(crate) fn repo(&self) -> AtIdentifier {
        AtIdentifier::from(self.did.clone())
    }
}

pub(crate) async fn create_account(t: &TestPds, name: &str) -> TestAccount {
    let handle = format!("{name}.test");
    let created = t
        .pds
        .create_account(CreateAccount {
            handle: handle.clone(),
            email: Some(format!("{name}@example.com")),
            password: Some("password".to_owned()),
            ..CreateAccount::default()
        })
        .await
        .expect("create account");
    let auth = t
        .pds
        .verify_access_token(&created.access_jwt)
        .expect("access token verifies");
    TestAccount {
        did: created.did,
        auth,
        access_jwt: created.access_jwt,
        refresh_jwt: created.refresh_jwt,
    }
}

pub(crate) fn nsid(s: &str) -> syntax::Nsid {
    s.parse().expect("nsid")
}

pub(crate) fn rkey(s: &str) -> syntax::RecordKey {
    s.parse().expect("rkey")
}

/// A valid `app.bsky.feed.post`.
pub(crate) fn post(text: &str) -> Value {
    json_value(serde_json::json!({
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2026-11-23T12:00:00.000Z",
    }))
}

/// Creates a [`post`] with `text` in `account`'s repo (server-chosen rkey, no swap, default
/// validation).
pub(crate) async fn create_post(
    pds: &Pds,
    account: &TestAccount,
    text: &str,
) -> pds::Result<RecordWriteResult> {
    pds.create_record(
        &account.auth,
        account.repo(),
        nsid("app.bsky.feed.post"),
        None,
        post(text),
        None,
        None,
    )
    .await
}

/// Asserts that `result` is an error of `kind`; `what` names the case in the panic message.
#[track_caller]
pub(crate) fn expect_kind<T: std::fmt::Debug>(result: pds::Result<T>, kind: ErrorKind, what: &str) {
    assert_eq!(result.expect_err(what).kind(), kind, "{what}");
}

pub(crate) fn json_value(j: serde_json::Value) -> Value {
    data_model::json::from_json(&j).expect("atproto json")
}

pub(crate) fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}
