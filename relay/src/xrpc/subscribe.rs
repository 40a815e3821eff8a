//! `com.atproto.sync.subscribeRepos`: the firehose over WebSocket (checklist H).
//!
//! The HTTP side: `GET` with `Upgrade: websocket` is upgraded; other methods get
//! `405 InvalidRequest`, a `GET` without the upgrade `426 InvalidRequest`, and a non-integer
//! `cursor` `400 InvalidRequest`, all as XRPC JSON (checklist #70). Past
//! `firehose_max_subscribers` open connections, a new one gets `503 TooManySubscribers` with
//! `Retry-After` before any upgrade (#180).
//!
//! The WebSocket side: every frame the [`firehose::Subscription`] yields is sent as one binary
//! message. Cursor errors (`FutureCursor`) and `ConsumerTooSlow` are sent as error frames and
//! followed by a close (#73, #77, #80). Frames from the client are read and ignored (#74); any
//! of them (pongs included) counts as a sign of life. A ping goes out every `ping_interval`; a
//! client silent for `idle_timeout`, or whose socket does not take a batch within
//! `send_timeout`, is disconnected.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use futures::SinkExt;
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::server::AppState;

/// The route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/xrpc/com.atproto.sync.subscribeRepos",
        any(subscribe_repos),
    )
}

/// Largest message accepted from a client (clients have nothing to say; frames are ignored).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Read buffer per connection.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes buffered per connection before they are written to the socket (a batch is flushed
/// at its end in any case). Large enough that a typical batch (the hub spaces pushes up to
/// 25 ms apart when many subscribers are connected: some tens of ~2 KiB frames at 1,000
/// events/s) goes out in one `send`, since the kernel's cost per `send` on a socket is most of
/// the cost of a frame; small enough to bound memory (the buffer keeps its largest size, so
/// a connection holds at most this plus one frame).
const WRITE_BUFFER: usize = 64 * 1024;
/// How long the final error or close frame may take to send.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Params {
    cursor: Option<String>,
}

async fn subscribe_repos(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Query(params): Query<Params>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if method != Method::GET {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "InvalidRequest",
            format!("Incorrect HTTP method ({method}) expected GET"),
        )
        .with_header(header::ALLOW, HeaderValue::from_static("GET"))
        .into_response();
    }
    let cursor = match params.cursor.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => match c.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return ApiError::invalid_request("cursor must be an integer").into_response();
            }
        },
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            let wants_upgrade = headers
                .get(header::UPGRADE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            let status = if wants_upgrade {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UPGRADE_REQUIRED
            };
            return ApiError::new(
                status,
                "InvalidRequest",
                format!("com.atproto.sync.subscribeRepos is a WebSocket endpoint: {rejection}"),
            )
            .with_header(header::UPGRADE, HeaderValue::from_static("websocket"))
            .into_response();
        }
    };
    // A cap on connections (checklist #180): the permit lives as long as the connection.
    let Some(permit) = state.subscriber_permit() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TooManySubscribers",
            "The firehose has as many subscribers as it allows; retry later",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("60"))
        .into_response();
    };
    // Bounded per-connection buffers (tungstenite's defaults are 128 KiB each way): clients
    // send next to nothing, and a batch is flushed as soon as it is queued.
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "subscribeRepos upgrade failed"))
        .on_upgrade(move |socket| async move {
            stream(socket, state, cursor).await;
            drop(permit);
        })
}

/// Sends one message, bounded by `limit`; `false` if the client is gone or too slow.
async fn send(socket: &mut WebSocket, msg: Message, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = send(socket, Message::Close(Some(frame)), CLOSE_TIMEOUT).await;
}

/// Writes a batch of frames: every frame is queued (`feed`, which only copies it into the
/// connection's write buffer until that is full), then one flush, so a batch usually costs one
/// `send` on the socket. The frames themselves are shared (`Bytes`) with every other
/// subscriber; nothing is allocated per frame.
async fn write_batch(socket: &mut WebSocket, out: &mut Vec<Bytes>) -> Result<(), axum::Error> {
    for frame in out.drain(..) {
        socket.feed(Message::Binary(frame)).await?;
    }
    socket.flush().await
}

/// One subscriber's connection: one task, no split. The loop waits for whichever comes first:
/// a message from the client (ignored, but a sign of life; cancel-safe), the ping tick, or
/// the next batch of frames.
async fn stream(mut socket: WebSocket, state: AppState, cursor: Option<i64>) {
    let settings = state.config().firehose.clone();
    let mut sub = match state.firehose().subscribe(cursor).await {
        Ok(sub) => sub,
        Err(e) => {
            if matches!(e, firehose::SubscribeError::Store(_)) {
                tracing::error!(error = %e, "subscribeRepos cannot start");
            }
            let _ = send(&mut socket, Message::Binary(e.frame()), CLOSE_TIMEOUT).await;
            close(&mut socket, 1000, "").await;
            return;
        }
    };

    let mut seen = Instant::now();
    let mut ping = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out: Vec<Bytes> = Vec::new();
    loop {
        tokio::select! {
            biased;
            msg = socket.recv() => match msg {
                // The client closed (tungstenite answers the close) or the socket failed.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => seen = Instant::now(),
            },
            _ = ping.tick() => {
                if seen.elapsed() > settings.idle_timeout {
                    close(&mut socket, 1001, "idle timeout").await;
                    break;
                }
                if !send(&mut socket, Message::Ping(Bytes::new()), settings.send_timeout).await {
                    break;
                }
            }
            next = sub.next_batch(&mut out) => match next {
                Ok(()) => {
                    let sent =
                        tokio::time::timeout(settings.send_timeout, write_batch(&mut socket, &mut out))
                            .await;
                    if !matches!(sent, Ok(Ok(()))) {
                        tracing::debug!("subscribeRepos client too slow to take a batch or gone");
                        break;
                    }
                }
                Err(closed) => {
                    if let firehose::Closed::Store(e) = &closed {
                        tracing::error!(error = %e, "subscribeRepos cannot read the sequencer log");
                    }
                    if let Some(frame) = closed.frame() {
                        let _ = send(&mut socket, Message::Binary(frame), CLOSE_TIMEOUT).await;
                    }
                    close(&mut socket, if matches!(closed, firehose::Closed::Shutdown) { 1001 } else { 1000 }, "").await;
                    break;
                }
            },
        }
    }
}
