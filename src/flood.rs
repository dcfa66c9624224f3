//! The flooding rules as a state machine with no I/O (in the spirit of foca).
//!
//! It is fed events (a client's IAMAT, a neighbour's record, a link going up or down) and
//! answers with actions for the async layer to carry out (forward this record to that
//! neighbour, persist it, catch that neighbour up). Its only state is the location table.
//!
//! The rules:
//! - a record that wins newer-wins is persisted and forwarded to every neighbour except the
//!   one it came from;
//! - a record that does not win changes nothing and goes nowhere: that ends the flood;
//! - when a link comes up, the neighbour is caught up (if catch-up is on).

use crate::record::Record;
use crate::table::{LocationTable, Offer};

/// A neighbour, by its index in the server's neighbour list.
pub type PeerId = usize;

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
    /// Send neighbour `to` what it may have missed.
    CatchUp(PeerId),
}

/// The flooding state machine of one server.
#[derive(Clone)]
pub struct Flood {
    /// The newest record per client.
    table: LocationTable,
    /// How many neighbours this server has (peer ids are `0..neighbours`).
    neighbours: usize,
    /// Whether a link coming up triggers catch-up.
    catch_up: bool,
}

impl Flood {
    /// A state machine over `table` for a server with `neighbours` neighbours.
    pub fn new(table: LocationTable, neighbours: usize, catch_up: bool) -> Flood {
        Flood {
            table,
            neighbours,
            catch_up,
        }
    }

    /// The table it keeps.
    pub fn table(&self) -> &LocationTable {
        &self.table
    }

    /// Applies `event`, appending the resulting actions to `actions`. Returns whether the
    /// event changed the table.
    pub fn handle(&self, event: Event, actions: &mut Vec<Action>) -> bool {
        let (record, from) = match event {
            Event::Client(record) => (record, None),
            Event::Peer { from, record } => (record, Some(from)),
            Event::LinkUp(peer) => {
                if self.catch_up {
                    actions.push(Action::CatchUp(peer));
                }
                return false;
            }
            Event::LinkDown(_) => return false,
        };
        if self.table.offer(&record) == Offer::Stale {
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
        Record::received(
            "A",
            0,
            client.as_bytes(),
            b"+1+1",
            time.to_string().as_bytes(),
            (1.0, 1.0),
        )
    }

    #[test]
    fn a_winner_goes_everywhere_but_back() {
        let f = Flood::new(LocationTable::new(), 3, true);
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
        let f = Flood::new(LocationTable::new(), 2, true);
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
    fn links_coming_up_are_caught_up_only_when_asked() {
        let mut a = Vec::new();
        Flood::new(LocationTable::new(), 2, true).handle(Event::LinkUp(1), &mut a);
        assert_eq!(a, [Action::CatchUp(1)]);
        a.clear();
        Flood::new(LocationTable::new(), 2, false).handle(Event::LinkUp(1), &mut a);
        Flood::new(LocationTable::new(), 2, true).handle(Event::LinkDown(1), &mut a);
        assert!(a.is_empty());
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
            let (a, b) = (Flood::new(LocationTable::new(), 1, true), Flood::new(LocationTable::new(), 1, true));
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
