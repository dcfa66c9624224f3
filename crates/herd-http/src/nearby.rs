//! [`ClientIndex`]: where the clients of one server's table are, as an R-tree, for
//! `GET /api/clients?near=`.
//!
//! Positions are points on the unit sphere (x, y, z): the straight-line distance between two
//! of them grows with the great-circle distance, so the tree's nearest-first order is the
//! order on the Earth, with no trouble at the poles or the date line.
//!
//! The index is a view, kept by one task ([`keep`]) from the node's change feed; the table
//! stays the truth. The task takes what the feed holds, then pauses [`SETTLE`], so a client
//! that moves a thousand times a second costs the tree a few moves a second; each client is
//! placed as the table has it when the task looks (so batches that arrive out of order still
//! leave the newest position). A feed that left the task behind, or a forgetting sweep,
//! makes it rebuild from a snapshot of the table.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use herd_core::record::Record;
use herd_core::table::LocationTable;
use herd_server::node::Node;
use herd_server::stats::Change;
use rstar::primitives::GeomWithData;
use rstar::RTree;
use tokio::sync::broadcast::error::RecvError;

/// The Earth's mean radius, in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// A client's position in the tree.
type Entry = GeomWithData<[f64; 3], Bytes>;

/// The unit vector of (lat, lng) in degrees.
fn unit(lat: f64, lng: f64) -> [f64; 3] {
    let (lat, lng) = (lat.to_radians(), lng.to_radians());
    [lat.cos() * lng.cos(), lat.cos() * lng.sin(), lat.sin()]
}

/// The great-circle distance in kilometres for a chord of length `chord` on the unit sphere.
fn chord_to_km(chord: f64) -> f64 {
    2.0 * (chord / 2.0).clamp(0.0, 1.0).asin() * EARTH_RADIUS_KM
}

/// The great-circle distance in kilometres between two positions (lat, lng) in degrees,
/// measured as the index measures it.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (a, b) = (unit(a.0, a.1), unit(b.0, b.1));
    let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
    chord_to_km(chord)
}

/// The tree and, per client, its point in it (to take it out when the client moves).
#[derive(Default)]
struct Points {
    /// Every indexed client by position.
    tree: RTree<Entry>,
    /// Where each client is in `tree`.
    at: HashMap<Bytes, [f64; 3]>,
}

/// The clients of one server by position.
#[derive(Default, Clone)]
pub struct ClientIndex {
    /// Written by [`keep`] only; read by requests.
    points: Arc<RwLock<Points>>,
}

/// A client found near a position.
#[derive(Debug, Clone)]
pub struct Near {
    /// Its stored record.
    pub record: Record,
    /// How far it is from the position asked about, in kilometres.
    pub distance_km: f64,
}

impl ClientIndex {
    /// Puts `client` where the table has it now (or takes it out).
    fn update(&self, table: &LocationTable, client: Bytes) {
        let now = table.get(&client);
        let mut points = self.points.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = points.at.remove(&client) {
            points.tree.remove(&GeomWithData::new(old, client.clone()));
        }
        if let Some(now) = now {
            let (lat, lng) = now.position();
            let point = unit(lat, lng);
            points.at.insert(client.clone(), point);
            points.tree.insert(GeomWithData::new(point, client));
        }
    }

    /// Replaces the whole index by what `table` holds (a bulk load, off the async workers).
    async fn rebuild(&self, table: &LocationTable) {
        let table = table.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut at = HashMap::new();
            let mut entries = Vec::new();
            table.for_each(|r| {
                if r.is_gone() {
                    return;
                }
                let (lat, lng) = r.position();
                let point = unit(lat, lng);
                let client = Bytes::copy_from_slice(r.client_bytes());
                at.insert(client.clone(), point);
                entries.push(GeomWithData::new(point, client));
            });
            Points {
                tree: RTree::bulk_load(entries),
                at,
            }
        })
        .await;
        if let Ok(points) = built {
            *self.points.write().unwrap_or_else(|e| e.into_inner()) = points;
        }
    }

    /// How many clients are indexed.
    pub fn len(&self) -> usize {
        self.points
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .at
            .len()
    }

    /// Whether no client is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At most `limit` clients within `radius_km` of (lat, lng), nearest first, as `table`
    /// has them.
    pub fn near(
        &self,
        table: &LocationTable,
        (lat, lng): (f64, f64),
        radius_km: f64,
        limit: usize,
    ) -> Vec<Near> {
        let centre = unit(lat, lng);
        let found: Vec<(Bytes, f64)> = {
            let points = self.points.read().unwrap_or_else(|e| e.into_inner());
            points
                .tree
                .nearest_neighbor_iter_with_distance_2(centre)
                .map(|(e, d2)| (e.data.clone(), chord_to_km(d2.sqrt())))
                .take_while(|(_, km)| *km <= radius_km)
                .take(limit)
                .collect()
        };
        found
            .into_iter()
            .filter_map(|(client, distance_km)| {
                table.get(&client).map(|record| Near {
                    record,
                    distance_km,
                })
            })
            .collect()
    }
}

/// How long the index keeper lets changes gather between two rounds of updates: the index
/// may be this much behind the table.
pub const SETTLE: Duration = Duration::from_millis(50);

/// Keeps `index` in step with `node`'s table until the node shuts down.
pub async fn keep(node: Arc<Node>, index: ClientIndex) {
    // Subscribed before the first build, so nothing that happens after it is missed.
    let mut feed = node.stats.subscribe();
    index.rebuild(node.table()).await;
    let mut moved: HashSet<Bytes> = HashSet::new();
    loop {
        let first = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            c = feed.recv() => c,
        };
        let mut rebuild = false;
        let mut change = Some(first);
        while let Some(c) = change.take() {
            match c {
                Ok(Change::Records(records)) => moved.extend(records.iter().map(Record::client)),
                Ok(Change::Link { .. }) => {}
                Ok(Change::Forgot) | Err(RecvError::Lagged(_)) => rebuild = true,
                Err(RecvError::Closed) => return,
            }
            change = match feed.try_recv() {
                Ok(c) => Some(Ok(c)),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    Some(Err(RecvError::Lagged(n)))
                }
                Err(_) => None,
            };
        }
        if rebuild {
            moved.clear();
            index.rebuild(node.table()).await;
        } else {
            for client in moved.drain() {
                index.update(node.table(), client);
            }
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(SETTLE) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_measure_great_circles() {
        let a = unit(0.0, 0.0);
        let b = unit(0.0, 90.0);
        let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        let quarter = std::f64::consts::FRAC_PI_2 * EARTH_RADIUS_KM;
        assert!((chord_to_km(chord) - quarter).abs() < 1e-6);
    }
}
