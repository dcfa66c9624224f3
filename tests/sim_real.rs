//! A seeded simulation that drives the real server code — `Node`, the links, the handshake,
//! the replica and the store — over an in-memory network (`support::memnet`), for the herd of
//! the 2023 assignment (ALGORITHM.md, invariants I2 and I3). `tests/simulation.rs` checks the
//! replica alone against an idealised async layer; this file checks the async layer too.
//!
//! Each server is started with `herd_server::server::start_on` on its own store directory and
//! an in-memory transport. A seeded RNG picks every step: a client's IAMAT at a running server
//! (through `Node::client`, as a client connection does; few clients, so updates of one
//! client race each other; a client's times only grow, so its newest record is known), a burst
//! of IAMATs, a link cut or healed, a connection reset (or dropped at its dialer's end only),
//! a server isolated, a server crashed (graceful shutdown) or restarted on the same store,
//! simulated time passing, or a pause in which faults stop and each part of the herd that can
//! still talk must agree. Two more scenarios each aim at one race the replication refactor
//! fixed (see [`race1_wm_during_numbering`] and [`race2_session_dropped_mid_apply`]).
//!
//! Checks:
//! - I2, at every running server, after every step and right after every IAMAT returns (before
//!   its forwards leave): for every origin O, every record of O the test saw made and numbered
//!   at or below the server's watermark for O is in its table or superseded by a newer record
//!   of the same client.
//! - numbers: every record an origin makes is numbered above every one it made before, also
//!   across restarts.
//! - pauses: after the links have settled, within every set of running servers joined by
//!   links that are not cut, a server holds a client's newest record if any of them does
//!   (flooding never loses a record on a live connection, and catch-up repairs the rest).
//! - the end (I3): everything healed and restarted, every server holds every client's newest
//!   record within a deadline in simulated time.
//!
//! A failure names its scenario, seed and step, and shows the end of the fault timeline.
//! `HERD_SIM_SEED=N` runs only seed N (of every scenario) and prints its whole timeline;
//! `HERD_SIM_SEEDS=N` runs N seeds per scenario (by default [`DEFAULT_SEEDS`] for the random
//! ones, [`RACE_SEEDS`] for the race ones).
//!
//! # What is deterministic
//!
//! Each seed runs on a current-thread tokio runtime with the clock paused: timers (the links'
//! backoff, PING and 5 s silence limit, the store's batch timer, housekeeping) fire in order
//! of simulated time, as soon as the runtime has nothing else to do, so minutes of simulated
//! time take milliseconds. The *script* is a pure function of the seed: which steps, which
//! servers, links and clients, which client times, and how much simulated time passes
//! between steps. The *interleaving of the real tasks under that script* is not:
//! - `tokio::select!` starts polling at a random branch, from the runtime's RNG, which is
//!   seeded from the OS (fixing it needs tokio's unstable `rng_seed`);
//! - the links' redial backoff is jittered with `rand::thread_rng`;
//! - the store's opening and replay, its writes and fsyncs, and the catch-up scans run on
//!   tokio's blocking threads, and where they finish relative to the runtime's thread depends
//!   on the OS and the disk (the paused clock does not advance while one is running, so they
//!   never make a timer fire early, but they do reorder task wake-ups);
//! - `server::start_on` binds a real (unused) client listener on 127.0.0.1:0, and the stores
//!   and I/O logs are real files in a temporary folder (the logs' time stamps are wall-clock).
//!
//! What does not vary: the servers' clocks (`Node::client` is given simulated time, so the
//! sequence numbers follow the script), the client IDs and times, and the order of the steps.
//!
//! So a seed that fails names the script that found the failure, and usually fails again, but
//! a rerun may take a different interleaving. The invariants are checked on every run, and a
//! failure says what was seen.

#[path = "sim_real/harness.rs"]
mod harness;
mod support;

use std::time::Duration;

use harness::{Failure, Scenario, Sim, CONVERGE_DEADLINE};
use rand::Rng;

/// Seeds per random scenario unless `HERD_SIM_SEEDS` says otherwise.
const DEFAULT_SEEDS: u64 = 25;

/// Seeds per race scenario unless `HERD_SIM_SEEDS` says otherwise.
const RACE_SEEDS: u64 = 5;

/// How often each kind of step is picked (relative weights).
#[derive(Debug, Clone, Copy)]
struct Mix {
    /// One IAMAT at a random running server.
    iamat: u32,
    /// Several IAMATs at one server with no time between them.
    burst: u32,
    /// Cut a link.
    cut: u32,
    /// Heal a cut link.
    heal: u32,
    /// Reset one open connection, or drop it at its dialer's end.
    reset: u32,
    /// Isolate a server (until a heal step heals everything, or the end).
    isolate: u32,
    /// Crash (shut down) a running server.
    crash: u32,
    /// Restart a server that is down.
    restart: u32,
    /// Let 0.1 to 8 s of simulated time pass.
    advance: u32,
    /// Stop the faults, let links settle, check every connected part agrees.
    pause: u32,
}

/// Random steps per seed.
const RANDOM_STEPS: usize = 250;

/// The steps of the random scenarios.
const RANDOM_MIX: Mix = Mix {
    iamat: 30,
    burst: 8,
    cut: 8,
    heal: 8,
    reset: 6,
    isolate: 1,
    crash: 3,
    restart: 4,
    advance: 8,
    pause: 1,
};

/// A random link, as names.
fn pick_edge(sim: &mut Sim) -> (String, String) {
    let (a, b) = sim.edges[sim.rng.gen_range(0..sim.edges.len())];
    (sim.names[a].clone(), sim.names[b].clone())
}

/// One random step of `m`.
async fn random_step(sim: &mut Sim, m: Mix) -> Result<(), Failure> {
    let weights = [
        m.iamat, m.burst, m.cut, m.heal, m.reset, m.isolate, m.crash, m.restart, m.advance, m.pause,
    ];
    let mut pick = sim.rng.gen_range(0..weights.iter().sum::<u32>());
    let kind = weights
        .iter()
        .position(|&w| {
            let hit = pick < w;
            pick = pick.saturating_sub(w);
            hit
        })
        .unwrap();
    let up = sim.up();
    match kind {
        0 | 1 if !up.is_empty() => {
            let i = up[sim.rng.gen_range(0..up.len())];
            let n = if kind == 0 {
                1
            } else {
                sim.rng.gen_range(2..=12)
            };
            for _ in 0..n {
                let client = sim.rng.gen_range(0..sim.scenario.clients);
                sim.iamat(i, client).await?;
            }
        }
        2 => {
            let (a, b) = pick_edge(sim);
            let n = sim.net.cut(&a, &b);
            sim.note(format!("cut {a}-{b} ({n} connections reset)"));
        }
        3 if sim.rng.gen_bool(0.2) => {
            sim.net.heal_all();
            sim.note("heal every cut and isolation".into());
        }
        3 => {
            let (a, b) = pick_edge(sim);
            sim.net.heal(&a, &b);
            sim.note(format!("heal {a}-{b}"));
        }
        4 => {
            let open = sim.net.open_connections();
            if !open.is_empty() {
                let k = sim.rng.gen_range(0..open.len());
                if sim.rng.gen_bool(0.5) {
                    if let Some((a, b)) = sim.net.reset_one(k) {
                        sim.note(format!("reset a connection {a}->{b}"));
                    }
                } else {
                    let (a, b) = &open[k];
                    let n = sim.net.drop_at_dialer(a, b);
                    sim.note(format!("{a}->{b} dropped by its dialer ({n} connections)"));
                }
            }
        }
        5 => {
            let i = sim.rng.gen_range(0..sim.names.len());
            let n = sim.net.isolate(&sim.names[i]);
            sim.note(format!("isolate {} ({n} connections reset)", sim.names[i]));
        }
        6 if !up.is_empty() => {
            let i = up[sim.rng.gen_range(0..up.len())];
            sim.note(format!("crash {}", sim.names[i]));
            sim.crash(i).await;
        }
        7 => {
            let down = sim.down();
            if !down.is_empty() {
                let i = down[sim.rng.gen_range(0..down.len())];
                sim.note(format!("restart {}", sim.names[i]));
                sim.boot(i).await?;
            }
        }
        8 => {
            let ms = sim.rng.gen_range(100..8000);
            sim.note(format!("advance {ms} ms"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        9 => sim.pause().await?,
        _ => {}
    }
    // Let whatever the step set off run a little (simulated time).
    let ms = sim.rng.gen_range(0..30);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    sim.check_i2("after a step")
}

/// Runs `body` on a fresh paused-clock runtime for `seed`; panics with its failure.
fn run_seed<F>(scenario: Scenario, seed: u64, body: F)
where
    F: for<'a> FnOnce(&'a mut Sim) -> futures::future::BoxFuture<'a, Result<(), Failure>>,
{
    let trace = std::env::var("HERD_SIM_SEED").is_ok();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let mut sim = Sim::start(scenario, seed, trace).await?;
        let result = body(&mut sim).await;
        sim.stop().await;
        drop(sim.dir);
        result
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// The seeds to run: `HERD_SIM_SEED` alone if set, else `count` (or `HERD_SIM_SEEDS`) from
/// `first`.
fn seeds(first: u64, count: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("HERD_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("HERD_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(count);
    (first..first + count).collect()
}

/// The random steps of `sim`'s scenario, then the end.
fn random_run(sim: &mut Sim) -> futures::future::BoxFuture<'_, Result<(), Failure>> {
    Box::pin(async move {
        for step in 1..=RANDOM_STEPS {
            sim.step = step;
            random_step(sim, RANDOM_MIX).await?;
        }
        sim.step += 1;
        sim.converge().await
    })
}

/// The random steps, then the end, for every seed from `first`, with 5 clients.
fn random_faults(name: &'static str, fsync: &'static str, broadcast: &'static str, first: u64) {
    let scenario = Scenario {
        name,
        fsync,
        clients: 5,
        broadcast,
    };
    for seed in seeds(first, DEFAULT_SEEDS) {
        run_seed(scenario, seed, random_run);
    }
}

#[test]
fn random_faults_fsync_always() {
    random_faults("random_faults_fsync_always", "always", "flood", 1);
}

#[test]
fn random_faults_fsync_never() {
    random_faults("random_faults_fsync_never", "never", "flood", 1001);
}

/// The random faults with `broadcast = "tree"`: records go whole along a spanning tree and
/// are announced on the other links, so a cut, a reset or a crash breaks the tree mid-flow and
/// only the grafts (and catch-up) bring the records across. Every check is the flood's.
#[test]
fn random_faults_tree() {
    random_faults("random_faults_tree", "never", "tree", 4001);
}

/// The rounds of [`race1_wm_during_numbering`]: each crashes a server T and restarts it on its
/// store. T dials its neighbour S as soon as it starts (its name sorts first), and while that
/// link comes up and trades watermarks, S takes a burst of IAMATs, each checked for I2 right
/// after it returns, before its forwards leave S: a mark that T took from S's `CAUGHT` for a
/// record T cannot have yet is seen there. The end heals everything and checks I3.
fn race1_run(sim: &mut Sim) -> futures::future::BoxFuture<'_, Result<(), Failure>> {
    Box::pin(async move {
        for round in 1..=RACE1_ROUNDS {
            sim.step = round;
            // T is the end whose name sorts first: it dials as soon as it starts.
            let (a, b) = sim.edges[sim.rng.gen_range(0..sim.edges.len())];
            let (t, s) = if sim.names[a] < sim.names[b] {
                (a, b)
            } else {
                (b, a)
            };
            if sim.running[s].is_none() {
                continue;
            }
            sim.note(format!("crash {}", sim.names[t]));
            sim.crash(t).await;
            for _ in 0..sim.rng.gen_range(0..4) {
                let client = sim.rng.gen_range(0..sim.scenario.clients);
                sim.iamat(s, client).await?;
            }
            sim.note(format!(
                "restart {}, then IAMATs at {} while their link comes up",
                sim.names[t], sim.names[s]
            ));
            sim.boot(t).await?;
            for _ in 0..RACE1_BURST {
                let client = sim.rng.gen_range(0..sim.scenario.clients);
                sim.iamat(s, client).await?;
            }
            tokio::time::sleep(Duration::from_millis(sim.rng.gen_range(500..2000))).await;
            sim.check_i2("after a round")?;
        }
        sim.step += 1;
        sim.converge().await
    })
}

/// Rounds of [`race1_run`] per seed.
const RACE1_ROUNDS: usize = 20;
/// IAMATs per round.
const RACE1_BURST: usize = 20;

/// Race 1 of the replication refactor: a number was taken before its record was offered to
/// the table, with an `.await` in between (the lease fsync), so a `WM` answered in that window
/// sent `CAUGHT` marks that counted the number while the catch-up scan lacked the record, and
/// the neighbour's watermark claimed a record it did not hold (I2).
///
/// Checked against the bug put back (not committed): `Node::client` taking the number through
/// a new `Replica::take_number`, awaiting `store.sync()`, then offering the record. Seeds
/// 2001, 2002 and 2003 each failed in round 1 (2001 in round 2 on one run of ten); seeds 2001
/// to 2030 run one by one all failed. Seed 2001's message:
///
/// ```text
/// scenario race1_wm_during_numbering seed 2001 step 1: I2 broken right after an IAMAT,
/// before its forwards left: Bailey's watermark for Bona is 1700000000100001, but it lacks
/// Record("1700000000100001 AT Bona +100000000.098000000 client1 +34.068930-118.445127
/// 1600000000.002") and holds None for that client
/// ```
///
/// With `tokio::task::yield_now()` as the await instead of the sync, the same seeds failed the
/// same way. The other scenarios catch it too: [`race2_session_dropped_mid_apply`] (seed
/// 3001, I2 right after an IAMAT) and, less reliably, `random_faults_fsync_never` (seed 1001
/// on most runs). On the real code every seed passes.
#[test]
fn race1_wm_during_numbering() {
    let scenario = Scenario {
        name: "race1_wm_during_numbering",
        fsync: "always",
        clients: 8,
        broadcast: "flood",
    };
    for seed in seeds(2001, RACE_SEEDS) {
        run_seed(scenario, seed, race1_run);
    }
}

/// The rounds of [`race2_session_dropped_mid_apply`]. Two links are cut, so the rest of the
/// herd is a line, Bailey - Bona - Clark - Jaquez - Campbell, and bursts of IAMATs made at
/// both ends cross it both ways. One link of the line, picked by the seed, is dropped in every
/// round (reset at both ends, or dropped by its dialer only, which redials at once) while the
/// acceptor of that link is part way through a batch of records from the dialer's side; then
/// a client of the acceptor reports, so its record goes to every link and the acceptor's
/// writer finds the connection broken. Either way the acceptor's session ends while its
/// reader is in the middle of the batch. The other links of the line stay up, so nothing but
/// the forwards of that batch could bring its records further along. After the rounds a pause
/// lets the links settle and checks the line agrees; the end heals everything.
fn race2_run(sim: &mut Sim) -> futures::future::BoxFuture<'_, Result<(), Failure>> {
    Box::pin(async move {
        let line = ["Bailey", "Bona", "Clark", "Jaquez", "Campbell"];
        let cuts = [("Bailey", "Campbell"), ("Bona", "Campbell")];
        for (a, b) in cuts {
            sim.net.cut(a, b);
            sim.note(format!("cut {a}-{b}"));
        }
        let end = |sim: &Sim, name: &str| sim.names.iter().position(|n| n == name).unwrap();
        sim.wait_for("the cut links did not go down", CONVERGE_DEADLINE, |sim| {
            let up: Vec<String> = cuts
                .iter()
                .flat_map(|&(a, b)| [(a, b), (b, a)])
                .filter(|&(a, b)| {
                    let node = sim.node(end(sim, a)).unwrap();
                    node.link_named(b).is_some_and(|l| l.is_up())
                })
                .map(|(a, b)| format!("{a}-{b}"))
                .collect();
            (!up.is_empty()).then(|| format!("still up: {}", up.join(", ")))
        })
        .await?;
        let (left, right) = (end(sim, line[0]), end(sim, line[4]));
        // The first numbers at each end wait for a lease to be stored; get that out of the way,
        // and let both records cross the line.
        for i in [left, right] {
            sim.iamat(i, 0).await?;
        }
        sim.wait_for(
            "the line did not agree on the first records",
            CONVERGE_DEADLINE,
            Sim::part_disagreements,
        )
        .await?;
        // One link is dropped again and again; the others stay up, so nothing catches up a
        // server that missed a forward (the acceptor of that link is always inside the line).
        let k = sim.rng.gen_range(0..line.len() - 1);
        let (a, b) = (line[k], line[k + 1]);
        // The acceptor (the name that sorts last) reads what comes from the dialer's side.
        let acceptor = sim.names.iter().position(|n| n == a.max(b)).unwrap();
        let from_dialer_side = if a.max(b) == b { 0 } else { 1 };
        sim.note(format!(
            "the link {a}-{b} will be dropped while records cross it"
        ));
        for round in 1..=RACE2_ROUNDS {
            sim.step = round;
            let bursts = [
                sim.spawn_iamats(left, RACE2_BURST),
                sim.spawn_iamats(right, RACE2_BURST),
            ];
            // Drop the link while the acceptor is part way through a batch from the dialer:
            // once it has the target-th record of the burst (they cross the line in order).
            let target = sim.rng.gen_range(0..RACE2_BURST / 2);
            let (client, _) = bursts[from_dialer_side].reports[target].clone();
            sim.wait_for_client(acceptor, &client).await;
            let what = format!("record {} of that burst", target + 1);
            sim.note(format!("{} holds the {what}", sim.names[acceptor]));
            if sim.rng.gen_bool(0.5) {
                let n = sim.net.reset_between(a, b);
                sim.note(format!("reset {a}-{b} ({n} connections)"));
            } else {
                let n = sim.net.drop_at_dialer(a, b);
                sim.note(format!("{a}-{b} dropped by its dialer ({n} connections)"));
            }
            // A client of the acceptor: its record goes to every link, so the acceptor's
            // writer finds the connection broken while the reader is still in its batch.
            let client = sim.rng.gen_range(0..sim.scenario.clients);
            sim.iamat(acceptor, client).await?;
            let [from_left, from_right] = bursts;
            sim.join_iamats(from_left).await?;
            sim.join_iamats(from_right).await?;
            let ms = sim.rng.gen_range(200..1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        sim.step += 1;
        sim.pause().await?;
        sim.converge().await
    })
}

/// Rounds of [`race2_run`] per seed.
const RACE2_ROUNDS: usize = 10;
/// IAMATs at each end of the line per round.
const RACE2_BURST: usize = 40;

/// Race 2 of the replication refactor: a link session dropped by `select!` in the middle of
/// applying a neighbour's record left the record in the table but neither forwarded nor
/// persisted, so the servers behind that one never got it (it is no longer new where it won,
/// and no link of theirs comes up again to catch them up).
///
/// Checked against the bug put back (not committed): no flush in `impl Drop for
/// HeldForwards`, and in `Node::apply` a `tokio::task::yield_now().await` between the
/// replica's handling and the persisting and forwarding. Seeds 3001 to 3050 run one by one
/// all failed at the pause after the rounds (and 60 of 60 again with the CPU busy). Seed
/// 3001's message (it dropped Bona-Clark, so Bailey's records stopped at Clark):
///
/// ```text
/// scenario race2_session_dropped_mid_apply seed 3001 step 11: a part of the herd did not
/// agree within 60 s (simulated): Campbell lacks Record("1700000004614008 AT Bailey
/// +100000004.279000000 client1001911775 +34.068930-118.445127 1600000000.335"); Jaquez
/// lacks Record(... the same ...); Campbell lacks Record("1700000006411001 AT Bailey ...");
/// Jaquez lacks Record(...); and 204 more
/// ```
///
/// Without the pause the end alone does not catch it: healing the cut links starts catch-ups
/// that bring the lost records back around. The random scenarios did not catch it in 20 seeds
/// each. On the real code every seed passes.
#[test]
fn race2_session_dropped_mid_apply() {
    let scenario = Scenario {
        name: "race2_session_dropped_mid_apply",
        fsync: "never",
        clients: 1 << 30,
        broadcast: "flood",
    };
    for seed in seeds(3001, RACE_SEEDS) {
        run_seed(scenario, seed, race2_run);
    }
}
