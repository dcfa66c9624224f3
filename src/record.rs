//! A location record: what the herd knows of one client, as the AT line its origin server made.
//!
//! The record keeps the AT line's bytes once and slices its fields out of them, so answering a
//! WHATSAT, flooding to a neighbour or storing it never re-formats anything: the fields stay
//! exactly as the client wrote them.

use std::cmp::Ordering;
use std::ops::Range;

use bytes::Bytes;

use crate::protocol::command::split_fields;
use crate::protocol::number::{compare_decimal, format_signed_nanos, is_decimal, parse_location};

/// One client's location, as received by its origin server.
#[derive(Clone, PartialEq)]
pub struct Record {
    /// The AT line, without a line terminator: `AT origin diff client location time`.
    line: Bytes,
    /// Where the origin server's name lies in `line`.
    origin: Range<u32>,
    /// Where the client ID lies in `line`.
    client: Range<u32>,
    /// Where the location lies in `line`.
    location: Range<u32>,
    /// Where the client time lies in `line`.
    time: Range<u32>,
    /// The latitude of `location`.
    lat: f64,
    /// The longitude of `location`.
    lng: f64,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record({:?})", String::from_utf8_lossy(&self.line))
    }
}

/// Why bytes are not an AT line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid AT line")]
pub struct BadRecord;

impl Record {
    /// Makes the record of an IAMAT received now by `server`; `received_nanos` is the server's
    /// clock in nanoseconds since the epoch.
    pub fn received(
        server: &str,
        received_nanos: i128,
        client: &[u8],
        location: &[u8],
        time: &[u8],
        (lat, lng): (f64, f64),
    ) -> Record {
        let mut line =
            Vec::with_capacity(32 + server.len() + client.len() + location.len() + time.len());
        line.extend_from_slice(b"AT ");
        let origin = span(&line, server.len());
        line.extend_from_slice(server.as_bytes());
        line.push(b' ');
        match crate::protocol::number::decimal_to_nanos(time) {
            Some(sent) => format_signed_nanos(received_nanos - sent, &mut line),
            None => {
                // A time too large for exact nanoseconds: fall back to floating point.
                let sent: f64 = std::str::from_utf8(time)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0.0);
                let diff = received_nanos as f64 / 1e9 - sent;
                line.extend_from_slice(format!("{diff:+.9}").as_bytes());
            }
        }
        line.push(b' ');
        let client_span = span(&line, client.len());
        line.extend_from_slice(client);
        line.push(b' ');
        let location_span = span(&line, location.len());
        line.extend_from_slice(location);
        line.push(b' ');
        let time_span = span(&line, time.len());
        line.extend_from_slice(time);
        Record {
            line: Bytes::from(line),
            origin,
            client: client_span,
            location: location_span,
            time: time_span,
            lat,
            lng,
        }
    }

    /// Reads an AT line (from a neighbour or from disk), checking every field.
    ///
    /// # Errors
    /// [`BadRecord`] when the line is not `AT origin diff client location time` with a valid
    /// location, a decimal time and a signed decimal difference.
    pub fn parse(line: Bytes) -> Result<Record, BadRecord> {
        let mut f: [&[u8]; 6] = [&[]; 6];
        if split_fields(&line, &mut f) != 6 || f[0] != b"AT" {
            return Err(BadRecord);
        }
        if !matches!(f[2].first(), Some(b'+' | b'-')) || !is_decimal(f[2]) || !is_decimal(f[5]) {
            return Err(BadRecord);
        }
        let (lat, lng) = parse_location(f[4]).ok_or(BadRecord)?;
        let at = |field: &[u8]| {
            let start = field.as_ptr() as usize - line.as_ptr() as usize;
            start as u32..(start + field.len()) as u32
        };
        let (origin, client, location, time) = (at(f[1]), at(f[3]), at(f[4]), at(f[5]));
        Ok(Record {
            line: line.clone(),
            origin,
            client,
            location,
            time,
            lat,
            lng,
        })
    }

    /// The AT line, without a terminator.
    pub fn line(&self) -> &Bytes {
        &self.line
    }

    /// The client ID (a cheap slice of the line, fit for a map key).
    pub fn client(&self) -> Bytes {
        self.line
            .slice(self.client.start as usize..self.client.end as usize)
    }

    /// The client ID as bytes.
    pub fn client_bytes(&self) -> &[u8] {
        &self.line[self.client.start as usize..self.client.end as usize]
    }

    /// The name of the server that received the IAMAT.
    pub fn origin(&self) -> &[u8] {
        &self.line[self.origin.start as usize..self.origin.end as usize]
    }

    /// The location as the client wrote it.
    pub fn location(&self) -> &[u8] {
        &self.line[self.location.start as usize..self.location.end as usize]
    }

    /// The client time as the client wrote it.
    pub fn time(&self) -> &[u8] {
        &self.line[self.time.start as usize..self.time.end as usize]
    }

    /// (latitude, longitude) in degrees.
    pub fn position(&self) -> (f64, f64) {
        (self.lat, self.lng)
    }

    /// Orders two records of a client by client time (exactly, as decimals).
    pub fn cmp_time(&self, other: &Record) -> Ordering {
        compare_decimal(self.time(), other.time())
    }

    /// True when this record should replace `stored` under newer-wins.
    pub fn is_newer_than(&self, stored: &Record) -> bool {
        self.cmp_time(stored) == Ordering::Greater
    }
}

fn span(line: &[u8], len: usize) -> Range<u32> {
    line.len() as u32..(line.len() + len) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_records_keep_fields_verbatim() {
        let r = Record::received(
            "Clark",
            1_621_464_828_223_371_889,
            b"kiwi.cs.ucla.edu",
            b"+34.068930-118.445127",
            b"1621464827.959498503",
            (34.06893, -118.445127),
        );
        assert_eq!(
            &r.line()[..],
            b"AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
        );
        assert_eq!(r.origin(), b"Clark");
        assert_eq!(r.client_bytes(), b"kiwi.cs.ucla.edu");
        assert_eq!(Record::parse(r.line().clone()).unwrap(), r);
    }

    #[test]
    fn client_times_in_the_future_give_a_negative_difference() {
        let r = Record::received("A", 1_000_000_000, b"c", b"+1+1", b"2.5", (1.0, 1.0));
        assert_eq!(&r.line()[..], b"AT A -1.500000000 c +1+1 2.5");
    }

    #[test]
    fn bad_lines_are_refused() {
        for bad in [
            "AT A +0.1 c +1+1",
            "AT A 0.1 c +1+1 1",
            "AT A +0.1 c 1+1 1",
            "AT A +0.1 c +1+1 x",
            "IAMAT A +0.1 c +1+1 1",
        ] {
            assert_eq!(Record::parse(Bytes::from(bad)), Err(BadRecord), "{bad}");
        }
    }

    #[test]
    fn newer_wins_by_exact_time() {
        let r = |t: &str| Record::received("A", 0, b"c", b"+1+1", t.as_bytes(), (1.0, 1.0));
        assert!(r("10.000000000000000001").is_newer_than(&r("10")));
        assert!(!r("10.0").is_newer_than(&r("10")));
        assert!(!r("9").is_newer_than(&r("10")));
    }
}
