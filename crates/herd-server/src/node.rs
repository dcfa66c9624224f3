//! The shared state of one running server: its name, its table (inside the flooding state
//! machine), its links, its places provider and its log. Connection tasks and link tasks hold
//! an `Arc<Node>`; nothing in it is locked across an `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use herd_core::flood::{Action, Event, Flood};
use crate::iolog::IoLog;
use herd_core::peer_wire::marks_line;
use crate::peer::PeerLink;
use herd_places::PlacesProvider;
use herd_core::record::Record;
use herd_store::Store;
use herd_core::table::LocationTable;

/// One server of the herd.
pub struct Node {
    /// The server's name, as it appears in AT lines.
    pub name: String,
    /// The flooding rules over the location table.
    pub flood: Flood,
    /// One link per neighbour, indexed by peer id.
    pub links: Vec<Arc<PeerLink>>,
    /// Answers WHATSAT.
    pub places: Arc<dyn PlacesProvider>,
    /// The I/O log.
    pub log: IoLog,
    /// The durable store of records, if storage is on.
    pub store: Option<Store>,
    /// Every number this server gives is at most this; it is stored (and synced) before a
    /// number above the previous lease is used, so numbers never repeat across a crash even
    /// when the clock went back.
    pub seq_lease: AtomicU64,
    /// Serialises lease renewals.
    pub lease_renewal: tokio::sync::Mutex<()>,
    /// The shared secret servers prove to each other, if one is set.
    pub secret: Option<Vec<u8>>,
    /// The longest client line accepted.
    pub max_line: usize,
    /// Wakes WHATSATs waiting for a client whose record is on its way.
    pub arrivals: crate::arrivals::Arrivals,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Every task of this server, to wait for at shutdown.
    pub tasks: TaskTracker,
}

/// The store key of the sequence lease: it holds a space, so no client ID can be it.
pub const SEQ_LEASE_KEY: &[u8] = b" seq-lease";

/// How far ahead a lease reaches: ten seconds of microsecond numbers, so a busy server
/// renews (one synced write) about every ten seconds.
const LEASE_AHEAD: u64 = 10_000_000;

impl Node {
    /// The number for a new record of this server (see `Flood::next_seq`), renewing the
    /// stored lease first when the number would pass it.
    pub async fn next_seq(&self, now_micros: u64) -> u64 {
        let seq = self.flood.next_seq(now_micros);
        if seq <= self.seq_lease.load(Ordering::Acquire) {
            return seq;
        }
        let _one = self.lease_renewal.lock().await;
        if seq > self.seq_lease.load(Ordering::Acquire) {
            let lease = seq.saturating_add(LEASE_AHEAD);
            if let Some(store) = &self.store {
                let stored = store
                    .append(
                        bytes::Bytes::from_static(SEQ_LEASE_KEY),
                        bytes::Bytes::from(lease.to_string()),
                    )
                    .await;
                if let Err(e) = stored.and(store.sync().await) {
                    tracing::error!("storing the sequence lease failed: {e}");
                }
            }
            self.seq_lease.store(lease, Ordering::Release);
        }
        seq
    }

    /// The location table.
    pub fn table(&self) -> &LocationTable {
        self.flood.table()
    }

    /// The link to the neighbour called `name`.
    pub fn link_named(&self, name: &str) -> Option<&Arc<PeerLink>> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Feeds `event` to the flooding state machine and carries out its actions. Records to
    /// forward are in the sockets or outboxes when this returns, and records to persist are as
    /// durable as the fsync policy promises. Returns whether the table changed.
    pub async fn apply(&self, event: Event) -> bool {
        let mut held = HeldForwards::default();
        let changed = self.apply_holding(event, &mut held).await;
        self.forward(&mut held);
        changed
    }

    /// Like [`Node::apply`], but the records to forward wait in `held` until
    /// [`Node::forward`]: a task that handles a batch of lines sends each link one write for
    /// the batch instead of one per line. Call `forward` before answering any of the lines.
    pub async fn apply_holding(&self, event: Event, held: &mut HeldForwards) -> bool {
        let mut actions = Vec::new();
        let changed = self.flood.handle(event, &mut actions);
        if changed {
            self.arrivals.changed();
        }
        for action in actions {
            match action {
                Action::Forward { to, record } => {
                    if held.by_link.len() <= to {
                        held.by_link.resize_with(to + 1, Vec::new);
                    }
                    held.by_link[to].push(record);
                }
                Action::Persist(record) => {
                    if let Some(store) = &self.store {
                        if store.appends_wait_for_sync() {
                            // Flood first: a neighbour need not wait for this disk.
                            self.forward(held);
                        }
                        if let Err(e) = store.append(record.client(), record.wire_bytes()).await {
                            // The writer keeps retrying; answering goes on.
                            tracing::error!("storing a record failed: {e}");
                        }
                    }
                }
                Action::SendWatermarks { to, marks } => {
                    self.links[to].send_line(&marks_line("WM", &marks))
                }
                Action::SendMissing { to, records, marks } => {
                    self.log.event(format!(
                        "link {}: sending {} records it lacks",
                        self.links[to].name,
                        records.len()
                    ));
                    self.links[to].queue_catch_up(records, marks_line("CAUGHT", &marks));
                }
                Action::Forgot(n) => {
                    if n > 0 {
                        self.log
                            .event(format!("forgot {n} clients (storage.forget_after)"));
                    }
                }
            }
        }
        changed
    }

    /// Sends the records held in `held` to their links, one write per link when it is idle.
    pub fn forward(&self, held: &mut HeldForwards) {
        for (to, records) in held.by_link.iter_mut().enumerate() {
            if !records.is_empty() {
                self.links[to].send_all(records);
            }
        }
    }
}

/// Records a task has decided to forward but not yet sent, by link (see
/// [`Node::apply_holding`]). Keeps its buffers between batches.
#[derive(Default)]
pub struct HeldForwards {
    /// The records for each link, by the link's index.
    by_link: Vec<Vec<Record>>,
}
