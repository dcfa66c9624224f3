//! A fake Google on 127.0.0.1 that speaks both Places APIs the herd uses, for tests.
//!
//! ```ignore
//! let fake = FakeGoogle::start().await;
//! let settings = PlacesConfig { base_url: Some(fake.base_url.clone()), ..PlacesConfig::with_defaults(ProviderKind::Google) };
//! fake.set_mode(Mode::OverQuota);
//! assert_eq!(fake.count(), 1);
//! let asked = fake.requests();
//! ```
//!
//! - `GET /maps/api/place/nearbysearch/json?location=LAT,LNG&radius=METRES&key=KEY` answers
//!   like Nearby Search (legacy): HTTP 200 even for errors, at most 20 results and a
//!   `next_page_token` when more places matched.
//! - `POST /v1/places:searchNearby` answers like Places API (New): it needs `X-Goog-Api-Key`
//!   and `X-Goog-FieldMask`, honours `maxResultCount` and returns only the fields in the mask,
//!   `{}` when nothing matched, `{"error": {...}}` with HTTP 4xx/5xx on errors.
//!
//! Both know the same [`CANNED`] places around UCLA in Los Angeles and answer those within the
//! asked radius of the asked centre (a query far from Los Angeles matches nothing). Every
//! request is recorded before it is answered, whatever the [`Mode`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use reqwest::Url;
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

pub use super::canned_places::{CannedPlace, CANNED};

/// The legacy endpoint's path.
pub const LEGACY_PATH: &str = "/maps/api/place/nearbysearch/json";
/// The Places API (New) endpoint's path.
pub const NEW_PATH: &str = "/v1/places:searchNearby";
/// Centre of the canned places: UCLA's campus.
pub const UCLA: (f64, f64) = (34.068930, -118.445127);

/// How the fake answers; the same for both APIs, in each API's own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Canned places within the radius.
    Normal,
    /// Nothing matched: legacy `ZERO_RESULTS`, New `{}`.
    Empty,
    /// Canned places, after this delay (the request is recorded at once).
    Slow(Duration),
    /// Bad key: legacy HTTP 200 `REQUEST_DENIED`, New HTTP 403 `PERMISSION_DENIED`.
    Denied,
    /// Quota: legacy HTTP 200 `OVER_QUERY_LIMIT`, New HTTP 429 `RESOURCE_EXHAUSTED`.
    OverQuota,
    /// Bad request: legacy HTTP 200 `INVALID_REQUEST`, New HTTP 400 `INVALID_ARGUMENT`.
    BadRequest,
    /// HTTP 500 with a Google-style `{"error": {...}}` body (both APIs).
    ServerError,
    /// This HTTP status with a Google-style `{"error": {...}}` body (both APIs).
    HttpStatus(u16),
    /// HTTP 200 with a body that is not JSON.
    Garbage,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without query.
    pub path: String,
    /// The raw query string as sent (still percent-encoded), if any.
    pub query: Option<String>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Query parameter `name`, decoded as a server would (`+` as a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query.as_deref().unwrap_or(""), name)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json_body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What the handler and the test share.
#[derive(Debug)]
struct Shared {
    /// The current mode.
    mode: Mutex<Mode>,
    /// Every request so far.
    requests: Mutex<Vec<Recorded>>,
}

/// A running fake Google; stops when dropped.
#[derive(Debug)]
pub struct FakeGoogle {
    /// `http://127.0.0.1:PORT`, to put in `PlacesConfig::base_url`.
    pub base_url: String,
    /// Mode and recorded requests.
    shared: Arc<Shared>,
    /// The server task, aborted on drop.
    server: JoinHandle<()>,
}

impl FakeGoogle {
    /// Starts a fake on an ephemeral port of 127.0.0.1, in [`Mode::Normal`].
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Normal),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Google");
        let address = listener.local_addr().expect("fake Google address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Google serves");
        });
        Self {
            base_url: format!("http://{address}"),
            shared,
            server,
        }
    }

    /// Changes how the next requests are answered.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests were received so far.
    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived, polling until `within` runs out; returns
    /// whether they did.
    pub async fn wait_for_count(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        self.shared.requests.lock().unwrap().clear();
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A port of 127.0.0.1 where nothing listens (bound, then released), so connecting is refused.
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("port").port()
}

/// A base URL where connections are refused.
pub fn refused_base_url() -> String {
    format!("http://127.0.0.1:{}", refused_port())
}

/// Records the request, then answers per the mode and the path.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: header_list(&parts.headers),
        body,
    };
    shared.requests.lock().unwrap().push(recorded.clone());
    let mode = *shared.mode.lock().unwrap();
    if let Mode::Slow(delay) = mode {
        tokio::time::sleep(delay).await;
    }
    match (parts.method, recorded.path.as_str()) {
        (Method::GET, LEGACY_PATH) => legacy(mode, &recorded),
        (Method::POST, NEW_PATH) => places_new(mode, &recorded),
        _ => error_response(404, "NOT_FOUND", "The requested URL was not found."),
    }
}

/// Headers as `(lower-case name, value)` pairs.
fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// Query parameter `name` of a raw query string.
fn query_param(query: &str, name: &str) -> Option<String> {
    let url = Url::parse(&format!("http://fake/?{query}")).ok()?;
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A JSON response.
fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).expect("valid status");
    let headers = [("content-type", "application/json; charset=UTF-8")];
    (status, headers, body.to_string()).into_response()
}

/// A Places API (New) style error.
fn error_response(code: u16, status: &str, message: &str) -> Response {
    json_response(
        code,
        &json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

/// A body that is not JSON, labelled as JSON.
fn garbage() -> Response {
    let headers = [("content-type", "application/json")];
    (StatusCode::OK, headers, "<html><body>oops {\"results\": [").into_response()
}

/// The legacy Nearby Search endpoint.
fn legacy(mode: Mode, request: &Recorded) -> Response {
    let status_only = |status: &str, message: &str| {
        let mut body = json!({"html_attributions": [], "results": [], "status": status});
        if !message.is_empty() {
            body["error_message"] = json!(message);
        }
        json_response(200, &body)
    };
    match mode {
        Mode::Normal | Mode::Slow(_) => {}
        Mode::Empty => return status_only("ZERO_RESULTS", ""),
        Mode::Denied => return status_only("REQUEST_DENIED", "The provided API key is invalid."),
        Mode::OverQuota => {
            return status_only(
                "OVER_QUERY_LIMIT",
                "You have exceeded your daily request quota for this API.",
            )
        }
        Mode::BadRequest => return status_only("INVALID_REQUEST", ""),
        Mode::ServerError => return error_response(500, "INTERNAL", "Internal error."),
        Mode::HttpStatus(code) => return error_response(code, "FAILED", "Injected failure."),
        Mode::Garbage => return garbage(),
    }
    if request.query_param("key").unwrap_or_default().is_empty() {
        return status_only(
            "REQUEST_DENIED",
            "You must use an API key to authenticate each request to Google Maps Platform APIs.",
        );
    }
    let location = request.query_param("location").unwrap_or_default();
    let centre = location
        .split_once(',')
        .and_then(|(lat, lng)| Some((lat.parse::<f64>().ok()?, lng.parse::<f64>().ok()?)));
    let radius = request
        .query_param("radius")
        .and_then(|radius| radius.parse::<f64>().ok())
        .filter(|radius| *radius > 0.0 && *radius <= 50_000.0);
    let (Some((lat, lng)), Some(radius)) = (centre, radius) else {
        return status_only("INVALID_REQUEST", "");
    };
    let matched = within(lat, lng, radius);
    if matched.is_empty() {
        return status_only("ZERO_RESULTS", "");
    }
    let results: Vec<Value> = matched.iter().take(20).map(|p| p.legacy()).collect();
    let mut body = Map::new();
    body.insert("html_attributions".into(), json!([]));
    if matched.len() > 20 {
        body.insert(
            "next_page_token".into(),
            json!("AcJnMuFakeNextPageTokenForTheHerdTests"),
        );
    }
    body.insert("results".into(), Value::from(results));
    body.insert("status".into(), json!("OK"));
    json_response(200, &Value::Object(body))
}

/// The Places API (New) searchNearby endpoint.
fn places_new(mode: Mode, request: &Recorded) -> Response {
    match mode {
        Mode::Normal | Mode::Slow(_) => {}
        Mode::Empty => return json_response(200, &json!({})),
        Mode::Denied => {
            return error_response(
                403,
                "PERMISSION_DENIED",
                "API key not valid. Please pass a valid API key.",
            )
        }
        Mode::OverQuota => {
            return error_response(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'SearchNearby requests'.",
            )
        }
        Mode::BadRequest => {
            return error_response(400, "INVALID_ARGUMENT", "Invalid request payload.")
        }
        Mode::ServerError => return error_response(500, "INTERNAL", "Internal error encountered."),
        Mode::HttpStatus(code) => return error_response(code, "FAILED", "Injected failure."),
        Mode::Garbage => return garbage(),
    }
    if request.header("x-goog-api-key").unwrap_or("").is_empty() {
        return error_response(
            403,
            "PERMISSION_DENIED",
            "The request is missing a valid API key.",
        );
    }
    let Some(mask) = request.header("x-goog-fieldmask").filter(|m| !m.is_empty()) else {
        return error_response(
            400,
            "INVALID_ARGUMENT",
            "FieldMask is a required parameter.",
        );
    };
    let mask = mask.to_owned();
    let body = request.json_body();
    let circle = body.pointer("/locationRestriction/circle");
    let number = |pointer: &str| {
        circle
            .and_then(|c| c.pointer(pointer))
            .and_then(Value::as_f64)
    };
    let count = body.get("maxResultCount").map_or(Some(20), Value::as_u64);
    let (Some(lat), Some(lng), Some(radius), Some(count)) = (
        number("/center/latitude"),
        number("/center/longitude"),
        number("/radius").filter(|r| *r > 0.0 && *r <= 50_000.0),
        count.filter(|c| (1..=20).contains(c)),
    ) else {
        return error_response(400, "INVALID_ARGUMENT", "Invalid locationRestriction.");
    };
    let places: Vec<Value> = within(lat, lng, radius)
        .iter()
        .take(count as usize)
        .map(|place| masked(place.places_new(), &mask))
        .collect();
    if places.is_empty() {
        return json_response(200, &json!({}));
    }
    json_response(200, &json!({ "places": places }))
}

/// Only the top-level fields of `place` named in `mask` (`places.x`, `places.x.y`, `*`).
fn masked(place: Value, mask: &str) -> Value {
    let wanted: Vec<&str> = mask
        .split(',')
        .map(str::trim)
        .filter_map(|path| match path {
            "*" | "places" | "places.*" => Some("*"),
            _ => path.strip_prefix("places.")?.split('.').next(),
        })
        .collect();
    if wanted.contains(&"*") {
        return place;
    }
    let Value::Object(fields) = place else {
        return place;
    };
    Value::Object(
        fields
            .into_iter()
            .filter(|(key, _)| wanted.contains(&key.as_str()))
            .collect(),
    )
}

/// The canned places within `radius` metres of the centre, in canned order.
fn within(lat: f64, lng: f64, radius: f64) -> Vec<&'static CannedPlace> {
    CANNED
        .iter()
        .filter(|place| distance_m(lat, lng, place.lat, place.lng) <= radius)
        .collect()
}

/// Great-circle distance in metres.
fn distance_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * a.sqrt().asin()
}
