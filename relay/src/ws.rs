//! A small server-side WebSocket (RFC 6455) for `subscribeRepos`, written for one job: send the
//! firehose's shared frames (`Bytes`, one allocation for every subscriber) without copying
//! them. A batch of binary messages goes out as vectored writes of
//! `[header, frame, header, frame, ...]` (headers in one reusable per-connection buffer), so
//! no frame byte is copied per connection and nothing is allocated per frame.
//!
//! It also does the HTTP side of the opening handshake ([`check_upgrade`], [`upgrade`]): the
//! checks of RFC 6455 §4.2.1 and the `101 Switching Protocols` answer. No extension
//! (permessage-deflate) and no subprotocol is ever negotiated, and HTTP/2 WebSockets (RFC 8441)
//! are not served.
//!
//! What it deliberately does not do: deliver what the client sends. Clients of the firehose
//! have nothing to say, so data frames are checked (masked, reserved bits unset, at most
//! [`MAX_CLIENT_FRAME`] bytes, fragments in order) and their payloads discarded as they arrive
//! (never buffered, never checked for UTF-8); the read buffer stays at [`READ_BUFFER`] bytes.
//! Pings are answered with a pong, a close is answered with a close echoing its code; a
//! protocol violation is answered with close 1002 (or 1009 for an oversized frame).
//!
//! Live frames can also go out without passing through this process at all:
//! [`WebSocket::write_spooled`] sends them, already framed, from the firehose's spool with
//! `sendfile` (Linux), on the socket [`crate::net`] keeps reachable; [`spool_wire`] is the
//! framing the spool stores.
//!
//! Cancel-safety: [`WebSocket::next`] keeps all its state in the struct (bytes read, the payload
//! left to discard, a control frame partly written), so it can sit in a `select!` next to the
//! writes. The control writes ([`WebSocket::write_ping`], [`WebSocket::write_pong`],
//! [`WebSocket::write_close`]) are cancel-safe too (a control frame cut short is finished
//! before anything else is written). [`WebSocket::write_binary_batch`] is not: if its future is
//! dropped midway (a send timeout), part of a frame may be on the wire, so the connection is
//! marked broken and every later call fails; drop it.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;

use axum::http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

#[cfg(test)]
mod tests;

/// Largest data frame accepted from a client; a larger one is closed with 1009.
pub const MAX_CLIENT_FRAME: u64 = 64 * 1024;
/// The read buffer of a connection (enough for any header and control frame: payloads of data
/// frames are discarded as they arrive, so it never grows).
pub const READ_BUFFER: usize = 4 * 1024;
/// Most slices given to one vectored write (Linux takes up to 1,024 per `writev`).
pub const MAX_SLICES: usize = 512;
/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest server control frame: 2-byte header (unmasked) + payload.
const MAX_CONTROL_FRAME: usize = 2 + MAX_CONTROL_PAYLOAD;
/// The GUID of RFC 6455 §1.3, appended to the client's key for `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Close code: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: a close payload's reason is not UTF-8.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Why an upgrade request is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// No `Upgrade: websocket`: a plain HTTP request to a WebSocket endpoint (426).
    #[error("missing Upgrade: websocket")]
    NotUpgrade,
    /// An upgrade request that RFC 6455 does not allow, or a connection that cannot be
    /// upgraded (400).
    #[error("bad WebSocket upgrade: {0}")]
    Bad(&'static str),
    /// A `Sec-WebSocket-Version` other than 13 (400 with `Sec-WebSocket-Version: 13`).
    #[error("unsupported Sec-WebSocket-Version (13 is supported)")]
    Version,
}

/// Whether a comma-separated header contains `token` (ASCII case-insensitive), in any of its
/// occurrences.
fn header_has_token(headers: &HeaderMap, name: &axum::http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2): base64 of the SHA-1 of
/// the key followed by the GUID.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID);
    BASE64.encode(sha.finalize())
}

/// Checks an opening handshake as RFC 6455 §4.2.1 requires: `GET`, HTTP/1.1 or later,
/// `Upgrade: websocket`, `Connection` containing `upgrade`, `Sec-WebSocket-Version: 13` and a
/// `Sec-WebSocket-Key` that is base64 of 16 bytes. Returns the `Sec-WebSocket-Accept` value.
/// Whether the connection can actually be taken over is [`upgrade`]'s business.
pub fn check_upgrade(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<HeaderValue, HandshakeError> {
    if !header_has_token(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::NotUpgrade);
    }
    if method != Method::GET {
        return Err(HandshakeError::Bad("the method must be GET"));
    }
    if version != Version::HTTP_11 {
        return Err(HandshakeError::Bad("the upgrade needs HTTP/1.1"));
    }
    if !header_has_token(headers, &CONNECTION, "upgrade") {
        return Err(HandshakeError::Bad("Connection must contain upgrade"));
    }
    let version_ok = headers
        .get(axum::http::header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"13");
    if !version_ok {
        return Err(HandshakeError::Version);
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(HandshakeError::Bad(
            "exactly one Sec-WebSocket-Key is required",
        ));
    };
    let key = key.as_bytes().trim_ascii();
    if !BASE64.decode(key).is_ok_and(|k| k.len() == 16) {
        return Err(HandshakeError::Bad(
            "Sec-WebSocket-Key must be base64 of 16 bytes",
        ));
    }
    HeaderValue::from_str(&accept_key(key)).map_err(|_| HandshakeError::Bad("Sec-WebSocket-Key"))
}

/// What [`upgrade`] hands back: the `101 Switching Protocols` response to return, and the
/// future that resolves to the connection once hyper has sent it (spawn it).
pub type Upgrade<B> = (
    Response<B>,
    Pin<
        Box<
            dyn Future<Output = Result<WebSocket<TokioIo<hyper::upgrade::Upgraded>>, hyper::Error>>
                + Send,
        >,
    >,
);

/// Takes over the connection of a request that passed [`check_upgrade`]: the `101` response
/// (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`; no extension, no subprotocol) and the
/// future yielding the [`WebSocket`]. Fails with [`HandshakeError::Bad`] when the server
/// cannot upgrade this connection (hyper left no upgrade handle: HTTP/2, or a request that
/// did not come from a connection, as in `oneshot` tests).
pub fn upgrade<B, R: Default>(
    request: &mut Request<B>,
    accept: HeaderValue,
) -> Result<Upgrade<R>, HandshakeError> {
    if request
        .extensions()
        .get::<hyper::upgrade::OnUpgrade>()
        .is_none()
    {
        return Err(HandshakeError::Bad("this connection cannot be upgraded"));
    }
    let on_upgrade = hyper::upgrade::on(request);
    let mut response = Response::new(R::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    let socket = async move { Ok(WebSocket::new(TokioIo::new(on_upgrade.await?))) };
    Ok((response, Box::pin(socket)))
}

/// What [`WebSocket::next`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// A data frame (its payload discarded), a ping (answered) or a pong: a sign of life.
    Alive,
    /// The client closed (with this code, if any); the close was answered, the connection is
    /// over.
    Close(Option<u16>),
}

/// Why a [`WebSocket`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the TCP connection without a close frame.
    #[error("connection closed without a close frame")]
    Eof,
    /// The client broke the protocol; a close with `code` was sent.
    #[error("protocol error (close {code}): {reason}")]
    Protocol {
        /// The close code sent (1002, 1007 or 1009).
        code: u16,
        /// What was wrong.
        reason: &'static str,
    },
    /// A close frame was already sent or queued: the connection is over.
    #[error("the connection is closing")]
    Closed,
    /// A batch write was interrupted midway: the stream may end inside a frame.
    #[error("a write was interrupted; the connection is unusable")]
    Broken,
}

/// The server side of one WebSocket connection over `S` (a TCP stream, hyper's upgraded
/// connection, or a test double). See the module docs for what it does and does not do.
pub struct WebSocket<S> {
    io: S,
    /// Bytes read and not yet parsed: `rbuf[rstart..rend]`.
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    /// Payload bytes of the current client data frame still to discard.
    skip: u64,
    /// A fragmented client data message is open (continuation frames expected).
    fragmented: bool,
    /// Headers of the batch being written, reused across batches.
    headers: Vec<u8>,
    /// A control frame queued or partly written: `ctrl[ctrl_pos..ctrl_len]` remain.
    ctrl: [u8; MAX_CONTROL_FRAME],
    ctrl_len: usize,
    ctrl_pos: usize,
    /// A close frame was queued: only its bytes may still be written.
    closing: bool,
    /// A batch write was interrupted (see [`WsError::Broken`]).
    broken: bool,
}

/// Writes a server frame header (FIN set, unmasked) for `opcode` and a payload of `len`
/// bytes into `out`; returns its length (2, 4 or 10 bytes).
pub fn encode_header(opcode: u8, len: u64, out: &mut [u8; 10]) -> usize {
    out[0] = 0x80 | opcode;
    if len <= 125 {
        out[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    }
}

/// The wire form of one firehose frame as a binary message (header, then payload): what the
/// firehose's spool stores for [`WebSocket::write_spooled`].
pub fn spool_wire(frame: &[u8], out: &mut Vec<u8>) {
    let mut h = [0u8; 10];
    let n = encode_header(OP_BINARY, frame.len() as u64, &mut h);
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(frame);
}

/// The header length [`encode_header`] uses for a payload of `len` bytes.
fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
}

/// A close code a peer may send (RFC 6455 §7.4: registered codes other than 1004-1006 and
/// 1015, and 3000-4999).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a connection whose opening handshake is done.
    pub fn new(io: S) -> WebSocket<S> {
        WebSocket {
            io,
            rbuf: vec![0; READ_BUFFER].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            skip: 0,
            fragmented: false,
            headers: Vec::new(),
            ctrl: [0; MAX_CONTROL_FRAME],
            ctrl_len: 0,
            ctrl_pos: 0,
            closing: false,
            broken: false,
        }
    }

    /// The underlying connection.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Writes `frames` as binary messages (one frame each: FIN, opcode 2, unmasked) with
    /// vectored writes of at most [`MAX_SLICES`] slices, straight from the shared buffers, then
    /// flushes. Not cancel-safe: a dropped future leaves the connection broken (module docs).
    pub async fn write_binary_batch(&mut self, frames: &[Bytes]) -> Result<(), WsError> {
        self.flush_ctrl().await?;
        if self.closing {
            return Err(WsError::Closed);
        }
        if frames.is_empty() {
            return Ok(());
        }
        self.broken = true;
        self.headers.clear();
        let mut h = [0u8; 10];
        for frame in frames {
            let n = encode_header(OP_BINARY, frame.len() as u64, &mut h);
            self.headers.extend_from_slice(&h[..n]);
        }
        // Position: frame `i` (its header at `headers[hpos..]`), `off` bytes of its
        // header + payload already written.
        let (mut i, mut hpos, mut off) = (0usize, 0usize, 0usize);
        let WebSocket { io, headers, .. } = self;
        while i < frames.len() {
            let written = poll_fn(|cx| {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = fill_slices(&mut slices, frames, headers, i, hpos, off);
                Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n])
            })
            .await?;
            if written == 0 {
                return Err(WsError::Io(io::ErrorKind::WriteZero.into()));
            }
            let mut left = written;
            while left > 0 && i < frames.len() {
                let hlen = header_len(frames[i].len());
                let rest = hlen + frames[i].len() - off;
                if left >= rest {
                    left -= rest;
                    hpos += hlen;
                    i += 1;
                    off = 0;
                } else {
                    off += left;
                    left = 0;
                }
            }
        }
        io.flush().await?;
        self.broken = false;
        Ok(())
    }

    /// Sends frames already in their wire form (headers and payloads) from the firehose's
    /// spool with `sendfile` on `tcp`, the socket under this connection (see [`crate::net`]):
    /// `len` bytes starting `skip` bytes into `ranges` laid end to end (a batch's ranges,
    /// [`firehose::WireBatch::ranges`]; `skip` and `len` fall on frame boundaries). No frame
    /// byte passes through this process. Anything queued on the connection (a control frame)
    /// is written first. Not cancel-safe, like [`WebSocket::write_binary_batch`].
    #[cfg(target_os = "linux")]
    pub async fn write_spooled(
        &mut self,
        tcp: &tokio::net::TcpStream,
        ranges: &[firehose::WireSpan],
        mut skip: u64,
        mut len: u64,
    ) -> Result<(), WsError> {
        let total: u64 = ranges.iter().map(|r| r.len).sum();
        if skip.checked_add(len).is_none_or(|end| end > total) {
            return Err(WsError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "spooled write past the end of its ranges",
            )));
        }
        self.flush_ctrl().await?;
        if self.closing {
            return Err(WsError::Closed);
        }
        self.broken = true;
        for range in ranges {
            if len == 0 {
                break;
            }
            if skip >= range.len {
                skip -= range.len;
                continue;
            }
            let n = (range.len - skip).min(len);
            send_range(tcp, range.segment.file(), range.offset + skip, n).await?;
            skip = 0;
            len -= n;
        }
        self.broken = false;
        Ok(())
    }

    /// Sends a ping with an empty payload. Cancel-safe.
    pub async fn write_ping(&mut self) -> Result<(), WsError> {
        self.write_control(OP_PING, &[], &[]).await
    }

    /// Sends a pong carrying `payload` (at most 125 bytes are sent). Cancel-safe.
    pub async fn write_pong(&mut self, payload: &[u8]) -> Result<(), WsError> {
        self.write_control(OP_PONG, payload, &[]).await
    }

    /// Sends a close frame with `code` and `reason` (cut to fit the 125-byte payload at a
    /// character boundary); later writes fail with [`WsError::Closed`]. Does nothing if a close
    /// was already sent. Cancel-safe.
    pub async fn write_close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        if self.closing {
            return self.flush_ctrl().await;
        }
        self.queue_close(Some(code), reason).await
    }

    /// Half-closes the connection (TCP FIN) after flushing what is queued.
    pub async fn shutdown(&mut self) -> Result<(), WsError> {
        self.flush_ctrl().await?;
        self.io.shutdown().await?;
        Ok(())
    }

    /// Reads until the next client frame: [`Incoming::Alive`] for a data frame (payload
    /// discarded as it arrives), a ping (answered with a pong) or a pong;
    /// [`Incoming::Close`] once a close was received and echoed. A protocol violation is
    /// answered with a close and returned as [`WsError::Protocol`]. Cancel-safe: all state is
    /// in `self`.
    pub async fn next(&mut self) -> Result<Incoming, WsError> {
        loop {
            self.flush_ctrl().await?;
            if self.closing {
                return Err(WsError::Closed);
            }
            if self.skip > 0 {
                let n =
                    (self.rend - self.rstart).min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.rstart += n;
                self.skip -= n as u64;
            }
            if self.skip == 0 {
                match self.parse() {
                    Ok(Some(Parsed::Alive)) => {
                        self.flush_ctrl().await?;
                        return Ok(Incoming::Alive);
                    }
                    Ok(Some(Parsed::Close(code))) => {
                        self.flush_ctrl().await?;
                        return Ok(Incoming::Close(code));
                    }
                    Ok(None) => {}
                    Err((code, reason)) => {
                        self.queue_close_frame(Some(code), reason);
                        self.flush_ctrl().await?;
                        return Err(WsError::Protocol { code, reason });
                    }
                }
            }
            self.fill().await?;
        }
    }

    /// Reads more bytes into the buffer (compacting it first). Cancel-safe.
    async fn fill(&mut self) -> Result<(), WsError> {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        let n = self.io.read(&mut self.rbuf[self.rend..]).await?;
        if n == 0 {
            return Err(WsError::Eof);
        }
        self.rend += n;
        Ok(())
    }

    /// Parses one frame header (and a control frame's payload) from the buffer: `None` when
    /// more bytes are needed, `Err((close code, reason))` on a protocol violation.
    fn parse(&mut self) -> Result<Option<Parsed>, (u16, &'static str)> {
        let buf = &self.rbuf[self.rstart..self.rend];
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0f;
        if b0 & 0x70 != 0 {
            return Err((CLOSE_PROTOCOL_ERROR, "reserved bits set"));
        }
        if b1 & 0x80 == 0 {
            return Err((CLOSE_PROTOCOL_ERROR, "client frames must be masked"));
        }
        let (len, len_bytes) = match b1 & 0x7f {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 2),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 8),
                None => return Ok(None),
            },
            n => (u64::from(n), 0),
        };
        let head = 2 + len_bytes + 4;
        let Some(mask) = buf.get(head - 4..head) else {
            return Ok(None);
        };
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        match opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {
                if len >> 63 != 0 {
                    return Err((CLOSE_PROTOCOL_ERROR, "frame length has its top bit set"));
                }
                if opcode == OP_CONTINUATION && !self.fragmented {
                    return Err((CLOSE_PROTOCOL_ERROR, "continuation frame outside a message"));
                }
                if opcode != OP_CONTINUATION && self.fragmented {
                    return Err((CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one"));
                }
                if len > MAX_CLIENT_FRAME {
                    return Err((CLOSE_TOO_BIG, "frame too big"));
                }
                self.fragmented = !fin;
                self.rstart += head;
                self.skip = len;
                Ok(Some(Parsed::Alive))
            }
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err((CLOSE_PROTOCOL_ERROR, "fragmented control frame"));
                }
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err((CLOSE_PROTOCOL_ERROR, "control frame over 125 bytes"));
                }
                let len = len as usize;
                let Some(masked) = buf.get(head..head + len) else {
                    return Ok(None);
                };
                let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
                for (k, (p, m)) in payload.iter_mut().zip(masked).enumerate() {
                    *p = m ^ mask[k % 4];
                }
                let payload = &payload[..len];
                self.rstart += head + len;
                match opcode {
                    OP_PING => {
                        self.queue_control(OP_PONG, payload, &[]);
                        Ok(Some(Parsed::Alive))
                    }
                    OP_PONG => Ok(Some(Parsed::Alive)),
                    _ => {
                        let code = match payload {
                            [] => None,
                            [_] => {
                                return Err((CLOSE_PROTOCOL_ERROR, "close payload of 1 byte"));
                            }
                            [a, b, reason @ ..] => {
                                let code = u16::from_be_bytes([*a, *b]);
                                if !valid_close_code(code) {
                                    return Err((CLOSE_PROTOCOL_ERROR, "invalid close code"));
                                }
                                if std::str::from_utf8(reason).is_err() {
                                    return Err((CLOSE_INVALID_PAYLOAD, "close reason not UTF-8"));
                                }
                                Some(code)
                            }
                        };
                        self.queue_close_frame(code, "");
                        Ok(Some(Parsed::Close(code)))
                    }
                }
            }
            _ => Err((CLOSE_PROTOCOL_ERROR, "unknown opcode")),
        }
    }

    /// Queues a control frame (`payload1` then `payload2`, cut to 125 bytes). The queue must
    /// be empty (every caller flushes first).
    fn queue_control(&mut self, opcode: u8, payload1: &[u8], payload2: &[u8]) {
        let take1 = payload1.len().min(MAX_CONTROL_PAYLOAD);
        let take2 = payload2.len().min(MAX_CONTROL_PAYLOAD - take1);
        let len = take1 + take2;
        self.ctrl[0] = 0x80 | opcode;
        self.ctrl[1] = len as u8;
        self.ctrl[2..2 + take1].copy_from_slice(&payload1[..take1]);
        self.ctrl[2 + take1..2 + len].copy_from_slice(&payload2[..take2]);
        self.ctrl_pos = 0;
        self.ctrl_len = 2 + len;
    }

    /// Queues a close frame (code and reason cut at a character boundary) and marks the
    /// connection closing.
    fn queue_close_frame(&mut self, code: Option<u16>, reason: &str) {
        match code {
            Some(code) => {
                let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                self.queue_control(OP_CLOSE, &code.to_be_bytes(), &reason.as_bytes()[..cut]);
            }
            None => self.queue_control(OP_CLOSE, &[], &[]),
        }
        self.closing = true;
    }

    async fn queue_close(&mut self, code: Option<u16>, reason: &str) -> Result<(), WsError> {
        self.flush_ctrl().await?;
        self.queue_close_frame(code, reason);
        self.flush_ctrl().await
    }

    async fn write_control(
        &mut self,
        opcode: u8,
        payload: &[u8],
        more: &[u8],
    ) -> Result<(), WsError> {
        self.flush_ctrl().await?;
        if self.closing {
            return Err(WsError::Closed);
        }
        self.queue_control(opcode, payload, more);
        self.flush_ctrl().await
    }

    /// Writes what is left of the queued control frame, then flushes. Cancel-safe: progress
    /// is recorded as soon as each write returns.
    async fn flush_ctrl(&mut self) -> Result<(), WsError> {
        if self.broken {
            return Err(WsError::Broken);
        }
        if self.ctrl_pos == self.ctrl_len {
            return Ok(());
        }
        while self.ctrl_pos < self.ctrl_len {
            let n = self
                .io
                .write(&self.ctrl[self.ctrl_pos..self.ctrl_len])
                .await?;
            if n == 0 {
                return Err(WsError::Io(io::ErrorKind::WriteZero.into()));
            }
            self.ctrl_pos += n;
        }
        self.io.flush().await?;
        Ok(())
    }
}

/// Sends `len` bytes of `file` from `offset` to `tcp` with `sendfile`, waiting for the socket
/// to take them.
#[cfg(target_os = "linux")]
async fn send_range(
    tcp: &tokio::net::TcpStream,
    file: &std::fs::File,
    mut offset: u64,
    len: u64,
) -> Result<(), WsError> {
    let end = offset + len;
    while offset < end {
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX);
        let sent = loop {
            tcp.writable().await?;
            match tcp.try_io(tokio::io::Interest::WRITABLE, || {
                rustix::fs::sendfile(tcp, file, Some(&mut offset), want).map_err(io::Error::from)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                res => break res?,
            }
        };
        if sent == 0 {
            return Err(WsError::Io(io::ErrorKind::WriteZero.into()));
        }
    }
    Ok(())
}

/// What [`WebSocket::parse`] found.
enum Parsed {
    Alive,
    Close(Option<u16>),
}

/// Fills `slices` with what remains of the batch from frame `i` (header at `headers[hpos..]`,
/// `off` bytes of header + payload already written), at most [`MAX_SLICES`]; returns how many.
fn fill_slices<'a>(
    slices: &mut [IoSlice<'a>; MAX_SLICES],
    frames: &'a [Bytes],
    headers: &'a [u8],
    i: usize,
    hpos: usize,
    off: usize,
) -> usize {
    let (mut n, mut hpos, mut skip) = (0, hpos, off);
    for frame in &frames[i..] {
        if n + 2 > MAX_SLICES {
            break;
        }
        let hlen = header_len(frame.len());
        let header = &headers[hpos..hpos + hlen];
        if skip < hlen {
            slices[n] = IoSlice::new(&header[skip..]);
            n += 1;
            if !frame.is_empty() {
                slices[n] = IoSlice::new(frame);
                n += 1;
            }
        } else {
            slices[n] = IoSlice::new(&frame[skip - hlen..]);
            n += 1;
        }
        skip = 0;
        hpos += hlen;
    }
    n
}
