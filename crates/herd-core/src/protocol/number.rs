//! The numbers of the wire: client times, ISO 6709 locations, radii and bounds.
//!
//! Client times are compared exactly, as decimal text, never through a float: two times that
//! differ in the 20th decimal still order correctly, and `1.50` equals `1.5`.
//!
//! A client time has at most [`MAX_TIME_DIGITS`] digits before its point (any number after),
//! so that the difference between it and a server's clock is always exact to the nanosecond:
//! it fits a 128-bit count of nanoseconds, is never `inf` or `nan`, and every server that reads
//! the AT line back accepts it (see [`is_difference`]).

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

/// The most digits a client time may have before its decimal point, leading zeros not counted:
/// every `u64` count of seconds (what a 64-bit clock holds, 20 digits) fits, and so does the
/// difference between any such time and a server's clock, in 128-bit nanoseconds.
pub const MAX_TIME_DIGITS: usize = 20;

/// The most digits an AT line's time difference may have before its point: a server's clock
/// (below 10^20 seconds) minus a client time (below 10^20 seconds in size) is below 10^21.
pub const MAX_DIFFERENCE_DIGITS: usize = MAX_TIME_DIGITS + 1;

/// Checks `text` is a client time: a decimal ([`is_decimal`]) with at most
/// [`MAX_TIME_DIGITS`] digits before its point, leading zeros not counted.
pub fn is_client_time(text: &[u8]) -> bool {
    is_decimal(text) && normal(text).1.len() <= MAX_TIME_DIGITS
}

/// A client time ([`is_client_time`]) as whole nanoseconds, rounded to the nearest (halves
/// away from zero); `None` for anything else.
pub fn client_time_nanos(text: &[u8]) -> Option<i128> {
    if is_client_time(text) {
        decimal_to_nanos(text)
    } else {
        None
    }
}

/// The time difference of an AT line in nanoseconds: `received_nanos` (a server's clock)
/// minus the client time `time`, to the nearest nanosecond. `None` when `time` is not a client
/// time, or when the difference would have more than [`MAX_DIFFERENCE_DIGITS`] digits before
/// its point (only for a clock beyond 10^20 seconds).
pub fn time_difference(received_nanos: i128, time: &[u8]) -> Option<i128> {
    const LIMIT: i128 = 10i128.pow(MAX_DIFFERENCE_DIGITS as u32 + 9);
    let difference = received_nanos.checked_sub(client_time_nanos(time)?)?;
    (-LIMIT < difference && difference < LIMIT).then_some(difference)
}

/// Checks `text` is a time difference as [`format_signed_nanos`] writes one: a sign, 1 to
/// [`MAX_DIFFERENCE_DIGITS`] digits, a point and nine digits.
pub fn is_difference(text: &[u8]) -> bool {
    let Some((b'+' | b'-', body)) = text.split_first() else {
        return false;
    };
    let Some(point) = memchr::memchr(b'.', body) else {
        return false;
    };
    let (int, frac) = (&body[..point], &body[point + 1..]);
    (1..=MAX_DIFFERENCE_DIGITS).contains(&int.len())
        && frac.len() == 9
        && int.iter().chain(frac).all(u8::is_ascii_digit)
}

/// A time difference ([`is_difference`]) in nanoseconds (exact: it has nine decimals).
pub fn difference_nanos(text: &[u8]) -> Option<i128> {
    if is_difference(text) {
        decimal_to_nanos(text)
    } else {
        None
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
    fn client_times_have_at_most_twenty_integer_digits() {
        let twenty = "9".repeat(20);
        for ok in [
            twenty.clone(),
            format!("-{twenty}.{}", "5".repeat(400)),
            format!("000{twenty}"),
            "1621464827.959498503".to_string(),
            "-0.5".to_string(),
        ] {
            assert!(is_client_time(ok.as_bytes()), "{ok}");
        }
        for bad in [
            format!("1{twenty}"),
            format!("-1{twenty}.5"),
            "9".repeat(400),
            "inf".to_string(),
            "1e9".to_string(),
        ] {
            assert!(!is_client_time(bad.as_bytes()), "{bad}");
            assert_eq!(client_time_nanos(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(
            client_time_nanos(format!("-{twenty}.1234567895").as_bytes()),
            Some(-99_999_999_999_999_999_999_123_456_790)
        );
    }

    #[test]
    fn differences_are_exact_and_read_back() {
        let twenty = "9".repeat(20);
        assert_eq!(time_difference(1_000_000_000, b"2.5"), Some(-1_500_000_000));
        let far = time_difference(5, format!("-{twenty}").as_bytes()).unwrap();
        assert_eq!(far, 99_999_999_999_999_999_999_000_000_005);
        let mut text = Vec::new();
        format_signed_nanos(far, &mut text);
        assert_eq!(text, b"+99999999999999999999.000000005");
        assert_eq!(difference_nanos(&text), Some(far));
        // Not a client time, or a clock past any sane date: no difference.
        assert_eq!(time_difference(0, format!("1{twenty}").as_bytes()), None);
        assert_eq!(time_difference(i128::MAX, b"-1"), None);
        for ok in [
            "+0.000000000",
            "-1.500000000",
            "+123456789012345678901.000000001",
        ] {
            assert!(is_difference(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "0.000000000",
            "+0.1",
            "+.000000000",
            "+1.0000000000",
            "+1234567890123456789012.000000000",
            "-inf",
            "+1e9.000000000",
            "+1",
        ] {
            assert!(!is_difference(bad.as_bytes()), "{bad}");
        }
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

        /// For every client time and any clock up to 2^70 ns (37,000 years) either side of the
        /// epoch, the difference exists, is written in the shape an AT line checks, reads back
        /// to itself, and is the exact difference to within half a nanosecond (checked in
        /// integers scaled to the time's own decimals, not through the code under test).
        #[test]
        fn every_client_time_has_an_exact_difference(
            now in -(1i128 << 70)..(1i128 << 70),
            negative in any::<bool>(),
            int in "[0-9]{0,20}",
            frac in proptest::option::of("[0-9]{0,15}"),
        ) {
            prop_assume!(!int.is_empty() || frac.as_deref().is_some_and(|f| !f.is_empty()));
            let time = format!(
                "{}{int}{}",
                if negative { "-" } else { "" },
                frac.as_deref().map(|f| format!(".{f}")).unwrap_or_default()
            );
            prop_assert!(is_client_time(time.as_bytes()));
            let diff = time_difference(now, time.as_bytes()).unwrap();
            let mut text = Vec::new();
            format_signed_nanos(diff, &mut text);
            prop_assert!(is_difference(&text), "{}", String::from_utf8_lossy(&text));
            prop_assert_eq!(difference_nanos(&text), Some(diff));
            let frac = frac.unwrap_or_default();
            let k = frac.len().max(9) as u32;
            let digits = format!("{int}{frac:0<width$}", width = k as usize);
            let magnitude: i128 = if digits.is_empty() { 0 } else { digits.parse().unwrap() };
            let time_scaled = if negative { -magnitude } else { magnitude };
            let unit = 10i128.pow(k - 9);
            let exact = now * unit - time_scaled;
            prop_assert!(2 * (diff * unit - exact).abs() <= unit, "{time} at {now}: {diff}");
        }
    }
}
