//! An in-memory network for the simulation: it carries the real links of in-process servers
//! (through `herd_server::peer::transport`) and can cut them.
//!
//! A connection is two byte pipes, one per direction, each with a byte capacity: a write that
//! finds a pipe full gets `WouldBlock` and `writable()` waits for the reader to make room, as
//! with a TCP send buffer. Bytes inside a live connection are never lost or reordered. Faults
//! only close connections: [`MemNet::cut`] resets every connection between two servers (both
//! ends fail at once, what was in flight is gone, like an RST) and refuses new dials between
//! them until [`MemNet::heal`]; [`MemNet::reset_one`] resets one open connection (a lost
//! connection, the only way TCP loses bytes); [`MemNet::drop_at_dialer`] fails a connection
//! at the dialer's end only, so the acceptor finds out after reading what was already sent.
//! [`MemNet::hold`] stops delivery in one direction, as from a peer that stops reading, until it
//! is released; nothing is lost. Dropping a write half ends its direction (the
//! reader sees EOF once it has read what was sent); dropping a read half makes the other
//! side's writes fail.
//!
//! Every server gets its own [`MemTransport`], which knows who is dialing, from
//! [`MemNet::transport`]. A server is reachable at its configured `listen` address once
//! [`MemNet::register`]ed; a dial starts the acceptor's side with
//! `herd_server::peer::accept::accept_stream`, as the server's listener would.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, ErrorKind, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use herd_server::node::Node;
use herd_server::peer::accept::accept_stream;
use herd_server::peer::transport::{BoxFuture, ReadHalf, Stream, Transport, WriteHalf};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many bytes one direction of a connection holds before writes must wait.
pub const PIPE_CAPACITY: usize = 256 * 1024;

/// One direction of a connection.
struct Pipe {
    /// Everything about it, under one lock so a check and a waker's registration are one step.
    state: Mutex<PipeState>,
}

/// The bytes in flight and who waits for what.
struct PipeState {
    /// Written, not yet read.
    bytes: VecDeque<u8>,
    /// How many bytes may wait in `bytes`.
    capacity: usize,
    /// The writer is gone or shut down: the reader sees EOF after the last byte.
    eof: bool,
    /// The reader is gone: writes fail.
    reader_gone: bool,
    /// The connection was reset: both ends fail at once and the bytes in flight are lost.
    reset: bool,
    /// Delivery is held ([`MemNet::hold`]): the reader gets nothing until it is released,
    /// as from a peer that stopped reading.
    held: bool,
    /// The task waiting to read.
    reader: Option<Waker>,
    /// The tasks waiting for room (a handshake write, a link writer's `writable`).
    writers: Vec<Waker>,
}

impl Pipe {
    fn new(capacity: usize) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(PipeState {
                bytes: VecDeque::new(),
                capacity,
                eof: false,
                reader_gone: false,
                reset: false,
                held: false,
                reader: None,
                writers: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether bytes can still flow from the writer to the reader.
    fn is_open(&self) -> bool {
        let s = self.lock();
        !(s.eof || s.reader_gone || s.reset)
    }

    /// Whether a reset would still change anything (bytes may still be read).
    fn is_live(&self) -> bool {
        let s = self.lock();
        !(s.reader_gone || s.reset)
    }

    /// Reads what is there; `Pending` (with `cx` registered) when nothing is and the writer
    /// is still there.
    fn poll_read(&self, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut s = self.lock();
        if s.reset {
            return Poll::Ready(Err(ErrorKind::ConnectionReset.into()));
        }
        if s.bytes.is_empty() || s.held {
            if s.eof && !s.held {
                return Poll::Ready(Ok(()));
            }
            register(&mut s.reader, cx.waker());
            return Poll::Pending;
        }
        let n = out.remaining().min(s.bytes.len());
        let (front, back) = s.bytes.as_slices();
        let from_front = n.min(front.len());
        out.put_slice(&front[..from_front]);
        out.put_slice(&back[..n - from_front]);
        s.bytes.drain(..n);
        let writers = std::mem::take(&mut s.writers);
        drop(s);
        writers.into_iter().for_each(Waker::wake);
        Poll::Ready(Ok(()))
    }

    /// Why a write cannot go through, if it cannot.
    fn write_error(s: &PipeState) -> Option<io::Error> {
        if s.reset {
            Some(ErrorKind::ConnectionReset.into())
        } else if s.reader_gone || s.eof {
            Some(ErrorKind::BrokenPipe.into())
        } else {
            None
        }
    }

    /// Writes what fits of `bufs`, in order; `WouldBlock` when nothing does.
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut s = self.lock();
        if let Some(e) = Self::write_error(&s) {
            return Err(e);
        }
        let room = s.capacity - s.bytes.len();
        let wanted: usize = bufs.iter().map(|b| b.len()).sum();
        if room == 0 && wanted > 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        let mut written = 0;
        for buf in bufs {
            let n = buf.len().min(room - written);
            s.bytes.extend(&buf[..n]);
            written += n;
            if written == room {
                break;
            }
        }
        let reader = s.reader.take();
        drop(s);
        if let Some(w) = reader {
            w.wake();
        }
        Ok(written)
    }

    /// Ready when a write may make progress (`Err` when it never will again).
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.lock();
        if let Some(e) = Self::write_error(&s) {
            return Poll::Ready(Err(e));
        }
        if s.bytes.len() < s.capacity {
            return Poll::Ready(Ok(()));
        }
        if !s.writers.iter().any(|w| w.will_wake(cx.waker())) {
            s.writers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Writes what fits of `buf`, waiting for room when none is left.
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.try_write(&[IoSlice::new(buf)]) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
            // Room may have been made between the two locks: ask again rather than sleep.
            match self.poll_writable(cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The writer is done: the reader sees EOF after what was written.
    fn close_write(&self) {
        let mut s = self.lock();
        s.eof = true;
        let reader = s.reader.take();
        drop(s);
        if let Some(w) = reader {
            w.wake();
        }
    }

    /// Holds or releases delivery to the reader.
    fn set_held(&self, held: bool) {
        let mut s = self.lock();
        s.held = held;
        let reader = s.reader.take();
        drop(s);
        if let Some(w) = reader {
            w.wake();
        }
    }

    /// The reader is gone: what is in flight is dropped and writes fail.
    fn close_read(&self) {
        let mut s = self.lock();
        s.reader_gone = true;
        s.bytes.clear();
        let writers = std::mem::take(&mut s.writers);
        drop(s);
        writers.into_iter().for_each(Waker::wake);
    }

    /// The connection is reset: both ends fail at once, what is in flight is lost.
    fn reset(&self) {
        let mut s = self.lock();
        s.reset = true;
        s.bytes.clear();
        let reader = s.reader.take();
        let writers = std::mem::take(&mut s.writers);
        drop(s);
        reader.into_iter().chain(writers).for_each(Waker::wake);
    }
}

/// Keeps the waker of the one task that waits on a slot.
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// The reading end of a pipe; dropping it makes the writer's writes fail.
pub struct MemReadHalf(Arc<Pipe>);

impl Drop for MemReadHalf {
    fn drop(&mut self) {
        self.0.close_read();
    }
}

impl AsyncRead for MemReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.poll_read(cx, buf)
    }
}

/// The writing end of a pipe; dropping it is EOF for the reader.
pub struct MemWriteHalf(Arc<Pipe>);

impl Drop for MemWriteHalf {
    fn drop(&mut self) {
        self.0.close_write();
    }
}

impl WriteHalf for MemWriteHalf {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(&[IoSlice::new(buf)])
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write(bufs)
    }

    fn writable(&self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(std::future::poll_fn(|cx| self.0.poll_writable(cx)))
    }
}

/// One end of an in-memory connection.
pub struct MemStream {
    /// What the other end sends.
    rd: MemReadHalf,
    /// What this end sends.
    wr: MemWriteHalf,
    /// Who is at the other end, for the log.
    peer: String,
}

impl AsyncRead for MemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.rd).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.wr.0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.wr.0.close_write();
        Poll::Ready(Ok(()))
    }
}

impl Stream for MemStream {
    fn into_halves(self: Box<Self>) -> (ReadHalf, Arc<dyn WriteHalf>) {
        let MemStream { rd, wr, .. } = *self;
        (Box::new(rd), Arc::new(wr))
    }

    fn peer(&self) -> String {
        self.peer.clone()
    }
}

/// A connection the network knows about, to cut it.
struct Connection {
    /// Who dialed.
    dialer: String,
    /// Who accepted.
    acceptor: String,
    /// Its two directions, dialer to acceptor first (gone once both ends dropped them).
    pipes: [Weak<Pipe>; 2],
}

impl Connection {
    /// Whether it joins `a` and `b`.
    fn joins(&self, a: &str, b: &str) -> bool {
        (self.dialer == a && self.acceptor == b) || (self.dialer == b && self.acceptor == a)
    }

    /// Whether both directions still carry bytes.
    fn is_open(&self) -> bool {
        self.pipes
            .iter()
            .all(|p| p.upgrade().is_some_and(|p| p.is_open()))
    }

    /// Whether an end may still read from it (a half-closed connection still delivers).
    fn is_live(&self) -> bool {
        self.pipes
            .iter()
            .any(|p| p.upgrade().is_some_and(|p| p.is_live()))
    }

    /// Resets both directions.
    fn reset(&self) {
        for pipe in self.pipes.iter().filter_map(Weak::upgrade) {
            pipe.reset();
        }
    }
}

/// The network's state.
#[derive(Default)]
struct NetState {
    /// Running servers by their configured listen address: name and node.
    hosts: HashMap<SocketAddr, (String, Arc<Node>)>,
    /// Pairs (in name order) that cannot reach each other.
    cuts: HashSet<(String, String)>,
    /// Servers that reach nobody.
    isolated: HashSet<String>,
    /// Connections made and not yet fully closed.
    connections: Vec<Connection>,
}

impl NetState {
    /// Whether `a` and `b` are kept apart.
    fn blocked(&self, a: &str, b: &str) -> bool {
        self.isolated.contains(a) || self.isolated.contains(b) || self.cuts.contains(&pair(a, b))
    }

    /// Resets the connections for which `hit` holds and forgets every closed one.
    fn reset_where(&mut self, hit: impl Fn(&Connection) -> bool) -> usize {
        let mut n = 0;
        for c in self.connections.iter().filter(|c| hit(c)) {
            if c.is_open() {
                n += 1;
            }
            c.reset();
        }
        self.connections.retain(Connection::is_live);
        n
    }
}

/// A pair of names in order, so `(a, b)` and `(b, a)` are one key.
fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// The in-memory network every simulated server dials through.
#[derive(Default)]
pub struct MemNet {
    /// Hosts, faults and connections.
    state: Mutex<NetState>,
}

impl MemNet {
    /// An empty network, with nothing cut.
    pub fn new() -> Arc<MemNet> {
        Arc::new(MemNet::default())
    }

    fn lock(&self) -> MutexGuard<'_, NetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What server `from` dials through.
    pub fn transport(self: &Arc<Self>, from: &str) -> Arc<dyn Transport> {
        Arc::new(MemTransport {
            net: self.clone(),
            from: from.to_string(),
        })
    }

    /// Makes `node` reachable at `addr` (its configured listen address).
    pub fn register(&self, addr: SocketAddr, node: Arc<Node>) {
        self.lock().hosts.insert(addr, (node.name.clone(), node));
    }

    /// Makes server `name` unreachable and resets its connections (it is going down).
    pub fn unregister(&self, name: &str) {
        let mut s = self.lock();
        s.hosts.retain(|_, (n, _)| n != name);
        s.reset_where(|c| c.dialer == name || c.acceptor == name);
    }

    /// Resets every connection between `a` and `b` and refuses new ones until healed;
    /// returns how many open connections it reset.
    pub fn cut(&self, a: &str, b: &str) -> usize {
        let mut s = self.lock();
        s.cuts.insert(pair(a, b));
        s.reset_where(|c| c.joins(a, b))
    }

    /// Lets `a` and `b` connect again.
    pub fn heal(&self, a: &str, b: &str) {
        self.lock().cuts.remove(&pair(a, b));
    }

    /// Whether `a` and `b` are kept apart now.
    pub fn is_cut(&self, a: &str, b: &str) -> bool {
        self.lock().blocked(a, b)
    }

    /// Cuts `a` off from everyone until [`MemNet::heal_all`].
    pub fn isolate(&self, a: &str) -> usize {
        let mut s = self.lock();
        s.isolated.insert(a.to_string());
        s.reset_where(|c| c.dialer == a || c.acceptor == a)
    }

    /// Lifts every cut and isolation.
    pub fn heal_all(&self) {
        let mut s = self.lock();
        s.cuts.clear();
        s.isolated.clear();
    }

    /// The open connections, as (dialer, acceptor), oldest first.
    pub fn open_connections(&self) -> Vec<(String, String)> {
        let mut s = self.lock();
        s.connections.retain(Connection::is_live);
        s.connections
            .iter()
            .filter(|c| c.is_open())
            .map(|c| (c.dialer.clone(), c.acceptor.clone()))
            .collect()
    }

    /// Resets the open connection at `index` of [`MemNet::open_connections`] (a lost
    /// connection; new dials still go through). Returns its ends, if there was one.
    pub fn reset_one(&self, index: usize) -> Option<(String, String)> {
        let mut s = self.lock();
        let c = s.connections.iter().filter(|c| c.is_open()).nth(index)?;
        c.reset();
        let ends = (c.dialer.clone(), c.acceptor.clone());
        s.connections.retain(Connection::is_live);
        Some(ends)
    }

    /// Resets every open connection between `a` and `b` without refusing new ones; returns
    /// how many it reset.
    pub fn reset_between(&self, a: &str, b: &str) -> usize {
        self.lock().reset_where(|c| c.joins(a, b))
    }

    /// The dialer's side of every connection between `a` and `b` drops it (its host gave up
    /// on it): there it fails at once, while the acceptor still reads what was sent before,
    /// then EOF, and its own writes fail. The dialer redials at once, so the acceptor may get
    /// the new connection while it still works through the old one. Returns how many.
    pub fn drop_at_dialer(&self, a: &str, b: &str) -> usize {
        let mut s = self.lock();
        let mut n = 0;
        for c in s
            .connections
            .iter()
            .filter(|c| c.is_open() && c.joins(a, b))
        {
            let [there, back] = &c.pipes;
            if let Some(back) = back.upgrade() {
                back.reset();
            }
            if let Some(there) = there.upgrade() {
                there.close_write();
            }
            n += 1;
        }
        s.connections.retain(Connection::is_live);
        n
    }

    /// Holds (or with `held` false, releases) the delivery of what `from` sends `to` on their
    /// open connections: `to` reads nothing, and once the pipe is full `from`'s writes wait,
    /// as when a neighbour stops reading. Returns how many connections it changed.
    pub fn hold(&self, from: &str, to: &str, held: bool) -> usize {
        let mut s = self.lock();
        s.connections.retain(Connection::is_live);
        let mut n = 0;
        for c in s
            .connections
            .iter()
            .filter(|c| c.is_open() && c.joins(from, to))
        {
            let direction = usize::from(c.dialer != from);
            if let Some(pipe) = c.pipes[direction].upgrade() {
                pipe.set_held(held);
                n += 1;
            }
        }
        n
    }

    /// Forgets every host (they hold the network through their transports: this breaks the
    /// cycle when a simulation ends).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.hosts.clear();
        s.reset_where(|_| true);
    }

    /// A connection from `from` to whoever is registered at `addr`; the acceptor's side is
    /// started on the acceptor's task tracker.
    fn connect(&self, from: &str, addr: SocketAddr) -> io::Result<Box<dyn Stream>> {
        let mut s = self.lock();
        let Some((to, node)) = s.hosts.get(&addr).cloned() else {
            return Err(ErrorKind::ConnectionRefused.into());
        };
        if s.blocked(from, &to) {
            return Err(ErrorKind::ConnectionRefused.into());
        }
        let there = Pipe::new(PIPE_CAPACITY);
        let back = Pipe::new(PIPE_CAPACITY);
        s.connections.retain(Connection::is_live);
        s.connections.push(Connection {
            dialer: from.to_string(),
            acceptor: to.clone(),
            pipes: [Arc::downgrade(&there), Arc::downgrade(&back)],
        });
        drop(s);
        let dialer_end = MemStream {
            rd: MemReadHalf(back.clone()),
            wr: MemWriteHalf(there.clone()),
            peer: format!("{to} (in memory)"),
        };
        let acceptor_end = MemStream {
            rd: MemReadHalf(there),
            wr: MemWriteHalf(back),
            peer: format!("{from} (in memory)"),
        };
        node.tasks
            .spawn(accept_stream(node.clone(), Box::new(acceptor_end)));
        Ok(Box::new(dialer_end))
    }
}

/// How one server dials through a [`MemNet`].
pub struct MemTransport {
    /// The network.
    net: Arc<MemNet>,
    /// The server that dials.
    from: String,
}

impl Transport for MemTransport {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Stream>>> {
        Box::pin(async move { self.net.connect(&self.from, addr) })
    }
}
