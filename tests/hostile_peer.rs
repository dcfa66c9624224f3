//! A neighbour that proved the herd's secret but is hostile (or broken), against real `herd`
//! processes: the test plays the configured server Eve itself, sealing the link with TLS and
//! speaking the handshake with the secret, and sends what an attacker would.

mod support;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use herd_server::peer::handshake;
use herd_server::peer::seal::Seal;
use herd_server::peer::transport::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::herd::{ask, wait_until_async, DEADLINE};
use support::procs::{in_log, wait_for_log, ProcHerd};

/// Bona talks with Clark (a real server) and with Eve, whom the test plays.
const WITH_EVE: &[(&str, &[&str])] = &[
    ("Bona", &["Clark", "Eve"]),
    ("Clark", &["Bona"]),
    ("Eve", &["Bona"]),
];

/// The herd's secret (the servers read it from `SECRET_VAR`).
const SECRET: &str = "the hostile-peer tests' secret, longer than 32 bytes";
const SECRET_VAR: &str = "HERD_HOSTILE_PEER_TEST_SECRET";

/// Bona and Clark running with the secret; Eve is left to the test. An answered IAMAT is on
/// disk (`fsync = "always"`), so a server killed right after it still has the record.
fn herd() -> ProcHerd {
    let mut herd = ProcHerd::with_storage(
        WITH_EVE,
        &format!("[herd]\nsecret_env = {SECRET_VAR:?}\n"),
        "fsync = \"always\"",
    );
    herd.env.push((SECRET_VAR.into(), SECRET.into()));
    herd.start("Bona");
    herd.start("Clark");
    herd
}

/// A sealed connection to Bona's peer port as `me`, proving `secret` (if any).
async fn dial_bona(
    herd: &ProcHerd,
    me: &str,
    secret: Option<&str>,
) -> Result<(Box<dyn Stream>, BytesMut), handshake::HandshakeError> {
    let seal =
        Seal::self_signed(secret.map(|s| s.as_bytes().to_vec()).into_iter().collect()).unwrap();
    let stream = TcpStream::connect(herd.peer_addr("Bona")).await.unwrap();
    seal.dial(Box::new(stream), me, "Bona").await
}

/// A link to Bona as Eve, with the secret proved, and the bytes read past the handshake.
async fn as_eve(herd: &ProcHerd) -> (Box<dyn Stream>, BytesMut) {
    dial_bona(herd, "Eve", Some(SECRET))
        .await
        .expect("Eve proves the secret")
}

/// Reads lines from Bona until one starts with `word`; returns it.
async fn line_starting(stream: &mut Box<dyn Stream>, buf: &mut BytesMut, word: &str) -> String {
    let read = async {
        loop {
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line = buf.split_to(end + 1);
                let line = String::from_utf8_lossy(&line[..end]).into_owned();
                if line.starts_with(word) {
                    return line;
                }
            }
            assert!(
                stream.read_buf(buf).await.unwrap() > 0,
                "Bona closed the link"
            );
        }
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .unwrap_or_else(|_| panic!("no {word} line from Bona"))
}

/// True once `server` answers a WHATSAT about `client` with an AT line.
async fn knows(herd: &ProcHerd, server: &str, client: &str) -> bool {
    let answer = ask(herd.addr(server), &[&format!("WHATSAT {client} 5 1")]).await;
    answer.starts_with("AT ")
}

/// The wall clock in microseconds: what a server's numbers are near.
fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// `CAUGHT Bona=u64::MAX` sent to Bona used to pin its counter at the maximum (and its lease
/// stored it), so every later record of Bona had that same number and catch-up never sent
/// one again. Here Eve sends it with a record of an unknown origin and far-future marks; then
/// Clark misses one of Bona's records (stopped while Bona takes it, and Bona crashes with it
/// in its outbox), and Bona's catch-up after its restart must still bring it to Clark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_neighbour_changes_nothing_lasting_and_catch_up_still_works() {
    let mut herd = herd();
    let (mut eve, mut buf) = as_eve(&herd).await;
    line_starting(&mut eve, &mut buf, "WM").await;
    let far = now_micros() + 30 * 86_400 * 1_000_000;
    let attack = format!(
        "CAUGHT Bona=18446744073709551615 Mallory=7\n\
         WM Bona=18446744073709551615 Mallory=9\n\
         5 AT Mallory +0.000000000 stranger +1+1 5\n\
         CAUGHT Clark={far} Eve={far}\n\
         {far} AT Eve +0.000000000 ahead +1+1 6\n\
         {} AT Eve +0.000000000 marker +1+1 7\n",
        now_micros()
    );
    eve.write_all(attack.as_bytes()).await.unwrap();
    // Lines are handled in order: once the marker is in, so is everything before it.
    wait_until_async("Bona takes Eve's marker", || knows(&herd, "Bona", "marker")).await;
    drop(eve);
    // Each refusal is counted, and the counts reach the log (before Bona is killed below).
    wait_for_log(&herd, "Bona", "neighbour lines not trusted", 0).await;
    let log = std::fs::read_to_string(herd.log_path("Bona")).unwrap();
    for reason in ["own number not given", "unknown origin", "number ahead"] {
        assert!(log.contains(reason), "{reason}: {log}");
    }

    // Bona numbers a record, and restarts: Clark learns Bona's marks by catch-up.
    ask(herd.addr("Bona"), &["IAMAT a1 +1+1 1"]).await;
    wait_until_async("Clark learns a1", || knows(&herd, "Clark", "a1")).await;
    let caught = in_log(&herd, "Clark", "link Bona: caught up");
    herd.kill("Bona");
    herd.start("Bona");
    wait_for_log(&herd, "Clark", "link Bona: caught up", caught).await;

    // Clark stops answering; Bona drops the link, takes b1, and crashes with b1 unsent.
    let dropped = in_log(&herd, "Bona", "link Clark: dropped");
    herd.signal("Clark", "STOP");
    wait_for_log(&herd, "Bona", "link Clark: dropped", dropped).await;
    ask(herd.addr("Bona"), &["IAMAT b1 +2+2 2"]).await;
    herd.kill("Bona");
    herd.signal("Clark", "CONT");
    herd.start("Bona");
    wait_until_async("Clark gets b1 by catch-up", || knows(&herd, "Clark", "b1")).await;

    // Nothing of the stranger, and no invented name or number in Bona's marks.
    for (server, client) in [
        ("Bona", "stranger"),
        ("Clark", "stranger"),
        ("Bona", "ahead"),
    ] {
        assert!(
            !knows(&herd, server, client).await,
            "{server} took {client}"
        );
    }
    let (mut eve, mut buf) = as_eve(&herd).await;
    let wm = line_starting(&mut eve, &mut buf, "WM").await;
    let horizon = now_micros() + 600 * 1_000_000;
    for pair in wm.split_whitespace().skip(1) {
        let (origin, seq) = pair.split_once('=').unwrap();
        assert!(["Bona", "Clark", "Eve"].contains(&origin), "{wm}");
        assert!(seq.parse::<u64>().unwrap() <= horizon, "{wm}");
    }
    assert!(wm.contains(" Bona="), "{wm}");
}

/// A neighbour that sends line after line that is not trusted is cut off; the rest of the
/// herd goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_that_keeps_sending_bad_lines_is_cut_off() {
    let herd = herd();
    let (mut eve, mut buf) = as_eve(&herd).await;
    line_starting(&mut eve, &mut buf, "WM").await;
    let mut spam = String::new();
    for i in 0..150 {
        spam.push_str(&format!("GARBAGE {i}\n"));
    }
    eve.write_all(spam.as_bytes()).await.unwrap();
    // Eve keeps the link alive (a silent link is dropped anyway): only the bad lines can
    // end it.
    let start = Instant::now();
    let closed = loop {
        assert!(
            start.elapsed() < DEADLINE,
            "Bona kept a link that sent 150 bad lines"
        );
        if eve.write_all(b"PING\n").await.is_err() {
            break true;
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(300), eve.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            _ => {}
        }
    };
    assert!(closed);
    wait_for_log(
        &herd,
        "Bona",
        "link Eve: dropped (cut off: 101 lines not trusted",
        0,
    )
    .await;
    ask(herd.addr("Bona"), &["IAMAT after.cut +1+1 1"]).await;
    wait_until_async("Clark still learns from Bona", || {
        knows(&herd, "Clark", "after.cut")
    })
    .await;
}

/// An attacker looping HELLOs (strangers' names, wrong proofs) gets a few log lines per
/// window and one line saying how many more there were, not a line each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_hellos_do_not_flood_the_log() {
    let mut herd = herd();
    let started = Instant::now();
    const STRANGERS: usize = 300;
    const WRONG_PROOFS: usize = 100;
    for i in 0..STRANGERS {
        // Sealed, then a stranger's HELLO: Bona closes without a WELCOME.
        let refused = dial_bona(&herd, &format!("Mallory{i}"), None).await;
        assert!(refused.is_err());
    }
    for _ in 0..WRONG_PROOFS {
        let refused = dial_bona(
            &herd,
            "Eve",
            Some("a wrong secret, also longer than 32 bytes"),
        )
        .await;
        assert!(refused.is_err());
    }
    let windows = 1 + started.elapsed().as_secs() as usize / 10;
    // A clean stop writes what is left, the last "suppressed" lines among it.
    assert!(herd.terminate("Bona").success());
    let log = std::fs::read_to_string(herd.log_path("Bona")).unwrap();
    let refused = log
        .lines()
        .filter(|l| l.contains("handshake refused") && !l.contains("lines suppressed"))
        .count();
    assert!(
        refused <= 2 * 10 * windows,
        "{refused} handshake lines for {} HELLOs",
        STRANGERS + WRONG_PROOFS
    );
    // Every refusal is accounted for: written, or counted in a "suppressed" line.
    let suppressed: usize = log
        .lines()
        .filter(|l| l.contains("lines suppressed"))
        .filter_map(|l| {
            l.split(" * ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert_eq!(refused + suppressed, STRANGERS + WRONG_PROOFS, "{log}");
}

/// `herd dump` proves the herd's secret like a neighbour, but gets the table read-only and
/// never takes the place of a link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_needs_the_secret_and_never_takes_a_link() {
    let herd = herd();
    ask(herd.addr("Bona"), &["IAMAT dumped +1+1 1"]).await;
    wait_until_async("Clark learns 'dumped'", || knows(&herd, "Clark", "dumped")).await;
    for _ in 0..3 {
        assert!(herd.dump("Bona").starts_with("dumped Bona 1 +1+1"));
    }
    // Without the secret it does not run; with another one it is refused.
    let out = std::process::Command::new(support::procs::herd_bin())
        .args(["dump", "Bona", "--timeout", "5s", "--config"])
        .arg(&herd.config)
        .env_remove(SECRET_VAR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "herd.secret_env: the environment variable {SECRET_VAR} is not set"
        )),
        "{err}"
    );
    let out = std::process::Command::new(support::procs::herd_bin())
        .args(["dump", "Bona", "--timeout", "5s", "--config"])
        .arg(&herd.config)
        .env(SECRET_VAR, "another secret, also longer than 32 bytes")
        .output()
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    // A dump that sends records after its proof changes nothing, and the link stays.
    let (mut stream, mut rest) = dial_bona(&herd, handshake::DUMP, Some(SECRET))
        .await
        .unwrap();
    let seq = now_micros();
    stream
        .write_all(format!("{seq} AT Clark +0.000000000 forged +1+1 9\n").as_bytes())
        .await
        .unwrap();
    let _ = tokio::time::timeout(DEADLINE, stream.read_buf(&mut rest)).await;
    assert!(!knows(&herd, "Bona", "forged").await);
    let log = std::fs::read_to_string(herd.log_path("Bona")).unwrap();
    assert!(!log.contains("replaced by a new connection"), "{log}");
    ask(herd.addr("Bona"), &["IAMAT after.dump +1+1 2"]).await;
    wait_until_async("the link to Clark is still up", || {
        knows(&herd, "Clark", "after.dump")
    })
    .await;
}
