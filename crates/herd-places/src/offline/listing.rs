//! A human-readable table of places, for the `herd places near` command.

use std::fmt::Write;

use super::NearbyPlace;

/// Renders `places` as a plain-text table, one line per place after a header line, or a single
/// line saying that nothing was found.
pub fn render_table(places: &[NearbyPlace]) -> String {
    if places.is_empty() {
        return "no places within the radius\n".to_owned();
    }
    let mut out = format!(
        "{:>3}  {:>8}  {:>12}  {:>9}  {:>10}  {}\n",
        "#", "km", "population", "lat", "lng", "place"
    );
    for (rank, place) in places.iter().enumerate() {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{:>3}  {:>8.2}  {:>12}  {:>9.5}  {:>10.5}  {}",
            rank + 1,
            place.distance_m / 1000.0,
            group_thousands(place.population),
            place.lat,
            place.lng,
            place.vicinity(),
        );
    }
    out
}

/// `3898747` as `3,898,747`.
fn group_thousands(value: u32) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_row_per_place() {
        let place = NearbyPlace {
            id: 5368361,
            name: "Los Angeles".into(),
            region: Some("California".into()),
            country: Some("United States".into()),
            lat: 34.05223,
            lng: -118.24368,
            population: 3_898_747,
            distance_m: 18_500.0,
        };
        assert_eq!(
            render_table(&[place]),
            "  #        km    population        lat         lng  place\n  \
             1     18.50     3,898,747   34.05223  -118.24368  Los Angeles, California, United States\n"
        );
        assert_eq!(render_table(&[]), "no places within the radius\n");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(24_874_500), "24,874,500");
    }
}
