//! The load scenarios: pipelined connections (iamat, whatsat, mixed, redis-set), one
//! connection per command (the graders' way), and many held connections sending slowly.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use futures::StreamExt;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::answer::{frame_len, judge, Expect, Verdict};
use super::command::CommandMaker;
use super::dial::Dialer;
use super::report::Tally;

/// An answer buffer larger than this means the server is not framing answers: give up.
const MAX_BUFFERED: usize = 16 << 20;
/// How many connections the `hold` scenario opens at the same time.
const OPEN_AT_ONCE: usize = 256;

/// When a run stops: after a number of requests, at a deadline, or whichever comes first.
#[derive(Debug)]
pub struct Budget {
    /// Requests to send in all, if bounded by count.
    limit: Option<u64>,
    /// When to stop sending, if bounded by time.
    deadline: Option<Instant>,
    /// Requests handed out so far.
    issued: AtomicU64,
    /// Requests finished so far (answered or lost), for the progress display.
    done: AtomicU64,
}

impl Budget {
    /// A budget of `limit` requests and/or `duration` from now.
    pub fn start(limit: Option<u64>, duration: Option<Duration>) -> Self {
        Self {
            limit,
            deadline: duration.map(|d| Instant::now() + d),
            issued: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    /// Takes one request from the budget; false once it is spent or past its deadline.
    pub fn claim(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match self.limit {
            Some(limit) => self.issued.fetch_add(1, Ordering::Relaxed) < limit,
            None => true,
        }
    }

    /// Notes that `n` more requests finished.
    pub fn finished(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests finished so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// The deadline, if the run is bounded by time.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// What every worker of one run shares.
#[derive(Debug)]
pub struct Shared {
    /// When to stop.
    pub budget: Budget,
    /// How long to wait for an answer (or a connect) before counting it lost.
    pub timeout: Duration,
    /// Commands in flight per connection.
    pub pipeline: usize,
    /// How connections are opened.
    pub dialer: Dialer,
}

/// A command on the wire whose answer has not come back yet.
struct Pending {
    /// When it was written.
    sent: Instant,
    /// The command line, to check the answer's echo.
    line: Vec<u8>,
    /// The kind of answer it expects.
    expect: Expect,
}

/// Runs one pipelined connection to `target` until the budget is spent: keeps up to
/// `pipeline` commands in flight, refilling in one write after each read.
pub async fn pipelined(
    shared: Arc<Shared>,
    target: SocketAddr,
    n: usize,
    mut maker: CommandMaker,
) -> Tally {
    let mut tally = Tally::default();
    let mut inflight: std::collections::VecDeque<Pending> = Default::default();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    let mut buf = BytesMut::with_capacity(64 << 10);
    let Some(mut stream) = open(&shared.dialer, shared.timeout, target, n, &mut tally).await else {
        return tally;
    };
    loop {
        out.clear();
        let first_new = inflight.len();
        while inflight.len() < shared.pipeline && shared.budget.claim() {
            let mut line = spare.pop().unwrap_or_default();
            line.clear();
            let expect = maker.write_next(&mut line);
            out.extend_from_slice(&line);
            inflight.push_back(Pending {
                sent: Instant::now(),
                line,
                expect,
            });
        }
        if inflight.is_empty() {
            return tally;
        }
        let sent = Instant::now();
        inflight
            .iter_mut()
            .skip(first_new)
            .for_each(|p| p.sent = sent);
        let ok = (out.is_empty() || write_all(&mut stream, &out, shared.timeout).await)
            && read_some(&mut stream, &mut buf, shared.timeout).await;
        if !ok {
            tally.io_errors += inflight.len() as u64;
            shared.budget.finished(inflight.len() as u64);
            inflight.clear();
            buf.clear();
            match open(&shared.dialer, shared.timeout, target, n, &mut tally).await {
                Some(fresh) if shared.budget.deadline().is_none_or(|d| Instant::now() < d) => {
                    stream = fresh;
                    continue;
                }
                _ => return tally,
            }
        }
        let now = Instant::now();
        let mut answered = 0;
        while let Some(front) = inflight.front() {
            let Some(len) = frame_len(&buf, front.expect) else {
                break;
            };
            let verdict = judge(&buf[..len], &front.line, front.expect);
            tally.answered(now - front.sent, verdict);
            buf.advance(len);
            answered += 1;
            if let Some(done) = inflight.pop_front() {
                spare.push(done.line);
            }
        }
        shared.budget.finished(answered);
    }
}

/// Opens connection number `n` within `limit`, counting a failure.
async fn open(
    dialer: &Dialer,
    limit: Duration,
    target: SocketAddr,
    n: usize,
    tally: &mut Tally,
) -> Option<TcpStream> {
    match timeout(limit, dialer.connect(target, n)).await {
        Ok(Ok(stream)) => Some(stream),
        _ => {
            tally.connect_errors += 1;
            None
        }
    }
}

/// Writes all of `bytes` within `limit`; false on error or timeout.
async fn write_all(stream: &mut TcpStream, bytes: &[u8], limit: Duration) -> bool {
    matches!(timeout(limit, stream.write_all(bytes)).await, Ok(Ok(())))
}

/// Reads more bytes within `limit`; false on error, timeout, end of stream, or a buffer
/// grown past any sane answer.
async fn read_some(stream: &mut TcpStream, buf: &mut BytesMut, limit: Duration) -> bool {
    if buf.len() > MAX_BUFFERED {
        return false;
    }
    buf.reserve(16 << 10);
    matches!(timeout(limit, stream.read_buf(buf)).await, Ok(Ok(n)) if n > 0)
}

/// Runs commands one connection each: connect, write, half-close, read to end of stream,
/// the way the classic graders talk. Latency includes the connect.
pub async fn connect_per_request(
    shared: Arc<Shared>,
    target: SocketAddr,
    n: usize,
    mut maker: CommandMaker,
) -> Tally {
    let mut tally = Tally::default();
    let mut line = Vec::new();
    let mut answer = Vec::new();
    let mut attempt = n;
    let dialer = shared.dialer.short_lived();
    while shared.budget.claim() {
        line.clear();
        answer.clear();
        let expect = maker.write_next(&mut line);
        let start = Instant::now();
        attempt = attempt.wrapping_add(1);
        let Some(mut stream) = open(&dialer, shared.timeout, target, attempt, &mut tally).await
        else {
            tally.io_errors += 1;
            shared.budget.finished(1);
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let exchange = async {
            stream.write_all(&line).await?;
            stream.shutdown().await?;
            stream.read_to_end(&mut answer).await
        };
        let read = timeout(shared.timeout, exchange).await;
        match read {
            Ok(Ok(_)) if !answer.is_empty() => {
                let verdict = match frame_len(&answer, expect) {
                    Some(len) if len == answer.len() => judge(&answer, &line, expect),
                    _ => Verdict::Malformed,
                };
                tally.answered(start.elapsed(), verdict);
            }
            _ => tally.io_errors += 1,
        }
        shared.budget.finished(1);
    }
    tally
}

/// Opens `count` connections spread over `targets` (a bounded number at a time), each
/// greeted with one untimed IAMAT so that it counts only once the server really serves it
/// (not merely once the kernel queued it). Returns the served connections with their
/// numbers, and a tally of them (`connections`) and of failures (`connect_errors`).
pub async fn open_many(
    shared: &Shared,
    targets: &[SocketAddr],
    count: usize,
    maker: &CommandMaker,
) -> (Vec<(usize, TcpStream)>, Tally) {
    let mut opened = Vec::with_capacity(count);
    let mut tally = Tally::default();
    let mut attempts = futures::stream::iter(0..count)
        .map(|n| {
            let target = targets[n % targets.len()];
            async move { (n, open_served(shared, target, n, maker).await) }
        })
        .buffer_unordered(OPEN_AT_ONCE);
    while let Some((n, result)) = attempts.next().await {
        match result {
            Some(stream) => opened.push((n, stream)),
            None => tally.connect_errors += 1,
        }
    }
    tally.connections = opened.len() as u64;
    (opened, tally)
}

/// Connects and exchanges one IAMAT (client id = `n`); `None` if either fails in time.
async fn open_served(
    shared: &Shared,
    target: SocketAddr,
    n: usize,
    maker: &CommandMaker,
) -> Option<TcpStream> {
    let mut line = Vec::new();
    maker.write_iamat(n as u64, &mut line);
    let greet = async {
        let mut stream = shared.dialer.connect(target, n).await.ok()?;
        stream.write_all(&line).await.ok()?;
        let mut buf = BytesMut::with_capacity(256);
        while frame_len(&buf, Expect::Iamat).is_none() {
            if stream.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
        let len = frame_len(&buf, Expect::Iamat)?;
        // Any one-line answer shows the server serves the connection (Redis says -ERR).
        (len == buf.len()).then_some(stream)
    };
    timeout(shared.timeout, greet).await.ok().flatten()
}

/// Holds one open connection and sends one IAMAT every `every` (client id = connection
/// number), from a random moment in the first period, until the budget is spent. Answers
/// go into the one `tally` all held connections share: a histogram each would cost ten
/// thousand connections gigabytes, allocated right when they start sending.
pub async fn hold(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    n: usize,
    maker: CommandMaker,
    every: Duration,
    tally: Arc<std::sync::Mutex<Tally>>,
) {
    let lock = || tally.lock().unwrap_or_else(|e| e.into_inner());
    let mut line = Vec::new();
    let mut buf = BytesMut::with_capacity(256);
    let every = every.max(Duration::from_millis(1));
    let phase = every.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + phase, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let tick = ticks.tick();
        let waited = match shared.budget.deadline() {
            Some(d) => tokio::time::timeout_at(d.into(), tick).await.is_ok(),
            None => {
                tick.await;
                true
            }
        };
        if !waited || !shared.budget.claim() {
            return;
        }
        line.clear();
        maker.write_iamat(n as u64, &mut line);
        let start = Instant::now();
        let mut ok = write_all(&mut stream, &line, shared.timeout).await;
        while ok && frame_len(&buf, Expect::Iamat).is_none() {
            ok = read_some(&mut stream, &mut buf, shared.timeout).await;
        }
        shared.budget.finished(1);
        let Some(len) = frame_len(&buf, Expect::Iamat).filter(|_| ok) else {
            lock().io_errors += 1;
            return;
        };
        let latency = start.elapsed();
        let verdict = judge(&buf[..len], &line, Expect::Iamat);
        lock().answered(latency, verdict);
        buf.advance(len);
    }
}
