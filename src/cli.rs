//! The command line: subcommands, arguments and flags, as clap derives them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use clap_complete::Shell;

use crate::logging::LogFormat;

/// An application server herd: peers that flood client locations and answer what is near them.
#[derive(Parser)]
#[command(name = "herd", version, about)]
pub struct Cli {
    /// How diagnostics on stderr are written.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Send lines to a server and print the answers; with no LINE, a prompt on a terminal
    /// (history, Tab completes), else copy stdin like nc.
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
    /// Follow a server's live events (GET /events), one line each, until Ctrl-C.
    Watch {
        /// A server name of the config (its `http`), or the HOST:PORT of an HTTP listener.
        target: String,
        /// Only the locations of this client.
        #[arg(long, conflicts_with = "near")]
        client: Option<String>,
        /// Only the locations within KM kilometres of LAT,LNG, e.g. 34.07,-118.44,10.
        #[arg(long, value_name = "LAT,LNG,KM", allow_hyphen_values = true)]
        near: Option<String>,
        /// Print each event's JSON instead of a line of text.
        #[arg(long)]
        json: bool,
        /// The herd's config file, to resolve server names (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Ask every server of the config (or TARGET) how it is: ready, clients, links.
    /// Exits 1 when a server does not answer.
    Status {
        /// Only this server (a name of the config, or the HOST:PORT of an HTTP listener).
        target: Option<String>,
        /// Print the servers' status JSON, combined.
        #[arg(long)]
        json: bool,
        /// The herd's config file (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
        /// How long to wait for each server.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Print a completion script for SHELL on stdout, e.g.
    /// `herd completions bash > ~/.local/share/bash-completion/completions/herd`.
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Print a server's table (client, origin, time, location) sorted by client.
    Dump {
        /// A server name of the config, or the HOST:PORT of its peer port (`peer`).
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
    /// Make the herd's shared secret.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Make the herd's own CA and a certificate for each server (mutual TLS on the links).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Ask the built-in offline index of world places.
    #[command(subcommand)]
    Places(PlacesCommand),
}

#[derive(Subcommand)]
pub enum PlacesCommand {
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
pub enum SecretCommand {
    /// Print a fresh 256-bit secret (64 hex digits) from the operating system's generator,
    /// for the variable `[herd] secret_env` names: `export HERD_SECRET=$(herd secret gen)`.
    Gen,
}

#[derive(Subcommand)]
pub enum CertsCommand {
    /// Write a new CA (ca.crt, ca.key) and, for each server of the config, NAME.crt and
    /// NAME.key signed by it (keys readable by their owner only); prints the [herd.tls]
    /// section to use. Copy ca.crt and a server's own pair to its host; keep ca.key offline.
    Init {
        /// The herd's config file, for the server names (default: the built-in herd).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The folder to write to (created; files already there are never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file and print the resolved topology.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Print the built-in config.
    Default,
}
