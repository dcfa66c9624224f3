//! The built-in offline places index: the default WHATSAT provider, needing no key and no
//! network.
//!
//! The data is every populated place of 500 people or more from GeoNames (CC BY 4.0, see
//! `NOTICE`), compiled into the binary as `data/places.bin.gz` by `scripts/build_places.py`.
//! A query finds the places within a great-circle radius and ranks them like Google's default
//! "prominence": population first, then distance, then GeoNames id.
//!
//! - `table`: the data file and its compact in-memory records.
//! - `geo`: the sphere, distances and the 3-D embedding the R-tree indexes.
//! - `index`: [`OfflineIndex`], the R-tree and the ranked circle query.
//! - `plus_code`: Open Location Code encoding for `plus_code.global_code`.
//! - `answer`: the Nearby Search JSON.
//! - `listing`: the plain-text table of the `herd places near` command.

mod answer;
pub mod geo;
mod index;
mod listing;
pub mod plus_code;
mod table;

use std::sync::Arc;

use crate::provider::{failure, NearbyQuery, PlacesFuture, PlacesProvider};

pub use index::OfflineIndex;
pub use listing::render_table;

/// The most results Google's Nearby Search gives on one page, and so the most this provider
/// gives.
pub const MAX_RESULTS: usize = 20;

/// Why the offline data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The data is not valid gzip.
    #[error("the offline places data is not valid gzip: {0}")]
    Decompress(#[source] std::io::Error),
    /// The names in the data are not UTF-8 text.
    #[error("the offline places data has names that are not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// The data does not follow the format of `scripts/build_places.py`.
    #[error("the offline places data is malformed: {0}")]
    Malformed(&'static str),
}

/// One place found near a point.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbyPlace {
    /// GeoNames id (`place_id` is `geonames:<id>`).
    pub id: u32,
    /// The place's name.
    pub name: String,
    /// The first-level region (a US state), when the data names it.
    pub region: Option<String>,
    /// The country, when the data names it.
    pub country: Option<String>,
    /// Latitude in decimal degrees.
    pub lat: f64,
    /// Longitude in decimal degrees.
    pub lng: f64,
    /// Inhabitants, per GeoNames.
    pub population: u32,
    /// Great-circle distance from the query point, in metres.
    pub distance_m: f64,
}

impl NearbyPlace {
    /// "name, region, country", leaving out the parts the data lacks.
    pub fn vicinity(&self) -> String {
        [
            Some(self.name.as_str()),
            self.region.as_deref(),
            self.country.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The offline places provider (`offline`), answering from an [`OfflineIndex`].
#[derive(Debug, Clone)]
pub struct OfflineProvider {
    /// The shared index every query reads.
    index: Arc<OfflineIndex>,
}

impl OfflineProvider {
    /// A provider answering from `index`.
    pub fn new(index: Arc<OfflineIndex>) -> Self {
        Self { index }
    }

    /// A provider answering from the built-in data (loaded once per process).
    ///
    /// # Errors
    ///
    /// An [`OfflineError`] if the built-in data cannot be read, which means a broken build.
    pub fn builtin() -> Result<Self, OfflineError> {
        OfflineIndex::builtin().map(Self::new)
    }

    /// The index this provider answers from.
    pub fn index(&self) -> &Arc<OfflineIndex> {
        &self.index
    }

    /// The Nearby Search answer to `query`, computed on the calling thread (a query takes
    /// microseconds, so it never needs a blocking pool).
    pub fn answer(&self, query: NearbyQuery) -> serde_json::Value {
        let NearbyQuery {
            lat,
            lng,
            radius_m,
            bound,
        } = query;
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
            return failure(
                "INVALID_REQUEST",
                format!("location {lat},{lng} is not on Earth"),
            );
        }
        if !(radius_m.is_finite() && radius_m > 0.0) {
            return failure(
                "INVALID_REQUEST",
                format!("radius {radius_m} is not a positive number of metres"),
            );
        }
        let places = self.index.near(lat, lng, radius_m, bound.min(MAX_RESULTS));
        answer::nearby_search(&places)
    }
}

impl PlacesProvider for OfflineProvider {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_> {
        Box::pin(std::future::ready(self.answer(query)))
    }
}
