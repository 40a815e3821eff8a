//! `com.atproto.sync.subscribeRepos`: the firehose over WebSocket (checklist H).
//!
//! The HTTP side: `GET` with `Upgrade: websocket` is upgraded here, by hand
//! ([`crate::ws::check_upgrade`], [`crate::ws::upgrade`]: RFC 6455 checks, no extension, no
//! subprotocol); other methods get `405 InvalidRequest`, a `GET` without the upgrade
//! `426 InvalidRequest`, an upgrade RFC 6455 does not allow (or a connection that cannot be
//! upgraded) and a non-integer `cursor` `400 InvalidRequest`, all as XRPC JSON (checklist
//! #70). Past `firehose_max_subscribers` open connections, a new one gets
//! `503 TooManySubscribers` with `Retry-After` before any upgrade (#180).
//!
//! The WebSocket side ([`crate::ws::WebSocket`]): every frame the [`firehose::Subscription`]
//! yields is sent as one binary message, a batch at a time. Live frames go out with `sendfile`
//! from the firehose's spool on the connection's socket (Linux, `firehose_zero_copy`; the
//! kernel sends from the spool's pages, nothing is copied per connection); backfill frames,
//! and every frame where that is not possible, with vectored writes straight from the shared
//! frame buffers. Cursor errors (`FutureCursor`) and
//! `ConsumerTooSlow` are sent as error frames and followed by a close (#73, #77, #80); a
//! shutdown closes with 1001. Frames from the client are read and ignored (#74); any of them
//! (pongs included) counts as a sign of life, pings are answered, a close is echoed. A ping
//! goes out every `ping_interval`; a client silent for `idle_timeout`, or whose socket does
//! not take a write within `send_timeout`, is disconnected.
//!
//! Bandwidth (#180): each connection is held to `firehose_max_bytes_per_second` by a
//! [`Throttle`]. A batch is written in chunks of about an eighth of a second's worth (at least
//! one frame); after a chunk, if the bucket is empty, the next write (and the next batch) waits,
//! while client frames, pings and shutdown are still handled. A live subscriber held back until
//! it falls out of the live ring gets `ConsumerTooSlow` like any slow consumer.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::server::AppState;
use crate::throttle::Throttle;
use crate::ws::{HandshakeError, Incoming, WebSocket};
use firehose::Closed;

/// The route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/xrpc/com.atproto.sync.subscribeRepos",
        any(subscribe_repos),
    )
}

/// How long the final error or close frame may take to send.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Params {
    cursor: Option<String>,
}

/// The XRPC error for a refused upgrade (`Upgrade: websocket` in every case, as before).
fn refused(e: &HandshakeError) -> Response {
    let status = match e {
        HandshakeError::NotUpgrade => StatusCode::UPGRADE_REQUIRED,
        HandshakeError::Bad(_) | HandshakeError::Version => StatusCode::BAD_REQUEST,
    };
    let mut err = ApiError::new(
        status,
        "InvalidRequest",
        format!("com.atproto.sync.subscribeRepos is a WebSocket endpoint: {e}"),
    )
    .with_header(header::UPGRADE, HeaderValue::from_static("websocket"));
    if matches!(e, HandshakeError::Version) {
        err = err.with_header(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    err.into_response()
}

async fn subscribe_repos(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    mut request: Request,
) -> Response {
    let method = request.method().clone();
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
    let accept = match crate::ws::check_upgrade(&method, request.version(), request.headers()) {
        Ok(accept) => accept,
        Err(e) => return refused(&e),
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
    // The connection's own socket, for `sendfile` from the firehose's spool (crate::net).
    let tcp = request
        .extensions()
        .get::<axum::extract::ConnectInfo<crate::net::Peer>>()
        .map(|peer| Arc::clone(peer.0.socket()));
    let (response, socket) = match crate::ws::upgrade(&mut request, accept) {
        Ok(upgrade) => upgrade,
        Err(e) => return refused(&e),
    };
    tokio::spawn(async move {
        match socket.await {
            Ok(socket) => stream(socket, state, cursor, tcp).await,
            Err(e) => tracing::debug!(error = %e, "subscribeRepos upgrade failed"),
        }
        drop(permit);
    });
    response
}

/// Sends the final frames of a connection, bounded by [`CLOSE_TIMEOUT`]: an error frame if
/// any, a close, then the TCP half-close. Failures are ignored (the client may be gone).
async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocket<S>,
    error: Option<Bytes>,
    code: u16,
    reason: &str,
) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if let Some(frame) = error {
            socket
                .write_binary_batch(std::slice::from_ref(&frame))
                .await?;
        }
        socket.write_close(code, reason).await?;
        socket.shutdown().await
    })
    .await;
}

/// The frames of the current batch still to write, and when writing may resume.
struct Outbox {
    /// The batch from [`firehose::Subscription::next_batch_wire`] when it is written from
    /// memory (backfill, `#info`, no spool or no socket).
    frames: Vec<Bytes>,
    /// The batch when it is sent with `sendfile` from the spool (live frames).
    wire: firehose::WireBatch,
    /// How many frames of the batch are written.
    sent: usize,
    /// How many wire bytes of a spooled batch are sent.
    sent_bytes: u64,
    throttle: Throttle,
    /// No write before this (the bucket is empty).
    not_before: Option<Instant>,
    /// The connection's socket, when `sendfile` can be used on it (Linux, the listener gave
    /// it, and the firehose spools): live batches are then read into `wire`.
    tcp: Option<Arc<tokio::net::TcpStream>>,
}

impl Outbox {
    /// Frames in the current batch.
    fn count(&self) -> usize {
        self.frames.len() + self.wire.len()
    }

    /// Whether part of the batch is still to be written.
    fn pending(&self) -> bool {
        self.sent < self.count()
    }

    /// Bytes of frame `i`: the payload from memory, header and payload from the spool.
    fn frame_bytes(&self, i: usize) -> usize {
        if self.wire.is_empty() {
            self.frames[i].len()
        } else {
            usize::try_from(self.wire.frame_len(i)).unwrap_or(usize::MAX)
        }
    }

    /// Writes frames `sent..end` (`bytes` of them): with `sendfile` from the spool when the
    /// batch is spooled, from memory otherwise.
    async fn write_frames<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        socket: &mut WebSocket<S>,
        end: usize,
        bytes: usize,
    ) -> Result<(), crate::ws::WsError> {
        #[cfg(target_os = "linux")]
        if let (Some(tcp), false) = (&self.tcp, self.wire.is_empty()) {
            return socket
                .write_spooled(tcp, self.wire.ranges(), self.sent_bytes, bytes as u64)
                .await;
        }
        let _ = bytes;
        socket
            .write_binary_batch(&self.frames[self.sent..end])
            .await
    }

    /// Writes the next chunk of the batch (frames up to the throttle's chunk size, at least
    /// one) within `send_timeout`, then asks the throttle how long to wait (the frames' bytes
    /// are counted: payloads from memory, headers included from the spool). `false` if the
    /// socket did not take it.
    async fn write_chunk<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        socket: &mut WebSocket<S>,
        send_timeout: Duration,
    ) -> bool {
        let limit = self.throttle.chunk_bytes();
        let mut end = self.sent;
        let mut bytes = 0usize;
        while end < self.count() {
            let n = self.frame_bytes(end);
            if end > self.sent && bytes.saturating_add(n) > limit {
                break;
            }
            bytes = bytes.saturating_add(n);
            end += 1;
        }
        let written =
            tokio::time::timeout(send_timeout, self.write_frames(socket, end, bytes)).await;
        self.sent = end;
        self.sent_bytes += bytes as u64;
        if self.sent >= self.count() {
            self.frames.clear();
            self.wire.clear();
            self.sent = 0;
            self.sent_bytes = 0;
        }
        if !matches!(written, Ok(Ok(()))) {
            tracing::debug!("subscribeRepos client too slow to take a batch or gone");
            return false;
        }
        let now = Instant::now();
        let delay = self.throttle.delay_after(now.into_std(), bytes);
        self.not_before = (!delay.is_zero()).then(|| now + delay);
        true
    }
}

/// The next batch into `out`: into its `wire` batch when it can be sent from the spool.
async fn next_batch(sub: &mut firehose::Subscription, out: &mut Outbox) -> Result<(), Closed> {
    if out.tcp.is_some() {
        sub.next_batch_wire(&mut out.frames, &mut out.wire).await
    } else {
        sub.next_batch(&mut out.frames).await
    }
}

/// One subscriber's connection: one task, no split. The loop waits for whichever comes first:
/// a frame from the client (a sign of life; pings answered inside [`WebSocket::next`], which
/// is cancel-safe), the ping tick, or the next batch of frames, written with vectored writes
/// straight from the shared buffers (nothing copied or allocated per frame). While the
/// throttle holds writes back, it waits for the end of that pause instead of the next batch,
/// and watches the hub so that a shutdown still closes the connection at once.
async fn stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: WebSocket<S>,
    state: AppState,
    cursor: Option<i64>,
    tcp: Option<Arc<tokio::net::TcpStream>>,
) {
    let settings = state.config().firehose.clone();
    let mut sub = match state.firehose().subscribe(cursor).await {
        Ok(sub) => sub,
        Err(e) => {
            if matches!(e, firehose::SubscribeError::Store(_)) {
                tracing::error!(error = %e, "subscribeRepos cannot start");
            }
            close(&mut socket, Some(e.frame()), 1000, "").await;
            return;
        }
    };
    // Started by `subscribe`; watched for shutdown while the throttle holds writes back.
    let hub = match state.firehose().start().await {
        Ok(hub) => Arc::clone(hub),
        Err(e) => {
            tracing::error!(error = %e, "subscribeRepos cannot start");
            close(&mut socket, Closed::Store(e).frame(), 1000, "").await;
            return;
        }
    };
    let mut head_rx = hub.watch_head();

    let mut seen = Instant::now();
    let mut ping = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Outbox {
        frames: Vec::new(),
        wire: firehose::WireBatch::default(),
        sent: 0,
        sent_bytes: 0,
        throttle: Throttle::new(settings.max_bytes_per_second),
        not_before: None,
        // `sendfile` needs Linux, the socket, and frames in the spool.
        tcp: tcp.filter(|_| cfg!(target_os = "linux") && hub.spooling()),
    };
    loop {
        let waiting = out.not_before.is_some();
        let pending = out.pending();
        let resume = out.not_before;
        tokio::select! {
            biased;
            msg = socket.next() => match msg {
                Ok(Incoming::Alive) => seen = Instant::now(),
                // The client closed (its close was echoed), broke the protocol (answered
                // with a close) or the socket failed.
                Ok(Incoming::Close(_)) | Err(_) => break,
            },
            _ = ping.tick() => {
                if seen.elapsed() > settings.idle_timeout {
                    close(&mut socket, None, 1001, "idle timeout").await;
                    break;
                }
                let sent = tokio::time::timeout(settings.send_timeout, socket.write_ping()).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break;
                }
            }
            changed = head_rx.changed(), if waiting => {
                if changed.is_err() || hub.is_closed() {
                    close(&mut socket, None, 1001, "").await;
                    break;
                }
            }
            // Made only when waiting (a timer costs a runtime-handle lookup to create).
            () = async { if let Some(t) = resume { tokio::time::sleep_until(t).await } }, if waiting => {
                out.not_before = None;
            }
            () = std::future::ready(()), if pending && !waiting => {
                if !out.write_chunk(&mut socket, settings.send_timeout).await {
                    break;
                }
            }
            next = next_batch(&mut sub, &mut out), if !pending && !waiting => match next {
                Ok(()) => {
                    if !out.write_chunk(&mut socket, settings.send_timeout).await {
                        break;
                    }
                }
                Err(closed) => {
                    if let Closed::Store(e) = &closed {
                        tracing::error!(error = %e, "subscribeRepos cannot read the sequencer log");
                    }
                    let code = if matches!(closed, Closed::Shutdown) { 1001 } else { 1000 };
                    close(&mut socket, closed.frame(), code, "").await;
                    break;
                }
            },
        }
    }
}
