//! Open Location Code ("plus code") encoding, written from the public specification.
//!
//! A code is a base-20 interleaving of latitude and longitude: five pairs of digits narrow the
//! cell down to 1/8000 of a degree on each axis (the 10-digit code Google shows as
//! `global_code`), and up to five further grid digits split each cell into 5 rows by 4
//! columns. A `+` follows the eighth digit; codes shorter than eight digits are padded with
//! `0`. The encoding works on integers so that the same input always lands in the same cell.

/// The 20 digits of the code, in value order.
const ALPHABET: &[u8; 20] = b"23456789CFGHJMPQRVWX";
/// Digits before the separator.
const SEPARATOR_POSITION: usize = 8;
/// Digits made of latitude/longitude pairs.
const PAIR_LENGTH: usize = 10;
/// The longest code this encoder produces (pairs plus five grid digits).
pub const MAX_LENGTH: usize = 15;
/// The length of Google's `global_code`.
pub const GLOBAL_CODE_LENGTH: usize = PAIR_LENGTH;
/// Rows (latitude steps) of one grid digit.
const GRID_ROWS: i64 = 5;
/// Columns (longitude steps) of one grid digit.
const GRID_COLUMNS: i64 = 4;
/// Steps per degree after the five pairs (20^3, since the first pair counts 20 degrees).
const PAIR_STEPS_PER_DEGREE: i64 = 8_000;
/// Latitude steps per degree after the five grid digits.
const LAT_STEPS_PER_DEGREE: i64 = PAIR_STEPS_PER_DEGREE * GRID_ROWS.pow(5);
/// Longitude steps per degree after the five grid digits.
const LNG_STEPS_PER_DEGREE: i64 = PAIR_STEPS_PER_DEGREE * GRID_COLUMNS.pow(5);

/// Encodes `(lat, lng)` (decimal degrees) as a plus code of `length` digits.
///
/// Latitude is clipped to [-90, 90] (90 itself falls into the topmost cell) and longitude is
/// wrapped into [-180, 180). Returns `None` for a length the specification does not allow: it
/// must be 2, 4, 6, 8, or 10 to 15.
pub fn encode(lat: f64, lng: f64, length: usize) -> Option<String> {
    let valid = matches!(length, 2 | 4 | 6 | 8) || (PAIR_LENGTH..=MAX_LENGTH).contains(&length);
    if !valid || !lat.is_finite() || !lng.is_finite() {
        return None;
    }
    // Bring wild inputs into range first, so the integer arithmetic below cannot overflow.
    let lat = lat.clamp(-90.0, 90.0);
    let lng = if (-180.0..180.0).contains(&lng) {
        lng
    } else {
        (lng + 180.0).rem_euclid(360.0) - 180.0
    };
    let lat_span = 180 * LAT_STEPS_PER_DEGREE;
    let lng_span = 360 * LNG_STEPS_PER_DEGREE;
    let mut lat_steps = ((lat * LAT_STEPS_PER_DEGREE as f64).floor() as i64
        + 90 * LAT_STEPS_PER_DEGREE)
        .clamp(0, lat_span - 1);
    let mut lng_steps = ((lng * LNG_STEPS_PER_DEGREE as f64).floor() as i64
        + 180 * LNG_STEPS_PER_DEGREE)
        .rem_euclid(lng_span);

    // Least significant digit first, then reversed into place.
    let mut digits = [0u8; MAX_LENGTH];
    for slot in digits[PAIR_LENGTH..].iter_mut().rev() {
        let row = lat_steps % GRID_ROWS;
        let column = lng_steps % GRID_COLUMNS;
        *slot = ALPHABET[(row * GRID_COLUMNS + column) as usize];
        lat_steps /= GRID_ROWS;
        lng_steps /= GRID_COLUMNS;
    }
    for pair in digits[..PAIR_LENGTH].chunks_exact_mut(2).rev() {
        pair[0] = ALPHABET[(lat_steps % 20) as usize];
        pair[1] = ALPHABET[(lng_steps % 20) as usize];
        lat_steps /= 20;
        lng_steps /= 20;
    }

    let mut code = String::with_capacity(length.max(SEPARATOR_POSITION) + 1);
    // Short codes keep their first `length` digits and pad the rest up to the separator.
    for (position, &digit) in digits[..SEPARATOR_POSITION].iter().enumerate() {
        code.push(if position < length {
            char::from(digit)
        } else {
            '0'
        });
    }
    code.push('+');
    code.extend(
        digits[SEPARATOR_POSITION..length.max(SEPARATOR_POSITION)]
            .iter()
            .map(|&d| char::from(d)),
    );
    Some(code)
}

/// The 10-digit code of `(lat, lng)`, as Google's `plus_code.global_code` shows it.
pub fn global_code(lat: f64, lng: f64) -> String {
    encode(lat, lng, GLOBAL_CODE_LENGTH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (lat, lng, length, code), from the specification's encoding test data.
    const KNOWN: &[(f64, f64, usize, &str)] = &[
        (20.375, 2.775, 6, "7FG49Q00+"),
        (20.3700625, 2.7821875, 10, "7FG49QCJ+2V"),
        (20.3701125, 2.782234375, 11, "7FG49QCJ+2VX"),
        (20.3701135, 2.78223535156, 13, "7FG49QCJ+2VXGJ"),
        (47.0000625, 8.0000625, 10, "8FVC2222+22"),
        (-41.2730625, 174.7859375, 10, "4VCPPQGP+Q9"),
        (0.5, -179.5, 4, "62G20000+"),
        (-89.5, -179.5, 4, "22220000+"),
        (20.5, 2.5, 4, "7FG40000+"),
        (-89.9999375, -179.9999375, 10, "22222222+22"),
        (0.5, 179.5, 4, "6VGX0000+"),
        (1.0, 1.0, 11, "6FH32222+222"),
        (90.0, 1.0, 4, "CFX30000+"),
        (92.0, 1.0, 4, "CFX30000+"),
        (90.0, 181.0, 4, "C2X30000+"),
        (1.0, 181.0, 4, "62H30000+"),
        (47.365590, 8.524997, 10, "8FVC9G8F+6X"),
    ];

    #[test]
    fn encodes_the_specification_examples() {
        for &(lat, lng, length, expected) in KNOWN {
            assert_eq!(
                encode(lat, lng, length).as_deref(),
                Some(expected),
                "{lat},{lng}/{length}"
            );
        }
    }

    #[test]
    fn rejects_lengths_the_specification_forbids() {
        for length in [0, 1, 3, 9, 16] {
            assert_eq!(encode(1.0, 1.0, length), None, "{length}");
        }
        assert_eq!(encode(f64::NAN, 1.0, 10), None);
    }

    #[test]
    fn survives_wild_coordinates() {
        assert_eq!(encode(1e300, 1e300, 10).map(|c| c.len()), Some(11));
        assert_eq!(encode(-1e300, -1e300, 15).map(|c| c.len()), Some(16));
        assert_eq!(encode(1.0, 541.0, 4).as_deref(), Some("62H30000+"));
    }

    #[test]
    fn global_code_has_ten_digits() {
        assert_eq!(global_code(47.0000625, 8.0000625), "8FVC2222+22");
    }
}
