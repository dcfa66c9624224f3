//! A provider around any upstream API ([`NearbyApi`]): the cache, the coalescing of identical
//! questions, the limits and the counters around one call. The call itself, and the shape of
//! its answer, are the API's business.
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
//! A provider is built by `from_config` at the crate root; the server only sees it as a
//! `dyn PlacesProvider`, and logs what [`PlacesProvider::counters`] returns.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde_json::Value;
use tokio::time::Instant;

use crate::http::{Endpoint, EndpointError};
use crate::nearby_api::{ApiFailure, Call, NearbyApi};
use crate::provider::{failure, NearbyQuery, PlacesFuture, PlacesProvider};
use crate::settings::PlacesConfig;
use crate::upstream_counters::{PlacesCounters, UpstreamCounters};
use crate::upstream_limits::{BackoffPolicy, UpstreamLimits};

/// Why an [`UpstreamProvider`] could not be built (it never fails once built).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting that must be positive was zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The setting, named as in the configuration file.
        field: &'static str,
    },
    /// The endpoint's URL or HTTP client could not be set up.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
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

/// A places provider that asks the upstream API `A`, with cache, coalescing, limits and
/// counters.
pub struct UpstreamProvider<A: NearbyApi> {
    /// The API spoken.
    api: A,
    /// Client, URL and key of the API.
    endpoint: Endpoint,
    /// Budget of one question, admission included.
    timeout: Duration,
    /// Successful answers by circle; also where identical questions in flight meet.
    cache: Cache<CircleKey, Arc<Value>>,
    /// Back-off, rate and concurrency limits.
    limits: UpstreamLimits,
    /// Statistics for the log.
    counters: UpstreamCounters,
}

impl<A: NearbyApi> std::fmt::Debug for UpstreamProvider<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand: the cache and limits say nothing useful, and the endpoint hides the key.
        f.debug_struct("UpstreamProvider")
            .field("api", &self.api)
            .field("endpoint", &self.endpoint.url().as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<A: NearbyApi> UpstreamProvider<A> {
    /// A provider asking `api` with `api_key`, within the limits of `config` and backing off
    /// after OVER_QUERY_LIMIT as `backoff` says. `config.provider` and `config.api_key_env` are
    /// not read: `from_config` picks `api` and resolves `api_key` from them.
    ///
    /// # Errors
    ///
    /// A [`SetupError`] for a zero timeout, concurrency or rate, a bad base URL or an HTTP
    /// client that cannot be built.
    pub fn new(
        api: A,
        config: &PlacesConfig,
        api_key: String,
        backoff: BackoffPolicy,
    ) -> Result<Self, SetupError> {
        let nonzero = [
            ("places.timeout", config.timeout.is_zero()),
            ("places.max_concurrent", config.max_concurrent == 0),
            ("places.rate_per_sec", config.rate_per_sec == 0),
        ];
        if let Some((field, _)) = nonzero.into_iter().find(|(_, zero)| *zero) {
            return Err(SetupError::Zero { field });
        }
        let endpoint = Endpoint::new(config, api_key, A::SPEC.default_base_url, A::SPEC.path)?;
        let rate = NonZeroU32::new(config.rate_per_sec).ok_or(SetupError::Zero {
            field: "places.rate_per_sec",
        })?;
        let cache = Cache::builder()
            .max_capacity(config.cache_capacity)
            .time_to_live(config.cache_ttl)
            .build();
        Ok(Self {
            api,
            endpoint,
            timeout: config.timeout,
            cache,
            limits: UpstreamLimits::new(config.max_concurrent, rate, backoff.initial, backoff.max),
            counters: UpstreamCounters::default(),
        })
    }

    /// A snapshot of this provider's counters, for the server's periodic log line.
    pub fn counters(&self) -> PlacesCounters {
        self.counters.snapshot(A::SPEC.name)
    }

    /// Answers `query` from the cache, a call in flight, or a new call.
    async fn answer(&self, query: NearbyQuery) -> Value {
        UpstreamCounters::bump(&self.counters.requests);
        let key = CircleKey::new(A::SPEC.name, &query);
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

    /// Asks the API within the limits; `Ok` for answers worth caching, `Err` for failures.
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
        match self
            .api
            .search(Call {
                endpoint: &self.endpoint,
                query: &query,
                budget,
            })
            .await
        {
            Ok(answer) => {
                self.limits.note_success();
                Ok(Arc::new(answer))
            }
            Err(failed) => {
                self.note_failure(&failed);
                Err(failed.into_answer())
            }
        }
    }

    /// Counts and logs a failed call; OVER_QUERY_LIMIT also starts the back-off.
    fn note_failure(&self, failed: &ApiFailure) {
        if failed.status == "OVER_QUERY_LIMIT" {
            self.limits.note_over_limit();
        }
        self.counters.error(&failed.status);
        tracing::warn!(
            provider = A::SPEC.name,
            status = failed.status.as_str(),
            error_message = failed.message.as_str(),
            "places call failed"
        );
    }
}

impl<A: NearbyApi> PlacesProvider for UpstreamProvider<A> {
    fn name(&self) -> &'static str {
        A::SPEC.name
    }

    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_> {
        Box::pin(self.answer(query))
    }

    fn counters(&self) -> Option<Value> {
        serde_json::to_value(UpstreamProvider::counters(self)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
