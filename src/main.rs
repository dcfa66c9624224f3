//! The `herd` command: run servers, talk to them, check configs.
//!
//! `cli` says what the command line accepts; this file runs it: one function per
//! subcommand, and [`main`] turns what they return into a message and an exit code.

mod certs;
mod cli;
mod logging;
mod repl;
mod status;
mod watch;

/// mimalloc rather than glibc's malloc: see BENCHMARKS.md ("memory per client").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use herd_http::HttpServer;
use herd_server::config::{Config, ConfigError};
use herd_server::peer::seal::{CaMaterial, Seal, Sealing};
use herd_server::server::{self, Listeners, Running};

use cli::{CertsCommand, Cli, Command, ConfigCommand, PlacesCommand, SecretCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            logging::fatal(&format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    // A task that outlived the shutdown's deadlines (a disk that hangs) must not keep the
    // process alive: what had to be flushed was flushed, or given up on, by then.
    runtime.shutdown_timeout(RUNTIME_STOP);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logging::fatal(&format!("{e:#}"));
            exit_code(&e)
        }
    }
}

/// How long the runtime waits at exit for tasks that are still running.
const RUNTIME_STOP: Duration = Duration::from_secs(1);

/// A config or argument problem is a usage error (2); anything else is 1.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    let bench_usage = e
        .downcast_ref::<herd_bench::BenchError>()
        .is_some_and(|b| b.is_usage());
    let credentials = matches!(
        e.downcast_ref::<server::StartError>(),
        Some(server::StartError::Credentials(_))
    );
    if bench_usage
        || credentials
        || e.downcast_ref::<ConfigError>().is_some()
        || e.downcast_ref::<UsageError>().is_some()
    {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// A problem with the command line that clap cannot see (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

/// Runs one subcommand.
async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { name, config } => serve(&name, config.as_deref()).await,
        Command::Up { config } => up(config.as_deref()).await,
        Command::Client {
            target,
            lines,
            config,
            timeout,
        } => client(&target, &lines, config.as_deref(), timeout).await,
        Command::Watch {
            target,
            client,
            near,
            json,
            config,
        } => {
            let filter = watch::Filter::from_args(client, near.as_deref())?;
            let config = Config::load_or_builtin(config.as_deref())?;
            watch::run(&target, &config, filter, json).await
        }
        Command::Status {
            target,
            json,
            config,
            timeout,
        } => {
            let config = Config::load_or_builtin(config.as_deref())?;
            status::run(target.as_deref(), &config, timeout, json).await
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "herd", &mut std::io::stdout());
            Ok(())
        }
        Command::Dump {
            target,
            config,
            timeout,
        } => dump(&target, config.as_deref(), timeout).await,
        Command::Repair { name, config } => repair(&name, config.as_deref()).await,
        Command::Bench(args) => herd_bench::run(args).await,
        Command::Config(ConfigCommand::Check { file }) => config_check(&file),
        Command::Config(ConfigCommand::Default) => config_default(),
        Command::Certs(CertsCommand::Init { config, out }) => certs_init(config.as_deref(), &out),
        Command::Secret(SecretCommand::Gen) => {
            println!("{}", herd_server::config::fresh_hex());
            Ok(())
        }
        Command::Places(PlacesCommand::Near {
            lat,
            lng,
            radius_km,
            limit,
            json,
        }) => places_near(lat, lng, radius_km, limit, json),
    }
}

/// `herd serve NAME`: one server in the foreground until SIGINT or SIGTERM.
async fn serve(name: &str, config: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load_or_builtin(config)?;
    known_server(&config, name)?;
    open_files(&config, [name]);
    let places = places_provider(&config)?;
    // HTTP first, so that /livez and /readyz answer while the store loads.
    let http = HttpServer::start(&config, name).await?;
    let running = match server::start(&config, name, Listeners::default(), places).await {
        Ok(running) => running,
        Err(e) => {
            if let Some(http) = http {
                http.stop().await;
            }
            return Err(e.into());
        }
    };
    let http_note = match &http {
        Some(h) => {
            h.attach(running.node.clone());
            format!("; http://{}/", h.addr)
        }
        None => String::new(),
    };
    logging::notice(&format!(
        "{name} listening on {} (links on {}; log: {}{http_note})",
        running.addr,
        running.peer_addr,
        running.log_path.display()
    ));
    wait_for_signal().await;
    running.shutdown().await;
    if let Some(http) = http {
        http.stop().await;
    }
    Ok(())
}

/// `herd up`: every server of the config in this process, with a table of them, until Ctrl-C.
/// With no secret configured, the servers prove one made for this process (they are all
/// here), so the default herd's links are authenticated too.
async fn up(config: Option<&Path>) -> anyhow::Result<()> {
    let mut config = Config::load_or_builtin(config)?;
    // A herd CA authenticates on its own; otherwise the links prove a secret made here.
    let made = config.secret.is_none() && config.tls.is_none();
    if made {
        let secret = herd_server::config::Secret::generate();
        // So that `herd dump` (run by the same user, from the same folder) can prove it.
        if let Err(e) = write_up_secret(&config.storage.dir, &secret) {
            logging::notice(&format!(
                "herd: warning: `herd dump` will not reach this herd: {e}"
            ));
        }
        config.secret = Some(secret);
    }
    open_files(&config, config.names());
    let places = places_provider(&config)?;
    let mut running: Vec<Running> = Vec::new();
    let mut https: Vec<Option<HttpServer>> = Vec::new();
    for s in &config.servers {
        let started = match HttpServer::start(&config, &s.name).await {
            Ok(http) => {
                let started =
                    server::start(&config, &s.name, Listeners::default(), Arc::clone(&places))
                        .await;
                https.push(http);
                started.map_err(anyhow::Error::from)
            }
            Err(e) => Err(e.into()),
        };
        match started {
            Ok(r) => {
                if let Some(Some(http)) = https.last() {
                    http.attach(r.node.clone());
                }
                running.push(r);
            }
            Err(e) => {
                shutdown_all(running).await;
                stop_http(https).await;
                return Err(e);
            }
        }
    }
    println!(
        "{:<12} {:<22} {:<22} {:<22} {:<32} LOG",
        "SERVER", "ADDRESS", "LINKS", "HTTP", "NEIGHBOURS"
    );
    for ((s, r), h) in config.servers.iter().zip(&running).zip(&https) {
        let http = h.as_ref().map_or("-".to_string(), |h| h.addr.to_string());
        println!(
            "{:<12} {:<22} {:<22} {:<22} {:<32} {}",
            s.name,
            r.addr,
            r.peer_addr,
            http,
            s.neighbours.join(","),
            r.log_path.display()
        );
    }
    println!(
        "places: {}; links: {}; Ctrl-C stops the herd.",
        herd_server::config::provider_name(config.places.provider),
        match (made, &config.tls) {
            (true, _) => "TLS 1.3, authenticated with a secret made for this process",
            (false, Some(_)) => "TLS 1.3, authenticated by certificates of the herd CA",
            (false, None) => "TLS 1.3, authenticated with the secret of [herd] secret_env",
        }
    );
    wait_for_signal().await;
    shutdown_all(running).await;
    stop_http(https).await;
    if made {
        let _ = std::fs::remove_file(config.storage.dir.join(UP_SECRET_FILE));
    }
    Ok(())
}

/// Where `herd up` leaves the secret it made, under `[storage] dir`, for `herd dump`.
const UP_SECRET_FILE: &str = "up.secret";

/// Writes the secret `herd up` made to [`UP_SECRET_FILE`] in `dir`, readable by its user only
/// (like the stored records beside it).
fn write_up_secret(dir: &Path, secret: &herd_server::config::Secret) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(UP_SECRET_FILE);
    // A file left by an earlier run is replaced, never reused with whatever mode it has.
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(secret.bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Shuts the servers down together, so the process ends within one shutdown grace.
async fn shutdown_all(running: Vec<Running>) {
    let stopping: Vec<_> = running
        .into_iter()
        .map(|r| tokio::spawn(r.shutdown()))
        .collect();
    for s in stopping {
        let _ = s.await;
    }
}

/// Stops the HTTP sides that were started.
async fn stop_http(https: Vec<Option<HttpServer>>) {
    for http in https.into_iter().flatten() {
        http.stop().await;
    }
}

/// `herd client TARGET [LINE...]`: sends the lines and prints the answers; with none, a
/// prompt on a terminal, else copies stdin like nc.
async fn client(
    target: &str,
    lines: &[String],
    config: Option<&Path>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let config = Config::load_or_builtin(config)?;
    let addr = resolve_target(target, &config).await?;
    if lines.is_empty() && std::io::stdin().is_terminal() {
        let target = target.to_string();
        tokio::task::spawn_blocking(move || repl::run(addr, &target, timeout)).await??;
    } else if lines.is_empty() {
        herd_server::client::interactive(addr)
            .await
            .with_context(|| format!("talking to {addr}"))?;
    } else {
        let answer = herd_server::client::exchange(addr, lines, timeout)
            .await
            .with_context(|| format!("talking to {addr}"))?;
        std::io::stdout().write_all(&answer)?;
    }
    Ok(())
}

/// `herd dump TARGET`: prints a server's table, proving the shared secret if there is one.
/// It talks to the server's peer port (a server name's `peer`, or HOST:PORT as given).
async fn dump(target: &str, config: Option<&Path>, timeout: Duration) -> anyhow::Result<()> {
    let config = Config::load_or_builtin(config)?;
    // A server is dialed where its neighbours dial it (a name is looked up now, and each of
    // its addresses tried in turn).
    let addrs = match config.server(target) {
        Some(s) => s
            .reach
            .resolve()
            .await
            .with_context(|| format!("resolving {}", s.reach))?,
        None => vec![resolve_target(target, &config).await?],
    };
    let name = config.server(target).map_or("*", |s| s.name.as_str());
    let sealing = Sealing::Tls(dump_seal(&config, name)?);
    let mut failed = None;
    for addr in addrs {
        match herd_server::client::dump(addr, name, &sealing, timeout).await {
            Ok(table) => {
                std::io::stdout().write_all(&table)?;
                return Ok(());
            }
            Err(e) => failed = Some(anyhow::Error::new(e).context(format!("dumping {addr}"))),
        }
    }
    Err(failed.unwrap_or_else(|| anyhow::anyhow!("{target} resolves to no address")))
}

/// What `herd dump` seals its connection with: the config's secrets (or, with none, the one
/// a `herd up` made), and under a herd CA the certificate of the server dumped if this host
/// holds its key, else of the first server whose key it holds.
fn dump_seal(config: &Config, target: &str) -> anyhow::Result<Seal> {
    let mut secrets = config.secrets();
    if secrets.is_empty() {
        if let Ok(made) = std::fs::read(config.storage.dir.join(UP_SECRET_FILE)) {
            secrets.push(made);
        }
    }
    let Some(tls) = &config.tls else {
        return Ok(Seal::self_signed(secrets)?);
    };
    let mut names: Vec<&str> = vec![target];
    names.extend(config.names().into_iter().filter(|n| *n != target));
    let mut first_error = None;
    for name in names {
        match herd_server::config::server_material(config, name) {
            Ok((chain, key)) => {
                let material = CaMaterial {
                    roots: tls.roots.clone(),
                    chain,
                    key,
                };
                return Ok(Seal::with_ca(material, secrets)?);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(match first_error {
        Some(e) => anyhow::Error::new(e).context(
            "`herd dump` under a herd CA needs the certificate and key of a server of the herd",
        ),
        None => anyhow::anyhow!("the config has no servers"),
    })
}

/// `herd certs init`: a CA and a certificate per server, and the config section to use.
fn certs_init(config: Option<&Path>, out: &Path) -> anyhow::Result<()> {
    let names = match config {
        Some(path) => Config::names_in(path)?,
        None => Config::builtin()
            .names()
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    certs::init(&names, out)?;
    let dir = out.display();
    println!(
        "wrote {dir}/ca.crt, {dir}/ca.key and a certificate and key for each of {}.\n\
         Give each host ca.crt and its own NAME.crt and NAME.key; keep ca.key off the servers.\n\
         Then add to the config (relative paths are taken from the config file's folder):\n\n\
         [herd.tls]\nca = \"{dir}/ca.crt\"\ncert = \"{dir}/{{name}}.crt\"\nkey = \"{dir}/{{name}}.key\"",
        names.join(", ")
    );
    Ok(())
}

/// `herd repair NAME`: salvages the valid records of a stopped server's damaged store.
async fn repair(name: &str, config: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load_or_builtin(config)?;
    known_server(&config, name)?;
    let dir = config.storage.dir.join(name);
    let report = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || herd_store::repair(&dir)).await??
    };
    println!(
        "{}: kept {} records, dropped {} bytes in {} damaged stretches ({} -> {} bytes){}",
        dir.display(),
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

/// `herd config check FILE`: validates the file and prints the resolved topology.
fn config_check(file: &Path) -> anyhow::Result<()> {
    let config = Config::load(file)?;
    print!("{}", config.describe());
    Ok(())
}

/// `herd config default`: prints the built-in config.
fn config_default() -> anyhow::Result<()> {
    print!("{}", herd_server::config::BUILTIN);
    Ok(())
}

/// `herd places near LAT LNG RADIUS_KM`: asks the built-in offline index, as a table or as
/// WHATSAT's JSON.
fn places_near(lat: f64, lng: f64, radius_km: f64, limit: usize, json: bool) -> anyhow::Result<()> {
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
        std::io::stdout().write_all(&out)?;
    } else {
        let places = provider.index().near(lat, lng, radius_km * 1000.0, limit);
        print!("{}", herd_places::offline::render_table(&places));
    }
    Ok(())
}

/// Raises the open-file limit for the servers `names` runs here; one warning line when
/// their connection budgets do not fit in it.
fn open_files<'a>(config: &Config, names: impl IntoIterator<Item = &'a str>) {
    if let Some(warning) = server::open_files::open_files_for(config, names) {
        tracing::warn!("{warning}");
    }
}

/// The places provider `config` asks for; one that cannot be built is a usage error.
fn places_provider(config: &Config) -> Result<Arc<dyn herd_places::PlacesProvider>, UsageError> {
    herd_places::from_config(&config.places)
        .map_err(|e| UsageError(format!("{}: {e}", config.source)))
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

/// `target` as `IP:PORT`, or as `HOST:PORT` looked up now (the first address); `None` when
/// it is neither.
pub(crate) async fn host_port(target: &str) -> Option<SocketAddr> {
    if let Ok(addr) = target.parse() {
        return Some(addr);
    }
    if !target.contains(':') {
        return None;
    }
    tokio::net::lookup_host(target).await.ok()?.next()
}

/// A server name of the config, or HOST:PORT.
async fn resolve_target(target: &str, config: &Config) -> anyhow::Result<SocketAddr> {
    if let Some(s) = config.server(target) {
        return Ok(s.listen);
    }
    if let Some(addr) = host_port(target).await {
        return Ok(addr);
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
