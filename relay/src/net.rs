//! The server's TCP connections, shared between hyper and a handler that takes the socket over.
//!
//! [`SharedListener`] accepts connections as [`SharedTcp`] (an `Arc<TcpStream>` that hyper
//! reads and writes through) and tags each with a [`Peer`] (the remote address plus the same
//! `Arc`), which axum puts into every request as `ConnectInfo<Peer>`. So a handler can reach
//! the connection's socket itself: `subscribeRepos` keeps it after the WebSocket upgrade to
//! send live frames with `sendfile` from the firehose's spool, which hyper's upgraded
//! connection (a private wrapper around the stream) cannot give back.
//!
//! Who writes when: hyper until the upgrade; after it, the WebSocket task only, through
//! hyper's upgraded connection (control frames) or the shared socket (`sendfile`), one at a
//! time. Reads and writes go through tokio's readiness for the one registered stream, as
//! `TcpStream`'s own reads and writes do.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Most bytes one read asks for. A read zeroes this much of hyper's buffer first (safe code
/// cannot hand the kernel uninitialised memory), so it stays small.
const READ_CHUNK: usize = 16 * 1024;

/// Connections the kernel may hold fully open before the server accepts them (Linux clamps it to
/// `net.core.somaxconn`, 4,096 by default). tokio's `TcpListener::bind` asks for 1,024: a
/// thousand subscribers reconnecting at once after a restart, plus the usual requests, can
/// overflow that, and a dropped handshake is retried only after seconds of SYN backoff.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listening socket on `addr` with `SO_REUSEADDR` (a restart does not wait for the
/// old connections' `TIME_WAIT`) and a [`LISTEN_BACKLOG`]-deep accept queue.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A TCP listener whose connections are [`SharedTcp`], with `TCP_NODELAY` set.
#[derive(Debug)]
pub struct SharedListener {
    inner: TcpListener,
}

impl SharedListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener) -> SharedListener {
        SharedListener { inner }
    }
}

/// A connection's remote address and socket (`ConnectInfo<Peer>` in every request).
#[derive(Debug, Clone)]
pub struct Peer {
    /// The remote address.
    pub addr: SocketAddr,
    socket: Arc<TcpStream>,
}

impl Peer {
    /// The connection's socket (shared with hyper; see the module docs for who may write).
    pub fn socket(&self) -> &Arc<TcpStream> {
        &self.socket
    }
}

impl Connected<IncomingStream<'_, SharedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, SharedListener>) -> Peer {
        stream.remote_addr().clone()
    }
}

impl axum::serve::Listener for SharedListener {
    type Io = SharedTcp;
    type Addr = Peer;

    async fn accept(&mut self) -> (SharedTcp, Peer) {
        loop {
            match self.inner.accept().await {
                Ok((tcp, addr)) => {
                    // TCP_NODELAY: a write smaller than the MSS (a firehose batch, a response
                    // or a chunk of a streamed one) must not wait for the ACK of the previous
                    // one (Nagle), which the peer may hold back for its delayed-ACK timer.
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    let socket = Arc::new(tcp);
                    return (SharedTcp(Arc::clone(&socket)), Peer { addr, socket });
                }
                Err(e) => accept_failed(e).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Peer> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a listener has no peer; use the TcpListener's local_addr",
        ))
    }
}

/// An error from `accept`: a connection that failed before it was accepted is skipped; any
/// other error (out of file descriptors, most often) is logged and retried after a pause, as
/// axum's own listener does.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection as hyper sees it (see the module docs).
#[derive(Debug)]
pub struct SharedTcp(Arc<TcpStream>);

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            let want = buf.remaining().min(READ_CHUNK);
            match self.0.try_read(buf.initialize_unfilled_to(want)) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                res => return Poll::Ready(res),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                res => return Poll::Ready(res),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = rustix::net::shutdown(&*self.0, rustix::net::Shutdown::Write);
        // Already disconnected: nothing left to shut down.
        Poll::Ready(match res {
            Err(rustix::io::Errno::NOTCONN) | Ok(()) => Ok(()),
            Err(e) => Err(e.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The accept queue holds more than tokio's 1,024: 1,100 clients connect one after the
    /// other to a listener that accepts none of them, and every handshake completes (with a
    /// queue of 1,024 the kernel drops the 1,026th client's SYN and its connect times out).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn bind_queues_more_connections_than_tokios_default() {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        const CLIENTS: usize = 1_100;
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("somaxconn")
            .trim()
            .parse()
            .expect("somaxconn number");
        assert!(
            cap > CLIENTS,
            "net.core.somaxconn is {cap}: the kernel caps every listener below this test's clients"
        );
        // One descriptor per client: raise the soft limit to the hard one when it is lower.
        let limit = getrlimit(Resource::Nofile);
        let need = (CLIENTS + 512) as u64;
        if limit.current.is_some_and(|c| c < need) {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: limit.maximum,
                    maximum: limit.maximum,
                },
            )
            .expect("raise the descriptor limit");
        }
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut clients = Vec::with_capacity(CLIENTS);
        for i in 0..CLIENTS {
            let connect = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr));
            match connect.await {
                Ok(Ok(c)) => clients.push(c),
                Ok(Err(e)) => panic!("client {i}: {e}"),
                Err(_) => panic!("client {i}: no handshake within 3 s (accept queue full)"),
            }
        }
        drop(listener);
    }

    #[tokio::test]
    async fn shared_tcp_reads_writes_and_half_closes() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let mut listener = SharedListener::new(tcp);
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let (mut io, peer) = listener.accept().await;
        assert_eq!(peer.addr, client.local_addr().expect("client addr"));
        assert!(peer.socket().nodelay().expect("nodelay"));

        let big = vec![7u8; 3 * READ_CHUNK + 5];
        client.write_all(&big).await.expect("client write");
        let mut got = vec![0u8; big.len()];
        io.read_exact(&mut got).await.expect("server read");
        assert_eq!(got, big);

        let parts = [io::IoSlice::new(b"hello "), io::IoSlice::new(b"world")];
        let n = io.write_vectored(&parts).await.expect("vectored");
        assert_eq!(n, 11);
        // The handler's handle is the same socket.
        peer.socket().try_write(b"!").expect("direct write");
        io.shutdown().await.expect("half-close");
        let mut echoed = Vec::new();
        client.read_to_end(&mut echoed).await.expect("client read");
        assert_eq!(echoed, b"hello world!");
        io.shutdown().await.expect("a second shutdown is fine");
    }
}
