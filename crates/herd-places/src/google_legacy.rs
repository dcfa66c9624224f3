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

use serde_json::Value;

use crate::http::send;
use crate::nearby_api::{radius_metres, ApiFailure, ApiSpec, Call, NearbyApi};

/// Google's host for the legacy Places web service.
pub const DEFAULT_BASE_URL: &str = "https://maps.googleapis.com";

/// The endpoint below the base URL.
pub const NEARBY_SEARCH_PATH: &str = "/maps/api/place/nearbysearch/json";

/// Nearby Search (legacy), the API of the provider named `google-legacy`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlacesLegacy;

impl NearbyApi for PlacesLegacy {
    const SPEC: ApiSpec = ApiSpec::new("google-legacy", DEFAULT_BASE_URL, NEARBY_SEARCH_PATH);

    /// Asks Nearby Search about `call.query` within `call.budget`; see the module table for the failures.
    async fn search(&self, call: Call<'_>) -> Result<Value, ApiFailure> {
        let mut url = call.endpoint.url().clone();
        url.query_pairs_mut()
            .append_pair(
                "location",
                &format!("{},{}", call.query.lat, call.query.lng),
            )
            .append_pair("radius", &radius_metres(call.query.radius_m).to_string())
            .append_pair("key", call.endpoint.api_key());
        let http = send(call.endpoint.client().get(url), call.budget).await?;
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
            (true, Some("OK" | "ZERO_RESULTS")) if has_results => Ok(parsed.unwrap_or_default()),
            (true, Some("OK" | "ZERO_RESULTS")) => Err(ApiFailure::unknown(
                "Google's answer had no list of results",
            )),
            (false, None | Some("OK" | "ZERO_RESULTS")) => {
                Err(ApiFailure::unknown(message.map_or_else(
                    || format!("Google answered HTTP {}", http.status),
                    str::to_owned,
                )))
            }
            (_, Some(status)) => Err(ApiFailure::new(
                status,
                message.map_or_else(
                    || format!("Google answered {status} (HTTP {})", http.status),
                    str::to_owned,
                ),
            )),
            (true, None) if parsed.is_some() => {
                Err(ApiFailure::unknown("Google's answer had no status"))
            }
            (true, None) => Err(ApiFailure::unknown("Google's answer was not JSON")),
        }
    }
}
