//! Places providers: what WHATSAT asks about the area around a client.
//!
//! Every provider answers in the Nearby Search (legacy) JSON shape and never fails with a Rust
//! error (see [`provider`]), so a broken upstream can never stall or drop a client connection.
//! [`from_config`] builds the one the `[places]` section asks for.
//!
//! # Modules
//!
//! - [`provider`]: the question ([`NearbyQuery`]), the [`PlacesProvider`] trait and the
//!   failure shape of answers; every other module speaks it.
//! - [`settings`]: [`settings::PlacesConfig`], the `[places]` section, the one settings type of
//!   every provider.
//! - [`offline`]: the built-in index of world places; no key, no network.
//! - [`upstream`]: [`upstream::UpstreamProvider`], the cache, coalescing of identical questions,
//!   limits and counters around any upstream API, with [`upstream_limits`] (calls in flight,
//!   rate, back-off) and [`upstream_counters`] (what the server logs).
//! - [`google`] (Places API (New)) and [`google_legacy`] (Nearby Search (legacy)): one API
//!   each, its request and the conversion of its answer.
//! - [`nearby_api`]: the [`nearby_api::NearbyApi`] trait those two implement and `upstream` is
//!   generic over, and [`nearby_api::ApiFailure`], the typed failure of one call.
//! - [`http`]: the endpoint (client, URL, key) and one call bounded in time and bytes.
//!
//! Dependencies point one way: this file (`from_config`) -> `upstream` -> `nearby_api` ->
//! `http`, and `google`, `google_legacy` -> `nearby_api`, `http`. Only `from_config` names a
//! concrete API; `upstream` never does, and the APIs never see the cache or the limits.
//!
//! ```
//! use std::sync::Arc;
//! use herd_places::google::PlacesNew;
//! use herd_places::settings::{PlacesConfig, ProviderKind};
//! use herd_places::upstream::{SetupError, UpstreamProvider};
//! use herd_places::upstream_limits::BackoffPolicy;
//! use herd_places::PlacesProvider;
//!
//! # fn main() -> Result<(), SetupError> {
//! let config = PlacesConfig::with_defaults(ProviderKind::Google);
//! let key = "the key".to_owned();
//! let google = UpstreamProvider::new(PlacesNew, &config, key, BackoffPolicy::default())?;
//! let line = serde_json::to_string(&google.counters()).expect("counters serialize");
//! assert!(line.starts_with(r#"{"provider":"google","requests":0"#));
//! let provider: Arc<dyn PlacesProvider> = Arc::new(google);
//! assert_eq!(provider.name(), "google");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

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
