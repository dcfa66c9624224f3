//! The simulated herd of `tests/sim_real.rs`: the real servers of the 2023 topology on an
//! in-memory network, what the test knows was made, and the checks (I2, the parts of a
//! partitioned herd agreeing, I3 at the end).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herd_core::record::Record;
use herd_core::replica::ClientReport;
use herd_places::{failure, NearbyQuery, PlacesFuture, PlacesProvider};
use herd_server::config::Config;
use herd_server::node::Node;
use herd_server::server::{self, Running};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::support::herd::TOPOLOGY_2023;
use crate::support::memnet::MemNet;

/// The servers' clock at the start of a run, in nanoseconds since the epoch (the servers are
/// given simulated time, so their sequence numbers depend on the script only).
pub const EPOCH_NANOS: i128 = 1_700_000_000_000_000_000;

/// How long the end of a run may take, in simulated time, before convergence fails.
pub const CONVERGE_DEADLINE: Duration = Duration::from_secs(60);

/// How long a pause lets the links settle before its check (in simulated time): past the
/// longest redial backoff and the 5 s silence limit.
pub const SETTLE: Duration = Duration::from_secs(12);

/// Answers every WHATSAT with nothing: the simulation never asks.
struct NoPlaces;

impl PlacesProvider for NoPlaces {
    fn name(&self) -> &'static str {
        "none"
    }

    fn nearby(&self, _: NearbyQuery) -> PlacesFuture<'_> {
        Box::pin(async { failure("ZERO_RESULTS", "the simulation has no places") })
    }
}

/// What kind of run a [`Sim`] is.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// For messages.
    pub name: &'static str,
    /// `storage.fsync`.
    pub fsync: &'static str,
    /// Distinct client IDs.
    pub clients: usize,
    /// `herd.broadcast`: `"flood"` or `"tree"`.
    pub broadcast: &'static str,
}

/// One simulated herd and everything the test knows about it.
pub struct Sim {
    /// What kind of run this is.
    pub scenario: Scenario,
    /// The seed of `rng`.
    seed: u64,
    /// Picks every step.
    pub rng: StdRng,
    /// The network between the servers.
    pub net: Arc<MemNet>,
    /// The herd's config (server addresses are the network's, never bound).
    config: Config,
    /// Shared by every server.
    places: Arc<dyn PlacesProvider>,
    /// Server names, in config order.
    pub names: Vec<String>,
    /// The links, as pairs of indices into `names`.
    pub edges: Vec<(usize, usize)>,
    /// Each server while it runs.
    pub running: Vec<Option<Running>>,
    /// Every record `Node::client` returned, by origin, in the order made (so by number).
    made: BTreeMap<String, Vec<Record>>,
    /// The newest record of each client.
    newest: BTreeMap<Vec<u8>, Record>,
    /// The last client time given (one counter for all clients: every client's times grow).
    client_time: u64,
    /// What happened, one line per step.
    timeline: Vec<String>,
    /// Print the timeline as it happens.
    trace: bool,
    /// The step being run, for messages.
    pub step: usize,
    /// When the run started (simulated).
    started: Instant,
    /// The servers' files; removed when the run ends.
    pub dir: tempfile::TempDir,
}

/// A failed check, readable.
pub type Failure = String;

impl Sim {
    /// Starts every server of the 2023 herd with `scenario`'s settings.
    pub async fn start(scenario: Scenario, seed: u64, trace: bool) -> Result<Sim, Failure> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let names: Vec<String> = TOPOLOGY_2023.iter().map(|(n, _)| n.to_string()).collect();
        let listen: Vec<SocketAddr> = (0..names.len())
            .map(|i| SocketAddr::from(([10, 0, 0, i as u8 + 1], 7000)))
            .collect();
        // The network is in memory, but its addresses are not loopback: the links go without
        // a secret only because the config says so.
        let mut text = format!(
            "[herd]\ninsecure_links = true\nbroadcast = {:?}\n[storage]\ndir = {:?}\nfsync = {:?}\n",
            scenario.broadcast,
            dir.path().display().to_string(),
            scenario.fsync
        );
        for ((name, neighbours), addr) in TOPOLOGY_2023.iter().zip(&listen) {
            text.push_str(&format!(
                "\n[[servers]]\nname = {name:?}\nlisten = \"{addr}\"\nneighbours = {neighbours:?}\n"
            ));
        }
        let config = Config::parse(&text, "sim.toml").map_err(|e| e.to_string())?;
        let mut edges = Vec::new();
        for (a, (_, neighbours)) in TOPOLOGY_2023.iter().enumerate() {
            for n in neighbours.iter() {
                let b = names.iter().position(|x| x == n).unwrap();
                if a < b {
                    edges.push((a, b));
                }
            }
        }
        let mut sim = Sim {
            scenario,
            seed,
            rng: StdRng::seed_from_u64(seed),
            net: MemNet::new(),
            config,
            places: Arc::new(NoPlaces),
            running: names.iter().map(|_| None).collect(),
            names,
            edges,
            made: BTreeMap::new(),
            newest: BTreeMap::new(),
            client_time: 0,
            timeline: Vec::new(),
            trace,
            step: 0,
            started: Instant::now(),
            dir,
        };
        for i in 0..sim.names.len() {
            sim.boot(i).await?;
        }
        sim.wait_until_all_links_up().await?;
        Ok(sim)
    }

    /// Notes a step in the timeline.
    pub fn note(&mut self, what: String) {
        let line = format!(
            "{:>9.3}s step {:>4}: {what}",
            self.started.elapsed().as_secs_f64(),
            self.step
        );
        if self.trace {
            println!("{line}");
        }
        self.timeline.push(line);
    }

    /// A failure message: what failed, where, and the end of the timeline.
    pub fn failure(&self, what: &str) -> Failure {
        let tail = self.timeline.len().saturating_sub(40);
        format!(
            "scenario {} seed {} step {}: {what}\n(rerun with HERD_SIM_SEED={} for the whole timeline)\nlast steps:\n{}",
            self.scenario.name,
            self.seed,
            self.step,
            self.seed,
            self.timeline[tail..].join("\n")
        )
    }

    /// The servers' clock now (simulated).
    pub fn now_nanos(&self) -> i128 {
        EPOCH_NANOS + self.started.elapsed().as_nanos() as i128
    }

    /// Server `i`'s node, while it runs.
    pub fn node(&self, i: usize) -> Option<Arc<Node>> {
        self.running[i].as_ref().map(|r| r.node.clone())
    }

    /// The servers that run.
    pub fn up(&self) -> Vec<usize> {
        (0..self.names.len())
            .filter(|&i| self.running[i].is_some())
            .collect()
    }

    /// The servers that are down.
    pub fn down(&self) -> Vec<usize> {
        (0..self.names.len())
            .filter(|&i| self.running[i].is_none())
            .collect()
    }

    /// Starts server `i` on its store and makes it reachable.
    pub async fn boot(&mut self, i: usize) -> Result<(), Failure> {
        let name = self.names[i].clone();
        // Real sockets on loopback for the listeners (nothing in the simulation dials them);
        // links reach a server through the in-memory network at its configured peer address.
        let any = || server::bind("127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string());
        let listeners = server::Listeners {
            client: Some(any()?),
            peer: Some(any()?),
        };
        let running = server::start_on(
            &self.config,
            &name,
            listeners,
            self.places.clone(),
            self.net.transport(&name),
        )
        .await
        .map_err(|e| self.failure(&format!("{name} did not start: {e}")))?;
        let peer = self.config.server(&name).expect("a configured server").peer;
        self.net.register(peer, running.node.clone());
        self.running[i] = Some(running);
        Ok(())
    }

    /// Shuts server `i` down (its connections are reset first, as in a crash).
    pub async fn crash(&mut self, i: usize) {
        if let Some(running) = self.running[i].take() {
            self.net.unregister(&self.names[i]);
            running.shutdown().await;
        }
    }

    /// The next report of client `client`, with a time above every time given before.
    pub fn report(&mut self, client: usize) -> (String, String) {
        self.client_time += 1;
        (
            format!("client{client}"),
            format!(
                "{}.{:03}",
                1_600_000_000 + self.client_time / 1000,
                self.client_time % 1000
            ),
        )
    }

    /// Notes a record `Node::client` returned: in `made` (checking its number grows) and as
    /// its client's newest.
    pub fn record_made(&mut self, record: Record) -> Result<(), Failure> {
        let origin = String::from_utf8_lossy(record.origin()).into_owned();
        let mine = self.made.entry(origin.clone()).or_default();
        if let Some(last) = mine.last() {
            if last.seq() >= record.seq() {
                let last = last.clone();
                return Err(self.failure(&format!(
                    "{origin} numbered {record:?} at or below its earlier {last:?}"
                )));
            }
        }
        mine.push(record.clone());
        let client = record.client_bytes().to_vec();
        let newer = self
            .newest
            .get(&client)
            .is_none_or(|old| record.is_newer_than(old));
        if newer {
            self.newest.insert(client, record);
        }
        Ok(())
    }

    /// One IAMAT at server `i`, as a client connection makes it: I2 is checked right after it
    /// is numbered and offered, before its forwards leave; with `fsync = "always"` it is
    /// waited on like an answer.
    pub async fn iamat(&mut self, i: usize, client: usize) -> Result<(), Failure> {
        let Some(node) = self.node(i) else {
            return Ok(());
        };
        let (id, time) = self.report(client);
        let report = ClientReport {
            client: id.as_bytes(),
            location: b"+34.068930-118.445127",
            time: time.as_bytes(),
            position: (34.068930, -118.445127),
        };
        let mut held = node.held_forwards();
        let (record, durable) = node
            .client(&report, self.now_nanos(), &mut held)
            .await
            .map_err(|e| self.failure(&format!("IAMAT at {} refused: {e}", node.name)))?;
        self.note(format!("IAMAT {id} at {} -> #{}", node.name, record.seq()));
        self.record_made(record)?;
        self.check_i2("right after an IAMAT, before its forwards left")?;
        held.flush();
        drop(held);
        if let Some(durable) = durable {
            durable
                .wait()
                .await
                .map_err(|e| self.failure(&format!("IAMAT at {} not stored: {e}", node.name)))?;
        }
        Ok(())
    }

    /// I2 at every running server, for every record the test saw made.
    pub fn check_i2(&self, when: &str) -> Result<(), Failure> {
        for i in self.up() {
            let node = self.node(i).unwrap();
            for (origin, mark) in node.watermarks() {
                let Some(made) = self.made.get(&origin) else {
                    continue;
                };
                for r in made.iter().take_while(|r| r.seq() <= mark) {
                    match node.table().get(r.client_bytes()) {
                        Some(held) if !r.is_newer_than(&held) => {}
                        held => {
                            return Err(self.failure(&format!(
                                "I2 broken {when}: {}'s watermark for {origin} is {mark}, but it \
                                 lacks {r:?} and holds {held:?} for that client",
                                node.name
                            )))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Polls `done` every 100 ms of simulated time until it holds, at most `deadline`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&Sim) -> Option<String>,
    ) -> Result<(), Failure> {
        let tick = Duration::from_millis(100);
        let polls = deadline.as_millis() / tick.as_millis();
        let mut last = None;
        for _ in 0..=polls {
            last = done(self);
            if last.is_none() {
                return Ok(());
            }
            tokio::time::sleep(tick).await;
        }
        Err(self.failure(&format!(
            "{what} within {} s (simulated): {}",
            deadline.as_secs(),
            last.unwrap_or_default()
        )))
    }

    pub async fn wait_until_all_links_up(&mut self) -> Result<(), Failure> {
        self.wait_for("not every link came up", CONVERGE_DEADLINE, |sim| {
            let down: Vec<String> = sim
                .up()
                .into_iter()
                .flat_map(|i| {
                    let node = sim.node(i).unwrap();
                    node.links
                        .iter()
                        .filter(|l| !l.is_up())
                        .map(|l| format!("{}-{}", node.name, l.name))
                        .collect::<Vec<_>>()
                })
                .collect();
            (!down.is_empty()).then(|| format!("down: {}", down.join(", ")))
        })
        .await
    }

    /// The sets of running servers joined by links that are not cut.
    pub fn parts(&self) -> Vec<BTreeSet<usize>> {
        let mut part: Vec<usize> = (0..self.names.len()).collect();
        fn root(part: &mut [usize], mut i: usize) -> usize {
            while part[i] != i {
                i = part[i];
            }
            i
        }
        for &(a, b) in &self.edges {
            let live = self.running[a].is_some()
                && self.running[b].is_some()
                && !self.net.is_cut(&self.names[a], &self.names[b]);
            if live {
                let (ra, rb) = (root(&mut part, a), root(&mut part, b));
                part[ra] = rb;
            }
        }
        let mut parts: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for i in self.up() {
            let r = root(&mut part, i);
            parts.entry(r).or_default().insert(i);
        }
        parts.into_values().collect()
    }

    /// Within each part, who lacks a client's newest record that another member holds.
    pub fn part_disagreements(&self) -> Option<String> {
        let mut lacking = Vec::new();
        for part in self.parts() {
            for newest in self.newest.values() {
                let holds = |i: usize| {
                    self.node(i)
                        .unwrap()
                        .table()
                        .get(newest.client_bytes())
                        .is_some_and(|r| !newest.is_newer_than(&r))
                };
                if part.iter().any(|&i| holds(i)) {
                    for &i in part.iter().filter(|&&i| !holds(i)) {
                        lacking.push(format!("{} lacks {newest:?}", self.names[i]));
                    }
                }
            }
        }
        summary(&lacking)
    }

    /// Who lacks a client's newest record.
    pub fn lacking(&self) -> Option<String> {
        let mut lacking = Vec::new();
        for i in 0..self.names.len() {
            let Some(node) = self.node(i) else {
                lacking.push(format!("{} is down", self.names[i]));
                continue;
            };
            for newest in self.newest.values() {
                let held = node.table().get(newest.client_bytes());
                if held.as_ref().map(|r| r.wire()) != Some(newest.wire()) {
                    lacking.push(format!(
                        "{} holds {held:?} instead of {newest:?}",
                        self.names[i]
                    ));
                }
            }
        }
        summary(&lacking)
    }

    /// Stops the faults for a while (cuts stay cut) and checks every part agrees.
    pub async fn pause(&mut self) -> Result<(), Failure> {
        self.note("pause: links settle, then each part must agree".into());
        tokio::time::sleep(SETTLE).await;
        self.wait_for(
            "a part of the herd did not agree",
            CONVERGE_DEADLINE,
            Sim::part_disagreements,
        )
        .await
    }

    /// Heals everything, restarts every server that is down, and waits until every server
    /// holds every client's newest record (I3).
    pub async fn converge(&mut self) -> Result<(), Failure> {
        self.note("end: heal everything, restart everything".into());
        self.net.heal_all();
        for i in self.down() {
            self.boot(i).await?;
        }
        self.wait_for("the herd did not converge", CONVERGE_DEADLINE, Sim::lacking)
            .await?;
        self.check_i2("at the end")
    }

    /// Shuts every server down and forgets them, so the run leaves nothing behind.
    pub async fn stop(&mut self) {
        for i in self.up() {
            self.crash(i).await;
        }
        self.net.clear();
    }
}

/// IAMATs made by a task while the test goes on.
pub struct Burst {
    /// The task; its records come back at the join.
    pub task: tokio::task::JoinHandle<Result<Vec<Record>, String>>,
    /// What it reports: client ID and client time.
    pub reports: Vec<(String, String)>,
}

impl Sim {
    /// Starts a task that makes `count` IAMATs at server `i` one run after the other, as one
    /// client connection that pipelines its lines would (each run a read's worth, numbered
    /// together by `Node::clients`), while the test goes on.
    pub fn spawn_iamats(&mut self, i: usize, count: usize) -> Burst {
        /// The longest run of IAMATs numbered together.
        const MAX_RUN: usize = 8;
        let reports: Vec<(String, String)> = (0..count)
            .map(|_| {
                let client = self.rng.gen_range(0..self.scenario.clients);
                self.report(client)
            })
            .collect();
        let node = self.node(i);
        let started = self.started;
        self.note(format!("{count} IAMATs at {} (concurrent)", self.names[i]));
        // Taken in runs, as the reads of a client that pipelines its lines are: each run is
        // numbered together (one hold of the replica's lock; a run may cross a lease).
        let mut runs = Vec::new();
        let mut rest = reports.len();
        while rest > 0 {
            let run = self.rng.gen_range(1..=rest.min(MAX_RUN));
            runs.push(run);
            rest -= run;
        }
        let task = tokio::spawn({
            let reports = reports.clone();
            async move {
                let Some(node) = node else {
                    return Ok(Vec::new());
                };
                let mut made = Vec::new();
                let mut next = 0;
                for run in runs {
                    let run_reports: Vec<ClientReport<'_>> = reports[next..next + run]
                        .iter()
                        .map(|(id, time)| ClientReport {
                            client: id.as_bytes(),
                            location: b"+34.068930-118.445127",
                            time: time.as_bytes(),
                            position: (34.068930, -118.445127),
                        })
                        .collect();
                    next += run;
                    let now = EPOCH_NANOS + started.elapsed().as_nanos() as i128;
                    let mut held = node.held_forwards();
                    let numbered = node.clients(&run_reports, now, &mut held).await;
                    held.flush();
                    for (_, durable) in numbered.durable {
                        durable
                            .wait()
                            .await
                            .map_err(|e| format!("IAMAT at {} not stored: {e}", node.name))?;
                    }
                    for outcome in numbered.outcomes {
                        made.push(
                            outcome.map_err(|e| format!("IAMAT at {} refused: {e}", node.name))?,
                        );
                    }
                }
                Ok(made)
            }
        });
        Burst { task, reports }
    }

    /// Waits until server `i` holds a record of `client` (as a WHATSAT would): woken by the
    /// change itself, or after 10 s of simulated time once nothing else happens.
    pub async fn wait_for_client(&self, i: usize, client: &str) {
        if let Some(node) = self.node(i) {
            let grace = Duration::from_secs(10);
            node.arrivals
                .wait_for(node.table(), client.as_bytes(), grace)
                .await;
        }
    }

    /// Waits for a [`Burst`] and notes what it made.
    pub async fn join_iamats(&mut self, burst: Burst) -> Result<(), Failure> {
        let made = burst
            .task
            .await
            .map_err(|e| self.failure(&format!("an IAMAT task failed: {e}")))?
            .map_err(|e| self.failure(&e))?;
        for record in made {
            self.record_made(record)?;
        }
        self.check_i2("after concurrent IAMATs")
    }
}

/// The first few of `problems` and how many there are, if any.
pub fn summary(problems: &[String]) -> Option<String> {
    const SHOWN: usize = 4;
    match problems.len() {
        0 => None,
        n if n <= SHOWN => Some(problems.join("; ")),
        n => Some(format!(
            "{}; and {} more",
            problems[..SHOWN].join("; "),
            n - SHOWN
        )),
    }
}
