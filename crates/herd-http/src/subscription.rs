//! What a live-events subscriber asked for, and its place among the subscribers: shared by
//! `GET /events` (Server-Sent Events) and `GET /ws` (WebSocket).
//!
//! - [`Filter`]: every location, one client's, or those inside a circle; read from the query
//!   (`?client=ID`, `?near=LAT,LNG&radius_km=R`) or, on a WebSocket, from a JSON message
//!   (`{"subscribe":{"client":ID}}`, `{"subscribe":{"near":[LAT,LNG],"radius_km":R}}`,
//!   `{"subscribe":"all"}`). `link` and `forgot` events go to every subscriber (they are few).
//! - [`Subscribers`]: at most [`MAX_SUBSCRIBERS`] live streams per server (a slot is taken
//!   before the stream starts and given back when it ends), and the counters `/metrics` shows.
//! - [`Subscription`]: one subscriber's reader of the server's bounded change feed. One that
//!   falls more than the feed's capacity behind is told `lagged` with how many changes it
//!   missed, and goes on from the newest: a slow subscriber never holds memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use herd_core::record::Record;
use herd_server::node::Node;
use herd_server::stats::Change;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::{position, record_json, MAX_RADIUS_KM};
use crate::nearby::distance_km;

/// How many live-event subscribers (SSE and WebSocket together) one server serves at most;
/// one more is answered `503`. Each costs a task and up to a feed's worth of unread changes
/// shared with the others, and a dashboard page holds one.
pub const MAX_SUBSCRIBERS: usize = 256;

/// Which locations a subscriber gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every location.
    All,
    /// Only this client's.
    Client(String),
    /// Only those within `radius_km` of (`lat`, `lng`), great-circle distance.
    Area {
        /// Latitude of the centre, in degrees.
        lat: f64,
        /// Longitude of the centre, in degrees.
        lng: f64,
        /// How far from the centre, in kilometres.
        radius_km: f64,
    },
}

/// The query parameters of `GET /events` and `GET /ws`, as written (checked by
/// [`Filter::from_query`], so that a bad one gets a reason).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterQuery {
    /// `client=ID`: one client's locations.
    client: Option<String>,
    /// `near=LAT,LNG`: locations around a position.
    near: Option<String>,
    /// `radius_km=R`: how far around `near` (default: the whole Earth).
    radius_km: Option<String>,
}

/// What a query that is not a filter is told.
pub const QUERY_EXPECTED: &str =
    "expected no parameter, client=ID, or near=LAT,LNG with an optional radius_km=KM";

impl Filter {
    /// The filter a query asks for.
    ///
    /// # Errors
    /// Why the query is not a filter, for a `400`.
    pub fn from_query(query: &FilterQuery) -> Result<Filter, String> {
        match (&query.client, &query.near, &query.radius_km) {
            (None, None, None) => Ok(Filter::All),
            (Some(_), Some(_), _) => Err(
                "client and near exclude each other: subscribe to one client or one area".into(),
            ),
            (Some(id), None, None) => Filter::client(id),
            (Some(_), None, Some(_)) => {
                Err("radius_km goes with near=LAT,LNG, not with client".into())
            }
            (None, None, Some(_)) => Err("radius_km needs near=LAT,LNG".into()),
            (None, Some(near), radius) => {
                let centre = position(near).ok_or_else(|| {
                    "near must be LAT,LNG in degrees (latitude -90 to 90, longitude -180 to 180)"
                        .to_string()
                })?;
                let radius_km = match radius {
                    None => MAX_RADIUS_KM,
                    Some(r) => r.trim().parse::<f64>().map_err(|_| radius_error())?,
                };
                Filter::area(centre, radius_km)
            }
        }
    }

    /// The filter a WebSocket message asks for: `{"subscribe":"all"}`,
    /// `{"subscribe":{"client":ID}}` or `{"subscribe":{"near":[LAT,LNG],"radius_km":R}}`.
    ///
    /// # Errors
    /// Why the message is not one of those, for an `error` message.
    pub fn from_message(text: &str) -> Result<Filter, String> {
        const EXPECTED: &str = r#"expected {"subscribe":"all"}, {"subscribe":{"client":ID}} or {"subscribe":{"near":[LAT,LNG],"radius_km":KM}}"#;
        let message: Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {EXPECTED}"))?;
        let Some(wanted) = message.as_object().and_then(|m| {
            (m.len() == 1).then_some(())?;
            m.get("subscribe")
        }) else {
            return Err(EXPECTED.into());
        };
        if wanted == "all" {
            return Ok(Filter::All);
        }
        let Some(wanted) = wanted.as_object() else {
            return Err(EXPECTED.into());
        };
        let known = ["client", "near", "radius_km"];
        if let Some(other) = wanted.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown key {other:?}: {EXPECTED}"));
        }
        match (
            wanted.get("client"),
            wanted.get("near"),
            wanted.get("radius_km"),
        ) {
            (Some(Value::String(id)), None, None) => Filter::client(id),
            (None, Some(near), radius) => {
                let centre = near
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .and_then(|a| Some((a[0].as_f64()?, a[1].as_f64()?)))
                    .filter(|(lat, lng)| {
                        (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lng)
                    })
                    .ok_or_else(|| {
                        "near must be [LAT,LNG] in degrees (latitude -90 to 90, longitude -180 to 180)"
                            .to_string()
                    })?;
                let radius_km = match radius {
                    None => MAX_RADIUS_KM,
                    Some(r) => r.as_f64().ok_or_else(radius_error)?,
                };
                Filter::area(centre, radius_km)
            }
            _ => Err(EXPECTED.into()),
        }
    }

    /// One client's filter.
    fn client(id: &str) -> Result<Filter, String> {
        if id.is_empty() || id.contains(char::is_whitespace) {
            return Err("client must be a client ID (no white space)".into());
        }
        Ok(Filter::Client(id.to_string()))
    }

    /// An area's filter.
    fn area((lat, lng): (f64, f64), radius_km: f64) -> Result<Filter, String> {
        if !(radius_km.is_finite() && radius_km >= 0.0) {
            return Err(radius_error());
        }
        Ok(Filter::Area {
            lat,
            lng,
            radius_km,
        })
    }

    /// Whether a subscriber with this filter gets `record`'s location. A tombstone (a client
    /// forgotten) has no position: it goes to every area subscriber, since its client may
    /// have been inside the area (they are rare).
    pub fn admits(&self, record: &Record) -> bool {
        match self {
            Filter::All => true,
            Filter::Client(id) => record.client_bytes() == id.as_bytes(),
            Filter::Area { .. } if record.is_gone() => true,
            Filter::Area {
                lat,
                lng,
                radius_km,
            } => distance_km((*lat, *lng), record.position()) <= *radius_km,
        }
    }

    /// The filter as a subscriber would ask for it (`"all"`, `{"client"}`,
    /// `{"near","radius_km"}`).
    pub fn to_json(&self) -> Value {
        match self {
            Filter::All => json!("all"),
            Filter::Client(id) => json!({ "client": id }),
            Filter::Area {
                lat,
                lng,
                radius_km,
            } => json!({ "near": [lat, lng], "radius_km": radius_km }),
        }
    }
}

/// What a bad radius is told.
fn radius_error() -> String {
    "radius_km must be a number of kilometres, at least 0".into()
}

/// One event for a subscriber: its type (`location`, `forget`, `link`, `forgot`, `lagged`)
/// and its data.
pub type Event = (&'static str, Value);

/// The events one change of the feed makes for a subscriber with `filter`; `None` when the
/// feed is closed.
pub fn events_of(change: Result<Change, RecvError>, filter: &Filter) -> Option<Vec<Event>> {
    let events = match change {
        Ok(Change::Records(records)) => records
            .iter()
            .filter(|r| filter.admits(r))
            // A tombstone: the client was forgotten (`DELETE /api/clients/{id}`).
            .map(|r| {
                (
                    if r.is_gone() { "forget" } else { "location" },
                    record_json(r),
                )
            })
            .collect(),
        Ok(Change::Link { peer, up }) => vec![("link", json!({ "peer": peer, "up": up }))],
        Ok(Change::Forgot) => vec![("forgot", json!({}))],
        Err(RecvError::Lagged(missed)) => vec![("lagged", json!({ "missed": missed }))],
        Err(RecvError::Closed) => return None,
    };
    Some(events)
}

/// The live-event subscribers of one server: their slots and their counters.
#[derive(Debug)]
pub struct Subscribers {
    /// One permit per subscriber that may still start.
    slots: Arc<Semaphore>,
    /// Subscribers answered `503` because every slot was taken.
    refused: AtomicU64,
    /// Changes skipped for subscribers that fell behind (the sum of their `lagged` counts).
    missed: AtomicU64,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers {
            slots: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
            refused: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        }
    }
}

impl Subscribers {
    /// A subscription to `node`'s changes with `filter`, or `None` (counted) when
    /// [`MAX_SUBSCRIBERS`] are live.
    pub fn subscribe(self: &Arc<Self>, node: &Node, filter: Filter) -> Option<Subscription> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        Some(Subscription {
            filter,
            feed: node.stats.subscribe(),
            subscribers: self.clone(),
            _slot: slot,
        })
    }

    /// How many subscribers are live.
    pub fn live(&self) -> usize {
        MAX_SUBSCRIBERS - self.slots.available_permits()
    }

    /// How many were refused for want of a slot.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// How many changes lagging subscribers missed.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

/// One live subscriber: its filter and its reader of the change feed; holds its slot.
pub struct Subscription {
    /// What it gets (a WebSocket subscriber may change it).
    pub filter: Filter,
    /// Its place in the server's change feed.
    feed: broadcast::Receiver<Change>,
    /// Where lags are counted.
    subscribers: Arc<Subscribers>,
    /// Its slot among [`MAX_SUBSCRIBERS`], given back when it is dropped.
    _slot: OwnedSemaphorePermit,
}

impl Subscription {
    /// The events of the next change (possibly none, when the filter takes nothing from it);
    /// `None` when the feed is closed. Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next(&mut self) -> Option<Vec<Event>> {
        let change = self.feed.recv().await;
        if let Err(RecvError::Lagged(missed)) = change {
            self.subscribers.missed.fetch_add(missed, Ordering::Relaxed);
        }
        events_of(change, &self.filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(client: Option<&str>, near: Option<&str>, radius: Option<&str>) -> FilterQuery {
        FilterQuery {
            client: client.map(str::to_string),
            near: near.map(str::to_string),
            radius_km: radius.map(str::to_string),
        }
    }

    #[test]
    fn queries_make_filters_or_say_why_not() {
        assert_eq!(
            Filter::from_query(&query(None, None, None)),
            Ok(Filter::All)
        );
        assert_eq!(
            Filter::from_query(&query(Some("kiwi"), None, None)),
            Ok(Filter::Client("kiwi".into()))
        );
        assert_eq!(
            Filter::from_query(&query(None, Some("34,-118"), Some("10"))),
            Ok(Filter::Area {
                lat: 34.0,
                lng: -118.0,
                radius_km: 10.0
            })
        );
        for bad in [
            query(Some("kiwi"), Some("1,2"), None),
            query(Some(""), None, None),
            query(None, None, Some("3")),
            query(None, Some("91,0"), None),
            query(None, Some("1,2"), Some("-1")),
            query(None, Some("1,2"), Some("far")),
        ] {
            assert!(Filter::from_query(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_make_filters_or_say_why_not() {
        assert_eq!(
            Filter::from_message(r#"{"subscribe":"all"}"#),
            Ok(Filter::All)
        );
        assert_eq!(
            Filter::from_message(r#"{"subscribe":{"client":"kiwi"}}"#),
            Ok(Filter::Client("kiwi".into()))
        );
        assert_eq!(
            Filter::from_message(r#"{"subscribe":{"near":[34,-118],"radius_km":5}}"#),
            Ok(Filter::Area {
                lat: 34.0,
                lng: -118.0,
                radius_km: 5.0
            })
        );
        for bad in [
            "nope",
            "{}",
            r#"{"subscribe":"some"}"#,
            r#"{"subscribe":{"client":3}}"#,
            r#"{"subscribe":{"near":[100,0]}}"#,
            r#"{"subscribe":{"near":[1,2],"radius_km":"x"}}"#,
            r#"{"subscribe":{"client":"a","near":[1,2]}}"#,
            r#"{"subscribe":{"clients":"a"}}"#,
        ] {
            assert!(Filter::from_message(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn areas_admit_what_lies_inside() {
        let la = Filter::Area {
            lat: 34.05,
            lng: -118.25,
            radius_km: 50.0,
        };
        assert!(la.admits(&record(
            "kiwi",
            "+34.068930-118.445127",
            (34.06893, -118.445127)
        )));
        assert!(!la.admits(&record("sydney", "-33.86+151.20", (-33.86, 151.2))));
        assert!(Filter::Client("kiwi".into()).admits(&record("kiwi", "+1+2", (1.0, 2.0))));
        assert!(!Filter::Client("kiwi".into()).admits(&record("kiwi2", "+1+2", (1.0, 2.0))));
    }

    fn record(client: &str, location: &str, (lat, lng): (f64, f64)) -> Record {
        Record::received(
            "Test",
            1,
            0,
            client.as_bytes(),
            location.as_bytes(),
            b"1700000000",
            (lat, lng),
        )
    }
}
