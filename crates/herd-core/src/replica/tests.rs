use super::*;
use crate::record::sample;
use proptest::prelude::*;

fn rec(client: &str, time: u64) -> Record {
    sample(client, time)
}

/// The clock of the events of these tests: one second after the epoch, in nanoseconds.
const T: i128 = 1_000_000_000;

/// A replica `Me` in a herd with `A` and `B` (the origins of the records here).
fn replica(neighbours: usize) -> Replica {
    Replica::new("Me", neighbours, true).with_herd(["A", "B"])
}

/// A client's report of `client` at client time `time`.
fn report<'a>(client: &'a str, time: &'a str) -> ClientReport<'a> {
    ClientReport {
        client: client.as_bytes(),
        location: b"+1+1",
        time: time.as_bytes(),
        position: (1.0, 1.0),
    }
}

/// Feeds a client report, renewing the lease as the server would.
fn client(r: &mut Replica, c: &str, time: &str, now_micros: i128, a: &mut Vec<Action>) -> Record {
    try_client(r, &report(c, time), now_micros * 1000, a).expect("the report is taken")
}

/// Feeds a client report received at `now_nanos`, renewing the lease as the server would.
fn try_client(
    r: &mut Replica,
    report: &ClientReport<'_>,
    now_nanos: i128,
    a: &mut Vec<Action>,
) -> Result<Record, Refusal> {
    match r.client(report, now_nanos, a) {
        Ok(record) => Ok(record),
        Err(ReportError::NeedLease(NeedLease { lease })) => {
            r.lease_stored(lease);
            match r.client(report, now_nanos, a) {
                Ok(record) => Ok(record),
                Err(ReportError::Refused(why)) => Err(why),
                Err(e) => panic!("the lease was renewed, yet {e}"),
            }
        }
        Err(ReportError::Refused(why)) => Err(why),
    }
}

#[test]
fn a_winner_goes_everywhere_but_back() {
    let mut r = replica(3);
    let mut a = Vec::new();
    let peer = Event::Peer {
        from: 1,
        record: rec("c", 5),
    };
    assert!(r.handle(peer, T, &mut a));
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
fn a_stale_record_ends_the_flood_but_a_stale_iamat_is_still_answered() {
    let mut r = replica(2);
    let mut a = Vec::new();
    client(&mut r, "c", "5", 1, &mut a);
    a.clear();
    let peer = Event::Peer {
        from: 0,
        record: rec("c", 5),
    };
    assert!(!r.handle(peer, T, &mut a));
    let answer = client(&mut r, "c", "4", 2, &mut a);
    assert!(answer.line().ends_with(b" c +1+1 4"));
    assert!(a.is_empty());
    assert_eq!(r.table().get(b"c").unwrap().time(), b"5");
}

#[test]
fn a_number_is_given_only_under_a_stored_lease_and_changes_nothing_until_then() {
    let mut r = replica(1);
    let mut a = Vec::new();
    let Err(ReportError::NeedLease(need)) = r.client(&report("c", "1"), 7_000, &mut a) else {
        panic!("a lease is needed first");
    };
    assert!(need.lease > 7);
    assert!(a.is_empty() && r.table().is_empty());
    assert_eq!(r.watermarks().get("Me"), Some(&0));
    r.lease_stored(need.lease);
    let record = r.client(&report("c", "1"), 7_000, &mut a).unwrap();
    assert_eq!(record.seq(), 7);
    assert_eq!(r.lease(), need.lease);
}

#[test]
fn the_own_watermark_never_counts_a_number_whose_record_is_not_in_the_table() {
    let mut r = replica(1);
    let mut a = Vec::new();
    // Confirm the own watermark, so it follows the counter.
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: Watermarks::new(),
        },
        T,
        &mut a,
    );
    for (i, c) in ["x", "y", "x", "z"].into_iter().enumerate() {
        let record = client(&mut r, c, &(i + 10).to_string(), 100 + i as i128, &mut a);
        let own = r.watermarks()["Me"];
        assert_eq!(own, record.seq());
        // Every own number up to the mark is in the table, or a newer record of its client.
        let held = r.table().get(record.client_bytes()).unwrap();
        assert!(held.seq() >= record.seq());
    }
}

#[test]
fn links_coming_up_trade_watermarks_only_when_asked() {
    let mut a = Vec::new();
    replica(2).handle(Event::LinkUp(1), T, &mut a);
    assert!(matches!(&a[..], [Action::SendWatermarks { to: 1, .. }]));
    a.clear();
    Replica::new("Me", 2, false).handle(Event::LinkUp(1), T, &mut a);
    replica(2).handle(Event::LinkDown(1), T, &mut a);
    assert!(a.is_empty());
}

#[test]
fn a_neighbour_that_refused_records_for_here_gets_watermarks_again() {
    let mut r = replica(2);
    let mut a = Vec::new();
    r.handle(Event::LinkUp(0), T, &mut a);
    a.clear();
    r.handle(Event::Resync(0), T, &mut a);
    assert!(matches!(&a[..], [Action::SendWatermarks { to: 0, .. }]));
    a.clear();
    Replica::new("Me", 2, false).handle(Event::Resync(0), T, &mut a);
    assert!(a.is_empty());
}

#[test]
fn a_neighbours_marks_are_answered_with_ours_taken_first() {
    let mut r = replica(1);
    let mut a = Vec::new();
    client(&mut r, "x", "9", 9, &mut a);
    a.clear();
    let theirs: Watermarks = [("A".to_string(), 4)].into();
    r.handle(
        Event::Watermarks {
            from: 0,
            marks: theirs.clone(),
        },
        T,
        &mut a,
    );
    match &a[..] {
        [Action::SendMissing {
            to: 0,
            since,
            marks,
        }] => {
            assert_eq!(since, &theirs);
            // Not yet confirmed by the neighbour: the own mark is the restored floor.
            assert_eq!(marks.get("Me"), Some(&0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn caught_up_marks_merge_and_lift_the_own_counter() {
    let mut r = replica(1);
    // Numbers up to 100 were given in an earlier life.
    r.restore(SEQ_LEASE_KEY, Bytes::from_static(b"100"))
        .unwrap();
    let mut a = Vec::new();
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: [("B".to_string(), 7), ("Me".to_string(), 100)].into(),
        },
        T,
        &mut a,
    );
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: [("B".to_string(), 3)].into(),
        },
        T,
        &mut a,
    );
    assert_eq!(r.watermarks().get("B"), Some(&7));
    assert_eq!(client(&mut r, "c", "1", 0, &mut a).seq(), 101);
    assert_eq!(client(&mut r, "c", "2", 500, &mut a).seq(), 500);
    assert_eq!(client(&mut r, "c", "3", 0, &mut a).seq(), 501);
}

#[test]
fn the_own_watermark_waits_for_every_neighbour_after_a_restart() {
    let mut r = replica(2);
    let stored = Record::received("Me", 50, 0, b"c", b"+1+1", b"1", (1.0, 1.0));
    r.restore(b"c", stored.wire_bytes()).unwrap();
    let mut a = Vec::new();
    assert_eq!(client(&mut r, "d", "1", 1000, &mut a).seq(), 1000);
    assert_eq!(r.watermarks().get("Me"), Some(&50));
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: [("Me".to_string(), 60)].into(),
        },
        T,
        &mut a,
    );
    assert_eq!(r.watermarks().get("Me"), Some(&60));
    r.handle(
        Event::CaughtUp {
            from: 1,
            marks: Watermarks::new(),
        },
        T,
        &mut a,
    );
    assert_eq!(r.watermarks().get("Me"), Some(&1000));
}

#[test]
fn a_restored_lease_keeps_numbers_above_it_with_the_clock_behind() {
    let mut r = replica(1);
    r.restore(SEQ_LEASE_KEY, Bytes::from_static(b"5000"))
        .unwrap();
    assert!(r.restore(SEQ_LEASE_KEY, Bytes::from_static(b"x")).is_err());
    let mut a = Vec::new();
    assert_eq!(client(&mut r, "c", "1", 10, &mut a).seq(), 5001);
}

#[test]
fn forgetting_drops_old_clients_and_refuses_old_records() {
    let mut r = replica(1);
    let mut a = Vec::new();
    r.handle(
        Event::Peer {
            from: 0,
            record: rec("old", 10),
        },
        T,
        &mut a,
    );
    r.handle(
        Event::Peer {
            from: 0,
            record: rec("new", 30),
        },
        T,
        &mut a,
    );
    a.clear();
    r.handle(forget(&r, 20), T, &mut a);
    assert_eq!(a, [Action::Forgot(1)]);
    assert!(r.table().get(b"old").is_none());
    let again = Event::Peer {
        from: 0,
        record: rec("old", 11),
    };
    assert!(!r.handle(again, T, &mut a));
    assert!(r.table().get(b"old").is_none());
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
        let (mut a, mut b) = (replica(2), replica(2));
        let mut sink = Vec::new();
        for record in records { a.handle(Event::Peer { from: 0, record }, T, &mut sink); }
        for record in shuffled { b.handle(Event::Peer { from: 1, record }, T, &mut sink); }
        for c in 0..4u8 {
            let key = format!("c{c}");
            let (x, y) = (a.table().get(key.as_bytes()), b.table().get(key.as_bytes()));
            prop_assert_eq!(x.map(|r| r.time().to_vec()), y.map(|r| r.time().to_vec()));
        }
    }
}

/// The defaults a server runs with: a day ahead, 256-byte IDs, and here a table of 2 clients.
fn limited(neighbours: usize) -> Replica {
    replica(neighbours).with_limits(Limits {
        max_clock_ahead: Some(std::time::Duration::from_secs(86_400)),
        max_client_id: 256,
        max_clients: 2,
    })
}

/// One second after the epoch, in nanoseconds: the clock of the limit tests.
const NOW: i128 = 1_000_000_000;

#[test]
fn reports_beyond_the_limits_are_refused_counted_and_change_nothing() {
    let mut r = limited(1);
    let mut a = Vec::new();
    let long = "k".repeat(257);
    let day_and_a_bit = (1 + 86_400 + 1).to_string();
    let huge = "9".repeat(400);
    for (report, why) in [
        (report(&long, "1"), Refusal::ClientIdTooLong),
        (report("c", &day_and_a_bit), Refusal::ClockAhead),
        (report("c", &huge), Refusal::Time),
        (report("c", "1e9"), Refusal::Time),
    ] {
        // Refused before a number is asked for: no lease, no number, no table change.
        assert_eq!(r.client(&report, NOW, &mut a), Err(why.into()));
    }
    assert!(a.is_empty() && r.table().is_empty());
    assert_eq!((r.lease(), r.watermarks()["Me"]), (0, 0));
    let counted = r.refusals().clients;
    assert_eq!(counted.total(), 4);
    assert_eq!(counted.of(Refusal::Time), 2);
    // The longest ID, and a time exactly a day ahead (a negative difference), are taken.
    let at = try_client(&mut r, &report(&"k".repeat(256), "86401"), NOW, &mut a).unwrap();
    assert!(at.line().starts_with(b"AT Me -86400.000000000 kkk"));
}

#[test]
fn a_full_table_refuses_new_clients_but_known_ones_still_move() {
    let mut r = limited(1);
    let mut a = Vec::new();
    try_client(&mut r, &report("a", "0.1"), NOW, &mut a).unwrap();
    try_client(&mut r, &report("b", "0.1"), NOW, &mut a).unwrap();
    a.clear();
    assert_eq!(
        try_client(&mut r, &report("c", "0.1"), NOW, &mut a),
        Err(Refusal::TableFull)
    );
    assert!(a.is_empty() && !r.table().contains(b"c"));
    let moved = try_client(&mut r, &report("a", "0.2"), NOW, &mut a).unwrap();
    assert_eq!(r.table().get(b"a"), Some(moved));
    // A stale report of a known client is still answered.
    assert!(try_client(&mut r, &report("b", "0.0"), NOW, &mut a).is_ok());
    // A neighbour's record for a new client is dropped, one for a known client taken.
    assert!(!r.handle(
        Event::Peer {
            from: 0,
            record: rec("d", 1)
        },
        T,
        &mut a
    ));
    assert!(r.handle(
        Event::Peer {
            from: 0,
            record: rec("b", 1)
        },
        T,
        &mut a
    ));
    let refused = r.refusals();
    assert_eq!(refused.clients.of(Refusal::TableFull), 1);
    assert_eq!(refused.records.of(Refusal::TableFull), 1);
    // Forgetting makes room again.
    r.handle(forget(&r, 1), T, &mut a);
    assert_eq!(r.table().len(), 1);
    assert!(r.handle(
        Event::Peer {
            from: 0,
            record: rec("d", 1)
        },
        T,
        &mut a
    ));
}

#[test]
fn a_neighbours_record_is_judged_by_its_own_difference_not_the_local_clock() {
    let mut r = limited(1);
    let mut a = Vec::new();
    let record = |client: &str, diff: &str, time: &str| {
        Record::decode(Bytes::from(format!("5 AT B {diff} {client} +1+1 {time}"))).unwrap()
    };
    // Made by a server whose clock read 2e9 s: far ahead of ours (1 s), yet within a day of
    // the origin's clock, so taken (as every other server takes it).
    let ok = record("c", "-3600.000000000", "2000003600");
    assert!(r.handle(
        Event::Peer {
            from: 0,
            record: ok
        },
        T,
        &mut a
    ));
    let ahead = record("d", "-86400.000000001", "86401.000000001");
    assert!(!r.handle(
        Event::Peer {
            from: 0,
            record: ahead
        },
        T,
        &mut a
    ));
    let long = record(&"k".repeat(257), "+0.000000000", "1");
    assert!(!r.handle(
        Event::Peer {
            from: 0,
            record: long
        },
        T,
        &mut a
    ));
    let counted = r.refusals().records;
    assert_eq!(
        (
            counted.of(Refusal::ClockAhead),
            counted.of(Refusal::ClientIdTooLong)
        ),
        (1, 1)
    );
    assert_eq!(r.table().len(), 1);
}

#[test]
fn a_catch_up_that_lost_a_record_to_a_full_table_does_not_raise_the_marks() {
    let mut r = limited(2);
    r.restore(SEQ_LEASE_KEY, Bytes::from_static(b"40")).unwrap();
    let mut a = Vec::new();
    for c in ["x", "y"] {
        r.handle(
            Event::Peer {
                from: 1,
                record: rec(c, 1),
            },
            T,
            &mut a,
        );
    }
    // Neighbour 0 catches this server up; one of its records finds the table full.
    r.handle(Event::LinkUp(0), T, &mut a);
    assert!(!r.handle(
        Event::Peer {
            from: 0,
            record: rec("z", 7)
        },
        T,
        &mut a
    ));
    let theirs: Watermarks = [("A".to_string(), 9), ("Me".to_string(), 40)].into();
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: theirs.clone(),
        },
        T,
        &mut a,
    );
    // Not claimed: a later catch-up still sends A's records above 0, z among them.
    assert_eq!(r.watermarks().get("A"), None);
    assert_eq!(r.watermarks()["Me"], 0);
    // Numbers never repeat all the same.
    assert_eq!(client(&mut r, "x", "2", 0, &mut a).seq(), 41);
    // Room again; the next catch-up brings z and counts.
    r.handle(forget(&r, 2), T, &mut a);
    r.handle(Event::LinkUp(0), T, &mut a);
    assert!(r.handle(
        Event::Peer {
            from: 0,
            record: rec("z", 7)
        },
        T,
        &mut a
    ));
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: theirs,
        },
        T,
        &mut a,
    );
    assert_eq!(r.watermarks().get("A"), Some(&9));
}

proptest! {
    /// Any IAMAT the server takes makes a record that reads back (as a neighbour or the disk
    /// reads it) to the same fields, with the exact difference, and that a neighbour with the
    /// same limits takes too: servers never disagree about a record.
    #[test]
    fn every_taken_iamat_reads_back_the_same_and_a_neighbour_takes_it(
        client in "[!-~]{1,300}",
        lat in -90.0f64..=90.0, lng in -180.0f64..=180.0,
        negative in any::<bool>(),
        int in "0{0,3}[0-9]{0,22}",
        frac in proptest::option::of("[0-9]{0,40}"),
        now_secs in 0i64..10_000_000_000, now_frac in 0i128..1_000_000_000,
    ) {
        let now = i128::from(now_secs) * 1_000_000_000 + now_frac;
        let location = format!("{lat:+.6}{lng:+.6}");
        let time = format!(
            "{}{int}{}",
            if negative { "-" } else { "" },
            frac.map(|f| format!(".{f}")).unwrap_or_default()
        );
        let line = format!("IAMAT {client} {location} {time}");
        let Ok(crate::protocol::command::Command::IAmAt { client: c, location: l, time: t, lat, lng }) =
            crate::protocol::command::parse(line.as_bytes())
        else {
            // Not a command at all (an empty time, more than twenty digits): answered `?`.
            return Ok(());
        };
        let report = ClientReport { client: c, location: l, time: t, position: (lat, lng) };
        let limits = Limits {
            max_clock_ahead: Some(std::time::Duration::from_secs(86_400)),
            max_client_id: 256,
            max_clients: 10,
        };
        let mut origin = replica(1).with_limits(limits);
        let mut a = Vec::new();
        let Ok(record) = try_client(&mut origin, &report, now, &mut a) else {
            return Ok(());
        };
        // The fields the server writes itself (the client's own may well say `nan`).
        let difference = String::from_utf8(record.difference().to_vec()).unwrap();
        prop_assert!(!difference.contains("inf") && !difference.contains("nan"), "{difference}");
        let back = Record::decode(record.wire_bytes()).unwrap();
        prop_assert_eq!(&back, &record);
        prop_assert_eq!(back.client_bytes(), client.as_bytes());
        prop_assert_eq!(back.location(), location.as_bytes());
        prop_assert_eq!(back.time(), time.as_bytes());
        prop_assert_eq!(back.origin(), b"Me");
        let sent = crate::protocol::number::client_time_nanos(time.as_bytes()).unwrap();
        prop_assert_eq!(back.difference_nanos(), now - sent);
        let mut neighbour = Replica::new("B", 1, true).with_herd(["Me"]).with_limits(limits);
        let taken = neighbour.handle(Event::Peer { from: 0, record: back }, now, &mut a);
        prop_assert!(taken);
        prop_assert_eq!(neighbour.table().get(client.as_bytes()), Some(record));
    }
}

/// `CAUGHT` from neighbour 0 with `marks`, at `now`.
fn caught(r: &mut Replica, marks: &[(&str, u64)], now: i128, a: &mut Vec<Action>) {
    let marks = marks.iter().map(|&(o, s)| (o.to_string(), s)).collect();
    r.handle(Event::CaughtUp { from: 0, marks }, now, a);
}

#[test]
fn a_mark_of_the_own_numbers_above_the_last_given_is_refused_and_pins_nothing() {
    let mut r = replica(1);
    let mut a = Vec::new();
    let given = client(&mut r, "c", "1", 1_000, &mut a).seq();
    let lease = r.lease();
    caught(&mut r, &[("Me", u64::MAX), ("A", 9)], T, &mut a);
    // Neither the counter nor the lease moved, and the catch-up does not count: nothing of
    // it is merged, and the own watermark still waits for a true one.
    assert_eq!(client(&mut r, "c", "2", 1_001, &mut a).seq(), given + 1);
    assert_eq!(r.lease(), lease);
    assert_eq!(r.watermarks()["Me"], 0);
    assert_eq!(r.watermarks().get("A"), None);
    assert_eq!(r.refusals().untrusted.of(Refusal::OwnNumberNotGiven), 1);
    // A true catch-up then counts as before.
    caught(&mut r, &[("Me", given), ("A", 9)], T, &mut a);
    assert_eq!(r.watermarks()["Me"], given + 1);
    assert_eq!(r.watermarks()["A"], 9);
}

#[test]
fn unknown_origins_never_enter_the_table_or_the_marks() {
    let mut r = replica(2);
    let mut a = Vec::new();
    let stranger =
        Record::decode(Bytes::from_static(b"5 AT Mallory +0.000000000 c +1+1 1")).unwrap();
    assert!(!r.handle(
        Event::Peer {
            from: 0,
            record: stranger
        },
        T,
        &mut a
    ));
    caught(&mut r, &[("Mallory", 7), ("Eve", 1), ("A", 3)], T, &mut a);
    // A catch-up with marks not trusted merges nothing; a clean one merges.
    assert_eq!(r.watermarks().get("A"), None);
    caught(&mut r, &[("A", 3)], T, &mut a);
    assert!(r.table().is_empty() && a.is_empty());
    assert_eq!(
        r.watermarks().keys().collect::<Vec<_>>(),
        ["A", "Me"],
        "no invented name"
    );
    let refused = r.refusals();
    assert_eq!(refused.records.of(Refusal::UnknownOrigin), 1);
    assert_eq!(refused.untrusted.of(Refusal::UnknownOrigin), 2);
    // A `WM` with strangers is answered as if they were not there.
    r.handle(
        Event::Watermarks {
            from: 1,
            marks: [("Mallory".to_string(), 1)].into(),
        },
        T,
        &mut a,
    );
    assert!(matches!(&a[..], [Action::SendMissing { to: 1, since, .. }] if since.is_empty()));
}

#[test]
fn numbers_beyond_the_horizon_are_refused_and_do_not_stop_catch_up() {
    let mut r = replica(1);
    let mut a = Vec::new();
    let now_micros = (T / 1000) as u64;
    let edge = now_micros + NUMBER_HORIZON;
    let far = |seq: u64| {
        Record::decode(Bytes::from(format!("{seq} AT A +0.000000000 c +1+1 1"))).unwrap()
    };
    assert!(!r.handle(
        Event::Peer {
            from: 0,
            record: far(edge + 1)
        },
        T,
        &mut a
    ));
    caught(&mut r, &[("A", u64::MAX)], T, &mut a);
    assert_eq!(r.watermarks().get("A"), None);
    assert_eq!(r.refusals().records.of(Refusal::NumberAhead), 1);
    assert_eq!(r.refusals().untrusted.of(Refusal::NumberAhead), 1);
    // A's records keep coming: the next catch-up counts, and only up to a sane number.
    r.handle(Event::LinkUp(0), T, &mut a);
    assert!(r.handle(
        Event::Peer {
            from: 0,
            record: far(edge)
        },
        T,
        &mut a
    ));
    caught(&mut r, &[("A", edge)], T, &mut a);
    assert_eq!(r.watermarks()["A"], edge);
}

#[test]
fn a_neighbour_sending_too_many_bad_lines_in_the_window_is_dropped() {
    let mut r = replica(2);
    let mut a = Vec::new();
    let second = 1_000_000_000;
    // Spread over more than a window: never too many at once.
    for i in 0..(2 * MAX_BAD_LINES) {
        r.handle(
            Event::BadLine { from: 0 },
            T + i128::from(i) * second / 10,
            &mut a,
        );
    }
    assert!(a.is_empty(), "{a:?}");
    // All in one window: the line past the limit asks for the link to be dropped, once.
    let later = T + 1000 * second;
    for _ in 0..MAX_BAD_LINES {
        r.handle(Event::BadLine { from: 1 }, later, &mut a);
    }
    assert!(a.is_empty());
    r.handle(Event::BadLine { from: 1 }, later, &mut a);
    assert_eq!(
        a,
        [Action::DropLink {
            peer: 1,
            bad_lines: MAX_BAD_LINES + 1
        }]
    );
    assert_eq!(
        r.refusals().untrusted.of(Refusal::BadLine),
        u64::from(3 * MAX_BAD_LINES + 1)
    );
}

/// The forgetting sweep's event, with the candidates the server's scan would find.
fn forget(r: &Replica, before_secs: i64) -> Event {
    Event::Forget {
        before_secs,
        clients: super::forget_candidates(r.table(), before_secs),
    }
}

#[test]
fn a_client_reported_again_after_the_forgetting_scan_is_kept() {
    let mut r = replica(2);
    let mut a = Vec::new();
    for (client, secs) in [("stays", 10), ("goes", 11)] {
        let record = rec(client, secs);
        r.handle(Event::Peer { from: 0, record }, T, &mut a);
    }
    // The scan (off the lock) finds both; then "stays" reports a newer time before the
    // sweep's event reaches the replica.
    let sweep = forget(&r, 20);
    r.handle(
        Event::Peer {
            from: 0,
            record: rec("stays", 30),
        },
        T,
        &mut a,
    );
    a.clear();
    r.handle(sweep, T, &mut a);
    assert_eq!(a, [Action::Forgot(1)]);
    assert!(r.table().get(b"goes").is_none());
    assert_eq!(r.table().get(b"stays"), Some(rec("stays", 30)));
    assert_eq!(r.table().len(), 1);
}

#[test]
fn forgetting_floods_a_tombstone_that_a_late_copy_cannot_undo() {
    let mut r = replica(2);
    let mut a = Vec::new();
    assert_eq!(r.forget(b"c", T, &mut a), Ok(None), "an unknown client");
    let record = client(&mut r, "c", "0.5", 1_000_000, &mut a);
    a.clear();
    let gone = match r.forget(b"c", T, &mut a) {
        Err(ReportError::NeedLease(NeedLease { lease })) => {
            r.lease_stored(lease);
            r.forget(b"c", T, &mut a)
        }
        other => other,
    }
    .unwrap()
    .expect("a known client is forgotten");
    assert!(gone.is_gone() && gone.seq() > record.seq());
    assert_eq!(gone.origin(), b"Me");
    let forwards = a
        .iter()
        .filter(|x| matches!(x, Action::Forward { record, .. } if record == &gone))
        .count();
    assert_eq!(forwards, 2, "sent to every neighbour: {a:?}");
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Persist(p) if p == &gone)));
    assert_eq!(r.table().get(b"c"), None);
    a.clear();
    assert_eq!(r.forget(b"c", T, &mut a), Ok(None), "forgotten already");
    // The forgotten record coming back from a neighbour changes nothing.
    let late = Event::Peer { from: 0, record };
    assert!(!r.handle(late, T, &mut a));
    assert_eq!(r.table().get(b"c"), None);
    // Read back from disk, the tombstone still wins.
    let mut back = replica(2);
    back.restore(b"c", gone.wire_bytes()).unwrap();
    assert_eq!(back.table().get(b"c"), None);
    assert_eq!(back.table().get_stored(b"c"), Some(gone));
}

#[test]
fn restoring_the_log_on_threads_gives_what_restoring_one_by_one_gives() {
    let mut entries: Vec<(Bytes, Bytes)> = (0..1000u64)
        .map(|i| {
            let origin = ["A", "B", "Me"][i as usize % 3];
            let client = format!("c{i}");
            let time = (i + 1).to_string();
            let r = Record::received(
                origin,
                10 + i,
                0,
                client.as_bytes(),
                b"+1+1",
                time.as_bytes(),
                (1.0, 1.0),
            );
            (r.client(), r.wire_bytes())
        })
        .collect();
    let gone = Record::forgetting("A", 5000, &rec("c7", 8));
    entries.push((gone.client(), gone.wire_bytes()));
    // Superseded records, as a log holds them: an older record of c9 after its newer one, and
    // one exactly as new (the first of two equally new ones is kept).
    let older = Record::received("B", 7, 0, b"c9", b"-2-2", b"1", (-2.0, -2.0));
    let as_new = Record::received("B", 8, 0, b"c9", b"-3-3", b"10", (-3.0, -3.0));
    entries.push((older.client(), older.wire_bytes()));
    entries.push((as_new.client(), as_new.wire_bytes()));
    entries.push((
        Bytes::from_static(b"junk"),
        Bytes::from_static(b"1 AT nothing"),
    ));
    entries.push((Bytes::from_static(SEQ_LEASE_KEY), Bytes::from_static(b"5")));
    entries.push((Bytes::from_static(SEQ_LEASE_KEY), Bytes::from_static(b"3")));

    let mut one = replica(1);
    let mut bad_one = 0;
    for (k, p) in entries.clone() {
        bad_one += usize::from(one.restore(&k, p).is_err());
    }
    assert_eq!(bad_one, 1);
    assert_eq!(one.table().get(b"c9").unwrap().location(), b"+1+1");
    assert!(one.table().get(b"c7").is_none());
    for threads in [1, 2, 3, 8] {
        let mut restoring = Restoring::new(replica(1), threads);
        for (k, p) in &entries {
            restoring.record(k, p);
        }
        let (mut many, bad_many) = restoring.finish();
        assert_eq!(bad_many, bad_one, "{threads} threads");
        let mut a: Vec<_> = many.table().snapshot();
        let mut b: Vec<_> = one.table().snapshot();
        a.sort_by(|x, y| x.client_bytes().cmp(y.client_bytes()));
        b.sort_by(|x, y| x.client_bytes().cmp(y.client_bytes()));
        assert!(a == b, "{threads} threads restored another table");
        assert_eq!((many.table().len(), many.table().live_len()), (1000, 999));
        assert_eq!(
            (many.lease(), many.watermarks().get("Me")),
            (one.lease(), one.watermarks().get("Me"))
        );
        // This server's own numbers were seen (the lease read back, 5, is below them): the
        // next is above the highest stored one.
        let mut acts = Vec::new();
        assert!(client(&mut many, "new", "5000", 0, &mut acts).seq() > 10 + 998);
    }
}
