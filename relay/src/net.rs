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
