//! Golden answers of the offline places provider, in the Nearby Search shape a WHATSAT
//! returns. Review changes with `cargo insta review` (or rerun with `INSTA_UPDATE=always`).

use futures::executor::block_on;
use herd_places::offline::OfflineProvider;
use herd_places::{NearbyQuery, PlacesProvider};

fn answer(lat: f64, lng: f64, radius_km: f64, bound: usize) -> String {
    let provider = OfflineProvider::builtin().expect("built-in data loads");
    assert_eq!(provider.name(), "offline");
    let query = NearbyQuery {
        lat,
        lng,
        radius_m: radius_km * 1000.0,
        bound,
    };
    serde_json::to_string_pretty(&block_on(provider.nearby(query))).expect("JSON renders")
}

#[test]
fn los_angeles_ucla_10km_bound_5() {
    insta::assert_snapshot!(answer(34.068930, -118.445127, 10.0, 5));
}

#[test]
fn sydney_10km_bound_5() {
    insta::assert_snapshot!(answer(-33.8688, 151.2093, 10.0, 5));
}

#[test]
fn taveuni_on_the_antimeridian_50km() {
    // No place of 500 people lies within 50 km of the line here: ZERO_RESULTS.
    insta::assert_snapshot!(answer(-16.8, 180.0, 50.0, 20));
}

#[test]
fn across_the_antimeridian_from_taveuni_100km() {
    // Wider than a WHATSAT may ask, to reach Vanua Levu's towns west of the line.
    insta::assert_snapshot!(answer(-16.8, -179.9, 100.0, 20));
}

#[test]
fn longyearbyen_near_the_pole_50km() {
    insta::assert_snapshot!(answer(78.22, 15.65, 50.0, 20));
}

#[test]
fn near_the_north_pole_is_zero_results() {
    insta::assert_snapshot!(answer(89.9, 0.0, 50.0, 20));
}

#[test]
fn open_pacific_is_zero_results() {
    insta::assert_snapshot!(answer(0.0, -140.0, 50.0, 20));
}

#[test]
fn bad_location_is_invalid_request() {
    insta::assert_snapshot!(answer(91.0, 0.0, 10.0, 5));
}
