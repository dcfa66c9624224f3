//! Runs every bench scenario briefly against a tiny in-test server that speaks just enough
//! of the protocol, and checks the counts; then a few against a real in-process herd.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use herd_bench::{execute, BenchArgs, Outcome};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A stored location: its AT line, the servers that took an IAMAT for the client, and when
/// the client was new.
type Record = (String, Vec<String>, Instant);
/// Locations shared by all fake servers of one test (the "herd").
type Store = Arc<Mutex<HashMap<String, Record>>>;

/// How long before the other fake servers see a new client.
const FAKE_FLOOD_DELAY: Duration = Duration::from_millis(2);

/// Command line wrapper to parse bench options as the CLI would.
#[derive(Parser)]
struct Cli {
    /// The bench options.
    #[command(flatten)]
    bench: BenchArgs,
}

/// Starts a fake server called `name` on an ephemeral port; a server called `Reject`
/// answers `? ...` to everything.
async fn fake_server(name: &str, store: Store) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let name = name.to_owned();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, name.clone(), store.clone()));
        }
    });
    addr
}

/// Answers one connection line by line until end of input, then closes.
async fn serve(stream: TcpStream, name: String, store: Store) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim().to_owned();
        let answer = answer(&name, &store, &text);
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

/// The fake server's answer to one line.
fn answer(name: &str, store: &Store, line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let mut store = store.lock().unwrap();
    match fields.as_slice() {
        _ if name == "Reject" => format!("? {line}\n"),
        ["IAMAT", id, loc, time] => {
            let at = format!("AT {name} +0.000000001 {id} {loc} {time}");
            // A server that took an IAMAT for a client knows it at once; the others only
            // FAKE_FLOOD_DELAY after the client was first seen anywhere.
            let entry = store
                .entry(id.to_string())
                .or_insert_with(|| (String::new(), Vec::new(), Instant::now()));
            entry.0.clone_from(&at);
            if !entry.1.iter().any(|s| s == name) {
                entry.1.push(name.to_owned());
            }
            format!("{at}\n")
        }
        ["WHATSAT", id, _, _] => match store.get(*id) {
            Some((at, took, when))
                if took.iter().any(|s| s == name) || when.elapsed() >= FAKE_FLOOD_DELAY =>
            {
                format!("{at}\n{{\n   \"results\" : [],\n   \"status\" : \"OK\"\n}}\n\n")
            }
            _ => format!("? {line}\n"),
        },
        ["SET", _, _] => "+OK\r\n".to_owned(),
        _ => format!("? {line}\n"),
    }
}

/// Parses bench options from `args` (after the program name).
fn bench_args(args: &[&str]) -> BenchArgs {
    let argv = std::iter::once("bench").chain(args.iter().copied());
    Cli::try_parse_from(argv).unwrap().bench
}

/// Runs a load scenario against `targets` and returns its report.
async fn load(targets: &[SocketAddr], args: &[&str]) -> herd_bench::report::LoadReport {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    for t in targets {
        all.extend(["--target".to_owned(), t.to_string()]);
    }
    all.push("--quiet".to_owned());
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    match execute(&bench_args(&refs)).await.unwrap() {
        Outcome::Load(report) => *report,
        Outcome::Propagation(_) => panic!("expected a load report"),
    }
}

#[tokio::test]
async fn iamat_pipelined_counts_every_answer() {
    let a = fake_server("A", Store::default()).await;
    let r = load(
        &[a],
        &[
            "iamat",
            "-n",
            "200",
            "-c",
            "4",
            "-P",
            "8",
            "--source-ips",
            "3",
        ],
    )
    .await;
    assert_eq!(
        (r.requests, r.ok, r.errors, r.connect_errors),
        (200, 200, 0, 0)
    );
    assert_eq!(r.latency.count, 200);
    assert!(r.throughput > 0.0);
}

#[tokio::test]
async fn whatsat_and_mixed_seed_then_succeed() {
    let store = Store::default();
    let a = fake_server("A", store.clone()).await;
    let b = fake_server("B", store).await;
    let r = load(
        &[a, b],
        &[
            "whatsat",
            "-n",
            "200",
            "-c",
            "4",
            "-P",
            "4",
            "--clients",
            "50",
        ],
    )
    .await;
    assert_eq!((r.requests, r.ok, r.errors), (200, 200, 0));
    let r = load(
        &[a, b],
        &["mixed", "-n", "200", "-c", "2", "--whatsat-ratio", "0.5"],
    )
    .await;
    assert_eq!((r.requests, r.ok, r.errors), (200, 200, 0));
}

#[tokio::test]
async fn connect_per_request_and_redis_set() {
    let a = fake_server("A", Store::default()).await;
    let r = load(&[a], &["connect-per-request", "-n", "100", "-c", "4"]).await;
    assert_eq!(
        (r.requests, r.ok, r.errors, r.connect_errors),
        (100, 100, 0, 0)
    );
    let r = load(&[a], &["redis-set", "-n", "200", "-c", "2", "-P", "16"]).await;
    assert_eq!((r.requests, r.ok, r.errors), (200, 200, 0));
    let r = load(&[a], &["redis-connect-per-request", "-n", "100", "-c", "4"]).await;
    assert_eq!(
        (r.requests, r.ok, r.errors, r.connect_errors),
        (100, 100, 0, 0)
    );
}

#[tokio::test]
async fn rejected_answers_are_errors() {
    let bad = fake_server("Reject", Store::default()).await;
    let r = load(&[bad], &["iamat", "-n", "50", "-c", "2", "-P", "4"]).await;
    assert_eq!((r.requests, r.ok, r.rejected, r.errors), (50, 0, 50, 50));
}

#[tokio::test]
async fn lost_server_is_io_and_connect_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = listener.local_addr().unwrap();
    drop(listener);
    let r = load(&[gone], &["iamat", "-n", "10", "-c", "2"]).await;
    assert_eq!((r.requests, r.ok, r.connect_errors), (0, 0, 2));
}

#[tokio::test]
async fn hold_keeps_every_connection_and_sends_each_second() {
    let a = fake_server("A", Store::default()).await;
    let r = load(&[a], &["hold", "-c", "20", "-d", "1500ms"]).await;
    assert_eq!((r.established, r.errors, r.connect_errors), (20, 0, 0));
    assert!((20..=40).contains(&r.requests), "{} requests", r.requests);
}

#[tokio::test]
async fn propagation_groups_times_by_hops() {
    let store = Store::default();
    let a = fake_server("A", store.clone()).await;
    let b = fake_server("B", store.clone()).await;
    let c = fake_server("C", store).await;
    let servers = format!("A={a},B={b},C={c}");
    let args = bench_args(&[
        "propagation",
        "--servers",
        &servers,
        "--edges",
        "A-B,B-C",
        "-n",
        "30",
        "--rate",
        "1000",
        "-P",
        "2",
    ]);
    let Outcome::Propagation(r) = execute(&args).await.unwrap() else {
        panic!("expected a propagation report");
    };
    assert_eq!((r.rounds, r.failed_rounds), (30, 0));
    let samples: Vec<(usize, u64, u64)> = r
        .by_hops
        .iter()
        .map(|h| (h.hops, h.samples, h.lost))
        .collect();
    // Origins rotate A, B, C: hop 0 every round; A and C are 2 hops apart (20 of 90 times).
    assert_eq!(samples, vec![(0, 30, 0), (1, 40, 0), (2, 20, 0)]);
    let waited = r.by_hops[1].latency.p50_us;
    assert!(
        waited >= FAKE_FLOOD_DELAY.as_micros() as u64,
        "p50 {waited} us"
    );
}

#[tokio::test]
async fn bad_options_are_usage_errors() {
    for argv in [
        &["iamat", "--servers", ""][..],
        &["iamat", "-c", "0"],
        &["mixed", "--whatsat-ratio", "2"],
    ] {
        let err = execute(&bench_args(argv)).await.unwrap_err();
        assert!(err.is_usage(), "{argv:?}: {err}");
    }
}

#[tokio::test]
async fn propagation_needs_links() {
    let args = bench_args(&["propagation", "--servers", "A=127.0.0.1:9,B=127.0.0.1:10"]);
    let err = execute(&args).await.unwrap_err().to_string();
    assert!(err.contains("cannot be reached"), "{err}");
}

#[tokio::test]
async fn json_and_plot_are_written() {
    let a = fake_server("A", Store::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("lat.svg");
    let target = a.to_string();
    let args = bench_args(&[
        "iamat",
        "-n",
        "100",
        "--target",
        &target,
        "--json",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    herd_bench::run(args).await.unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("<polyline"));
}

#[tokio::test]
async fn real_herd_answers_every_scenario_without_errors() {
    let herd = support::herd::TestHerd::start(support::herd::TOPOLOGY_2023, "").await;
    let mut toml = String::new();
    for s in &herd.config.servers {
        toml.push_str(&format!(
            "[[servers]]\nname = {:?}\nlisten = \"{}\"\npeer = \"{}\"\nneighbours = {:?}\n\n",
            s.name, s.listen, s.peer, s.neighbours
        ));
    }
    let file = herd.dir.path().join("bench-herd.toml");
    std::fs::write(&file, toml).unwrap();
    let config = file.to_str().unwrap();
    for scenario in ["iamat", "whatsat", "connect-per-request"] {
        let args = bench_args(&[
            scenario,
            "--config",
            config,
            "-n",
            "200",
            "-c",
            "5",
            "-P",
            "2",
            "--clients",
            "20",
            "--quiet",
        ]);
        let Outcome::Load(r) = execute(&args).await.unwrap() else {
            panic!("load report")
        };
        assert_eq!((r.requests, r.ok, r.errors), (200, 200, 0), "{scenario}");
    }
    let args = bench_args(&[
        "iamat", "--config", config, "--target", "Clark", "-n", "50", "--quiet",
    ]);
    let Outcome::Load(r) = execute(&args).await.unwrap() else {
        panic!("load report")
    };
    assert_eq!(
        (r.ok, r.targets.clone()),
        (50, vec![herd.addr("Clark").to_string()])
    );
    let args = bench_args(&[
        "propagation",
        "--config",
        config,
        "-n",
        "10",
        "--rate",
        "1000",
    ]);
    let Outcome::Propagation(r) = execute(&args).await.unwrap() else {
        panic!("propagation report")
    };
    assert_eq!((r.rounds, r.failed_rounds), (10, 0));
    assert!(
        r.by_hops.iter().all(|h| h.lost == 0 && h.samples > 0),
        "{:?}",
        r.by_hops
    );
    herd.stop().await;
}
