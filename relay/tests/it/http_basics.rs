//! HTTP basics of the app (checklist #124, #126, #127, #133): `/xrpc/_health`, CORS preflight
//! and exposed headers, `501 MethodNotImplemented` for unknown methods, `400` for invalid NSIDs
//! and wrong HTTP methods, `413` as XRPC JSON, extractor rejections, 5xx bodies without details,
//! and a real server with graceful shutdown.

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use relay::ApiError;
use relay::xrpc::{XrpcJson, XrpcQuery};
use serde::Deserialize;

use crate::common::{Server, get, post_json, send, test_app};

#[tokio::test]
async fn health_reports_version() {
    let relay = test_app(&[]).await;
    let app = &relay.app;
    let reply = send(app, get("/xrpc/_health")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        serde_json::json!({ "version": relay::VERSION })
    );
}

#[tokio::test]
async fn cors_preflight_allows_atproto_headers() {
    // checklist #133
    let relay = test_app(&[]).await;
    let app = &relay.app;
    let requested = "authorization,content-type,atproto-proxy,atproto-accept-labelers,dpop";
    let request = Request::builder()
        .method("OPTIONS")
        .uri("/xrpc/com.atproto.server.createSession")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", requested)
        .body(Body::empty())
        .unwrap();
    let reply = send(app, request).await;
    assert!(reply.status.is_success(), "status {}", reply.status);
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("missing {name}"))
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
    };
    assert_eq!(header("access-control-allow-origin"), "*");
    assert!(header("access-control-allow-methods").contains("post"));
    let allowed = header("access-control-allow-headers");
    for h in relay::server::ATPROTO_REQUEST_HEADERS {
        assert!(allowed.contains(h), "{h} not in {allowed}");
    }
}

#[tokio::test]
async fn cors_simple_request_exposes_auth_headers() {
    let relay = test_app(&[]).await;
    let app = &relay.app;
    let request = Request::get("/xrpc/_health")
        .header("origin", "https://app.example.com")
        .body(Body::empty())
        .unwrap();
    let reply = send(app, request).await;
    assert_eq!(
        reply.headers.get("access-control-allow-origin").unwrap(),
        "*"
    );
    let exposed = reply
        .headers
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in ["dpop-nonce", "www-authenticate", "atproto-repo-rev"] {
        assert!(exposed.contains(h), "{h} not in {exposed}");
    }
}

#[tokio::test]
async fn unknown_methods_are_not_implemented() {
    // checklist #124: an unknown NSID gets 501 MethodNotImplemented (no proxy target yet).
    let relay = test_app(&[]).await;
    let app = &relay.app;
    for request in [
        get("/xrpc/com.example.unknown.method"),
        get("/xrpc/com.example.unknown.method?x=1&x=2"),
        post_json("/xrpc/com.example.unknown.procedure", "{}"),
    ] {
        send(app, request)
            .await
            .assert_xrpc_error(501, "MethodNotImplemented");
    }
}

#[tokio::test]
async fn invalid_xrpc_paths_are_invalid_requests() {
    let relay = test_app(&[]).await;
    let app = &relay.app;
    for path in [
        "/xrpc/not-an-nsid",
        "/xrpc/com.example",
        "/xrpc/com.example.method/extra",
        "/xrpc/com..example.method",
    ] {
        let message = send(app, get(path))
            .await
            .assert_xrpc_error(400, "InvalidRequest");
        assert_eq!(message, "invalid xrpc path", "{path}");
    }
}

#[tokio::test]
async fn non_xrpc_paths_are_not_found_as_json() {
    let relay = test_app(&[]).await;
    let app = &relay.app;
    send(app, get("/nothing/here"))
        .await
        .assert_xrpc_error(404, "NotFound");
}

#[tokio::test]
async fn oversized_bodies_get_413_as_xrpc_json() {
    // The catch-all (and blob routes) use the blob limit; set it small.
    let relay = test_app(&[("RELAY_BLOB_UPLOAD_LIMIT", "1000")]).await;
    let app = &relay.app;
    let request = Request::post("/xrpc/com.example.upload")
        .header("content-type", "application/octet-stream")
        .header("content-length", "5000")
        .body(Body::from(vec![0u8; 5000]))
        .unwrap();
    send(app, request)
        .await
        .assert_xrpc_error(413, "PayloadTooLarge");
}

/// A small app over the XRPC helpers, for behaviour no real method exercises yet.
async fn helper_app() -> Router {
    #[derive(Deserialize)]
    struct Params {
        did: String,
        #[serde(default)]
        cids: Vec<String>,
        reverse: Option<bool>,
    }
    async fn echo_query(XrpcQuery(p): XrpcQuery<Params>) -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({ "did": p.did, "cids": p.cids, "reverse": p.reverse }))
    }
    async fn echo_body(XrpcJson(v): XrpcJson<serde_json::Value>) -> axum::Json<serde_json::Value> {
        axum::Json(v)
    }
    async fn fail() -> Result<(), ApiError> {
        Err(ApiError::internal(std::io::Error::other(
            "disk /secret/path exploded",
        )))
    }
    let state = test_app(&[]).await.state;
    Router::new()
        .route("/xrpc/com.example.query", relay::xrpc::query(echo_query))
        .route(
            "/xrpc/com.example.procedure",
            relay::xrpc::procedure(echo_body),
        )
        .route("/xrpc/com.example.fail", relay::xrpc::query(fail))
        .layer(DefaultBodyLimit::max(100))
        .with_state(state)
}

#[tokio::test]
async fn wrong_http_method_is_an_invalid_request() {
    // checklist #124 (REF xrpc-server: 400 "Incorrect HTTP method")
    let app = &helper_app().await;
    let message = send(app, post_json("/xrpc/com.example.query", "{}"))
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    assert_eq!(message, "Incorrect HTTP method (POST) expected GET");
    let message = send(app, get("/xrpc/com.example.procedure"))
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    assert_eq!(message, "Incorrect HTTP method (GET) expected POST");
}

#[tokio::test]
async fn query_params_repeat_for_arrays_and_parse_booleans() {
    // checklist #125
    let app = &helper_app().await;
    let reply = send(
        app,
        get("/xrpc/com.example.query?did=did:plc:abc&cids=a&cids=b&reverse=true"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        serde_json::json!({ "did": "did:plc:abc", "cids": ["a", "b"], "reverse": true })
    );
    send(app, get("/xrpc/com.example.query?cids=a"))
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    send(app, get("/xrpc/com.example.query?did=x&reverse=yes"))
        .await
        .assert_xrpc_error(400, "InvalidRequest");
}

#[tokio::test]
async fn bad_json_bodies_are_invalid_requests() {
    let app = &helper_app().await;
    let reply = send(app, post_json("/xrpc/com.example.procedure", r#"{"a":1}"#)).await;
    assert_eq!(reply.json(), serde_json::json!({ "a": 1 }));
    let message = send(app, post_json("/xrpc/com.example.procedure", "{not json"))
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    assert!(message.starts_with("Invalid JSON"), "{message}");
    let no_type = Request::post("/xrpc/com.example.procedure")
        .body(Body::from("{}"))
        .unwrap();
    let message = send(app, no_type)
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    assert!(message.contains("Content-Type"), "{message}");
    let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(500));
    send(app, post_json("/xrpc/com.example.procedure", big))
        .await
        .assert_xrpc_error(413, "PayloadTooLarge");
}

#[tokio::test]
async fn internal_errors_hide_their_details() {
    let app = &helper_app().await;
    let reply = send(app, get("/xrpc/com.example.fail")).await;
    let message = reply.assert_xrpc_error(500, "InternalServerError");
    assert_eq!(message, "Internal Server Error");
    assert!(!String::from_utf8_lossy(&reply.body).contains("secret"));
}

#[test]
fn unauthorized_errors_carry_www_authenticate() {
    // checklist #127
    use axum::response::IntoResponse;
    let response = ApiError::auth_missing().into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn real_server_serves_and_shuts_down_gracefully() {
    let relay = test_app(&[]).await;
    let server = Server::start(relay.app.clone()).await;
    let client = reqwest::Client::new();
    let reply = client
        .get(format!("{}/xrpc/_health", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["version"], relay::VERSION);
    let reply = client
        .get(format!("{}/xrpc/com.example.nope", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 501);
    server.stop().await;
}

/// Sends `head` then `body` on a fresh connection to `server`, half-closes it and returns
/// everything the server sent back.
async fn raw_exchange(server: &Server, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("head");
    tcp.write_all(body).await.expect("body");
    tcp.shutdown().await.expect("half-close");
    let mut out = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut out),
    )
    .await
    .expect("the server answers and closes")
    .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn checklist_172_upload_blob_with_a_wrong_content_length() {
    let relay = test_app(&[]).await;
    let alice = crate::pds_flow::create_account(&relay, "alice.test").await;
    let server = Server::start(relay.app.clone()).await;
    let head = |len: usize| {
        format!(
            "POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {len}\r\n\r\n",
            alice.access
        )
    };
    let data = [7u8; 100];

    // Declared 100, 50 sent, then the client stops sending: 400, nothing stored.
    let reply = raw_exchange(&server, &head(100), &data[..50]).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("\"error\":\"InvalidRequest\""), "{reply}");

    // Declared 10, 100 sent: HTTP/1.1 framing makes the body the declared 10 bytes (what a
    // server can know), and the other 90 are not a request: the answer to them is a 400 and
    // the connection is closed.
    let reply = raw_exchange(&server, &head(10), &data).await;
    let mut answers = reply.split("HTTP/1.1 ").skip(1);
    let first = answers.next().expect("an answer to the upload");
    assert!(first.starts_with("200"), "{reply}");
    assert!(
        first.contains("\"size\":10"),
        "the blob is the declared bytes: {reply}"
    );
    let second = answers.next().expect("an answer to the trailing bytes");
    assert!(second.starts_with("400"), "{reply}");
    server.stop().await;
}
