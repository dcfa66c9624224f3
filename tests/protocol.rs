//! Every client rule of PROTOCOL.md, over real sockets, asserting exact bytes.

mod support;

use std::time::Duration;

use support::herd::{ask, ask_raw, TestHerd, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SOLO: &[(&str, &[&str])] = &[("Clark", &[])];

/// Checks an AT answer to an IAMAT: the server name, a signed nine-decimal difference, then
/// the fields exactly as sent.
fn assert_at(answer: &str, server: &str, fields: &str) {
    let rest = answer
        .strip_prefix(&format!("AT {server} "))
        .unwrap_or_else(|| panic!("{answer:?}"));
    let (diff, tail) = rest.split_once(' ').unwrap();
    assert!(diff.starts_with('+') || diff.starts_with('-'), "{answer:?}");
    let (int, frac) = diff[1..].split_once('.').unwrap();
    assert!(
        int.bytes().all(|b| b.is_ascii_digit()) && !int.is_empty(),
        "{answer:?}"
    );
    assert!(
        frac.len() == 9 && frac.bytes().all(|b| b.is_ascii_digit()),
        "{answer:?}"
    );
    assert_eq!(tail, format!("{fields}\n"));
}

#[tokio::test]
async fn the_iamat_example() {
    let herd = TestHerd::start(SOLO, "").await;
    let answer = herd
        .ask(
            "Clark",
            &["IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"],
        )
        .await;
    assert_at(
        &answer,
        "Clark",
        "kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
    );
    herd.stop().await;
}

#[tokio::test]
async fn the_time_difference_is_receive_time_minus_client_time() {
    let herd = TestHerd::start(SOLO, "").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let sent = format!("{:.9}", now + 1000.0);
    let answer = herd.ask("Clark", &[&format!("IAMAT c +1+1 {sent}")]).await;
    let diff: f64 = answer.split(' ').nth(2).unwrap().parse().unwrap();
    assert!((-1001.0..-999.0).contains(&diff), "{answer:?}");
    assert!(
        answer.split(' ').nth(2).unwrap().starts_with("-999.")
            || answer.split(' ').nth(2).unwrap().starts_with("-1000.")
    );
    herd.stop().await;
}

#[tokio::test]
async fn every_white_space_kind_separates_fields_and_fields_are_echoed_verbatim() {
    let herd = TestHerd::start(SOLO, "").await;
    let answer = ask_raw(herd.addr("Clark"), b"\x0b \tIAMAT\x0c\x0bkiwi\t\t+34.068930-118.445127\r \x0c 0001621464827.9594985030\x0b\r\n").await;
    assert_at(
        &String::from_utf8(answer).unwrap(),
        "Clark",
        "kiwi +34.068930-118.445127 0001621464827.9594985030",
    );
    herd.stop().await;
}

#[tokio::test]
async fn a_final_line_without_newline_is_answered_in_one_read_after_half_close() {
    let herd = TestHerd::start(SOLO, "").await;
    let mut stream = TcpStream::connect(herd.addr("Clark")).await.unwrap();
    stream
        .write_all(b"IAMAT kiwi +34.068930-118.445127 1621464827.959498503")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_at(
        std::str::from_utf8(&buf[..n]).unwrap(),
        "Clark",
        "kiwi +34.068930-118.445127 1621464827.959498503",
    );
    let rest = stream.read(&mut buf).await.unwrap();
    assert_eq!(rest, 0, "the server closes after the last answer");

    // The same for a WHATSAT: its whole multi-line answer arrives in one read.
    let mut stream = TcpStream::connect(herd.addr("Clark")).await.unwrap();
    stream.write_all(b"WHATSAT kiwi 10 2\r").await.unwrap();
    stream.shutdown().await.unwrap();
    let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(
        text.starts_with("AT Clark ") && text.ends_with("}\n\n"),
        "{text:?}"
    );
    herd.stop().await;
}

#[tokio::test]
async fn crlf_lines_are_answered_without_the_cr() {
    let herd = TestHerd::start(SOLO, "").await;
    let answer = ask_raw(herd.addr("Clark"), b"IAMAT a +1-1 5\r\nFOO bar\r\n").await;
    let text = String::from_utf8(answer).unwrap();
    let (first, second) = text.split_once('\n').unwrap();
    assert_at(&format!("{first}\n"), "Clark", "a +1-1 5");
    assert_eq!(second, "? FOO bar\n");
    herd.stop().await;
}

/// The IAMATs of one read are numbered together (`Node::clients`): a line that is not one
/// ends the run, and a report the limits refuse (here a client time a century ahead) is
/// answered `?` in its place while the rest of its run is answered as usual.
#[tokio::test]
async fn a_thousand_pipelined_lines_are_answered_in_order() {
    let herd = TestHerd::start(SOLO, "").await;
    let mut payload = Vec::new();
    let refused = |i| format!("IAMAT client{i} +10.5-20.25 4102444800.{i}");
    for i in 0..1000 {
        if i % 10 == 9 {
            payload.extend_from_slice(format!("BAD {i}\n").as_bytes());
        } else if i % 10 == 4 {
            payload.extend_from_slice(format!("{}\n", refused(i)).as_bytes());
        } else {
            payload.extend_from_slice(format!("IAMAT client{i} +10.5-20.25 {i}.5\n").as_bytes());
        }
    }
    let answer = String::from_utf8(ask_raw(herd.addr("Clark"), &payload).await).unwrap();
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(lines.len(), 1000);
    for (i, line) in lines.iter().enumerate() {
        if i % 10 == 9 {
            assert_eq!(*line, format!("? BAD {i}"));
        } else if i % 10 == 4 {
            assert_eq!(*line, format!("? {}", refused(i)));
        } else {
            assert_at(
                &format!("{line}\n"),
                "Clark",
                &format!("client{i} +10.5-20.25 {i}.5"),
            );
        }
    }
    herd.stop().await;
}

#[tokio::test]
async fn each_kind_of_invalid_line_gets_a_question_mark_and_the_line() {
    let herd = TestHerd::start(SOLO, "").await;
    let invalid = [
        "FOO bar",
        "AT Clark +0.263873386 kiwi +34.068930-118.445127 1621464827.959498503",
        "iamat kiwi +34.068930-118.445127 1621464827.959498503",
        "IAMAT kiwi +34.068930-118.445127",
        "IAMAT kiwi +34.068930-118.445127 1621464827.959498503 extra",
        "IAMAT kiwi 34.068930-118.445127 1621464827.959498503",
        "IAMAT kiwi +94.068930-118.445127 1621464827.959498503",
        "IAMAT kiwi +34.068930-181.445127 1621464827.959498503",
        "IAMAT kiwi +34.068930-118.445127 nan",
        "IAMAT kiwi +34.068930-118.445127 inf",
        "IAMAT kiwi +34.068930-118.445127 yesterday",
        "WHATSAT kiwi 10",
        "WHATSAT kiwi 0 5",
        "WHATSAT kiwi 51 5",
        "WHATSAT kiwi ten 5",
        "WHATSAT kiwi 10 0",
        "WHATSAT kiwi 10 21",
        "WHATSAT kiwi 10 1.5",
        "WHATSAT nobody.knows.me 10 5",
        "  leading and trailing white space is kept in the echo\t",
        "",
    ];
    let answer = herd.ask("Clark", &invalid).await;
    let expected: String = invalid.iter().map(|l| format!("? {l}\n")).collect();
    assert_eq!(answer, expected);
    herd.stop().await;
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_echoed_as_received() {
    let herd = TestHerd::start(SOLO, "").await;
    let answer = ask_raw(herd.addr("Clark"), b"\xff\xfe HELLO \xc3\x28\n").await;
    assert_eq!(answer, b"? \xff\xfe HELLO \xc3\x28\n");
    let answer = ask_raw(herd.addr("Clark"), b"IAMAT caf\xe9 +1+1 1\n").await;
    assert!(answer.ends_with(b" caf\xe9 +1+1 1\n"));
    herd.stop().await;
}

#[tokio::test]
async fn an_overlong_line_is_cut_skipped_and_the_connection_goes_on() {
    let herd = TestHerd::start(SOLO, "").await;
    let mut stream = TcpStream::connect(herd.addr("Clark")).await.unwrap();
    let (mut rd, mut wr) = stream.split();
    // 8 MiB of one line, written while the answer is read: the server must neither buffer it
    // all nor stop reading.
    let writer = async {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..128 {
            wr.write_all(&chunk).await.unwrap();
        }
        wr.write_all(b"\nIAMAT after +1+1 1\n").await.unwrap();
        wr.shutdown().await.unwrap();
    };
    let reader = async {
        let mut answer = Vec::new();
        rd.read_to_end(&mut answer).await.unwrap();
        answer
    };
    let ((), answer) = tokio::time::timeout(DEADLINE, async { tokio::join!(writer, reader) })
        .await
        .unwrap();
    let text = String::from_utf8(answer).unwrap();
    let (first, second) = text.split_once('\n').unwrap();
    assert_eq!(first, format!("? {}...", "x".repeat(100)));
    assert_at(second, "Clark", "after +1+1 1");
    herd.stop().await;
}

#[tokio::test]
async fn older_iamats_are_answered_but_do_not_replace_the_stored_record() {
    let herd = TestHerd::start(SOLO, "").await;
    let a = herd.ask("Clark", &["IAMAT kiwi +10+10 200"]).await;
    let b = herd.ask("Clark", &["IAMAT kiwi +20+20 100"]).await;
    assert_at(&b, "Clark", "kiwi +20+20 100");
    let w = herd.ask("Clark", &["WHATSAT kiwi 1 1"]).await;
    assert!(w.starts_with(&a), "{w:?} should start with {a:?}");
    herd.stop().await;
}

#[tokio::test]
async fn a_server_handshake_from_a_stranger_changes_nothing() {
    let herd = TestHerd::start(SOLO, "").await;
    let lines = [
        "HERD1 HELLO Mallory Clark 00",
        "AT Mallory +0.1 kiwi +1+1 99999999999",
        "WHATSAT kiwi 1 1",
    ];
    let answer = herd.ask("Clark", &lines).await;
    assert_eq!(
        answer,
        lines.iter().map(|l| format!("? {l}\n")).collect::<String>()
    );
    assert!(herd.server("Clark").node.table().is_empty());
    herd.stop().await;
}

/// Links have their own port: on the client port even a neighbour's genuine HELLO is just an
/// invalid line, so the client port speaks one protocol and `lsof -ti:PORT` names one server.
#[tokio::test]
async fn the_client_port_answers_a_neighbours_hello_like_any_invalid_line() {
    let pair: &[(&str, &[&str])] = &[("Bona", &["Clark"]), ("Clark", &["Bona"])];
    let herd = TestHerd::start(pair, "").await;
    let lines = ["HERD1 HELLO Bona Clark 00", "HERD1 PROOF -"];
    let answer = herd.ask("Clark", &lines).await;
    assert_eq!(
        answer,
        lines.iter().map(|l| format!("? {l}\n")).collect::<String>()
    );
    herd.stop().await;
}

#[tokio::test]
async fn many_connections_at_once_are_all_answered() {
    let herd = TestHerd::start(SOLO, "").await;
    let addr = herd.addr("Clark");
    let tasks: Vec<_> = (0..200)
        .map(|i| tokio::spawn(async move { ask(addr, &[&format!("IAMAT c{i} +1+1 {i}")]).await }))
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_at(&t.await.unwrap(), "Clark", &format!("c{i} +1+1 {i}"));
    }
    assert_eq!(herd.server("Clark").node.table().len(), 200);
    let _ = Duration::ZERO;
    herd.stop().await;
}
