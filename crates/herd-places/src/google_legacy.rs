//! Google Places Nearby Search (legacy):
//! `GET {base}/maps/api/place/nearbysearch/json?location=LAT,LNG&radius=METRES&key=KEY`.
//!
//! Its answer already has the shape the herd speaks, so a good answer is passed through as
//! Google gave it: every key, in Google's order. The query is form-encoded by `url`, so the
//! comma goes out as `%2C`, and coordinates are written without a sign for positive values,
//! so no raw `+` (which a server decodes as a space) ever reaches Google.
//!
//! | Google's answer | herd's answer |
//! |---|---|
//! | HTTP 200, `status` `OK` or `ZERO_RESULTS`, `results` a list | as given |
//! | HTTP 200, another `status` (`REQUEST_DENIED`, `OVER_QUERY_LIMIT`, ...) | failure shape with that status and Google's `error_message` |
//! | another HTTP status | failure shape with the body's `status` if any, else `UNKNOWN_ERROR` |
//! | not JSON, no `status`, timeout, connection error | failure shape, `UNKNOWN_ERROR` |

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::google_settings::{GoogleSettings, PlacesError};
use super::upstream::{radius_metres, send, GoogleApi, GoogleProvider, UpstreamCall};
use crate::provider::{failure, NearbyQuery};

/// Google's host for the legacy Places web service.
pub const DEFAULT_BASE_URL: &str = "https://maps.googleapis.com";

/// The endpoint below the base URL.
pub const NEARBY_SEARCH_PATH: &str = "/maps/api/place/nearbysearch/json";

/// A provider asking Nearby Search (legacy), named `google-legacy`.
///
/// # Errors
///
/// A [`PlacesError`] for zero limits, a bad base URL or an HTTP client that cannot be built.
pub fn google_legacy_provider(
    settings: &GoogleSettings,
) -> Result<Arc<GoogleProvider>, PlacesError> {
    GoogleProvider::new(GoogleApi::Legacy, settings).map(Arc::new)
}

/// Asks Nearby Search about `query` within `budget`; never fails, see the module table.
pub(crate) async fn search(call: &UpstreamCall, query: &NearbyQuery, budget: Duration) -> Value {
    let mut url = call.endpoint.clone();
    url.query_pairs_mut()
        .append_pair("location", &format!("{},{}", query.lat, query.lng))
        .append_pair("radius", &radius_metres(query.radius_m).to_string())
        .append_pair("key", &call.api_key);
    let http = match send(call.client.get(url), budget).await {
        Ok(http) => http,
        Err(failed) => return failed,
    };
    let parsed: Option<Value> = serde_json::from_slice(&http.body).ok();
    let status = parsed
        .as_ref()
        .and_then(|body| body.get("status"))
        .and_then(Value::as_str);
    let message = parsed
        .as_ref()
        .and_then(|body| body.get("error_message").or(body.pointer("/error/message")))
        .and_then(Value::as_str);
    let has_results = parsed
        .as_ref()
        .is_some_and(|body| body.get("results").is_some_and(Value::is_array));
    match (http.status.is_success(), status) {
        (true, Some("OK" | "ZERO_RESULTS")) if has_results => parsed.unwrap_or_default(),
        (true, Some("OK" | "ZERO_RESULTS")) => {
            failure("UNKNOWN_ERROR", "Google's answer had no list of results")
        }
        (false, None | Some("OK" | "ZERO_RESULTS")) => failure(
            "UNKNOWN_ERROR",
            message.map_or_else(
                || format!("Google answered HTTP {}", http.status),
                str::to_owned,
            ),
        ),
        (_, Some(status)) => failure(
            status,
            message.map_or_else(
                || format!("Google answered {status} (HTTP {})", http.status),
                str::to_owned,
            ),
        ),
        (true, None) if parsed.is_some() => {
            failure("UNKNOWN_ERROR", "Google's answer had no status")
        }
        (true, None) => failure("UNKNOWN_ERROR", "Google's answer was not JSON"),
    }
}
