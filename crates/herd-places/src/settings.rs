//! The `[places]` settings: which provider answers WHATSAT and how it may use its upstream.
//!
//! [`PlacesConfig`] is the section as written: it deserializes straight from the config file,
//! and a key left out keeps the value of [`PlacesConfig::default`].

use std::time::Duration;

use serde::Deserialize;

/// Which places service answers WHATSAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// The built-in index of world places: no key, no network.
    #[default]
    Offline,
    /// Google Places API (New), `places:searchNearby`.
    Google,
    /// Google Places Nearby Search (legacy).
    GoogleLegacy,
}

/// The `[places]` section, resolved.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlacesConfig {
    /// Which service answers.
    pub provider: ProviderKind,
    /// Replaces Google's `scheme://host:port` (tests point it at a fake).
    pub base_url: Option<String>,
    /// The environment variable that holds the Google API key.
    pub api_key_env: String,
    /// How long one upstream call may take before the answer says `UNKNOWN_ERROR`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long an upstream answer is reused.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// How many upstream answers are kept at most.
    pub cache_capacity: u64,
    /// How many upstream calls may be in flight at once.
    pub max_concurrent: usize,
    /// Upstream calls per second at most.
    pub rate_per_sec: u32,
}

impl Default for PlacesConfig {
    /// The offline provider, and the limits the README documents for the Google ones.
    fn default() -> Self {
        PlacesConfig {
            provider: ProviderKind::Offline,
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

impl PlacesConfig {
    /// The section as the README documents its defaults, for `provider`: what a file that sets
    /// only `provider` resolves to.
    pub fn with_defaults(provider: ProviderKind) -> Self {
        PlacesConfig {
            provider,
            ..PlacesConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_reads_words_and_durations_and_keeps_defaults_for_the_rest() {
        let places: PlacesConfig =
            serde_json::from_str(r#"{"provider": "google-legacy", "timeout": "2s 500ms"}"#)
                .unwrap();
        assert_eq!(places.provider, ProviderKind::GoogleLegacy);
        assert_eq!(places.timeout, Duration::from_millis(2500));
        assert_eq!(
            places,
            PlacesConfig {
                provider: ProviderKind::GoogleLegacy,
                timeout: Duration::from_millis(2500),
                ..PlacesConfig::default()
            }
        );
        assert!(serde_json::from_str::<PlacesConfig>(r#"{"provider": "bing"}"#).is_err());
        assert!(serde_json::from_str::<PlacesConfig>(r#"{"colour": "blue"}"#).is_err());
    }
}
