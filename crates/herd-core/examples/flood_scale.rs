//! How flooding scales with the size of the herd, by simulation (issue 13, item 6): the real
//! replication state machine ([`Replica`]) of every server, on seeded random connected
//! topologies of degree 3 to 4, with a discrete-event network (per-link FIFO delay, a serial
//! cost per message at each server). For each herd size it reports the copies of a record sent
//! per client update (flooding sends each new record over every link but the one it came by;
//! the least any scheme can send is one per server, N - 1) and the time until every server
//! holds the update.
//!
//! ```text
//! cargo run --release -p herd-core --example flood_scale [-- SEED [UPDATES]]
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use herd_core::record::Record;
use herd_core::replica::{Action, ClientReport, Event, Replica, ReportError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One-way delay of a link, in microseconds (a LAN): a base plus up to `JITTER`.
const DELAY_US: u64 = 100;
/// Most extra delay of one message.
const JITTER_US: u64 = 50;
/// A server's time to handle one arriving record, in microseconds (serial per server).
const COST_US: u64 = 2;
/// Time between client updates herd-wide, on average, in microseconds (20,000 updates/s).
const ARRIVAL_US: f64 = 50.0;
/// The wall clock the simulation starts at (records carry real-looking times).
const EPOCH_US: u64 = 1_790_000_000_000_000;

/// A random connected graph on `n` servers where every degree is 3 or 4 (where `n` allows):
/// a random tree of degree at most 4 first, then random extra edges until each server has 3.
fn topology(n: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    let max = 4.min(n - 1);
    let min = 3.min(n - 1);
    for v in 1..n {
        let candidates: Vec<usize> = (0..v).filter(|&u| adj[u].len() < max).collect();
        let u = candidates[rng.gen_range(0..candidates.len())];
        adj[u].push(v);
        adj[v].push(u);
    }
    for _ in 0..n * 50 {
        let low: Vec<usize> = (0..n).filter(|&v| adj[v].len() < min).collect();
        if low.is_empty() {
            break;
        }
        let v = low[rng.gen_range(0..low.len())];
        let others: Vec<usize> = (0..n)
            .filter(|&u| u != v && adj[u].len() < max && !adj[v].contains(&u))
            .collect();
        if others.is_empty() {
            break;
        }
        let u = others[rng.gen_range(0..others.len())];
        adj[u].push(v);
        adj[v].push(u);
    }
    adj
}

/// The longest shortest path (in links).
fn diameter(adj: &[Vec<usize>]) -> usize {
    let mut worst = 0;
    for s in 0..adj.len() {
        let mut dist = vec![usize::MAX; adj.len()];
        dist[s] = 0;
        let mut queue = VecDeque::from([s]);
        while let Some(v) = queue.pop_front() {
            for &u in &adj[v] {
                if dist[u] == usize::MAX {
                    dist[u] = dist[v] + 1;
                    queue.push_back(u);
                }
            }
        }
        worst = worst.max(*dist.iter().max().unwrap());
    }
    worst
}

/// What one herd size gave.
struct Outcome {
    servers: usize,
    links: usize,
    diameter: usize,
    copies_per_update: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// A record on its way from server `from` to server `to`.
struct Delivery {
    to: usize,
    /// The sender's index in `to`'s neighbour list.
    from_peer: usize,
    record: Record,
}

fn simulate(n: usize, updates: usize, seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed ^ n as u64);
    let adj = topology(n, &mut rng);
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let mut replicas: Vec<Replica> = (0..n)
        .map(|i| Replica::new(&names[i], adj[i].len(), true).with_herd(names.clone()))
        .collect();
    let mut links_up = Vec::new();
    for (i, r) in replicas.iter_mut().enumerate() {
        for p in 0..adj[i].len() {
            r.handle(Event::LinkUp(p), i128::from(EPOCH_US) * 1000, &mut links_up);
        }
    }
    // Watermark exchanges on an empty herd send nothing that matters here.
    links_up.clear();

    // Events: (time µs, sequence) -> a client update or a delivery.
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut deliveries: Vec<Option<Delivery>> = Vec::new();
    let mut update_at: Vec<(usize, u64)> = Vec::new(); // (server, time) per update
    let mut t = 0.0f64;
    for u in 0..updates {
        t += -ARRIVAL_US * (1.0 - rng.gen::<f64>()).ln();
        update_at.push((rng.gen_range(0..n), t as u64));
        heap.push(Reverse((t as u64, u as u64)));
    }
    let update_marker = updates as u64; // sequences below are updates, at or above deliveries
    let mut link_free = vec![vec![0u64; n]; n]; // last delivery time per directed link
    let mut busy_until = vec![0u64; n];
    let mut holders = vec![0usize; updates];
    let mut done_at = vec![0u64; updates];
    let mut copies = 0u64;
    let mut actions = Vec::new();

    while let Some(Reverse((now, seq))) = heap.pop() {
        let (server, from) = if seq < update_marker {
            let (s, _) = update_at[seq as usize];
            let client = format!("c{seq}");
            let time = format!(
                "{}.{:06}",
                (EPOCH_US + now) / 1_000_000,
                (EPOCH_US + now) % 1_000_000
            );
            let report = ClientReport {
                client: client.as_bytes(),
                location: b"+34.068930-118.445127",
                time: time.as_bytes(),
                position: (34.06893, -118.445127),
            };
            let now_nanos = i128::from(EPOCH_US + now) * 1000;
            let r = &mut replicas[s];
            match r.client(&report, now_nanos, &mut actions) {
                Ok(_) => {}
                Err(ReportError::NeedLease(need)) => {
                    r.lease_stored(need.lease);
                    r.client(&report, now_nanos, &mut actions)
                        .expect("a renewed lease is enough");
                }
                Err(e) => panic!("update refused: {e}"),
            }
            holders[seq as usize] += 1;
            (s, None)
        } else {
            let d = deliveries[(seq - update_marker) as usize]
                .take()
                .expect("each delivery happens once");
            // The server handles arrivals one at a time.
            let start = now.max(busy_until[d.to]);
            busy_until[d.to] = start + COST_US;
            let event = Event::Peer {
                from: d.from_peer,
                record: d.record,
            };
            let now_nanos = i128::from(EPOCH_US + start) * 1000;
            if replicas[d.to].handle(event, now_nanos, &mut actions) {
                let u: usize = std::str::from_utf8(&actions_client(&actions))
                    .ok()
                    .and_then(|c| c.strip_prefix('c')?.parse().ok())
                    .expect("a won record names its update's client");
                holders[u] += 1;
                if holders[u] == n {
                    done_at[u] = start + COST_US - update_at[u].1;
                }
            }
            (d.to, Some(start + COST_US))
        };
        let sent_at = from.unwrap_or(now);
        for action in actions.drain(..) {
            if let Action::Forward { to, record } = action {
                copies += 1;
                let dest = adj[server][to];
                let from_peer = adj[dest].iter().position(|&v| v == server).unwrap();
                let at = (sent_at + DELAY_US + rng.gen_range(0..=JITTER_US))
                    .max(link_free[server][dest] + 1);
                link_free[server][dest] = at;
                heap.push(Reverse((at, update_marker + deliveries.len() as u64)));
                deliveries.push(Some(Delivery {
                    to: dest,
                    from_peer,
                    record,
                }));
            }
        }
    }
    assert!(
        holders.iter().all(|&h| h == n),
        "every update reached every server"
    );
    let mut times: Vec<u64> = done_at;
    times.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    Outcome {
        servers: n,
        links: adj.iter().map(Vec::len).sum::<usize>() / 2,
        diameter: diameter(&adj),
        copies_per_update: copies as f64 / updates as f64,
        p50_ms: ms(times[times.len() / 2]),
        p99_ms: ms(times[times.len() * 99 / 100]),
        max_ms: ms(times[times.len() - 1]),
    }
}

/// The client of the record a won event persisted (the `Persist` action names it).
fn actions_client(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Persist(r) => Some(r.client_bytes().to_vec()),
            _ => None,
        })
        .unwrap_or_default()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let updates: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5_000);
    println!(
        "flooding by simulation: seed {seed}, {updates} updates at 20,000/s herd-wide, links \
         {DELAY_US}-{} us one way, {COST_US} us per arriving record",
        DELAY_US + JITTER_US
    );
    println!(
        "| servers | links | diameter | copies sent per update | least possible (N-1) | ratio | all hold it: p50 | p99 | max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in [5, 20, 50, 100] {
        let o = simulate(n, updates, seed);
        println!(
            "| {} | {} | {} | {:.1} | {} | {:.2} | {:.2} ms | {:.2} ms | {:.2} ms |",
            o.servers,
            o.links,
            o.diameter,
            o.copies_per_update,
            o.servers - 1,
            o.copies_per_update / (o.servers - 1) as f64,
            o.p50_ms,
            o.p99_ms,
            o.max_ms
        );
    }
}
