//! Durability and catch-up with the real `herd` binary as child processes: SIGKILL in the
//! middle of a stream, every server restarted in turn under load, a partition that heals, and
//! the classic behaviour without catch-up.
//!
//! The servers here use a Google provider on a dead port instead of the offline index: these
//! tests never ask WHATSAT, and the index takes seconds to load in a debug build, which would
//! make every restart slow.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use support::herd::{ask, wait_until, wait_until_async, TOPOLOGY_2023};
use support::procs::ProcHerd;

/// A places provider that starts at once; the key variable is set for every child.
const FAST_PLACES: &str = "[places]\nprovider = \"google-legacy\"\napi_key_env = \"HERD_TEST_PLACES_KEY\"\nbase_url = \"http://127.0.0.1:9\"\n";

/// One server and no links.
const SOLO: &[(&str, &[&str])] = &[("Solo", &[])];

/// Where every streamed client is.
const LOCATION: &str = "+34.068930-118.445127";

/// How long a convergence may take before a test fails (the goal is 2 s; this is slack for a
/// slow CI machine).
const CONVERGE_DEADLINE: Duration = Duration::from_secs(10);

/// A herd of child processes that start fast, with `extra` TOML and `storage` keys.
fn herd(topology: &[(&str, &[&str])], extra: &str, storage: &str) -> ProcHerd {
    let mut herd = ProcHerd::with_storage(topology, &format!("{FAST_PLACES}{extra}"), storage);
    herd.env
        .push(("HERD_TEST_PLACES_KEY".into(), "unused".into()));
    herd
}

/// A server's table as `herd dump` shows it: client -> (origin, time, location).
type Table = BTreeMap<String, (String, String, String)>;

/// Parses the output of `herd dump`.
fn parse_dump(dump: &str) -> Table {
    dump.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(
                f.len(),
                4,
                "a dump line is `client origin time location`: {line:?}"
            );
            (f[0].to_string(), (f[1].into(), f[2].into(), f[3].into()))
        })
        .collect()
}

/// The dumps of every server, in config order.
fn dumps(herd: &ProcHerd) -> Vec<String> {
    herd.servers.iter().map(|(n, _)| herd.dump(n)).collect()
}

/// Polls until every server's dump is the same (and, with `expected`, equal to it); returns
/// that dump. Panics, saying where they disagree, after [`CONVERGE_DEADLINE`].
async fn converged(herd: &ProcHerd, expected: Option<&str>) -> String {
    let start = Instant::now();
    loop {
        let all = dumps(herd);
        if all.iter().all(|d| d == &all[0]) && expected.is_none_or(|e| all[0] == e) {
            return all[0].clone();
        }
        if start.elapsed() > CONVERGE_DEADLINE {
            panic!(
                "the dumps did not converge in {CONVERGE_DEADLINE:?}:\n{}",
                disagreements(herd, &all, expected)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The clients on which the dumps (and `expected`) disagree, one line each with every
/// server's record, at most 20 of them.
fn disagreements(herd: &ProcHerd, all: &[String], expected: Option<&str>) -> String {
    let mut tables: Vec<(&str, Table)> = herd
        .servers
        .iter()
        .zip(all)
        .map(|((name, _), d)| (name.as_str(), parse_dump(d)))
        .collect();
    if let Some(e) = expected {
        tables.push(("expected", parse_dump(e)));
    }
    let clients: BTreeSet<&String> = tables.iter().flat_map(|(_, t)| t.keys()).collect();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "clients per server: {:?}",
        tables
            .iter()
            .map(|(n, t)| (*n, t.len()))
            .collect::<Vec<_>>()
    );
    let mut differing = 0;
    for client in clients {
        let records: Vec<Option<&(String, String, String)>> =
            tables.iter().map(|(_, t)| t.get(client)).collect();
        if records.iter().all(|r| *r == records[0]) {
            continue;
        }
        differing += 1;
        if differing <= 20 {
            let _ = write!(report, "{client}:");
            for ((name, _), r) in tables.iter().zip(&records) {
                match r {
                    Some((origin, time, _)) => {
                        let _ = write!(report, " {name}={origin}@{time}");
                    }
                    None => {
                        let _ = write!(report, " {name}=none");
                    }
                }
            }
            report.push('\n');
        }
    }
    let _ = writeln!(report, "{differing} clients differ");
    report
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL in the middle of a stream of IAMATs.

/// IAMATs in the stream.
const STREAM: usize = 10_000;
/// The server is killed once this many were answered.
const KILL_AFTER: usize = 3_000;
/// At most this many IAMATs are unanswered at a time.
const WINDOW: usize = 64;
/// IAMATs per write.
const CHUNK: usize = 16;

/// The client id of the `k`th streamed IAMAT.
fn streamed(k: usize) -> String {
    format!("c{k:05}")
}

/// Streams [`STREAM`] IAMATs (one client id each) over one connection to `addr`, with at most
/// [`WINDOW`] unanswered, counting answers in `answered`. Returns the client ids that got an
/// AT answer, with when the answer arrived, once all are answered or the server went away.
async fn stream_iamats(addr: SocketAddr, answered: Arc<AtomicUsize>) -> Vec<(String, Instant)> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let window = Arc::new(Semaphore::new(WINDOW));
    let send = {
        let window = window.clone();
        async move {
            let mut next = 0;
            while next < STREAM {
                let n = CHUNK.min(STREAM - next);
                match window.acquire_many(n as u32).await {
                    Ok(permits) => permits.forget(),
                    Err(_) => return, // the answers stopped: the server is gone
                }
                let mut lines = String::new();
                for k in next..next + n {
                    let _ = writeln!(lines, "IAMAT {} {LOCATION} 1700000000.{k}", streamed(k));
                }
                if wr.write_all(lines.as_bytes()).await.is_err() {
                    return;
                }
                next += n;
            }
            let _ = wr.shutdown().await;
        }
    };
    let receive = async move {
        let mut ids = Vec::new();
        let mut lines = BufReader::new(rd).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let fields: Vec<&str> = line.split(' ').collect();
            assert!(
                fields.len() == 6 && fields[0] == "AT",
                "not an AT answer: {line:?}"
            );
            ids.push((fields[3].to_string(), Instant::now()));
            answered.fetch_add(1, Ordering::Relaxed);
            window.add_permits(1);
        }
        window.close();
        ids
    };
    let ((), ids) = tokio::join!(send, receive);
    ids
}

/// Runs the stream against a solo server with `fsync`, SIGKILLs it after [`KILL_AFTER`]
/// answers, restarts it and returns (answered ids, answered ids missing from its dump).
async fn kill_mid_stream(fsync: &str) -> (Vec<String>, Vec<String>) {
    let mut herd = herd(SOLO, "", &format!("fsync = {fsync:?}"));
    herd.start("Solo");
    let answered = Arc::new(AtomicUsize::new(0));
    let client = tokio::spawn(stream_iamats(herd.addr("Solo"), answered.clone()));
    wait_until(&format!("{KILL_AFTER} answers"), || {
        answered.load(Ordering::Relaxed) >= KILL_AFTER
    })
    .await;
    let killed_at = Instant::now();
    herd.kill("Solo");
    let answers = client.await.unwrap();
    assert!(
        answers.len() < STREAM,
        "the kill came after the whole stream was answered"
    );

    herd.start("Solo");
    let dump = herd.dump("Solo");
    let stored: HashSet<&str> = dump.lines().filter_map(|l| l.split(' ').next()).collect();
    let sent: HashSet<String> = (0..STREAM).map(streamed).collect();
    assert!(
        stored.iter().all(|c| sent.contains(*c)),
        "the dump holds clients nobody sent"
    );
    let lost: Vec<&(String, Instant)> = answers
        .iter()
        .filter(|(id, _)| !stored.contains(id.as_str()))
        .collect();
    let span = lost.first().map_or(String::new(), |(first, at)| {
        format!(
            " ({first} .. {}, answered from {} ms before the kill on)",
            lost[lost.len() - 1].0,
            killed_at.saturating_duration_since(*at).as_millis()
        )
    });
    eprintln!(
        "fsync = {fsync:?}: {} answered, {} stored after the restart, {} answered ones lost{span}",
        answers.len(),
        stored.len(),
        lost.len()
    );
    let lost = lost.into_iter().map(|(id, _)| id.clone()).collect();
    (answers.into_iter().map(|(id, _)| id).collect(), lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_answered_iamat_with_fsync_always() {
    let (answered, lost) = kill_mid_stream("always").await;
    assert!(answered.len() >= KILL_AFTER);
    assert!(
        lost.is_empty(),
        "{} of {} answered IAMATs lost, e.g. {:?}",
        lost.len(),
        answered.len(),
        &lost[..lost.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_fsync_batch_reports_what_it_lost() {
    // Batch promises at most the last ~10 ms; this only reports how many that was.
    let (answered, _lost) = kill_mid_stream("batch").await;
    assert!(answered.len() >= KILL_AFTER);
}

// ---------------------------------------------------------------------------------------------
// 2. Every server killed and restarted in turn under load.

/// Clients the background traffic moves around.
const ROAMERS: usize = 200;

/// IAMATs sent in the background to random servers until stopped.
struct Traffic {
    /// Set to stop the senders.
    stop: Arc<AtomicBool>,
    /// AT answers received, per server (config order).
    answers: Arc<Vec<AtomicUsize>>,
    /// The senders; each returns the newest answered time per client.
    senders: Vec<JoinHandle<BTreeMap<String, u64>>>,
}

impl Traffic {
    /// Starts `senders` tasks over `servers`; times are unique across them, so newer-wins
    /// never sees a tie.
    fn start(servers: &[(String, SocketAddr)], senders: u64) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let answers: Arc<Vec<AtomicUsize>> =
            Arc::new(servers.iter().map(|_| AtomicUsize::new(0)).collect());
        let clock = Arc::new(AtomicU64::new(1_000));
        let addrs: Vec<SocketAddr> = servers.iter().map(|(_, a)| *a).collect();
        let senders = (0..senders)
            .map(|seed| {
                tokio::spawn(send_until_stopped(
                    addrs.clone(),
                    seed,
                    clock.clone(),
                    stop.clone(),
                    answers.clone(),
                ))
            })
            .collect();
        Traffic {
            stop,
            answers,
            senders,
        }
    }

    /// Answers received from server `i` so far.
    fn answered_by(&self, i: usize) -> usize {
        self.answers[i].load(Ordering::Relaxed)
    }

    /// Stops the senders; returns the newest answered time per client.
    async fn stop(self) -> BTreeMap<String, u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut newest = BTreeMap::new();
        for s in self.senders {
            for (client, time) in s.await.unwrap() {
                let t = newest.entry(client).or_insert(0);
                *t = time.max(*t);
            }
        }
        newest
    }
}

/// One sender: a few IAMATs per connection to a random server; a server that is down (or
/// dies mid-answer) is simply skipped.
async fn send_until_stopped(
    addrs: Vec<SocketAddr>,
    seed: u64,
    clock: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    answers: Arc<Vec<AtomicUsize>>,
) -> BTreeMap<String, u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut newest = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        let i = rng.gen_range(0..addrs.len());
        let lines: Vec<String> = (0..4)
            .map(|_| {
                let time = clock.fetch_add(1, Ordering::Relaxed);
                let client = rng.gen_range(0..ROAMERS);
                format!("IAMAT roamer{client:03} {LOCATION} {time}")
            })
            .collect();
        let Ok(answer) =
            herd_server::client::exchange(addrs[i], &lines, Duration::from_secs(2)).await
        else {
            tokio::time::sleep(Duration::from_millis(2)).await; // refused: it is down
            continue;
        };
        for line in String::from_utf8(answer).unwrap().lines() {
            let f: Vec<&str> = line.split(' ').collect();
            assert!(f.len() == 6 && f[0] == "AT", "not an AT answer: {line:?}");
            let t = newest.entry(f[3].to_string()).or_insert(0);
            *t = f[5].parse::<u64>().unwrap().max(*t);
            answers[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    newest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_restarted_in_turn_converges() {
    // "always": an answered IAMAT is on its server's disk, so none may go missing. (With
    // "batch" a SIGKILL may take an answered record that was neither on disk yet nor out of
    // the killed server's outboxes.)
    let mut herd = herd(TOPOLOGY_2023, "", "fsync = \"always\"");
    herd.start_all();
    let traffic = Traffic::start(&herd.servers, 2);
    let names: Vec<String> = herd.servers.iter().map(|(n, _)| n.clone()).collect();
    let mut last_restart = Instant::now();
    for (i, name) in names.iter().enumerate() {
        let before = traffic.answered_by(i);
        wait_until(&format!("traffic reaches {name}"), || {
            traffic.answered_by(i) >= before + 5
        })
        .await;
        herd.kill(name);
        let others: usize = (0..names.len())
            .filter(|&j| j != i)
            .map(|j| traffic.answered_by(j))
            .sum();
        wait_until(&format!("traffic flows while {name} is down"), || {
            (0..names.len())
                .filter(|&j| j != i)
                .map(|j| traffic.answered_by(j))
                .sum::<usize>()
                >= others + 20
        })
        .await;
        herd.start(name);
        last_restart = Instant::now();
        let before = traffic.answered_by(i);
        wait_until(&format!("the restarted {name} answers"), || {
            traffic.answered_by(i) >= before + 5
        })
        .await;
    }
    let total_answers: usize = (0..names.len()).map(|i| traffic.answered_by(i)).sum();
    let newest = traffic.stop().await;

    let table = converged(&herd, None).await;
    eprintln!(
        "all five dumps identical {} ms after the last restart ({} clients, {total_answers} answered IAMATs)",
        last_restart.elapsed().as_millis(),
        table.lines().count(),
    );
    let table = parse_dump(&table);
    for (client, answered_time) in &newest {
        let (_, time, _) = table
            .get(client)
            .unwrap_or_else(|| panic!("{client} got an answer but is in no dump"));
        let time: u64 = time.parse().unwrap();
        assert!(
            time >= *answered_time,
            "{client}: the herd holds time {time}, older than the answered {answered_time}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A partition heals to the newest record per client.

/// Sends one IAMAT to `name` and checks it was answered.
async fn iamat(herd: &ProcHerd, name: &str, client: &str, location: &str, time: u64) {
    let answer = ask(
        herd.addr(name),
        &[&format!("IAMAT {client} {location} {time}")],
    )
    .await;
    assert!(
        answer.starts_with(&format!("AT {name} ")),
        "{name} did not answer an IAMAT: {answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_to_the_newest_record_per_client() {
    const SEED: &str = "+0+0";
    const WEST: &str = "+34.068930-118.445127"; // Clark's side
    const EAST: &str = "+40.7-74.0"; // Bailey's and Campbell's side
    let mut herd = herd(TOPOLOGY_2023, "", "");
    herd.start_all();
    for s in 0..10 {
        iamat(&herd, "Bailey", &format!("shared{s}"), SEED, 100).await;
    }
    let seeded = converged(&herd, None).await;
    assert_eq!(seeded.lines().count(), 10, "{seeded}");

    // Bona and Jaquez are Clark's only neighbours: Clark is cut off from Bailey and Campbell.
    herd.kill("Bona");
    herd.kill("Jaquez");
    let mut expected = BTreeMap::new();
    for s in 0..10 {
        let client = format!("shared{s}");
        let (clark, east) = if s < 5 { (300, 200) } else { (200, 300) };
        iamat(&herd, "Clark", &client, WEST, clark).await;
        iamat(&herd, "Bailey", &client, EAST, east).await;
        expected.insert(
            client,
            if clark > east {
                ("Clark", clark, WEST)
            } else {
                ("Bailey", east, EAST)
            },
        );
    }
    // An older IAMAT sent later is answered but changes nothing.
    iamat(&herd, "Clark", "shared0", EAST, 250).await;
    iamat(&herd, "Campbell", "shared9", WEST, 250).await;
    for k in 0..3 {
        iamat(&herd, "Clark", &format!("west{k}"), WEST, 250).await;
        expected.insert(format!("west{k}"), ("Clark", 250, WEST));
        iamat(&herd, "Campbell", &format!("east{k}"), EAST, 250).await;
        expected.insert(format!("east{k}"), ("Campbell", 250, EAST));
    }
    let clark = parse_dump(&herd.dump("Clark"));
    assert!(
        !clark.contains_key("east0"),
        "Clark is not cut off: {clark:?}"
    );
    // Clark restarts (cleanly) while cut off: what it made is now on its disk only, not
    // waiting in an outbox, so only catch-up can bring it to the other side.
    let status = herd.terminate("Clark");
    assert!(status.success(), "Clark: {status:?}");
    herd.start("Clark");

    herd.start("Bona");
    herd.start("Jaquez");
    let healed = Instant::now();
    let mut want = String::new();
    for (client, (origin, time, location)) in &expected {
        let _ = writeln!(want, "{client} {origin} {time} {location}");
    }
    converged(&herd, Some(&want)).await;
    eprintln!(
        "healed: all five dumps hold the newest record per client {} ms after the restarts",
        healed.elapsed().as_millis()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Without catch-up, a restarted server only learns what is new.

/// Kills Clark, updates `missed0..4` at Bailey while it is down, and restarts Clark's
/// neighbours cleanly once they hold them (so the records are in their tables, not waiting in
/// an outbox for Clark). Then restarts Clark, waits until both of its links are up again and a
/// fresh record from Bailey reached it, and returns Clark's table at that moment.
async fn clark_after_missing_updates(herd: &mut ProcHerd) -> Table {
    herd.start_all();
    herd.kill("Clark");
    for k in 0..5 {
        iamat(herd, "Bailey", &format!("missed{k}"), LOCATION, 10 + k).await;
    }
    for n in ["Bona", "Jaquez"] {
        wait_until(&format!("{n} holds what Clark missed"), || {
            parse_dump(&herd.dump(n)).contains_key("missed4")
        })
        .await;
        let status = herd.terminate(n);
        assert!(status.success(), "{n}: {status:?}");
        herd.start(n);
        let table = parse_dump(&herd.dump(n));
        assert!(
            (0..5).all(|k| table.contains_key(&format!("missed{k}"))),
            "{n} did not read back what it stored: {table:?}"
        );
    }

    herd.start("Clark");
    let log = herd.log_path("Clark");
    wait_until("both of Clark's links are up again", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let since = text
            .rfind("Clark listening on")
            .map_or("", |at| &text[at..]);
        since.contains("link Bona: connected") && since.contains("link Jaquez: connected")
    })
    .await;
    iamat(herd, "Bailey", "fresh", LOCATION, 100).await;
    wait_until("Clark learns a record made after its restart", || {
        parse_dump(&herd.dump("Clark")).contains_key("fresh")
    })
    .await;
    parse_dump(&herd.dump("Clark"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_catch_up_a_restarted_server_stays_stale() {
    let mut herd = herd(TOPOLOGY_2023, "[herd]\ncatch_up = false\n", "");
    let clark = clark_after_missing_updates(&mut herd).await;
    let missed: Vec<&String> = clark.keys().filter(|c| c.starts_with("missed")).collect();
    assert!(
        missed.is_empty(),
        "with catch_up = false Clark got {missed:?} anyway"
    );
    assert_eq!(
        parse_dump(&herd.dump("Jaquez")).len(),
        6,
        "missed0..4 and fresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_catch_up_a_restarted_server_gets_what_it_missed() {
    let mut herd = herd(TOPOLOGY_2023, "", "");
    clark_after_missing_updates(&mut herd).await;
    wait_until("Clark catches up on what it missed", || {
        let clark = parse_dump(&herd.dump("Clark"));
        (0..5).all(|k| clark.contains_key(&format!("missed{k}")))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_older_than_forget_after_are_dropped_from_memory_and_disk() {
    let solo: &[(&str, &[&str])] = &[("Solo", &[])];
    let mut herd = ProcHerd::with_storage(solo, "", "forget_after = \"2s\"\n");
    herd.start("Solo");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ageing = format!("IAMAT ageing +1+1 {now}");
    let future = format!("IAMAT future +1+1 {}", now + 3600);
    let answer = ask(
        herd.addr("Solo"),
        &["IAMAT ancient +1+1 1000", &ageing, &future],
    )
    .await;
    // Every IAMAT is answered; one already past the cut-off is not kept.
    assert_eq!(answer.lines().count(), 3, "{answer}");
    assert!(!herd.dump("Solo").contains("ancient "));
    wait_until_async("the ageing client is forgotten", || async {
        let dump = herd.dump("Solo");
        dump.contains("future ") && !dump.contains("ageing ")
    })
    .await;
    let log = std::fs::read_to_string(herd.log_path("Solo")).unwrap();
    assert!(log.contains("forgot 1 clients"), "{log}");
    // A restart reads the store back and forgets again before it listens.
    herd.kill("Solo");
    herd.start("Solo");
    let answer = ask(
        herd.addr("Solo"),
        &["WHATSAT ageing 1 1", "WHATSAT future 1 1"],
    )
    .await;
    assert!(
        answer.starts_with("? WHATSAT ageing 1 1\nAT Solo "),
        "{answer}"
    );
}
