//! One client connection: read lines, answer each in order, one write per batch of ready
//! answers. The records a batch makes go to each neighbour in one write too, before the
//! answers. Only the client protocol is spoken here: links arrive on the peer port.
//!
//! A client costs the server a bounded amount, whatever it does (see [`ClientLimits`]):
//! answers the socket has not taken are kept up to `client_output_limit` bytes, a socket
//! that takes nothing while answers wait is given up after `client_write_timeout`, and a
//! silent client after `client_idle_timeout` if one is set. While answers are being written
//! the connection reads nothing more, so a client that sends without reading is held back
//! by TCP rather than by the server's memory. The server closes such connections itself and
//! counts them ([`Cut`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use futures::FutureExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::HerdConfig;
use crate::disconnects::Cut;
use crate::iolog::LogBatch;
use crate::node::{HeldForwards, Node};
use crate::stats::{BatchTally, CommandKind, Lines};
use herd_core::protocol::answer;
use herd_core::protocol::command::{self, Command};
use herd_core::protocol::frame::{Frame, LineFramer};
use herd_core::record::Record;
use herd_core::replica::ClientReport;
use herd_places::NearbyQuery;

/// One item per line of a read, kept inline for the usual few lines (a read of one line
/// costs no allocation).
type PerLine<T> = smallvec::SmallVec<[T; 4]>;

/// How many bytes a connection reads at a time at first: enough for a client that sends a
/// line now and then, so thousands of held connections stay small.
const FIRST_CHUNK: usize = 512;
/// How many bytes a connection reads at a time once a read has filled its buffer.
const READ_CHUNK: usize = 4096;

/// What one client connection may cost: `[herd]`'s deadlines and output ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// How long answers may wait on a socket that takes nothing.
    pub write_timeout: Duration,
    /// How many bytes of answers not yet taken by the socket a client may have.
    pub output_limit: usize,
    /// How long a client may send nothing, if bounded.
    pub idle_timeout: Option<Duration>,
}

impl From<&HerdConfig> for ClientLimits {
    fn from(herd: &HerdConfig) -> Self {
        ClientLimits {
            write_timeout: herd.client_write_timeout,
            output_limit: herd.client_output_limit,
            idle_timeout: herd.client_idle_timeout,
        }
    }
}

/// Why a connection ended early.
enum Ended {
    /// The client went away, or its socket failed.
    Gone,
    /// The server closed it, for this reason.
    Cut(Cut),
}

/// Serves `stream` within `limits` until the client closes it, it fails, the server closes
/// it (counted in the node's disconnects) or the server shuts down: then what is being
/// answered is finished and written, unless the shutdown grace runs out first.
pub async fn serve(node: Arc<Node>, stream: TcpStream, limits: ClientLimits) {
    let _ = stream.set_nodelay(true);
    let traffic = &node.stats.traffic;
    traffic.connections.fetch_add(1, Ordering::Relaxed);
    let mut output = Output {
        stream,
        pending: Vec::new(),
        limits,
    };
    let ended = converse(&node, &mut output).await;
    match ended {
        Ok(()) => {
            let _ = output.stream.shutdown().await;
        }
        Err(Ended::Cut(why)) => node.disconnects.count(why),
        Err(Ended::Gone) => {}
    }
    traffic.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Reads and answers lines until the client half-closes or the server shuts down.
///
/// Between reads an idle connection keeps almost nothing: no read buffer unless a line is
/// half-received, no answer buffer, and the state of answering a batch (its counters, the
/// records held for the links, a pending places call) lives in a boxed future that exists
/// only while a batch is answered. So the task of a held connection is a few hundred bytes
/// rather than the largest state any batch ever needs.
async fn converse(node: &Node, output: &mut Output) -> Result<(), Ended> {
    let mut buf = BytesMut::new();
    let mut chunk = FIRST_CHUNK;
    let mut framer = LineFramer::new(node.max_line);
    let mut eof = false;
    let mut heard = Instant::now();
    let mut fresh = false;
    // One wait for the shutdown for the whole connection: made anew for every read, it would
    // join and leave the token's list of waiters (under its lock) once per request.
    let shutdown = node.shutdown.cancelled();
    tokio::pin!(shutdown);
    loop {
        if fresh || eof {
            // Cut when the shutdown grace runs out (an idle connection is closed at once
            // when the shutdown starts, below). The batch is polled first: one answered at
            // once never waits on the grace's token at all.
            Box::pin(async {
                tokio::select! {
                    biased;
                    answered = answer_batch(node, output, &mut framer, &mut buf, eof) => answered,
                    _ = node.grace_over.cancelled() => Err(Ended::Cut(Cut::Shutdown)),
                }
            })
            .await?;
            fresh = false;
        }
        if eof {
            return Ok(());
        }
        output.release();
        if buf.is_empty() {
            buf = BytesMut::new();
        }
        // Boxed, and only with an idle timeout: a timer is larger than the rest of the wait.
        let silence = output
            .limits
            .idle_timeout
            .map(|idle| Box::pin(tokio::time::sleep_until(heard + idle)));
        let silence = async move {
            match silence {
                Some(sleep) => sleep.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            _ = silence => return Err(Ended::Cut(Cut::Idle)),
            ready = output.stream.readable() => if ready.is_err() {
                return Err(Ended::Gone);
            },
        }
        // Readable: only now is there a buffer to read into.
        match read_some(&output.stream, &mut buf, chunk) {
            Ok((0, _)) => eof = true,
            // A read that fills the buffer: a busy client, read it in larger chunks.
            Ok((_, filled)) => {
                heard = Instant::now();
                fresh = true;
                if filled {
                    chunk = READ_CHUNK;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(Ended::Gone),
        }
    }
}

/// Reads what `stream` has into `buf` (first making room for at least an eighth of `chunk`);
/// returns how many bytes came and whether they filled the room.
///
/// A read that leaves room means the socket had nothing more at that moment, so it also
/// clears the socket's readiness (only if no new data was signalled since: the runtime
/// checks). Otherwise the next wait for readiness would return at once and begin with a read
/// that finds nothing: one wasted `recv` per request for a client that waits for its answer.
/// The room is zeroed first (a few hundred bytes at most for such a client): reading into
/// memory not yet written would need `unsafe`.
fn read_some(
    stream: &TcpStream,
    buf: &mut BytesMut,
    chunk: usize,
) -> std::io::Result<(usize, bool)> {
    use std::io::{ErrorKind, Read};
    if buf.capacity() - buf.len() < chunk / 8 {
        buf.reserve(chunk);
    }
    let start = buf.len();
    let room = buf.capacity() - start;
    buf.resize(buf.capacity(), 0);
    let mut got = 0;
    let read = stream.try_io(tokio::io::Interest::READABLE, || {
        got = (&*socket2::SockRef::from(stream)).read(&mut buf[start..])?;
        if got > 0 && got < room {
            // Drained: tell the runtime, so that it waits for the next data.
            Err(ErrorKind::WouldBlock.into())
        } else {
            Ok(got)
        }
    });
    buf.truncate(start + got);
    match read {
        Ok(n) => Ok((n, n == room)),
        Err(e) if e.kind() == ErrorKind::WouldBlock && got > 0 => Ok((got, false)),
        Err(e) => Err(e),
    }
}

/// Answers every whole line in `buf` (and, at `eof`, the unterminated last one), floods the
/// records they made, then writes the answers.
async fn answer_batch(
    node: &Node,
    output: &mut Output,
    framer: &mut LineFramer,
    buf: &mut BytesMut,
    eof: bool,
) -> Result<(), Ended> {
    let mut held = node.held_forwards();
    // Counted per batch, added to the node's counters once per read (see `stats`).
    let mut tally = BatchTally::default();
    // When the lines being answered started: the end of the run before (one clock reading
    // per run of lines).
    let mut mark = std::time::Instant::now();
    let mut log = node.log.batch();
    let mut frames = PerLine::<Frame>::new();
    while let Some(frame) = framer.next_frame(buf, eof) {
        frames.push(frame);
    }
    // Each line read once as an IAMAT (or not): a run of IAMATs is numbered together, any
    // other line is answered on its own.
    let reports: PerLine<Option<ClientReport<'_>>> = frames.iter().map(report_in).collect();
    let mut next = 0;
    while next < frames.len() {
        let mut answering = Answering {
            node,
            output: &mut *output,
            held: &mut held,
            log: &mut log,
        };
        let run: PerLine<ClientReport<'_>> = reports[next..].iter().map_while(|r| *r).collect();
        let answered = if run.is_empty() {
            let answered = answering.frame(&frames[next]).await;
            next += 1;
            answered
        } else {
            let lines = &frames[next..next + run.len()];
            next += run.len();
            answering.reports(lines, &run).await
        };
        match answered.and_then(|counts| output.bounded().map(|()| counts)) {
            Ok(counts) => mark = tally.count_run(&counts, mark),
            Err(ended) => {
                tally.flush(&node.stats.traffic);
                return Err(ended);
            }
        }
    }
    tally.flush(&node.stats.traffic);
    // Flooded before answered.
    held.flush();
    log.flush();
    output.send().await
}

/// The client's socket and the answers it has not taken yet.
struct Output {
    /// The client's connection.
    stream: TcpStream,
    /// Answers ready but not yet taken by the socket.
    pending: Vec<u8>,
    /// The deadlines and the ceiling.
    limits: ClientLimits,
}

impl Output {
    /// Keeps the unsent answers within the output limit: past it, gives the socket what it
    /// takes now without waiting, and closes the connection if that is not enough.
    fn bounded(&mut self) -> Result<(), Ended> {
        if self.pending.len() <= self.limits.output_limit {
            return Ok(());
        }
        let mut sent = 0;
        while sent < self.pending.len() {
            match self.stream.try_write(&self.pending[sent..]) {
                Ok(0) => return Err(Ended::Gone),
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(Ended::Gone),
            }
        }
        self.pending.drain(..sent);
        if self.pending.len() > self.limits.output_limit {
            return Err(Ended::Cut(Cut::OutputLimit));
        }
        Ok(())
    }

    /// Writes every pending answer, as one write when the socket has room. Gives up when the
    /// socket takes nothing for the write timeout.
    async fn send(&mut self) -> Result<(), Ended> {
        let mut sent = 0;
        while sent < self.pending.len() {
            let write = self.stream.write(&self.pending[sent..]);
            match tokio::time::timeout(self.limits.write_timeout, write).await {
                Err(_) => return Err(Ended::Cut(Cut::WriteTimeout)),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(Ended::Gone),
                Ok(Ok(n)) => sent += n,
            }
        }
        self.pending.clear();
        Ok(())
    }

    /// Gives back the answer buffer once everything is written: a connection between
    /// requests holds no buffer.
    fn release(&mut self) {
        if self.pending.is_empty() {
            self.pending = Vec::new();
        }
    }
}

/// What answering a frame needs: the answers not yet written (and the connection to write
/// them to) and the records not yet forwarded.
struct Answering<'a, 'b> {
    /// The server.
    node: &'a Node,
    /// The connection and its answers not yet written.
    output: &'a mut Output,
    /// Records to forward before the answers are written.
    held: &'a mut HeldForwards,
    /// The I/O log's lines of this batch, queued together.
    log: &'a mut LogBatch<'b>,
}

impl Answering<'_, '_> {
    /// Floods what is held, then writes the pending answers: for when an answer must go out
    /// before the batch ends. The log's lines go too, so that those after the wait get the
    /// time they happen at.
    async fn send_ready(&mut self) -> Result<(), Ended> {
        self.held.flush();
        self.log.flush();
        self.output.send().await
    }

    /// Answers a run of IAMATs (`lines`, already read as `reports`): numbered together (see
    /// [`Node::clients`]), flooded, made durable if `fsync = "always"` (flooded first: a
    /// neighbour need not wait for this disk), then answered and logged in order, line by line.
    /// A report refused, or not made durable, is answered `?`. Returns how many lines were of
    /// each kind.
    async fn reports(
        &mut self,
        lines: &[Frame],
        reports: &[ClientReport<'_>],
    ) -> Result<Lines, Ended> {
        let node = self.node;
        let numbered = node.clients(reports, now_nanos(), self.held).await;
        // Which lines could not be made durable, and why.
        let mut not_durable = Vec::new();
        let mut covered = 0;
        if !numbered.durable.is_empty() {
            self.held.flush();
            self.log.flush();
        }
        for (upto, durable) in numbered.durable {
            if let Err(e) = durable.wait().await {
                not_durable.push((covered..upto, e.to_string()));
            }
            covered = upto;
        }
        let mut lines_of = Lines::default();
        for (i, (frame, outcome)) in lines.iter().zip(numbered.outcomes).enumerate() {
            let (Frame::Line(line) | Frame::Overlong(line)) = frame;
            self.log.input(line);
            let start = self.output.pending.len();
            let failed = not_durable.iter().find(|(range, _)| range.contains(&i));
            match (outcome, failed) {
                (Ok(record), None) => {
                    self.output.pending.extend_from_slice(record.line());
                    self.output.pending.push(b'\n');
                    self.log.output(record.line());
                    lines_of.add(CommandKind::IAmAt);
                    continue;
                }
                // Not durable, so not acknowledged.
                (Ok(_), Some((_, e))) => self.log.event(&format!("storing a record failed: {e}")),
                (Err(e), _) => self.log.event(&format!("IAMAT refused: {e}")),
            }
            answer::invalid(line, &mut self.output.pending);
            self.log.output(&self.output.pending[start..]);
            lines_of.add(CommandKind::Invalid);
        }
        Ok(lines_of)
    }

    /// Appends the answer to one frame (a line that is not an IAMAT, as a rule: those come in
    /// runs to [`Answering::reports`]) to the pending answers. A WHATSAT whose places are not
    /// ready at once first sends what is pending, so earlier answers never wait on an
    /// upstream service. Returns what the line counts as (an answer `?` is
    /// [`CommandKind::Invalid`], whatever the command).
    async fn frame(&mut self, frame: &Frame) -> Result<Lines, Ended> {
        let node = self.node;
        let start = self.output.pending.len();
        let line = match frame {
            Frame::Overlong(head) => {
                self.log.input(&[&head[..], b"..."].concat());
                answer::overlong(head, &mut self.output.pending);
                self.log.output(&self.output.pending[start..]);
                return Ok(Lines::one(CommandKind::Invalid));
            }
            Frame::Line(line) => line,
        };
        let command = command::parse(line);
        if let Some(report) = command.as_ref().ok().and_then(report_of) {
            return self.reports(std::slice::from_ref(frame), &[report]).await;
        }
        self.log.input(line);
        match command {
            Ok(Command::WhatsAt {
                client,
                radius_km,
                bound,
            }) => match self.known(client).await? {
                None => answer::invalid(line, &mut self.output.pending),
                Some(record) => {
                    let (lat, lng) = record.position();
                    let query = NearbyQuery {
                        lat,
                        lng,
                        radius_m: radius_km * 1000.0,
                        bound,
                    };
                    let mut places = node.places.nearby(query);
                    let json = match (&mut places).now_or_never() {
                        Some(json) => json,
                        None => {
                            self.send_ready().await?;
                            places.await
                        }
                    };
                    let traffic = &node.stats.traffic;
                    traffic.places_requests.fetch_add(1, Ordering::Relaxed);
                    if !matches!(json["status"].as_str(), Some("OK" | "ZERO_RESULTS")) {
                        traffic.places_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    let start = self.output.pending.len();
                    answer::whatsat(record.line(), json, bound, &mut self.output.pending);
                    self.log.output(&self.output.pending[start..]);
                    return Ok(Lines::one(CommandKind::WhatsAt));
                }
            },
            // An IAMAT is answered above.
            Ok(Command::IAmAt { .. }) | Err(_) => answer::invalid(line, &mut self.output.pending),
        }
        self.log.output(&self.output.pending[start..]);
        Ok(Lines::one(CommandKind::Invalid))
    }

    /// The record of `client`: at once if known; else, when some link is up, after waiting
    /// up to [`IN_FLIGHT_GRACE`] for it (sending the pending answers first, so they never
    /// wait).
    async fn known(&mut self, client: &[u8]) -> Result<Option<Record>, Ended> {
        let node = self.node;
        if let Some(record) = node.table().get(client) {
            return Ok(Some(record));
        }
        if !node.links.iter().any(|l| l.is_up()) {
            return Ok(None);
        }
        self.send_ready().await?;
        Ok(node
            .arrivals
            .wait_for(node.table(), client, IN_FLIGHT_GRACE)
            .await)
    }
}

/// The IAMAT report a frame holds, if it is one.
fn report_in(frame: &Frame) -> Option<ClientReport<'_>> {
    let Frame::Line(line) = frame else {
        return None;
    };
    report_of(&command::parse(line).ok()?)
}

/// The report of `command`, if it is an IAMAT.
fn report_of<'a>(command: &Command<'a>) -> Option<ClientReport<'a>> {
    match *command {
        Command::IAmAt {
            client,
            location,
            time,
            lat,
            lng,
        } => Some(ClientReport {
            client,
            location,
            time,
            position: (lat, lng),
        }),
        _ => None,
    }
}

/// How long a WHATSAT about an unknown client waits for its record to arrive from a
/// neighbour before it is answered `?`: a client may ask here right after another server
/// answered its IAMAT, while the record is still a hop or two away.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_millis(10);

/// The wall clock in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}
