//! `GET /ws`: the events of `GET /events` over a WebSocket, each a text message
//! `{"event": TYPE, "data": {...}}` (`location`, `link`, `forgot`, `lagged`).
//!
//! A subscriber chooses what it gets with the query of the upgrade (`?client=ID`,
//! `?near=LAT,LNG&radius_km=R`, as `/events`) and, at any time, with a JSON message
//! (`{"subscribe":{"client":ID}}`, `{"subscribe":{"near":[LAT,LNG],"radius_km":R}}`,
//! `{"subscribe":"all"}`). The server confirms every filter it takes with a `subscribed`
//! message (the first message of a session, too) and answers a message it cannot take with an
//! `error` message (`{"error": why}`); the socket stays open.
//!
//! An upgrade from a browser page of another site is refused (`403`): its `Origin` must name
//! this server as its `Host` does. A request without `Origin` comes from a tool, not a page,
//! and is let in. Bounded like `/events`: a subscriber that reads too slowly is told `lagged`,
//! subscribers are capped, a client message is at most [`MAX_MESSAGE`] bytes, and a send the
//! subscriber does not take within [`SEND_DEADLINE`] ends the session.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::events::{filter_of, too_many};
use crate::subscription::{Filter, FilterQuery, Subscription};
use crate::{error, ready, HttpState};

/// The longest message a subscriber may send, in bytes (a subscribe message is far shorter).
pub const MAX_MESSAGE: usize = 4096;

/// How long a subscriber may take nothing from its socket while a message waits for it
/// before the session ends (a subscriber that stops reading for a while only lags; one that
/// never reads again must not hold its slot for ever).
pub const SEND_DEADLINE: Duration = Duration::from_secs(60);

/// `GET /ws`.
pub async fn ws(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    query: Result<Query<FilterQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let node = match ready(&state) {
        Ok(node) => node.clone(),
        Err(r) => return r,
    };
    if !same_origin(&headers) {
        return error(
            StatusCode::FORBIDDEN,
            "a page of another site may not open this server's WebSocket (Origin is not Host)",
        );
    }
    let filter = match filter_of(query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(subscription) = state.subscribers.subscribe(&node, filter) else {
        return too_many();
    };
    let stop = node.shutdown.clone();
    upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session(socket, subscription, stop))
}

/// Whether the request comes from no page (no `Origin`) or from a page of this server: its
/// `Origin` (`scheme://host[:port]`) names the authority its `Host` names, default ports
/// aside.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(header::HOST).map(|h| h.to_str()),
    ) else {
        return false;
    };
    let (authority, default_port) = if let Some(rest) = origin.strip_prefix("http://") {
        (rest, ":80")
    } else if let Some(rest) = origin.strip_prefix("https://") {
        (rest, ":443")
    } else {
        return false; // "null" (a sandboxed page, a file) or something else
    };
    let bare = |a: &str| {
        a.strip_suffix(default_port)
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    !authority.is_empty() && bare(authority.trim_end_matches('/')) == bare(host.trim())
}

/// A message `{"event": kind, "data": data}`.
fn message(kind: &str, data: Value) -> Message {
    Message::Text(json!({ "event": kind, "data": data }).to_string().into())
}

/// Sends `message`, within [`SEND_DEADLINE`]; false when the session is over.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_DEADLINE, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Serves one subscriber until it leaves, its socket fails or the server stops.
async fn session(mut socket: WebSocket, mut subscription: Subscription, stop: CancellationToken) {
    if !send(
        &mut socket,
        message("subscribed", subscription.filter.to_json()),
    )
    .await
    {
        return;
    }
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            incoming = socket.recv() => {
                let answer = match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(text))) => match Filter::from_message(&text) {
                        Ok(filter) => {
                            let confirmed = filter.to_json();
                            subscription.filter = filter;
                            message("subscribed", confirmed)
                        }
                        Err(why) => message("error", json!({ "error": why })),
                    },
                    Some(Ok(Message::Binary(_))) => {
                        message("error", json!({ "error": "send JSON text messages" }))
                    }
                    // Pings are answered by the socket itself.
                    Some(Ok(_)) => continue,
                };
                if !send(&mut socket, answer).await {
                    return;
                }
            }
            events = subscription.next() => {
                let Some(events) = events else { break };
                for (kind, data) in events {
                    if !send(&mut socket, message(kind, data)).await {
                        return;
                    }
                }
            }
        }
    }
    let bye = Message::Close(Some(CloseFrame {
        code: close_code::AWAY,
        reason: "the server is stopping".into(),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(bye)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_static(o));
        }
        h
    }

    #[test]
    fn only_pages_of_this_server_may_open_it() {
        assert!(same_origin(&headers(None, "127.0.0.1:11000")));
        assert!(same_origin(&headers(
            Some("http://127.0.0.1:11000"),
            "127.0.0.1:11000"
        )));
        assert!(same_origin(&headers(
            Some("http://Herd.example"),
            "herd.example:80"
        )));
        assert!(same_origin(&headers(
            Some("https://herd.example:443"),
            "herd.example"
        )));
        assert!(!same_origin(&headers(
            Some("http://127.0.0.1:11001"),
            "127.0.0.1:11000"
        )));
        assert!(!same_origin(&headers(
            Some("https://evil.example"),
            "127.0.0.1:11000"
        )));
        assert!(!same_origin(&headers(Some("null"), "127.0.0.1:11000")));
        assert!(!same_origin(&headers(Some("http://"), "")));
    }
}
