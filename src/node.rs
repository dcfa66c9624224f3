//! The shared state of one running server: its name, its table (inside the flooding state
//! machine), its links, its places provider and its log. Connection tasks and link tasks hold
//! an `Arc<Node>`; nothing in it is locked across an `.await`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::flood::{Action, Event, Flood};
use crate::iolog::IoLog;
use crate::peer::wire::marks_line;
use crate::peer::PeerLink;
use crate::places::PlacesProvider;
use crate::store::Store;
use crate::table::LocationTable;

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
    /// The shared secret servers prove to each other, if one is set.
    pub secret: Option<Vec<u8>>,
    /// The longest client line accepted.
    pub max_line: usize,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Every task of this server, to wait for at shutdown.
    pub tasks: TaskTracker,
}

impl Node {
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
        let mut actions = Vec::new();
        let changed = self.flood.handle(event, &mut actions);
        for action in actions {
            match action {
                Action::Forward { to, record } => self.links[to].send(record),
                Action::Persist(record) => {
                    if let Some(store) = &self.store {
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
}
