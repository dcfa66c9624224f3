//! Step three of loading: what deserialized fine is checked to make a working herd (ranges,
//! the Google key, the topology, the secret) and resolved into a [`Config`].

use std::net::SocketAddr;
use std::time::Duration;

use super::env::Env;
use super::sections::{ConfigFile, HerdConfig, StorageConfig};
use super::tls;
use super::{
    provider_name, topology, Config, ConfigError, PlacesConfig, ProviderKind, Secret, ServerConfig,
    MIN_SECRET_BYTES,
};

/// Checks `written` against the environment `env` found; `file` names it in errors.
///
/// # Errors
/// A [`ConfigError`] for the first field that does not make a working herd (its line is left
/// for the caller, who has the text, to fill in).
pub(crate) fn validate(written: ConfigFile, env: &Env, file: &str) -> Result<Config, ConfigError> {
    let places = places(written.places, env, file)?;
    herd(&written.herd, file)?;
    storage(&written.storage, file)?;
    let mut servers = topology::resolve(&written.servers, file)?;
    let secret = secret_of(
        &written.herd.secret_env,
        "herd.secret_env",
        &env.secret,
        file,
    )?;
    // Unset is fine: a server that has moved over (or not yet begun to) holds one secret.
    let previous_secret = match &env.previous_secret {
        None => None,
        Some(_) => secret_of(
            &written.herd.previous_secret_env,
            "herd.previous_secret_env",
            &env.previous_secret,
            file,
        )?,
    };
    if previous_secret.is_some() && secret.is_none() {
        return Err(ConfigError::new(
            file,
            "herd.previous_secret_env",
            "a previous secret needs a current one in [herd] secret_env",
        ));
    }
    let api_token = secret_of(
        &written.herd.api_token_env,
        "herd.api_token_env",
        &env.api_token,
        file,
    )?;
    let tls = match &written.herd.tls {
        Some(section) => Some(tls::resolve(section, &written.servers, &mut servers, file)?),
        None => None,
    };
    if secret.is_none() && tls.is_none() && !written.herd.insecure_links {
        loopback_only(&servers, file)?;
    }
    Ok(Config {
        source: file.to_owned(),
        places,
        storage: written.storage,
        herd: written.herd,
        secret,
        previous_secret,
        api_token,
        tls,
        servers,
    })
}

/// What `herd secret gen` is for, said in every message about a missing or weak secret.
const GEN_HINT: &str = "`herd secret gen` prints a fresh 256-bit one";

/// The secret in the variable `[herd] secret_env` names, if it names one: set, not empty,
/// and at least [`MIN_SECRET_BYTES`] long. A variable named but unusable stops the herd
/// rather than leaving its links open.
fn secret_of(
    var: &Option<String>,
    field: &str,
    value: &Option<Vec<u8>>,
    file: &str,
) -> Result<Option<Secret>, ConfigError> {
    let Some(var) = var else {
        return Ok(None);
    };
    let (lack, guessed) = if field == "herd.api_token_env" {
        ("HTTP writes have no token to check", "it could be guessed")
    } else {
        (
            "the servers have no secret to prove",
            "it could be guessed from one handshake",
        )
    };
    match value {
        None => Err(ConfigError::new(
            file,
            field,
            format!("the environment variable {var} is not set, so {lack} ({GEN_HINT})"),
        )),
        Some(bytes) if bytes.is_empty() => Err(ConfigError::new(
            file,
            field,
            format!("the environment variable {var} is empty, so {lack} ({GEN_HINT})"),
        )),
        Some(bytes) if bytes.len() < MIN_SECRET_BYTES => Err(ConfigError::new(
            file,
            field,
            format!(
                "the secret in {var} is {} bytes, fewer than {MIN_SECRET_BYTES}: {guessed} ({GEN_HINT})",
                bytes.len()
            ),
        )),
        Some(bytes) => Ok(Some(Secret::new(bytes.clone()))),
    }
}

/// With no secret, every server must listen (for clients and for links) on loopback only:
/// beyond it, anyone who reaches the peer port could join the herd under a neighbour's name
/// (names are public: every AT line carries one).
fn loopback_only(servers: &[ServerConfig], file: &str) -> Result<(), ConfigError> {
    let loopback = |a: &SocketAddr| a.ip().to_canonical().is_loopback();
    for (i, s) in servers.iter().enumerate() {
        for (field, addr) in [("listen", &s.listen), ("peer", &s.peer)] {
            if !loopback(addr) {
                return Err(ConfigError::new(
                    file,
                    format!("servers[{i}].{field}"),
                    format!(
                        "{addr} is beyond loopback and the herd has no secret: anyone who reaches it could join the herd; set [herd] secret_env ({GEN_HINT}) or a herd CA in [herd.tls] (`herd certs init`), or insecure_links = true to run without one"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `[places]`: an http(s) base URL (kept without a trailing `/`), limits of at least 1, and
/// the key a Google provider needs.
fn places(mut places: PlacesConfig, env: &Env, file: &str) -> Result<PlacesConfig, ConfigError> {
    if let Some(url) = &places.base_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::new(
                file,
                "places.base_url",
                format!("\"{url}\" is not an http:// or https:// address"),
            ));
        }
        places.base_url = Some(url.trim_end_matches('/').to_owned());
    }
    at_least_one(file, "places.cache_capacity", places.cache_capacity)?;
    at_least_one(file, "places.max_concurrent", places.max_concurrent as u64)?;
    at_least_one(file, "places.rate_per_sec", u64::from(places.rate_per_sec))?;
    if places.provider != ProviderKind::Offline && !env.api_key_set {
        return Err(ConfigError::new(
            file,
            "places.api_key_env",
            format!(
                "the {:?} provider needs a Google API key, but the environment variable {} is not set",
                provider_name(places.provider),
                places.api_key_env
            ),
        ));
    }
    Ok(places)
}

/// `[herd]`: room for a protocol line, at least one client connection, one byte of client
/// ID and one client, some room for clients' clocks, room for answers and deadlines that are
/// not 0.
fn herd(herd: &HerdConfig, file: &str) -> Result<(), ConfigError> {
    if herd.max_line < 64 {
        return Err(ConfigError::new(
            file,
            "herd.max_line",
            format!("{} is too small (at least 64 bytes)", herd.max_line),
        ));
    }
    at_least_one(file, "herd.max_connections", herd.max_connections as u64)?;
    at_least_one(file, "herd.max_client_id", herd.max_client_id as u64)?;
    at_least_one(file, "herd.max_clients", herd.max_clients as u64)?;
    within(
        file,
        "herd.client_output_limit",
        herd.client_output_limit as u64,
        CLIENT_OUTPUT_LIMIT,
        " bytes",
    )?;
    within(
        file,
        "herd.link_outbox_bytes",
        herd.link_outbox_bytes as u64,
        LINK_OUTBOX_BYTES,
        " bytes",
    )?;
    if herd.client_write_timeout.is_zero() {
        return Err(ConfigError::new(
            file,
            "herd.client_write_timeout",
            "must be more than 0s (a socket never takes a large answer at once)",
        ));
    }
    if herd.client_idle_timeout.is_some_and(|t| t.is_zero()) {
        return Err(ConfigError::new(
            file,
            "herd.client_idle_timeout",
            "must be more than 0s (leave it out for no idle timeout)",
        ));
    }
    if !(GRAFT_AFTER.0..=GRAFT_AFTER.1).contains(&herd.graft_after) {
        return Err(ConfigError::new(
            file,
            "herd.graft_after",
            format!(
                "{} is out of range (1ms to 10s: a record announced and missing is asked for after it)",
                humantime::format_duration(herd.graft_after)
            ),
        ));
    }
    if herd.max_clock_ahead.is_zero() {
        return Err(ConfigError::new(
            file,
            "herd.max_clock_ahead",
            "must be more than 0s (a client's clock is never exactly the server's)",
        ));
    }
    Ok(())
}

/// The range of `herd.client_output_limit`: room for a few whole answers (a WHATSAT answer
/// of 20 places is some 15 KiB), at most 1 GiB of memory per client.
const CLIENT_OUTPUT_LIMIT: (u64, u64) = (64 * 1024, 1024 * 1024 * 1024);

/// The range of `herd.graft_after`: longer than a link's delay, short enough that a broken
/// tree is repaired before anyone notices.
const GRAFT_AFTER: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(10));

/// The range of `herd.link_outbox_bytes`: room for a burst of records (one is at most a
/// client line, 64 KiB by default), at most 4 GiB of memory per link.
const LINK_OUTBOX_BYTES: (u64, u64) = (1024 * 1024, 4 * 1024 * 1024 * 1024);

/// The range of `storage.log_queue_bytes`: room for a burst of lines, at most 1 GiB of memory.
const LOG_QUEUE_BYTES: (u64, u64) = (64 * 1024, 1024 * 1024 * 1024);
/// The range of `storage.log_max_bytes`: a file holds a good many lines.
const LOG_MAX_BYTES: (u64, u64) = (4096, u64::MAX);
/// The range of `storage.log_keep`: each rotation renames every file kept.
const LOG_KEEP: (u64, u64) = (0, 100);

/// `[storage]`: I/O log limits that leave room for lines and do not run away.
fn storage(storage: &StorageConfig, file: &str) -> Result<(), ConfigError> {
    within(
        file,
        "storage.log_queue_bytes",
        storage.log_queue_bytes as u64,
        LOG_QUEUE_BYTES,
        " bytes",
    )?;
    within(
        file,
        "storage.log_max_bytes",
        storage.log_max_bytes,
        LOG_MAX_BYTES,
        " bytes",
    )?;
    within(
        file,
        "storage.log_keep",
        storage.log_keep as u64,
        LOG_KEEP,
        " files",
    )
}

/// A value that must lie in `least..=most`.
fn within(
    file: &str,
    field: &str,
    value: u64,
    (least, most): (u64, u64),
    unit: &str,
) -> Result<(), ConfigError> {
    if value < least {
        return Err(ConfigError::new(
            file,
            field,
            format!("{value} is too small (at least {least}{unit})"),
        ));
    }
    if value > most {
        return Err(ConfigError::new(
            file,
            field,
            format!("{value} is too large (at most {most}{unit})"),
        ));
    }
    Ok(())
}

/// A count that must not be 0.
fn at_least_one(file: &str, field: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(file, field, "must be at least 1"));
    }
    Ok(())
}
