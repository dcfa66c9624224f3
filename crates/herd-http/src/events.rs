//! `GET /events`: Server-Sent Events of what changes on one server.
//!
//! - `location`: a record this server's table took (from a client or a neighbour), as JSON;
//! - `link`: `{"peer", "up"}` when a link goes up or down;
//! - `forget`: a client was forgotten by an operator (`DELETE /api/clients/{id}`), with its
//!   tombstone as JSON (the client and the client time it was forgotten at);
//! - `forgot`: clients were forgotten by age (a page reloads its clients);
//! - `lagged`: `{"missed"}`, when this subscriber fell more than the feed's capacity behind
//!   and changes were skipped for it (the feed is bounded: a slow page never holds memory).
//!
//! A stream ends when its server shuts down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use herd_server::stats::Change;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::api::record_json;
use crate::{ready, HttpState};

/// The events one change makes.
fn events_of(change: Result<Change, RecvError>) -> Option<Vec<Event>> {
    let events = match change {
        Ok(Change::Records(records)) => records
            .iter()
            .map(|r| {
                // A tombstone: the client was forgotten (`DELETE /api/clients/{id}`).
                let kind = if r.is_gone() { "forget" } else { "location" };
                Event::default()
                    .event(kind)
                    .data(record_json(r).to_string())
            })
            .collect(),
        Ok(Change::Link { peer, up }) => vec![Event::default()
            .event("link")
            .data(json!({ "peer": peer, "up": up }).to_string())],
        Ok(Change::Forgot) => vec![Event::default().event("forgot").data("{}")],
        Err(RecvError::Lagged(missed)) => vec![Event::default()
            .event("lagged")
            .data(json!({ "missed": missed }).to_string())],
        Err(RecvError::Closed) => return None,
    };
    Some(events)
}

/// `GET /events`.
pub async fn events(State(state): State<Arc<HttpState>>) -> Response {
    let node = match ready(&state) {
        Ok(node) => node.clone(),
        Err(r) => return r,
    };
    let feed = node.stats.subscribe();
    let stop = node.shutdown.clone();
    let stream = futures::stream::unfold((feed, stop), |(mut feed, stop)| async move {
        let change = tokio::select! {
            _ = stop.cancelled() => return None,
            c = feed.recv() => c,
        };
        let events = events_of(change)?;
        Some((futures::stream::iter(events), (feed, stop)))
    })
    .flatten()
    .map(Ok::<_, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
