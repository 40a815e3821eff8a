//! Unit tests of the WebSocket connection: header encoding at the length boundaries, the
//! opening-handshake checks, batches written byte-exact through writers that take a few bytes
//! per call, and the reader's answers to client frames (masked frames, ping/pong, close echo,
//! unmasked, oversized and malformed frames, cancellation in the middle of a frame).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, Version};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

use super::*;

/// A frame as RFC 6455 §5.2 lays it out for a server (FIN, unmasked), built independently of
/// [`encode_header`].
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xffff => {
            f.push(126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A client frame: first byte as given, masked with a fixed key.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![first];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            f.push(0x80 | 126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    f.extend(key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

#[test]
fn header_encoding_at_length_boundaries() {
    let cases: &[(u64, &[u8])] = &[
        (0, &[0x82, 0]),
        (1, &[0x82, 1]),
        (125, &[0x82, 125]),
        (126, &[0x82, 126, 0, 126]),
        (65535, &[0x82, 126, 0xff, 0xff]),
        (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        (5_000_000, &[0x82, 127, 0, 0, 0, 0, 0, 0x4c, 0x4b, 0x40]),
    ];
    for (len, want) in cases {
        let mut h = [0u8; 10];
        let n = encode_header(OP_BINARY, *len, &mut h);
        assert_eq!(&h[..n], *want, "length {len}");
        assert_eq!(n, header_len(*len as usize), "length {len}");
    }
    println!("header encoding: {} cases", cases.len());
}

#[test]
fn accept_key_of_rfc_6455_example() {
    // RFC 6455 §1.3.
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

fn upgrade_headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

/// A refused handshake case: headers, method, version, the error.
type Refused<'a> = (
    &'a [(&'static str, &'static str)],
    Method,
    Version,
    HandshakeError,
);

/// Checklist #70: the handshake checks of RFC 6455 §4.2.1.
#[test]
fn upgrade_checks() {
    let good = [
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let check = |pairs: &[(&'static str, &'static str)], method: Method, version: Version| {
        check_upgrade(&method, version, &upgrade_headers(pairs))
    };
    assert_eq!(
        check(&good, Method::GET, Version::HTTP_11),
        Ok(HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
    );
    // Token lists and case do not matter.
    let mut list = good;
    list[0] = ("upgrade", "WebSocket");
    list[1] = ("connection", "keep-alive, upgrade");
    assert!(check(&list, Method::GET, Version::HTTP_11).is_ok());

    assert_eq!(
        check(&good[1..], Method::GET, Version::HTTP_11),
        Err(HandshakeError::NotUpgrade)
    );
    let bad: &[Refused<'_>] = &[
        (
            &good,
            Method::POST,
            Version::HTTP_11,
            HandshakeError::Bad("the method must be GET"),
        ),
        (
            &good,
            Method::GET,
            Version::HTTP_10,
            HandshakeError::Bad("the upgrade needs HTTP/1.1"),
        ),
        (
            &[good[0], good[2], good[3]],
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Bad("Connection must contain upgrade"),
        ),
        (
            &[good[0], good[1], ("sec-websocket-version", "8"), good[3]],
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Version,
        ),
        (
            &[good[0], good[1], good[3]],
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Version,
        ),
        (
            &good[..3],
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Bad("exactly one Sec-WebSocket-Key is required"),
        ),
        (
            // 15 bytes.
            &[
                good[0],
                good[1],
                good[2],
                ("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAA"),
            ],
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Bad("Sec-WebSocket-Key must be base64 of 16 bytes"),
        ),
        (
            &[
                good[0],
                good[1],
                good[2],
                ("sec-websocket-key", "not base64 at all!!!!!=="),
            ],
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Bad("Sec-WebSocket-Key must be base64 of 16 bytes"),
        ),
    ];
    for (pairs, method, version, want) in bad {
        assert_eq!(
            check(pairs, method.clone(), *version).as_ref(),
            Err(want),
            "{pairs:?}"
        );
    }
    println!("upgrade checks: {} refused cases", bad.len() + 1);
}

/// A writer taking at most `max` bytes per call (across slices), optionally answering
/// `Pending` every other call (and waking at once), or stalling for good once `stall_at`
/// bytes were taken. Reads give end-of-file.
struct Limited {
    out: Vec<u8>,
    max: usize,
    calls: usize,
    alternate: bool,
    flip: bool,
    stall_at: Option<usize>,
}

impl Limited {
    fn new(max: usize) -> Limited {
        Limited {
            out: Vec::new(),
            max,
            calls: 0,
            alternate: false,
            flip: false,
            stall_at: None,
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        assert!(bufs.len() <= MAX_SLICES, "{} slices", bufs.len());
        if this.alternate {
            this.flip = !this.flip;
            if this.flip {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        if this.stall_at.is_some_and(|at| this.out.len() >= at) {
            return Poll::Pending;
        }
        this.calls += 1;
        let mut left = this.max;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(left);
            this.out.extend_from_slice(&b[..take]);
            left -= take;
            n += take;
            if left == 0 {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Frames of the sizes around the header boundaries, then many small ones (more slices than
/// one vectored write takes), with distinct contents. `large` adds the 16/64-bit boundary and
/// big frames (left out where every write takes a byte or two, to keep the test fast).
fn mixed_frames(large: bool) -> Vec<Bytes> {
    let mut sizes = vec![0, 1, 125, 126, 127, 200];
    if large {
        sizes.extend([65535, 65536, 70_000, 300_000]);
    }
    sizes.extend((0..700).map(|i| (i * 37) % if large { 400 } else { 20 }));
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| Bytes::from((0..n).map(|j| (i * 7 + j) as u8).collect::<Vec<u8>>()))
        .collect()
}

/// A batch goes out byte-exact whatever each write takes: one byte, a few bytes (header and
/// payload split anywhere), a lot, everything; with and without `Pending` answers.
#[tokio::test]
async fn batch_is_byte_exact_through_partial_writes() {
    let limits = [1, 2, 3, 7, 1000, 65_537, usize::MAX];
    for max in limits {
        let frames = mixed_frames(max > 7);
        let want: Vec<u8> = frames
            .iter()
            .flat_map(|f| server_frame(OP_BINARY, f))
            .collect();
        for alternate in [false, true] {
            let mut w = Limited::new(max);
            w.alternate = alternate;
            let mut ws = WebSocket::new(w);
            ws.write_binary_batch(&frames).await.expect("batch");
            ws.write_binary_batch(&frames[..3]).await.expect("batch");
            let w = ws.get_ref();
            let mut want2 = want.clone();
            want2.extend(frames[..3].iter().flat_map(|f| server_frame(OP_BINARY, f)));
            assert!(
                w.out == want2,
                "max {max} alternate {alternate}: bytes differ"
            );
            if max == usize::MAX {
                // One call per MAX_SLICES slices (plus one for the second batch).
                let slices: usize = frames.iter().map(|f| 1 + usize::from(!f.is_empty())).sum();
                assert_eq!(w.calls, slices.div_ceil(MAX_SLICES) + 1);
            }
        }
    }
    println!("partial writes: {} limits x 2 cases", limits.len());
}

#[tokio::test]
async fn control_frames_written() {
    let mut ws = WebSocket::new(Limited::new(3));
    ws.write_ping().await.expect("ping");
    ws.write_pong(b"abc").await.expect("pong");
    // The reason is cut at a character boundary to fit 125 bytes.
    let reason = "é".repeat(100);
    ws.write_close(1001, &reason).await.expect("close");
    let mut want = server_frame(OP_PING, b"");
    want.extend(server_frame(OP_PONG, b"abc"));
    let mut close = 1001u16.to_be_bytes().to_vec();
    close.extend_from_slice(&reason.as_bytes()[..122]);
    want.extend(server_frame(OP_CLOSE, &close));
    assert_eq!(ws.get_ref().out, want);
    // Nothing after a close.
    assert!(matches!(
        ws.write_binary_batch(&[Bytes::from_static(b"x")]).await,
        Err(WsError::Closed)
    ));
    assert!(matches!(ws.write_ping().await, Err(WsError::Closed)));
    ws.write_close(1000, "")
        .await
        .expect("second close is a no-op");
    assert_eq!(ws.get_ref().out, want);
}

/// A batch cut short by a timeout leaves the connection broken: nothing more is written.
#[tokio::test]
async fn interrupted_batch_breaks_the_connection() {
    let mut w = Limited::new(10);
    w.stall_at = Some(25);
    let mut ws = WebSocket::new(w);
    let frames = [Bytes::from(vec![1u8; 100])];
    let r = tokio::time::timeout(Duration::from_millis(50), ws.write_binary_batch(&frames)).await;
    assert!(r.is_err(), "the write stalls");
    assert!(matches!(ws.write_ping().await, Err(WsError::Broken)));
    assert!(matches!(ws.next().await, Err(WsError::Broken)));
}

/// A server on one end of a pipe, the test as the client on the other.
fn pair() -> (WebSocket<DuplexStream>, DuplexStream) {
    let (client, server) = tokio::io::duplex(1 << 20);
    (WebSocket::new(server), client)
}

async fn read_n(client: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut buf))
        .await
        .expect("reply in time")
        .expect("read");
    buf
}

/// Checklist #74: masked data frames of every length encoding, fragmented messages, and
/// pongs are signs of life; their payloads are discarded and nothing is answered.
#[tokio::test]
async fn masked_frames_parsed_and_ignored() {
    let (mut ws, mut client) = pair();
    let frames = [
        masked(0x82, b"hello"),
        masked(0x81, &[b'a'; 126]),
        masked(0x82, &vec![7u8; 65536]), // the cap itself is accepted
        masked(0x82, &[]),
        masked(0x01, b"frag"), // text, FIN=0
        masked(0x00, b"ment"), // continuation, FIN=0
        masked(0x8A, b"pong"), // a pong between fragments
        masked(0x80, b"ed"),   // continuation, FIN=1
        masked(0x82, &[0xff, 0, 0x13]),
    ];
    let all: Vec<u8> = frames.concat();
    // Delivered in odd-sized pieces.
    let writer = tokio::spawn(async move {
        for piece in all.chunks(1001) {
            client.write_all(piece).await.expect("write");
        }
        client
    });
    for i in 0..frames.len() {
        assert_eq!(
            ws.next().await.expect("frame"),
            Incoming::Alive,
            "frame {i}"
        );
    }
    let mut client = writer.await.expect("writer");
    // Nothing was answered, and the read buffer never grew.
    assert_eq!(ws.rbuf.len(), READ_BUFFER);
    client.shutdown().await.expect("eof");
    assert!(matches!(ws.next().await, Err(WsError::Eof)));
    println!("masked frames: {} cases", frames.len());
}

#[tokio::test]
async fn ping_answered_with_pong() {
    let (mut ws, mut client) = pair();
    client
        .write_all(&masked(0x89, b"are you there"))
        .await
        .expect("ping");
    assert_eq!(ws.next().await.expect("ping"), Incoming::Alive);
    assert_eq!(
        read_n(&mut client, 2 + 13).await,
        server_frame(OP_PONG, b"are you there")
    );
    // An empty ping, then data goes on.
    client.write_all(&masked(0x89, b"")).await.expect("ping");
    assert_eq!(ws.next().await.expect("ping"), Incoming::Alive);
    assert_eq!(read_n(&mut client, 2).await, server_frame(OP_PONG, b""));
    ws.write_binary_batch(&[Bytes::from_static(b"data")])
        .await
        .expect("batch");
    assert_eq!(
        read_n(&mut client, 6).await,
        server_frame(OP_BINARY, b"data")
    );
}

/// Cancel-safety: a ping arriving one byte at a time while `next()` is cancelled over and over
/// (as `select!` does) is still parsed and answered once.
#[tokio::test]
async fn next_is_cancel_safe() {
    let (mut ws, mut client) = pair();
    let ping = masked(0x89, b"slow");
    for b in &ping {
        let r = tokio::time::timeout(Duration::from_millis(5), ws.next()).await;
        assert!(r.is_err(), "nothing complete yet");
        client.write_all(&[*b]).await.expect("byte");
    }
    assert_eq!(ws.next().await.expect("ping"), Incoming::Alive);
    assert_eq!(read_n(&mut client, 6).await, server_frame(OP_PONG, b"slow"));
}

#[tokio::test]
async fn close_echoed() {
    // With a code and a reason: the code is echoed.
    let (mut ws, mut client) = pair();
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    client
        .write_all(&masked(0x88, &payload))
        .await
        .expect("close");
    assert_eq!(ws.next().await.expect("close"), Incoming::Close(Some(1000)));
    assert_eq!(
        read_n(&mut client, 4).await,
        server_frame(OP_CLOSE, &1000u16.to_be_bytes())
    );
    assert!(matches!(ws.next().await, Err(WsError::Closed)));
    assert!(matches!(
        ws.write_binary_batch(&[Bytes::from_static(b"late")]).await,
        Err(WsError::Closed)
    ));
    // Without a payload: an empty close back.
    let (mut ws, mut client) = pair();
    client.write_all(&masked(0x88, b"")).await.expect("close");
    assert_eq!(ws.next().await.expect("close"), Incoming::Close(None));
    assert_eq!(read_n(&mut client, 2).await, server_frame(OP_CLOSE, b""));
}

/// Protocol violations: answered with a close carrying the code, then the connection is over.
#[tokio::test]
async fn bad_client_frames_closed() {
    let mut unmasked = masked(0x82, b"hi");
    unmasked[1] &= 0x7f;
    unmasked.truncate(2);
    unmasked.extend_from_slice(b"hi");
    let mut oversize = masked(0x82, &[]);
    oversize[1] = 0x80 | 127;
    oversize.truncate(2);
    oversize.extend((MAX_CLIENT_FRAME + 1).to_be_bytes());
    oversize.extend([1, 2, 3, 4]);
    let mut big_control = masked(0x89, &[]);
    big_control[1] = 0x80 | 126;
    big_control.truncate(2);
    big_control.extend(126u16.to_be_bytes());
    big_control.extend([1, 2, 3, 4]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", unmasked, CLOSE_PROTOCOL_ERROR),
        ("oversize", oversize, CLOSE_TOO_BIG),
        ("reserved bit", masked(0xC2, b"x"), CLOSE_PROTOCOL_ERROR),
        ("fragmented ping", masked(0x09, b"x"), CLOSE_PROTOCOL_ERROR),
        ("control over 125", big_control, CLOSE_PROTOCOL_ERROR),
        (
            "lone continuation",
            masked(0x80, b"x"),
            CLOSE_PROTOCOL_ERROR,
        ),
        ("unknown opcode", masked(0x83, b"x"), CLOSE_PROTOCOL_ERROR),
        ("1-byte close", masked(0x88, &[3]), CLOSE_PROTOCOL_ERROR),
        (
            "close code 1005",
            masked(0x88, &1005u16.to_be_bytes()),
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            "close reason not UTF-8",
            masked(0x88, &[0x03, 0xe8, 0xff]),
            CLOSE_INVALID_PAYLOAD,
        ),
    ];
    for (name, frame, code) in &cases {
        let (mut ws, mut client) = pair();
        client.write_all(frame).await.expect("write");
        match ws.next().await {
            Err(WsError::Protocol { code: c, .. }) => assert_eq!(c, *code, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        let reply = read_n(&mut client, 4).await;
        assert_eq!(reply[0], 0x80 | OP_CLOSE, "{name}");
        assert_eq!(reply[2..4], code.to_be_bytes(), "{name}");
        assert!(matches!(ws.next().await, Err(WsError::Closed)), "{name}");
    }
    // A new message inside a fragmented one.
    let (mut ws, mut client) = pair();
    client
        .write_all(&[masked(0x02, b"a"), masked(0x82, b"b")].concat())
        .await
        .expect("write");
    assert_eq!(ws.next().await.expect("first"), Incoming::Alive);
    assert!(matches!(
        ws.next().await,
        Err(WsError::Protocol {
            code: CLOSE_PROTOCOL_ERROR,
            ..
        })
    ));
    println!("bad client frames: {} cases", cases.len() + 1);
}

/// A server WebSocket over a real TCP connection accepted by [`crate::net::SharedListener`],
/// its socket (for `sendfile`), and the client end.
#[cfg(target_os = "linux")]
async fn tcp_pair() -> (
    WebSocket<crate::net::SharedTcp>,
    std::sync::Arc<tokio::net::TcpStream>,
    tokio::net::TcpStream,
) {
    use axum::serve::Listener as _;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let mut listener = crate::net::SharedListener::new(tcp);
    let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (io, peer) = listener.accept().await;
    (WebSocket::new(io), peer.socket().clone(), client)
}

/// Spooled frames (`sendfile` from the spool's in-memory files, several segments, ranges cut
/// short by a full socket buffer) arrive byte-exact, in order with control frames and batches
/// written from memory on the same connection.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn spooled_frames_are_byte_exact_between_other_writes() {
    let frames = mixed_frames(true);
    let spool = firehose::Spool::new(std::sync::Arc::new(spool_wire), 64 * 1024).expect("spool");
    let mut spans = Vec::new();
    for push in frames.chunks(97) {
        spans.extend(spool.append(push.iter().map(|f| &f[..])).expect("append"));
    }
    assert_eq!(spans.len(), frames.len());
    let (mut ws, tcp, mut client) = tcp_pair().await;
    // The client reads only once everything is written, so big ranges meet a full socket
    // buffer and are sent in several calls.
    let reader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("client read");
        got
    });
    // One batch over all the spans (several ranges, as segments roll over), sent in parts:
    // frames ..300 (skip 0), then 300..303 from memory, then 303.. (skipping into a range).
    let mut batch = firehose::WireBatch::default();
    for span in &spans {
        batch.push(span);
    }
    assert!(batch.ranges().len() > 2, "{} ranges", batch.ranges().len());
    let wire_len = |r: std::ops::Range<usize>| r.map(|i| batch.frame_len(i)).sum::<u64>();
    let cut = 300;
    ws.write_ping().await.expect("ping");
    ws.write_spooled(&tcp, batch.ranges(), 0, wire_len(0..cut))
        .await
        .expect("spooled");
    ws.write_binary_batch(&frames[cut..cut + 3])
        .await
        .expect("batch");
    let skip = wire_len(0..cut + 3);
    ws.write_spooled(&tcp, batch.ranges(), skip, wire_len(cut + 3..frames.len()))
        .await
        .expect("spooled");
    // Past the end of the ranges: refused before anything is sent.
    assert!(matches!(
        ws.write_spooled(&tcp, batch.ranges(), skip, wire_len(0..frames.len()))
            .await,
        Err(WsError::Io(_))
    ));
    drop((ws, tcp));
    let mut want = server_frame(OP_PING, b"");
    want.extend(frames.iter().flat_map(|f| server_frame(OP_BINARY, f)));
    let got = reader.await.expect("reader");
    assert_eq!(got.len(), want.len());
    assert!(got == want, "bytes differ");
    println!("spooled: {} frames, {} bytes", frames.len(), got.len());
}

/// A spooled write cut short by a timeout leaves the connection broken, as a batch does.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn interrupted_spooled_write_breaks_the_connection() {
    let spool =
        firehose::Spool::new(std::sync::Arc::new(spool_wire), 64 * 1024 * 1024).expect("spool");
    let frame = vec![5u8; 1 << 20];
    let spans = spool
        .append((0..32).map(|_| frame.as_slice()))
        .expect("append");
    let mut batch = firehose::WireBatch::default();
    for span in &spans {
        batch.push(span);
    }
    let total: u64 = spans.iter().map(|s| s.len).sum();
    let (mut ws, tcp, _client) = tcp_pair().await; // the client never reads
    let r = tokio::time::timeout(
        Duration::from_millis(200),
        ws.write_spooled(&tcp, batch.ranges(), 0, total),
    )
    .await;
    assert!(r.is_err(), "32 MiB cannot fit in the socket buffers");
    assert!(matches!(ws.write_ping().await, Err(WsError::Broken)));
    assert!(matches!(
        ws.write_spooled(&tcp, batch.ranges(), 0, 1).await,
        Err(WsError::Broken)
    ));
}
