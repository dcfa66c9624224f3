//! The `[places]` settings: which provider answers WHATSAT and how it may use its upstream.

use std::time::Duration;

use serde::Deserialize;

/// Which places service answers WHATSAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// The built-in index of world places: no key, no network.
    Offline,
    /// Google Places API (New), `places:searchNearby`.
    Google,
    /// Google Places Nearby Search (legacy).
    GoogleLegacy,
}

/// The `[places]` section, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacesConfig {
    /// Which service answers.
    pub provider: ProviderKind,
    /// Replaces Google's `scheme://host:port` (tests point it at a fake).
    pub base_url: Option<String>,
    /// The environment variable that holds the Google API key.
    pub api_key_env: String,
    /// How long one upstream call may take before the answer says `UNKNOWN_ERROR`.
    pub timeout: Duration,
    /// How long an upstream answer is reused.
    pub cache_ttl: Duration,
    /// How many upstream answers are kept at most.
    pub cache_capacity: u64,
    /// How many upstream calls may be in flight at once.
    pub max_concurrent: usize,
    /// Upstream calls per second at most.
    pub rate_per_sec: u32,
}

impl PlacesConfig {
    /// The section as the README documents its defaults, for `provider`: what a file that sets
    /// only `provider` resolves to.
    pub fn with_defaults(provider: ProviderKind) -> Self {
        Self {
            provider,
            base_url: None,
            api_key_env: "GOOGLE_PLACES_API_KEY".to_owned(),
            timeout: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(5 * 60),
            cache_capacity: 10_000,
            max_concurrent: 64,
            rate_per_sec: 50,
        }
    }
}
