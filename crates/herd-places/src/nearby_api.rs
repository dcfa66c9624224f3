//! One upstream API shape: how to ask it about a circle and how to read its answer.
//!
//! [`NearbyApi`] is what the `google` (Places API (New)) and `google_legacy` (Nearby Search
//! (legacy)) modules implement, and all that the `upstream` module knows of them: the cache,
//! coalescing, limits and counters work the same around any API. This module knows neither
//! side. An implementation makes one HTTP call through an [`Endpoint`] and answers in the
//! Nearby Search shape, or with an [`ApiFailure`] that says which status the client gets.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde_json::{Number, Value};

use crate::http::{CallError, Endpoint};
use crate::provider::{failure, NearbyQuery};

/// Where an API lives and what the herd calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSpec {
    /// The provider's name, for logs, counters and cache keys (`google`, `google-legacy`).
    pub name: &'static str,
    /// Google's own `scheme://host` for this API, used when `places.base_url` is not set.
    pub default_base_url: &'static str,
    /// The endpoint's path below the base URL.
    pub path: &'static str,
}

impl ApiSpec {
    /// The API `name` at `path` below `default_base_url`.
    pub const fn new(
        name: &'static str,
        default_base_url: &'static str,
        path: &'static str,
    ) -> Self {
        Self {
            name,
            default_base_url,
            path,
        }
    }
}

/// One call to make: through which endpoint, about what, within how long.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The client, URL and key to call with.
    pub endpoint: &'a Endpoint,
    /// The circle asked about.
    pub query: &'a NearbyQuery,
    /// What is left of the client's time for this call.
    pub budget: Duration,
}

/// A Google API that answers "what is in this circle", spoken over one HTTP call.
pub trait NearbyApi: fmt::Debug + Send + Sync + 'static {
    /// Its name, home and path.
    const SPEC: ApiSpec;

    /// Makes `call`.
    ///
    /// # Errors
    ///
    /// An [`ApiFailure`] when the call failed or Google refused; an `Ok` answer always has the
    /// status `OK` or `ZERO_RESULTS`, so it may be cached.
    fn search(&self, call: Call<'_>) -> impl Future<Output = Result<Value, ApiFailure>> + Send;
}

/// Why an upstream call gave no places: the Nearby Search status the client is answered with,
/// and a message for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiFailure {
    /// `INVALID_REQUEST`, `REQUEST_DENIED`, `OVER_QUERY_LIMIT`, `UNKNOWN_ERROR`, or whatever
    /// other status Google answered.
    pub status: String,
    /// What went wrong, in words; never holds the API key or the request URL.
    pub message: String,
}

impl ApiFailure {
    /// A failure with `status` and `message`.
    pub fn new(status: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            message: message.into(),
        }
    }

    /// `UNKNOWN_ERROR` with `message`: the answer to anything Google did not name.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new("UNKNOWN_ERROR", message)
    }

    /// The failure shape the client gets (see [`failure`]).
    pub fn into_answer(self) -> Value {
        failure(&self.status, self.message)
    }
}

impl From<CallError> for ApiFailure {
    /// A call that timed out, could not connect or was too large is `UNKNOWN_ERROR`.
    fn from(err: CallError) -> Self {
        Self::unknown(err.to_string())
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
    fn a_failure_answers_in_the_failure_shape() {
        let failed = ApiFailure::new("REQUEST_DENIED", "no key");
        assert_eq!(failed.into_answer(), failure("REQUEST_DENIED", "no key"));
        let timed_out = ApiFailure::from(CallError::TimedOut(Duration::from_millis(300)));
        assert_eq!(timed_out.status, "UNKNOWN_ERROR");
        assert_eq!(timed_out.message, "Google did not answer within 300 ms");
    }
}
