//! Client commands: a pure function from one line's bytes to a command or the reason it is
//! invalid. No allocation: the command borrows its fields from the line.

use super::number::{is_client_time, parse_bound, parse_location, parse_radius_km};

/// A valid client command, borrowing its fields from the line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command<'a> {
    /// `IAMAT client location time`: a client reports where it is.
    IAmAt {
        /// The client ID, as written.
        client: &'a [u8],
        /// The ISO 6709 location, as written.
        location: &'a [u8],
        /// The client's POSIX time, as written.
        time: &'a [u8],
        /// The latitude parsed from `location`.
        lat: f64,
        /// The longitude parsed from `location`.
        lng: f64,
    },
    /// `WHATSAT client radius bound`: what is near another client.
    WhatsAt {
        /// The client asked about.
        client: &'a [u8],
        /// The radius in kilometres, 0 < radius <= 50.
        radius_km: f64,
        /// The most results wanted, 1..=20.
        bound: usize,
    },
}

/// Why a line is not a valid command (for logs; the wire only says `? line`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The line is empty or white space only.
    #[error("empty line")]
    Empty,
    /// The first word is not IAMAT or WHATSAT.
    #[error("unknown command")]
    UnknownCommand,
    /// The command has too few or too many fields.
    #[error("wrong number of fields")]
    FieldCount,
    /// The location is not ISO 6709 or out of range.
    #[error("bad location")]
    Location,
    /// The time is not a decimal number with at most
    /// [`MAX_TIME_DIGITS`](super::number::MAX_TIME_DIGITS) digits before its point.
    #[error("bad time")]
    Time,
    /// The radius is not a number in (0, 50].
    #[error("bad radius")]
    Radius,
    /// The bound is not an integer in [1, 20].
    #[error("bad bound")]
    Bound,
}

/// The white space that separates fields: space, `\t`, `\n`, `\v`, `\f`, `\r`.
pub fn is_field_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits `line` into at most `N` fields; returns how many fields the line has in all
/// (which may be more than `N`).
pub fn split_fields<'a, const N: usize>(line: &'a [u8], fields: &mut [&'a [u8]; N]) -> usize {
    let mut count = 0;
    let mut rest = line;
    loop {
        let start = rest
            .iter()
            .position(|&b| !is_field_space(b))
            .unwrap_or(rest.len());
        rest = &rest[start..];
        if rest.is_empty() {
            return count;
        }
        let end = rest
            .iter()
            .position(|&b| is_field_space(b))
            .unwrap_or(rest.len());
        if count < N {
            fields[count] = &rest[..end];
        }
        count += 1;
        rest = &rest[end..];
    }
}

/// Parses one client line (without its terminator).
///
/// # Errors
/// [`Invalid`] says why the line is not a valid command.
pub fn parse(line: &[u8]) -> Result<Command<'_>, Invalid> {
    let mut f: [&[u8]; 4] = [&[]; 4];
    let count = split_fields(line, &mut f);
    match f[0] {
        _ if count == 0 => Err(Invalid::Empty),
        b"IAMAT" => {
            if count != 4 {
                return Err(Invalid::FieldCount);
            }
            let (lat, lng) = parse_location(f[2]).ok_or(Invalid::Location)?;
            if !is_client_time(f[3]) {
                return Err(Invalid::Time);
            }
            Ok(Command::IAmAt {
                client: f[1],
                location: f[2],
                time: f[3],
                lat,
                lng,
            })
        }
        b"WHATSAT" => {
            if count != 4 {
                return Err(Invalid::FieldCount);
            }
            Ok(Command::WhatsAt {
                client: f[1],
                radius_km: parse_radius_km(f[2]).ok_or(Invalid::Radius)?,
                bound: parse_bound(f[3]).ok_or(Invalid::Bound)?,
            })
        }
        _ => Err(Invalid::UnknownCommand),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_examples() {
        let c =
            parse(b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503").unwrap();
        assert_eq!(
            c,
            Command::IAmAt {
                client: b"kiwi.cs.ucla.edu",
                location: b"+34.068930-118.445127",
                time: b"1621464827.959498503",
                lat: 34.06893,
                lng: -118.445127
            }
        );
        assert_eq!(
            parse(b"WHATSAT kiwi.cs.ucla.edu 10 5").unwrap(),
            Command::WhatsAt {
                client: b"kiwi.cs.ucla.edu",
                radius_km: 10.0,
                bound: 5
            }
        );
    }

    #[test]
    fn every_white_space_kind_separates() {
        let c = parse(b"\x0b\x0c WHATSAT\t\x0bkiwi\x0c\r10 \t 5\r\n ").unwrap();
        assert_eq!(
            c,
            Command::WhatsAt {
                client: b"kiwi",
                radius_km: 10.0,
                bound: 5
            }
        );
    }

    #[test]
    fn invalid_lines_say_why() {
        use Invalid::*;
        let cases: &[(&[u8], Invalid)] = &[
            (b"", Empty),
            (b" \t ", Empty),
            (b"FOO bar", UnknownCommand),
            (b"iamat a +1+1 1", UnknownCommand),
            (b"AT Clark +0.1 a +1+1 1", UnknownCommand),
            (b"IAMAT a +1+1", FieldCount),
            (b"IAMAT a +1+1 1 extra", FieldCount),
            (b"IAMAT a 1+1 1", Location),
            (b"IAMAT a +91+1 1", Location),
            (b"IAMAT a +1+1 nan", Time),
            (b"IAMAT a +1+1 inf", Time),
            (b"IAMAT a +1+1 1e9", Time),
            (b"IAMAT a +1+1 123456789012345678901", Time),
            (b"IAMAT a +1+1 -123456789012345678901.5", Time),
            (b"WHATSAT a 0 5", Radius),
            (b"WHATSAT a 51 5", Radius),
            (b"WHATSAT a 10 0", Bound),
            (b"WHATSAT a 10 21", Bound),
            (b"WHATSAT a 10 2.5", Bound),
            (b"WHATSAT a 10", FieldCount),
        ];
        for (line, why) in cases {
            assert_eq!(parse(line), Err(*why), "{}", String::from_utf8_lossy(line));
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&line);
        }

        #[test]
        fn fields_round_trip_verbatim(
            client in "[!-~]{1,30}",
            lat in -90.0f64..90.0, lng in -180.0f64..180.0,
            secs in 0u64..4_000_000_000, frac in "[0-9]{0,15}",
            seps in proptest::collection::vec(proptest::sample::select(vec![" ", "\t", "\x0b", "\x0c", "\r", "  "]), 5),
        ) {
            let location = format!("{lat:+.6}{lng:+.6}");
            let time = if frac.is_empty() { secs.to_string() } else { format!("{secs}.{frac}") };
            let line = format!("{}IAMAT{}{client}{}{location}{}{time}{}", seps[0], seps[1], seps[2], seps[3], seps[4]);
            match parse(line.as_bytes()) {
                Ok(Command::IAmAt { client: c, location: l, time: t, .. }) => {
                    prop_assert_eq!(c, client.as_bytes());
                    prop_assert_eq!(l, location.as_bytes());
                    prop_assert_eq!(t, time.as_bytes());
                }
                other => prop_assert!(false, "{line:?} gave {other:?}"),
            }
        }
    }
}
