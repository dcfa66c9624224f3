//! The location table: the newest record of every client this server knows.
//!
//! A cheap `Clone` handle over a sharded concurrent map, so connection tasks and peer links
//! update it in parallel without a global lock. Newer-wins is decided under the shard's lock,
//! so two updates racing for one client can never let the older one win.

use std::sync::Arc;

use bytes::Bytes;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::record::Record;

/// The newest record per client. Cloning shares the table.
#[derive(Clone, Default)]
pub struct LocationTable {
    /// Client ID → its newest record.
    map: Arc<DashMap<Bytes, Record>>,
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
                Offer::Won
            }
        }
    }

    /// The newest record of `client`, if any.
    pub fn get(&self, client: &[u8]) -> Option<Record> {
        self.map.get(client).map(|r| r.clone())
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
