//! The location table: the newest record of every client this server knows.
//!
//! A cheap `Clone` handle over a sharded concurrent map, so connection tasks and peer links
//! read it in parallel with the replica's writes. Newer-wins is decided under the shard's
//! lock, so two updates racing for one client can never let the older one win. The table
//! counts its clients as they come and go, so a cap on them costs no scan of the shards.
//!
//! **Memory.** The herd is built for a million clients per server, so a client costs one
//! allocation, its record's line after two bytes ([`Slot`]), and the map's slot is that
//! allocation's pointer: the client ID is read out of the line, not kept a
//! second time as a key, and no field is parsed ahead of need. (A `DashMap<Bytes, Record>`
//! took a 136-byte slot per client, over twice that at the map's load factor, plus the line
//! and its shared-bytes header.) Readers get a [`Record`] made from the line, a copy, for
//! the few they need (WHATSAT, the API, a catch-up), or look at the line in place
//! ([`StoredRecord`]) in the scans over every client.
//!
//! The shards are written by hand over `hashbrown`'s `HashTable` because a keyed map
//! (`DashMap`, `HashMap`) stores its key beside its value: here the key is inside the value.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use hashbrown::HashTable;

use crate::protocol::command::is_field_space;
use crate::protocol::number::parse_location;
use crate::record::Record;

/// Shards of the map: enough that the replica's writes rarely wait for a reader.
pub(crate) const SHARDS: usize = 16;

/// The newest record per client. Cloning shares the table.
#[derive(Clone, Default)]
pub struct LocationTable {
    inner: Arc<Inner>,
}

struct Inner {
    shards: [RwLock<HashTable<Slot>>; SHARDS],
    /// Client IDs come from the network: the hasher is seeded per process.
    hasher: foldhash::fast::RandomState,
    /// How many clients the shards hold (exact with one writer, which the replica is).
    clients: AtomicUsize,
    /// How many of them are tombstones ([`Record::is_gone`]).
    gone: AtomicUsize,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            shards: std::array::from_fn(|_| RwLock::new(HashTable::new())),
            hasher: foldhash::fast::RandomState::default(),
            clients: AtomicUsize::new(0),
            gone: AtomicUsize::new(0),
        }
    }
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

/// One client's record as the table keeps it: where the client ID starts in the line, as two
/// bytes, then the record's line (`SEQ AT origin diff client location time`, [`Record::wire`]),
/// and nothing else. A lookup compares the client ID in place; the other fields are found
/// again when they are needed, by skipping white space (the client time is the last field).
/// Offsets kept for them would cost a larger allocation size class for many clients.
struct Slot(Box<[u8]>);

/// Bytes before the line in a [`Slot`].
const HEADER: usize = 2;

/// The client start a [`Slot`] keeps when the real one does not fit in two bytes (never, for
/// a line a server of the herd makes): the client ID is then found by skipping fields.
const FAR: u16 = u16::MAX;

impl Slot {
    fn new(record: &Record) -> Slot {
        let wire = record.wire();
        let mut bytes = Vec::with_capacity(HEADER + wire.len());
        bytes.extend_from_slice(&Slot::header(record));
        bytes.extend_from_slice(wire);
        Slot(bytes.into_boxed_slice())
    }

    /// What a slot holds before `record`'s line: where its client ID starts.
    fn header(record: &Record) -> [u8; HEADER] {
        u16::try_from(record.client_start())
            .unwrap_or(FAR)
            .to_le_bytes()
    }

    /// Holds `record` from now on: in place when its line is as long as the one held (a
    /// client's lines usually are), sparing an allocation and a free.
    fn replace(&mut self, record: &Record) {
        let wire = record.wire();
        if self.0.len() != HEADER + wire.len() {
            *self = Slot::new(record);
            return;
        }
        self.0[..HEADER].copy_from_slice(&Slot::header(record));
        self.0[HEADER..].copy_from_slice(wire);
    }

    fn wire(&self) -> &[u8] {
        &self.0[HEADER..]
    }

    /// Where the client ID starts in the line, as kept; `None` when it did not fit.
    fn start(&self) -> Option<usize> {
        let start = u16::from_le_bytes([self.0[0], self.0[1]]);
        (start != FAR).then_some(usize::from(start))
    }

    /// Whether the record is `client`'s: a comparison in place, without reading any field.
    fn is_of(&self, client: &[u8]) -> bool {
        let wire = self.wire();
        let Some(start) = self.start() else {
            return self.view().client_bytes() == client;
        };
        let end = start + client.len();
        wire.get(start..end) == Some(client) && wire.get(end).is_none_or(|&b| is_field_space(b))
    }

    /// The client ID, found from the kept start (what rehashing a growing shard reads).
    fn client(&self) -> &[u8] {
        let Some(start) = self.start() else {
            return self.view().client_bytes();
        };
        let rest = self.wire().get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| is_field_space(b))
            .unwrap_or(rest.len());
        &rest[..len]
    }

    fn view(&self) -> StoredRecord<'_> {
        StoredRecord { wire: self.wire() }
    }
}

/// Where field `n` (from 0) of `line` lies; an empty range at the end when there are fewer.
/// Unlike [`split_fields`](crate::protocol::command::split_fields), it stops at the field
/// asked for.
fn field(line: &[u8], n: usize) -> Range<usize> {
    let mut at = 0;
    for i in 0..=n {
        while at < line.len() && is_field_space(line[at]) {
            at += 1;
        }
        let start = at;
        while at < line.len() && !is_field_space(line[at]) {
            at += 1;
        }
        if i == n {
            return start..at;
        }
    }
    line.len()..line.len()
}

/// A record in the table, looked at in place (see the module documentation): its fields are
/// read out of the stored line when asked for, without a copy.
#[derive(Debug, Clone, Copy)]
pub struct StoredRecord<'a> {
    wire: &'a [u8],
}

impl<'a> StoredRecord<'a> {
    /// `SEQ AT ...`: the record's line ([`Record::wire`]).
    pub fn wire(&self) -> &'a [u8] {
        self.wire
    }

    /// The client ID.
    pub fn client_bytes(&self) -> &'a [u8] {
        &self.wire[field(self.wire, 4)]
    }

    /// The client time as the client wrote it (the last field).
    pub fn time(&self) -> &'a [u8] {
        let start = self.wire.iter().rposition(|&b| is_field_space(b));
        &self.wire[start.map_or(0, |i| i + 1)..]
    }

    /// True for a tombstone ([`Record::is_gone`]).
    pub fn is_gone(&self) -> bool {
        &self.wire[field(self.wire, 1)] == b"GONE"
    }

    /// The number the origin gave the record.
    pub fn seq(&self) -> u64 {
        // The line was checked when the record was made: it starts with the number.
        let digits = self.wire.iter().take_while(|b| b.is_ascii_digit());
        digits.fold(0u64, |n, &d| {
            n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        })
    }

    /// The name of the server that received the IAMAT.
    pub fn origin(&self) -> &'a [u8] {
        &self.wire[field(self.wire, 2)]
    }

    /// (latitude, longitude) in degrees.
    pub fn position(&self) -> (f64, f64) {
        parse_location(&self.wire[field(self.wire, 5)]).unwrap_or((0.0, 0.0))
    }

    /// The record, as a [`Record`] of its own (a copy of the line). Every line in the table
    /// was a record's, so it reads back; `None` would be a bug, and readers then see no
    /// record rather than a server that stops.
    pub fn to_record(&self) -> Option<Record> {
        let record = Record::decode(Bytes::copy_from_slice(self.wire)).ok();
        debug_assert!(record.is_some(), "a stored record reads back");
        record
    }
}

impl LocationTable {
    /// An empty table.
    pub fn new() -> LocationTable {
        LocationTable::default()
    }

    fn hash(&self, client: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.inner.hasher.hash_one(client)
    }

    fn shard(&self, hash: u64) -> &RwLock<HashTable<Slot>> {
        &self.inner.shards[Self::shard_of(hash)]
    }

    /// The shard of a hash: bits the shard's own table does not use first (it takes the
    /// lowest for the bucket and the highest seven for its tags).
    fn shard_of(hash: u64) -> usize {
        (hash >> 32) as usize % SHARDS
    }

    /// Which of the table's [`SHARDS`] shards holds `client`: writers that split clients by
    /// it never wait for each other's locks (see [`crate::replica::Restoring`]).
    pub(crate) fn shard_index(&self, client: &[u8]) -> usize {
        Self::shard_of(self.hash(client))
    }

    fn read(&self, hash: u64) -> RwLockReadGuard<'_, HashTable<Slot>> {
        self.shard(hash).read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, hash: u64) -> RwLockWriteGuard<'_, HashTable<Slot>> {
        self.shard(hash).write().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for `more` clients beyond those held (spread evenly over the shards), so
    /// that loading them grows no shard step by step.
    pub fn reserve(&self, more: usize) {
        let inner = &*self.inner;
        for shard in &inner.shards {
            let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
            shard.reserve(more.div_ceil(SHARDS), |s| {
                std::hash::BuildHasher::hash_one(&inner.hasher, s.client())
            });
        }
    }

    /// Stores `record` if it is newer than the client's stored record.
    pub fn offer(&self, record: &Record) -> Offer {
        self.offer_within(record, usize::MAX)
    }

    /// Stores `record` if it is newer than the client's stored record, and, when the client
    /// is new, only if the table holds fewer than `max_clients` clients.
    pub fn offer_within(&self, record: &Record, max_clients: usize) -> Offer {
        let client = record.client_bytes();
        let hash = self.hash(client);
        let mut shard = self.write(hash);
        if let Some(stored) = shard.find_mut(hash, |s| s.is_of(client)) {
            let view = stored.view();
            let was_gone = view.is_gone();
            if !record.is_newer_than_kept(view.time(), was_gone) {
                return Offer::Stale;
            }
            stored.replace(record);
            self.count_gone(record.is_gone(), was_gone);
            return Offer::Won;
        }
        let inner = &*self.inner;
        if inner.clients.load(Ordering::Relaxed) >= max_clients {
            return Offer::Full;
        }
        shard.insert_unique(hash, Slot::new(record), |s| {
            std::hash::BuildHasher::hash_one(&inner.hasher, s.client())
        });
        inner.clients.fetch_add(1, Ordering::Relaxed);
        self.count_gone(record.is_gone(), false);
        Offer::Won
    }

    fn count_gone(&self, now_gone: bool, was_gone: bool) {
        let gone = &self.inner.gone;
        match (now_gone, was_gone) {
            (true, false) => gone.fetch_add(1, Ordering::Relaxed),
            (false, true) => gone.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// The newest record of `client`, if any and if the client was not forgotten since.
    pub fn get(&self, client: &[u8]) -> Option<Record> {
        let hash = self.hash(client);
        let shard = self.read(hash);
        let stored = shard.find(hash, |s| s.is_of(client))?;
        let stored = stored.view();
        if stored.is_gone() {
            return None;
        }
        stored.to_record()
    }

    /// The newest record of `client`, a tombstone included.
    pub fn get_stored(&self, client: &[u8]) -> Option<Record> {
        let hash = self.hash(client);
        let shard = self.read(hash);
        let stored = shard.find(hash, |s| s.is_of(client))?;
        stored.view().to_record()
    }

    /// True when the table holds a record of `client` at least as new as the version at
    /// client time `time` (a tombstone when `gone`): that version, or one that replaced it.
    pub fn holds(&self, client: &[u8], time: &[u8], gone: bool) -> bool {
        let hash = self.hash(client);
        let shard = self.read(hash);
        shard.find(hash, |s| s.is_of(client)).is_some_and(|s| {
            let kept = s.view();
            !crate::record::is_newer_version((time, gone), (kept.time(), kept.is_gone()))
        })
    }

    /// True when the table holds `record` itself: the same origin's same number (a copy that
    /// came again, rather than an older record of the client).
    pub fn holds_copy(&self, record: &Record) -> bool {
        let client = record.client_bytes();
        let hash = self.hash(client);
        let shard = self.read(hash);
        shard.find(hash, |s| s.is_of(client)).is_some_and(|s| {
            let kept = s.view();
            kept.seq() == record.seq() && kept.origin() == record.origin()
        })
    }

    /// True when `client` has a record (a tombstone included: it takes a place too).
    pub fn contains(&self, client: &[u8]) -> bool {
        let hash = self.hash(client);
        self.read(hash).find(hash, |s| s.is_of(client)).is_some()
    }

    /// How many clients have a record, tombstones included (what the table's cap counts).
    pub fn len(&self) -> usize {
        self.inner.clients.load(Ordering::Relaxed)
    }

    /// How many clients have a record that is not a tombstone (what readers see).
    pub fn live_len(&self) -> usize {
        self.len()
            .saturating_sub(self.inner.gone.load(Ordering::Relaxed))
    }

    /// True when no client has a record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every record (order unspecified). Holds each shard's lock only briefly.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut records = Vec::with_capacity(self.len());
        self.for_each(|r| records.extend(r.to_record()));
        records
    }

    /// Every record's client ID and line (order unspecified), as [`Bytes`] sharing one
    /// copy of the line: what a snapshot of the store takes, without reading any field.
    pub fn wires(&self) -> Vec<(Bytes, Bytes)> {
        let mut wires = Vec::with_capacity(self.len());
        self.for_each(|r| {
            let wire = Bytes::copy_from_slice(r.wire());
            wires.push((wire.slice(field(r.wire(), 4)), wire));
        });
        wires
    }

    /// Calls `f` on every record (order unspecified), holding one shard's read lock at a
    /// time.
    pub fn for_each(&self, mut f: impl FnMut(StoredRecord<'_>)) {
        for shard in &self.inner.shards {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            for stored in shard.iter() {
                f(stored.view());
            }
        }
    }

    /// Removes `client` if its record satisfies `drop` (checked under the shard's lock, so a
    /// newer record stored meanwhile is judged, not the one a caller saw). Returns whether it
    /// was removed.
    pub fn remove_if(&self, client: &[u8], drop: impl FnOnce(StoredRecord<'_>) -> bool) -> bool {
        let hash = self.hash(client);
        let mut shard = self.write(hash);
        let Ok(entry) = shard.find_entry(hash, |s| s.is_of(client)) else {
            return false;
        };
        if !drop(entry.get().view()) {
            return false;
        }
        let (removed, _) = entry.remove();
        self.inner.clients.fetch_sub(1, Ordering::Relaxed);
        self.count_gone(false, removed.view().is_gone());
        true
    }

    /// Drops every record for which `keep` is false; returns how many were dropped.
    pub fn retain(&self, mut keep: impl FnMut(StoredRecord<'_>) -> bool) -> usize {
        let (mut dropped, mut gone) = (0, 0);
        for shard in &self.inner.shards {
            let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
            shard.retain(|s| {
                let kept = keep(s.view());
                dropped += usize::from(!kept);
                gone += usize::from(!kept && s.view().is_gone());
                kept
            });
        }
        self.inner.clients.fetch_sub(dropped, Ordering::Relaxed);
        self.inner.gone.fetch_sub(gone, Ordering::Relaxed);
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
    fn a_record_reads_back_whole_whatever_white_space_separates_its_fields() {
        let table = LocationTable::new();
        let line = "17 \tAT  Bona\t+0.500000000   kiwi.cs.ucla.edu \x0b+34.1-118.4\t\t1621464827.5";
        let record = Record::decode(Bytes::from(line)).unwrap();
        assert_eq!(table.offer(&record), Offer::Won);
        assert_eq!(table.get(b"kiwi.cs.ucla.edu"), Some(record.clone()));
        let mut seen = 0;
        table.for_each(|r| {
            seen += 1;
            assert_eq!(
                (r.client_bytes(), r.time(), r.origin(), r.seq(), r.is_gone()),
                (
                    &b"kiwi.cs.ucla.edu"[..],
                    &b"1621464827.5"[..],
                    &b"Bona"[..],
                    17,
                    false
                )
            );
            assert_eq!((r.position(), r.wire()), ((34.1, -118.4), line.as_bytes()));
        });
        assert_eq!(seen, 1);
        // Newer-wins reads the stored time out of the line: an older copy loses, a newer wins.
        let older = Record::decode(Bytes::from(
            "18 AT Bona +0.100000000 kiwi.cs.ucla.edu +1+1 1621464827.4",
        ));
        assert_eq!(table.offer(&older.unwrap()), Offer::Stale);
        let newer = Record::decode(Bytes::from(
            "9 AT Bona +0.100000000 kiwi.cs.ucla.edu +1+1 1621464827.50001",
        ));
        assert_eq!(table.offer(&newer.unwrap()), Offer::Won);
        assert_eq!(table.wires()[0].0, Bytes::from("kiwi.cs.ucla.edu"));
        // A client ID that is a prefix of another's is another client.
        table.offer(&sample("kiwi", 1));
        assert_eq!(
            (table.len(), table.get(b"kiwi").map(|r| r.seq())),
            (2, Some(1))
        );
    }

    #[test]
    fn a_newer_line_of_the_same_length_is_held_in_place_and_reads_back_whole() {
        let table = LocationTable::new();
        let line = |s: &'static str| Record::decode(Bytes::from(s)).unwrap();
        // Same length, the client ID two bytes earlier (a shorter number, a longer location).
        let first = line("100 AT Bona +0.100000000 kiwi +1+1 1621464827.1");
        let second = line("9 AT Bona +0.100000000 kiwi +12+12 1621464827.2");
        assert_eq!(first.wire().len(), second.wire().len());
        table.offer(&first);
        table.offer(&sample("other", 1));
        assert_eq!(table.offer(&second), Offer::Won);
        assert_eq!(table.get(b"kiwi"), Some(second.clone()));
        assert!(table.contains(b"kiwi") && !table.contains(b"kiw"));
        // A longer line, then a shorter one: each read back whole.
        let longer = line("101 AT Bona +0.100000000 kiwi +33.33-44.44 1621464827.3");
        let shorter = line("1 AT B +0.100000000 kiwi +1+1 1621464827.4");
        for record in [&longer, &shorter] {
            assert_eq!(table.offer(record), Offer::Won);
            assert_eq!(table.get(b"kiwi").as_ref(), Some(record));
        }
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
