use super::*;
use crate::record::sample;
use proptest::prelude::*;

fn rec(client: &str, time: u64) -> Record {
    sample(client, time)
}

fn replica(neighbours: usize) -> Replica {
    Replica::new("Me", neighbours, true)
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
    match r.client(&report(c, time), now_micros * 1000, a) {
        Ok(record) => record,
        Err(NeedLease { lease }) => {
            r.lease_stored(lease);
            r.client(&report(c, time), now_micros * 1000, a)
                .expect("the lease was renewed")
        }
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
    assert!(r.handle(peer, &mut a));
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
    assert!(!r.handle(peer, &mut a));
    let answer = client(&mut r, "c", "4", 2, &mut a);
    assert!(answer.line().ends_with(b" c +1+1 4"));
    assert!(a.is_empty());
    assert_eq!(r.table().get(b"c").unwrap().time(), b"5");
}

#[test]
fn a_number_is_given_only_under_a_stored_lease_and_changes_nothing_until_then() {
    let mut r = replica(1);
    let mut a = Vec::new();
    let need = r.client(&report("c", "1"), 7_000, &mut a).unwrap_err();
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
    replica(2).handle(Event::LinkUp(1), &mut a);
    assert!(matches!(&a[..], [Action::SendWatermarks { to: 1, .. }]));
    a.clear();
    Replica::new("Me", 2, false).handle(Event::LinkUp(1), &mut a);
    replica(2).handle(Event::LinkDown(1), &mut a);
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
    let mut a = Vec::new();
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: [("B".to_string(), 7), ("Me".to_string(), 100)].into(),
        },
        &mut a,
    );
    r.handle(
        Event::CaughtUp {
            from: 0,
            marks: [("B".to_string(), 3)].into(),
        },
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
        &mut a,
    );
    assert_eq!(r.watermarks().get("Me"), Some(&60));
    r.handle(
        Event::CaughtUp {
            from: 1,
            marks: Watermarks::new(),
        },
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
        &mut a,
    );
    r.handle(
        Event::Peer {
            from: 0,
            record: rec("new", 30),
        },
        &mut a,
    );
    a.clear();
    r.handle(Event::Forget { before_secs: 20 }, &mut a);
    assert_eq!(a, [Action::Forgot(1)]);
    assert!(r.table().get(b"old").is_none());
    let again = Event::Peer {
        from: 0,
        record: rec("old", 11),
    };
    assert!(!r.handle(again, &mut a));
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
        for record in records { a.handle(Event::Peer { from: 0, record }, &mut sink); }
        for record in shuffled { b.handle(Event::Peer { from: 1, record }, &mut sink); }
        for c in 0..4u8 {
            let key = format!("c{c}");
            let (x, y) = (a.table().get(key.as_bytes()), b.table().get(key.as_bytes()));
            prop_assert_eq!(x.map(|r| r.time().to_vec()), y.map(|r| r.time().to_vec()));
        }
    }
}
