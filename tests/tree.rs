//! `[herd] broadcast = "tree"` over real sockets: records go whole along a spanning tree (one
//! per origin) and are announced on the other links (see `herd_core::replica::tree`). Five servers, every pair
//! linked (ten links), so flooding sends each new record 2 × 10 - 4 = 16 times where 4 would do.

mod support;

use std::sync::atomic::Ordering::Relaxed;

use support::herd::{wait_until, TestHerd};

/// Five servers, every pair linked.
const ALL_PAIRS: &[(&str, &[&str])] = &[
    ("A", &["B", "C", "D", "E"]),
    ("B", &["A", "C", "D", "E"]),
    ("C", &["A", "B", "D", "E"]),
    ("D", &["A", "B", "C", "E"]),
    ("E", &["A", "B", "C", "D"]),
];

const TREE: &str = "[herd]\nbroadcast = \"tree\"\n";

/// How many (link, origin) pairs of `server` carry announcements only.
fn lazy_origins(server: &herd_server::server::Running) -> usize {
    (0..server.node.links.len())
        .map(|p| server.node.lazy_origins(p))
        .sum()
}

/// `count` of every link of the running servers, summed.
fn links_total(herd: &TestHerd, count: impl Fn(&herd_server::stats::LinkStats) -> u64) -> u64 {
    herd.servers
        .iter()
        .flat_map(|s| s.node.stats.links.iter())
        .map(count)
        .sum()
}

/// Records sent whole over the links of the running servers so far.
fn records_sent(herd: &TestHerd) -> u64 {
    links_total(herd, |l| l.sent.load(Relaxed))
}

/// Sends `count` IAMATs of new clients (`{tag}{i}`), one connection per server in turn with
/// a share of them each, then waits until every running server holds them all.
async fn report_everywhere(herd: &TestHerd, tag: &str, count: usize) {
    let before = herd.servers[0].node.table().len();
    let names: Vec<String> = herd.servers.iter().map(|s| s.node.name.clone()).collect();
    for (k, name) in names.iter().enumerate() {
        let lines: Vec<String> = (0..count)
            .filter(|i| i % names.len() == k)
            .map(|i| format!("IAMAT {tag}{i} +34.068930-118.445127 {}.5", 1000 + i))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let answer = herd.ask(name, &refs).await;
        assert_eq!(answer.lines().count(), lines.len(), "{answer}");
    }
    for s in &herd.servers {
        wait_until(&format!("{} holds the {tag} clients", s.node.name), || {
            s.node.table().len() == before + count
        })
        .await;
    }
}

/// Copies of each record sent between servers per new client, measured over `count` clients
/// after a warm-up of as many (the tree prunes while it warms up).
async fn copies_per_update(extra: &str, count: usize) -> (f64, TestHerd) {
    let herd = TestHerd::start(ALL_PAIRS, extra).await;
    report_everywhere(&herd, "warm", count).await;
    let before = records_sent(&herd);
    report_everywhere(&herd, "c", count).await;
    let copies = (records_sent(&herd) - before) as f64 / count as f64;
    (copies, herd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_sends_each_record_about_once_per_server_where_flooding_sends_it_over_every_link() {
    let (flood, herd) = copies_per_update("", 200).await;
    // Every record wins once at each server: 4 copies from its origin, 3 from each other.
    assert_eq!(flood, 16.0, "flooding sends 2E - (N - 1)");
    let announced = links_total(&herd, |l| l.announced.load(Relaxed));
    assert_eq!(announced, 0, "a flooding herd announces nothing");
    herd.stop().await;

    let (tree, herd) = copies_per_update(TREE, 200).await;
    println!("copies per update: flood {flood}, tree {tree}");
    assert!(
        tree <= 8.0,
        "the tree sends {tree} copies per update, flooding 16, the least 4"
    );
    let lazy: usize = herd.servers.iter().map(lazy_origins).sum();
    let announced = links_total(&herd, |l| l.announced.load(Relaxed));
    assert!(
        lazy > 0 && announced > 0,
        "{lazy} (link, origin) pairs lazy, {announced} announced"
    );
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_repairs_itself_when_a_server_on_it_stops() {
    let mut herd = TestHerd::start(ALL_PAIRS, TREE).await;
    report_everywhere(&herd, "warm", 200).await;
    // Stop the server the trees lean on most: the one with the fewest lazy links.
    let hub = (0..herd.servers.len())
        .min_by_key(|&i| lazy_origins(&herd.servers[i]))
        .unwrap();
    let stopped = herd.servers.remove(hub);
    let lazy_left: usize = herd
        .servers
        .iter()
        .map(|s| {
            (0..s.node.links.len())
                .filter(|&p| s.node.links[p].name != stopped.node.name)
                .map(|p| s.node.lazy_origins(p))
                .sum::<usize>()
        })
        .sum();
    stopped.shutdown().await;
    // Every record still reaches every server left, over links that were lazy for some
    // origins when the server stopped, grafted back.
    report_everywhere(&herd, "after", 200).await;
    assert!(lazy_left > 0, "the trees had lazy links between the others");
    herd.stop().await;
}
