//! `herd bench`: a load generator for the herd protocol, in the manner of redis-benchmark.
//!
//! - [`answer`]: where an answer ends in the byte stream and whether it is right.
//! - [`command`]: the IAMAT / WHATSAT / inline SET lines sent, for a pool of client ids.
//! - [`dial`]: opening connections from several loopback source addresses.
//! - [`scenario`]: the load scenarios and the budget (count or time) that stops them.
//! - [`propagation`]: how long a location takes to reach each server, by hop count.
//! - [`topology`]: the herd's servers and links as the bench sees them.
//! - [`report`]: tallies, HDR percentiles, text and JSON output.
//! - [`plot`]: the latency-by-percentile chart as SVG.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod answer;
pub mod command;
pub mod dial;
pub mod plot;
pub mod propagation;
pub mod report;
pub mod scenario;
pub mod topology;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use command::{CommandMaker, Mix};
use dial::Dialer;
use herd_server::config::Config;
use propagation::{PropagationPlan, PropagationReport};
use report::{LoadReport, Tally};
use scenario::{Budget, Shared};
use topology::Topology;

/// Requests sent when neither `-n` nor `-d` is given (rounds for `propagation`).
const DEFAULT_REQUESTS: u64 = 100_000;
/// Propagation rounds when neither `-n` nor `-d` is given.
const DEFAULT_ROUNDS: u64 = 1_000;
/// How long `hold` runs when `-d` is not given.
const DEFAULT_HOLD: Duration = Duration::from_secs(10);

/// Why a bench run could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An option has a value the bench cannot use.
    #[error("{0}")]
    Usage(String),
    /// `--servers` / `--edges` do not describe a herd.
    #[error(transparent)]
    Topology(#[from] topology::TopologyError),
    /// The `--config` file cannot be used.
    #[error(transparent)]
    Config(#[from] herd_server::config::ConfigError),
    /// Seeding the client locations before a WHATSAT run failed.
    #[error("seeding {target} with {wanted} client locations failed: {got} stored ({detail})")]
    Seeding {
        /// The server being seeded.
        target: SocketAddr,
        /// Locations sent.
        wanted: u64,
        /// Locations acknowledged with a proper AT line.
        got: u64,
        /// Counts of what went wrong.
        detail: String,
    },
    /// The propagation scenario failed.
    #[error(transparent)]
    Propagation(#[from] propagation::PropagationError),
    /// A worker task panicked or was cancelled.
    #[error("a bench worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// The report could not be encoded as JSON.
    #[error("cannot encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The chart could not be written.
    #[error("cannot write the chart to {path}: {source}")]
    Chart {
        /// The `--plot` file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl BenchError {
    /// True when the fault is in the options or the config (a usage error, exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage(_) | Self::Topology(_) | Self::Config(_))
            || matches!(
                self,
                Self::Propagation(
                    propagation::PropagationError::TooFewServers
                        | propagation::PropagationError::Unreachable { .. }
                )
            )
    }
}

/// Which load to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioKind {
    /// IAMAT only, pipelined over kept-open connections.
    Iamat,
    /// WHATSAT only (the client ids are first seeded with IAMATs on every target).
    Whatsat,
    /// IAMAT and WHATSAT, WHATSAT with probability --whatsat-ratio (ids seeded first).
    Mixed,
    /// One connection per IAMAT: connect, write, half-close, read to end (the graders' way).
    ConnectPerRequest,
    /// Open -c connections (each counted once a first IAMAT is answered), then each sends one
    /// IAMAT per --interval (default 1s) for the duration (client id = connection number).
    Hold,
    /// Inline `SET key value\r\n` expecting `+OK\r\n`: the same load against Redis.
    RedisSet,
    /// `connect-per-request` with inline `SET key value\r\n`: the graders' way against Redis.
    RedisConnectPerRequest,
    /// Time for a new location to reach every server, grouped by hop count.
    Propagation,
}

impl ScenarioKind {
    /// The name as written on the command line.
    fn name(self) -> &'static str {
        match self {
            Self::Iamat => "iamat",
            Self::Whatsat => "whatsat",
            Self::Mixed => "mixed",
            Self::ConnectPerRequest => "connect-per-request",
            Self::Hold => "hold",
            Self::RedisSet => "redis-set",
            Self::RedisConnectPerRequest => "redis-connect-per-request",
            Self::Propagation => "propagation",
        }
    }
}

/// Options of `herd bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Scenario to run.
    #[arg(value_enum, default_value = "iamat")]
    pub scenario: ScenarioKind,
    /// Server to load, a server name or HOST:PORT; repeat to spread connections over several
    /// (default: every server of the herd).
    #[arg(long = "target", value_name = "NAME|HOST:PORT")]
    pub targets: Vec<String>,
    /// The herd's config file, for its servers and links (default: the built-in herd).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The herd's servers, NAME=HOST:PORT,... (instead of --config).
    #[arg(long, value_name = "NAME=HOST:PORT,...", conflicts_with = "config")]
    pub servers: Option<String>,
    /// The herd's links, A-B,... (needed by `propagation` with --servers).
    #[arg(long, value_name = "A-B,...", requires = "servers")]
    pub edges: Option<String>,
    /// Connections to open.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,
    /// Commands in flight per connection (WHATSAT polls per server in `propagation`).
    #[arg(short = 'P', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub pipeline: u16,
    /// Run for this long, e.g. 10s or 1m (with -n, whichever ends first).
    #[arg(short = 'd', long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Requests to send in all (rounds in `propagation`); default 100000 (1000 rounds).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Distinct client ids to use.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: u64,
    /// Share of WHATSAT commands in `mixed`, 0 to 1.
    #[arg(long, default_value_t = 0.1)]
    pub whatsat_ratio: f64,
    /// WHATSAT radius in km.
    #[arg(long, default_value_t = 10.0)]
    pub radius: f64,
    /// WHATSAT bound on results.
    #[arg(long, default_value_t = 5)]
    pub bound: u32,
    /// Spread connections over source addresses 127.0.0.1..127.0.0.N (loopback targets).
    /// Kept-open connections need it only past ~28,000 connections to one target;
    /// `connect-per-request` past ~15,000 connections a second, where every connect
    /// searches a port range full of TIME_WAIT (`bench/run.sh` gives 64).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub source_ips: u8,
    /// Time between two IAMATs of one connection in `hold`.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Most IAMATs (rounds) per second in `propagation`.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// How long to wait for an answer or a connect before counting it lost.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Prefix of the client ids sent (a random suffix keeps runs apart by default).
    #[arg(long)]
    pub client_prefix: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write a latency-by-percentile chart to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Never show a progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The result of a bench run.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A load scenario's report.
    Load(Box<LoadReport>),
    /// The propagation scenario's report.
    Propagation(PropagationReport),
}

/// Runs `herd bench`: the scenario, then the report on stdout and the optional chart.
///
/// # Errors
/// A [`BenchError`] (see [`execute`]), or a chart that cannot be written.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    run_and_print(&args).await.map_err(anyhow::Error::from)
}

/// [`run`] with its typed error.
async fn run_and_print(args: &BenchArgs) -> Result<(), BenchError> {
    let outcome = execute(args).await?;
    let (text, json, series) = match &outcome {
        Outcome::Load(report) => (
            report.to_text(),
            serde_json::to_string(report)?,
            vec![plot::Series {
                label: report.scenario.clone(),
                histogram: &report.histogram,
            }],
        ),
        Outcome::Propagation(report) => (
            report.to_text(),
            serde_json::to_string(report)?,
            report
                .histograms
                .iter()
                .enumerate()
                .map(|(h, histogram)| plot::Series {
                    label: format!("{h} hop(s)"),
                    histogram,
                })
                .collect(),
        ),
    };
    if args.json {
        println!("{json}");
    } else {
        print!("{text}");
    }
    if let Some(path) = &args.plot {
        let title = format!("herd bench {}: latency by percentile", args.scenario.name());
        std::fs::write(path, plot::latency_svg(&title, &series)).map_err(|source| {
            BenchError::Chart {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

/// Runs the scenario and returns its outcome without printing it.
///
/// # Errors
/// A [`BenchError`]: bad options (targets, topology, config), a failed seeding, or a failed
/// propagation connection. Failed requests are not errors: the report counts them.
pub async fn execute(args: &BenchArgs) -> Result<Outcome, BenchError> {
    if !(0.0..=1.0).contains(&args.whatsat_ratio) {
        return Err(BenchError::Usage(format!(
            "--whatsat-ratio must lie between 0 and 1, got {}",
            args.whatsat_ratio
        )));
    }
    if args.rate.is_nan() || args.rate <= 0.0 {
        return Err(BenchError::Usage(format!(
            "--rate must be above 0, got {}",
            args.rate
        )));
    }
    let topology = match (&args.servers, &args.config) {
        (Some(servers), _) => Topology::parse(servers, args.edges.as_deref())?,
        (None, Some(file)) => Topology::from_config(&Config::load(file)?),
        (None, None) => Topology::builtin(),
    };
    let needed = args.connections as u64 + 64;
    match dial::raise_open_file_limit() {
        Ok(limit) if limit < needed => eprintln!(
            "warning: the open-file limit is {limit}, below the {needed} this run may need"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
    let prefix = args
        .client_prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{:04x}-", rand::random::<u16>()));
    if args.scenario == ScenarioKind::Propagation {
        let plan = PropagationPlan {
            topology,
            rounds: args
                .requests
                .or(args.duration.is_none().then_some(DEFAULT_ROUNDS)),
            duration: args.duration,
            rate: args.rate,
            timeout: args.timeout,
            pipeline: usize::from(args.pipeline),
            prefix,
            dialer: Dialer::new(args.source_ips),
        };
        return Ok(Outcome::Propagation(propagation::run(&plan).await?));
    }
    let targets = resolve_targets(args, &topology).await?;
    if targets.is_empty() || args.connections == 0 {
        return Err(BenchError::Usage(
            "nothing to do: give at least one target and one connection (-c)".into(),
        ));
    }
    run_load(args, targets, prefix).await
}

/// The load targets: --target values (server names or HOST:PORT), else the topology's servers.
async fn resolve_targets(
    args: &BenchArgs,
    topology: &Topology,
) -> Result<Vec<SocketAddr>, BenchError> {
    if args.targets.is_empty() {
        return Ok(topology.servers.iter().map(|s| s.addr).collect());
    }
    let mut out = Vec::new();
    for target in &args.targets {
        if let Some(server) = topology.servers.iter().find(|s| &s.name == target) {
            out.push(server.addr);
            continue;
        }
        let addr = tokio::net::lookup_host(target.as_str())
            .await
            .ok()
            .and_then(|mut found| found.next())
            .ok_or_else(|| {
                BenchError::Usage(format!(
                    "--target {target:?}: expected a server name of the herd or HOST:PORT"
                ))
            })?;
        out.push(addr);
    }
    Ok(out)
}

/// Runs one of the load scenarios against `targets`.
async fn run_load(
    args: &BenchArgs,
    targets: Vec<SocketAddr>,
    prefix: String,
) -> Result<Outcome, BenchError> {
    let mix = match args.scenario {
        ScenarioKind::Whatsat => Mix::Whatsat,
        ScenarioKind::Mixed => Mix::Mixed(args.whatsat_ratio),
        ScenarioKind::RedisSet | ScenarioKind::RedisConnectPerRequest => Mix::RedisSet,
        _ => Mix::Iamat,
    };
    let maker = CommandMaker::new(mix, &prefix, args.clients, args.radius, args.bound, 1);
    let dialer = Dialer::new(args.source_ips);
    if matches!(args.scenario, ScenarioKind::Whatsat | ScenarioKind::Mixed) {
        seed(args, &targets, &maker, dialer).await?;
    }
    let (limit, duration) = match (args.requests, args.duration, args.scenario) {
        (None, None, ScenarioKind::Hold) => (None, Some(DEFAULT_HOLD)),
        (None, None, _) => (Some(DEFAULT_REQUESTS), None),
        (n, d, _) => (n, d),
    };
    let pipeline = usize::from(args.pipeline);
    let mut tally = Tally::default();
    let mut held = Vec::new();
    if args.scenario == ScenarioKind::Hold {
        let opening = Shared {
            budget: Budget::start(None, None),
            timeout: args.timeout,
            pipeline,
            dialer,
        };
        let (streams, opened) =
            scenario::open_many(&opening, &targets, args.connections, &maker).await;
        tally.merge(&opened);
        held = streams;
    }
    let shared = Arc::new(Shared {
        budget: Budget::start(limit, duration),
        timeout: args.timeout,
        pipeline,
        dialer,
    });
    let progress = progress_bar(args, &shared, limit, duration);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    let mut holders = tokio::task::JoinSet::new();
    let held_tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    if args.scenario == ScenarioKind::Hold {
        for (n, stream) in held {
            holders.spawn(scenario::hold(
                shared.clone(),
                stream,
                n,
                maker.reseeded(n as u64),
                args.interval,
                held_tally.clone(),
            ));
        }
    } else {
        for n in 0..args.connections {
            let (shared, target, maker) = (
                shared.clone(),
                targets[n % targets.len()],
                maker.reseeded(n as u64),
            );
            if matches!(
                args.scenario,
                ScenarioKind::ConnectPerRequest | ScenarioKind::RedisConnectPerRequest
            ) {
                workers.spawn(scenario::connect_per_request(shared, target, n, maker));
            } else {
                workers.spawn(scenario::pipelined(shared, target, n, maker));
            }
        }
    }
    while let Some(done) = workers.join_next().await {
        tally.merge(&done?);
    }
    while let Some(done) = holders.join_next().await {
        done?;
    }
    tally.merge(&held_tally.lock().unwrap_or_else(|e| e.into_inner()));
    let elapsed = start.elapsed();
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }
    let names = targets.iter().map(ToString::to_string).collect();
    let report = LoadReport::new(
        args.scenario.name(),
        names,
        args.connections,
        pipeline,
        &tally,
        elapsed,
    );
    Ok(Outcome::Load(Box::new(report)))
}

/// Stores a location for every client id on every target, all with one time, so WHATSAT
/// finds them anywhere without waiting for the flood.
async fn seed(
    args: &BenchArgs,
    targets: &[SocketAddr],
    maker: &CommandMaker,
    dialer: Dialer,
) -> Result<(), BenchError> {
    let time = command::posix_now();
    for (n, target) in targets.iter().enumerate() {
        let shared = Arc::new(Shared {
            budget: Budget::start(Some(args.clients), None),
            timeout: args.timeout,
            pipeline: 64,
            dialer,
        });
        let seeding = maker.clone().seeding(0, &time);
        let tally = scenario::pipelined(shared, *target, n, seeding).await;
        if tally.ok != args.clients {
            return Err(BenchError::Seeding {
                target: *target,
                wanted: args.clients,
                got: tally.ok,
                detail: format!(
                    "{} refused, {} malformed, {} lost, {} connect errors",
                    tally.rejected, tally.malformed, tally.io_errors, tally.connect_errors
                ),
            });
        }
    }
    Ok(())
}

/// A progress bar updated ten times a second, only when stdout is a terminal and the
/// output is text.
fn progress_bar(
    args: &BenchArgs,
    shared: &Arc<Shared>,
    limit: Option<u64>,
    duration: Option<Duration>,
) -> Option<(ProgressBar, tokio::task::JoinHandle<()>)> {
    if args.json || args.quiet || !std::io::stdout().is_terminal() {
        return None;
    }
    let (bar, by_time) = match (limit, duration) {
        (Some(n), _) => (ProgressBar::new(n), false),
        (None, Some(d)) => (ProgressBar::new(d.as_millis() as u64), true),
        (None, None) => (ProgressBar::new_spinner(), false),
    };
    let template = if by_time {
        "{bar:40} {elapsed_precise} {msg}"
    } else {
        "{bar:40} {pos}/{len} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let (shown, shared) = (bar.clone(), shared.clone());
    let start = Instant::now();
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            every.tick().await;
            let done = shared.budget.done();
            let rate = done as f64 / start.elapsed().as_secs_f64().max(0.001);
            if by_time {
                shown.set_position(start.elapsed().as_millis() as u64);
                shown.set_message(format!("{done} requests, {rate:.0}/s"));
            } else {
                shown.set_position(done);
                shown.set_message(format!("{rate:.0}/s"));
            }
        }
    });
    Some((bar, ticker))
}
