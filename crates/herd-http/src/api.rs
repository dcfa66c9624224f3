//! The JSON API: a server's status, the herd's, a client's record, clients near a position,
//! and forgetting a client.
//!
//! Reads are open to whoever reaches the HTTP listener (loopback by default). The one write,
//! `DELETE /api/clients/{id}`, forgets a client herd-wide: this server makes a tombstone for
//! its record, which is stored, flooded and caught up like any record (see
//! `herd_core::record`), so every server forgets it and a late copy of the old record cannot
//! bring it back; the client's next IAMAT does. It needs `Authorization: Bearer TOKEN`, the
//! token being the value of the variable `[herd] api_token_env` names; with none named the API
//! is read-only and a write answers 405.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use herd_core::record::Record;
use herd_server::node::Node;
use herd_server::stats::CommandKind;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{error, ready, HttpState};

/// The most clients `near` answers with.
pub const MAX_LIMIT: usize = 1000;
/// Half the Earth's circumference: a radius that covers every position.
pub const MAX_RADIUS_KM: f64 = 20_016.0;

/// The API's routes.
pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/herd", get(herd))
        .route("/api/clients", get(near))
        .route("/api/clients/{*id}", get(client).delete(forget))
}

/// Bytes as text (client IDs and fields are any non-white-space bytes).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A stored record as JSON.
pub fn record_json(record: &Record) -> Value {
    let (lat, lng) = record.position();
    json!({
        "client": text(record.client_bytes()),
        "origin": text(record.origin()),
        "location": text(record.location()),
        "lat": lat,
        "lng": lng,
        "time": text(record.time()),
        "difference": text(record.difference()),
        "at": text(record.line()),
    })
}

/// Seconds since the epoch of `t`.
fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One server's status as JSON.
pub fn status_json(state: &HttpState, node: &Node) -> Value {
    let address = state
        .herd
        .iter()
        .find(|s| s.name == node.name)
        .map(|s| s.address.to_string());
    let neighbours: Vec<Value> = node
        .links
        .iter()
        .zip(&node.stats.links)
        .map(|(link, stats)| {
            let s = stats.state();
            json!({
                "name": link.name,
                "up": link.is_up(),
                "since": humantime::format_rfc3339_seconds(s.since).to_string(),
                "since_unix": unix(s.since),
                "lag_seconds": stats.lag_seconds(),
                "sent": stats.sent.load(std::sync::atomic::Ordering::Relaxed),
                "received": stats.received.load(std::sync::atomic::Ordering::Relaxed),
                "announced": stats.announced.load(std::sync::atomic::Ordering::Relaxed),
                "lazy_origins": node.lazy_origins(link.id),
                "outbox_bytes": link.outbox.bytes(),
            })
        })
        .collect();
    let traffic = &node.stats.traffic;
    let store = node.store.as_ref().map(|s| {
        let st = s.stats();
        json!({
            "file_bytes": st.file_bytes,
            "records_written": st.records_written,
            "write_errors": st.write_errors,
            "records_lost": st.records_lost,
            "compactions": st.compactions,
            "syncs": st.syncs,
        })
    });
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    json!({
        "server": node.name,
        "address": address,
        "ready": state.not_ready().is_none(),
        "neighbours": neighbours,
        "clients": node.table().live_len(),
        "connections": traffic.connections.load(relaxed),
        "commands": {
            "IAMAT": traffic.lines(CommandKind::IAmAt),
            "WHATSAT": traffic.lines(CommandKind::WhatsAt),
            "invalid": traffic.lines(CommandKind::Invalid),
        },
        "store": store,
        "places": {
            "requests": traffic.places_requests.load(relaxed),
            "errors": traffic.places_errors.load(relaxed),
            "upstream": node.places.counters(),
        },
    })
}

/// `GET /api/status`.
async fn status(State(state): State<Arc<HttpState>>) -> Response {
    match ready(&state) {
        Ok(node) => Json(status_json(&state, node)).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/herd`: the configured herd, each server with its status as it says it (asked
/// over HTTP, with a short deadline; `null` when it does not answer). The dashboard's one
/// source: a page may only talk to the server that served it.
async fn herd(State(state): State<Arc<HttpState>>) -> Response {
    let node = match ready(&state) {
        Ok(node) => node.clone(),
        Err(r) => return r,
    };
    let asks = state.herd.iter().map(|server| {
        let state = state.clone();
        let node = node.clone();
        async move {
            let status = if server.name == node.name {
                Some(status_json(&state, &node))
            } else if let Some(http) = server.http {
                let url = format!("http://{http}/api/status");
                match state.peers.get(url).send().await {
                    Ok(answer) if answer.status().is_success() => answer.json::<Value>().await.ok(),
                    _ => None,
                }
            } else {
                None
            };
            json!({ "server": server, "status": status })
        }
    });
    let servers = futures::future::join_all(asks).await;
    Json(json!({ "server": node.name, "servers": servers })).into_response()
}

/// `GET /api/clients/{id}`.
async fn client(State(state): State<Arc<HttpState>>, Path(id): Path<String>) -> Response {
    let node = match ready(&state) {
        Ok(node) => node,
        Err(r) => return r,
    };
    match node.table().get(id.as_bytes()) {
        Some(record) => Json(record_json(&record)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no client called {id:?}")),
    }
}

/// `DELETE /api/clients/{id}`: forgets the client herd-wide (see the module's note).
async fn forget(
    State(state): State<Arc<HttpState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = &state.api_token else {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET")],
            Json(json!({
                "error": "the API is read-only: no token is configured ([herd] api_token_env names the variable holding one)"
            })),
        )
            .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    if !given.is_some_and(|given| same_bytes(given, token.bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"herd\"")],
            Json(
                json!({ "error": "a write needs Authorization: Bearer with the herd's API token" }),
            ),
        )
            .into_response();
    }
    let node = match ready(&state) {
        Ok(node) => node,
        Err(r) => return r,
    };
    match node.forget(id.as_bytes()).await {
        Ok(Some(tombstone)) => Json(json!({
            "forgotten": text(tombstone.client_bytes()),
            "time": text(tombstone.time()),
            "by": text(tombstone.origin()),
            "seq": tombstone.seq(),
        }))
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no client called {id:?}")),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the tombstone could not be stored: {e}"),
        ),
    }
}

/// Compares a given token with the configured one in time that does not depend on where
/// they differ (a byte-by-byte `==` would let a caller find the token a byte at a time).
/// Three lines, so no crate for it.
fn same_bytes(given: &[u8], token: &[u8]) -> bool {
    given.len() == token.len() && given.iter().zip(token).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
}

/// The query of `GET /api/clients`.
#[derive(Debug, Deserialize)]
struct NearQuery {
    /// `LAT,LNG` in degrees.
    near: Option<String>,
    /// How far from it, in kilometres (default: the whole Earth).
    radius_km: Option<f64>,
    /// How many clients at most (default 20).
    limit: Option<usize>,
}

/// `LAT,LNG` as degrees in range.
pub fn position(text: &str) -> Option<(f64, f64)> {
    let (lat, lng) = text.split_once(',')?;
    let lat: f64 = lat.trim().parse().ok()?;
    let lng: f64 = lng.trim().parse().ok()?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)).then_some((lat, lng))
}

/// `GET /api/clients?near=LAT,LNG&radius_km=R&limit=N`: nearest first, with distances.
async fn near(
    State(state): State<Arc<HttpState>>,
    query: Result<Query<NearQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let node = match ready(&state) {
        Ok(node) => node,
        Err(r) => return r,
    };
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected near=LAT,LNG&radius_km=KM&limit=N",
        );
    };
    let Some(centre) = query.near.as_deref().and_then(position) else {
        return error(
            StatusCode::BAD_REQUEST,
            "near must be LAT,LNG in degrees (latitude -90 to 90, longitude -180 to 180)",
        );
    };
    let radius_km = query.radius_km.unwrap_or(MAX_RADIUS_KM);
    if !(radius_km.is_finite() && radius_km >= 0.0) {
        return error(
            StatusCode::BAD_REQUEST,
            "radius_km must be a number of kilometres, at least 0",
        );
    }
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1 to {MAX_LIMIT}"),
        );
    }
    let found = state.index.near(node.table(), centre, radius_km, limit);
    let clients: Vec<Value> = found
        .iter()
        .map(|n| {
            let mut v = record_json(&n.record);
            v["distance_km"] = json!(n.distance_km);
            v
        })
        .collect();
    Json(json!({ "near": [centre.0, centre.1], "radius_km": radius_km, "clients": clients }))
        .into_response()
}
