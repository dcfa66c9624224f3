//! The `herd` command: run servers, talk to them, check configs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herd_server::config::{Config, ConfigError};
use herd_server::server::{self, Running};

/// An application server herd: peers that flood client locations and answer what is near them.
#[derive(Parser)]
#[command(name = "herd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one server in the foreground until SIGINT or SIGTERM.
    Serve {
        /// The server's name in the config.
        name: String,
        /// The herd's config file (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run every server of the config in this process until Ctrl-C.
    Up {
        /// The herd's config file (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Send lines to a server and print the answers; with no LINE, copy stdin like nc.
    Client {
        /// A server name of the config, or HOST:PORT.
        target: String,
        /// Lines to send (each gets a newline).
        lines: Vec<String>,
        /// The herd's config file, to resolve server names (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
        /// How long to wait for the answers, e.g. 10s.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Print a server's table (client, origin, time, location) sorted by client.
    Dump {
        /// A server name of the config, or HOST:PORT.
        target: String,
        /// The herd's config file, for names and the shared secret (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
        /// How long to wait for the table.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Salvage every valid stored record of a server whose store is damaged (run it while the
    /// server is stopped).
    Repair {
        /// The server's name in the config.
        name: String,
        /// The herd's config file (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Load-test a herd (ours or any server of the protocol), like redis-benchmark.
    Bench(herd_bench::BenchArgs),
    /// Check or print configs.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask the built-in offline index of world places.
    #[command(subcommand)]
    Places(PlacesCommand),
}

#[derive(Subcommand)]
enum PlacesCommand {
    /// The places within RADIUS_KM of a point, most prominent first.
    #[command(allow_negative_numbers = true)]
    Near {
        /// Latitude in decimal degrees, -90 to 90.
        lat: f64,
        /// Longitude in decimal degrees, -180 to 180.
        lng: f64,
        /// Radius in kilometres (more than 0).
        radius_km: f64,
        /// How many places to list at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print the WHATSAT JSON (Nearby Search shape) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file and print the resolved topology.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Print the built-in config.
    Default,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "herd=info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("herd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herd: {e:#}");
            // A config or argument problem is a usage error (2); anything else is 1.
            let bench_usage = e
                .downcast_ref::<herd_bench::BenchError>()
                .is_some_and(|b| b.is_usage());
            if bench_usage
                || e.downcast_ref::<ConfigError>().is_some()
                || e.downcast_ref::<UsageError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A problem with the command line that clap cannot see (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { name, config } => {
            let config = load(config.as_deref())?;
            known_server(&config, &name)?;
            let places = herd_places::from_config(&config.places)
                .map_err(|e| UsageError(format!("{}: {e}", config.source)))?;
            let running = server::start(&config, &name, None, places).await?;
            eprintln!(
                "{name} listening on {} (log: {})",
                running.addr,
                running.log_path.display()
            );
            wait_for_signal().await;
            running.shutdown().await;
            Ok(())
        }
        Command::Up { config } => {
            let config = load(config.as_deref())?;
            let places = herd_places::from_config(&config.places)
                .map_err(|e| UsageError(format!("{}: {e}", config.source)))?;
            let mut running: Vec<Running> = Vec::new();
            for s in &config.servers {
                match server::start(&config, &s.name, None, Arc::clone(&places)).await {
                    Ok(r) => running.push(r),
                    Err(e) => {
                        for r in running {
                            r.shutdown().await;
                        }
                        return Err(e.into());
                    }
                }
            }
            println!(
                "{:<12} {:<22} {:<32} LOG",
                "SERVER", "ADDRESS", "NEIGHBOURS"
            );
            for (s, r) in config.servers.iter().zip(&running) {
                println!(
                    "{:<12} {:<22} {:<32} {}",
                    s.name,
                    r.addr,
                    s.neighbours.join(","),
                    r.log_path.display()
                );
            }
            println!(
                "places: {}; Ctrl-C stops the herd.",
                herd_server::config::provider_name(config.places.provider)
            );
            wait_for_signal().await;
            for r in running {
                r.shutdown().await;
            }
            Ok(())
        }
        Command::Client {
            target,
            lines,
            config,
            timeout,
        } => {
            let config = load(config.as_deref())?;
            let addr = resolve_target(&target, &config).await?;
            if lines.is_empty() {
                herd_server::client::interactive(addr)
                    .await
                    .with_context(|| format!("talking to {addr}"))?;
            } else {
                let answer = herd_server::client::exchange(addr, &lines, timeout)
                    .await
                    .with_context(|| format!("talking to {addr}"))?;
                use std::io::Write;
                std::io::stdout().write_all(&answer)?;
            }
            Ok(())
        }
        Command::Dump {
            target,
            config,
            timeout,
        } => {
            let config = load(config.as_deref())?;
            let addr = resolve_target(&target, &config).await?;
            let name = config.server(&target).map_or("*", |s| s.name.as_str());
            let secret = config
                .herd
                .secret_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok())
                .filter(|s| !s.is_empty());
            let table = herd_server::client::dump(
                addr,
                name,
                secret.as_deref().map(str::as_bytes),
                timeout,
            )
            .await
            .with_context(|| format!("dumping {addr}"))?;
            use std::io::Write;
            std::io::stdout().write_all(&table)?;
            Ok(())
        }
        Command::Repair { name, config } => {
            let config = load(config.as_deref())?;
            known_server(&config, &name)?;
            let dir = config.storage.dir.join(&name);
            let report = tokio::task::spawn_blocking(move || herd_store::repair(&dir)).await??;
            println!(
                "{}: kept {} records, dropped {} bytes in {} damaged stretches ({} -> {} bytes){}",
                config.storage.dir.join(&name).display(),
                report.records_kept,
                report.bytes_dropped,
                report.damaged_regions,
                report.bytes_before,
                report.bytes_after,
                report
                    .backup
                    .map(|b| format!("; the damaged original is kept as {}", b.display()))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::Bench(args) => herd_bench::run(args).await,
        Command::Config(ConfigCommand::Check { file }) => {
            let config = Config::load(&file)?;
            print!("{}", config.describe());
            Ok(())
        }
        Command::Places(PlacesCommand::Near {
            lat,
            lng,
            radius_km,
            limit,
            json,
        }) => {
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
                return Err(UsageError(format!(
                    "{lat},{lng} is not a position (latitude -90 to 90, longitude -180 to 180)"
                ))
                .into());
            }
            if !(radius_km.is_finite() && radius_km > 0.0) {
                return Err(UsageError(format!(
                    "RADIUS_KM must be a number of kilometres above 0, not {radius_km}"
                ))
                .into());
            }
            let provider = herd_places::offline::OfflineProvider::builtin()?;
            if json {
                let query = herd_places::NearbyQuery {
                    lat,
                    lng,
                    radius_m: radius_km * 1000.0,
                    bound: limit.clamp(1, 20),
                };
                let mut out = Vec::new();
                herd_core::protocol::answer::render_google_json(&provider.answer(query), &mut out);
                out.push(b'\n');
                use std::io::Write;
                std::io::stdout().write_all(&out)?;
            } else {
                let places = provider.index().near(lat, lng, radius_km * 1000.0, limit);
                print!("{}", herd_places::offline::render_table(&places));
            }
            Ok(())
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{}", herd_server::config::BUILTIN);
            Ok(())
        }
    }
}

/// Checks `name` is a server of `config`.
fn known_server(config: &Config, name: &str) -> Result<(), UsageError> {
    match config.server(name) {
        Some(_) => Ok(()),
        None => Err(UsageError(format!(
            "{}: no server called \"{name}\" (known: {})",
            config.source,
            config.names().join(", ")
        ))),
    }
}

fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    Config::load_or_builtin(path)
}

/// A server name of the config, or HOST:PORT.
async fn resolve_target(target: &str, config: &Config) -> anyhow::Result<SocketAddr> {
    if let Some(s) = config.server(target) {
        return Ok(s.listen);
    }
    if let Ok(addr) = target.parse() {
        return Ok(addr);
    }
    if target.contains(':') {
        if let Some(addr) = tokio::net::lookup_host(target)
            .await
            .ok()
            .and_then(|mut a| a.next())
        {
            return Ok(addr);
        }
    }
    Err(UsageError(format!(
        "\"{target}\" is neither a server of {} ({}) nor HOST:PORT",
        config.source,
        config.names().join(", ")
    ))
    .into())
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
