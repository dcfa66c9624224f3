//! The numbers of the wire: client times, ISO 6709 locations, radii and bounds.
//!
//! Client times are compared exactly, as decimal text, never through a float: two times that
//! differ in the 20th decimal still order correctly, and `1.50` equals `1.5`.

use std::cmp::Ordering;

/// Checks `text` is a plain decimal number: an optional sign, digits, an optional fraction
/// (`12`, `-3.25`, `+.5`, `7.`), with at least one digit. No exponent, no `inf`, no `nan`.
pub fn is_decimal(text: &[u8]) -> bool {
    let body = match text.first() {
        Some(b'+' | b'-') => &text[1..],
        _ => text,
    };
    let (int, frac) = split_point(body);
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    !(int.is_empty() && frac.is_none_or(<[u8]>::is_empty)) && digits(int) && frac.is_none_or(digits)
}

fn split_point(body: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'.', body) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    }
}

/// The parts of a decimal that decide its value: sign, integer digits without leading zeros,
/// fraction digits without trailing zeros.
fn normal(text: &[u8]) -> (bool, &[u8], &[u8]) {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = split_point(body);
    let int_start = int.iter().position(|&b| b != b'0').unwrap_or(int.len());
    let frac = frac.unwrap_or(&[]);
    let frac_end = frac.iter().rposition(|&b| b != b'0').map_or(0, |i| i + 1);
    let (int, frac) = (&int[int_start..], &frac[..frac_end]);
    let zero = int.is_empty() && frac.is_empty();
    (negative && !zero, int, frac)
}

/// Orders two decimals (both must pass [`is_decimal`]) by value, exactly.
pub fn compare_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let (an, ai, af) = normal(a);
    let (bn, bi, bf) = normal(b);
    let magnitude = ai
        .len()
        .cmp(&bi.len())
        .then_with(|| ai.cmp(bi))
        .then_with(|| af.cmp(bf));
    match (an, bn) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// A decimal as whole nanoseconds (rounded half away from zero), if it fits in an `i128`.
pub fn decimal_to_nanos(text: &[u8]) -> Option<i128> {
    let (negative, int, frac) = normal(text);
    if int.len() > 28 {
        return None;
    }
    let mut nanos: i128 = 0;
    for &d in int {
        nanos = nanos * 10 + i128::from(d - b'0');
    }
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |&d| i128::from(d - b'0'));
    }
    if frac.get(9).is_some_and(|&d| d >= b'5') {
        nanos += 1;
    }
    Some(if negative { -nanos } else { nanos })
}

/// Formats nanoseconds as seconds with an explicit sign and nine decimals (`+0.263873386`).
pub fn format_signed_nanos(nanos: i128, out: &mut Vec<u8>) {
    out.push(if nanos < 0 { b'-' } else { b'+' });
    let abs = nanos.unsigned_abs();
    let mut int = itoa::Buffer::new();
    out.extend_from_slice(int.format(abs / 1_000_000_000).as_bytes());
    out.push(b'.');
    let frac = abs % 1_000_000_000;
    let mut digits = [b'0'; 9];
    let mut rest = frac;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
}

/// Parses an ISO 6709 location such as `+34.068930-118.445127` into (latitude, longitude),
/// each with its own sign and in range.
pub fn parse_location(text: &[u8]) -> Option<(f64, f64)> {
    if !matches!(text.first(), Some(b'+' | b'-')) {
        return None;
    }
    let split = 1 + text[1..].iter().position(|&b| b == b'+' || b == b'-')?;
    let (lat, lng) = text.split_at(split);
    let coordinate = |part: &[u8]| -> Option<f64> {
        let (_, frac) = split_point(&part[1..]);
        // Each coordinate needs integer digits: `+.5` is not ISO 6709.
        if !is_decimal(part) || part[1] == b'.' || frac.is_some_and(<[u8]>::is_empty) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (lat, lng) = (coordinate(lat)?, coordinate(lng)?);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)).then_some((lat, lng))
}

/// Parses a WHATSAT radius in kilometres: a decimal with 0 < radius <= 50.
pub fn parse_radius_km(text: &[u8]) -> Option<f64> {
    if !is_decimal(text) {
        return None;
    }
    let km: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (km > 0.0 && km <= 50.0).then_some(km)
}

/// Parses a WHATSAT bound: an integer with 1 <= bound <= 20 (an optional `+` is allowed).
pub fn parse_bound(text: &[u8]) -> Option<usize> {
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    if digits.is_empty() || digits.len() > 6 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let bound: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (1..=20).contains(&bound).then_some(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals() {
        for ok in [
            "0",
            "12",
            "-3.25",
            "+.5",
            "7.",
            "1621464827.959498503",
            "00001.000",
        ] {
            assert!(is_decimal(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "+", "-", ".", "1e9", "inf", "nan", "1.2.3", "1,5", " 1", "0x10", "--1",
        ] {
            assert!(!is_decimal(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn compares_exactly() {
        use Ordering::*;
        let c = |a: &str, b: &str| compare_decimal(a.as_bytes(), b.as_bytes());
        assert_eq!(c("1.5", "1.50"), Equal);
        assert_eq!(c("-0", "+0.000"), Equal);
        assert_eq!(c("10", "9.999"), Greater);
        assert_eq!(c("-10", "-9.999"), Less);
        assert_eq!(
            c("1.000000000000000000001", "1.000000000000000000002"),
            Less
        );
        assert_eq!(c("0012", "12"), Equal);
        assert_eq!(c("-1", "0"), Less);
    }

    #[test]
    fn nanos_and_their_format() {
        assert_eq!(
            decimal_to_nanos(b"1621464827.959498503"),
            Some(1_621_464_827_959_498_503)
        );
        assert_eq!(decimal_to_nanos(b"-1.0000000005"), Some(-1_000_000_001));
        assert_eq!(decimal_to_nanos(b"5"), Some(5_000_000_000));
        let f = |n| {
            let mut v = Vec::new();
            format_signed_nanos(n, &mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(f(263_873_386), "+0.263873386");
        assert_eq!(f(-1_500_000_000), "-1.500000000");
        assert_eq!(f(0), "+0.000000000");
    }

    #[test]
    fn locations() {
        assert_eq!(
            parse_location(b"+34.068930-118.445127"),
            Some((34.06893, -118.445127))
        );
        assert_eq!(parse_location(b"-33.86+151.20"), Some((-33.86, 151.2)));
        assert_eq!(parse_location(b"+90-180"), Some((90.0, -180.0)));
        for bad in [
            "34.0-118.0",
            "+91.0+0.0",
            "+0.0+180.1",
            "+34.0",
            "+34.0-",
            "+34.0-118.0+1",
            "+.5+1",
            "+1.+1",
            "+1e1+1",
            "",
        ] {
            assert_eq!(parse_location(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn radius_and_bound() {
        assert_eq!(parse_radius_km(b"10"), Some(10.0));
        assert_eq!(parse_radius_km(b"50"), Some(50.0));
        assert_eq!(parse_radius_km(b"0.5"), Some(0.5));
        for bad in ["0", "50.01", "-1", "x", "1e1", "inf"] {
            assert_eq!(parse_radius_km(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_bound(b"5"), Some(5));
        assert_eq!(parse_bound(b"20"), Some(20));
        for bad in ["0", "21", "5.0", "-1", "", "x", "99999999999999999999"] {
            assert_eq!(parse_bound(bad.as_bytes()), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn comparison_agrees_with_integers(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000, za in 0usize..3, zb in 0usize..3) {
            // Render as fixed-point with three decimals plus trailing zeros.
            let r = |v: i64, z: usize| format!("{}{}.{:03}{}", if v < 0 { "-" } else { "" }, v.abs() / 1000, v.abs() % 1000, "0".repeat(z));
            prop_assert_eq!(compare_decimal(r(a, za).as_bytes(), r(b, zb).as_bytes()), a.cmp(&b));
        }
    }
}
