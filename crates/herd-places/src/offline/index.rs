//! The spatial index: an R-tree over the places' unit vectors, and the ranked circle query.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rstar::primitives::GeomWithData;
use rstar::{RStarInsertionStrategy, RTree, RTreeParams};

use super::geo::{chord_for_distance, haversine_m, unit_vector};
use super::table::{PlaceRecord, PlaceTable};
use super::{NearbyPlace, OfflineError};

/// The data file built into the binary (see `scripts/build_places.py`).
static BUILTIN_DATA: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/places.bin.gz"));

/// The index of the built-in data, built on first use and shared by every caller after it.
static BUILTIN: OnceLock<Arc<OfflineIndex>> = OnceLock::new();

/// Held while the built-in data loads, so that it loads once.
static LOADING: Mutex<()> = Mutex::new(());

/// Widens the R-tree search ball beyond the exact chord (by about 6 m on Earth) so that the
/// `f32` rounding of the 3-D embedding (under a micrometre of chord) can never drop a place the
/// exact great-circle filter would keep.
const CHORD_SLACK: f64 = 1e-6;

/// An R-tree entry: a place's unit vector (`f32` is plenty for a coarse search and halves the
/// tree) and its position in the place table.
type Entry = GeomWithData<[f32; 3], u32>;

/// R-tree node sizes: wider nodes than rstar's default (6) make bulk loading about twice as
/// fast, which is most of the start-up time, and queries no slower.
struct WideNodes;

impl RTreeParams for WideNodes {
    const MIN_SIZE: usize = 6;
    const MAX_SIZE: usize = 16;
    const REINSERTION_COUNT: usize = 4;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// The place's unit vector, as the tree stores it.
fn tree_point(lat: f64, lng: f64) -> [f32; 3] {
    unit_vector(lat, lng).map(|c| c as f32)
}

/// The offline places index: every place of the data file, searchable by circle.
#[derive(Debug)]
pub struct OfflineIndex {
    /// The places and their names.
    table: PlaceTable,
    /// Unit vectors of the places, for the coarse ball search.
    tree: RTree<Entry, WideNodes>,
}

impl OfflineIndex {
    /// The index of the data built into the binary, loaded once per process (about a tenth of
    /// a second in release builds) and shared after that.
    ///
    /// # Errors
    ///
    /// An [`OfflineError`] if the built-in data cannot be read, which means a broken build.
    pub fn builtin() -> Result<Arc<Self>, OfflineError> {
        if let Some(index) = BUILTIN.get() {
            return Ok(Arc::clone(index));
        }
        // One loader at a time: callers racing at start-up wait for it instead of each
        // spending the load again. A failed load leaves the cell empty for the next caller.
        let _loading = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = BUILTIN.get() {
            return Ok(Arc::clone(index));
        }
        let index = Arc::new(Self::load_builtin()?);
        Ok(Arc::clone(BUILTIN.get_or_init(|| index)))
    }

    /// Loads a fresh, unshared copy of the built-in data (what [`Self::builtin`] does once;
    /// benchmarks time this).
    ///
    /// # Errors
    ///
    /// An [`OfflineError`] if the built-in data cannot be read.
    pub fn load_builtin() -> Result<Self, OfflineError> {
        Self::from_gzip(BUILTIN_DATA)
    }

    /// Builds an index from a gzip-compressed data file in the format of
    /// `scripts/build_places.py`.
    ///
    /// # Errors
    ///
    /// An [`OfflineError`] saying why the bytes are not such a file.
    pub fn from_gzip(bytes: &[u8]) -> Result<Self, OfflineError> {
        Ok(Self::from_table(PlaceTable::from_gzip(bytes)?))
    }

    /// Builds the R-tree over a parsed table.
    fn from_table(table: PlaceTable) -> Self {
        let entries = table
            .places
            .iter()
            .zip(0u32..)
            .map(|(place, slot)| Entry::new(tree_point(place.lat, place.lng), slot))
            .collect();
        Self {
            table,
            tree: RTree::bulk_load_with_params(entries),
        }
    }

    /// How many places the index holds.
    pub fn len(&self) -> usize {
        self.table.places.len()
    }

    /// Whether the index holds no place at all.
    pub fn is_empty(&self) -> bool {
        self.table.places.is_empty()
    }

    /// The places within `radius_m` metres (great-circle) of `(lat, lng)`, most prominent
    /// first: population descending, then distance ascending, then GeoNames id; at most
    /// `limit` of them. A radius that is not a positive number finds nothing.
    pub fn near(&self, lat: f64, lng: f64, radius_m: f64, limit: usize) -> Vec<NearbyPlace> {
        if !(lat.is_finite() && lng.is_finite() && radius_m >= 0.0) || limit == 0 {
            return Vec::new();
        }
        let chord = (chord_for_distance(radius_m) + CHORD_SLACK) as f32;
        let hits = self
            .tree
            .locate_within_distance(tree_point(lat, lng), chord * chord)
            .map(|entry| &self.table.places[entry.data as usize]);
        self.rank(lat, lng, radius_m, limit, hits)
    }

    /// Keeps the candidates that really lie inside the circle and returns the best `limit`.
    fn rank<'a>(
        &'a self,
        lat: f64,
        lng: f64,
        radius_m: f64,
        limit: usize,
        candidates: impl Iterator<Item = &'a PlaceRecord>,
    ) -> Vec<NearbyPlace> {
        let mut inside: Vec<(&PlaceRecord, f64)> = candidates
            .map(|place| (place, haversine_m(lat, lng, place.lat, place.lng)))
            .filter(|&(_, distance)| distance <= radius_m)
            .collect();
        if inside.len() > limit {
            inside.select_nth_unstable_by(limit - 1, prominence);
            inside.truncate(limit);
        }
        inside.sort_unstable_by(prominence);
        inside
            .into_iter()
            .map(|(place, distance)| self.describe(place, distance))
            .collect()
    }

    /// The public view of one place.
    fn describe(&self, place: &PlaceRecord, distance_m: f64) -> NearbyPlace {
        NearbyPlace {
            id: place.id,
            name: self.table.name(place).to_owned(),
            region: self.table.region(place).map(str::to_owned),
            country: self.table.country(place).map(str::to_owned),
            lat: place.lat,
            lng: place.lng,
            population: place.population,
            distance_m,
        }
    }
}

/// Google's default ranking, approximated: bigger first, then nearer, then lower id.
fn prominence(a: &(&PlaceRecord, f64), b: &(&PlaceRecord, f64)) -> Ordering {
    b.0.population
        .cmp(&a.0.population)
        .then(a.1.total_cmp(&b.1))
        .then(a.0.id.cmp(&b.0.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index() -> Arc<OfflineIndex> {
        OfflineIndex::builtin().expect("built-in data loads")
    }

    /// The reference answer: every place checked one by one, then fully sorted.
    fn brute_force(
        index: &OfflineIndex,
        lat: f64,
        lng: f64,
        radius_m: f64,
        limit: usize,
    ) -> Vec<NearbyPlace> {
        let mut all: Vec<NearbyPlace> = index
            .table
            .places
            .iter()
            .map(|place| (place, haversine_m(lat, lng, place.lat, place.lng)))
            .filter(|&(_, distance)| distance <= radius_m)
            .map(|(place, distance)| index.describe(place, distance))
            .collect();
        all.sort_by(|a, b| {
            b.population
                .cmp(&a.population)
                .then(a.distance_m.total_cmp(&b.distance_m))
                .then(a.id.cmp(&b.id))
        });
        all.truncate(limit);
        all
    }

    #[test]
    fn builtin_holds_every_place() {
        assert!(index().len() > 200_000, "{}", index().len());
    }

    #[test]
    fn finds_los_angeles_first_near_ucla() {
        let found = index().near(34.068930, -118.445127, 20_000.0, 3);
        assert_eq!(found[0].name, "Los Angeles");
        assert_eq!(
            found[0].vicinity(),
            "Los Angeles, California, United States"
        );
    }

    #[test]
    fn degenerate_queries_find_nothing() {
        let index = index();
        assert!(index.near(f64::NAN, 0.0, 1000.0, 20).is_empty());
        assert!(index.near(51.5, 0.0, -1.0, 20).is_empty());
        assert!(index.near(51.5, 0.0, 10_000.0, 0).is_empty());
    }

    #[test]
    fn crosses_the_antimeridian() {
        // East of the line, Vanua Levu's towns lie 80-90 km away on the other side of it.
        let found = index().near(-16.8, -179.9, 100_000.0, 20);
        let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Labasa", "Savusavu"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn index_agrees_with_brute_force(
            lat in -90.0f64..=90.0,
            lng in -180.0f64..=180.0,
            radius_m in 0.0f64..300_000.0,
            limit in 1usize..=40,
        ) {
            let index = index();
            let fast = index.near(lat, lng, radius_m, limit);
            let slow = brute_force(&index, lat, lng, radius_m, limit);
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn index_agrees_with_brute_force_in_dense_places(
            centre in prop::sample::select(vec![(51.507, -0.128), (35.68, 139.76), (-16.8, 180.0), (78.2, 15.6), (40.71, -74.0)]),
            dlat in -0.5f64..0.5,
            dlng in -0.5f64..0.5,
            radius_m in 0.0f64..50_000.0,
        ) {
            let index = index();
            let lat = (centre.0 + dlat).clamp(-90.0, 90.0);
            let lng = centre.1 + dlng;
            let lng = if lng > 180.0 { lng - 360.0 } else { lng };
            let fast = index.near(lat, lng, radius_m, 20);
            let slow = brute_force(&index, lat, lng, radius_m, 20);
            prop_assert_eq!(fast, slow);
        }
    }
}
