//! `GET /events`: Server-Sent Events of what changes on one server.
//!
//! - `location`: a record this server's table took (from a client or a neighbour), as JSON;
//! - `forget`: a client forgotten by an operator (`DELETE /api/clients/{id}`), with its
//!   tombstone as JSON (the client and the client time it was forgotten at);
//! - `link`: `{"peer", "up"}` when a link goes up or down;
//! - `forgot`: clients were forgotten by age (a page reloads its clients);
//! - `lagged`: `{"missed"}`, when this subscriber fell more than the feed's capacity behind
//!   and changes were skipped for it (the feed is bounded: a slow page never holds memory).
//!
//! `?client=ID` or `?near=LAT,LNG&radius_km=R` narrows the `location` events to one client
//! or one area (see [`subscription`](crate::subscription)); a bad parameter is a `400` with
//! the reason, and a subscriber beyond
//! [`MAX_SUBSCRIBERS`](crate::subscription::MAX_SUBSCRIBERS) a `503`.
//!
//! A stream ends when its server shuts down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::subscription::{Filter, FilterQuery, Subscription, QUERY_EXPECTED};
use crate::{error, ready, HttpState};

/// The filter of a subscription request, or the `400` that says why it is not one.
#[allow(clippy::result_large_err)]
pub(crate) fn filter_of(
    query: Result<Query<FilterQuery>, QueryRejection>,
) -> Result<Filter, Response> {
    let Ok(Query(query)) = query else {
        return Err(error(StatusCode::BAD_REQUEST, QUERY_EXPECTED));
    };
    Filter::from_query(&query).map_err(|why| error(StatusCode::BAD_REQUEST, why))
}

/// The `503` of a subscriber beyond the cap.
pub(crate) fn too_many() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many live event subscribers on this server; try again later",
    )
}

/// `GET /events`.
pub async fn events(
    State(state): State<Arc<HttpState>>,
    query: Result<Query<FilterQuery>, QueryRejection>,
) -> Response {
    let node = match ready(&state) {
        Ok(node) => node.clone(),
        Err(r) => return r,
    };
    let filter = match filter_of(query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(subscription) = state.subscribers.subscribe(&node, filter) else {
        return too_many();
    };
    let stop = node.shutdown.clone();
    let stream = futures::stream::unfold(
        (subscription, stop),
        |(mut subscription, stop): (Subscription, _)| async move {
            let events = tokio::select! {
                _ = stop.cancelled() => return None,
                e = subscription.next() => e?,
            };
            let events = events
                .into_iter()
                .map(|(kind, data)| Event::default().event(kind).data(data.to_string()));
            Some((futures::stream::iter(events), (subscription, stop)))
        },
    )
    .flatten()
    .map(Ok::<_, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
