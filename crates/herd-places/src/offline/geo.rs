//! Geometry on a spherical Earth: great-circle distances and the 3-D embedding the R-tree uses.
//!
//! Places are stored as unit vectors, where the straight-line (chord) distance between two
//! points grows strictly with their great-circle distance. A circle on the sphere is therefore
//! a ball in 3-D, and the index needs no special case at the poles or the antimeridian.

/// Mean Earth radius in metres (IUGG), the sphere every distance here is measured on.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The point `(lat, lng)` (decimal degrees) as a unit vector: x towards (0, 0), y towards
/// (0, 90), z towards the north pole.
pub fn unit_vector(lat: f64, lng: f64) -> [f64; 3] {
    let (sin_lat, cos_lat) = lat.to_radians().sin_cos();
    let (sin_lng, cos_lng) = lng.to_radians().sin_cos();
    [cos_lat * cos_lng, cos_lat * sin_lng, sin_lat]
}

/// Great-circle distance in metres between two points, by the haversine formula (well
/// conditioned for the short distances WHATSAT asks about).
pub fn haversine_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let half_dlat = (lat2 - lat1).to_radians() / 2.0;
    let half_dlng = (lng2 - lng1).to_radians() / 2.0;
    let a = half_dlat.sin().powi(2)
        + lat1.to_radians().cos() * lat2.to_radians().cos() * half_dlng.sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.clamp(0.0, 1.0).sqrt().asin()
}

/// The chord length, on the unit sphere, of a great-circle distance of `distance_m` metres.
/// Distances past half the circumference give the diameter, 2.
pub fn chord_for_distance(distance_m: f64) -> f64 {
    let angle = (distance_m / EARTH_RADIUS_M).clamp(0.0, std::f64::consts::PI);
    2.0 * (angle / 2.0).sin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chord(a: [f64; 3], b: [f64; 3]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let d = haversine_m(0.0, 10.0, 1.0, 10.0);
        assert!((d - 111_195.08).abs() < 0.1, "{d}");
    }

    #[test]
    fn distance_across_the_antimeridian_is_short() {
        let d = haversine_m(-16.8, 179.95, -16.8, -179.95);
        assert!(d < 11_000.0, "{d}");
    }

    #[test]
    fn chord_matches_the_embedding() {
        for (a, b) in [
            ((34.0, -118.0), (34.5, -118.3)),
            ((89.9, 0.0), (89.9, 180.0)),
            ((-16.8, 179.9), (-16.7, -179.9)),
        ] {
            let d = haversine_m(a.0, a.1, b.0, b.1);
            let c = chord(unit_vector(a.0, a.1), unit_vector(b.0, b.1));
            assert!((chord_for_distance(d) - c).abs() < 1e-12);
        }
    }

    #[test]
    fn chord_saturates_at_the_diameter() {
        assert_eq!(chord_for_distance(1e9), 2.0);
        assert_eq!(chord_for_distance(-5.0), 0.0);
    }
}
