//! Places providers: what WHATSAT asks about the area around a client.
//!
//! Every provider answers in the shape of Google Places' Nearby Search (legacy) response: a JSON
//! object with `html_attributions`, `results` and `status` (and `error_message` on failure). The
//! server cuts `results` to the client's bound and renders the JSON; providers never fail with a
//! Rust error, they answer the failure shape instead, so a broken upstream can never stall or
//! drop a client connection.

pub mod google;
pub mod google_legacy;
pub mod google_settings;
pub mod offline;
pub mod settings;
pub mod upstream;
pub mod upstream_counters;
pub mod upstream_limits;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{json, Value};

/// What a WHATSAT asks: a circle around a client's last position and how many results to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyQuery {
    /// Latitude of the centre, decimal degrees in [-90, 90].
    pub lat: f64,
    /// Longitude of the centre, decimal degrees in [-180, 180].
    pub lng: f64,
    /// Radius in metres (the wire speaks kilometres; providers speak metres like Google).
    pub radius_m: f64,
    /// Upper bound on the number of results the client wants (1..=20).
    pub bound: usize,
}

/// A boxed future, so providers can sit behind `dyn PlacesProvider`.
pub type PlacesFuture<'a> = Pin<Box<dyn Future<Output = Value> + Send + 'a>>;

/// A source of places around a point.
pub trait PlacesProvider: Send + Sync + 'static {
    /// A short name for logs and cache keys (`offline`, `google`, `google-legacy`).
    fn name(&self) -> &'static str;

    /// Answers `query` with a Nearby Search shaped JSON object. It may hold more than
    /// `query.bound` results (the caller cuts them); on failure it holds `"results": []`, a
    /// `status` and an `error_message` (see [`failure`]).
    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_>;

    /// Counters worth logging (calls, cache hits, errors by status), if the provider keeps any.
    fn counters(&self) -> Option<Value> {
        None
    }
}

/// The failure shape of PROTOCOL.md: no results, a status and a message.
pub fn failure(status: &str, message: impl Into<String>) -> Value {
    json!({
        "html_attributions": [],
        "results": [],
        "status": status,
        "error_message": message.into(),
    })
}

/// Why a places provider could not be built from the config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A Google provider's settings are not usable.
    #[error(transparent)]
    Google(#[from] google_settings::PlacesError),
    /// The built-in offline data could not be loaded (a broken build).
    #[error("places.provider: {0}")]
    Offline(#[from] offline::OfflineError),
    /// The environment variable that should hold the Google key is not set.
    #[error("places.api_key_env: the environment variable {0} that should hold the Google API key is not set")]
    MissingKey(String),
}

/// Builds the provider the config asks for.
///
/// # Errors
/// [`BuildError`] when it cannot be built.
pub fn from_config(
    config: &crate::settings::PlacesConfig,
) -> Result<Arc<dyn PlacesProvider>, BuildError> {
    use crate::settings::ProviderKind;
    let google_settings = || -> Result<google_settings::GoogleSettings, BuildError> {
        let api_key = std::env::var(&config.api_key_env)
            .map_err(|_| BuildError::MissingKey(config.api_key_env.clone()))?;
        Ok(google_settings::GoogleSettings {
            base_url: config.base_url.clone(),
            api_key,
            timeout: config.timeout,
            cache_ttl: config.cache_ttl,
            cache_capacity: config.cache_capacity,
            max_concurrent: config.max_concurrent,
            rate_per_sec: config.rate_per_sec,
            ..Default::default()
        })
    };
    Ok(match config.provider {
        ProviderKind::Offline => Arc::new(offline::OfflineProvider::builtin()?),
        ProviderKind::Google => google::google_provider(&google_settings()?)?,
        ProviderKind::GoogleLegacy => google_legacy::google_legacy_provider(&google_settings()?)?,
    })
}
