//! The Nearby Search (legacy) JSON for a list of places, keys in Google's order.

use serde_json::{json, Map, Value};

use super::geo::EARTH_RADIUS_M;
use super::plus_code::global_code;
use super::NearbyPlace;

/// Google's generic icon for a locality.
const LOCALITY_ICON: &str =
    "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/geocode-71.png";
/// People per square kilometre assumed when sizing a viewport from a population.
const ASSUMED_DENSITY_PER_KM2: f64 = 2_000.0;
/// Half the side of the smallest viewport, in kilometres.
const MIN_HALF_SIDE_KM: f64 = 1.0;
/// Half the side of the largest viewport, in kilometres.
const MAX_HALF_SIDE_KM: f64 = 50.0;

/// The whole answer: `OK` with the places, or `ZERO_RESULTS` when there are none.
pub fn nearby_search(places: &[NearbyPlace]) -> Value {
    let status = if places.is_empty() {
        "ZERO_RESULTS"
    } else {
        "OK"
    };
    // Built by hand: `json!` would serialize an embedded `Value` all over again.
    let mut answer = Map::new();
    answer.insert("html_attributions".into(), Value::Array(Vec::new()));
    answer.insert("results".into(), places.iter().map(result).collect());
    answer.insert("status".into(), status.into());
    Value::Object(answer)
}

/// One entry of `results`.
fn result(place: &NearbyPlace) -> Value {
    let place_id = format!("geonames:{}", place.id);
    let view = Viewport::around(place);
    json!({
        "geometry": {
            "location": { "lat": place.lat, "lng": place.lng },
            "viewport": {
                "northeast": { "lat": view.north, "lng": view.east },
                "southwest": { "lat": view.south, "lng": view.west },
            },
        },
        "icon": LOCALITY_ICON,
        "name": place.name,
        "place_id": place_id,
        "plus_code": { "global_code": global_code(place.lat, place.lng) },
        "reference": place_id,
        "scope": "GOOGLE",
        "types": ["locality", "political"],
        "vicinity": place.vicinity(),
    })
}

/// The box a map would show for a place, in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Viewport {
    /// Northern edge (latitude).
    north: f64,
    /// Southern edge (latitude).
    south: f64,
    /// Eastern edge (longitude); west of `west` when the box straddles the antimeridian.
    east: f64,
    /// Western edge (longitude).
    west: f64,
}

impl Viewport {
    /// A square around the place whose area grows with its population (as if everyone lived
    /// at [`ASSUMED_DENSITY_PER_KM2`]), clamped to valid coordinates. Longitudes wrap, so a box
    /// over the antimeridian has its east edge west of its west edge, as Google's do; a box
    /// that reaches a pole spans every longitude.
    fn around(place: &NearbyPlace) -> Self {
        let half_km = (0.5 * (f64::from(place.population) / ASSUMED_DENSITY_PER_KM2).sqrt())
            .clamp(MIN_HALF_SIDE_KM, MAX_HALF_SIDE_KM);
        let dlat = (half_km * 1000.0 / EARTH_RADIUS_M).to_degrees();
        let north = place.lat + dlat;
        let south = place.lat - dlat;
        let dlng = dlat / place.lat.to_radians().cos();
        let (east, west) = if north >= 90.0 || south <= -90.0 || !dlng.is_finite() || dlng >= 180.0
        {
            (180.0, -180.0)
        } else {
            (
                wrap_longitude(place.lng + dlng),
                wrap_longitude(place.lng - dlng),
            )
        };
        Self {
            north: round7(north.min(90.0)),
            south: round7(south.max(-90.0)),
            east: round7(east),
            west: round7(west),
        }
    }
}

/// Brings a longitude that went past ±180 back into range.
fn wrap_longitude(lng: f64) -> f64 {
    if lng > 180.0 {
        lng - 360.0
    } else if lng < -180.0 {
        lng + 360.0
    } else {
        lng
    }
}

/// Rounds to 7 decimals (about a centimetre), as Google prints coordinates.
fn round7(value: f64) -> f64 {
    (value * 1e7).round() / 1e7
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(lat: f64, lng: f64, population: u32) -> NearbyPlace {
        NearbyPlace {
            id: 7,
            name: "Here".into(),
            region: None,
            country: Some("Nowhere".into()),
            lat,
            lng,
            population,
            distance_m: 0.0,
        }
    }

    #[test]
    fn empty_answer_is_zero_results() {
        assert_eq!(
            nearby_search(&[]).to_string(),
            r#"{"html_attributions":[],"results":[],"status":"ZERO_RESULTS"}"#
        );
    }

    #[test]
    fn keys_come_in_googles_order() {
        let answer = nearby_search(&[place(10.0, 20.0, 500)]);
        let keys: Vec<&str> = answer["results"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "geometry",
                "icon",
                "name",
                "place_id",
                "plus_code",
                "reference",
                "scope",
                "types",
                "vicinity"
            ]
        );
        assert_eq!(answer["results"][0]["vicinity"], "Here, Nowhere");
        assert_eq!(answer["status"], "OK");
    }

    #[test]
    fn viewport_wraps_over_the_antimeridian() {
        let v = Viewport::around(&place(-16.8, 179.999, 500));
        assert!(v.east < -179.9 && v.west > 179.9, "{v:?}");
    }

    #[test]
    fn viewport_at_a_pole_spans_every_longitude() {
        let v = Viewport::around(&place(89.995, 0.0, 500));
        assert_eq!((v.north, v.east, v.west), (90.0, 180.0, -180.0));
    }

    #[test]
    fn viewport_grows_with_population() {
        let small = Viewport::around(&place(0.0, 0.0, 500));
        let big = Viewport::around(&place(0.0, 0.0, 4_000_000));
        assert!(big.north - big.south > 10.0 * (small.north - small.south));
    }
}
