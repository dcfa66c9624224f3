//! The file's shape: each section deserializes straight into its struct, and a key left out
//! keeps the value of the struct's `Default`. `[places]` is herd-places' [`PlacesConfig`].
//!
//! Deserializing checks only types and spellings; ranges and the topology are checked after
//! (see `validate`), so that every check has one place.

use std::path::PathBuf;
use std::time::Duration;

use herd_core::replica::{Broadcast, Limits};
use serde::Deserialize;

use super::{FsyncPolicy, PlacesConfig};

/// The whole file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// `[places]`: how WHATSAT is answered.
    pub places: PlacesConfig,
    /// `[storage]`: where and how servers keep their files.
    pub storage: StorageConfig,
    /// `[herd]`: what all servers share.
    pub herd: HerdConfig,
    /// `[[servers]]`, in file order, links as written (one side may name a link).
    pub servers: Vec<ServerEntry>,
}

/// The `[storage]` section, resolved.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Server NAME keeps all its files under `dir/NAME/`.
    pub dir: PathBuf,
    /// How hard the location store syncs.
    pub fsync: FsyncPolicy,
    /// Clients whose newest client time is older than this are forgotten.
    #[serde(with = "humantime_serde")]
    pub forget_after: Option<Duration>,
    /// Bytes of I/O log entries that may wait for a slow disk; more are dropped and counted.
    pub log_queue_bytes: usize,
    /// The size at which `herd.log` is rotated, in bytes.
    pub log_max_bytes: u64,
    /// How many rotated logs are kept (`herd.log.1` .. `herd.log.N`).
    pub log_keep: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            dir: PathBuf::from("herd-data"),
            fsync: FsyncPolicy::Batch,
            forget_after: None,
            log_queue_bytes: 64 * 1024 * 1024,
            log_max_bytes: 64 * 1024 * 1024,
            log_keep: 3,
        }
    }
}

/// The `[herd]` section, resolved: what all servers share.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HerdConfig {
    /// The environment variable holding the shared secret that servers prove to each other
    /// (at least [`MIN_SECRET_BYTES`](super::MIN_SECRET_BYTES) bytes).
    pub secret_env: Option<String>,
    /// The environment variable holding the secret being replaced, accepted (never offered
    /// first) while a new `secret_env` rolls through the herd.
    pub previous_secret_env: Option<String>,
    /// The environment variable holding the bearer token that HTTP writes need
    /// (`DELETE /api/clients/{id}`, at least 32 bytes); without it the HTTP API is read-only.
    pub api_token_env: Option<String>,
    /// `[herd.tls]`: the herd's own CA, for mutual TLS with certificates that name servers.
    pub tls: Option<TlsSection>,
    /// Whether servers may listen beyond loopback with no secret, accepting any connection
    /// that names a neighbour as that neighbour: only ever set on purpose (a warning at every
    /// link-up says so).
    pub insecure_links: bool,
    /// Whether neighbours trade missed records when a link comes (back) up.
    pub catch_up: bool,
    /// The longest line a client may send, in bytes.
    pub max_line: usize,
    /// How many client connections one server holds at most.
    pub max_connections: usize,
    /// How far ahead of the receiving server's clock a client's time may be: one report from
    /// a clock far in the future would otherwise win newer-wins against every later one.
    #[serde(with = "humantime_serde")]
    pub max_clock_ahead: Duration,
    /// The longest client ID, in bytes.
    pub max_client_id: usize,
    /// How many clients one server's table holds at most, so that its memory and its store
    /// stay bounded whatever clients send.
    pub max_clients: usize,
    /// How long a client with answers pending may accept nothing on its socket before it is
    /// disconnected: a client that stops reading must not hold a task and its answers forever.
    #[serde(with = "humantime_serde")]
    pub client_write_timeout: Duration,
    /// How many bytes of answers the socket has not taken yet a client may have before it is
    /// disconnected (like Redis's client-output-buffer-limit).
    pub client_output_limit: usize,
    /// How long a client may send nothing before it is disconnected; none by default, since
    /// the classic clients keep their connections open.
    #[serde(with = "humantime_serde")]
    pub client_idle_timeout: Option<Duration>,
    /// How long a stopping server lets its connections finish what they are answering before
    /// it closes them.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How many bytes of records may wait for one neighbour; a record beyond is refused,
    /// counted, and sent by a catch-up round once the link has sent what waited.
    pub link_outbox_bytes: usize,
    /// How a record that won goes on to the neighbours: `"flood"` (whole, to every neighbour
    /// but the one it came by) or `"tree"` (whole along a spanning tree, announced on the
    /// other links, which repair the tree when it breaks; see ALGORITHM.md).
    pub broadcast: BroadcastMode,
    /// With `broadcast = "tree"`: how long a record a neighbour announced may be missing
    /// before this server asks that neighbour for it (and takes records whole from it).
    #[serde(with = "humantime_serde")]
    pub graft_after: Duration,
}

/// `[herd] broadcast`: how records go on to the neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastMode {
    /// Whole, over every link but the one a record came by.
    #[default]
    Flood,
    /// Whole along a spanning tree, announced elsewhere (in the spirit of Plumtree).
    Tree,
}

impl Default for HerdConfig {
    fn default() -> Self {
        HerdConfig {
            secret_env: None,
            previous_secret_env: None,
            api_token_env: None,
            tls: None,
            insecure_links: false,
            catch_up: true,
            max_line: 64 * 1024,
            max_connections: 16_384,
            max_clock_ahead: Duration::from_secs(24 * 3600),
            max_client_id: 256,
            // About half a GB of table (460 bytes a client with typical fields, measured).
            max_clients: 1_000_000,
            client_write_timeout: Duration::from_secs(30),
            client_output_limit: 16 * 1024 * 1024,
            client_idle_timeout: None,
            shutdown_grace: Duration::from_secs(5),
            // Some 300,000 waiting records of typical size (about 200 bytes, with the entry).
            link_outbox_bytes: 64 * 1024 * 1024,
            broadcast: BroadcastMode::Flood,
            graft_after: herd_core::replica::DEFAULT_GRAFT_AFTER,
        }
    }
}

impl HerdConfig {
    /// How the replica sends records on, as configured.
    pub fn broadcast(&self) -> Broadcast {
        match self.broadcast {
            BroadcastMode::Flood => Broadcast::Flood,
            BroadcastMode::Tree => Broadcast::Tree,
        }
    }

    /// What every server takes at most from clients and neighbours.
    pub fn limits(&self) -> Limits {
        Limits {
            max_clock_ahead: Some(self.max_clock_ahead),
            max_client_id: self.max_client_id,
            max_clients: self.max_clients,
        }
    }
}

/// The `[herd.tls]` section as written: the CA certificates trusted and where each server's
/// certificate and key are (`{name}` stands for the server's name).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// One PEM file (which may hold several CA certificates), or a list of them.
    pub ca: OneOrMany,
    /// Each server's certificate (PEM, the server's first, then any intermediates).
    #[serde(default)]
    pub cert: Option<String>,
    /// Each server's private key (PEM).
    #[serde(default)]
    pub key: Option<String>,
}

/// A path or a list of paths.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One path.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// One `[[servers]]` entry as written; `validate` turns it into a
/// [`ServerConfig`](super::ServerConfig).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerEntry {
    /// Its name, checked to be one word.
    pub name: String,
    /// Its address, parsed when validated so that the message can say what is expected.
    pub listen: String,
    /// Where it accepts links from its neighbours; by default `listen`'s IP, port + 10000.
    #[serde(default)]
    pub peer: Option<String>,
    /// How neighbours reach its peer port (`HOST` or `HOST:PORT`); by default `peer` itself.
    #[serde(default)]
    pub address: Option<String>,
    /// The servers it names as neighbours (the other side need not name it back).
    #[serde(default)]
    pub neighbours: Vec<String>,
    /// Where it serves HTTP (health, metrics, the JSON API, the dashboard), if anywhere.
    #[serde(default)]
    pub http: Option<String>,
    /// Its certificate, instead of `[herd.tls] cert`.
    #[serde(default)]
    pub cert: Option<String>,
    /// Its key, instead of `[herd.tls] key`.
    #[serde(default)]
    pub key: Option<String>,
}
