//! A link to one neighbour: keeps one long-lived, sealed and authenticated connection up and moves
//! records across it both ways.
//!
//! Of each pair, the server whose name sorts first dials and redials with jittered exponential
//! backoff (50 ms up to 5 s); the other waits for it, so a pair never holds two connections.
//! Either side also accepts a connection handed over by its listener, and a newer connection
//! replaces an older one (the neighbour restarted). While a connection is up, a reader feeds
//! the neighbour's records to the flooding state machine; silence past [`DEAD_AFTER`] counts as
//! a dropped link.
//!
//! Sending has two paths. When the link is idle (nothing queued, nothing half-written), the
//! task that made a record writes it straight into the socket with a non-blocking write: no
//! task wake-up per hop, which is what makes a record outrun a client that asks the server
//! three hops away right after its answer. Otherwise the record waits in the outbox and the
//! link's writer sends what is queued in batches. Every write happens under the `wire` lock,
//! so bytes never interleave, and the lock is never held across an `.await`.

use std::io::{ErrorKind, IoSlice};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::handshake;
use super::outbox::Outbox;
use super::transport::{Stream, WriteHalf};
use crate::config::Reach;
use crate::node::{HeldForwards, Node};
use herd_core::peer_wire::{self as wire, PeerLine};
use herd_core::protocol::frame::{Frame, LineFramer};
use herd_core::record::Record;
use herd_core::replica::catch_up::CatchUpQueue;
use herd_core::replica::{Event, PeerId};

/// How often an idle link says `PING`.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// How long a link may stay silent before it counts as dropped.
pub const DEAD_AFTER: Duration = Duration::from_secs(5);
/// The first redial delay.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest redial delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The longest line a neighbour may send.
const PEER_MAX_LINE: usize = 1 << 20;
/// How many records the writer sends in one batch at most.
const BATCH: usize = 4096;
/// How many bytes a link reads at a time (at least a quarter of it).
const READ_CHUNK: usize = 64 * 1024;

/// An authenticated connection and the bytes already read from it.
pub type Connection = (Box<dyn Stream>, BytesMut);

/// The link to one neighbour.
pub struct PeerLink {
    /// Its index among this server's neighbours.
    pub id: PeerId,
    /// The neighbour's name.
    pub name: String,
    /// How to reach the neighbour's peer port (a name is looked up at every dial).
    pub reach: Reach,
    /// True when this side dials (its name sorts first).
    pub dials: bool,
    /// Records waiting to be sent.
    pub outbox: Outbox,
    /// Whether a connection is up now.
    up: AtomicBool,
    /// The write side of the current connection, if one is up.
    wire: Mutex<Option<Wire>>,
    /// Records the neighbour lacks, sent in batches between live ones, then the `CAUGHT` line.
    catch_up: Mutex<CatchUpQueue>,
    /// Hands accepted connections to the link's task.
    handover: mpsc::Sender<Connection>,
    /// The task's end of `handover`, taken when the task starts.
    handed: Mutex<Option<mpsc::Receiver<Connection>>>,
    /// Why the current connection must be closed, once the replica decided it (the
    /// neighbour sent too many lines that were not trusted); the reader acts on it.
    cut: Mutex<Option<String>>,
}

impl PeerLink {
    /// A link (not yet running) from server `me` to neighbour `name` at `reach`, whose outbox
    /// holds at most `outbox_bytes`.
    pub fn new(id: PeerId, me: &str, name: &str, reach: Reach, outbox_bytes: usize) -> PeerLink {
        let (handover, handed) = mpsc::channel(4);
        PeerLink {
            id,
            name: name.to_string(),
            reach,
            dials: me < name,
            outbox: Outbox::new(outbox_bytes),
            up: AtomicBool::new(false),
            wire: Mutex::new(None),
            catch_up: Mutex::new(CatchUpQueue::default()),
            handover,
            handed: Mutex::new(Some(handed)),
            cut: Mutex::new(None),
        }
    }

    /// Closes the current connection after the line in hand, saying `why` in the log.
    pub fn cut(&self, why: String) {
        *self.cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// Why the current connection must be closed, if it must.
    fn take_cut(&self) -> Option<String> {
        self.cut.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Whether a connection to the neighbour is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// How many records its outbox refused for lack of room since start (each is then
    /// sent by a catch-up round, if catch-up is on).
    pub fn overflowed(&self) -> u64 {
        self.outbox.overflowed()
    }

    /// Sends `record` to the neighbour: straight into the socket when the link is idle,
    /// else through the outbox.
    pub fn send(&self, record: Record) {
        {
            let mut wire = self.wire.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(w) = wire.as_mut() {
                if w.pending.is_empty() && self.outbox.is_empty() {
                    let line = record.wire();
                    let parts = [IoSlice::new(line), IoSlice::new(b"\n")];
                    match w.half.try_write_vectored(&parts) {
                        Ok(n) if n == line.len() + 1 => {
                            // Sealed, the records may wait in TLS for a full socket.
                            if !matches!(w.half.try_flush(), Ok(true)) {
                                self.outbox.wake();
                            }
                            return;
                        }
                        Ok(n) => {
                            // Part of it went out: the rest must go next, before anything else.
                            w.pending.extend_from_slice(&line[n.min(line.len())..]);
                            if n <= line.len() {
                                w.pending.push(b'\n');
                            }
                            self.outbox.wake();
                            return;
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        self.outbox.push(record);
    }

    /// Sends `records` (taking them out) in one write when the link is idle, else through
    /// the outbox: what [`PeerLink::send`] does for one, for a batch of lines just handled.
    pub fn send_all(&self, records: &mut Vec<Record>) {
        if records.len() <= 1 {
            if let Some(record) = records.pop() {
                self.send(record);
            }
            return;
        }
        {
            let mut wire = self.wire.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(w) = wire.as_mut() {
                if w.pending.is_empty() && self.outbox.is_empty() {
                    for record in records.iter() {
                        w.pending.extend_from_slice(record.wire());
                        w.pending.push(b'\n');
                    }
                    match w.half.try_write(&w.pending) {
                        Ok(n) => {
                            // What did not go out must go next, before anything else.
                            w.pending.drain(..n);
                            if !w.pending.is_empty() || !matches!(w.half.try_flush(), Ok(true)) {
                                self.outbox.wake();
                            }
                            records.clear();
                            return;
                        }
                        Err(_) => w.pending.clear(),
                    }
                }
            }
        }
        for record in records.drain(..) {
            self.outbox.push(record);
        }
    }

    /// Sends control lines (each with its `\n`) if a connection is up: straight into the
    /// socket when the link is idle (announcements go this way at the rate of records), else
    /// before queued records. Dropped when the link is down: control lines only make sense on
    /// a live link.
    pub fn send_line(&self, line: &[u8]) {
        let mut wire = self.wire.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = wire.as_mut() else {
            return;
        };
        if w.pending.is_empty() && self.outbox.is_empty() {
            match w.half.try_write(line) {
                Ok(n) if n == line.len() => {
                    if !matches!(w.half.try_flush(), Ok(true)) {
                        self.outbox.wake();
                    }
                    return;
                }
                // What did not go out must go next, before anything else.
                Ok(n) => w.pending.extend_from_slice(&line[n..]),
                Err(_) => w.pending.extend_from_slice(line),
            }
        } else {
            w.pending.extend_from_slice(line);
        }
        self.outbox.wake();
    }

    /// Queues what the neighbour lacks, then `done` (the `CAUGHT` line), replacing any
    /// catch-up still under way.
    pub fn queue_catch_up(&self, records: Vec<Bytes>, done: Vec<u8>) {
        *self.catch_up.lock().unwrap_or_else(|e| e.into_inner()) = CatchUpQueue::new(records, done);
        self.outbox.wake();
    }

    /// Takes the next catch-up batch as bytes (records, then the `CAUGHT` line once).
    fn next_catch_up(&self, out: &mut Vec<u8>) -> bool {
        self.catch_up
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_batch(BATCH, out)
    }

    /// Gives the link a connection its listener accepted and authenticated.
    pub async fn hand_over(&self, connection: Connection) {
        let _ = self.handover.send(connection).await;
    }
}

/// The write side of a live connection.
struct Wire {
    /// The connection's write half, shared with the writer task (which awaits writability).
    half: Arc<dyn WriteHalf>,
    /// Bytes that must go out before anything else (a batch or line only partly written).
    pending: Vec<u8>,
}

/// Jittered exponential backoff.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }

    /// The delay before the next try: uniformly in [next/2, next], then `next` doubles.
    fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// Runs link `id` of `node` until the node shuts down.
pub async fn run(node: Arc<Node>, id: PeerId) {
    let link = node.links[id].clone();
    let Some(mut handed) = link.handed.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let stop = node.shutdown.clone();
    let mut backoff = Backoff::new();
    let mut failures = 0u32;
    loop {
        let first = if link.dials {
            tokio::select! {
                _ = stop.cancelled() => return,
                c = handed.recv() => c,
                r = dial(&node, &link) => match r {
                    Ok(c) => Some(c),
                    Err(e) => {
                        failures += 1;
                        let delay = backoff.delay();
                        if failures <= 3 || failures.is_multiple_of(20) {
                            node.log.event(format!("link {}: dial {} failed ({e}), retry {failures} in {} ms", link.name, link.reach, delay.as_millis()));
                        }
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        continue;
                    }
                },
            }
        } else {
            tokio::select! {
                _ = stop.cancelled() => return,
                c = handed.recv() => c,
            }
        };
        let mut next = first;
        while let Some((stream, buf)) = next.take() {
            backoff = Backoff::new();
            failures = 0;
            let peer = stream.peer();
            link.up.store(true, Ordering::Relaxed);
            let sealed = if node.sealing.is_sealed() {
                "sealed"
            } else {
                "not sealed"
            };
            if node.sealing.authenticates() {
                node.log
                    .event(format!("link {}: connected ({peer}, {sealed})", link.name));
            } else {
                node.log.event(format!(
                    "link {}: connected ({peer}, {sealed}); warning: not authenticated, the herd has no secret or CA",
                    link.name
                ));
                if node.insecure_links {
                    tracing::warn!(peer = %link.name, "link up without authentication (insecure_links = true)");
                }
            }
            tokio::select! {
                r = session(&node, &link, stream, buf) => {
                    node.log.event(format!("link {}: dropped ({r})", link.name));
                }
                c = handed.recv() => {
                    node.log.event(format!("link {}: replaced by a new connection", link.name));
                    next = c;
                }
                _ = stop.cancelled() => {
                    link.up.store(false, Ordering::Relaxed);
                    return;
                }
            }
            link.up.store(false, Ordering::Relaxed);
            *link.catch_up.lock().unwrap_or_else(|e| e.into_inner()) = CatchUpQueue::default();
            node.apply(Event::LinkDown(id), &mut node.held_forwards())
                .await;
        }
    }
}

/// Looks `reach` up (now: a neighbour may have come back on another address) and connects
/// to the first of its addresses that answers.
async fn connect(node: &Node, reach: &Reach) -> Result<Box<dyn Stream>, String> {
    let addrs = reach
        .resolve()
        .await
        .map_err(|e| format!("resolving {reach}: {e}"))?;
    let mut failed = Vec::new();
    for addr in addrs {
        match node.transport.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => failed.push(format!("{addr}: {e}")),
        }
    }
    Err(failed.join("; "))
}

/// Connects to the neighbour and runs the dialer's handshake.
async fn dial(node: &Node, link: &PeerLink) -> Result<Connection, String> {
    let stream = tokio::time::timeout(handshake::STEP_TIMEOUT, connect(node, &link.reach))
        .await
        .map_err(|_| "connect timed out".to_string())??;
    match node.sealing.dial(stream, &node.name, &link.name).await {
        Ok(connection) => Ok(connection),
        Err(e) => {
            node.log_limited("handshake refused", || {
                format!("link {}: handshake refused: {e}", link.name)
            });
            Err(format!("handshake: {e}"))
        }
    }
}

/// Moves records both ways until the connection fails; says why it ended.
async fn session(
    node: &Node,
    link: &PeerLink,
    stream: Box<dyn Stream>,
    mut buf: BytesMut,
) -> String {
    let (mut rd, half) = stream.into_halves();
    link.take_cut();
    *link.wire.lock().unwrap_or_else(|e| e.into_inner()) = Some(Wire {
        half: half.clone(),
        pending: Vec::new(),
    });
    // What overflowed while the link was down is sent by the catch-up of this link-up.
    let mut repaired = link.overflowed();
    // The wire is set first, so the watermarks this sends go out on this connection.
    node.apply(Event::LinkUp(link.id), &mut node.held_forwards())
        .await;
    let writer = async {
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            let overflowed = link.overflowed();
            match flush(link) {
                Err(e) => return format!("write failed: {e}"),
                Ok(true) => {
                    if let Err(e) = half.writable().await {
                        return format!("write failed: {e}");
                    }
                }
                Ok(false) if overflowed > repaired => {
                    // All that was queued is out: the neighbour answers `RESYNC` with its
                    // watermarks, and gets what it lacks, the refused records included.
                    repaired = overflowed;
                    node.log.event(format!(
                        "link {}: outbox full, records refused; asking for a catch-up round",
                        link.name
                    ));
                    link.send_line(wire::RESYNC_LINE);
                }
                Ok(false) => {
                    tokio::select! {
                        _ = link.outbox.ready() => {}
                        _ = ping.tick() => {
                            if let Some(w) = link.wire.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                                w.pending.extend_from_slice(b"PING\n");
                            }
                        }
                    }
                }
            }
        }
    };
    let reader = async {
        let mut framer = LineFramer::new(PEER_MAX_LINE);
        let mut held = node.held_forwards();
        // The records and announcements of a read, taken by the replica together (see
        // `Node::apply_records`).
        let mut records = Vec::new();
        loop {
            while let Some(frame) = framer.next_frame(&mut buf, false) {
                let event = match frame {
                    Frame::Line(line) => match receive(node, link, &line) {
                        Some(event @ (Event::Peer { .. } | Event::Announced { .. })) => {
                            records.push(event);
                            continue;
                        }
                        Some(event) => event,
                        None => continue,
                    },
                    Frame::Overlong(_) => Event::BadLine { from: link.id },
                };
                // Other lines keep their place after the records before them.
                if let Some(why) = take_in(node, link, &mut records, Some(event), &mut held).await {
                    return why;
                }
            }
            if let Some(why) = take_in(node, link, &mut records, None, &mut held).await {
                return why;
            }
            // What this read brought goes on in one write per link.
            held.flush();
            // Without room, `read_buf` would read 64 bytes at a time: under a flood, two
            // reads per record.
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            match tokio::time::timeout(DEAD_AFTER, rd.read_buf(&mut buf)).await {
                Err(_) => return format!("silent for {} s", DEAD_AFTER.as_secs()),
                Ok(Ok(0)) => return "closed by the neighbour".to_string(),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return format!("read failed: {e}"),
            }
        }
    };
    let why = tokio::select! {
        why = writer => why,
        why = reader => why,
    };
    *link.wire.lock().unwrap_or_else(|e| e.into_inner()) = None;
    why
}

/// Writes what is pending, then queued batches, without blocking. Returns whether bytes are
/// still waiting for the socket to become writable.
fn flush(link: &PeerLink) -> std::io::Result<bool> {
    let mut guard = link.wire.lock().unwrap_or_else(|e| e.into_inner());
    let Some(w) = guard.as_mut() else {
        return Err(ErrorKind::NotConnected.into());
    };
    loop {
        while !w.pending.is_empty() {
            match w.half.try_write(&w.pending) {
                Ok(n) => {
                    w.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        let batch = link.outbox.take_up_to(BATCH);
        if batch.is_empty() {
            if !link.next_catch_up(&mut w.pending) {
                // All is taken; sealed, it may still wait in TLS for room in the socket.
                return Ok(!w.half.try_flush()?);
            }
            continue;
        }
        for record in &batch {
            w.pending.extend_from_slice(record.wire());
            w.pending.push(b'\n');
        }
    }
}

/// Hands the replica the `records` (and announcements) gathered from `link`, then `event`,
/// unless they got the link cut. Returns why the link was cut, if it was.
async fn take_in(
    node: &Node,
    link: &PeerLink,
    records: &mut Vec<Event>,
    event: Option<Event>,
    held: &mut HeldForwards,
) -> Option<String> {
    node.apply_records(link.id, std::mem::take(records), held)
        .await;
    if let Some(event) = event {
        if let Some(why) = link.take_cut() {
            return Some(format!("cut off: {why}"));
        }
        node.apply(event, held).await;
    }
    link.take_cut().map(|why| format!("cut off: {why}"))
}

/// What one line from a neighbour is for the replica (`None` for a ping).
fn receive(node: &Node, link: &PeerLink, line: &[u8]) -> Option<Event> {
    let from = link.id;
    // A copy: a record kept in the table must not keep the whole read buffer alive.
    Some(match wire::parse(Bytes::copy_from_slice(line)) {
        Ok(PeerLine::Ping) => return None,
        Ok(PeerLine::Resync) => {
            node.log.event(format!(
                "link {}: records for here were refused on the way; catching up",
                link.name
            ));
            Event::Resync(from)
        }
        Ok(PeerLine::Record(record)) => Event::Peer { from, record },
        Ok(PeerLine::Announced { client, time, gone }) => Event::Announced {
            from,
            client,
            time,
            gone,
        },
        Ok(PeerLine::Graft(client)) => Event::Graft { from, client },
        Ok(PeerLine::Prune(origin)) => Event::Prune { from, origin },
        Ok(PeerLine::Watermarks(marks)) => Event::Watermarks { from, marks },
        Ok(PeerLine::CaughtUp(marks)) => {
            // A neighbour says this once per link-up; one that says it in a loop is not
            // worth a line each time.
            node.log_limited("caught up", || format!("link {}: caught up", link.name));
            Event::CaughtUp { from, marks }
        }
        // Counted (and logged with the other counts by housekeeping, not once per line).
        Err(_) => Event::BadLine { from },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new();
        let first = b.delay();
        assert!(first >= BACKOFF_MIN / 2 && first <= BACKOFF_MIN);
        for _ in 0..20 {
            let d = b.delay();
            assert!(d <= BACKOFF_MAX && d >= Duration::from_millis(25));
        }
        assert_eq!(b.next, BACKOFF_MAX);
    }
}
