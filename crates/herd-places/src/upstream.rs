//! A provider backed by a Google API: the cache, the coalescing of identical questions, the
//! limits and the counters around one HTTP call. The calls themselves, and the shape of their
//! answers, live in [`super::google`] (Places API (New)) and [`super::google_legacy`].
//!
//! A question goes through these steps:
//!
//! 1. The cache, keyed by provider, centre rounded to 5 decimals (about 1 m) and radius rounded
//!    to the metre. It holds whole answers (up to 20 results; the server cuts them to the
//!    client's bound), so a question with a smaller bound is served from it too.
//! 2. Coalescing: identical questions that arrive while a call is in flight wait for that call
//!    instead of making their own, and all get its answer.
//! 3. The limits ([`UpstreamLimits`]): back-off after OVER_QUERY_LIMIT, the rate limit, the cap
//!    on calls in flight. A question they refuse is answered `OVER_QUERY_LIMIT` locally.
//! 4. The call, with what is left of the timeout. `OK` and `ZERO_RESULTS` answers are cached;
//!    failures are not, so the next question asks again (within the limits).
//!
//! The server keeps the concrete provider for its counters and hands out the trait object:
//!
//! ```
//! use std::sync::Arc;
//! use herd::places::google::google_provider;
//! use herd::places::google_settings::{GoogleSettings, PlacesError};
//! use herd::places::PlacesProvider;
//!
//! # fn main() -> Result<(), PlacesError> {
//! let google = google_provider(&GoogleSettings::with_key("the key"))?;
//! let provider: Arc<dyn PlacesProvider> = google.clone();
//! assert_eq!(provider.name(), "google");
//! let line = serde_json::to_string(&google.counters()).expect("counters serialize");
//! assert!(line.starts_with(r#"{"provider":"google","requests":0"#));
//! # Ok(())
//! # }
//! ```

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde_json::{Number, Value};
use tokio::time::Instant;

use super::google_settings::{GoogleSettings, PlacesError};
use super::upstream_counters::{PlacesCounters, UpstreamCounters};
use super::upstream_limits::UpstreamLimits;
use super::{google, google_legacy};
use crate::provider::{failure, NearbyQuery, PlacesFuture, PlacesProvider};

/// Largest answer body read from Google; Nearby Search answers are a few tens of KiB.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Which Google API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GoogleApi {
    /// Places API (New), `POST /v1/places:searchNearby`.
    PlacesNew,
    /// Nearby Search (legacy), `GET /maps/api/place/nearbysearch/json`.
    Legacy,
}

impl GoogleApi {
    /// The provider's name, for logs, counters and cache keys.
    fn name(self) -> &'static str {
        match self {
            Self::PlacesNew => "google",
            Self::Legacy => "google-legacy",
        }
    }

    /// Google's host for this API.
    fn default_base(self) -> &'static str {
        match self {
            Self::PlacesNew => google::DEFAULT_BASE_URL,
            Self::Legacy => google_legacy::DEFAULT_BASE_URL,
        }
    }

    /// The endpoint's path below the base URL.
    fn path(self) -> &'static str {
        match self {
            Self::PlacesNew => google::SEARCH_NEARBY_PATH,
            Self::Legacy => google_legacy::NEARBY_SEARCH_PATH,
        }
    }
}

/// What one HTTP call to Google needs.
#[derive(Debug)]
pub(crate) struct UpstreamCall {
    /// The shared client (connection pool, rustls).
    pub client: Client,
    /// The endpoint, without query.
    pub endpoint: Url,
    /// The API key.
    pub api_key: String,
}

/// The cache key: the circle, rounded so that jitter below a metre still hits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CircleKey {
    /// The provider's name, so keys never mix answers of different APIs.
    provider: &'static str,
    /// Latitude in units of 1e-5 degree.
    lat: i64,
    /// Longitude in units of 1e-5 degree.
    lng: i64,
    /// Radius in whole metres.
    radius_m: i64,
}

impl CircleKey {
    /// The key of `query` for `provider`.
    fn new(provider: &'static str, query: &NearbyQuery) -> Self {
        // `as` saturates (and maps NaN to 0); the server has validated the numbers anyway.
        Self {
            provider,
            lat: (query.lat * 1e5).round() as i64,
            lng: (query.lng * 1e5).round() as i64,
            radius_m: query.radius_m.round() as i64,
        }
    }
}

/// A places provider that asks Google, with cache, coalescing, limits and counters.
///
/// Build one with [`google::google_provider`] or [`google_legacy::google_legacy_provider`].
pub struct GoogleProvider {
    /// The API spoken.
    api: GoogleApi,
    /// Client, endpoint and key.
    call: UpstreamCall,
    /// Budget of one question, admission included.
    timeout: Duration,
    /// Successful answers by circle; also where identical questions in flight meet.
    cache: Cache<CircleKey, Arc<Value>>,
    /// Back-off, rate and concurrency limits.
    limits: UpstreamLimits,
    /// Statistics for the log.
    counters: UpstreamCounters,
}

impl std::fmt::Debug for GoogleProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand, so that the API key never appears in a debug dump.
        f.debug_struct("GoogleProvider")
            .field("api", &self.api)
            .field("endpoint", &self.call.endpoint.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl GoogleProvider {
    /// A provider speaking `api` with `settings`.
    ///
    /// # Errors
    ///
    /// A [`PlacesError`] for zero limits, a bad base URL or an HTTP client that cannot be built.
    pub(crate) fn new(api: GoogleApi, settings: &GoogleSettings) -> Result<Self, PlacesError> {
        let endpoint = settings.endpoint(api.default_base(), api.path())?;
        let rate = NonZeroU32::new(settings.rate_per_sec).ok_or(PlacesError::Zero {
            field: "places.rate_per_sec",
        })?;
        let client = Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("herd/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .build()?;
        let cache = Cache::builder()
            .max_capacity(settings.cache_capacity)
            .time_to_live(settings.cache_ttl)
            .build();
        Ok(Self {
            api,
            call: UpstreamCall {
                client,
                endpoint,
                api_key: settings.api_key.clone(),
            },
            timeout: settings.timeout,
            cache,
            limits: UpstreamLimits::new(
                settings.max_concurrent,
                rate,
                settings.backoff_initial,
                settings.backoff_max,
            ),
            counters: UpstreamCounters::default(),
        })
    }

    /// A snapshot of this provider's counters, for the server's periodic log line.
    pub fn counters(&self) -> PlacesCounters {
        self.counters.snapshot(self.api.name())
    }

    /// Answers `query` from the cache, a call in flight, or a new call.
    async fn answer(&self, query: NearbyQuery) -> Value {
        UpstreamCounters::bump(&self.counters.requests);
        let key = CircleKey::new(self.api.name(), &query);
        if let Some(hit) = self.cache.get(&key).await {
            UpstreamCounters::bump(&self.counters.cache_hits);
            return Value::clone(&hit);
        }
        let called = AtomicBool::new(false);
        let outcome = self
            .cache
            .try_get_with(key, async {
                called.store(true, Ordering::Relaxed);
                self.fetch(query).await
            })
            .await;
        if !called.load(Ordering::Relaxed) {
            UpstreamCounters::bump(&self.counters.coalesced);
        }
        match outcome {
            Ok(answer) | Err(answer) => Value::clone(&answer),
        }
    }

    /// Asks Google within the limits; `Ok` for answers worth caching, `Err` for failures.
    async fn fetch(&self, query: NearbyQuery) -> Result<Arc<Value>, Value> {
        let deadline = Instant::now() + self.timeout;
        let _in_flight = match self.limits.admit(deadline).await {
            Ok(permit) => permit,
            Err(refusal) => {
                UpstreamCounters::bump(&self.counters.local_refusals);
                return Err(failure("OVER_QUERY_LIMIT", refusal.to_string()));
            }
        };
        UpstreamCounters::bump(&self.counters.calls);
        let budget = deadline.saturating_duration_since(Instant::now());
        let answer = match self.api {
            GoogleApi::PlacesNew => google::search(&self.call, &query, budget).await,
            GoogleApi::Legacy => google_legacy::search(&self.call, &query, budget).await,
        };
        let status = answer.get("status").and_then(Value::as_str).unwrap_or("");
        match status {
            "OK" | "ZERO_RESULTS" => {
                self.limits.note_success();
                Ok(Arc::new(answer))
            }
            _ => {
                if status == "OVER_QUERY_LIMIT" {
                    self.limits.note_over_limit();
                }
                self.counters.error(status);
                let message = answer.get("error_message").and_then(|m| m.as_str());
                tracing::warn!(
                    provider = self.api.name(),
                    status,
                    error_message = message.unwrap_or(""),
                    "places call failed"
                );
                Err(answer)
            }
        }
    }
}

impl PlacesProvider for GoogleProvider {
    fn name(&self) -> &'static str {
        self.api.name()
    }

    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_> {
        Box::pin(self.answer(query))
    }

    fn counters(&self) -> Option<serde_json::Value> {
        serde_json::to_value(GoogleProvider::counters(self)).ok()
    }
}

/// A radius in metres as sent to Google: millimetres at most, so `12.299999999999999` (from
/// 0.0123 km) goes out as `12.3`.
pub(crate) fn radius_metres(radius_m: f64) -> f64 {
    (radius_m * 1000.0).round() / 1000.0
}

/// A radius as a JSON number: an integer when it is whole (`10000`, not `10000.0`).
pub(crate) fn radius_json(radius_m: f64) -> Value {
    let metres = radius_metres(radius_m);
    if metres.fract() == 0.0 && (0.0..9e15).contains(&metres) {
        Value::from(metres as u64)
    } else {
        Number::from_f64(metres).map_or(Value::Null, Value::Number)
    }
}

/// An HTTP answer from Google, body read in full.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

/// Sends `request` and reads the whole answer within `budget`.
///
/// # Errors
///
/// The failure shape (`UNKNOWN_ERROR`) for a timeout, a connection error or a body too large.
/// Messages never hold the request URL, which may carry the API key.
pub(crate) async fn send(request: RequestBuilder, budget: Duration) -> Result<HttpAnswer, Value> {
    if budget.is_zero() {
        return Err(timed_out(budget));
    }
    let transport = |err: reqwest::Error| {
        if err.is_timeout() {
            timed_out(budget)
        } else {
            let err = err.without_url();
            let what = if err.is_connect() {
                "could not connect to Google"
            } else {
                "the call to Google failed"
            };
            failure("UNKNOWN_ERROR", format!("{what}: {}", error_chain(&err)))
        }
    };
    let mut response = request.timeout(budget).send().await.map_err(transport)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(failure(
                "UNKNOWN_ERROR",
                format!("Google's answer was larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpAnswer { status, body })
}

/// The failure of a call that ran out of time.
fn timed_out(budget: Duration) -> Value {
    failure(
        "UNKNOWN_ERROR",
        format!("Google did not answer within {} ms", budget.as_millis()),
    )
}

/// `err` and its causes, joined with `: `.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_goes_out_without_needless_digits() {
        assert_eq!(radius_json(10_000.0), serde_json::json!(10000));
        assert_eq!(radius_json(0.0123 * 1000.0), serde_json::json!(12.3));
        assert_eq!(radius_metres(1500.5).to_string(), "1500.5");
        assert_eq!(radius_metres(50_000.0).to_string(), "50000");
    }

    #[test]
    fn nearby_circles_share_a_key_and_distant_ones_do_not() {
        let query = |lat, lng, radius_m| NearbyQuery {
            lat,
            lng,
            radius_m,
            bound: 5,
        };
        let a = CircleKey::new("google", &query(34.068930, -118.445127, 10_000.0));
        let b = CircleKey::new("google", &query(34.0689301, -118.4451269, 10_000.2));
        let c = CircleKey::new("google", &query(34.06894, -118.445127, 10_000.0));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            a,
            CircleKey::new("google-legacy", &query(34.06893, -118.445127, 1e4))
        );
    }
}
