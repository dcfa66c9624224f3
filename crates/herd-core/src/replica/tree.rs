//! Eager push on spanning trees, lazy repair on the other links: the remedy for flooding's
//! redundant copies (in the spirit of Plumtree, Leitão, Pereira and Rodrigues, 2007), chosen
//! with `[herd] broadcast = "tree"`.
//!
//! Flooding sends every record that wins over every link but the one it came by, so a herd
//! with E links sends 2E - (N - 1) copies of each update where N - 1 would do. Here, for each
//! origin server, each neighbour is *eager* or *lazy*. A record that wins goes whole to the
//! neighbours eager for its origin and only as an announcement (`IHAVE origin client time`)
//! to the others:
//!
//! - A neighbour that sends a copy of a record this server already holds (the same origin's
//!   same number) is a redundant path for that origin: it becomes lazy for it and is told so
//!   (`PRUNE origin`), which makes this server lazy for it in turn. What stays eager for an
//!   origin is a spanning tree rooted at it: the paths its records came by first. There is one
//!   tree per origin, as records of different origins cross: with one tree for all, two
//!   servers that each see a different origin's copy come second prune two links of the same
//!   cycle, and at 20,000 updates/s from many origins the shared tree never settles (the
//!   simulation `examples/flood_scale.rs` showed as many prunes and grafts in the second half
//!   of a run as in the first).
//! - An announcement of a version this server does not hold starts a timer. If the record has
//!   not come by then (a tree link broke, a server on it stopped), the server asks the
//!   announcer for it (`GRAFT client`), which makes that link eager for the record's origin
//!   both ways: the tree is repaired by the paths that still work. Another announcer is asked
//!   at the next expiry if the first did not answer. The timer counts
//!   [`Event::Tick`](super::Event::Tick)s, which the async layer sends every
//!   `graft_after / GRAFT_TICKS` on its own (monotonic, or simulated) clock.
//! - A copy that still comes whole from a neighbour already lazy for its origin (a `PRUNE`
//!   crossed a `GRAFT` on the link, so the neighbour took the graft last) is pruned again, at
//!   most once per tick and link.
//! - A link that comes up (or goes down) is eager for every origin again, as after a restart.
//!
//! Nothing else changes: records, newer-wins, watermarks and catch-up are the flood's, so a
//! link that comes up still trades all it missed, whatever was eager. A server that floods
//! ([`Broadcast::Flood`], the default) never prunes, but it understands the three lines, so a
//! herd can move from one to the other a server at a time. Announcements waiting for their
//! record are bounded ([`MAX_MISSING`]); one that does not fit asks its announcer for a
//! catch-up round instead, which sends it (and anything else missing) by watermarks.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use super::{Action, PeerId, Replica};
use crate::protocol::number::decimal_to_nanos;
use crate::record::Record;

/// The most announced versions this server waits for at once; past it, an announcer is asked
/// for a catch-up round instead (see the module documentation).
pub const MAX_MISSING: usize = 65_536;

/// How many ticks an announced version may be missing before it is asked for: the async
/// layer ticks every `graft_after / GRAFT_TICKS`, so it waits between
/// (GRAFT_TICKS - 1) / GRAFT_TICKS and one whole `graft_after`.
pub const GRAFT_TICKS: u64 = 4;

/// How many times one announced version is asked for (of its announcers in turn) before it
/// is left to catch-up.
pub const MAX_GRAFTS: usize = 4;

/// How long an announced version may be missing before it is asked for, by default: many
/// times a link's delay on a LAN, a little under the 100 ms a client's answer may take to
/// reach the whole herd on a WAN.
pub const DEFAULT_GRAFT_AFTER: Duration = Duration::from_millis(50);

/// How a record that won is sent on to the neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Broadcast {
    /// Whole, to every neighbour but the one it came from (the classic flood).
    #[default]
    Flood,
    /// Whole to the neighbours eager for its origin, announced to the others; a copy that
    /// comes again prunes its link for that origin, an announced version not held after
    /// [`GRAFT_TICKS`] ticks grafts it back.
    Tree,
}

/// A version of a client's record announced by a neighbour and not held yet.
#[derive(Debug)]
struct Missing {
    /// Its client time.
    time: Bytes,
    /// Whether it is a tombstone.
    gone: bool,
    /// The neighbours that announced it (or a newer version), in the order they did.
    announcers: Vec<PeerId>,
    /// How many times it was asked for.
    grafts: usize,
    /// At which tick to ask for it.
    deadline: u64,
}

/// One origin's tree, seen from one server.
#[derive(Debug, Clone)]
struct OriginTree {
    /// For each neighbour, whether this origin's records go to it whole.
    eager: Vec<bool>,
    /// For each neighbour, the tick at which this server last told it `PRUNE` for this
    /// origin (plus one: 0 is never).
    pruned_at: Vec<u64>,
}

impl OriginTree {
    fn new(neighbours: usize) -> OriginTree {
        OriginTree {
            eager: vec![true; neighbours],
            pruned_at: vec![0; neighbours],
        }
    }
}

/// The trees' state in one replica.
#[derive(Debug, Default)]
pub(super) struct Tree {
    /// Flood or tree.
    broadcast: Broadcast,
    /// How many neighbours.
    neighbours: usize,
    /// Origin → its tree here; an origin not in it is eager on every link.
    origins: HashMap<Bytes, OriginTree>,
    /// Client ID → the announced version not held yet.
    missing: HashMap<Bytes, Missing>,
    /// For each neighbour, whether it was asked for a catch-up round because `missing` was
    /// full (not asked again until that round ends).
    asked: Vec<bool>,
    /// The ticks so far.
    ticks: u64,
}

impl Tree {
    /// The trees for `neighbours` neighbours, all eager.
    pub(super) fn new(broadcast: Broadcast, neighbours: usize) -> Tree {
        Tree {
            broadcast,
            neighbours,
            origins: HashMap::new(),
            missing: HashMap::new(),
            asked: vec![false; neighbours],
            ticks: 0,
        }
    }

    /// Whether records of `origin` go whole to neighbour `peer`.
    pub(super) fn is_eager(&self, origin: &[u8], peer: PeerId) -> bool {
        self.origins
            .get(origin)
            .and_then(|t| t.eager.get(peer).copied())
            .unwrap_or(true)
    }

    /// How many origins' records go to neighbour `peer` as announcements only.
    pub(super) fn lazy_origins(&self, peer: PeerId) -> usize {
        self.origins
            .values()
            .filter(|t| t.eager.get(peer) == Some(&false))
            .count()
    }

    /// The tree of `origin` (made, all eager, on first use).
    fn origin(&mut self, origin: &[u8]) -> &mut OriginTree {
        if !self.origins.contains_key(origin) {
            let tree = OriginTree::new(self.neighbours);
            self.origins.insert(Bytes::copy_from_slice(origin), tree);
        }
        self.origins.get_mut(origin).expect("inserted above")
    }

    fn set_eager(&mut self, origin: &[u8], peer: PeerId, eager: bool) {
        if peer < self.neighbours && self.is_eager(origin, peer) != eager {
            self.origin(origin).eager[peer] = eager;
        }
    }

    /// Link `peer` came up or went down: it is eager for every origin again.
    fn reset_link(&mut self, peer: PeerId) {
        for tree in self.origins.values_mut() {
            if let Some(e) = tree.eager.get_mut(peer) {
                *e = true;
            }
        }
    }

    /// A link came up: it starts eager.
    pub(super) fn link_up(&mut self, peer: PeerId) {
        self.reset_link(peer);
        if let Some(a) = self.asked.get_mut(peer) {
            *a = false;
        }
    }

    /// A link went down: its announcements cannot be asked for any more (its catch-up, when
    /// it comes back, sends what is still missing). Records for it go whole to its outbox,
    /// as when flooding, so that a neighbour back soon finds them there.
    pub(super) fn link_down(&mut self, peer: PeerId) {
        self.reset_link(peer);
        self.missing.retain(|_, m| {
            m.announcers.retain(|&p| p != peer);
            !m.announcers.is_empty()
        });
    }

    /// A neighbour's catch-up round ended: it may be asked for another.
    pub(super) fn caught_up(&mut self, peer: PeerId) {
        if let Some(a) = self.asked.get_mut(peer) {
            *a = false;
        }
    }

    /// `record` won in the table: an announcement of it (or an older version) is answered.
    pub(super) fn arrived(&mut self, record: &Record) {
        if self.missing.is_empty() {
            return;
        }
        let client = record.client_bytes();
        if self.missing.get(client).is_some_and(|m| {
            !crate::record::is_newer_version((&m.time, m.gone), (record.time(), record.is_gone()))
        }) {
            self.missing.remove(client);
        }
    }

    /// How many announced versions are waited for.
    pub(super) fn missing(&self) -> usize {
        self.missing.len()
    }
}

impl Replica {
    /// Sends `record`, which just won, on: whole to the neighbours eager for its origin,
    /// announced to the others, never back to `from`.
    pub(super) fn spread(
        &mut self,
        record: &Record,
        from: Option<PeerId>,
        actions: &mut Vec<Action>,
    ) {
        self.tree.arrived(record);
        let tree = self.tree.origins.get(record.origin());
        for to in (0..self.neighbours).filter(|&p| Some(p) != from) {
            let eager = tree.is_none_or(|t| t.eager.get(to) != Some(&false));
            actions.push(if eager {
                Action::Forward {
                    to,
                    record: record.clone(),
                }
            } else {
                Action::Announce {
                    to,
                    record: record.clone(),
                }
            });
        }
    }

    /// `record` from `from` did not win. When the table holds that very record and the tree
    /// is on, `from` is a redundant path for its origin: it becomes lazy and is told so (told
    /// again, at most once a tick, if it already was).
    pub(super) fn stale_from(&mut self, from: PeerId, record: &Record, actions: &mut Vec<Action>) {
        if self.tree.broadcast != Broadcast::Tree
            || from >= self.neighbours
            || !self.table.holds_copy(record)
        {
            return;
        }
        let now = self.tree.ticks + 1;
        let tree = self.tree.origin(record.origin());
        if !tree.eager[from] && tree.pruned_at[from] == now {
            return;
        }
        tree.eager[from] = false;
        tree.pruned_at[from] = now;
        actions.push(Action::Prune {
            to: from,
            origin: Bytes::copy_from_slice(record.origin()),
        });
    }

    /// Neighbour `from` holds the version of `client`'s record at client time `time` (a
    /// tombstone when `gone`). Unless this server holds it or a newer one, it is waited for,
    /// and asked for if it does not come in time.
    pub(super) fn announced(
        &mut self,
        from: PeerId,
        client: Bytes,
        time: Bytes,
        gone: bool,
        actions: &mut Vec<Action>,
    ) {
        if from >= self.neighbours
            || client.len() > self.limits.max_client_id
            || self.table.holds(&client, &time, gone)
            || self
                .forget_before
                .is_some_and(|b| decimal_to_nanos(&time).is_some_and(|t| t < b))
        {
            return;
        }
        if let Some(m) = self.tree.missing.get_mut(&client) {
            if crate::record::is_newer_version((&time, gone), (&m.time, m.gone)) {
                (m.time, m.gone) = (time, gone);
            }
            if !m.announcers.contains(&from) {
                m.announcers.push(from);
            }
            return;
        }
        if self.tree.missing.len() >= MAX_MISSING {
            if let Some(asked) = self.tree.asked.get_mut(from) {
                if !*asked {
                    *asked = true;
                    let marks = self.watermarks();
                    actions.push(Action::SendWatermarks { to: from, marks });
                }
            }
            return;
        }
        let deadline = self.tree.ticks + GRAFT_TICKS;
        self.tree.missing.insert(
            client,
            Missing {
                time,
                gone,
                announcers: vec![from],
                grafts: 0,
                deadline,
            },
        );
    }

    /// Neighbour `from` asks for `client`'s record (it was announced and did not come): the
    /// link becomes eager for the record's origin, and the record goes whole.
    pub(super) fn grafted(&mut self, from: PeerId, client: &[u8], actions: &mut Vec<Action>) {
        if from >= self.neighbours {
            return;
        }
        if let Some(record) = self.table.get_stored(client) {
            self.tree.set_eager(record.origin(), from, true);
            actions.push(Action::Forward { to: from, record });
        }
    }

    /// Neighbour `from` found this server a redundant path for `origin`'s records: they go
    /// to it as announcements from now on. A `PRUNE` of an origin that is not a server of the
    /// herd is not trusted (counted like a mark of one: see [`super::trust`]).
    pub(super) fn pruned(
        &mut self,
        from: PeerId,
        origin: &[u8],
        now_nanos: i128,
        actions: &mut Vec<Action>,
    ) {
        if self
            .herd
            .contains(std::str::from_utf8(origin).unwrap_or(""))
        {
            self.tree.set_eager(origin, from, false);
        } else {
            self.refusals.untrusted.count(super::Refusal::UnknownOrigin);
            self.distrust(from, now_nanos, actions);
        }
    }

    /// Asks for every announced version whose time is up (a graft to the next announcer),
    /// and forgets those that came meanwhile. The link grafted turns eager for the record's
    /// origin when the record comes (`offer` of a graft's answer), and at the announcer when
    /// it takes the graft.
    pub(super) fn tick(&mut self, actions: &mut Vec<Action>) {
        self.tree.ticks += 1;
        if self.tree.missing.is_empty() {
            return;
        }
        let table = &self.table;
        let tree = &mut self.tree;
        let now = tree.ticks;
        let mut grafts = Vec::new();
        tree.missing.retain(|client, m| {
            if table.holds(client, &m.time, m.gone) {
                return false;
            }
            if m.deadline > now {
                return true;
            }
            if m.grafts >= MAX_GRAFTS {
                // Asked of every announcer and never taken (a full table drops it, or the
                // links are that slow): the next catch-up round sends it, if it is still due.
                return false;
            }
            let to = m.announcers[m.grafts % m.announcers.len()];
            m.grafts += 1;
            m.deadline = now + GRAFT_TICKS;
            grafts.push((to, client.clone()));
            true
        });
        // In a fixed order, whatever the map's: a simulation replays the same.
        grafts.sort_unstable();
        actions.extend(
            grafts
                .into_iter()
                .map(|(to, client)| Action::Graft { to, client }),
        );
    }

    /// A record that won from `from`: when it answers a graft (or comes whole from a lazy
    /// link for any reason), that link is eager again for its origin.
    pub(super) fn took_from(&mut self, from: PeerId, record: &Record) {
        if !self.tree.is_eager(record.origin(), from) {
            self.tree.set_eager(record.origin(), from, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::sample;
    use crate::replica::Event;

    /// The clock of these events: one second after the epoch, in nanoseconds.
    const T: i128 = 1_000_000_000;

    /// A replica `Me` with `neighbours` neighbours in a herd with `A`, sending on by `broadcast`.
    fn replica(neighbours: usize, broadcast: Broadcast) -> Replica {
        Replica::new("Me", neighbours, true)
            .with_herd(["A", "B"])
            .with_broadcast(broadcast)
    }

    fn tree(neighbours: usize) -> Replica {
        replica(neighbours, Broadcast::Tree)
    }

    fn peer(from: PeerId, record: Record) -> Event {
        Event::Peer { from, record }
    }

    fn prune(from: PeerId, origin: &'static str) -> Event {
        Event::Prune {
            from,
            origin: Bytes::from_static(origin.as_bytes()),
        }
    }

    fn prune_to(to: PeerId, origin: &'static str) -> Action {
        Action::Prune {
            to,
            origin: Bytes::from_static(origin.as_bytes()),
        }
    }

    /// `sample(client, time)`, but made at `B`.
    fn sample_of_b(client: &str, time: u64) -> Record {
        let a = sample(client, time);
        Record::received(
            "B",
            time,
            a.difference_nanos(),
            client.as_bytes(),
            b"+1+1",
            time.to_string().as_bytes(),
            (1.0, 1.0),
        )
    }

    fn announced(from: PeerId, client: &str, time: &str) -> Event {
        Event::Announced {
            from,
            client: Bytes::copy_from_slice(client.as_bytes()),
            time: Bytes::copy_from_slice(time.as_bytes()),
            gone: false,
        }
    }

    /// The neighbours `actions` send records to whole, and those they announce them to.
    fn sends(actions: &[Action]) -> (Vec<PeerId>, Vec<PeerId>) {
        let whole = actions
            .iter()
            .filter_map(|a| match a {
                Action::Forward { to, .. } => Some(*to),
                _ => None,
            })
            .collect();
        let told = actions
            .iter()
            .filter_map(|a| match a {
                Action::Announce { to, .. } => Some(*to),
                _ => None,
            })
            .collect();
        (whole, told)
    }

    #[test]
    fn a_copy_already_held_prunes_its_link_for_its_origin_and_later_records_are_only_announced_there(
    ) {
        let mut r = tree(3);
        let mut a = Vec::new();
        assert!(r.handle(peer(0, sample("c", 5)), T, &mut a));
        assert_eq!(sends(&a), (vec![1, 2], vec![]));
        a.clear();
        // The same record again, by another path: that path is redundant for origin A.
        assert!(!r.handle(peer(1, sample("c", 5)), T, &mut a));
        assert_eq!(a, [prune_to(1, "A")]);
        assert!(!r.is_eager(b"A", 1) && r.is_eager(b"A", 0) && r.is_eager(b"A", 2));
        assert_eq!((r.lazy_origins(1), r.lazy_origins(0)), (1, 0));
        a.clear();
        // B's records still go whole over it: each origin has its own tree.
        assert!(r.handle(peer(0, sample_of_b("b", 5)), T, &mut a));
        assert_eq!(sends(&a), (vec![1, 2], vec![]));
        a.clear();
        // An older record of the client is not a copy: no prune.
        assert!(!r.handle(peer(2, sample("c", 4)), T, &mut a));
        assert!(a.is_empty());
        assert!(r.handle(peer(0, sample("d", 6)), T, &mut a));
        assert_eq!(sends(&a), (vec![2], vec![1]));
        // The announcement names the client and the version.
        let mut line = Vec::new();
        if let Some(Action::Announce { record, .. }) =
            a.iter().find(|x| matches!(x, Action::Announce { .. }))
        {
            crate::peer_wire::announce_line(record, &mut line);
        }
        assert_eq!(line, b"IHAVE d 6\n");
    }

    #[test]
    fn a_flooding_server_never_prunes_but_heeds_a_prune() {
        let mut r = replica(2, Broadcast::Flood);
        let mut a = Vec::new();
        r.handle(peer(0, sample("c", 5)), T, &mut a);
        a.clear();
        r.handle(peer(1, sample("c", 5)), T, &mut a);
        assert!(a.is_empty());
        assert!(r.is_eager(b"A", 1));
        r.handle(prune(1, "A"), T, &mut a);
        // Only for servers of the herd: another is a line not trusted.
        r.handle(prune(1, "Stranger"), T, &mut a);
        assert_eq!(r.lazy_origins(1), 1);
        assert_eq!(r.refusals().untrusted.total(), 1);
        r.handle(peer(0, sample("d", 6)), T, &mut a);
        assert_eq!(sends(&a), (vec![], vec![1]));
    }

    #[test]
    fn an_announced_version_that_does_not_come_in_time_is_grafted_from_its_announcer() {
        let mut r = tree(2);
        let mut a = Vec::new();
        r.handle(prune(1, "A"), T, &mut a);
        r.handle(announced(1, "c", "5"), T, &mut a);
        assert_eq!(r.missing(), 1);
        for _ in 1..GRAFT_TICKS {
            r.handle(Event::Tick, T, &mut a);
        }
        assert!(a.is_empty(), "not before its time: {a:?}");
        r.handle(Event::Tick, T, &mut a);
        assert_eq!(
            a,
            [Action::Graft {
                to: 1,
                client: Bytes::from_static(b"c")
            }]
        );
        a.clear();
        // The answer comes: nothing is waited for any more, and the link is eager again for
        // the record's origin (the announcer made it so when it took the graft).
        assert!(r.handle(peer(1, sample("c", 5)), T, &mut a));
        assert_eq!(r.missing(), 0);
        assert!(r.is_eager(b"A", 1));
        a.clear();
        for _ in 0..3 * GRAFT_TICKS {
            r.handle(Event::Tick, T, &mut a);
        }
        assert!(a.is_empty());
    }

    #[test]
    fn a_version_held_or_superseded_is_not_waited_for() {
        let mut r = tree(2);
        let mut a = Vec::new();
        r.handle(peer(0, sample("c", 5)), T, &mut a);
        for time in ["5", "4"] {
            r.handle(announced(1, "c", time), T, &mut a);
        }
        assert_eq!(r.missing(), 0);
        // A newer one is; and it goes when it comes by another path before its time.
        r.handle(announced(1, "c", "6"), T, &mut a);
        assert_eq!(r.missing(), 1);
        r.handle(peer(0, sample("c", 6)), T, &mut a);
        assert_eq!(r.missing(), 0);
    }

    #[test]
    fn a_graft_turns_the_link_eager_and_sends_the_record_whole() {
        let mut r = tree(2);
        let mut a = Vec::new();
        r.handle(prune(1, "A"), T, &mut a);
        r.handle(peer(0, sample("c", 5)), T, &mut a);
        assert_eq!(sends(&a), (vec![], vec![1]));
        a.clear();
        let graft = Event::Graft {
            from: 1,
            client: Bytes::from_static(b"c"),
        };
        r.handle(graft, T, &mut a);
        assert_eq!(
            a,
            [Action::Forward {
                to: 1,
                record: sample("c", 5)
            }]
        );
        assert!(r.is_eager(b"A", 1));
    }

    #[test]
    fn a_copy_from_a_link_already_pruned_prunes_it_again_once_a_tick() {
        // A PRUNE crossed a GRAFT: the neighbour took the graft last and sends whole.
        let mut r = tree(2);
        let mut a = Vec::new();
        r.handle(peer(0, sample("c", 5)), T, &mut a);
        r.handle(peer(1, sample("c", 5)), T, &mut a);
        a.clear();
        r.handle(peer(0, sample("d", 5)), T, &mut a);
        r.handle(peer(1, sample("d", 5)), T, &mut a);
        r.handle(peer(0, sample("e", 5)), T, &mut a);
        r.handle(peer(1, sample("e", 5)), T, &mut a);
        let prunes = |a: &[Action]| {
            a.iter()
                .filter(|x| matches!(x, Action::Prune { .. }))
                .count()
        };
        assert_eq!(prunes(&a), 0, "not twice in the tick of the first");
        r.handle(Event::Tick, T, &mut a);
        r.handle(peer(0, sample("f", 5)), T, &mut a);
        r.handle(peer(1, sample("f", 5)), T, &mut a);
        r.handle(peer(0, sample("g", 5)), T, &mut a);
        r.handle(peer(1, sample("g", 5)), T, &mut a);
        assert_eq!(prunes(&a), 1, "{a:?}");
    }

    #[test]
    fn grafts_go_to_each_announcer_in_turn_then_stop_and_a_dropped_link_forgets_its_own() {
        let mut r = tree(3);
        let mut a = Vec::new();
        r.handle(announced(1, "c", "5"), T, &mut a);
        r.handle(announced(2, "c", "5"), T, &mut a);
        let mut asked = Vec::new();
        for _ in 0..(MAX_GRAFTS as u64 + 2) * GRAFT_TICKS {
            r.handle(Event::Tick, T, &mut a);
            asked.extend(a.drain(..).filter_map(|x| match x {
                Action::Graft { to, .. } => Some(to),
                _ => None,
            }));
        }
        assert_eq!(asked, [1, 2, 1, 2]);
        assert_eq!(r.missing(), 0);
        r.handle(announced(1, "d", "5"), T, &mut a);
        r.handle(Event::LinkDown(1), T, &mut a);
        assert_eq!(
            r.missing(),
            0,
            "its link's catch-up sends it when it is back"
        );
    }

    #[test]
    fn past_the_bound_an_announcer_is_asked_for_a_catch_up_round_once() {
        let mut r = tree(1);
        let mut a = Vec::new();
        for i in 0..MAX_MISSING {
            r.handle(announced(0, &format!("c{i}"), "5"), T, &mut a);
        }
        assert!(a.is_empty());
        r.handle(announced(0, "one more", "5"), T, &mut a);
        r.handle(announced(0, "and another", "5"), T, &mut a);
        assert!(
            matches!(&a[..], [Action::SendWatermarks { to: 0, .. }]),
            "{a:?}"
        );
        assert_eq!(r.missing(), MAX_MISSING);
    }

    #[test]
    fn a_link_coming_up_is_eager_again() {
        let mut r = tree(1);
        let mut a = Vec::new();
        r.handle(prune(0, "A"), T, &mut a);
        assert!(!r.is_eager(b"A", 0));
        r.handle(Event::LinkUp(0), T, &mut a);
        assert!(r.is_eager(b"A", 0));
    }
}
