//! The location table: the newest record of every client this server knows.
//!
//! A cheap `Clone` handle over a sharded concurrent map, so connection tasks and peer links
//! update it in parallel without a global lock. Newer-wins is decided under the shard's lock,
//! so two updates racing for one client can never let the older one win.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::record::Record;

/// The newest record per client. Cloning shares the table.
#[derive(Clone, Default)]
pub struct LocationTable {
    /// Client ID → its newest record.
    map: Arc<DashMap<Bytes, Record>>,
    /// Wakes [`LocationTable::wait_for`] callers when a new client appears.
    arrivals: Arc<Arrivals>,
}

/// Who waits for a new client, so inserts only pay for a wake-up when someone waits.
#[derive(Default)]
struct Arrivals {
    /// How many callers wait now.
    waiting: AtomicUsize,
    /// Wakes them all.
    notify: tokio::sync::Notify,
}

/// What offering a record to the table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The record is newer than what was stored (or the client was new): it is stored now.
    Won,
    /// The table already held a record at least as new: nothing changed.
    Stale,
}

impl LocationTable {
    /// An empty table.
    pub fn new() -> LocationTable {
        LocationTable::default()
    }

    /// Stores `record` if it is newer than the client's stored record.
    pub fn offer(&self, record: &Record) -> Offer {
        match self.map.entry(record.client()) {
            Entry::Occupied(mut stored) => {
                if record.is_newer_than(stored.get()) {
                    stored.insert(record.clone());
                    Offer::Won
                } else {
                    Offer::Stale
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(record.clone());
                if self.arrivals.waiting.load(Ordering::Acquire) > 0 {
                    self.arrivals.notify.notify_waiters();
                }
                Offer::Won
            }
        }
    }

    /// The newest record of `client`, if any.
    pub fn get(&self, client: &[u8]) -> Option<Record> {
        self.map.get(client).map(|r| r.clone())
    }

    /// The newest record of `client`, waiting up to `grace` for it to arrive if it is unknown
    /// now (a record may be on its way from a neighbour).
    pub async fn wait_for(&self, client: &[u8], grace: Duration) -> Option<Record> {
        if let Some(r) = self.get(client) {
            return Some(r);
        }
        if grace.is_zero() {
            return None;
        }
        self.arrivals.waiting.fetch_add(1, Ordering::AcqRel);
        let deadline = tokio::time::Instant::now() + grace;
        let found = loop {
            let arrival = self.arrivals.notify.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if let Some(r) = self.get(client) {
                break Some(r);
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                break self.get(client);
            }
        };
        self.arrivals.waiting.fetch_sub(1, Ordering::AcqRel);
        found
    }

    /// How many clients are known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no client is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A copy of every record (order unspecified). Holds each shard's lock only briefly.
    pub fn snapshot(&self) -> Vec<Record> {
        self.map.iter().map(|r| r.value().clone()).collect()
    }

    /// Calls `f` on every record (order unspecified), holding each shard's lock briefly.
    pub fn for_each(&self, mut f: impl FnMut(&Record)) {
        for r in self.map.iter() {
            f(r.value());
        }
    }

    /// Drops every record for which `keep` is false; returns how many were dropped.
    pub fn retain(&self, mut keep: impl FnMut(&Record) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, r| keep(r));
        before.saturating_sub(self.map.len())
    }
}
