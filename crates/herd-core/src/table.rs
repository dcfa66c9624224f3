//! The location table: the newest record of every client this server knows.
//!
//! A cheap `Clone` handle over a sharded concurrent map, so connection tasks and peer links
//! update it in parallel without a global lock. Newer-wins is decided under the shard's lock,
//! so two updates racing for one client can never let the older one win. The table counts its
//! clients as they come and go, so a cap on them costs no scan of the shards.

use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// How many clients `map` holds (exact with one writer, which the replica is).
    clients: Arc<AtomicUsize>,
    /// How many of them are tombstones ([`Record::is_gone`]).
    gone: Arc<AtomicUsize>,
}

/// What offering a record to the table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The record is newer than what was stored (or the client was new): it is stored now.
    Won,
    /// The table already held a record at least as new: nothing changed.
    Stale,
    /// The client is new and the table holds as many clients as it may: nothing changed.
    Full,
}

impl LocationTable {
    /// An empty table.
    pub fn new() -> LocationTable {
        LocationTable::default()
    }

    /// Stores `record` if it is newer than the client's stored record.
    pub fn offer(&self, record: &Record) -> Offer {
        self.offer_within(record, usize::MAX)
    }

    /// Stores `record` if it is newer than the client's stored record, and, when the client
    /// is new, only if the table holds fewer than `max_clients` clients.
    pub fn offer_within(&self, record: &Record, max_clients: usize) -> Offer {
        match self.map.entry(record.client()) {
            Entry::Occupied(mut stored) => {
                if record.is_newer_than(stored.get()) {
                    let was_gone = stored.get().is_gone();
                    stored.insert(record.clone());
                    self.count_gone(record.is_gone(), was_gone);
                    Offer::Won
                } else {
                    Offer::Stale
                }
            }
            Entry::Vacant(slot) => {
                if self.clients.load(Ordering::Relaxed) >= max_clients {
                    return Offer::Full;
                }
                slot.insert(record.clone());
                self.clients.fetch_add(1, Ordering::Relaxed);
                self.count_gone(record.is_gone(), false);
                Offer::Won
            }
        }
    }

    fn count_gone(&self, now_gone: bool, was_gone: bool) {
        match (now_gone, was_gone) {
            (true, false) => self.gone.fetch_add(1, Ordering::Relaxed),
            (false, true) => self.gone.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// The newest record of `client`, if any and if the client was not forgotten since.
    pub fn get(&self, client: &[u8]) -> Option<Record> {
        self.get_stored(client).filter(|r| !r.is_gone())
    }

    /// The newest record of `client`, a tombstone included.
    pub fn get_stored(&self, client: &[u8]) -> Option<Record> {
        self.map.get(client).map(|r| r.clone())
    }

    /// True when `client` has a record (a tombstone included: it takes a place too).
    pub fn contains(&self, client: &[u8]) -> bool {
        self.map.contains_key(client)
    }

    /// How many clients have a record, tombstones included (what the table's cap counts).
    pub fn len(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// How many clients are known: records that are not tombstones.
    pub fn live_len(&self) -> usize {
        self.len().saturating_sub(self.gone.load(Ordering::Relaxed))
    }

    /// True when no client is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    /// Removes `client` if its record satisfies `drop` (checked under the shard's lock, so a
    /// newer record stored meanwhile is judged, not the one a caller saw). Returns whether it
    /// was removed.
    pub fn remove_if(&self, client: &[u8], drop: impl FnOnce(&Record) -> bool) -> bool {
        let removed = self.map.remove_if(client, |_, r| drop(r));
        if let Some((_, r)) = &removed {
            self.clients.fetch_sub(1, Ordering::Relaxed);
            self.count_gone(false, r.is_gone());
        }
        removed.is_some()
    }

    /// Drops every record for which `keep` is false; returns how many were dropped.
    pub fn retain(&self, mut keep: impl FnMut(&Record) -> bool) -> usize {
        let (mut dropped, mut gone) = (0, 0);
        self.map.retain(|_, r| {
            let kept = keep(r);
            dropped += usize::from(!kept);
            gone += usize::from(!kept && r.is_gone());
            kept
        });
        self.clients.fetch_sub(dropped, Ordering::Relaxed);
        self.gone.fetch_sub(gone, Ordering::Relaxed);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::sample;

    #[test]
    fn a_full_table_refuses_new_clients_but_updates_known_ones() {
        let table = LocationTable::new();
        assert_eq!(table.offer_within(&sample("a", 1), 2), Offer::Won);
        assert_eq!(table.offer_within(&sample("b", 1), 2), Offer::Won);
        assert_eq!(table.offer_within(&sample("c", 1), 2), Offer::Full);
        assert_eq!(table.offer_within(&sample("a", 2), 2), Offer::Won);
        assert_eq!(table.offer_within(&sample("a", 1), 2), Offer::Stale);
        assert_eq!((table.len(), table.contains(b"c")), (2, false));
        assert_eq!(table.retain(|r| r.client_bytes() != b"b"), 1);
        assert_eq!(table.len(), 1);
        assert_eq!(table.offer_within(&sample("c", 1), 2), Offer::Won);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn a_tombstone_hides_the_client_and_wins_over_its_record_at_equal_time() {
        let table = LocationTable::new();
        let a = sample("a", 5);
        table.offer(&a);
        table.offer(&sample("b", 1));
        let gone = Record::forgetting("B", 9, &a);
        assert!(gone.is_gone());
        assert_eq!(table.offer(&gone), Offer::Won);
        assert_eq!(table.get(b"a"), None);
        assert_eq!(table.get_stored(b"a"), Some(gone.clone()));
        assert_eq!((table.len(), table.live_len()), (2, 1));
        // A late copy of the forgotten record loses; the client's next report wins.
        assert_eq!(table.offer(&a), Offer::Stale);
        assert_eq!(table.offer(&sample("a", 6)), Offer::Won);
        assert_eq!((table.len(), table.live_len()), (2, 2));
        table.offer(&Record::forgetting("B", 10, &sample("a", 6)));
        assert_eq!(table.retain(|r| !r.is_gone()), 1);
        assert_eq!((table.len(), table.live_len()), (1, 1));
    }
}
