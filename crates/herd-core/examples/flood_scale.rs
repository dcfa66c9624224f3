//! How flooding and the spanning tree scale with the size of the herd, by simulation (issue
//! 13, item 6): the real replication state machine ([`Replica`]) of every server, on seeded
//! random connected topologies of degree 3 to 4, with a discrete-event network (per-link FIFO
//! delay, a serial cost per arriving line at each server).
//!
//! Every size runs in both modes, on the same topology with the same client updates:
//! flooding ([`Broadcast::Flood`]: each new record goes over every link but the one it came
//! by) and the tree ([`Broadcast::Tree`]: records whole on eager links, `IHAVE` on lazy ones,
//! `PRUNE` and `GRAFT` to shape it; see `replica::tree`). Every line a server sends — record,
//! `IHAVE`, `PRUNE`, `GRAFT` — is a message through the same network and costs its receiver
//! the same time; every server is ticked every [`TICK_US`] so that it grafts what was announced
//! and did not come.
//!
//! Two scenarios: no failures, and "links fail", where at the midpoint of the updates a tenth
//! of the links (at least one, each keeping the herd connected) are cut: what is in flight on
//! them is lost, nothing more goes over them, and both ends are told
//! ([`Event::LinkDown`]). Catch-up by watermarks is not modelled, so an update lost there is
//! counted as one that never reached every server.
//!
//! For each, it reports the records sent per client update (the least any scheme can send is
//! one per server, N - 1), the announcements, prunes and grafts, the bytes between servers,
//! and the time until every server holds the update; then, for the tree, how its links
//! settled (prunes and grafts by half, copies that arrived anyway, links eager at the end).
//! Runs are deterministic for a seed.
//!
//! ```text
//! cargo run --release -p herd-core --example flood_scale [-- SEED [UPDATES]]
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use herd_core::peer_wire::{announce_line, graft_line, parse, prune_line, PeerLine};
use herd_core::record::Record;
use herd_core::replica::{
    Action, Broadcast, ClientReport, Event, Replica, ReportError, GRAFT_TICKS,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// One-way delay of a link, in microseconds (a LAN): a base plus up to `JITTER`.
const DELAY_US: u64 = 100;
/// Most extra delay of one message.
const JITTER_US: u64 = 50;
/// A server's time to handle one arriving line (record, IHAVE, PRUNE or GRAFT), in
/// microseconds (serial per server).
const COST_US: u64 = 2;
/// Time between client updates herd-wide, on average, in microseconds (20,000 updates/s).
const ARRIVAL_US: f64 = 50.0;
/// The wall clock the simulation starts at (records carry real-looking times).
const EPOCH_US: u64 = 1_790_000_000_000_000;
/// The herd sizes simulated.
const SIZES: [usize; 4] = [5, 20, 50, 100];
/// How long a tree server waits for an announced version before it grafts it: the replica
/// counts [`GRAFT_TICKS`] ticks, so every server is ticked every `GRAFT_AFTER / GRAFT_TICKS`.
const GRAFT_AFTER: Duration = Duration::from_millis(2);
/// Time between two ticks of every server, in microseconds (0.5 ms).
const TICK_US: u64 = GRAFT_AFTER.as_micros() as u64 / GRAFT_TICKS;
/// The share of the links cut in "links fail", in percent (at least one link).
const CUT_PERCENT: usize = 10;
/// Ticks stop this long after the last update at the latest, in microseconds, whatever is
/// still waited for: the simulation ends.
const DRAIN_LIMIT_US: u64 = 1_000_000;
/// Mixed into the seed to choose the links to cut (the topology and the arrivals stay those
/// the seed always gave).
const CUT_SEED: u64 = 0x6375_7473;

/// How records go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Whole over every link but the one they came by.
    Flood,
    /// Whole on the tree's eager links, announced on the lazy ones.
    Tree,
}

impl Mode {
    /// The replica's setting for this mode.
    fn broadcast(self) -> Broadcast {
        match self {
            Mode::Flood => Broadcast::Flood,
            Mode::Tree => Broadcast::Tree,
        }
    }

    /// Its name in the tables.
    fn name(self) -> &'static str {
        match self {
            Mode::Flood => "flood",
            Mode::Tree => "tree",
        }
    }
}

/// What happens to the links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Nothing: every link stays up.
    Steady,
    /// Some links are cut at the midpoint of the updates (see [`links_to_cut`]).
    LinksFail,
}

/// One herd size's setting, the same for both modes and both scenarios.
struct Herd {
    /// Each server's neighbours; a server's peer ids are indexes in its list.
    adj: Vec<Vec<usize>>,
    /// `back[v][i]`: the index of `v` in the neighbour list of `adj[v][i]`.
    back: Vec<Vec<usize>>,
    /// The servers' names.
    names: Vec<String>,
    /// Per client update: the server it arrives at, and when (microseconds).
    updates: Vec<(usize, u64)>,
    /// The links cut in "links fail", as pairs of servers.
    cuts: Vec<(usize, usize)>,
    /// The random state after the arrivals were drawn: the source of the links' delays.
    delays: StdRng,
}

/// A random connected graph on `n` servers where every degree is 3 or 4 (where `n` allows):
/// a random tree of degree at most 4 first, then random extra edges until each server has 3.
fn topology(n: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    let max = 4.min(n - 1);
    let min = 3.min(n - 1);
    for v in 1..n {
        let candidates: Vec<usize> = (0..v).filter(|&u| adj[u].len() < max).collect();
        let u = candidates[rng.gen_range(0..candidates.len())];
        adj[u].push(v);
        adj[v].push(u);
    }
    for _ in 0..n * 50 {
        let low: Vec<usize> = (0..n).filter(|&v| adj[v].len() < min).collect();
        if low.is_empty() {
            break;
        }
        let v = low[rng.gen_range(0..low.len())];
        let others: Vec<usize> = (0..n)
            .filter(|&u| u != v && adj[u].len() < max && !adj[v].contains(&u))
            .collect();
        if others.is_empty() {
            break;
        }
        let u = others[rng.gen_range(0..others.len())];
        adj[u].push(v);
        adj[v].push(u);
    }
    adj
}

/// The herd of `n` servers for `seed`: its topology, `updates` client updates arriving at
/// random servers (a Poisson stream), and the links "links fail" cuts.
fn herd(n: usize, updates: usize, seed: u64) -> Herd {
    let mut rng = StdRng::seed_from_u64(seed ^ n as u64);
    let adj = topology(n, &mut rng);
    let back = adj
        .iter()
        .enumerate()
        .map(|(v, peers)| {
            peers
                .iter()
                .map(|&u| adj[u].iter().position(|&w| w == v).unwrap())
                .collect()
        })
        .collect();
    let mut t = 0.0f64;
    let arrivals = (0..updates)
        .map(|_| {
            t += -ARRIVAL_US * (1.0 - rng.gen::<f64>()).ln();
            (rng.gen_range(0..n), t as u64)
        })
        .collect();
    let cuts = links_to_cut(&adj, &mut StdRng::seed_from_u64(seed ^ n as u64 ^ CUT_SEED));
    Herd {
        back,
        names: (0..n).map(|i| format!("s{i}")).collect(),
        updates: arrivals,
        cuts,
        delays: rng,
        adj,
    }
}

/// [`CUT_PERCENT`] of the links (at least one), chosen at random among those whose removal,
/// with the ones chosen before, keeps the herd connected.
fn links_to_cut(adj: &[Vec<usize>], rng: &mut StdRng) -> Vec<(usize, usize)> {
    let mut links: Vec<(usize, usize)> = (0..adj.len())
        .flat_map(|v| adj[v].iter().filter(move |&&u| v < u).map(move |&u| (v, u)))
        .collect();
    let want = (links.len() * CUT_PERCENT / 100).max(1);
    links.shuffle(rng);
    let mut cut = Vec::new();
    for link in links {
        if cut.len() == want {
            break;
        }
        cut.push(link);
        let kept = |a: usize, b: usize| !cut.contains(&(a.min(b), a.max(b)));
        if !connected(adj, kept) {
            cut.pop();
        }
    }
    cut
}

/// Whether every server reaches every other over the links `keep` keeps.
fn connected(adj: &[Vec<usize>], keep: impl Fn(usize, usize) -> bool) -> bool {
    let mut seen = vec![false; adj.len()];
    seen[0] = true;
    let mut queue = VecDeque::from([0]);
    while let Some(v) = queue.pop_front() {
        for &u in &adj[v] {
            if !seen[u] && keep(v, u) {
                seen[u] = true;
                queue.push_back(u);
            }
        }
    }
    seen.iter().all(|&s| s)
}

/// The longest shortest path (in links).
fn diameter(adj: &[Vec<usize>]) -> usize {
    let mut worst = 0;
    for s in 0..adj.len() {
        let mut dist = vec![usize::MAX; adj.len()];
        dist[s] = 0;
        let mut queue = VecDeque::from([s]);
        while let Some(v) = queue.pop_front() {
            for &u in &adj[v] {
                if dist[u] == usize::MAX {
                    dist[u] = dist[v] + 1;
                    queue.push_back(u);
                }
            }
        }
        worst = worst.max(*dist.iter().max().unwrap());
    }
    worst
}

/// A line between two servers.
enum Line {
    /// A record (`Action::Forward`, a graft's answer included).
    Record(Record),
    /// `IHAVE client time [GONE]\n` (`Action::Announce`).
    Ihave(Vec<u8>),
    /// `PRUNE origin\n`.
    Prune(Vec<u8>),
    /// `GRAFT client\n`.
    Graft(Vec<u8>),
}

impl Line {
    /// Its length on the wire, with its newline.
    fn bytes(&self) -> usize {
        match self {
            Line::Record(r) => r.wire().len() + 1,
            Line::Ihave(line) | Line::Graft(line) | Line::Prune(line) => line.len(),
        }
    }

    /// What the receiving replica is fed, from peer `from` (the wire lines are parsed as a
    /// server would).
    fn event(self, from: usize) -> Event {
        let parsed = |line: Vec<u8>| {
            let mut line = Bytes::from(line);
            line.truncate(line.len() - 1);
            parse(line).expect("the replica's lines parse")
        };
        match self {
            Line::Record(record) => Event::Peer { from, record },
            Line::Prune(line) => match parsed(line) {
                PeerLine::Prune(origin) => Event::Prune { from, origin },
                _ => unreachable!("a PRUNE line"),
            },
            Line::Ihave(line) => match parsed(line) {
                PeerLine::Announced { client, time, gone } => Event::Announced {
                    from,
                    client,
                    time,
                    gone,
                },
                _ => unreachable!("an IHAVE line"),
            },
            Line::Graft(line) => match parsed(line) {
                PeerLine::Graft(client) => Event::Graft { from, client },
                _ => unreachable!("a GRAFT line"),
            },
        }
    }
}

/// A line on its way from server `from` to server `to`.
struct Delivery {
    from: usize,
    to: usize,
    /// The sender's index in `to`'s neighbour list.
    from_peer: usize,
    /// How many `PRUNE`s from `to` the sender had handled when it sent the line.
    prunes_heard: u32,
    /// Whether it is a record answering a `GRAFT`.
    answers_graft: bool,
    line: Line,
}

/// Something due at a time in the simulation.
enum Happening {
    /// A client update (by its number) arrives at its server.
    Update(usize),
    /// A line arrives.
    Deliver(Delivery),
    /// Every server is ticked.
    Tick,
    /// The links of [`Herd::cuts`] go down.
    Cut,
}

/// What one run sent and saw.
#[derive(Debug, Default)]
struct Counts {
    /// Records put on a link that was up.
    records: u64,
    /// Those of them that carry an update of the second half.
    records_2nd_half: u64,
    /// `IHAVE`s put on a link that was up.
    ihave: u64,
    /// `PRUNE`s sent, before and after the midpoint of the updates.
    prunes: [u64; 2],
    /// `GRAFT`s sent, before and after the midpoint.
    grafts: [u64; 2],
    /// Bytes of every line put on a link that was up.
    bytes: u64,
    /// Lines in flight on a link when it was cut.
    lost_in_flight: u64,
    /// Lines a replica sent to a neighbour over a link already cut (not put on the wire).
    not_sent: u64,
    /// Records that arrived and did not win: copies of what the server already held.
    redundant: u64,
    /// Those of them that came from a neighbour the receiver holds lazy (it prunes only
    /// eager neighbours): most were in flight when the receiver pruned their link.
    redundant_from_lazy: u64,
    /// Those of them sent after the sender had handled every `PRUNE` the receiver sent it:
    /// the sender holds the link eager, the receiver lazy, and no `PRUNE` is on its way.
    redundant_one_way: u64,
    /// Records that answered a `GRAFT`; those that arrived after the record had come by
    /// another path; and the `PRUNE`s those sent back (the link grafted is pruned again).
    graft_answers: u64,
    graft_answers_redundant: u64,
    prunes_for_graft_answers: u64,
    /// `Action::SendWatermarks` (only when too many announcements wait): counted, ignored.
    watermarks: u64,
    /// Any other action not expected here (catch-up, dropped links).
    other_actions: u64,
    /// Whether ticking stopped at [`DRAIN_LIMIT_US`] with work left.
    drain_cut_short: bool,
}

/// What one run (size, mode, scenario) gave.
struct Outcome {
    servers: usize,
    links: usize,
    diameter: usize,
    mode: Mode,
    /// How many links were cut.
    cut: usize,
    updates: usize,
    counts: Counts,
    /// Updates some server never got.
    never_all: usize,
    /// Time until every server held the update (those that reached all), in ms.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// At the end, links up that are eager both ways for an origin (the mean over origins),
    /// and (link, origin) pairs eager one way only.
    eager_links: f64,
    one_way_links: usize,
    /// For how many origins the links eager both ways connect every server at the end.
    eager_connected: usize,
    /// Announced versions still waited for at the end, over all servers.
    still_missing: usize,
    /// The most `PRUNE`s sent over one link (both ways), and over how many links any was.
    most_prunes_on_a_link: u32,
    links_pruned: usize,
}

/// The state of one run.
struct Sim<'h> {
    herd: &'h Herd,
    replicas: Vec<Replica>,
    /// (time µs, index in `happenings`), earliest first; equal times in creation order.
    queue: BinaryHeap<Reverse<(u64, usize)>>,
    happenings: Vec<Option<Happening>>,
    /// Per directed link, the time of the last arrival (FIFO).
    link_free: Vec<Vec<u64>>,
    /// Per server, until when it is busy with arrivals.
    busy_until: Vec<u64>,
    /// Per pair of servers, whether their link (if any) is up.
    up: Vec<Vec<bool>>,
    /// `prunes_sent[a][b]`: the `PRUNE`s `a` put on the link to `b`; `prunes_heard[b][a]`:
    /// those of them `b` handled.
    prunes_sent: Vec<Vec<u32>>,
    prunes_heard: Vec<Vec<u32>>,
    delays: StdRng,
    /// Per update, how many servers hold it, and when the last one got it (since it arrived).
    holders: Vec<usize>,
    done_at: Vec<Option<u64>>,
    /// The arrival time of the middle update.
    mid_time: u64,
    counts: Counts,
    actions: Vec<Action>,
}

impl<'h> Sim<'h> {
    /// A run on `herd` in `mode`, with the update arrivals (and the cut, for
    /// [`Scenario::LinksFail`]) and the first tick queued.
    fn new(herd: &'h Herd, mode: Mode, scenario: Scenario) -> Sim<'h> {
        let n = herd.adj.len();
        let mut replicas: Vec<Replica> = (0..n)
            .map(|i| {
                Replica::new(&herd.names[i], herd.adj[i].len(), true)
                    .with_herd(herd.names.clone())
                    .with_broadcast(mode.broadcast())
            })
            .collect();
        let mut links_up = Vec::new();
        for (i, r) in replicas.iter_mut().enumerate() {
            for p in 0..herd.adj[i].len() {
                r.handle(Event::LinkUp(p), i128::from(EPOCH_US) * 1000, &mut links_up);
            }
        }
        // Watermark exchanges on an empty herd send nothing that matters here.
        links_up.clear();
        let mid_time = herd.updates[herd.updates.len() / 2].1;
        let mut sim = Sim {
            herd,
            replicas,
            queue: BinaryHeap::new(),
            happenings: Vec::new(),
            link_free: vec![vec![0; n]; n],
            busy_until: vec![0; n],
            up: vec![vec![true; n]; n],
            prunes_sent: vec![vec![0; n]; n],
            prunes_heard: vec![vec![0; n]; n],
            delays: herd.delays.clone(),
            holders: vec![0; herd.updates.len()],
            done_at: vec![None; herd.updates.len()],
            mid_time,
            counts: Counts::default(),
            actions: Vec::new(),
        };
        for (u, &(_, at)) in herd.updates.iter().enumerate() {
            sim.at(at, Happening::Update(u));
        }
        if scenario == Scenario::LinksFail {
            sim.at(mid_time, Happening::Cut);
        }
        sim.at(TICK_US, Happening::Tick);
        sim
    }

    /// Queues `what` at `time`.
    fn at(&mut self, time: u64, what: Happening) {
        self.queue.push(Reverse((time, self.happenings.len())));
        self.happenings.push(Some(what));
    }

    /// Runs until nothing is left to happen.
    fn run(&mut self) {
        while let Some(Reverse((now, i))) = self.queue.pop() {
            match self.happenings[i].take().expect("each happens once") {
                Happening::Update(u) => self.update(now, u),
                Happening::Deliver(d) => self.deliver(now, d),
                Happening::Tick => self.tick(now),
                Happening::Cut => self.cut(now),
            }
        }
    }

    /// Client update `u` arrives at its server at `now`: the server numbers and sends it.
    fn update(&mut self, now: u64, u: usize) {
        let s = self.herd.updates[u].0;
        let client = format!("c{u}");
        let time = format!(
            "{}.{:06}",
            (EPOCH_US + now) / 1_000_000,
            (EPOCH_US + now) % 1_000_000
        );
        let report = ClientReport {
            client: client.as_bytes(),
            location: b"+34.068930-118.445127",
            time: time.as_bytes(),
            position: (34.06893, -118.445127),
        };
        let now_nanos = nanos(now);
        let r = &mut self.replicas[s];
        match r.client(&report, now_nanos, &mut self.actions) {
            Ok(_) => {}
            Err(ReportError::NeedLease(need)) => {
                r.lease_stored(need.lease);
                r.client(&report, now_nanos, &mut self.actions)
                    .expect("a renewed lease is enough");
            }
            Err(e) => panic!("update refused: {e}"),
        }
        self.got(u, now);
        self.send(s, now);
    }

    /// A line arrives at `now`: lost if its link was cut, else handled when its server is free.
    fn deliver(&mut self, now: u64, d: Delivery) {
        if !self.up[d.from][d.to] {
            self.counts.lost_in_flight += 1;
            return;
        }
        // The server handles arrivals one at a time.
        let start = now.max(self.busy_until[d.to]);
        let done = start + COST_US;
        self.busy_until[d.to] = done;
        let record_of = match &d.line {
            Line::Record(r) => Some(update_of(r.client_bytes())),
            Line::Prune(_) => {
                self.prunes_heard[d.to][d.from] += 1;
                None
            }
            _ => None,
        };
        let was_eager = match &d.line {
            Line::Record(r) => self.replicas[d.to].is_eager(r.origin(), d.from_peer),
            _ => true,
        };
        let is_graft = matches!(d.line, Line::Graft(_));
        let event = d.line.event(d.from_peer);
        let won = self.replicas[d.to].handle(event, nanos(start), &mut self.actions);
        if d.answers_graft {
            self.counts.graft_answers += 1;
            if !won {
                self.counts.graft_answers_redundant += 1;
            }
            if self
                .actions
                .iter()
                .any(|a| matches!(a, Action::Prune { .. }))
            {
                self.counts.prunes_for_graft_answers += 1;
            }
        }
        if let Some(u) = record_of {
            if won {
                self.got(u, done);
            } else {
                self.counts.redundant += 1;
                if !was_eager {
                    self.counts.redundant_from_lazy += 1;
                    if d.prunes_heard == self.prunes_sent[d.to][d.from] {
                        self.counts.redundant_one_way += 1;
                    }
                }
            }
        }
        self.send_answering(d.to, done, is_graft);
    }

    /// Ticks every server at `now` (when it is free), and queues the next tick while
    /// anything is in flight or waited for, up to [`DRAIN_LIMIT_US`] after the last update.
    fn tick(&mut self, now: u64) {
        for s in 0..self.replicas.len() {
            let start = now.max(self.busy_until[s]);
            self.replicas[s].handle(Event::Tick, nanos(start), &mut self.actions);
            // Grafts come in the order of the replica's hash map, which differs from run to
            // run: sorted, the delays drawn for them (and so the run) follow from the seed.
            self.actions.sort_by(|x, y| graft_key(x).cmp(&graft_key(y)));
            self.send(s, start);
        }
        let work = !self.queue.is_empty() || self.replicas.iter().any(|r| r.missing() > 0);
        if work {
            let last = self.herd.updates.last().map_or(0, |&(_, t)| t);
            if now + TICK_US <= last + DRAIN_LIMIT_US {
                self.at(now + TICK_US, Happening::Tick);
            } else {
                self.counts.drain_cut_short = true;
            }
        }
    }

    /// Cuts the links of [`Herd::cuts`] at `now`, telling both ends.
    fn cut(&mut self, now: u64) {
        for &(a, b) in &self.herd.cuts {
            self.up[a][b] = false;
            self.up[b][a] = false;
            for (s, other) in [(a, b), (b, a)] {
                let peer = self.herd.adj[s].iter().position(|&v| v == other).unwrap();
                self.replicas[s].handle(Event::LinkDown(peer), nanos(now), &mut self.actions);
                self.send(s, now);
            }
        }
    }

    /// Update `u` is now held by one more server (since `at`).
    fn got(&mut self, u: usize, at: u64) {
        self.holders[u] += 1;
        if self.holders[u] == self.replicas.len() {
            self.done_at[u] = Some(at - self.herd.updates[u].1);
        }
    }

    /// Puts the lines of server `from`'s pending actions on their links at `sent_at`.
    fn send(&mut self, from: usize, sent_at: u64) {
        self.send_answering(from, sent_at, false);
    }

    /// [`Sim::send`], the records marked as answers to a `GRAFT` when `graft` is true.
    fn send_answering(&mut self, from: usize, sent_at: u64, graft: bool) {
        let mut actions = std::mem::take(&mut self.actions);
        let second_half = self.herd.updates.len() / 2;
        let half = usize::from(sent_at >= self.mid_time);
        for action in actions.drain(..) {
            let (to, line) = match action {
                Action::Forward { to, record } => (to, Line::Record(record)),
                Action::Announce { to, record } => {
                    let mut line = Vec::new();
                    announce_line(&record, &mut line);
                    (to, Line::Ihave(line))
                }
                Action::Prune { to, origin } => (to, Line::Prune(prune_line(&origin))),
                Action::Graft { to, client } => (to, Line::Graft(graft_line(&client))),
                Action::Persist(_) => continue,
                Action::SendWatermarks { .. } => {
                    self.counts.watermarks += 1;
                    continue;
                }
                _ => {
                    self.counts.other_actions += 1;
                    continue;
                }
            };
            let dest = self.herd.adj[from][to];
            if !self.up[from][dest] {
                self.counts.not_sent += 1;
                continue;
            }
            match &line {
                Line::Record(r) => {
                    self.counts.records += 1;
                    if update_of(r.client_bytes()) >= second_half {
                        self.counts.records_2nd_half += 1;
                    }
                }
                Line::Ihave(_) => self.counts.ihave += 1,
                Line::Prune(_) => {
                    self.counts.prunes[half] += 1;
                    self.prunes_sent[from][dest] += 1;
                }
                Line::Graft(_) => self.counts.grafts[half] += 1,
            }
            self.counts.bytes += line.bytes() as u64;
            let arrival = (sent_at + DELAY_US + self.delays.gen_range(0..=JITTER_US))
                .max(self.link_free[from][dest] + 1);
            self.link_free[from][dest] = arrival;
            let delivery = Delivery {
                from,
                to: dest,
                from_peer: self.herd.back[from][to],
                prunes_heard: self.prunes_heard[from][dest],
                answers_graft: graft && matches!(line, Line::Record(_)),
                line,
            };
            self.at(arrival, Happening::Deliver(delivery));
        }
        self.actions = actions;
    }

    /// What the run gave.
    fn outcome(self, mode: Mode, scenario: Scenario) -> Outcome {
        let adj = &self.herd.adj;
        let n = adj.len();
        let mut times: Vec<u64> = self.done_at.iter().flatten().copied().collect();
        times.sort_unstable();
        let ms = |us: Option<&u64>| us.map_or(f64::NAN, |&us| us as f64 / 1000.0);
        // Each origin has its own tree: count over (link, origin) pairs.
        let (mut eager_pairs, mut one_way_links, mut eager_connected) = (0, 0, 0);
        for origin in &self.herd.names {
            let eager = |a: usize, i: usize| self.replicas[a].is_eager(origin.as_bytes(), i);
            for (a, peers) in adj.iter().enumerate() {
                for (i, &b) in peers.iter().enumerate() {
                    if a < b && self.up[a][b] {
                        match (eager(a, i), eager(b, self.herd.back[a][i])) {
                            (true, true) => eager_pairs += 1,
                            (false, false) => {}
                            _ => one_way_links += 1,
                        }
                    }
                }
            }
            let connects = connected(adj, |a, b| {
                let i = adj[a].iter().position(|&v| v == b).unwrap();
                self.up[a][b] && eager(a, i) && eager(b, self.herd.back[a][i])
            });
            eager_connected += usize::from(connects);
        }
        let eager_links = eager_pairs as f64 / n as f64;
        let prunes_per_link: Vec<u32> = (0..n)
            .flat_map(|a| adj[a].iter().filter(move |&&b| a < b).map(move |&b| (a, b)))
            .map(|(a, b)| self.prunes_sent[a][b] + self.prunes_sent[b][a])
            .collect();
        Outcome {
            servers: n,
            links: adj.iter().map(Vec::len).sum::<usize>() / 2,
            diameter: diameter(adj),
            mode,
            cut: match scenario {
                Scenario::Steady => 0,
                Scenario::LinksFail => self.herd.cuts.len(),
            },
            updates: self.holders.len(),
            never_all: self.holders.iter().filter(|&&h| h < n).count(),
            p50_ms: ms(times.get(times.len() / 2)),
            p99_ms: ms(times.get(times.len() * 99 / 100)),
            max_ms: ms(times.last()),
            eager_links,
            one_way_links,
            eager_connected,
            still_missing: self.replicas.iter().map(Replica::missing).sum(),
            most_prunes_on_a_link: prunes_per_link.iter().copied().max().unwrap_or(0),
            links_pruned: prunes_per_link.iter().filter(|&&p| p > 0).count(),
            counts: self.counts,
        }
    }
}

/// The replica's clock at simulated time `us`, in nanoseconds.
fn nanos(us: u64) -> i128 {
    i128::from(EPOCH_US + us) * 1000
}

/// The neighbour and client of a graft (anything else first, in its order).
fn graft_key(action: &Action) -> Option<(usize, &[u8])> {
    match action {
        Action::Graft { to, client } => Some((*to, &client[..])),
        _ => None,
    }
}

/// The update a record carries: its client is `c<update>`.
fn update_of(client: &[u8]) -> usize {
    std::str::from_utf8(client)
        .ok()
        .and_then(|c| c.strip_prefix('c')?.parse().ok())
        .expect("a record names its update's client")
}

/// Simulates `herd` in `mode` under `scenario`.
fn simulate(herd: &Herd, mode: Mode, scenario: Scenario) -> Outcome {
    let mut sim = Sim::new(herd, mode, scenario);
    sim.run();
    let outcome = sim.outcome(mode, scenario);
    if scenario == Scenario::Steady {
        assert_eq!(
            outcome.never_all,
            0,
            "every update reached every server ({} servers, {})",
            outcome.servers,
            mode.name()
        );
    }
    outcome
}

/// Prints one scenario's table (with the columns of lost lines when links fail).
fn print_table(outcomes: &[Outcome], failing: bool) {
    let (extra_head, extra_rule) = if failing {
        (
            " links cut | never reached all | lines lost in flight + sent to a cut link |",
            "---|---|---|",
        )
    } else {
        ("", "")
    };
    println!(
        "| servers | links | diameter | mode |{extra_head} records/update | records/update, \
         2nd half | ratio to N-1 | IHAVE/update | PRUNE+GRAFT | bytes/update | all hold it: p50 \
         | p99 | max |"
    );
    println!("|---|---|---|---|{extra_rule}---|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let c = &o.counts;
        let per_update = |x: u64| x as f64 / o.updates as f64;
        let records = per_update(c.records);
        let second_half = c.records_2nd_half as f64 / (o.updates - o.updates / 2) as f64;
        let (prunes, grafts) = (c.prunes[0] + c.prunes[1], c.grafts[0] + c.grafts[1]);
        let extra = if failing {
            format!(
                " {} | {} | {} + {} |",
                o.cut, o.never_all, c.lost_in_flight, c.not_sent
            )
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {} | {} |{extra} {:.1} | {:.1} | {:.2} | {:.1} | {prunes} + {grafts} = {} \
             | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms |",
            o.servers,
            o.links,
            o.diameter,
            o.mode.name(),
            records,
            second_half,
            records / (o.servers - 1) as f64,
            per_update(c.ihave),
            prunes + grafts,
            per_update(c.bytes),
            o.p50_ms,
            o.p99_ms,
            o.max_ms
        );
    }
}

/// Prints what the tree did, run by run: how its links settled, and what went wrong.
fn print_tree_health(outcomes: &[(&str, &Outcome)]) {
    println!(
        "| scenario | servers | PRUNE 1st / 2nd half | GRAFT 1st / 2nd half | links pruned, most \
         PRUNEs on one | graft answers: all / held already / pruned back | copies not won: all \
         / from a lazy link / from a one-way eager link | at end, per origin's tree: eager links \
         (mean) / one-way (all) / trees that connect all | still waited for | WM asked / other \
         actions / ticks cut short |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (scenario, o) in outcomes {
        let c = &o.counts;
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        println!(
            "| {scenario} | {} | {} / {} | {} / {} | {}, {} | {} / {} / {} | {} / {} / {} | {:.1} \
             / {} / {} of {} | {} | {} / {} / {} |",
            o.servers,
            c.prunes[0],
            c.prunes[1],
            c.grafts[0],
            c.grafts[1],
            o.links_pruned,
            o.most_prunes_on_a_link,
            c.graft_answers,
            c.graft_answers_redundant,
            c.prunes_for_graft_answers,
            c.redundant,
            c.redundant_from_lazy,
            c.redundant_one_way,
            o.eager_links,
            o.one_way_links,
            o.eager_connected,
            o.servers,
            o.still_missing,
            c.watermarks,
            c.other_actions,
            yes_no(c.drain_cut_short),
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let updates: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5_000);
    assert!(updates >= 2, "at least two updates (a midpoint)");
    let mut steady = Vec::new();
    let mut failing = Vec::new();
    for n in SIZES {
        let herd = herd(n, updates, seed);
        for mode in [Mode::Flood, Mode::Tree] {
            steady.push(simulate(&herd, mode, Scenario::Steady));
            failing.push(simulate(&herd, mode, Scenario::LinksFail));
        }
    }
    println!(
        "flooding and the tree by simulation: seed {seed}, {updates} updates at 20,000/s \
         herd-wide, links {DELAY_US}-{} us one way, {COST_US} us per arriving line, tree \
         graft_after {} ms (ticks every {} ms, a graft after {GRAFT_TICKS} ticks)",
        DELAY_US + JITTER_US,
        GRAFT_AFTER.as_secs_f64() * 1000.0,
        TICK_US as f64 / 1000.0
    );
    println!();
    println!("no failures:");
    println!();
    print_table(&steady, false);
    println!();
    println!(
        "links fail: {CUT_PERCENT}% of the links (at least 1, each keeping the herd connected) \
         cut at the midpoint of the updates; no catch-up:"
    );
    println!();
    print_table(&failing, true);
    println!();
    println!("the tree's links (PRUNE and GRAFT counted when sent, halves split at the midpoint):");
    println!();
    let trees: Vec<(&str, &Outcome)> = steady
        .iter()
        .map(|o| ("no failures", o))
        .chain(failing.iter().map(|o| ("links fail", o)))
        .filter(|(_, o)| o.mode == Mode::Tree)
        .collect();
    print_tree_health(&trees);
}
