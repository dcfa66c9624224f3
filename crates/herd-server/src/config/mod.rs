//! The herd's configuration: which servers exist, where they listen, who talks with whom, and
//! how each server answers WHATSAT and keeps its files.
//!
//! The file is TOML (see the README for every key). Loading resolves it into a [`Config`]
//! whose links are symmetric and checked: a bad file gives one [`ConfigError`] that names the
//! file, the field and what was expected.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The built-in herd: the 2023 topology of PROTOCOL.md on 127.0.0.1:10000-10004.
pub const BUILTIN: &str = r#"# The built-in herd: the 2023 topology of the classic assignment.
[places]
provider = "offline"                  # "offline" | "google" | "google-legacy"

[storage]
dir = "herd-data"
fsync = "batch"

[[servers]]
name = "Bailey"
listen = "127.0.0.1:10000"
neighbours = ["Bona", "Campbell"]

[[servers]]
name = "Bona"
listen = "127.0.0.1:10001"
neighbours = ["Bailey", "Campbell", "Clark"]

[[servers]]
name = "Campbell"
listen = "127.0.0.1:10002"
neighbours = ["Bailey", "Bona", "Jaquez"]

[[servers]]
name = "Clark"
listen = "127.0.0.1:10003"
neighbours = ["Bona", "Jaquez"]

[[servers]]
name = "Jaquez"
listen = "127.0.0.1:10004"
neighbours = ["Campbell", "Clark"]
"#;

/// A config that could not be read or does not describe a working herd.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {problem}")]
pub struct ConfigError {
    /// The file it came from (`<built-in>` for the default).
    pub file: String,
    /// The field at fault, e.g. `servers[2].neighbours`.
    pub field: String,
    /// What was wrong and what was expected.
    pub problem: String,
}

pub use herd_places::settings::{PlacesConfig, ProviderKind};
pub use herd_store::Fsync as FsyncPolicy;

/// The `[storage]` section, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// Server NAME keeps all its files under `dir/NAME/`.
    pub dir: PathBuf,
    /// How hard the location store syncs.
    pub fsync: FsyncPolicy,
    /// Clients whose newest client time is older than this are forgotten.
    pub forget_after: Option<Duration>,
}

/// The `[herd]` section, resolved: what all servers share.
#[derive(Debug, Clone, PartialEq)]
pub struct HerdConfig {
    /// The environment variable holding the shared secret that servers prove to each other.
    pub secret_env: Option<String>,
    /// Whether neighbours trade missed records when a link comes (back) up.
    pub catch_up: bool,
    /// The longest line a client may send, in bytes.
    pub max_line: usize,
    /// How many client connections one server holds at most.
    pub max_connections: usize,
}

/// One server of the herd.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Its name, as it appears in AT lines.
    pub name: String,
    /// Where it listens, for clients and for its neighbours alike.
    pub listen: SocketAddr,
    /// The servers it talks with (symmetric: if A names B, B's list has A).
    pub neighbours: Vec<String>,
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
    /// The servers, in file order.
    pub servers: Vec<ServerConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    places: RawPlaces,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    herd: RawHerd,
    #[serde(default)]
    servers: Vec<RawServer>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPlaces {
    provider: Option<String>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    timeout: Option<String>,
    cache_ttl: Option<String>,
    cache_capacity: Option<u64>,
    max_concurrent: Option<usize>,
    rate_per_sec: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    dir: Option<PathBuf>,
    fsync: Option<String>,
    forget_after: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHerd {
    secret_env: Option<String>,
    catch_up: Option<bool>,
    max_line: Option<usize>,
    max_connections: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: String,
    listen: String,
    #[serde(default)]
    neighbours: Vec<String>,
}

impl Config {
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
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            field: "(file)".into(),
            problem: format!("cannot read it: {e}"),
        })?;
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
        let err = |field: &str, problem: String| ConfigError {
            file: file.to_string(),
            field: field.to_string(),
            problem,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (field, problem) = describe_toml_error(&e, text);
            err(&field, problem)
        })?;

        let provider = match raw.places.provider.as_deref().unwrap_or("offline") {
            "offline" => ProviderKind::Offline,
            "google" => ProviderKind::Google,
            "google-legacy" => ProviderKind::GoogleLegacy,
            other => {
                return Err(err(
                    "places.provider",
                    format!(
                        "unknown provider \"{other}\" (expected \"offline\", \"google\" or \"google-legacy\")"
                    ),
                ))
            }
        };
        if let Some(url) = &raw.places.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(err(
                    "places.base_url",
                    format!("\"{url}\" is not an http:// or https:// address"),
                ));
            }
        }
        let duration = |field: &str, value: &Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(text) => humantime::parse_duration(text).map_err(|e| {
                err(
                    field,
                    format!("\"{text}\" is not a duration like \"5s\" or \"24h\" ({e})"),
                )
            }),
        };
        let positive = |field: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(err(field, "must be at least 1".into())),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let places = PlacesConfig {
            provider,
            base_url: raw
                .places
                .base_url
                .map(|u| u.trim_end_matches('/').to_string()),
            api_key_env: raw
                .places
                .api_key_env
                .unwrap_or_else(|| "GOOGLE_PLACES_API_KEY".into()),
            timeout: duration(
                "places.timeout",
                &raw.places.timeout,
                Duration::from_secs(5),
            )?,
            cache_ttl: duration(
                "places.cache_ttl",
                &raw.places.cache_ttl,
                Duration::from_secs(300),
            )?,
            cache_capacity: positive("places.cache_capacity", raw.places.cache_capacity, 10_000)?,
            max_concurrent: positive(
                "places.max_concurrent",
                raw.places.max_concurrent.map(|v| v as u64),
                64,
            )? as usize,
            rate_per_sec: positive(
                "places.rate_per_sec",
                raw.places.rate_per_sec.map(u64::from),
                50,
            )? as u32,
        };
        if places.provider != ProviderKind::Offline
            && std::env::var_os(&places.api_key_env).is_none()
        {
            return Err(err(
                "places.api_key_env",
                format!(
                    "the {:?} provider needs a Google API key, but the environment variable {} is not set",
                    provider_name(places.provider),
                    places.api_key_env
                ),
            ));
        }

        let fsync = match raw.storage.fsync.as_deref().unwrap_or("batch") {
            "always" => FsyncPolicy::Always,
            "batch" => FsyncPolicy::Batch,
            "never" => FsyncPolicy::Never,
            other => {
                return Err(err(
                    "storage.fsync",
                    format!(
                        "unknown policy \"{other}\" (expected \"always\", \"batch\" or \"never\")"
                    ),
                ))
            }
        };
        let forget_after = match &raw.storage.forget_after {
            None => None,
            Some(_) => Some(duration(
                "storage.forget_after",
                &raw.storage.forget_after,
                Duration::ZERO,
            )?),
        };
        let storage = StorageConfig {
            dir: raw
                .storage
                .dir
                .unwrap_or_else(|| PathBuf::from("herd-data")),
            fsync,
            forget_after,
        };

        let max_line = raw.herd.max_line.unwrap_or(64 * 1024);
        if max_line < 64 {
            return Err(err(
                "herd.max_line",
                format!("{max_line} is too small (at least 64 bytes)"),
            ));
        }
        let herd = HerdConfig {
            secret_env: raw.herd.secret_env,
            catch_up: raw.herd.catch_up.unwrap_or(true),
            max_line,
            max_connections: positive(
                "herd.max_connections",
                raw.herd.max_connections.map(|v| v as u64),
                16_384,
            )? as usize,
        };

        let servers = resolve_servers(&raw.servers, &err)?;
        Ok(Config {
            source: file.to_string(),
            places,
            storage,
            herd,
            servers,
        })
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
        for s in &self.servers {
            out.push_str(&format!(
                "  {:<12} {:<22} talks with {}\n",
                s.name,
                s.listen,
                s.neighbours.join(", ")
            ));
        }
        out
    }
}

/// The config spelling of a provider kind.
pub fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Offline => "offline",
        ProviderKind::Google => "google",
        ProviderKind::GoogleLegacy => "google-legacy",
    }
}

fn resolve_servers(
    raw: &[RawServer],
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<ServerConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(err("servers", "no [[servers]] are defined".into()));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut addrs: HashMap<SocketAddr, usize> = HashMap::new();
    let mut servers = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let field = |f: &str| format!("servers[{i}].{f}");
        if s.name.is_empty()
            || s.name.starts_with('*')
            || s.name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '=')
        {
            return Err(err(
                &field("name"),
                format!(
                    "\"{}\" is not a name (one word: no white space, no '=', not starting with '*')",
                    s.name
                ),
            ));
        }
        if let Some(j) = index.insert(&s.name, i) {
            return Err(err(
                &field("name"),
                format!("duplicate name \"{}\" (also servers[{j}])", s.name),
            ));
        }
        let listen: SocketAddr = s.listen.parse().map_err(|_| {
            err(
                &field("listen"),
                format!("\"{}\" is not an address like 127.0.0.1:10000", s.listen),
            )
        })?;
        if let Some(j) = addrs.insert(listen, i) {
            return Err(err(
                &field("listen"),
                format!("duplicate address {listen} (also servers[{j}])"),
            ));
        }
        servers.push(ServerConfig {
            name: s.name.clone(),
            listen,
            neighbours: Vec::new(),
        });
    }
    let mut links: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in raw.iter().enumerate() {
        for n in &s.neighbours {
            let field = format!("servers[{i}].neighbours");
            let Some(&j) = index.get(n.as_str()) else {
                return Err(err(
                    &field,
                    format!(
                        "unknown server \"{n}\" (known: {})",
                        raw.iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            if i == j {
                return Err(err(&field, format!("\"{n}\" cannot talk with itself")));
            }
            for (a, b) in [(i, j), (j, i)] {
                let list = links.entry(a).or_default();
                if !list.contains(&b) {
                    list.push(b);
                }
            }
        }
    }
    for (i, list) in links {
        let mut names: Vec<String> = list.iter().map(|&j| servers[j].name.clone()).collect();
        names.sort();
        servers[i].neighbours = names;
    }
    Ok(servers)
}

/// Turns a TOML/serde error into (field, problem).
fn describe_toml_error(e: &toml::de::Error, text: &str) -> (String, String) {
    let message = e.message().trim().to_string();
    let field = match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => "(file)".to_string(),
    };
    (field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_2023_topology() {
        let c = Config::builtin();
        assert_eq!(c.names(), ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"]);
        assert_eq!(c.server("Clark").unwrap().neighbours, ["Bona", "Jaquez"]);
        assert_eq!(c.server("Bailey").unwrap().listen.port(), 10000);
        assert_eq!(c.hops_from("Bailey")["Jaquez"], 2);
        assert_eq!(c.hops_from("Bailey")["Clark"], 2);
        assert_eq!(c.places.provider, ProviderKind::Offline);
    }

    #[test]
    fn links_named_on_one_side_are_symmetric() {
        let c = Config::parse(
            "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\nneighbours=['B']\n[[servers]]\nname='B'\nlisten='127.0.0.1:2'\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.server("B").unwrap().neighbours, ["A"]);
    }

    fn problem(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn bad_configs_name_file_field_and_problem() {
        let two = "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n";
        assert_eq!(
            problem(&format!("{two}neighbours=['Z']\n")),
            "t.toml: servers[0].neighbours: unknown server \"Z\" (known: A)"
        );
        assert!(problem(&format!("{two}neighbours=['A']\n"))
            .contains("servers[0].neighbours: \"A\" cannot talk with itself"));
        assert!(problem(&format!("{two}{two}")).contains("servers[1].name: duplicate name"));
        assert!(problem(&format!(
            "{two}[[servers]]\nname='B'\nlisten='127.0.0.1:1'\n"
        ))
        .contains("servers[1].listen: duplicate address"));
        assert!(problem("[[servers]]\nname='A'\nlisten='nowhere'\n")
            .contains("servers[0].listen: \"nowhere\" is not an address"));
        assert!(problem(&format!("[places]\nprovider='bing'\n{two}"))
            .contains("places.provider: unknown provider \"bing\""));
        assert!(problem(&format!("[places]\nprovider='google'\napi_key_env='HERD_TEST_SURELY_UNSET'\n{two}"))
            .contains("places.api_key_env: the \"google\" provider needs a Google API key, but the environment variable HERD_TEST_SURELY_UNSET is not set"));
        assert!(problem(&format!("[storage]\nfsync='sometimes'\n{two}")).contains("storage.fsync"));
        assert!(problem("").contains("servers: no [[servers]]"));
        assert!(problem("[[servers]]\nname='A'\n").starts_with("t.toml: "));
    }
}
