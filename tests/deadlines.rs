//! Deadlines and budgets against clients that do not play along (issue 9), with real `herd`
//! processes and real sockets: a client that pipelines large answers and never reads, SIGTERM
//! while such a client is connected, idle clients that fill the client budget while a
//! neighbour restarts, and (in process) a client that stays silent past the idle timeout.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::herd::{ask, wait_until, wait_until_async, TestHerd, DEADLINE};
use support::procs::ProcHerd;

const SOLO: &[(&str, &[&str])] = &[("Clark", &[])];
const PAIR: &[(&str, &[&str])] = &[("Clark", &["Jaquez"]), ("Jaquez", &["Clark"])];

/// Near UCLA: the offline index has more than 20 places within 50 km, so each answer to
/// `WHATSAT kiwi 50 20` is large.
const KIWI: &str = "IAMAT kiwi +34.068930-118.445127 1621464827.959498503";
/// A question with a large answer.
const BIG_QUESTION: &str = "WHATSAT kiwi 50 20\n";

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A client that sends large questions and never reads an answer.
struct Hog {
    /// Its connection (never read).
    stream: TcpStream,
    /// A batch of questions.
    batch: Vec<u8>,
}

/// What one attempt of a [`Hog`] to send more found.
#[derive(Debug, PartialEq)]
enum Sent {
    /// The server took some of it.
    Some,
    /// The server took nothing for a while: it reads nothing more.
    Blocked,
    /// The server closed the connection.
    Closed,
}

impl Hog {
    fn connect(addr: SocketAddr) -> Hog {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Hog {
            stream,
            batch: BIG_QUESTION.repeat(256).into_bytes(),
        }
    }

    /// Sends one more batch of questions, or finds why it cannot.
    fn push(&mut self) -> Sent {
        match self.stream.write(&self.batch) {
            Ok(0) => Sent::Closed,
            Ok(_) => Sent::Some,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Sent::Blocked
            }
            Err(_) => Sent::Closed,
        }
    }
}

/// Asks `WHATSAT kiwi 50 20` and checks the answer is whole.
async fn served(addr: SocketAddr) {
    let answer = ask(addr, &[BIG_QUESTION.trim_end()]).await;
    assert!(answer.starts_with("AT Clark "), "{answer:?}");
    assert!(answer.ends_with("}\n\n"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_while_others_are_served() {
    let mut herd = ProcHerd::new(
        SOLO,
        "[herd]\nclient_write_timeout = \"1s\"\nclient_output_limit = 65536\n",
    );
    herd.start("Clark");
    let addr = herd.addr("Clark");
    let pid = herd.pid("Clark").unwrap();
    ask(addr, &[KIWI]).await;
    served(addr).await;
    let before = rss(pid);

    let mut hog = Hog::connect(addr);
    let start = Instant::now();
    let mut peak = before;
    while tokio::task::block_in_place(|| hog.push()) != Sent::Closed {
        // Meanwhile another client is answered in full.
        served(addr).await;
        peak = peak.max(rss(pid));
        assert!(
            start.elapsed() < 2 * DEADLINE,
            "a client that never reads was not disconnected"
        );
    }
    // The server's memory did not follow the answers the hog asked for (a few MB each batch).
    assert!(
        peak < before + 64 * 1024 * 1024,
        "the server grew from {before} to {peak} bytes"
    );
    served(addr).await;
    let log = herd.log_path("Clark");
    wait_until("the disconnect is logged", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains(" clients disconnected: 1 ("))
    })
    .await;
    let status = herd.terminate("Clark");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_client_that_never_reads_exits_within_the_grace() {
    let grace = Duration::from_secs(1);
    let mut herd = ProcHerd::new(SOLO, "[herd]\nshutdown_grace = \"1s\"\n");
    herd.start("Clark");
    let addr = herd.addr("Clark");
    let at = ask(addr, &[KIWI]).await;
    assert!(at.starts_with("AT Clark "), "{at:?}");

    // The hog pipelines until the server reads nothing more: it is stuck writing answers
    // (the write timeout, 30 s by default, is far away).
    let mut hog = Hog::connect(addr);
    let start = Instant::now();
    while tokio::task::block_in_place(|| hog.push()) != Sent::Blocked {
        assert!(
            start.elapsed() < DEADLINE,
            "the server never stopped reading"
        );
    }

    let stopping = Instant::now();
    let status = tokio::task::block_in_place(|| herd.terminate("Clark"));
    let took = stopping.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < grace + Duration::from_secs(5),
        "stopping took {took:?} with a grace of {grace:?}"
    );
    let log = std::fs::read_to_string(herd.log_path("Clark")).unwrap();
    assert!(log.contains(", at shutdown 1)"), "{log}");
    drop(hog);

    // The store is intact: the restarted server answers from what it stored.
    herd.start("Clark");
    let answer = ask(addr, &["WHATSAT kiwi 1 1"]).await;
    assert!(
        answer.starts_with(&at),
        "{answer:?} does not start with {at:?}"
    );
    let status = herd.terminate("Clark");
    assert!(status.success(), "{status:?}");
}

/// A client connection that asked once and then stays open, silent.
fn idle_client(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(b"WHATSAT nobody 1 1\n").unwrap();
    // Answered, so it holds one of the server's connection permits.
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).unwrap();
    assert_eq!(&answer[..n], b"? WHATSAT nobody 1 1\n");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_filling_the_budget_do_not_stop_a_restarted_neighbour_from_relinking() {
    let budget = 4;
    let mut herd = ProcHerd::new(PAIR, &format!("[herd]\nmax_connections = {budget}\n"));
    herd.start_all();
    ask(herd.addr("Clark"), &["IAMAT first +1+1 1"]).await;
    let holds = |herd: &ProcHerd, client: &str| {
        herd.try_dump("Jaquez")
            .is_ok_and(|t| t.lines().any(|l| l.starts_with(&format!("{client} "))))
    };
    wait_until("Jaquez holds 'first'", || holds(&herd, "first")).await;

    // Clark (the side that dials) goes away; Jaquez's client budget fills with idle clients.
    herd.kill("Clark");
    let idle: Vec<TcpStream> = (0..budget)
        .map(|_| tokio::task::block_in_place(|| idle_client(herd.addr("Jaquez"))))
        .collect();

    // Clark comes back and re-links to Jaquez, whose client budget is all taken: a record
    // Clark takes reaches Jaquez.
    herd.start("Clark");
    ask(herd.addr("Clark"), &["IAMAT second +2+2 2"]).await;
    wait_until("Jaquez holds 'second' from the restarted Clark", || {
        holds(&herd, "second")
    })
    .await;
    drop(idle);
    wait_until_async("Jaquez answers clients again", || async {
        ask(herd.addr("Jaquez"), &["WHATSAT second 1 1"])
            .await
            .starts_with("AT Clark ")
    })
    .await;
}

#[tokio::test]
async fn a_silent_client_is_disconnected_after_the_idle_timeout() {
    let herd = TestHerd::start(SOLO, "[herd]\nclient_idle_timeout = \"1s\"\n").await;
    let mut stream = tokio::net::TcpStream::connect(herd.addr("Clark"))
        .await
        .unwrap();
    stream.write_all(b"IAMAT quiet +1+1 1\n").await.unwrap();
    // Answered, then closed by the server once the client has said nothing for a second.
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("a silent client was not disconnected")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(
        answer.starts_with("AT Clark ") && answer.ends_with(" quiet +1+1 1\n"),
        "{answer:?}"
    );
    assert_eq!(herd.server("Clark").node.disconnects.counts().idle, 1);
    herd.stop().await;
}
