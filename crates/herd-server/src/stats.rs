//! What a server counts for its metrics and tells its watchers, kept off the hot path.
//!
//! Connections count commands in a [`BatchTally`] on their own stack and add it to the shared
//! [`Traffic`] once per read batch, with relaxed atomics: no lock and no shared cache line per
//! line. Links' counters are added per batch of records too. Everything else the metrics show
//! (table size, outbox bytes, store and places figures) is read when they are scraped.
//!
//! Watchers (the HTTP side's live events and spatial index) subscribe to a bounded
//! [`Change`] feed, which exists only once one asked for it: a server nobody watches pays
//! nothing for it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use herd_core::record::Record;
use herd_core::replica::Watermarks;
use tokio::sync::broadcast;

/// The commands a client line can be, as the metrics tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// An `IAMAT`.
    IAmAt = 0,
    /// A `WHATSAT`.
    WhatsAt = 1,
    /// Anything answered `?`.
    Invalid = 2,
}

impl CommandKind {
    /// Every kind, in index order.
    pub const ALL: [CommandKind; 3] = [
        CommandKind::IAmAt,
        CommandKind::WhatsAt,
        CommandKind::Invalid,
    ];

    /// The label the metrics give it.
    pub fn label(self) -> &'static str {
        match self {
            CommandKind::IAmAt => "IAMAT",
            CommandKind::WhatsAt => "WHATSAT",
            CommandKind::Invalid => "invalid",
        }
    }
}

/// The upper bounds (seconds) of the latency histograms' buckets; one more counts the rest.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The bucket bounds in nanoseconds, for counting without floating point.
const BUCKET_NANOS: [u64; 16] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// Slots per histogram: one per bound and one past the last.
const SLOTS: usize = LATENCY_BUCKETS.len() + 1;

/// The slot a latency of `nanos` counts in.
fn slot(nanos: u64) -> usize {
    BUCKET_NANOS.partition_point(|&b| b < nanos)
}

/// A latency histogram of atomics (not cumulative: each slot counts its own range).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Observations per slot.
    slots: [AtomicU64; SLOTS],
    /// The sum of all observations, in nanoseconds.
    sum_nanos: AtomicU64,
}

/// A reading of a [`LatencyHistogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyReading {
    /// Observations in all.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
    /// (upper bound in seconds, observations in that bucket alone: above the bound before),
    /// the last bound +Inf; the Prometheus encoder makes them cumulative.
    pub buckets: Vec<(f64, u64)>,
}

impl LatencyHistogram {
    /// The histogram now.
    pub fn read(&self) -> LatencyReading {
        let mut count = 0;
        let mut buckets = Vec::with_capacity(SLOTS);
        for (i, s) in self.slots.iter().enumerate() {
            let n = s.load(Ordering::Relaxed);
            count += n;
            let bound = LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        LatencyReading {
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            buckets,
        }
    }
}

/// The commands one server answered, and how long they took, since it started.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Per [`CommandKind`]: lines answered.
    lines: [AtomicU64; 3],
    /// Per [`CommandKind`]: how long answering took (from the line's parse to its answer being
    /// ready, including a WHATSAT's wait for places).
    latency: [LatencyHistogram; 3],
    /// WHATSATs that asked the places provider.
    pub places_requests: AtomicU64,
    /// Of those, the ones answered with a failure status.
    pub places_errors: AtomicU64,
    /// Client connections open now.
    pub connections: AtomicI64,
}

impl Traffic {
    /// Lines of `kind` answered since start.
    pub fn lines(&self, kind: CommandKind) -> u64 {
        self.lines[kind as usize].load(Ordering::Relaxed)
    }

    /// The latency histogram of `kind`.
    pub fn latency(&self, kind: CommandKind) -> LatencyReading {
        self.latency[kind as usize].read()
    }

    /// Adds what one read batch counted.
    pub fn add(&self, tally: &BatchTally) {
        for kind in CommandKind::ALL {
            let k = kind as usize;
            if tally.lines[k] == 0 {
                continue;
            }
            self.lines[k].fetch_add(tally.lines[k], Ordering::Relaxed);
            let histogram = &self.latency[k];
            histogram
                .sum_nanos
                .fetch_add(tally.sum_nanos[k], Ordering::Relaxed);
            for (s, n) in tally.slots[k].iter().enumerate() {
                if *n > 0 {
                    histogram.slots[s].fetch_add(u64::from(*n), Ordering::Relaxed);
                }
            }
        }
    }
}

/// How many lines of each kind a run of lines had.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lines([u64; 3]);

impl Lines {
    /// One line of `kind`.
    pub fn one(kind: CommandKind) -> Lines {
        let mut lines = Lines::default();
        lines.add(kind);
        lines
    }

    /// Counts one more line of `kind`.
    pub fn add(&mut self, kind: CommandKind) {
        self.0[kind as usize] += 1;
    }
}

/// What one connection counted in one read batch, on its own stack.
#[derive(Debug, Default)]
pub struct BatchTally {
    /// Lines per kind.
    lines: [u64; 3],
    /// Nanoseconds per kind.
    sum_nanos: [u64; 3],
    /// Latency slots per kind.
    slots: [[u32; SLOTS]; 3],
}

impl BatchTally {
    /// Counts a run of `lines` answered together, from `start` to now: each takes an equal
    /// share of the time (one clock reading for the run). Returns now.
    pub fn count_run(&mut self, lines: &Lines, start: Instant) -> Instant {
        let now = Instant::now();
        let total: u64 = lines.0.iter().sum();
        let nanos = u64::try_from(now.duration_since(start).as_nanos()).unwrap_or(u64::MAX);
        let each = nanos / total.max(1);
        for (k, &n) in lines.0.iter().enumerate() {
            if n > 0 {
                self.lines[k] += n;
                self.sum_nanos[k] = self.sum_nanos[k].saturating_add(each.saturating_mul(n));
                self.slots[k][slot(each)] += u32::try_from(n).unwrap_or(u32::MAX);
            }
        }
        now
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|&n| n == 0)
    }

    /// Adds this batch to `traffic` and starts again.
    pub fn flush(&mut self, traffic: &Traffic) {
        if !self.is_empty() {
            traffic.add(self);
            *self = BatchTally::default();
        }
    }
}

/// A link's counters and state, as watchers see it.
#[derive(Debug)]
pub struct LinkStats {
    /// The neighbour's name.
    pub peer: String,
    /// Records sent to it (flooded or caught up).
    pub sent: AtomicU64,
    /// Records received from it (whether they won or not).
    pub received: AtomicU64,
    /// Records announced to it (`IHAVE`, for origins whose tree does not use the link).
    pub announced: AtomicU64,
    /// Since when the link is up or down, and what the neighbour last confirmed.
    state: Mutex<LinkState>,
}

/// The state of a link, changed at each link-up, link-down and watermark exchange.
#[derive(Debug, Clone)]
pub struct LinkState {
    /// Whether the link is up.
    pub up: bool,
    /// When it last went up or down (the server's start, before its first link-up).
    pub since: SystemTime,
    /// The same, on the monotonic clock.
    since_instant: Instant,
    /// How far (in seconds of sequence numbers) the neighbour's watermarks were behind this
    /// server's the last time it sent them (`WM` at link-up, `CAUGHT`), if it ever did.
    pub confirmed_gap: Option<f64>,
}

impl LinkStats {
    /// A link to `peer`, down since now.
    pub fn new(peer: &str) -> LinkStats {
        LinkStats {
            peer: peer.to_string(),
            sent: AtomicU64::default(),
            received: AtomicU64::default(),
            announced: AtomicU64::default(),
            state: Mutex::new(LinkState {
                up: false,
                since: SystemTime::now(),
                since_instant: Instant::now(),
                confirmed_gap: None,
            }),
        }
    }

    /// The state now.
    pub fn state(&self) -> LinkState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Notes the link going up or down; returns whether that changed its state.
    pub fn set_up(&self, up: bool) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.up == up {
            return false;
        }
        state.up = up;
        state.since = SystemTime::now();
        state.since_instant = Instant::now();
        true
    }

    /// Notes the neighbour's watermarks `theirs`, against this server's `mine`.
    pub fn confirmed(&self, mine: &Watermarks, theirs: &Watermarks) {
        let gap = watermark_gap(mine, theirs);
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .confirmed_gap = Some(gap);
    }

    /// How far behind the neighbour is, in seconds: while the link is down, at least how
    /// long it has been down (nothing reached it since); while it is up, the gap its last
    /// watermarks showed (0 until it sent any).
    pub fn lag_seconds(&self) -> f64 {
        let state = self.state();
        let confirmed = state.confirmed_gap.unwrap_or(0.0);
        if state.up {
            confirmed
        } else {
            confirmed.max(state.since_instant.elapsed().as_secs_f64())
        }
    }
}

/// The largest amount by which `mine` is ahead of `theirs` over all origins, in seconds
/// (sequence numbers are microseconds of their origin's clock; see `herd_core::replica::numbers`).
pub fn watermark_gap(mine: &Watermarks, theirs: &Watermarks) -> f64 {
    let micros = mine
        .iter()
        .map(|(origin, &seq)| seq.saturating_sub(theirs.get(origin).copied().unwrap_or(0)))
        .max()
        .unwrap_or(0);
    Duration::from_micros(micros).as_secs_f64()
}

/// A change watchers hear about.
#[derive(Debug, Clone)]
pub enum Change {
    /// Records the table took (from clients or neighbours), in one batch.
    Records(Arc<[Record]>),
    /// A link went up or down.
    Link {
        /// The neighbour.
        peer: String,
        /// Whether it is up now.
        up: bool,
    },
    /// Clients were forgotten (`storage.forget_after`): views of the table must be rebuilt.
    Forgot,
}

/// How many changes wait for a slow watcher before it is told it lagged.
pub const FEED_CAPACITY: usize = 4096;

/// One server's counters and its change feed.
#[derive(Debug)]
pub struct NodeStats {
    /// Client commands.
    pub traffic: Traffic,
    /// One per link, by peer id.
    pub links: Vec<LinkStats>,
    /// The change feed, once someone subscribed.
    feed: OnceLock<broadcast::Sender<Change>>,
}

impl NodeStats {
    /// Counters for a server with links to `peers` (by peer id).
    pub fn new<'a>(peers: impl IntoIterator<Item = &'a str>) -> NodeStats {
        NodeStats {
            traffic: Traffic::default(),
            links: peers.into_iter().map(LinkStats::new).collect(),
            feed: OnceLock::new(),
        }
    }

    /// A new subscription to the change feed (which starts with the first one).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.feed
            .get_or_init(|| broadcast::channel(FEED_CAPACITY).0)
            .subscribe()
    }

    /// Whether anyone ever subscribed (so changes are worth collecting).
    pub fn watched(&self) -> bool {
        self.feed.get().is_some()
    }

    /// Tells the subscribers about `change` (dropped when there are none).
    pub fn publish(&self, change: Change) {
        if let Some(feed) = self.feed.get() {
            let _ = feed.send(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_split_at_the_bounds() {
        assert_eq!(slot(0), 0);
        assert_eq!(slot(10_000), 0);
        assert_eq!(slot(10_001), 1);
        assert_eq!(slot(2_000_000_000), LATENCY_BUCKETS.len());
    }

    #[test]
    fn a_batch_adds_up_cumulatively() {
        let traffic = Traffic::default();
        let mut tally = BatchTally::default();
        let start = Instant::now();
        let mut lines = Lines::one(CommandKind::IAmAt);
        lines.add(CommandKind::IAmAt);
        tally.count_run(&lines, start);
        tally.count_run(&Lines::one(CommandKind::Invalid), start);
        tally.flush(&traffic);
        assert!(tally.is_empty());
        assert_eq!(traffic.lines(CommandKind::IAmAt), 2);
        assert_eq!(traffic.lines(CommandKind::WhatsAt), 0);
        let reading = traffic.latency(CommandKind::IAmAt);
        assert_eq!(reading.count, 2);
        assert_eq!(reading.buckets.iter().map(|b| b.1).sum::<u64>(), 2);
        assert_eq!(reading.buckets.last().map(|b| b.0), Some(f64::INFINITY));
    }

    #[test]
    fn the_gap_is_the_largest_origin_behind() {
        let mine = Watermarks::from([("A".into(), 5_000_000), ("B".into(), 1_000_000)]);
        let theirs = Watermarks::from([("A".into(), 3_000_000)]);
        assert_eq!(watermark_gap(&mine, &theirs), 2.0);
    }
}
