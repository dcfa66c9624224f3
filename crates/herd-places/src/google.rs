//! Google Places API (New): `POST {base}/v1/places:searchNearby`, answered in the herd's
//! Nearby Search (legacy) shape.
//!
//! The request carries the key in `X-Goog-Api-Key`, the fields wanted in `X-Goog-FieldMask`
//! ([`FIELD_MASK`]) and the body
//! `{"locationRestriction":{"circle":{"center":{"latitude","longitude"},"radius":METRES}},"maxResultCount":20}`.
//! It always asks for 20 places (the most Google gives) so that one cached answer serves every
//! bound; the server cuts the list to the client's bound.
//!
//! # Conversion
//!
//! `{"places": [...]}` becomes `{"html_attributions": [], "results": [...], "status": "OK"}`
//! (`ZERO_RESULTS` for `{}` or no places). Each place becomes a result with its keys in the
//! order of Google's legacy answers; a field Google did not send is left out.
//!
//! | Places (New) | Nearby Search (legacy) |
//! |---|---|
//! | `businessStatus` | `business_status` (same values) |
//! | `location.latitude`, `location.longitude` | `geometry.location.lat`, `.lng` |
//! | `viewport.high`, `viewport.low` | `geometry.viewport.northeast`, `.southwest` |
//! | `iconMaskBaseUri` | `icon` (with `.png`, an image URL as in legacy answers) |
//! | `iconBackgroundColor` | `icon_background_color` |
//! | `iconMaskBaseUri` | `icon_mask_base_uri` (as given) |
//! | `displayName.text` | `name` |
//! | `currentOpeningHours.openNow` | `opening_hours.open_now` |
//! | `photos[].heightPx`, `.authorAttributions[]`, `.name`, `.widthPx` | `photos[].height`, `.html_attributions[]` (`<a href="uri">displayName</a>`), `.photo_reference` (the photo's resource name), `.width` |
//! | `id` | `place_id` and `reference` |
//! | `plusCode.compoundCode`, `plusCode.globalCode` | `plus_code.compound_code`, `.global_code` |
//! | `priceLevel` `PRICE_LEVEL_FREE` .. `PRICE_LEVEL_VERY_EXPENSIVE` | `price_level` 0 .. 4 (unspecified: left out) |
//! | `rating` | `rating` |
//! | (none) | `scope`: `"GOOGLE"` |
//! | `types` | `types` |
//! | `userRatingCount` | `user_ratings_total` |
//! | `shortFormattedAddress`, else `formattedAddress` | `vicinity` |
//!
//! # Failures
//!
//! | Google's answer | `status` |
//! |---|---|
//! | HTTP 400 | `INVALID_REQUEST` |
//! | HTTP 401, 403 | `REQUEST_DENIED` |
//! | HTTP 429 | `OVER_QUERY_LIMIT` |
//! | other HTTP errors, timeout, connection error, not JSON | `UNKNOWN_ERROR` |
//!
//! `error_message` is Google's `error.message` when the body has one.

use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::http::send;
use crate::nearby_api::{radius_json, ApiFailure, ApiSpec, Call, NearbyApi};

/// Google's host for Places API (New).
pub const DEFAULT_BASE_URL: &str = "https://places.googleapis.com";

/// The endpoint below the base URL.
pub const SEARCH_NEARBY_PATH: &str = "/v1/places:searchNearby";

/// The most places one searchNearby answers with; always asked for.
pub const MAX_RESULT_COUNT: u32 = 20;

/// The fields the conversion uses, and only those (Google bills by field).
pub const FIELD_MASK: &str = "places.id,places.displayName,places.location,places.viewport,\
places.types,places.rating,places.userRatingCount,places.businessStatus,places.priceLevel,\
places.shortFormattedAddress,places.formattedAddress,places.plusCode,places.iconMaskBaseUri,\
places.iconBackgroundColor,places.currentOpeningHours.openNow,places.photos";

/// Places API (New), the API of the provider named `google`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlacesNew;

impl NearbyApi for PlacesNew {
    const SPEC: ApiSpec = ApiSpec::new("google", DEFAULT_BASE_URL, SEARCH_NEARBY_PATH);

    /// Asks searchNearby about `call.query` within `call.budget`; see the module docs for the failures.
    async fn search(&self, call: Call<'_>) -> Result<Value, ApiFailure> {
        let body = json!({
            "locationRestriction": {
                "circle": {
                    "center": { "latitude": call.query.lat, "longitude": call.query.lng },
                    "radius": radius_json(call.query.radius_m),
                }
            },
            "maxResultCount": MAX_RESULT_COUNT,
        });
        let request = call
            .endpoint
            .client()
            .post(call.endpoint.url().clone())
            .header("X-Goog-Api-Key", call.endpoint.api_key())
            .header("X-Goog-FieldMask", FIELD_MASK)
            .json(&body);
        let http = send(request, call.budget).await?;
        let parsed: Option<Value> = serde_json::from_slice(&http.body).ok();
        if http.status.is_success() {
            return match parsed {
                Some(answer) if answer.is_object() => nearby_search(&answer),
                _ => Err(ApiFailure::unknown("Google's answer was not a JSON object")),
            };
        }
        let status = match http.status {
            StatusCode::BAD_REQUEST => "INVALID_REQUEST",
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "REQUEST_DENIED",
            StatusCode::TOO_MANY_REQUESTS => "OVER_QUERY_LIMIT",
            _ => "UNKNOWN_ERROR",
        };
        let message = parsed
            .as_ref()
            .and_then(|body| body.pointer("/error/message"))
            .and_then(Value::as_str)
            .map_or_else(
                || format!("Google answered HTTP {}", http.status),
                str::to_owned,
            );
        Err(ApiFailure::new(status, message))
    }
}

/// Turns a searchNearby answer (HTTP 200) into a Nearby Search answer, per the module's table;
/// the failure shape when it cannot.
pub fn nearby_search_from_places(answer: &Value) -> Value {
    nearby_search(answer).unwrap_or_else(ApiFailure::into_answer)
}

/// [`nearby_search_from_places`], failure kept typed for the provider's counters.
fn nearby_search(answer: &Value) -> Result<Value, ApiFailure> {
    let places = match answer.get("places") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(places)) => places.as_slice(),
        Some(_) => return Err(ApiFailure::unknown("Google's places were not a list")),
    };
    let results: Vec<Value> = places.iter().map(result_from_place).collect();
    let status = if results.is_empty() {
        "ZERO_RESULTS"
    } else {
        "OK"
    };
    Ok(json!({
        "html_attributions": [],
        "results": results,
        "status": status,
    }))
}

/// One place of Places (New) as one result of Nearby Search.
fn result_from_place(place: &Value) -> Value {
    let mut result = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            result.insert(key.to_owned(), value);
        }
    };
    let field = |pointer: &str| place.pointer(pointer).filter(|v| !v.is_null()).cloned();
    let icon_base = place.get("iconMaskBaseUri").and_then(Value::as_str);
    let id = field("/id");

    put("business_status", field("/businessStatus"));
    put("geometry", geometry(place));
    put(
        "icon",
        icon_base.map(|base| Value::from(format!("{base}.png"))),
    );
    put("icon_background_color", field("/iconBackgroundColor"));
    put("icon_mask_base_uri", icon_base.map(Value::from));
    put("name", field("/displayName/text"));
    put(
        "opening_hours",
        field("/currentOpeningHours/openNow").map(|open| json!({ "open_now": open })),
    );
    put("photos", place.get("photos").and_then(photos));
    put("place_id", id.clone());
    put("plus_code", plus_code(place));
    put("price_level", place.get("priceLevel").and_then(price_level));
    put("rating", field("/rating"));
    put("reference", id);
    put("scope", Some(Value::from("GOOGLE")));
    put("types", field("/types"));
    put("user_ratings_total", field("/userRatingCount"));
    put(
        "vicinity",
        field("/shortFormattedAddress").or_else(|| field("/formattedAddress")),
    );
    Value::Object(result)
}

/// `{"lat", "lng"}` from a `{"latitude", "longitude"}` LatLng, numbers kept as Google wrote them.
fn lat_lng(point: &Value) -> Option<Value> {
    let lat = point.get("latitude")?.clone();
    let lng = point.get("longitude")?.clone();
    Some(json!({ "lat": lat, "lng": lng }))
}

/// `geometry`: location and, when Google sent one, viewport.
fn geometry(place: &Value) -> Option<Value> {
    let location = place.get("location").and_then(lat_lng)?;
    let mut geometry = Map::new();
    geometry.insert("location".to_owned(), location);
    let viewport = place.get("viewport");
    let corner = |name: &str| viewport.and_then(|v| v.get(name)).and_then(lat_lng);
    if let (Some(northeast), Some(southwest)) = (corner("high"), corner("low")) {
        geometry.insert(
            "viewport".to_owned(),
            json!({ "northeast": northeast, "southwest": southwest }),
        );
    }
    Some(Value::Object(geometry))
}

/// `plus_code` from `plusCode`, keys in legacy order.
fn plus_code(place: &Value) -> Option<Value> {
    let code = place.get("plusCode")?;
    let mut out = Map::new();
    for (from, to) in [
        ("compoundCode", "compound_code"),
        ("globalCode", "global_code"),
    ] {
        if let Some(value) = code.get(from) {
            out.insert(to.to_owned(), value.clone());
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// `price_level` 0-4 from a `PRICE_LEVEL_*` name; `None` for unspecified or unknown names.
fn price_level(level: &Value) -> Option<Value> {
    let level = match level.as_str()? {
        "PRICE_LEVEL_FREE" => 0,
        "PRICE_LEVEL_INEXPENSIVE" => 1,
        "PRICE_LEVEL_MODERATE" => 2,
        "PRICE_LEVEL_EXPENSIVE" => 3,
        "PRICE_LEVEL_VERY_EXPENSIVE" => 4,
        _ => return None,
    };
    Some(Value::from(level))
}

/// Legacy `photos` from the photos of Places (New).
fn photos(photos: &Value) -> Option<Value> {
    let photos = photos.as_array()?;
    let converted: Vec<Value> = photos
        .iter()
        .map(|photo| {
            let attributions: Vec<Value> = photo
                .get("authorAttributions")
                .and_then(Value::as_array)
                .map(|authors| authors.iter().map(author_link).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            if let Some(height) = photo.get("heightPx") {
                out.insert("height".to_owned(), height.clone());
            }
            out.insert("html_attributions".to_owned(), Value::from(attributions));
            if let Some(name) = photo.get("name") {
                out.insert("photo_reference".to_owned(), name.clone());
            }
            if let Some(width) = photo.get("widthPx") {
                out.insert("width".to_owned(), width.clone());
            }
            Value::Object(out)
        })
        .collect();
    Some(Value::from(converted))
}

/// `<a href="uri">displayName</a>`, as legacy photo attributions are written (the bare name
/// when Google gave no link).
fn author_link(author: &Value) -> Value {
    let text = |key: &str| author.get(key).and_then(Value::as_str).map(html_escape);
    let name = text("displayName").unwrap_or_default();
    match text("uri") {
        Some(uri) => Value::from(format!("<a href=\"{uri}\">{name}</a>")),
        None => Value::from(name),
    }
}

/// `text` with the characters that matter in HTML text and attributes escaped.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_answer_is_zero_results() {
        let converted = nearby_search_from_places(&json!({}));
        assert_eq!(
            converted,
            json!({"html_attributions": [], "results": [], "status": "ZERO_RESULTS"})
        );
        let converted = nearby_search_from_places(&json!({"places": []}));
        assert_eq!(converted["status"], "ZERO_RESULTS");
    }

    #[test]
    fn a_bare_place_keeps_only_what_google_sent() {
        let converted = nearby_search_from_places(&json!({"places": [{"id": "abc"}]}));
        assert_eq!(
            converted["results"][0],
            json!({"place_id": "abc", "reference": "abc", "scope": "GOOGLE"})
        );
    }

    #[test]
    fn price_levels_map_to_numbers() {
        let level = |name: &str| price_level(&json!(name));
        assert_eq!(level("PRICE_LEVEL_FREE"), Some(json!(0)));
        assert_eq!(level("PRICE_LEVEL_VERY_EXPENSIVE"), Some(json!(4)));
        assert_eq!(level("PRICE_LEVEL_UNSPECIFIED"), None);
    }

    #[test]
    fn attributions_are_escaped() {
        let link = author_link(&json!({"displayName": "A & <B>", "uri": "https://x/\"y"}));
        assert_eq!(
            link,
            json!("<a href=\"https://x/&quot;y\">A &amp; &lt;B&gt;</a>")
        );
    }

    #[test]
    fn places_that_are_not_a_list_are_an_error() {
        let converted = nearby_search_from_places(&json!({"places": 3}));
        assert_eq!(converted["status"], "UNKNOWN_ERROR");
    }
}
