//! Places providers: what WHATSAT asks about the area around a client.
//!
//! Every provider answers in the shape of Google Places' Nearby Search (legacy) response: a JSON
//! object with `html_attributions`, `results` and `status` (and `error_message` on failure). The
//! server cuts `results` to the client's bound and renders the JSON; providers never fail with a
//! Rust error, they answer the failure shape instead, so a broken upstream can never stall or
//! drop a client connection.

pub mod google;
pub mod google_legacy;
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

use nearby_api::NearbyApi;
use settings::{PlacesConfig, ProviderKind};
use upstream::UpstreamProvider;
use upstream_limits::BackoffPolicy;

/// Why a places provider could not be built from the config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A Google provider's settings are not usable.
    #[error(transparent)]
    Google(#[from] upstream::SetupError),
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
pub fn from_config(config: &PlacesConfig) -> Result<Arc<dyn PlacesProvider>, BuildError> {
    Ok(match config.provider {
        ProviderKind::Offline => Arc::new(offline::OfflineProvider::builtin()?),
        ProviderKind::Google => Arc::new(upstream_provider(google::PlacesNew, config)?),
        ProviderKind::GoogleLegacy => {
            Arc::new(upstream_provider(google_legacy::PlacesLegacy, config)?)
        }
    })
}

/// The cached, limited provider around `api`, with the key from `config.api_key_env`.
fn upstream_provider<A: NearbyApi>(
    api: A,
    config: &PlacesConfig,
) -> Result<UpstreamProvider<A>, BuildError> {
    let api_key = std::env::var(&config.api_key_env)
        .map_err(|_| BuildError::MissingKey(config.api_key_env.clone()))?;
    Ok(UpstreamProvider::new(
        api,
        config,
        api_key,
        BackoffPolicy::default(),
    )?)
}
