//! The shared state of one running server: its name, its replication core (behind one lock),
//! a read view of its table, its links, its places provider, its store and its log.
//! Connection tasks and link tasks hold an `Arc<Node>`.
//!
//! Every change goes through the [`Replica`] under `replica`'s lock, and everything a change
//! requires happens in the same synchronous step: the record is numbered and offered to the
//! table, queued for the store in table order (through a place reserved *before* the lock),
//! and its forwards are taken into the caller's [`HeldForwards`], which hands them to the links
//! even when the task is dropped right after. So no `select!` or shutdown can leave a record
//! that won in the table without it being persisted and forwarded. The lock is never held
//! across an `.await`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use smallvec::SmallVec;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::arrivals::Arrivals;
use crate::disconnects::{DisconnectCounts, Disconnects};
use crate::iolog::IoLog;
use crate::peer::log_budget::LogBudget;
use crate::peer::seal::Sealing;
use crate::peer::transport::Transport;
use crate::peer::PeerLink;
use crate::stats::{Change, NodeStats};
use herd_core::peer_wire::{self as wire, marks_line};
use herd_core::record::Record;
use herd_core::replica::{
    catch_up, Action, ClientReport, Event, PeerId, Refusal, Refusals, Replica, ReportError,
    Watermarks, SEQ_LEASE_KEY,
};
use herd_core::table::LocationTable;
use herd_places::PlacesProvider;
use herd_store::{AppendPermit, Durable, Store, StoreError};

/// One server of the herd.
pub struct Node {
    /// The server's name, as it appears in AT lines.
    pub name: String,
    /// The replication core: the only writer of the table, the numbers and the watermarks.
    replica: Mutex<Replica>,
    /// A read view of the replica's table, for WHATSAT, dump and catch-up scans.
    table: LocationTable,
    /// One link per neighbour, indexed by peer id.
    pub links: Vec<Arc<PeerLink>>,
    /// How links dial their neighbours.
    pub transport: Arc<dyn Transport>,
    /// Answers WHATSAT.
    pub places: Arc<dyn PlacesProvider>,
    /// The I/O log.
    pub log: IoLog,
    /// Bounds the log lines strangers can cause (handshakes refused; see [`LogBudget`]).
    log_budget: LogBudget,
    /// The durable store of records, if storage is on.
    pub store: Option<Store>,
    /// Serialises lease renewals, so a burst of IAMATs at the lease's end renews it once.
    lease_renewal: tokio::sync::Mutex<()>,
    /// How links are sealed and what they prove (secrets, certificates).
    pub sealing: Sealing,
    /// Whether the config said `insecure_links = true` (a warning at every link-up without a
    /// secret).
    pub insecure_links: bool,
    /// Wakes WHATSATs waiting for a client whose record is on its way.
    pub arrivals: Arrivals,
    /// The longest client line accepted.
    pub max_line: usize,
    /// Cancelled when the server shuts down: stop accepting and reading, finish what is
    /// being answered.
    pub shutdown: CancellationToken,
    /// Cancelled when the shutdown grace has run out: connections still open close at once.
    pub grace_over: CancellationToken,
    /// Every task of this server, to wait for at shutdown.
    pub tasks: TaskTracker,
    /// Client connections this server closed itself, by reason.
    pub disconnects: Disconnects,
    /// The counts last written to the log, so that a change is logged once.
    logged: Mutex<LoggedCounts>,
    /// What the metrics and the live events show: counters and the change feed.
    pub stats: Arc<NodeStats>,
}

/// The counters as [`Node::log_counters`] last wrote them.
#[derive(Default)]
struct LoggedCounts {
    /// What the replica refused.
    refusals: Refusals,
    /// Connections closed by the server.
    disconnects: DisconnectCounts,
    /// Records the links' outboxes refused, in all.
    overflowed: u64,
    /// The store's failed writes and the records they lost.
    store: (u64, u64),
}

/// What a [`Node`] is made of; the rest starts empty.
pub struct NodeParts {
    /// The server's name.
    pub name: String,
    /// Its replication core, already restored from storage.
    pub replica: Replica,
    /// Its links, by peer id.
    pub links: Vec<Arc<PeerLink>>,
    /// How links dial their neighbours.
    pub transport: Arc<dyn Transport>,
    /// Answers WHATSAT.
    pub places: Arc<dyn PlacesProvider>,
    /// The I/O log.
    pub log: IoLog,
    /// The store, if storage is on.
    pub store: Option<Store>,
    /// How links are sealed.
    pub sealing: Sealing,
    /// Whether links may go without a secret beyond loopback.
    pub insecure_links: bool,
    /// The longest client line accepted.
    pub max_line: usize,
}

/// What [`Node::clients`] made of a read's IAMATs.
pub struct Numbered {
    /// Each report's record (its AT line is the answer), or why it gets `?`, in order.
    pub outcomes: SmallVec<[Result<Record, ClientError>; 4]>,
    /// In `fsync = "always"`, what durability waits on: each covers the outcomes before the
    /// index it comes with and after the previous one's (flush the held forwards first).
    pub durable: Vec<(usize, Durable)>,
}

/// Why an IAMAT got no answer but `?`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The record (or the lease its number needs) could not be made durable.
    #[error("storing failed: {0}")]
    Store(#[from] StoreError),
    /// The herd's limits refuse it (`[herd]` max_clock_ahead, max_client_id, max_clients).
    #[error("{0}")]
    Refused(#[from] Refusal),
}

impl Node {
    /// A node from its parts.
    pub fn new(parts: NodeParts) -> Node {
        let table = parts.replica.table().clone();
        let stats = Arc::new(NodeStats::new(parts.links.iter().map(|l| l.name.as_str())));
        Node {
            name: parts.name,
            replica: Mutex::new(parts.replica),
            table,
            links: parts.links,
            transport: parts.transport,
            places: parts.places,
            log: parts.log,
            log_budget: LogBudget::default(),
            store: parts.store,
            lease_renewal: tokio::sync::Mutex::new(()),
            sealing: parts.sealing,
            insecure_links: parts.insecure_links,
            arrivals: Arrivals::default(),
            max_line: parts.max_line,
            shutdown: CancellationToken::new(),
            grace_over: CancellationToken::new(),
            tasks: TaskTracker::new(),
            disconnects: Disconnects::default(),
            logged: Mutex::new(LoggedCounts::default()),
            stats,
        }
    }

    /// Writes the line `line` makes to the log, unless too many lines of `kind` were written
    /// lately: then it is counted, and one line later says how many were left out.
    pub fn log_limited(&self, kind: &'static str, line: impl FnOnce() -> String) {
        let verdict = self.log_budget.admit(kind, std::time::Instant::now());
        if let Some(summary) = verdict.summary {
            self.log.event(summary);
        }
        if verdict.write {
            self.log.event(line());
        }
    }

    /// Writes how many lines [`Node::log_limited`] left out in windows that are over (all of
    /// them when `at_shutdown`).
    pub fn log_suppressed(&self, at_shutdown: bool) {
        let now = (!at_shutdown).then(std::time::Instant::now);
        for summary in self.log_budget.ended(now) {
            self.log.event(summary);
        }
    }

    /// What the replica refused since start: client IAMATs and neighbours' records.
    pub fn refusals(&self) -> Refusals {
        self.replica().refusals()
    }

    /// Writes each group of counters to the log (one line each) when it changed since the
    /// last call: what the limits refused, the client connections the server closed, the
    /// records the links' outboxes refused, and the store's failed writes. (The I/O log
    /// reports its own losses.)
    pub fn log_counters(&self) {
        let store = self.store.as_ref().map_or((0, 0), |s| {
            let stats = s.stats();
            (stats.write_errors, stats.records_lost)
        });
        let refusals = self.refusals();
        let disconnects = self.disconnects.counts();
        let overflowed: u64 = self.links.iter().map(|l| l.overflowed()).sum();
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.store != store {
            logged.store = store;
            self.log.event(format!(
                "store: {} writes failed, {} records lost",
                store.0, store.1
            ));
        }
        if logged.overflowed != overflowed {
            logged.overflowed = overflowed;
            let by_link: Vec<String> = self
                .links
                .iter()
                .map(|l| format!("{} {}", l.name, l.overflowed()))
                .collect();
            self.log.event(format!(
                "link outboxes full: {overflowed} records refused ({})",
                by_link.join(", ")
            ));
        }
        if logged.refusals != refusals {
            logged.refusals = refusals;
            self.log.event(format!("limits: {refusals}"));
        }
        if logged.disconnects != disconnects {
            logged.disconnects = disconnects;
            self.log.event(disconnects.to_string());
        }
    }

    /// The location table (read-only: changes go through the replica).
    pub fn table(&self) -> &LocationTable {
        &self.table
    }

    /// How many records neighbours announced that this server waits for.
    pub fn missing(&self) -> usize {
        self.replica().missing()
    }

    /// How many origins' records go to neighbour `peer` as announcements only (the tree
    /// pruned the link for them; see `herd_core::replica::tree`).
    pub fn lazy_origins(&self, peer: PeerId) -> usize {
        self.replica().lazy_origins(peer)
    }

    /// This server's watermarks now.
    pub fn watermarks(&self) -> Watermarks {
        self.replica().watermarks()
    }

    /// The sequence lease in force, with its store key (for compaction).
    pub fn lease_entry(&self) -> (Bytes, Bytes) {
        let lease = self.replica().lease();
        (
            Bytes::from_static(SEQ_LEASE_KEY),
            Bytes::from(lease.to_string()),
        )
    }

    /// The link to the neighbour called `name`.
    pub fn link_named(&self, name: &str) -> Option<&Arc<PeerLink>> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Forwards that wait for the end of a batch of lines, for this node's links.
    pub fn held_forwards(&self) -> HeldForwards {
        HeldForwards {
            links: self.links.clone(),
            by_link: Vec::new(),
            announcements: Vec::new(),
            stats: self.stats.clone(),
            won: Vec::new(),
        }
    }

    fn replica(&self) -> MutexGuard<'_, Replica> {
        // A panic elsewhere never leaves the replica half-changed (it is changed in one
        // synchronous call), so a poisoned lock is still usable.
        self.replica.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place in the store's queue, taken before the replica's lock (where appending cannot
    /// wait). `None` without a store, or once the store has closed (at shutdown).
    async fn reserve(&self) -> Option<AppendPermit<'_>> {
        match &self.store {
            Some(store) => store.reserve().await.ok(),
            None => None,
        }
    }

    /// Numbers a client's IAMAT and offers its record: [`Node::clients`] for one report.
    /// Returns the record (its AT line is the answer) and, in `fsync = "always"`, what its
    /// durability waits on (flush `held` before waiting).
    ///
    /// # Errors
    /// [`ClientError`] when the limits refuse the report (nothing changed) or the lease a
    /// number needs could not be stored.
    pub async fn client(
        &self,
        report: &ClientReport<'_>,
        now_nanos: i128,
        held: &mut HeldForwards,
    ) -> Result<(Record, Option<Durable>), ClientError> {
        let Numbered {
            mut outcomes,
            mut durable,
        } = self
            .clients(std::slice::from_ref(report), now_nanos, held)
            .await;
        let outcome = outcomes.pop().expect("one outcome per report");
        outcome.map(|record| (record, durable.pop().map(|(_, d)| d)))
    }

    /// Numbers the IAMATs of one read, in order, and offers their records: the forwards go
    /// into `held`, the records into the store's queue. All of them take one place in the
    /// store's queue (one message for the batch), one hold of the replica's lock and one
    /// clock reading (`now_nanos`), so a read of many lines costs little more than one. A
    /// report whose number needs a new lease ends a round: what was numbered is queued, the
    /// lease is stored, and the rest follow in the next round (as one by one).
    pub async fn clients(
        &self,
        reports: &[ClientReport<'_>],
        now_nanos: i128,
        held: &mut HeldForwards,
    ) -> Numbered {
        let mut numbered = Numbered {
            outcomes: SmallVec::new(),
            durable: Vec::new(),
        };
        while numbered.outcomes.len() < reports.len() {
            let mut permit = self.reserve().await;
            let mut actions = Vec::new();
            let mut need = None;
            let mut stored = SmallVec::<[(Bytes, Bytes); 4]>::new();
            {
                let mut replica = self.replica();
                for report in &reports[numbered.outcomes.len()..] {
                    let first = actions.len();
                    match replica.client(report, now_nanos, &mut actions) {
                        Ok(record) => numbered.outcomes.push(Ok(record)),
                        Err(ReportError::Refused(why)) => numbered.outcomes.push(Err(why.into())),
                        Err(ReportError::NeedLease(lease)) => {
                            need = Some(lease.lease);
                            break;
                        }
                    }
                    stored.extend(actions[first..].iter().filter_map(|a| match a {
                        Action::Persist(record) => Some((record.client(), record.wire_bytes())),
                        _ => None,
                    }));
                }
                // One record (a read of one line) goes without a list.
                let queued = match stored.len() {
                    0 => None,
                    1 => {
                        let (key, payload) = stored.swap_remove(0);
                        self.queue_records(permit.take(), 1, |p| p.append(key, payload))
                    }
                    many => self
                        .queue_records(permit.take(), many, |p| p.append_many(stored.into_vec())),
                };
                if let Some(durable) = queued {
                    numbered.durable.push((numbered.outcomes.len(), durable));
                }
            }
            self.carry_out(actions, held);
            if let Some(lease) = need {
                if let Err(e) = self.renew_lease(lease).await {
                    numbered.outcomes.push(Err(e.into()));
                }
            }
        }
        numbered
    }

    /// Forgets `client` herd-wide (an operator's `DELETE`): a tombstone is numbered, stored
    /// and flooded like a client's record (see [`Record::forgetting`]). Returns it, with what
    /// its durability waits on under `fsync = "always"` (forwarded first, like a record), or
    /// `None` when the client is unknown here.
    ///
    /// # Errors
    /// When the lease its number needs, or the tombstone itself, could not be stored.
    pub async fn forget(&self, client: &[u8]) -> Result<Option<Record>, StoreError> {
        let mut held = self.held_forwards();
        let (tombstone, durable) = loop {
            let mut permit = self.reserve().await;
            let mut actions = Vec::new();
            let forgotten = {
                let mut replica = self.replica();
                let now = crate::server::connection::now_nanos();
                let forgotten = replica.forget(client, now, &mut actions);
                let durable = self.persist(&actions, &mut permit);
                forgotten.map(|t| (t, durable))
            };
            match forgotten {
                Ok(done) => {
                    self.carry_out(actions, &mut held);
                    break done;
                }
                Err(ReportError::NeedLease(need)) => self.renew_lease(need.lease).await?,
                // Forgetting checks no limits.
                Err(ReportError::Refused(_)) => return Ok(None),
            }
        };
        held.flush();
        if let Some(durable) = durable {
            durable.wait().await?;
        }
        Ok(tombstone)
    }

    /// Stores (and syncs) the sequence lease `lease`, then lets the replica number under it.
    async fn renew_lease(&self, lease: u64) -> Result<(), StoreError> {
        let _one = self.lease_renewal.lock().await;
        if self.replica().lease() >= lease {
            return Ok(());
        }
        if let Some(store) = &self.store {
            let key = Bytes::from_static(SEQ_LEASE_KEY);
            store.append(key, Bytes::from(lease.to_string())).await?;
            store.sync().await?;
        }
        self.replica().lease_stored(lease);
        Ok(())
    }

    /// Feeds `event` (from a link, or housekeeping) to the replica and carries out its
    /// actions: forwards into `held`, records into the store's queue, control lines to the
    /// links. A neighbour's record goes through [`Node::apply_records`]. Cancel-safe: the only
    /// waits are for the store's place, before anything changes, and for a catch-up scan,
    /// after. Returns whether the table changed.
    pub async fn apply(&self, event: Event, held: &mut HeldForwards) -> bool {
        if let Event::Peer { from, .. } | Event::Announced { from, .. } = event {
            return self.apply_records(from, vec![event], held).await;
        }
        self.watch(&event);
        let mut actions = Vec::new();
        let now = crate::server::connection::now_nanos();
        // Only a record (a neighbour's or a client's) is ever persisted: nothing to store here.
        let changed = self.replica().handle(event, now, &mut actions);
        self.carry_out_all(actions, held).await;
        changed
    }

    /// Feeds the records and announcements (`Event::Peer`, `Event::Announced`) of one read
    /// from neighbour `from` to the replica, in order, as [`Node::apply`] would one by one,
    /// but with one place in the store's queue, one hold of the replica's lock and one clock
    /// reading for all of them. Stops at a line that gets the link dropped (the rest are not
    /// taken, as if they had not arrived). Cancel-safe as `apply`. Returns whether the table
    /// changed.
    pub async fn apply_records(
        &self,
        from: PeerId,
        events: Vec<Event>,
        held: &mut HeldForwards,
    ) -> bool {
        if events.is_empty() {
            return false;
        }
        let permit = self.reserve().await;
        let mut actions = Vec::new();
        let mut won = Vec::new();
        let now = crate::server::connection::now_nanos();
        let (mut taken, mut changed) = (0, false);
        {
            let mut replica = self.replica();
            for event in events {
                taken += u64::from(matches!(event, Event::Peer { .. }));
                let first = actions.len();
                changed |= replica.handle(event, now, &mut actions);
                let mut dropped = false;
                for action in &actions[first..] {
                    match action {
                        Action::Persist(record) => won.push((record.client(), record.wire_bytes())),
                        Action::DropLink { peer, .. } => dropped |= *peer == from,
                        _ => {}
                    }
                }
                if dropped {
                    break;
                }
            }
            // A neighbour's record is not waited on: its origin answered it already.
            if !won.is_empty() {
                let many = won.len();
                drop(self.queue_records(permit, many, |p| p.append_many(won)));
            }
        }
        self.count_received(from, taken);
        self.carry_out_all(actions, held).await;
        changed
    }

    /// Carries out `actions`, then runs the catch-up scans they ask for.
    async fn carry_out_all(&self, actions: Vec<Action>, held: &mut HeldForwards) {
        for (to, since, marks) in self.carry_out(actions, held) {
            self.send_missing(to, since, marks).await;
        }
    }

    /// Queues `count` records through `permit` with `append`, while the replica's lock is
    /// held, so the log's order is the table's; says in the log what could not be stored.
    /// Returns what durability waits on, when something does (`fsync = "always"`).
    fn queue_records(
        &self,
        permit: Option<AppendPermit<'_>>,
        count: usize,
        append: impl FnOnce(AppendPermit<'_>) -> Result<Durable, StoreError>,
    ) -> Option<Durable> {
        let Some(permit) = permit else {
            if self.store.is_some() {
                self.log.event(format!(
                    "{count} record(s) not stored: the store has closed"
                ));
            }
            return None;
        };
        match append(permit) {
            // Only a sync worth waiting for is handed back: the caller flushes its held
            // forwards before waiting, which must not happen per line when nothing waits.
            Ok(durable) => durable.waits().then_some(durable),
            Err(e) => {
                self.log
                    .event(format!("storing {count} record(s) failed: {e}"));
                None
            }
        }
    }

    /// Queues the record of the `Persist` action among `actions` (at most one per event)
    /// through `permit`, while the replica's lock is held, so the log's order is the table's.
    fn persist(
        &self,
        actions: &[Action],
        permit: &mut Option<AppendPermit<'_>>,
    ) -> Option<Durable> {
        let record = actions.iter().find_map(|a| match a {
            Action::Persist(record) => Some(record),
            _ => None,
        })?;
        self.queue_records(permit.take(), 1, |p| {
            p.append(record.client(), record.wire_bytes())
        })
    }

    /// Counts what `event` tells about a link (the link going up or down, the watermarks a
    /// neighbour confirmed) before the replica takes it; records are counted by `apply_records`.
    fn watch(&self, event: &Event) {
        let stats = &self.stats;
        match event {
            Event::LinkUp(peer) | Event::LinkDown(peer) => {
                let up = matches!(event, Event::LinkUp(_));
                if let Some(link) = stats.links.get(*peer) {
                    if link.set_up(up) {
                        let peer = link.peer.clone();
                        stats.publish(Change::Link { peer, up });
                    }
                }
            }
            Event::Watermarks { from, marks } | Event::CaughtUp { from, marks } => {
                if let Some(link) = stats.links.get(*from) {
                    link.confirmed(&self.watermarks(), marks);
                }
            }
            _ => {}
        }
    }

    /// Counts `n` records received from neighbour `from`.
    fn count_received(&self, from: PeerId, n: u64) {
        if let Some(link) = self.stats.links.get(from) {
            link.received.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Carries out the actions that need no lock; returns the catch-up scans to run.
    fn carry_out(
        &self,
        actions: Vec<Action>,
        held: &mut HeldForwards,
    ) -> Vec<(PeerId, Watermarks, Watermarks)> {
        let mut scans = Vec::new();
        let mut changed = false;
        for action in actions {
            match action {
                Action::Forward { to, record } => {
                    changed = true;
                    held.push(to, record);
                }
                Action::Persist(record) => {
                    changed = true;
                    if self.stats.watched() {
                        held.won.push(record);
                    }
                }
                Action::Announce { to, record } => held.announce(to, &record),
                Action::Prune { to, origin } => {
                    self.links[to].send_line(&wire::prune_line(&origin));
                }
                Action::Graft { to, client } => {
                    self.links[to].send_line(&wire::graft_line(&client));
                }
                Action::SendWatermarks { to, marks } => {
                    self.links[to].send_line(&marks_line("WM", &marks))
                }
                Action::SendMissing { to, since, marks } => scans.push((to, since, marks)),
                Action::Forgot(n) => {
                    if n > 0 {
                        changed = true;
                        self.log
                            .event(format!("forgot {n} clients (storage.forget_after)"));
                        self.stats.publish(Change::Forgot);
                    }
                }
                Action::DropLink { peer, bad_lines } => self.links[peer].cut(format!(
                    "{bad_lines} lines not trusted within {} s",
                    herd_core::replica::BAD_LINES_WINDOW.as_secs()
                )),
            }
        }
        if changed {
            self.arrivals.changed();
        }
        scans
    }

    /// Scans the table (on a blocking thread) for what neighbour `to` lacks and queues it on
    /// its link, followed by `CAUGHT marks`.
    async fn send_missing(&self, to: PeerId, since: Watermarks, marks: Watermarks) {
        let table = self.table.clone();
        let Ok(records) =
            tokio::task::spawn_blocking(move || catch_up::missing(&table, &since)).await
        else {
            return;
        };
        let link = &self.links[to];
        if let Some(stats) = self.stats.links.get(to) {
            stats
                .sent
                .fetch_add(records.len() as u64, Ordering::Relaxed);
        }
        self.log.event(format!(
            "link {}: sending {} records it lacks",
            link.name,
            records.len()
        ));
        link.queue_catch_up(records, marks_line("CAUGHT", &marks));
    }
}

/// Records a task has decided to forward but not yet sent, by link: a task that handles a
/// batch of lines sends each link one write for the batch instead of one per line. Call
/// [`HeldForwards::flush`] before answering any of the lines; dropping it flushes too, so a
/// task cancelled mid-batch still forwards every record that won.
pub struct HeldForwards {
    /// The node's links, by peer id.
    links: Vec<Arc<PeerLink>>,
    /// The records for each link, by the link's index (buffers kept between batches).
    by_link: Vec<Vec<Record>>,
    /// The `IHAVE` lines for each lazy link, by the link's index, and how many each holds.
    announcements: Vec<(Vec<u8>, u64)>,
    /// The node's counters and change feed.
    stats: Arc<NodeStats>,
    /// The records the table took in this batch, for the change feed (only collected while
    /// someone watches).
    won: Vec<Record>,
}

impl HeldForwards {
    /// Holds `record` for link `to`.
    fn push(&mut self, to: PeerId, record: Record) {
        if self.by_link.len() <= to {
            self.by_link.resize_with(to + 1, Vec::new);
        }
        self.by_link[to].push(record);
    }

    /// Holds an announcement of `record` for lazy link `to`.
    fn announce(&mut self, to: PeerId, record: &Record) {
        if self.announcements.len() <= to {
            self.announcements.resize_with(to + 1, Default::default);
        }
        let (lines, count) = &mut self.announcements[to];
        wire::announce_line(record, lines);
        *count += 1;
    }

    /// Sends the held records to their links, one write per link when it is idle (and the
    /// held announcements, as one control write per lazy link).
    pub fn flush(&mut self) {
        for (to, (lines, count)) in self.announcements.iter_mut().enumerate() {
            if *count > 0 {
                if let Some(stats) = self.stats.links.get(to) {
                    stats.announced.fetch_add(*count, Ordering::Relaxed);
                }
                self.links[to].send_line(lines);
                lines.clear();
                *count = 0;
            }
        }
        for (to, records) in self.by_link.iter_mut().enumerate() {
            if !records.is_empty() {
                if let Some(stats) = self.stats.links.get(to) {
                    stats
                        .sent
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                }
                self.links[to].send_all(records);
            }
        }
        if !self.won.is_empty() {
            let won: Arc<[Record]> = std::mem::take(&mut self.won).into();
            self.stats.publish(Change::Records(won));
        }
    }
}

impl Drop for HeldForwards {
    fn drop(&mut self) {
        self.flush();
    }
}
