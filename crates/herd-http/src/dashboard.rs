//! `GET /`: the dashboard, plain HTML, CSS and JavaScript compiled into the binary. It loads
//! nothing from anywhere else (every answer carries `Content-Security-Policy: default-src
//! 'self'`): the herd's topology and figures come from `/api/herd`, the clients from
//! `/api/clients` and `/events`, and the map is a graticule with a coarse land mask from
//! `/api/land`: the cells of a 2-degree grid that have a place of the built-in offline
//! index near them (the data the binary carries for WHATSAT), computed once per process.

use std::sync::{Arc, OnceLock};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::HttpState;

/// The page.
const INDEX_HTML: &str = include_str!("assets/index.html");
/// Its script.
const APP_JS: &str = include_str!("assets/app.js");
/// Its style.
const STYLE_CSS: &str = include_str!("assets/style.css");
/// Its icon.
const ICON_SVG: &str = include_str!("assets/icon.svg");

/// A file of the page, as `content_type`, cacheable for a minute.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        body,
    )
}

/// The dashboard's routes.
pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/land", get(land))
        .route(
            "/icon.svg",
            get(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
}

/// The land grid's step, in degrees.
const LAND_STEP: f64 = 2.0;
/// How far from a cell's centre a place makes it land, in metres (a little over half the
/// cell's diagonal at the equator).
const LAND_REACH_M: f64 = 170_000.0;

/// The land cells, once computed (about 16,000 nearest-place queries).
static LAND: OnceLock<String> = OnceLock::new();

/// The centres of the grid cells with a place of the offline index near them, as JSON
/// `{"step": degrees, "cells": [[lat, lng], ...]}`.
fn land_cells() -> String {
    let Ok(index) = herd_places::offline::OfflineIndex::builtin() else {
        return r#"{"step":2.0,"cells":[]}"#.to_string();
    };
    let mut cells = Vec::new();
    let rows = (180.0 / LAND_STEP) as i32;
    let columns = (360.0 / LAND_STEP) as i32;
    for row in 0..rows {
        let lat = -90.0 + (f64::from(row) + 0.5) * LAND_STEP;
        for column in 0..columns {
            let lng = -180.0 + (f64::from(column) + 0.5) * LAND_STEP;
            if !index.near(lat, lng, LAND_REACH_M, 1).is_empty() {
                cells.push([lat, lng]);
            }
        }
    }
    serde_json::json!({ "step": LAND_STEP, "cells": cells }).to_string()
}

/// `GET /api/land`.
async fn land() -> Response {
    let body = match LAND.get() {
        Some(body) => body.clone(),
        None => match tokio::task::spawn_blocking(|| LAND.get_or_init(land_cells).clone()).await {
            Ok(body) => body,
            Err(_) => return crate::error(StatusCode::INTERNAL_SERVER_ERROR, "no land"),
        },
    };
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}
