//! What every places provider speaks: the question ([`NearbyQuery`]), the trait that answers it
//! ([`PlacesProvider`]) and the failure shape of the answer ([`failure`]).
//!
//! Every provider answers in the shape of Google Places' Nearby Search (legacy) response: a JSON
//! object with `html_attributions`, `results` and `status` (and `error_message` on failure). The
//! server cuts `results` to the client's bound and renders the JSON; providers never fail with a
//! Rust error, they answer the failure shape instead, so a broken upstream can never stall or
//! drop a client connection.

use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};

/// What a WHATSAT asks: a circle around a client's last position and how many results to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyQuery {
    /// Latitude of the centre, decimal degrees in [-90, 90].
    pub lat: f64,
    /// Longitude of the centre, decimal degrees in [-180, 180].
    pub lng: f64,
    /// Radius in metres (the wire speaks kilometres; providers speak metres like Google).
    pub radius_m: f64,
    /// Upper bound on the number of results the client wants (1..=20).
    pub bound: usize,
}

/// A boxed future, so providers can sit behind `dyn PlacesProvider`.
pub type PlacesFuture<'a> = Pin<Box<dyn Future<Output = Value> + Send + 'a>>;

/// A source of places around a point.
pub trait PlacesProvider: Send + Sync + 'static {
    /// A short name for logs and cache keys (`offline`, `google`, `google-legacy`).
    fn name(&self) -> &'static str;

    /// Answers `query` with a Nearby Search shaped JSON object. It may hold more than
    /// `query.bound` results (the caller cuts them); on failure it holds `"results": []`, a
    /// `status` and an `error_message` (see [`failure`]).
    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_>;

    /// Counters worth logging (calls, cache hits, errors by status), if the provider keeps any.
    fn counters(&self) -> Option<Value> {
        None
    }
}

/// The failure shape of PROTOCOL.md: no results, a status and a message.
pub fn failure(status: &str, message: impl Into<String>) -> Value {
    json!({
        "html_attributions": [],
        "results": [],
        "status": status,
        "error_message": message.into(),
    })
}
