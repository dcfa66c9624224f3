//! How to reach Google and how hard to lean on it: the `[places]` settings of both Google
//! providers, and the one error their constructors can fail with.

use std::time::Duration;

use reqwest::Url;
use thiserror::Error;

/// Settings shared by the Google providers (Places API (New) and Nearby Search (legacy)).
///
/// The server's configuration maps its `[places]` section onto this; fields it does not set
/// keep the defaults of [`GoogleSettings::default`].
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleSettings {
    /// Scheme, host and optional path prefix of the API; `None` means Google's own host for the
    /// provider (tests point this at a fake server).
    pub base_url: Option<String>,
    /// The API key sent with every request; never written to logs or error messages.
    pub api_key: String,
    /// Longest time one WHATSAT may wait for Google, admission by the limits included.
    pub timeout: Duration,
    /// How long a successful answer is reused for the same circle.
    pub cache_ttl: Duration,
    /// Most answers the cache holds at once.
    pub cache_capacity: u64,
    /// Most upstream calls in flight at once.
    pub max_concurrent: usize,
    /// Most upstream calls started per second (also the burst size).
    pub rate_per_sec: u32,
    /// First pause after Google says OVER_QUERY_LIMIT; each further refusal doubles it.
    pub backoff_initial: Duration,
    /// Longest pause the back-off grows to.
    pub backoff_max: Duration,
}

impl Default for GoogleSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: String::new(),
            timeout: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(5 * 60),
            cache_capacity: 10_000,
            max_concurrent: 64,
            rate_per_sec: 50,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for GoogleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand, so that logging the settings never logs the key.
        f.debug_struct("GoogleSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("max_concurrent", &self.max_concurrent)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .finish()
    }
}

impl GoogleSettings {
    /// Default settings with the given API key.
    pub fn with_key(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            ..Self::default()
        }
    }

    /// Checks the numbers and joins the base URL with `path`, the endpoint of one API.
    ///
    /// # Errors
    ///
    /// [`PlacesError::Zero`] for a zero timeout, concurrency or rate, and
    /// [`PlacesError::BaseUrl`] for a base URL that is not an absolute http(s) URL.
    pub(crate) fn endpoint(&self, default_base: &str, path: &str) -> Result<Url, PlacesError> {
        let nonzero = [
            ("places.timeout", self.timeout.is_zero()),
            ("places.max_concurrent", self.max_concurrent == 0),
            ("places.rate_per_sec", self.rate_per_sec == 0),
        ];
        if let Some((field, _)) = nonzero.into_iter().find(|(_, zero)| *zero) {
            return Err(PlacesError::Zero { field });
        }
        let base = self.base_url.as_deref().unwrap_or(default_base);
        let joined = format!("{}{path}", base.trim_end_matches('/'));
        let url = Url::parse(&joined).map_err(|err| PlacesError::BaseUrl {
            url: base.to_owned(),
            reason: err.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(PlacesError::BaseUrl {
                url: base.to_owned(),
                reason: "expected http:// or https:// and no query".to_owned(),
            });
        }
        Ok(url)
    }
}

/// Why a Google provider could not be built (providers never fail once built).
#[derive(Debug, Error)]
pub enum PlacesError {
    /// A setting that must be positive was zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The setting, named as in the configuration file.
        field: &'static str,
    },
    /// `places.base_url` is not a usable URL.
    #[error("places.base_url {url:?} is not a usable URL: {reason}")]
    BaseUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be set up (TLS roots, resolver).
    #[error("cannot set up the HTTP client for Google: {0}")]
    HttpClient(#[from] reqwest::Error),
}
