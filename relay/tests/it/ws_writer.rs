//! The hand-made WebSocket (`relay::ws`) against a real client: a tokio-tungstenite client
//! receives a batch of many frames of mixed sizes byte-exact (its ping answered first, the
//! close at the end), and the `subscribeRepos` handshake over real HTTP: the 101 answer
//! (accept key, no extension even when offered) and the 400s for upgrades RFC 6455 refuses
//! (checklist #70, #81).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use relay::ws::{Incoming, check_upgrade, upgrade};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Server, TestRelay, send};

const WAIT: Duration = Duration::from_secs(10);

/// Frames of every header size (7-, 16- and 64-bit lengths and their boundaries), a frame at
/// the 5 MB firehose limit (checklist #81), and a thousand small ones (more slices than one
/// vectored write takes); every frame's bytes distinct.
fn mixed_frames() -> Vec<Bytes> {
    let mut sizes = vec![0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20, 5_000_000];
    sizes.extend((0..1000).map(|i| (i * 131) % 3000));
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| Bytes::from((0..n).map(|j| (i * 31 + j * 7) as u8).collect::<Vec<u8>>()))
        .collect()
}

/// A server that waits for one client frame (a ping, answered), writes `frames` as one batch,
/// closes with 1000 and waits for the client's close.
async fn batch_server(frames: Vec<Bytes>) -> Server {
    let app = Router::new().route(
        "/ws",
        get(move |mut request: Request| async move {
            let accept = match check_upgrade(request.method(), request.version(), request.headers())
            {
                Ok(accept) => accept,
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            };
            let (response, socket): (Response<Body>, _) =
                upgrade(&mut request, accept).expect("upgradable");
            tokio::spawn(async move {
                let mut ws = socket.await.expect("upgraded");
                assert_eq!(ws.next().await.expect("ping"), Incoming::Alive);
                ws.write_binary_batch(&frames).await.expect("batch");
                ws.write_close(1000, "done").await.expect("close");
                // The client's close reply.
                let _ = tokio::time::timeout(WAIT, ws.next()).await;
            });
            response
        }),
    );
    Server::start(app).await
}

#[tokio::test]
async fn tungstenite_client_gets_a_mixed_batch_byte_exact() {
    let frames = mixed_frames();
    let server = batch_server(frames.clone()).await;
    let (mut client, resp) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .expect("handshake (tungstenite checks Sec-WebSocket-Accept)");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    client
        .send(Message::Ping(Bytes::from_static(b"first")))
        .await
        .expect("ping");
    let mut got = Vec::new();
    let close = loop {
        match tokio::time::timeout(WAIT, client.next()).await {
            Ok(Some(Ok(Message::Pong(p)))) => {
                assert_eq!(&p[..], b"first");
                assert!(got.is_empty(), "the pong comes before the batch");
            }
            Ok(Some(Ok(Message::Binary(b)))) => got.push(b),
            Ok(Some(Ok(Message::Close(c)))) => break c,
            other => panic!("after {} frames: {other:?}", got.len()),
        }
    };
    assert_eq!(got.len(), frames.len());
    for (i, (g, f)) in got.iter().zip(&frames).enumerate() {
        assert!(g == f, "frame {i} ({} bytes) differs", f.len());
    }
    let close = close.expect("close frame with a code");
    assert_eq!(u16::from(close.code), 1000);
    assert_eq!(close.reason.as_str(), "done");
    println!("mixed batch: {} frames", frames.len());
    server.stop().await;
}

/// Sends a raw HTTP/1.1 request and returns the response head (up to the blank line).
async fn raw_request(server: &Server, head: &str) -> String {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut byte))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    String::from_utf8(buf)
        .expect("ASCII head")
        .to_ascii_lowercase()
}

fn subscribe_request(extra: &str) -> String {
    format!(
        "GET /xrpc/com.atproto.sync.subscribeRepos HTTP/1.1\r\nHost: localhost\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
    )
}

/// Checklist #70: the 101 answer carries the accept key of RFC 6455's example and no
/// extension even when permessage-deflate is offered; upgrades RFC 6455 refuses get 400
/// `InvalidRequest` (with `Sec-WebSocket-Version: 13` for a wrong version).
#[tokio::test]
async fn subscribe_repos_handshake() {
    let relay = TestRelay::start(&[]).await;
    let server = Server::start(relay.app.clone()).await;
    let head = raw_request(
        &server,
        &subscribe_request(
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
             Sec-WebSocket-Protocol: chat\r\n",
        ),
    )
    .await;
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{head}"
    );
    assert!(head.contains("upgrade: websocket\r\n"), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    assert!(!head.contains("sec-websocket-protocol"), "{head}");

    let refused = [
        (
            "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            true,
        ),
        (
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n",
            false,
        ),
        ("Sec-WebSocket-Version: 13\r\n", false),
    ];
    for (extra, version_hint) in refused {
        let head = raw_request(&server, &subscribe_request(extra)).await;
        assert!(head.starts_with("http/1.1 400 "), "{extra}: {head}");
        assert!(head.contains("application/json"), "{extra}: {head}");
        assert_eq!(
            head.contains("sec-websocket-version: 13\r\n"),
            version_hint,
            "{head}"
        );
    }
    // A valid upgrade on something that is not a connection (oneshot): 400, as before.
    let r = send(
        &relay.app,
        axum::http::Request::builder()
            .method(Method::GET)
            .uri("/xrpc/com.atproto.sync.subscribeRepos")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    r.assert_xrpc_error(400, "InvalidRequest");
    println!("handshake: 1 accepted, {} refused cases", refused.len() + 1);
    server.stop().await;
}
