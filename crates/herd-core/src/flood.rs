//! The flooding rules as a state machine with no I/O (in the spirit of foca).
//!
//! It is fed events (a client's IAMAT, a neighbour's record, a link going up or down, a
//! neighbour's watermarks, the end of a catch-up, a forgetting sweep) and answers with actions
//! for the async layer to carry out (forward this record to that neighbour, persist it, send
//! watermarks, send what a neighbour lacks). Its state is the location table, this server's
//! sequence counter and what it knows it has of every origin (its watermarks).
//!
//! The rules (ALGORITHM.md states the invariants they keep):
//! - a record that wins newer-wins is persisted and forwarded to every neighbour except the
//!   one it came from; a record that does not win changes nothing and goes nowhere, which ends
//!   the flood;
//! - when a link comes up, each side sends its watermarks; the other answers with every record
//!   it holds that is numbered above the watermark of its origin, then its own watermarks,
//!   which the first merges once all those records are in.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::protocol::number::decimal_to_nanos;
use crate::record::Record;
use crate::table::{LocationTable, Offer};

/// A neighbour, by its index in the server's neighbour list.
pub type PeerId = usize;

/// For each origin server, the highest sequence number up to which a server holds every
/// record of that origin (or a newer record of the same client).
pub type Watermarks = BTreeMap<String, u64>;

/// Something that happened to this server.
#[derive(Debug, Clone)]
pub enum Event {
    /// A client sent an IAMAT that this server turned into `record`.
    Client(Record),
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
    /// Write `record` to durable storage.
    Persist(Record),
    /// Tell neighbour `to` what this server holds.
    SendWatermarks {
        /// The neighbour.
        to: PeerId,
        /// This server's watermarks.
        marks: Watermarks,
    },
    /// Send neighbour `to` the records it lacks (ordered by origin, then number), then
    /// `marks`, this server's watermarks taken before the records were chosen.
    SendMissing {
        /// The neighbour.
        to: PeerId,
        /// The records.
        records: Vec<Record>,
        /// This server's watermarks.
        marks: Watermarks,
    },
    /// A sweep forgot this many clients.
    Forgot(usize),
}

/// The flooding state machine of one server.
pub struct Flood {
    /// This server's name: the origin of the records it makes.
    me: String,
    /// The newest record per client.
    table: LocationTable,
    /// How many neighbours this server has (peer ids are `0..neighbours`).
    neighbours: usize,
    /// Whether links coming up trade missed records.
    catch_up: bool,
    /// The last sequence number this server gave a record.
    seq: AtomicU64,
    /// The own watermark until every neighbour has caught this server up once since start:
    /// the highest own number read back from storage (own records numbered above it may have
    /// been lost in a crash, and neighbours may hold them).
    own_floor: AtomicU64,
    /// The neighbours that finished a catch-up of this server since start; once all have,
    /// the own watermark is the counter.
    caught_by: Mutex<Vec<bool>>,
    /// What this server knows it holds of other origins.
    marks: Mutex<HashMap<String, u64>>,
    /// Records older than this (POSIX seconds) are forgotten; `i64::MIN` when nothing is.
    forget_before: AtomicI64,
}

impl Flood {
    /// A state machine for server `me` over `table`, with `neighbours` neighbours.
    pub fn new(me: &str, table: LocationTable, neighbours: usize, catch_up: bool) -> Flood {
        Flood {
            me: me.to_string(),
            table,
            neighbours,
            catch_up,
            seq: AtomicU64::new(0),
            own_floor: AtomicU64::new(0),
            caught_by: Mutex::new(vec![false; neighbours]),
            marks: Mutex::new(HashMap::new()),
            forget_before: AtomicI64::new(i64::MIN),
        }
    }

    /// The table it keeps.
    pub fn table(&self) -> &LocationTable {
        &self.table
    }

    /// The number for a new record of this server: above every number it gave before, and
    /// at least `now_micros`, so numbers keep growing across restarts that lost the last few.
    pub fn next_seq(&self, now_micros: u64) -> u64 {
        let prev = self
            .seq
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |prev| {
                Some(prev.saturating_add(1).max(now_micros))
            })
            .unwrap_or(0);
        prev.saturating_add(1).max(now_micros)
    }

    /// Makes every later number greater than `issued` (a lease read back from storage: the
    /// numbers this server may have given before it stopped).
    pub fn restore_counter(&self, issued: u64) {
        self.seq.fetch_max(issued, Ordering::AcqRel);
    }

    /// Puts a record read back from storage into the table, with no actions.
    pub fn restore(&self, record: Record) {
        if record.origin() == self.me.as_bytes() {
            self.seq.fetch_max(record.seq(), Ordering::AcqRel);
            self.own_floor.fetch_max(record.seq(), Ordering::AcqRel);
        }
        self.table.offer(&record);
    }

    /// This server's watermarks now.
    pub fn watermarks(&self) -> Watermarks {
        let mut marks: Watermarks = self
            .lock_marks()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let confirmed = self
            .caught_by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(|&c| c);
        let own = if confirmed {
            self.seq.load(Ordering::Acquire)
        } else {
            self.own_floor.load(Ordering::Acquire)
        };
        marks.insert(self.me.clone(), own);
        marks
    }

    fn lock_marks(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_forgotten(&self, record: &Record) -> bool {
        let before = self.forget_before.load(Ordering::Relaxed);
        before != i64::MIN
            && decimal_to_nanos(record.time())
                .is_some_and(|t| t < i128::from(before) * 1_000_000_000)
    }

    /// Applies `event`, appending the resulting actions to `actions`. Returns whether the
    /// event changed the table.
    pub fn handle(&self, event: Event, actions: &mut Vec<Action>) -> bool {
        let (record, from) = match event {
            Event::Client(record) => (record, None),
            Event::Peer { from, record } => (record, Some(from)),
            Event::LinkUp(to) => {
                if self.catch_up {
                    actions.push(Action::SendWatermarks {
                        to,
                        marks: self.watermarks(),
                    });
                }
                return false;
            }
            Event::LinkDown(_) => return false,
            Event::Watermarks {
                from,
                marks: theirs,
            } => {
                if self.catch_up {
                    // Watermarks first: the snapshot taken after holds at least what they promise.
                    let marks = self.watermarks();
                    let mut records: Vec<Record> = self
                        .table
                        .snapshot()
                        .into_iter()
                        .filter(|r| {
                            let origin = std::str::from_utf8(r.origin()).unwrap_or("");
                            r.seq() > theirs.get(origin).copied().unwrap_or(0)
                        })
                        .collect();
                    records.sort_by(|a, b| a.origin().cmp(b.origin()).then(a.seq().cmp(&b.seq())));
                    actions.push(Action::SendMissing {
                        to: from,
                        records,
                        marks,
                    });
                }
                return false;
            }
            Event::CaughtUp {
                from,
                marks: theirs,
            } => {
                if let Some(caught) = self
                    .caught_by
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(from)
                {
                    *caught = true;
                }
                let mut marks = self.lock_marks();
                for (origin, seq) in theirs {
                    if origin == self.me {
                        // Never number below what a neighbour already holds of this server,
                        // and hold all of it now.
                        self.seq.fetch_max(seq, Ordering::AcqRel);
                        self.own_floor.fetch_max(seq, Ordering::AcqRel);
                    } else {
                        let mark = marks.entry(origin).or_insert(0);
                        *mark = (*mark).max(seq);
                    }
                }
                return false;
            }
            Event::Forget { before_secs } => {
                self.forget_before.fetch_max(before_secs, Ordering::AcqRel);
                let forgotten = self.table.retain(|r| !self.is_forgotten(r));
                actions.push(Action::Forgot(forgotten));
                return forgotten > 0;
            }
        };
        if self.is_forgotten(&record) || self.table.offer(&record) == Offer::Stale {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(client: &str, time: u64) -> Record {
        crate::record::sample(client, time)
    }

    fn flood(neighbours: usize) -> Flood {
        Flood::new("Me", LocationTable::new(), neighbours, true)
    }

    #[test]
    fn a_winner_goes_everywhere_but_back() {
        let f = flood(3);
        let mut a = Vec::new();
        assert!(f.handle(
            Event::Peer {
                from: 1,
                record: rec("c", 5)
            },
            &mut a
        ));
        assert_eq!(
            a,
            [
                Action::Forward {
                    to: 0,
                    record: rec("c", 5)
                },
                Action::Forward {
                    to: 2,
                    record: rec("c", 5)
                },
                Action::Persist(rec("c", 5)),
            ]
        );
    }

    #[test]
    fn a_stale_record_ends_the_flood() {
        let f = flood(2);
        let mut a = Vec::new();
        f.handle(Event::Client(rec("c", 5)), &mut a);
        a.clear();
        assert!(!f.handle(
            Event::Peer {
                from: 0,
                record: rec("c", 5)
            },
            &mut a
        ));
        assert!(!f.handle(Event::Client(rec("c", 4)), &mut a));
        assert!(a.is_empty());
        assert_eq!(f.table().get(b"c").unwrap(), rec("c", 5));
    }

    #[test]
    fn links_coming_up_trade_watermarks_only_when_asked() {
        let mut a = Vec::new();
        flood(2).handle(Event::LinkUp(1), &mut a);
        assert!(matches!(&a[..], [Action::SendWatermarks { to: 1, .. }]));
        a.clear();
        Flood::new("Me", LocationTable::new(), 2, false).handle(Event::LinkUp(1), &mut a);
        flood(2).handle(Event::LinkDown(1), &mut a);
        assert!(a.is_empty());
    }

    #[test]
    fn a_neighbour_gets_what_it_lacks_in_order_then_the_marks() {
        let f = flood(1);
        let mut a = Vec::new();
        for (c, t) in [("x", 9), ("y", 3), ("z", 5)] {
            f.handle(Event::Client(rec(c, t)), &mut a);
        }
        a.clear();
        let theirs: Watermarks = [("A".to_string(), 4)].into();
        f.handle(
            Event::Watermarks {
                from: 0,
                marks: theirs,
            },
            &mut a,
        );
        match &a[..] {
            [Action::SendMissing {
                to: 0,
                records,
                marks,
            }] => {
                assert_eq!(records.iter().map(Record::seq).collect::<Vec<_>>(), [5, 9]);
                assert_eq!(marks.get("Me"), Some(&0));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn caught_up_marks_merge_and_lift_the_own_counter() {
        let f = flood(1);
        let mut a = Vec::new();
        f.handle(
            Event::CaughtUp {
                from: 0,
                marks: [("B".to_string(), 7), ("Me".to_string(), 100)].into(),
            },
            &mut a,
        );
        f.handle(
            Event::CaughtUp {
                from: 0,
                marks: [("B".to_string(), 3)].into(),
            },
            &mut a,
        );
        assert_eq!(f.watermarks().get("B"), Some(&7));
        assert_eq!(f.next_seq(0), 101);
        assert_eq!(f.next_seq(500), 500);
        assert_eq!(f.next_seq(0), 501);
    }

    #[test]
    fn the_own_watermark_waits_for_every_neighbour_after_a_restart() {
        let f = flood(2);
        f.restore(Record::received(
            "Me",
            50,
            0,
            b"c",
            b"+1+1",
            b"1",
            (1.0, 1.0),
        ));
        assert_eq!(f.next_seq(1000), 1000);
        let mut a = Vec::new();
        assert_eq!(f.watermarks().get("Me"), Some(&50));
        f.handle(
            Event::CaughtUp {
                from: 0,
                marks: [("Me".to_string(), 60)].into(),
            },
            &mut a,
        );
        assert_eq!(f.watermarks().get("Me"), Some(&60));
        f.handle(
            Event::CaughtUp {
                from: 1,
                marks: Watermarks::new(),
            },
            &mut a,
        );
        assert_eq!(f.watermarks().get("Me"), Some(&1000));
    }

    #[test]
    fn forgetting_drops_old_clients_and_refuses_old_records() {
        let f = flood(1);
        let mut a = Vec::new();
        f.handle(Event::Client(rec("old", 10)), &mut a);
        f.handle(Event::Client(rec("new", 30)), &mut a);
        a.clear();
        f.handle(Event::Forget { before_secs: 20 }, &mut a);
        assert_eq!(a, [Action::Forgot(1)]);
        assert!(f.table().get(b"old").is_none());
        assert!(!f.handle(
            Event::Peer {
                from: 0,
                record: rec("old", 11)
            },
            &mut a
        ));
        assert!(f.table().get(b"old").is_none());
    }

    proptest! {
        #[test]
        fn newer_wins_is_order_independent(updates in proptest::collection::vec((0u8..4, 0u64..50), 1..60), seed in any::<u64>()) {
            let records: Vec<Record> = updates.iter().map(|(c, t)| rec(&format!("c{c}"), *t)).collect();
            let mut shuffled = records.clone();
            // A seeded Fisher-Yates shuffle.
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let (a, b) = (flood(1), flood(1));
            let mut sink = Vec::new();
            for r in records { a.handle(Event::Client(r), &mut sink); }
            for r in shuffled { b.handle(Event::Peer { from: 0, record: r }, &mut sink); }
            for c in 0..4u8 {
                let key = format!("c{c}");
                let (x, y) = (a.table().get(key.as_bytes()), b.table().get(key.as_bytes()));
                prop_assert_eq!(x.map(|r| r.time().to_vec()), y.map(|r| r.time().to_vec()));
            }
        }
    }
}
