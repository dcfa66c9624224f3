//! What a link runs over: TCP in the server, anything else (an in-memory network that can cut
//! links and drop hosts) in the deterministic simulation, so that the simulation drives the
//! real link, node and replica code rather than a copy (chitchat's way).
//!
//! A link needs a byte stream for the handshake, then a read half and a write half that can
//! write without blocking (the direct write into an idle link) and wait for room.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

/// A future that a trait object can return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The read half of a link's connection.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

/// The write half of a link's connection: writes that never wait, and a wait for room.
pub trait WriteHalf: Send + Sync + 'static {
    /// Writes what fits now; `WouldBlock` when nothing does.
    ///
    /// # Errors
    /// `WouldBlock`, or the connection's failure.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;

    /// Writes what fits of `bufs` now, in order; `WouldBlock` when nothing does.
    ///
    /// # Errors
    /// As [`WriteHalf::try_write`].
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Resolves when a write may make progress (or the connection failed).
    fn writable(&self) -> BoxFuture<'_, io::Result<()>>;

    /// Writes what an earlier write took but could not pass on yet (a sealed link's TLS
    /// records when the socket was full). Returns whether nothing waits any more.
    ///
    /// # Errors
    /// The connection's failure.
    fn try_flush(&self) -> io::Result<bool> {
        Ok(true)
    }
}

/// A connection a link can run on.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// Splits it into the halves a running link uses.
    fn into_halves(self: Box<Self>) -> (ReadHalf, Arc<dyn WriteHalf>);

    /// Who is at the other end, for the log.
    fn peer(&self) -> String;
}

/// How a link dials its neighbour.
pub trait Transport: Send + Sync + 'static {
    /// Connects to the neighbour that listens at `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Stream>>>;
}

impl WriteHalf for OwnedWriteHalf {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        OwnedWriteHalf::try_write(self, buf)
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        OwnedWriteHalf::try_write_vectored(self, bufs)
    }

    fn writable(&self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(OwnedWriteHalf::writable(self))
    }
}

impl Stream for TcpStream {
    fn into_halves(self: Box<Self>) -> (ReadHalf, Arc<dyn WriteHalf>) {
        let (rd, wr) = (*self).into_split();
        (Box::new(rd), Arc::new(wr))
    }

    fn peer(&self) -> String {
        self.peer_addr().map(|a| a.to_string()).unwrap_or_default()
    }
}

/// Links over TCP, with Nagle off (records are small and latency matters).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tcp;

impl Transport for Tcp {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    }
}
