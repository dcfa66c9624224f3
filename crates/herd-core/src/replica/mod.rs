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
//!
//! The replica also holds the herd's [`Limits`]: how far ahead of the server's clock a client's
//! time may be, how long a client ID and how many clients the table may hold. A client's
//! report beyond them is refused ([`ReportError::Refused`], answered `?`); a neighbour's record
//! beyond them is dropped. Both are counted ([`Replica::refusals`]).
//!
//! Neighbours are not trusted with names or numbers ([`trust`]): a record or mark of an origin
//! that is not a server of the herd, a number beyond what any server could have given, a mark
//! of this server's own numbers above what it gave, are left out and counted; a link that
//! sends too many such lines in a short time is dropped ([`Action::DropLink`]).

pub mod catch_up;
pub mod limits;
pub mod numbers;
mod restore;
pub mod tree;
pub mod trust;

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use crate::protocol::number::{decimal_to_nanos, time_difference};
use crate::record::{BadRecord, Record};
use crate::table::{LocationTable, Offer};
pub use limits::{Limits, Refusal, Refusals, Tally};
pub use numbers::{NeedLease, Numbers, LEASE_AHEAD, NUMBER_HORIZON, SEQ_LEASE_KEY};
pub use restore::Restoring;
pub use tree::{Broadcast, DEFAULT_GRAFT_AFTER, GRAFT_TICKS};
pub use trust::{BAD_LINES_WINDOW, MAX_BAD_LINES};

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
    /// A neighbour refused records on their way here (its outbox for this server was full)
    /// while the link stayed up: a catch-up round, as when the link comes up.
    Resync(PeerId),
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
    /// Neighbour `from` sent a line that is not a neighbour line, or an overlong one.
    BadLine {
        /// The neighbour.
        from: PeerId,
    },
    /// Neighbour `from` holds the version of `client`'s record at client time `time` (a
    /// tombstone when `gone`): its `IHAVE` (see [`tree`]).
    Announced {
        /// The neighbour.
        from: PeerId,
        /// The client.
        client: Bytes,
        /// The version's client time.
        time: Bytes,
        /// Whether the version is a tombstone.
        gone: bool,
    },
    /// Neighbour `from` asks for `client`'s record, and for records whole from now on: its
    /// `GRAFT` (see [`tree`]).
    Graft {
        /// The neighbour.
        from: PeerId,
        /// The client.
        client: Bytes,
    },
    /// Neighbour `from` asks for announcements only of `origin`'s records from now on: its
    /// `PRUNE` (see [`tree`]).
    Prune {
        /// The neighbour.
        from: PeerId,
        /// The origin.
        origin: Bytes,
    },
    /// A tick of the graft timer (every `graft_after / GRAFT_TICKS`): ask for announced
    /// versions that did not come in [`GRAFT_TICKS`] ticks (see [`tree`]).
    Tick,
    /// Forget every client whose newest client time is before `before_secs` (POSIX seconds):
    /// from now on such records are refused, and of `clients` (found by [`forget_candidates`]
    /// off the lock) those whose record is still that old are removed. A client that became
    /// old after the scan goes at the next sweep.
    Forget {
        /// The cut-off.
        before_secs: i64,
        /// The clients to check.
        clients: Vec<Bytes>,
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
    /// Tell neighbour `to` that this server holds `record` (`IHAVE`: the link is lazy).
    Announce {
        /// The neighbour.
        to: PeerId,
        /// The record.
        record: Record,
    },
    /// Tell neighbour `to` to send announcements only of `origin`'s records (`PRUNE`: it sent
    /// a copy already held).
    Prune {
        /// The neighbour.
        to: PeerId,
        /// The origin.
        origin: Bytes,
    },
    /// Ask neighbour `to` for `client`'s record, and for records whole from now on (`GRAFT`:
    /// it announced a version that did not come in time).
    Graft {
        /// The neighbour.
        to: PeerId,
        /// The client.
        client: Bytes,
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
    /// Close the connection to neighbour `peer`: it sent more than [`MAX_BAD_LINES`] lines
    /// that were not trusted within [`BAD_LINES_WINDOW`]. (It redials, or is redialled, as
    /// after any drop; the count starts again.)
    DropLink {
        /// The neighbour.
        peer: PeerId,
        /// How many lines it sent that were not trusted, in the window.
        bad_lines: u32,
    },
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

/// Why a client's report was not taken. Nothing changed in either case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Its number would pass the stored lease: store the lease, report it with
    /// [`Replica::lease_stored`] and call again.
    #[error(transparent)]
    NeedLease(#[from] NeedLease),
    /// The herd's limits refuse it: the answer is `?`.
    #[error(transparent)]
    Refused(#[from] Refusal),
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
    /// What this server knows it holds of other origins (only servers of `herd`).
    marks: HashMap<String, u64>,
    /// The names of the herd's servers, this one among them: the only origins taken.
    herd: HashSet<String>,
    /// For each neighbour, the lines not trusted in the current window.
    bad_lines: Vec<trust::BadLineWindow>,
    /// Records whose client time is older than this (nanoseconds) are forgotten.
    forget_before: Option<i128>,
    /// What this server takes at most (the same at every server of the herd).
    limits: Limits,
    /// What it refused since it started.
    refusals: Refusals,
    /// For each neighbour, how many of its records were dropped although they may be true
    /// (for a full table, or a number ahead of this server's clock): a catch-up during which
    /// one was is not counted as one (see `caught_up`).
    dropped_from: Vec<u64>,
    /// For each neighbour, `dropped_from` when this server last sent it its watermarks.
    dropped_when_marked: Vec<u64>,
    /// Which neighbours get records whole, and the announced versions waited for.
    tree: tree::Tree,
}

impl Replica {
    /// The state machine of server `me`, with `neighbours` neighbours, an empty table, no
    /// limits (see [`Replica::with_limits`]) and a herd of itself alone: records and marks of
    /// other origins are refused until [`Replica::with_herd`] names the herd's servers.
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
            herd: HashSet::from([me.to_string()]),
            bad_lines: vec![trust::BadLineWindow::default(); neighbours],
            forget_before: None,
            limits: Limits::NONE,
            refusals: Refusals::default(),
            dropped_from: vec![0; neighbours],
            dropped_when_marked: vec![0; neighbours],
            tree: tree::Tree::new(Broadcast::Flood, neighbours),
        }
    }

    /// The same replica, sending records on as `broadcast` says (a flood by default).
    pub fn with_broadcast(mut self, broadcast: Broadcast) -> Replica {
        self.tree = tree::Tree::new(broadcast, self.neighbours);
        self
    }

    /// Whether records of `origin` go whole to neighbour `peer` (always, when flooding,
    /// unless the neighbour pruned this server).
    pub fn is_eager(&self, origin: &[u8], peer: PeerId) -> bool {
        self.tree.is_eager(origin, peer)
    }

    /// How many origins' records go to neighbour `peer` as announcements only (0 when
    /// flooding, unless the neighbour pruned this server).
    pub fn lazy_origins(&self, peer: PeerId) -> usize {
        self.tree.lazy_origins(peer)
    }

    /// How many announced versions this server waits for.
    pub fn missing(&self) -> usize {
        self.tree.missing()
    }

    /// The same replica, taking records and marks of the servers `names` (and itself) only.
    pub fn with_herd<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Replica {
        self.herd.extend(names.into_iter().map(Into::into));
        self
    }

    /// The same replica, taking only what `limits` allow from clients and neighbours.
    pub fn with_limits(mut self, limits: Limits) -> Replica {
        self.limits = limits;
        self
    }

    /// What this replica refused since it started: client reports answered `?`, and
    /// neighbours' records dropped, by reason.
    pub fn refusals(&self) -> Refusals {
        self.refusals
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
    /// starts, with no actions. The limits do not apply: what was stored was taken under the
    /// limits in force then, and a table read back over `max_clients` only refuses new
    /// clients until it is below it again.
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

    /// Numbers a client's IAMAT received at `now_nanos` (the server's clock, nanoseconds
    /// since the epoch) and offers its record to the table, appending the actions (forward,
    /// persist) when it wins. Returns the record, whose AT line is the answer, whether it won
    /// or not.
    ///
    /// # Errors
    /// [`ReportError::Refused`] when the report is beyond the limits (a time not a client
    /// time, too far ahead of `now_nanos`, a client ID too long, a new client for a full
    /// table): it is counted and nothing else changes. [`ReportError::NeedLease`] when its
    /// number would pass the stored lease: store the lease, report it with
    /// [`Replica::lease_stored`] and call again. Nothing changed then.
    pub fn client(
        &mut self,
        report: &ClientReport<'_>,
        now_nanos: i128,
        actions: &mut Vec<Action>,
    ) -> Result<Record, ReportError> {
        let difference = self.admit(report, now_nanos).inspect_err(|&why| {
            self.refusals.clients.count(why);
        })?;
        let now_micros = u64::try_from(now_nanos / 1000).unwrap_or(0);
        let seq = self.numbers.next(now_micros)?;
        let record = Record::received(
            &self.me,
            seq,
            difference,
            report.client,
            report.location,
            report.time,
            report.position,
        );
        self.offer(record.clone(), None, actions);
        Ok(record)
    }

    /// Forgets `client` (an operator's `DELETE`): numbers a tombstone for its record and
    /// offers it like a client's record, appending its forwards and its persisting. Returns
    /// the tombstone, or `None` when the client has no record (or is forgotten already):
    /// nothing changes then.
    ///
    /// # Errors
    /// [`ReportError::NeedLease`] as for [`Replica::client`]; nothing changed then.
    pub fn forget(
        &mut self,
        client: &[u8],
        now_nanos: i128,
        actions: &mut Vec<Action>,
    ) -> Result<Option<Record>, ReportError> {
        let Some(record) = self.table.get(client) else {
            return Ok(None);
        };
        let now_micros = u64::try_from(now_nanos / 1000).unwrap_or(0);
        let seq = self.numbers.next(now_micros)?;
        let tombstone = Record::forgetting(&self.me, seq, &record);
        self.offer(tombstone.clone(), None, actions);
        Ok(Some(tombstone))
    }

    /// Checks a client's report against the limits before anything changes; returns its
    /// time difference (`now_nanos` minus the client's time).
    fn admit(&self, report: &ClientReport<'_>, now_nanos: i128) -> Result<i128, Refusal> {
        if report.client.len() > self.limits.max_client_id {
            return Err(Refusal::ClientIdTooLong);
        }
        let difference = time_difference(now_nanos, report.time).ok_or(Refusal::Time)?;
        if !self.limits.difference_allowed(difference) {
            return Err(Refusal::ClockAhead);
        }
        if self.table.len() >= self.limits.max_clients && !self.table.contains(report.client) {
            return Err(Refusal::TableFull);
        }
        Ok(difference)
    }

    /// Checks a neighbour's record against the limits its origin checked the report with.
    /// Only the record's own bytes are read (its difference, not this server's clock), so
    /// every server with the same limits decides the same for the same record.
    fn within_limits(&self, record: &Record) -> Result<(), Refusal> {
        if record.client_bytes().len() > self.limits.max_client_id {
            return Err(Refusal::ClientIdTooLong);
        }
        if !self.limits.difference_allowed(record.difference_nanos()) {
            return Err(Refusal::ClockAhead);
        }
        Ok(())
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

    /// Applies `event`, which happened at `now_nanos` (the server's clock, nanoseconds since
    /// the epoch: neighbours' numbers are judged against it), appending the resulting actions
    /// to `actions`. Returns whether the table changed.
    pub fn handle(&mut self, event: Event, now_nanos: i128, actions: &mut Vec<Action>) -> bool {
        if let Event::LinkUp(peer) = event {
            self.tree.link_up(peer);
        }
        match event {
            Event::Peer { from, record } => {
                if let Err(why) = self.trusted_record(&record, now_nanos) {
                    self.refusals.records.count(why);
                    if why == Refusal::NumberAhead {
                        // True, perhaps, with a clock far ahead: a catch-up that brought it
                        // does not count (see `caught_up`).
                        self.note_dropped(from);
                    }
                    self.distrust(from, now_nanos, actions);
                    return false;
                }
                self.offer(record, Some(from), actions)
            }
            Event::LinkUp(to) | Event::Resync(to) => {
                if self.catch_up {
                    if let (Some(then), Some(&now)) = (
                        self.dropped_when_marked.get_mut(to),
                        self.dropped_from.get(to),
                    ) {
                        *then = now;
                    }
                    let marks = self.watermarks();
                    actions.push(Action::SendWatermarks { to, marks });
                }
                false
            }
            Event::LinkDown(peer) => {
                self.tree.link_down(peer);
                false
            }
            Event::Announced {
                from,
                client,
                time,
                gone,
            } => {
                self.announced(from, client, time, gone, actions);
                false
            }
            Event::Graft { from, client } => {
                self.grafted(from, &client, actions);
                false
            }
            Event::Prune { from, origin } => {
                self.pruned(from, &origin, now_nanos, actions);
                false
            }
            Event::Tick => {
                self.tick(actions);
                false
            }
            Event::BadLine { from } => {
                self.refusals.untrusted.count(Refusal::BadLine);
                self.distrust(from, now_nanos, actions);
                false
            }
            Event::Watermarks { from, marks } => {
                // Marks left out only make this server send more: always safe.
                let (marks, _) = self.trusted_marks(from, marks, now_nanos, actions);
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
                let (marks, refused) = self.trusted_marks(from, marks, now_nanos, actions);
                self.tree.caught_up(from);
                self.caught_up(from, marks, refused);
                false
            }
            Event::Forget {
                before_secs,
                clients,
            } => {
                let before = i128::from(before_secs) * 1_000_000_000;
                let before = self.forget_before.map_or(before, |b| b.max(before));
                self.forget_before = Some(before);
                let forgotten = clients
                    .iter()
                    .filter(|client| {
                        self.table
                            .remove_if(client, |r| forgotten_by(r.time(), before))
                    })
                    .count();
                actions.push(Action::Forgot(forgotten));
                forgotten > 0
            }
        }
    }

    /// Merges a neighbour's (trusted) marks at the end of its catch-up of this server, unless
    /// one of its records was dropped for a full table or a number ahead since this server
    /// sent its own marks: the dropped record may be one the catch-up sent, and merging would
    /// claim it is held (so no later catch-up would send it again). A catch-up with a mark
    /// that was not trusted (`refused`) does not count as one either: the neighbour is broken
    /// or lying, and only merging nothing is sure to be safe.
    fn caught_up(&mut self, from: PeerId, theirs: Watermarks, refused: bool) {
        let dropped = self.dropped_from.get(from).copied();
        if refused || self.dropped_when_marked.get(from).copied() != dropped {
            return;
        }
        if let Some(caught) = self.caught_by.get_mut(from) {
            *caught = true;
        }
        for (origin, seq) in theirs {
            if origin == self.me {
                // Never number below what a neighbour already holds of this server (it is at
                // most the last number given: `trusted_marks` saw to it), and hold all of it.
                self.numbers.observe(seq);
                self.own_floor = self.own_floor.max(seq);
            } else {
                let mark = self.marks.entry(origin).or_insert(0);
                *mark = (*mark).max(seq);
            }
        }
    }

    /// Offers `record` (from a client when `from` is `None`, checked by `admit` already) to
    /// the table; when it wins, appends its forwards (to every neighbour but `from`) and its
    /// persisting. A neighbour's record beyond the limits, or for a new client when the table
    /// is full, is dropped and counted.
    fn offer(&mut self, record: Record, from: Option<PeerId>, actions: &mut Vec<Action>) -> bool {
        if self
            .forget_before
            .is_some_and(|b| forgotten_by(record.time(), b))
        {
            return false;
        }
        if from.is_some() {
            if let Err(why) = self.within_limits(&record) {
                self.refusals.records.count(why);
                return false;
            }
        }
        match self.table.offer_within(&record, self.limits.max_clients) {
            Offer::Won => {}
            Offer::Stale => {
                if let Some(peer) = from {
                    self.stale_from(peer, &record, actions);
                }
                return false;
            }
            Offer::Full => {
                match from {
                    Some(peer) => {
                        self.refusals.records.count(Refusal::TableFull);
                        self.note_dropped(peer);
                    }
                    None => self.refusals.clients.count(Refusal::TableFull),
                }
                return false;
            }
        }
        if let Some(peer) = from {
            self.took_from(peer, &record);
        }
        self.spread(&record, from, actions);
        actions.push(Action::Persist(record));
        true
    }
}

/// True when `record`'s client time is before `before` (nanoseconds).
/// The clients of `table` whose newest client time is before `before_secs` (POSIX seconds):
/// the scan for [`Event::Forget`], over the whole table, for a blocking thread rather than
/// under the replica's lock.
pub fn forget_candidates(table: &LocationTable, before_secs: i64) -> Vec<Bytes> {
    let before = i128::from(before_secs) * 1_000_000_000;
    let mut clients = Vec::new();
    table.for_each(|r| {
        if forgotten_by(r.time(), before) {
            clients.push(Bytes::copy_from_slice(r.client_bytes()));
        }
    });
    clients
}

fn forgotten_by(time: &[u8], before: i128) -> bool {
    decimal_to_nanos(time).is_some_and(|t| t < before)
}

#[cfg(test)]
mod tests;
