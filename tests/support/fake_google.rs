//! A fake Google on 127.0.0.1 that speaks both Places APIs the herd uses, for tests.
//!
//! ```ignore
//! let fake = FakeGoogle::start().await;
//! let settings = GoogleSettings { base_url: Some(fake.base_url.clone()), ..GoogleSettings::with_key(KEY) };
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
    /// `http://127.0.0.1:PORT`, to put in `GoogleSettings::base_url`.
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

/// A made-up place near UCLA, rendered in either API's shape.
#[derive(Debug)]
pub struct CannedPlace {
    /// Place ID.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lng: f64,
    /// Place types, most specific first.
    pub types: &'static [&'static str],
    /// Average rating.
    pub rating: f64,
    /// Number of ratings.
    pub ratings: u32,
    /// `PRICE_LEVEL_*` number 0-4, if any.
    pub price: Option<u8>,
    /// Street address, short form.
    pub short_address: &'static str,
    /// Whether it is open now.
    pub open_now: bool,
    /// The icon's name in Google's pinlet set.
    pub icon: &'static str,
    /// Global plus code.
    pub plus_global: &'static str,
}

impl CannedPlace {
    /// The compound plus code, built from the global one.
    fn plus_compound(&self) -> String {
        format!("{} Los Angeles, California", &self.plus_global[4..])
    }

    /// The photo's resource name.
    fn photo_name(&self) -> String {
        format!("places/{}/photos/AUc7tXFake{}", self.id, self.name.len())
    }

    /// In the Places API (New) shape, every field the herd may ask for.
    pub fn places_new(&self) -> Value {
        const LEVELS: [&str; 5] = [
            "PRICE_LEVEL_FREE",
            "PRICE_LEVEL_INEXPENSIVE",
            "PRICE_LEVEL_MODERATE",
            "PRICE_LEVEL_EXPENSIVE",
            "PRICE_LEVEL_VERY_EXPENSIVE",
        ];
        let mut place = json!({
            "id": self.id,
            "types": self.types,
            "formattedAddress": format!("{}, Los Angeles, CA 90024, USA", self.short_address),
            "plusCode": {
                "globalCode": self.plus_global,
                "compoundCode": self.plus_compound(),
            },
            "location": { "latitude": self.lat, "longitude": self.lng },
            "viewport": {
                "low": { "latitude": self.lat - 0.0013, "longitude": self.lng - 0.0013 },
                "high": { "latitude": self.lat + 0.0013, "longitude": self.lng + 0.0013 },
            },
            "rating": self.rating,
            "businessStatus": "OPERATIONAL",
            "userRatingCount": self.ratings,
            "iconMaskBaseUri": format!("https://maps.gstatic.com/mapfiles/place_api/icons/v2/{}_pinlet", self.icon),
            "iconBackgroundColor": "#7B9EB0",
            "displayName": { "text": self.name, "languageCode": "en" },
            "currentOpeningHours": { "openNow": self.open_now },
            "shortFormattedAddress": self.short_address,
            "photos": [{
                "name": self.photo_name(),
                "widthPx": 4032,
                "heightPx": 3024,
                "authorAttributions": [{
                    "displayName": "A Bruin",
                    "uri": "https://maps.google.com/maps/contrib/100000000000000000001",
                    "photoUri": "https://lh3.googleusercontent.com/a/fake=s100-p-k-no-mo",
                }],
            }],
        });
        if let Some(level) = self.price {
            place["priceLevel"] = json!(LEVELS[usize::from(level)]);
        }
        place
    }

    /// In the Nearby Search (legacy) shape, keys in Google's (alphabetical) order.
    pub fn legacy(&self) -> Value {
        let mut result = json!({
            "business_status": "OPERATIONAL",
            "geometry": {
                "location": { "lat": self.lat, "lng": self.lng },
                "viewport": {
                    "northeast": { "lat": self.lat + 0.0013, "lng": self.lng + 0.0013 },
                    "southwest": { "lat": self.lat - 0.0013, "lng": self.lng - 0.0013 },
                },
            },
            "icon": format!("https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/{}-71.png", self.icon),
            "icon_background_color": "#7B9EB0",
            "icon_mask_base_uri": format!("https://maps.gstatic.com/mapfiles/place_api/icons/v2/{}_pinlet", self.icon),
            "name": self.name,
            "opening_hours": { "open_now": self.open_now },
            "photos": [{
                "height": 3024,
                "html_attributions": ["<a href=\"https://maps.google.com/maps/contrib/100000000000000000001\">A Bruin</a>"],
                "photo_reference": format!("AUc7tXFake{}", self.name.len()),
                "width": 4032,
            }],
            "place_id": self.id,
            "plus_code": {
                "compound_code": self.plus_compound(),
                "global_code": self.plus_global,
            },
            "price_level": self.price,
            "rating": self.rating,
            "reference": self.id,
            "scope": "GOOGLE",
            "types": self.types,
            "user_ratings_total": self.ratings,
            "vicinity": format!("{}, Los Angeles", self.short_address),
        });
        if self.price.is_none() {
            result
                .as_object_mut()
                .expect("object")
                .shift_remove("price_level");
        }
        result
    }
}

/// Shorthand for the canned table.
macro_rules! place {
    ($id:literal, $name:literal, $lat:literal, $lng:literal, [$($t:literal),*], $rating:literal,
     $ratings:literal, $price:expr, $address:literal, $open:literal, $icon:literal, $plus:literal) => {
        CannedPlace {
            id: $id,
            name: $name,
            lat: $lat,
            lng: $lng,
            types: &[$($t),*],
            rating: $rating,
            ratings: $ratings,
            price: $price,
            short_address: $address,
            open_now: $open,
            icon: $icon,
            plus_global: $plus,
        }
    };
}

/// The canned places: made up, around UCLA's campus, 23 of them (more than one page of 20).
pub const CANNED: &[CannedPlace] = &[
    place!(
        "ChIJHerdFake000RoyceHall",
        "Royce Hall",
        34.072878,
        -118.442169,
        ["tourist_attraction", "point_of_interest", "establishment"],
        4.8,
        1204,
        None,
        "10745 Dickson Ct",
        true,
        "generic",
        "8553327V+5W"
    ),
    place!(
        "ChIJHerdFake001Bagels",
        "Bruin Bagel Works",
        34.063012,
        -118.447355,
        [
            "bakery",
            "cafe",
            "food",
            "point_of_interest",
            "establishment"
        ],
        4.5,
        836,
        Some(1),
        "1091 Gayley Ave",
        true,
        "cafe",
        "855327W3+64"
    ),
    place!(
        "ChIJHerdFake002Noodles",
        "Gayley Noodle House",
        34.062541,
        -118.447951,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.3,
        512,
        Some(2),
        "1057 Gayley Ave",
        false,
        "restaurant",
        "855327W2+2R"
    ),
    place!(
        "ChIJHerdFake003Cookies",
        "Westwood Cookie Counter",
        34.063447,
        -118.446807,
        [
            "bakery",
            "store",
            "food",
            "point_of_interest",
            "establishment"
        ],
        4.7,
        6921,
        Some(1),
        "1090 Broxton Ave",
        true,
        "bakery",
        "855327W3+97"
    ),
    place!(
        "ChIJHerdFake004Museum",
        "Fowler Hill Museum",
        34.073062,
        -118.443355,
        [
            "museum",
            "tourist_attraction",
            "point_of_interest",
            "establishment"
        ],
        4.6,
        788,
        Some(0),
        "308 Charles E Young Dr N",
        true,
        "museum",
        "8553327V+6M"
    ),
    place!(
        "ChIJHerdFake005Steak",
        "Le Conte Chop House",
        34.062202,
        -118.444912,
        [
            "restaurant",
            "bar",
            "food",
            "point_of_interest",
            "establishment"
        ],
        4.4,
        1327,
        Some(4),
        "10833 Le Conte Ave",
        false,
        "restaurant",
        "855327W4+V2"
    ),
    place!(
        "ChIJHerdFake006Books",
        "Kinross Books",
        34.061801,
        -118.445930,
        ["book_store", "store", "point_of_interest", "establishment"],
        4.2,
        143,
        Some(2),
        "1010 Kinross Ave",
        true,
        "shopping",
        "855327W3+PM"
    ),
    place!(
        "ChIJHerdFake007Theatre",
        "Village Screen Theatre",
        34.062983,
        -118.447113,
        ["movie_theater", "point_of_interest", "establishment"],
        4.7,
        3350,
        Some(2),
        "961 Broxton Ave",
        false,
        "movies",
        "855327W3+5W"
    ),
    place!(
        "ChIJHerdFake008Tacos",
        "Tiverton Tacos",
        34.065402,
        -118.443210,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.1,
        402,
        Some(1),
        "10900 Tiverton Ave",
        true,
        "restaurant",
        "855327W4+5P"
    ),
    place!(
        "ChIJHerdFake009Garden",
        "Mildred Botanical Garden",
        34.066501,
        -118.441223,
        [
            "park",
            "tourist_attraction",
            "point_of_interest",
            "establishment"
        ],
        4.7,
        1654,
        None,
        "707 Tiverton Dr",
        true,
        "tree",
        "855327W5+JG"
    ),
    place!(
        "ChIJHerdFake010Gym",
        "Westwood Plaza Fitness",
        34.070801,
        -118.445002,
        ["gym", "health", "point_of_interest", "establishment"],
        4.0,
        96,
        Some(2),
        "221 Westwood Plaza",
        false,
        "gym",
        "8553327W+83"
    ),
    place!(
        "ChIJHerdFake011Sushi",
        "Lindbrook Sushi Bar",
        34.060314,
        -118.443911,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.6,
        977,
        Some(3),
        "10901 Lindbrook Dr",
        true,
        "restaurant",
        "855327V4+4C"
    ),
    place!(
        "ChIJHerdFake012Pharmacy",
        "Glendon Pharmacy",
        34.059902,
        -118.442801,
        [
            "pharmacy",
            "drugstore",
            "health",
            "store",
            "point_of_interest",
            "establishment"
        ],
        3.9,
        211,
        None,
        "1100 Glendon Ave",
        true,
        "pharmacy",
        "855327X5+XV"
    ),
    place!(
        "ChIJHerdFake013Coffee",
        "Weyburn Coffee Roasters",
        34.061611,
        -118.446501,
        ["cafe", "food", "point_of_interest", "establishment"],
        4.5,
        1488,
        Some(1),
        "1100 Weyburn Ave",
        true,
        "cafe",
        "855327W3+JC"
    ),
    place!(
        "ChIJHerdFake014Pizza",
        "Broxton Slice",
        34.062712,
        -118.447701,
        [
            "meal_takeaway",
            "restaurant",
            "food",
            "point_of_interest",
            "establishment"
        ],
        4.2,
        654,
        Some(1),
        "1053 Broxton Ave",
        true,
        "restaurant",
        "855327W2+3W"
    ),
    place!(
        "ChIJHerdFake015Hotel",
        "Hilgard House Inn",
        34.064901,
        -118.440612,
        ["lodging", "point_of_interest", "establishment"],
        4.3,
        721,
        Some(3),
        "927 Hilgard Ave",
        true,
        "lodging",
        "855327W5+XQ"
    ),
    place!(
        "ChIJHerdFake016Library",
        "Powell Reading Room",
        34.071601,
        -118.442201,
        ["library", "point_of_interest", "establishment"],
        4.8,
        412,
        None,
        "10740 Dickson Ct",
        true,
        "library",
        "8553327V+PP"
    ),
    place!(
        "ChIJHerdFake017Ramen",
        "Strathmore Ramen",
        34.067801,
        -118.448601,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.4,
        389,
        Some(2),
        "625 Gayley Ave",
        false,
        "restaurant",
        "855327X2+4H"
    ),
    place!(
        "ChIJHerdFake018Market",
        "Midvale Market",
        34.058401,
        -118.444101,
        [
            "supermarket",
            "grocery_or_supermarket",
            "store",
            "food",
            "point_of_interest",
            "establishment"
        ],
        4.1,
        1045,
        Some(2),
        "1260 Midvale Ave",
        true,
        "shopping",
        "855327V4+9H"
    ),
    place!(
        "ChIJHerdFake019Stadium",
        "Pauley Court",
        34.070202,
        -118.446811,
        ["stadium", "point_of_interest", "establishment"],
        4.7,
        2876,
        None,
        "301 Westwood Plaza",
        false,
        "stadium",
        "8553327W+36"
    ),
    place!(
        "ChIJHerdFake020Bank",
        "Westwood Village Credit Union",
        34.060812,
        -118.444512,
        ["bank", "finance", "point_of_interest", "establishment"],
        3.8,
        77,
        None,
        "1000 Westwood Blvd",
        false,
        "bank-intl",
        "855327X4+W5"
    ),
    place!(
        "ChIJHerdFake021Thai",
        "Veteran Thai Kitchen",
        34.063901,
        -118.450312,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.3,
        258,
        Some(1),
        "1175 Veteran Ave",
        true,
        "restaurant",
        "855327X2+HV"
    ),
    place!(
        "ChIJHerdFake022Park",
        "Westwood Gardens Park",
        34.057401,
        -118.441301,
        ["park", "point_of_interest", "establishment"],
        4.5,
        530,
        None,
        "1350 Holmby Ave",
        true,
        "park",
        "855327V5+XF"
    ),
];
