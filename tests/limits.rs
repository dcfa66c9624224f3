//! The limits on what a client may report (issue 9): times of bounded length with an exact
//! difference, a bound on how far ahead of the server's clock a time may be, a longest client
//! ID and a fullest table. Over real sockets, asserting exact bytes.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::herd::{wait_until, wait_until_async, TestHerd};

const SOLO: &[(&str, &[&str])] = &[("Clark", &[])];
const PAIR: &[(&str, &[&str])] = &[("Clark", &["Jaquez"]), ("Jaquez", &["Clark"])];

/// The wall clock in whole nanoseconds since the epoch.
fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// The wall clock in whole seconds since the epoch.
fn now_secs() -> u64 {
    (now_nanos() / 1_000_000_000) as u64
}

/// The `? line` answer.
fn refused(line: &str) -> String {
    format!("? {line}\n")
}

/// The time difference of an AT line, in nanoseconds, read exactly (sign, digits, nine
/// decimals), with the rest of the line after it.
fn difference(at: &str) -> (i128, &str) {
    let mut parts = at.splitn(4, ' ');
    assert_eq!(parts.next(), Some("AT"), "{at:?}");
    parts.next().unwrap();
    let diff = parts.next().unwrap();
    let (int, frac) = diff[1..].split_once('.').unwrap();
    assert_eq!(frac.len(), 9, "{at:?}");
    let nanos: i128 = format!("{int}{frac}").parse().unwrap();
    let sign = match &diff[..1] {
        "+" => 1,
        "-" => -1,
        _ => panic!("no sign in {at:?}"),
    };
    (sign * nanos, parts.next().unwrap())
}

#[tokio::test]
async fn a_time_of_400_digits_is_refused_and_reaches_no_neighbour() {
    let herd = TestHerd::start(PAIR, "").await;
    let huge = format!("IAMAT huge +1+1 {}", "9".repeat(400));
    let past = format!("IAMAT past +1+1 -{}", "9".repeat(400));
    let answer = herd.ask("Clark", &[&huge, &past]).await;
    assert_eq!(answer, refused(&huge) + &refused(&past));
    // 21 integer digits is one too many, even written as a time in the past.
    let one_too_many = format!("IAMAT past +1+1 -1{}.5", "0".repeat(20));
    assert_eq!(
        herd.ask("Clark", &[&one_too_many]).await,
        refused(&one_too_many)
    );
    for server in ["Clark", "Jaquez"] {
        assert!(herd.server(server).node.table().is_empty(), "{server}");
    }
    herd.stop().await;
}

#[tokio::test]
async fn a_time_of_20_digits_gets_an_exact_difference_that_the_neighbour_holds_too() {
    let herd = TestHerd::start(PAIR, "").await;
    // Far in the past, so the difference has 21 integer digits; its fraction has more than
    // nine digits, so it is rounded to the nanosecond.
    let time = "-99999999999999999999.1234567894";
    let line = format!("IAMAT old +1+1 {time}");
    let before = now_nanos();
    let at = herd.ask("Clark", &[&line]).await;
    let after = now_nanos();
    let (diff, rest) = difference(&at);
    assert_eq!(rest, format!("old +1+1 {time}\n"));
    let sent: i128 = -99_999_999_999_999_999_999_123_456_789;
    assert!(
        (before - sent..=after - sent).contains(&diff),
        "{at:?} is not the receive time minus {time}"
    );
    // The neighbour holds exactly the same AT line.
    wait_until_async("Jaquez holds the record", || async {
        herd.ask("Jaquez", &["WHATSAT old 1 1"])
            .await
            .starts_with(&at)
    })
    .await;
    herd.stop().await;
}

#[tokio::test]
async fn a_time_too_far_ahead_is_refused_and_the_client_can_report_again() {
    let herd = TestHerd::start(PAIR, "").await;
    let two_days = format!("IAMAT ahead +1+1 {}.5", now_secs() + 2 * 86_400);
    let pinning = "IAMAT ahead +1+1 9999999999999";
    let answer = herd.ask("Clark", &[&two_days, pinning]).await;
    assert_eq!(answer, refused(&two_days) + &refused(pinning));
    assert!(herd.server("Clark").node.table().is_empty());
    // A clock an hour fast is within the default bound (a day): a negative difference.
    let hour = format!("IAMAT fast +2+2 {}", now_secs() + 3_600);
    let at = herd.ask("Clark", &[&hour]).await;
    let (diff, rest) = difference(&at);
    assert_eq!(rest, format!("fast +2+2 {}\n", now_secs() + 3_600));
    assert!(diff < 0, "{at:?}");
    // The refused client reports a sane time: it is taken, and flooded.
    let sane = format!("IAMAT ahead +3+3 {}", now_secs());
    let at = herd.ask("Clark", &[&sane]).await;
    assert!(at.starts_with("AT Clark +"), "{at:?}");
    wait_until_async("Jaquez holds the record", || async {
        herd.ask("Jaquez", &["WHATSAT ahead 1 1"])
            .await
            .starts_with(&at)
    })
    .await;
    herd.stop().await;
}

#[tokio::test]
async fn the_bound_on_the_clock_is_configured() {
    let herd = TestHerd::start(SOLO, "[herd]\nmax_clock_ahead = \"10s\"\n").await;
    let minute = format!("IAMAT c +1+1 {}", now_secs() + 60);
    assert_eq!(herd.ask("Clark", &[&minute]).await, refused(&minute));
    let second = format!("IAMAT c +1+1 {}", now_secs() + 1);
    assert!(herd
        .ask("Clark", &[&second])
        .await
        .starts_with("AT Clark -"));
    herd.stop().await;
}

#[tokio::test]
async fn a_client_id_longer_than_the_limit_is_refused() {
    let herd = TestHerd::start(SOLO, "").await;
    let longest = format!("IAMAT {} +1+1 1", "k".repeat(256));
    let too_long = format!("IAMAT {} +1+1 1", "k".repeat(257));
    let answer = herd.ask("Clark", &[&longest, &too_long]).await;
    let (first, second) = answer.split_once('\n').unwrap();
    assert!(first.starts_with("AT Clark +"), "{first:?}");
    assert!(first.ends_with(&format!(" {} +1+1 1", "k".repeat(256))));
    assert_eq!(second, refused(&too_long));
    assert_eq!(herd.server("Clark").node.table().len(), 1);
    herd.stop().await;
}

#[tokio::test]
async fn a_full_table_refuses_new_clients_and_still_updates_known_ones() {
    let herd = TestHerd::start(PAIR, "[herd]\nmax_clients = 2\n").await;
    let answer = herd
        .ask(
            "Clark",
            &["IAMAT a +1+1 1", "IAMAT b +1+1 1", "IAMAT c +1+1 1"],
        )
        .await;
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(lines.len(), 3, "{answer:?}");
    assert!(lines[0].starts_with("AT Clark ") && lines[1].starts_with("AT Clark "));
    assert_eq!(lines[2], "? IAMAT c +1+1 1");
    // A known client still moves, here and at the neighbour.
    let moved = herd.ask("Clark", &["IAMAT a +5+5 2"]).await;
    assert!(moved.ends_with(" a +5+5 2\n"), "{moved:?}");
    wait_until_async("Jaquez holds the move", || async {
        herd.ask("Jaquez", &["WHATSAT a 1 1"])
            .await
            .starts_with(&moved)
    })
    .await;
    // The neighbour is full as well: a new client is refused there too, and counted.
    assert_eq!(
        herd.ask("Jaquez", &["IAMAT d +1+1 1"]).await,
        "? IAMAT d +1+1 1\n"
    );
    assert_eq!(
        herd.ask("Clark", &["WHATSAT c 1 1"]).await,
        "? WHATSAT c 1 1\n"
    );
    for server in ["Clark", "Jaquez"] {
        let node = &herd.server(server).node;
        assert_eq!(node.table().len(), 2, "{server}");
        assert_eq!(node.refusals().clients.total(), 1, "{server}");
    }
    // The counts reach the log (housekeeping writes them when they change).
    let path = herd.server("Clark").log_path.clone();
    wait_until("Clark logs what it refused", || {
        std::fs::read_to_string(&path).is_ok_and(|log| {
            log.contains(
                " limits: IAMATs refused: 1 (table full 1); neighbour records dropped: 0\n",
            )
        })
    })
    .await;
    herd.stop().await;
}
