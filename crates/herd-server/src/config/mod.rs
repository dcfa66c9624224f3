//! The herd's configuration: which servers exist, where they listen, who talks with whom, and
//! how each server answers WHATSAT and keeps its files.
//!
//! The file is TOML (see the README for every key). [`Config::parse`] loads it in three steps,
//! one module each:
//! - `read`: the text deserializes into the sections of `sections` (types and spellings);
//! - `env`: the environment variables the file names are looked up, once;
//! - `validate` (with `topology`): ranges, the Google key and the links are checked, and the
//!   links made symmetric; the herd's secret (`secret`) is read and checked, and a herd that
//!   listens beyond loopback without one is refused unless it says `insecure_links = true`.
//!
//! Any step can fail with one [`ConfigError`] naming the file, the line, the field and what
//! was expected (`locate` finds the line of a field that deserialized fine but is wrong).

mod builtin;
mod env;
mod error;
mod locate;
mod reach;
mod read;
mod secret;
mod sections;
mod tls;
mod topology;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;

use env::Env;
use sections::ConfigFile;

pub use builtin::BUILTIN;
pub use error::ConfigError;
pub use herd_places::settings::{PlacesConfig, ProviderKind};
pub use herd_store::Fsync as FsyncPolicy;
pub use reach::Reach;
pub use secret::{fresh_hex, Secret, MIN_SECRET_BYTES};
pub use sections::{BroadcastMode, HerdConfig, OneOrMany, StorageConfig, TlsSection};
pub use tls::{server_material, HerdTls};

/// How far above its client port a server accepts its neighbours' links by default.
pub const PEER_PORT_OFFSET: u16 = 10_000;

/// One server of the herd.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Its name, as it appears in AT lines.
    pub name: String,
    /// Where it listens for clients (only the client protocol is spoken there).
    pub listen: SocketAddr,
    /// Where it accepts links from its neighbours (and `herd dump`), like Redis Cluster's bus
    /// port: by default `listen`'s IP with the port + [`PEER_PORT_OFFSET`].
    pub peer: SocketAddr,
    /// How its neighbours reach its peer port: `address` (an IP or a DNS name, looked up at
    /// every dial), else `peer` itself.
    pub reach: Reach,
    /// The servers it talks with (symmetric: if A names B, B's list has A).
    pub neighbours: Vec<String>,
    /// Where it serves HTTP (health, metrics, the JSON API and the dashboard); none when
    /// `http` is left out.
    pub http: Option<SocketAddr>,
    /// Its certificate file under the herd CA (`[herd.tls]` only).
    pub cert: Option<std::path::PathBuf>,
    /// Its private key file under the herd CA (`[herd.tls]` only).
    pub key: Option<std::path::PathBuf>,
}

/// A whole herd, checked and resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it came from, for messages (`<built-in>` for the default).
    pub source: String,
    /// How WHATSAT is answered.
    pub places: PlacesConfig,
    /// Where and how servers keep their files.
    pub storage: StorageConfig,
    /// What all servers share.
    pub herd: HerdConfig,
    /// The shared secret servers prove to each other, read from the variable
    /// `herd.secret_env` names when the config was loaded; `None` when none is named (then
    /// every server listens on loopback only, or `herd.insecure_links` is set).
    pub secret: Option<Secret>,
    /// The secret being replaced (`herd.previous_secret_env`): accepted, not offered first.
    pub previous_secret: Option<Secret>,
    /// The bearer token HTTP writes need (`herd.api_token_env`); `None`: the API is
    /// read-only.
    pub api_token: Option<Secret>,
    /// The herd CA, when `[herd.tls]` is set: its certificates, loaded.
    pub tls: Option<HerdTls>,
    /// The servers, in file order.
    pub servers: Vec<ServerConfig>,
}

impl Config {
    /// The secrets servers prove, current first.
    pub fn secrets(&self) -> Vec<Vec<u8>> {
        [&self.secret, &self.previous_secret]
            .into_iter()
            .flatten()
            .map(|s| s.bytes().to_vec())
            .collect()
    }

    /// The built-in herd (see [`BUILTIN`]).
    pub fn builtin() -> Config {
        Config::parse(BUILTIN, "<built-in>").expect("the built-in config is valid")
    }

    /// Reads and checks a config file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, the field and the problem when the file cannot be
    /// read, is not valid TOML of the expected shape, or describes a broken herd.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&file, "(file)", format!("cannot read it: {e}")))?;
        Config::parse(&text, &file)
    }

    /// The built-in herd when `path` is `None`, else the file.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_or_builtin(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Config::load(p),
            None => Ok(Config::builtin()),
        }
    }

    /// Parses and checks config text; `file` names it in errors.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        parse_in(text, file, Env::read)
    }

    /// The names of the servers in the file at `path`, checked only as far as the topology:
    /// what `herd certs init` needs before the certificates the file names exist.
    ///
    /// # Errors
    /// As [`Config::load`], for the file's shape and its `[[servers]]`.
    pub fn names_in(path: &Path) -> Result<Vec<String>, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&file, "(file)", format!("cannot read it: {e}")))?;
        let written = read::read(&text, &file)?;
        let servers = topology::resolve(&written.servers, &file).map_err(|mut e| {
            e.line = locate::line_of(&text, &e.field);
            e
        })?;
        Ok(servers.into_iter().map(|s| s.name).collect())
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The names of all servers, for messages.
    pub fn names(&self) -> Vec<&str> {
        self.servers.iter().map(|s| s.name.as_str()).collect()
    }

    /// Hop counts from `from` to every server it can reach (itself at 0).
    pub fn hops_from(&self, from: &str) -> HashMap<String, usize> {
        let mut hops = HashMap::new();
        let mut queue = VecDeque::new();
        hops.insert(from.to_string(), 0);
        queue.push_back(from.to_string());
        while let Some(name) = queue.pop_front() {
            let d = hops[&name];
            if let Some(server) = self.server(&name) {
                for n in &server.neighbours {
                    if !hops.contains_key(n) {
                        hops.insert(n.clone(), d + 1);
                        queue.push_back(n.clone());
                    }
                }
            }
        }
        hops
    }

    /// What authenticates the links, in words.
    pub fn link_credentials(&self) -> String {
        let secret = match (&self.secret, &self.previous_secret) {
            (Some(_), Some(_)) => Some("the shared secret (and the previous one)"),
            (Some(_), None) => Some("the shared secret"),
            _ => None,
        };
        match (&self.tls, secret) {
            (Some(tls), s) => format!(
                "certificates of the herd CA ({} CA certificate(s)){}",
                tls.roots.len(),
                s.map(|s| format!(" and {s}")).unwrap_or_default()
            ),
            (None, Some(s)) => s.to_string(),
            (None, None) if self.herd.insecure_links => {
                "not authenticated (insecure_links = true)".to_string()
            }
            (None, None) => "not authenticated (loopback only)".to_string(),
        }
    }

    /// A human-readable description of the resolved herd.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "herd from {}: {} servers, places provider {}, storage {} (fsync {:?})\n",
            self.source,
            self.servers.len(),
            provider_name(self.places.provider),
            self.storage.dir.display(),
            self.storage.fsync,
        );
        out.push_str(&format!("  links: TLS 1.3, {}\n", self.link_credentials()));
        for s in &self.servers {
            let peer = match &s.reach {
                Reach::Addr(addr) if *addr == s.peer => s.peer.to_string(),
                reach => format!("{} reached at {reach}", s.peer),
            };
            let http = s.http.map(|a| format!(", http on {a}")).unwrap_or_default();
            out.push_str(&format!(
                "  {:<12} {:<22} peers on {:<22} talks with {}{http}\n",
                s.name,
                s.listen,
                peer,
                s.neighbours.join(", ")
            ));
        }
        out
    }
}

/// [`Config::parse`] with the environment that `env` finds for the file (tests give their own).
fn parse_in(
    text: &str,
    file: &str,
    env: impl FnOnce(&ConfigFile) -> Env,
) -> Result<Config, ConfigError> {
    let written = read::read(text, file)?;
    let env = env(&written);
    validate::validate(written, &env, file).map_err(|mut e| {
        e.line = locate::line_of(text, &e.field);
        e
    })
}

/// The config spelling of a provider kind.
pub fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Offline => "offline",
        ProviderKind::Google => "google",
        ProviderKind::GoogleLegacy => "google-legacy",
    }
}
