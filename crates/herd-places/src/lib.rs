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
pub mod http;
pub mod nearby_api;
pub mod offline;
pub mod provider;
pub mod settings;
pub mod upstream;
pub mod upstream_counters;
pub mod upstream_limits;

use std::sync::Arc;

pub use provider::{failure, NearbyQuery, PlacesFuture, PlacesProvider};

use upstream::UpstreamProvider;

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
        ProviderKind::Google => Arc::new(UpstreamProvider::new(
            google::PlacesNew,
            &google_settings()?,
        )?),
        ProviderKind::GoogleLegacy => Arc::new(UpstreamProvider::new(
            google_legacy::PlacesLegacy,
            &google_settings()?,
        )?),
    })
}
