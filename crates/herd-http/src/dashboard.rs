//! `GET /`: the dashboard, plain HTML, CSS and JavaScript compiled into the binary. It loads
//! nothing from anywhere else (every answer carries `Content-Security-Policy: default-src
//! 'self'`): the herd's topology and figures come from `/api/herd`, the clients from
//! `/api/clients` and `/events`, and the map is a graticule drawn by the page.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
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
        .route(
            "/icon.svg",
            get(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
}
