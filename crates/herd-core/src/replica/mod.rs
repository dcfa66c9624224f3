//! The replication core: one server's flooding, numbering and catch-up as a state machine
//! with no I/O (in the spirit of foca and chitchat).
//!
//! A [`Replica`] owns every write to the server's location table, its sequence numbers and
//! lease, its watermarks and the progress of catch-ups. It is fed events — a client's IAMAT
//! ([`Replica::client`]), a neighbour's record, a link going up or down, a neighbour's
//! watermarks or the end of its catch-up, a forgetting sweep ([`Replica::handle`]) — and
//! answers with [`Action`]s for the async layer: forward this record to that neighbour,
//! persist it, send watermarks, send what a neighbour lacks. Readers (WHATSAT, dump, the
//! catch-up scan) share a read-only view of the table ([`Replica::table`]).
//!
//! Because one `&mut self` call numbers a record and offers it to the table, no watermark can
//! ever count a number whose record is not in the table yet; and because a call returns its
//! actions whole, the async layer can carry them out without an `.await` in between (see
//! ALGORITHM.md for the invariants).

pub mod catch_up;
pub mod numbers;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::protocol::number::decimal_to_nanos;
use crate::record::{BadRecord, Record};
use crate::table::{LocationTable, Offer};
pub use numbers::{NeedLease, Numbers, LEASE_AHEAD, SEQ_LEASE_KEY};

/// A neighbour, by its index in the server's neighbour list.
pub type PeerId = usize;

/// For each origin server, the highest sequence number up to which a server holds every
/// record of that origin (or a newer record of the same client).
pub type Watermarks = BTreeMap<String, u64>;

/// Something that happened to this server (a client's IAMAT goes through
/// [`Replica::client`], which numbers it).
#[derive(Debug, Clone)]
pub enum Event {
    /// Neighbour `from` sent `record`.
    Peer {
        /// The neighbour it came from.
        from: PeerId,
        /// The record.
        record: Record,
    },
    /// The link to a neighbour came (back) up.
    LinkUp(PeerId),
    /// The link to a neighbour went down.
    LinkDown(PeerId),
    /// A neighbour told what it holds: send it what it lacks.
    Watermarks {
        /// The neighbour.
        from: PeerId,
        /// Its watermarks.
        marks: Watermarks,
    },
    /// A neighbour finished sending what this server lacked, as of its `marks`.
    CaughtUp {
        /// The neighbour.
        from: PeerId,
        /// Its watermarks when it started sending.
        marks: Watermarks,
    },
    /// Forget every client whose newest client time is before `before_secs` (POSIX seconds).
    Forget {
        /// The cut-off.
        before_secs: i64,
    },
}

/// Something the async layer must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `record` to neighbour `to`.
    Forward {
        /// The neighbour.
        to: PeerId,
        /// The record.
        record: Record,
    },
    /// Write `record` to durable storage (in the order the actions come: that is the order in
    /// which the table changed).
    Persist(Record),
    /// Tell neighbour `to` what this server holds.
    SendWatermarks {
        /// The neighbour.
        to: PeerId,
        /// This server's watermarks.
        marks: Watermarks,
    },
    /// Send neighbour `to` every record of the table it lacks ([`catch_up::missing`] with
    /// `since`), then `marks`, this server's watermarks taken before the records are chosen.
    SendMissing {
        /// The neighbour.
        to: PeerId,
        /// Its watermarks: it lacks the records numbered above these.
        since: Watermarks,
        /// This server's watermarks now.
        marks: Watermarks,
    },
    /// A sweep forgot this many clients.
    Forgot(usize),
}

/// A client's IAMAT, parsed: the fields exactly as the client wrote them.
#[derive(Debug, Clone, Copy)]
pub struct ClientReport<'a> {
    /// The client ID.
    pub client: &'a [u8],
    /// The location, ISO 6709 style.
    pub location: &'a [u8],
    /// The client's time, POSIX seconds.
    pub time: &'a [u8],
    /// (latitude, longitude) of `location`.
    pub position: (f64, f64),
}

/// The replication state machine of one server.
pub struct Replica {
    /// This server's name: the origin of the records it makes.
    me: String,
    /// The newest record per client; only this machine writes it.
    table: LocationTable,
    /// How many neighbours this server has (peer ids are `0..neighbours`).
    neighbours: usize,
    /// Whether links coming up trade missed records.
    catch_up: bool,
    /// The numbers this server gives, and their stored lease.
    numbers: Numbers,
    /// The own watermark until every neighbour has caught this server up once since start:
    /// the highest own number read back from storage (own records numbered above it may have
    /// been lost in a crash, and neighbours may hold them).
    own_floor: u64,
    /// The neighbours that finished a catch-up of this server since start; once all have,
    /// the own watermark is the counter.
    caught_by: Vec<bool>,
    /// What this server knows it holds of other origins.
    marks: HashMap<String, u64>,
    /// Records whose client time is older than this (nanoseconds) are forgotten.
    forget_before: Option<i128>,
}

impl Replica {
    /// The state machine of server `me`, with `neighbours` neighbours and an empty table.
    pub fn new(me: &str, neighbours: usize, catch_up: bool) -> Replica {
        Replica {
            me: me.to_string(),
            table: LocationTable::new(),
            neighbours,
            catch_up,
            numbers: Numbers::default(),
            own_floor: 0,
            caught_by: vec![false; neighbours],
            marks: HashMap::new(),
            forget_before: None,
        }
    }

    /// A read-only view of the table (clone it to share it with readers).
    pub fn table(&self) -> &LocationTable {
        &self.table
    }

    /// The sequence lease in force (what compaction must keep on disk).
    pub fn lease(&self) -> u64 {
        self.numbers.lease()
    }

    /// Takes back one stored entry (a record, or the sequence lease) before the server
    /// starts, with no actions.
    ///
    /// # Errors
    /// [`BadRecord`] when a record's bytes do not read back; nothing changes then.
    pub fn restore(&mut self, key: &[u8], payload: Bytes) -> Result<(), BadRecord> {
        if key == SEQ_LEASE_KEY {
            let lease = std::str::from_utf8(&payload)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(BadRecord)?;
            self.numbers.restore_lease(lease);
            return Ok(());
        }
        let record = Record::decode(payload)?;
        if record.origin() == self.me.as_bytes() {
            self.numbers.observe(record.seq());
            self.own_floor = self.own_floor.max(record.seq());
        }
        self.table.offer(&record);
        Ok(())
    }

    /// Numbers a client's IAMAT received at `now_nanos` and offers its record to the table,
    /// appending the actions (forward, persist) when it wins. Returns the record, whose AT
    /// line is the answer, whether it won or not.
    ///
    /// # Errors
    /// [`NeedLease`] when its number would pass the stored lease: store the lease, report it
    /// with [`Replica::lease_stored`] and call again. Nothing changed then.
    pub fn client(
        &mut self,
        report: &ClientReport<'_>,
        now_nanos: i128,
        actions: &mut Vec<Action>,
    ) -> Result<Record, NeedLease> {
        let now_micros = u64::try_from(now_nanos / 1000).unwrap_or(0);
        let seq = self.numbers.next(now_micros)?;
        let record = Record::received(
            &self.me,
            seq,
            now_nanos,
            report.client,
            report.location,
            report.time,
            report.position,
        );
        self.offer(record.clone(), None, actions);
        Ok(record)
    }

    /// The lease `lease` is stored (and synced).
    pub fn lease_stored(&mut self, lease: u64) {
        self.numbers.lease_stored(lease);
    }

    /// This server's watermarks now.
    pub fn watermarks(&self) -> Watermarks {
        let mut marks: Watermarks = self.marks.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let own = if self.caught_by.iter().all(|&c| c) {
            self.numbers.last()
        } else {
            self.own_floor
        };
        marks.insert(self.me.clone(), own);
        marks
    }

    /// Applies `event`, appending the resulting actions to `actions`. Returns whether the
    /// table changed.
    pub fn handle(&mut self, event: Event, actions: &mut Vec<Action>) -> bool {
        match event {
            Event::Peer { from, record } => self.offer(record, Some(from), actions),
            Event::LinkUp(to) => {
                if self.catch_up {
                    let marks = self.watermarks();
                    actions.push(Action::SendWatermarks { to, marks });
                }
                false
            }
            Event::LinkDown(_) => false,
            Event::Watermarks { from, marks } => {
                if self.catch_up {
                    // Our marks first: the table scanned after holds at least what they promise.
                    actions.push(Action::SendMissing {
                        to: from,
                        since: marks,
                        marks: self.watermarks(),
                    });
                }
                false
            }
            Event::CaughtUp { from, marks } => {
                self.caught_up(from, marks);
                false
            }
            Event::Forget { before_secs } => {
                let before = i128::from(before_secs) * 1_000_000_000;
                let before = self.forget_before.map_or(before, |b| b.max(before));
                self.forget_before = Some(before);
                let forgotten = self.table.retain(|r| !forgotten_by(r, before));
                actions.push(Action::Forgot(forgotten));
                forgotten > 0
            }
        }
    }

    /// Merges a neighbour's marks at the end of its catch-up of this server.
    fn caught_up(&mut self, from: PeerId, theirs: Watermarks) {
        if let Some(caught) = self.caught_by.get_mut(from) {
            *caught = true;
        }
        for (origin, seq) in theirs {
            if origin == self.me {
                // Never number below what a neighbour already holds of this server, and hold
                // all of it now.
                self.numbers.observe(seq);
                self.own_floor = self.own_floor.max(seq);
            } else {
                let mark = self.marks.entry(origin).or_insert(0);
                *mark = (*mark).max(seq);
            }
        }
    }

    /// Offers `record` (from a client when `from` is `None`) to the table; when it wins,
    /// appends its forwards (to every neighbour but `from`) and its persisting.
    fn offer(&mut self, record: Record, from: Option<PeerId>, actions: &mut Vec<Action>) -> bool {
        if self.forget_before.is_some_and(|b| forgotten_by(&record, b))
            || self.table.offer(&record) == Offer::Stale
        {
            return false;
        }
        for to in (0..self.neighbours).filter(|&p| Some(p) != from) {
            actions.push(Action::Forward {
                to,
                record: record.clone(),
            });
        }
        actions.push(Action::Persist(record));
        true
    }
}

/// True when `record`'s client time is before `before` (nanoseconds).
fn forgotten_by(record: &Record, before: i128) -> bool {
    decimal_to_nanos(record.time()).is_some_and(|t| t < before)
}

#[cfg(test)]
mod tests;
