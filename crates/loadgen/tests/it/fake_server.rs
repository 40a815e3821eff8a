//! An in-process fake XRPC server (axum, 127.0.0.1, any port) with just enough of
//! createAccount, createRecord, applyWrites and getRepo for the workloads; it can fail every
//! n-th createRecord and serve a truncated repo, to test error counting and CAR checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// Counters and switches shared with the tests.
#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) accounts: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) create_calls: AtomicU64,
    pub(crate) apply_calls: AtomicU64,
    /// Fail every n-th createRecord with a 500 (0: never).
    pub(crate) fail_every: AtomicU64,
    /// Serve a repo with fewer blocks than records.
    pub(crate) short_repo: AtomicBool,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer tok-"))
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "AuthenticationRequired", "message": "no token"})),
    )
}

async fn create_account(
    State(f): State<Arc<Fake>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let n = f.accounts.fetch_add(1, Ordering::SeqCst);
    let handle = body["handle"].as_str().unwrap_or_default().to_owned();
    (
        StatusCode::OK,
        Json(
            json!({"did": format!("did:plc:fake{n}"), "handle": handle, "accessJwt": format!("tok-{n}"), "refreshJwt": "r"}),
        ),
    )
}

async fn create_record(
    State(f): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    let n = f.create_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let every = f.fail_every.load(Ordering::SeqCst);
    if every > 0 && n % every == 0 {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "InternalServerError", "message": "injected"})),
        );
    }
    if body["record"]["$type"] != "app.bsky.feed.post" || body["record"]["createdAt"].is_null() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "InvalidRecord", "message": "not a post"})),
        );
    }
    f.records.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::OK,
        Json(json!({"uri": "at://did:plc:fake/app.bsky.feed.post/x", "cid": "bafy"})),
    )
}

async fn apply_writes(
    State(f): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    f.apply_calls.fetch_add(1, Ordering::SeqCst);
    let writes = body["writes"].as_array().cloned().unwrap_or_default();
    if writes.is_empty() || writes.len() > 200 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "InvalidRequest", "message": "1-200 writes"})),
        );
    }
    f.records.fetch_add(writes.len() as u64, Ordering::SeqCst);
    (StatusCode::OK, Json(json!({})))
}

async fn get_repo(State(f): State<Arc<Fake>>) -> Vec<u8> {
    let mut blocks = f.records.load(Ordering::SeqCst) + 1;
    if f.short_repo.load(Ordering::SeqCst) {
        blocks /= 2;
    }
    let mut car = vec![4u8, b'h', b'e', b'a', b'd'];
    for _ in 0..blocks {
        car.push(36);
        car.extend_from_slice(&[7u8; 36]);
    }
    car
}

/// Starts the fake server; returns its base URL and shared state.
pub(crate) async fn start() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route(
            "/xrpc/_health",
            get(|| async { Json(json!({"version": "fake"})) }),
        )
        .route(
            "/xrpc/com.atproto.server.createAccount",
            post(create_account),
        )
        .route("/xrpc/com.atproto.repo.createRecord", post(create_record))
        .route("/xrpc/com.atproto.repo.applyWrites", post(apply_writes))
        .route("/xrpc/com.atproto.sync.getRepo", get(get_repo))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake server");
    });
    (format!("http://{addr}"), fake)
}
