//! The Nearby Search (legacy) JSON for a list of places, keys in Google's order.

use serde_json::{json, Value};

use super::geo::EARTH_RADIUS_M;
use super::plus_code::global_code;
use super::NearbyPlace;

/// Google's generic icon for a locality.
const LOCALITY_ICON: &str =
    "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/geocode-71.png";
/// People per square kilometre assumed when sizing a viewport from a population.
const ASSUMED_DENSITY_PER_KM2: f64 = 2_000.0;
/// Bounds on half the side of a viewport, in kilometres.
const MIN_HALF_SIDE_KM: f64 = 1.0;
const MAX_HALF_SIDE_KM: f64 = 50.0;

/// The whole answer: `OK` with the places, or `ZERO_RESULTS` when there are none.
pub fn nearby_search(places: &[NearbyPlace]) -> Value {
    let status = if places.is_empty() {
        "ZERO_RESULTS"
    } else {
        "OK"
    };
    json!({
        "html_attributions": [],
        "results": places.iter().map(result).collect::<Vec<_>>(),
        "status": status,
    })
}

/// One entry of `results`.
fn result(place: &NearbyPlace) -> Value {
    let place_id = format!("geonames:{}", place.id);
    json!({
        "geometry": {
            "location": { "lat": place.lat, "lng": place.lng },
            "viewport": viewport(place),
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

/// A square around the place whose area grows with its population (as if everyone lived at
/// [`ASSUMED_DENSITY_PER_KM2`]), clamped to valid coordinates. Longitudes wrap, so a box over
/// the antimeridian has its east edge west of its west edge, as Google's do; a box that
/// reaches a pole spans every longitude.
fn viewport(place: &NearbyPlace) -> Value {
    let half_km = (0.5 * (f64::from(place.population) / ASSUMED_DENSITY_PER_KM2).sqrt())
        .clamp(MIN_HALF_SIDE_KM, MAX_HALF_SIDE_KM);
    let dlat = (half_km * 1000.0 / EARTH_RADIUS_M).to_degrees();
    let north = place.lat + dlat;
    let south = place.lat - dlat;
    let dlng = dlat / place.lat.to_radians().cos();
    let (east, west) = if north >= 90.0 || south <= -90.0 || !dlng.is_finite() || dlng >= 180.0 {
        (180.0, -180.0)
    } else {
        (
            wrap_longitude(place.lng + dlng),
            wrap_longitude(place.lng - dlng),
        )
    };
    json!({
        "northeast": { "lat": round7(north.min(90.0)), "lng": round7(east) },
        "southwest": { "lat": round7(south.max(-90.0)), "lng": round7(west) },
    })
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
        let v = viewport(&place(-16.8, 179.999, 500));
        assert!(v["northeast"]["lng"].as_f64().unwrap() < -179.9);
        assert!(v["southwest"]["lng"].as_f64().unwrap() > 179.9);
    }

    #[test]
    fn viewport_at_a_pole_spans_every_longitude() {
        let v = viewport(&place(89.995, 0.0, 500));
        assert_eq!(v["northeast"], json!({"lat": 90.0, "lng": 180.0}));
        assert_eq!(v["southwest"]["lng"], -180.0);
    }

    #[test]
    fn viewport_grows_with_population() {
        let small = viewport(&place(0.0, 0.0, 500));
        let big = viewport(&place(0.0, 0.0, 4_000_000));
        let height = |v: &Value| {
            v["northeast"]["lat"].as_f64().unwrap() - v["southwest"]["lat"].as_f64().unwrap()
        };
        assert!(height(&big) > 10.0 * height(&small));
    }
}
