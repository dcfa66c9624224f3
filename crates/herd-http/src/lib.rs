//! herd-http: a herd server's HTTP side, on the `http` address of its `[[servers]]` entry.
//!
//! - `GET /livez`, `GET /readyz`: health ([`HttpState`] is served before the server has
//!   loaded its store; it is ready once [`HttpState::attach`] gave it the running node);
//! - [`metrics`]: `GET /metrics`, Prometheus text (or OpenMetrics), read at scrape time;
//! - [`api`]: `GET /api/status`, `GET /api/herd`, `GET /api/clients/{id}`,
//!   `GET /api/clients?near=LAT,LNG&radius_km=R&limit=N` (through [`nearby`]'s R-tree);
//! - [`events`]: `GET /events`, Server-Sent Events of new locations and links going up/down;
//! - [`ws`]: `GET /ws`, the same events over a WebSocket (for pages of this server and tools);
//! - [`subscription`]: what an `/events` or `/ws` subscriber gets (one client, an area, all),
//!   and the cap on live subscribers;
//! - [`dashboard`]: `GET /`, the page, compiled into the binary.
//!
//! The HTTP side only reads: it never changes a server's table (see `api` on `DELETE`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod dashboard;
pub mod events;
pub mod metrics;
pub mod nearby;
pub mod subscription;
pub mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use herd_server::config::{Config, Secret};
use herd_server::node::Node;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use nearby::ClientIndex;
use subscription::Subscribers;

/// Why the HTTP side could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address could not be bound.
    #[error("cannot serve HTTP on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
}

/// One server of the herd as the dashboard shows it (from the config).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerView {
    /// Its name.
    pub name: String,
    /// Where it listens for clients.
    pub address: SocketAddr,
    /// Where it serves HTTP, if it does.
    pub http: Option<SocketAddr>,
    /// The servers it talks with.
    pub neighbours: Vec<String>,
}

/// What one server's HTTP side shares between requests.
pub struct HttpState {
    /// The server's name.
    pub name: String,
    /// The herd, as configured.
    pub herd: Vec<ServerView>,
    /// The running server, once it has loaded its store and listens.
    node: OnceLock<Arc<Node>>,
    /// Its metrics registry, made with the node.
    registry: OnceLock<Registry>,
    /// Its clients by position.
    index: ClientIndex,
    /// Asks the other servers' HTTP sides for `/api/herd`.
    peers: reqwest::Client,
    /// The bearer token writes need (`[herd] api_token_env`); none: the API is read-only.
    api_token: Option<Secret>,
    /// The live subscribers of `/events` and `/ws`: their cap and counters.
    subscribers: Arc<Subscribers>,
}

/// How long `/api/herd` waits for another server's status.
const PEER_STATUS_TIMEOUT: Duration = Duration::from_millis(800);

impl HttpState {
    /// The HTTP state of server `name` of `config`, not ready yet.
    pub fn new(config: &Config, name: &str) -> Arc<HttpState> {
        let herd = config
            .servers
            .iter()
            .map(|s| ServerView {
                name: s.name.clone(),
                address: s.listen,
                http: s.http,
                neighbours: s.neighbours.clone(),
            })
            .collect();
        let peers = reqwest::Client::builder()
            .timeout(PEER_STATUS_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_default();
        Arc::new(HttpState {
            name: name.to_string(),
            herd,
            node: OnceLock::new(),
            registry: OnceLock::new(),
            index: ClientIndex::default(),
            peers,
            api_token: config.api_token.clone(),
            subscribers: Arc::default(),
        })
    }

    /// The server is running: from now on the state is ready and reads `node`. Starts the
    /// task that keeps the spatial index (it ends when the node shuts down).
    pub fn attach(&self, node: Arc<Node>) {
        if self.node.set(node.clone()).is_err() {
            return;
        }
        let _ = self
            .registry
            .set(metrics::registry(node.clone(), self.subscribers.clone()));
        node.tasks
            .spawn(nearby::keep(node.clone(), self.index.clone()));
    }

    /// The running node, if attached.
    pub fn node(&self) -> Option<&Arc<Node>> {
        self.node.get()
    }

    /// Why the server is not ready, if it is not.
    pub fn not_ready(&self) -> Option<&'static str> {
        match self.node.get() {
            None => Some("loading the store"),
            Some(node) if node.shutdown.is_cancelled() => Some("shutting down"),
            Some(_) => None,
        }
    }
}

/// An answer of `status` with a JSON body `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The node, or `503` with the reason.
#[allow(clippy::result_large_err)]
fn ready(state: &HttpState) -> Result<&Arc<Node>, Response> {
    match (state.not_ready(), state.node()) {
        (None, Some(node)) => Ok(node),
        (why, _) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reason": why.unwrap_or("not ready") })),
        )
            .into_response()),
    }
}

/// The routes of one server's HTTP side.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .merge(api::routes())
        .route("/events", get(events::events))
        .route("/ws", get(ws::ws))
        .merge(dashboard::routes())
        .layer(axum::middleware::map_response(content_security_policy))
        .with_state(state)
}

/// Every answer says the page may load only from this server.
async fn content_security_policy(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'"),
    );
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /readyz`.
async fn readyz(axum::extract::State(state): axum::extract::State<Arc<HttpState>>) -> Response {
    match ready(&state) {
        Ok(_) => Json(json!({ "ready": true })).into_response(),
        Err(r) => r,
    }
}

/// `GET /metrics`.
async fn metrics_page(
    axum::extract::State(state): axum::extract::State<Arc<HttpState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(r) = ready(&state) {
        return r;
    }
    let Some(registry) = state.registry.get() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no metrics yet");
    };
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match metrics::encode(registry, openmetrics) {
        Ok(body) => {
            let kind = if openmetrics {
                metrics::OPENMETRICS_TEXT
            } else {
                metrics::PROMETHEUS_TEXT
            };
            ([(header::CONTENT_TYPE, kind)], body).into_response()
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed",
        ),
    }
}

/// Binds `addr` for HTTP.
///
/// # Errors
/// [`HttpError::Bind`] when the address is taken or not local.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// The kernel's send buffer of each HTTP connection, in bytes (Linux doubles it). Fixed, so
/// that a live-event subscriber that stops reading holds this much of the kernel's memory
/// (plus hyper's own buffer), not what autotuning would grow it to (4 MiB by default), and is
/// told `lagged` soon instead of reading minutes-old events; ample for every answer here.
pub const SEND_BUFFER_BYTES: usize = 256 * 1024;

/// Serves `state` on `listener` until `stop` is cancelled; then lets open requests finish
/// (live event streams end with their node's shutdown).
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, stop: CancellationToken) {
    let app = router(state);
    let listener = listener.tap_io(|connection| {
        let socket = socket2::SockRef::from(&*connection);
        if let Err(e) = socket.set_send_buffer_size(SEND_BUFFER_BYTES) {
            tracing::debug!("HTTP connection keeps its send buffer: {e}");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::warn!("HTTP server failed: {e}");
    }
}

/// One server's HTTP side, running.
pub struct HttpServer {
    /// What its requests share.
    pub state: Arc<HttpState>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops it.
    stop: CancellationToken,
    /// Its accept loop.
    task: tokio::task::JoinHandle<()>,
}

/// How long open requests get to finish when the HTTP side stops.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl HttpServer {
    /// Starts server `name`'s HTTP side on `listener` (not ready until
    /// [`HttpServer::attach`]).
    pub fn start_on(config: &Config, name: &str, listener: TcpListener) -> HttpServer {
        let state = HttpState::new(config, name);
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, state.clone(), stop.clone()));
        HttpServer {
            state,
            addr,
            stop,
            task,
        }
    }

    /// Starts server `name`'s HTTP side on its configured `http` address, if it has one.
    ///
    /// # Errors
    /// [`HttpError::Bind`] when the address cannot be bound.
    pub async fn start(config: &Config, name: &str) -> Result<Option<HttpServer>, HttpError> {
        let Some(addr) = config.server(name).and_then(|s| s.http) else {
            return Ok(None);
        };
        let listener = bind(addr).await?;
        Ok(Some(HttpServer::start_on(config, name, listener)))
    }

    /// The server is running and listening: the HTTP side reads it from now on.
    pub fn attach(&self, node: Arc<Node>) {
        self.state.attach(node);
    }

    /// Stops accepting, and gives open requests a moment to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}
