//! A location record: what the herd knows of one client, as the AT line its origin server made.
//!
//! The record keeps its bytes once, as `SEQ AT origin diff client location time` (the origin's
//! sequence number, then the AT line), and slices its fields out of them, so answering a
//! WHATSAT, flooding to a neighbour or storing it never re-formats anything: the fields stay
//! exactly as the client wrote them, and the same bytes are the neighbour line and the stored
//! payload.
//!
//! A record may also say that a client was forgotten (`DELETE /api/clients/{id}`): a
//! *tombstone*, `SEQ GONE origin +0.000000000 client +0+0 time`, which carries the client
//! time of the record it forgets, no location and no timing of the client. It is numbered,
//! flooded, stored and caught up like any record, and newer-wins orders it like one, except
//! that at equal client times the tombstone wins: so a copy of the forgotten record that
//! arrives late never brings the client back, while the client's next IAMAT (a newer time)
//! does. Readers of the table see a tombstone as "no record" ([`Record::is_gone`]).

use std::cmp::Ordering;
use std::ops::Range;

use bytes::Bytes;

use crate::protocol::command::split_fields;
use crate::protocol::number::{
    compare_decimal, difference_nanos, format_signed_nanos, is_client_time, is_difference,
    parse_location,
};

/// One client's location, as received by its origin server.
#[derive(Clone, PartialEq)]
pub struct Record {
    /// `SEQ AT origin diff client location time`, without a line terminator.
    bytes: Bytes,
    /// Where the AT line starts in `bytes`.
    at: u32,
    /// The number the origin gave this record (increasing per origin; see ALGORITHM.md).
    seq: u64,
    /// Where the origin server's name lies in `bytes`.
    origin: Range<u32>,
    /// Where the time difference lies in `bytes`.
    difference: Range<u32>,
    /// Where the client ID lies in `bytes`.
    client: Range<u32>,
    /// Where the location lies in `bytes`.
    location: Range<u32>,
    /// Where the client time lies in `bytes`.
    time: Range<u32>,
    /// The latitude of `location`.
    lat: f64,
    /// The longitude of `location`.
    lng: f64,
    /// A tombstone: the client was forgotten at `time` (see the module documentation).
    gone: bool,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record({:?})", String::from_utf8_lossy(&self.bytes))
    }
}

/// Why bytes are not an AT line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid AT line")]
pub struct BadRecord;

impl Record {
    /// Makes the record of an IAMAT received by `server`, which numbers it `seq`.
    /// `difference_nanos` is the server's receive time minus the client's `time`, from
    /// [`time_difference`](crate::protocol::number::time_difference), which also checks that
    /// `time` is a client time; `client` and `location` are fields of a parsed IAMAT. Made so,
    /// the record always reads back with [`Record::decode`].
    pub fn received(
        server: &str,
        seq: u64,
        difference_nanos: i128,
        client: &[u8],
        location: &[u8],
        time: &[u8],
        (lat, lng): (f64, f64),
    ) -> Record {
        debug_assert!(is_client_time(time));
        let mut line =
            Vec::with_capacity(56 + server.len() + client.len() + location.len() + time.len());
        line.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
        line.push(b' ');
        let at = line.len() as u32;
        line.extend_from_slice(b"AT ");
        let origin = span(&line, server.len());
        line.extend_from_slice(server.as_bytes());
        line.push(b' ');
        let start = line.len();
        format_signed_nanos(difference_nanos, &mut line);
        let difference = start as u32..line.len() as u32;
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
            bytes: Bytes::from(line),
            at,
            seq,
            origin,
            difference,
            client: client_span,
            location: location_span,
            time: time_span,
            lat,
            lng,
            gone: false,
        }
    }

    /// The tombstone `server` makes, numbered `seq`, to forget `forgotten`: it has the
    /// forgotten record's client and client time, and wins over it (see the module
    /// documentation).
    pub fn forgetting(server: &str, seq: u64, forgotten: &Record) -> Record {
        let mut line = Vec::with_capacity(64 + server.len() + forgotten.client.len());
        line.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
        line.push(b' ');
        line.extend_from_slice(b"GONE ");
        line.extend_from_slice(server.as_bytes());
        line.extend_from_slice(b" +0.000000000 ");
        line.extend_from_slice(forgotten.client_bytes());
        line.extend_from_slice(b" +0+0 ");
        line.extend_from_slice(forgotten.time());
        Record::decode(Bytes::from(line)).expect("a tombstone made of a valid record reads back")
    }

    /// Reads `SEQ AT origin diff client location time` (from a neighbour or from disk),
    /// checking every field.
    ///
    /// # Errors
    /// [`BadRecord`] when the bytes are not a sequence number and an AT line with a valid
    /// location, a client time ([`is_client_time`]) and a difference in the shape a server
    /// writes it ([`is_difference`]: a sign and nine decimals).
    pub fn decode(bytes: Bytes) -> Result<Record, BadRecord> {
        let mut f: [&[u8]; 7] = [&[]; 7];
        if split_fields(&bytes, &mut f) != 7 || !(f[1] == b"AT" || f[1] == b"GONE") {
            return Err(BadRecord);
        }
        let gone = f[1] == b"GONE";
        if f[0].is_empty() || f[0].len() > 20 || !f[0].iter().all(u8::is_ascii_digit) {
            return Err(BadRecord);
        }
        let seq: u64 = std::str::from_utf8(f[0])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(BadRecord)?;
        if !is_difference(f[3]) || !is_client_time(f[6]) {
            return Err(BadRecord);
        }
        let (lat, lng) = parse_location(f[5]).ok_or(BadRecord)?;
        let offset = |field: &[u8]| field.as_ptr() as usize - bytes.as_ptr() as usize;
        let span = |field: &[u8]| {
            let start = offset(field);
            start as u32..(start + field.len()) as u32
        };
        let at = offset(f[1]) as u32;
        let (origin, difference) = (span(f[2]), span(f[3]));
        let (client, location, time) = (span(f[4]), span(f[5]), span(f[6]));
        // Anything after the time (trailing white space) is not part of the record.
        let end = time.end as usize;
        let bytes = if end < bytes.len() {
            bytes.slice(..end)
        } else {
            bytes.clone()
        };
        Ok(Record {
            bytes,
            at,
            seq,
            origin,
            difference,
            client,
            location,
            time,
            lat,
            lng,
            gone,
        })
    }

    /// True for a tombstone: the client was forgotten, and this record only keeps newer-wins
    /// from bringing its older records back.
    pub fn is_gone(&self) -> bool {
        self.gone
    }

    /// `SEQ AT ...`: the record as a neighbour line (without `\n`) and as a stored payload.
    pub fn wire(&self) -> &[u8] {
        &self.bytes
    }

    /// The record's bytes, shared (for storing without a copy).
    pub fn wire_bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// The AT line, without a terminator.
    pub fn line(&self) -> &[u8] {
        &self.bytes[self.at as usize..]
    }

    /// The AT line, without a terminator, sharing the record's bytes.
    pub fn line_bytes(&self) -> Bytes {
        self.bytes.slice(self.at as usize..)
    }

    /// Where the client ID starts in [`Record::wire`].
    pub(crate) fn client_start(&self) -> usize {
        self.client.start as usize
    }

    /// The number the origin gave this record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The client ID (a cheap slice of the line, fit for a map key).
    pub fn client(&self) -> Bytes {
        self.bytes
            .slice(self.client.start as usize..self.client.end as usize)
    }

    /// The client ID as bytes.
    pub fn client_bytes(&self) -> &[u8] {
        &self.bytes[self.client.start as usize..self.client.end as usize]
    }

    /// The name of the server that received the IAMAT.
    pub fn origin(&self) -> &[u8] {
        &self.bytes[self.origin.start as usize..self.origin.end as usize]
    }

    /// The time difference (the origin's receive time minus the client time), as written.
    pub fn difference(&self) -> &[u8] {
        &self.bytes[self.difference.start as usize..self.difference.end as usize]
    }

    /// The time difference in nanoseconds (exact: it has nine decimals).
    pub fn difference_nanos(&self) -> i128 {
        // Checked when the record was made or read.
        difference_nanos(self.difference()).unwrap_or(0)
    }

    /// The location as the client wrote it.
    pub fn location(&self) -> &[u8] {
        &self.bytes[self.location.start as usize..self.location.end as usize]
    }

    /// The client time as the client wrote it.
    pub fn time(&self) -> &[u8] {
        &self.bytes[self.time.start as usize..self.time.end as usize]
    }

    /// (latitude, longitude) in degrees.
    pub fn position(&self) -> (f64, f64) {
        (self.lat, self.lng)
    }

    /// Orders two records of a client by client time (exactly, as decimals).
    pub fn cmp_time(&self, other: &Record) -> Ordering {
        compare_decimal(self.time(), other.time())
    }

    /// True when this record should replace `stored` under newer-wins (at equal client
    /// times a tombstone replaces a record).
    pub fn is_newer_than(&self, stored: &Record) -> bool {
        self.is_newer_than_kept(stored.time(), stored.gone)
    }

    /// [`Record::is_newer_than`] a stored record known by its client time and whether it is
    /// a tombstone.
    pub fn is_newer_than_kept(&self, time: &[u8], gone: bool) -> bool {
        is_newer_version((self.time(), self.gone), (time, gone))
    }
}

/// Newer-wins on two versions of a client's record, each known by its client time and
/// whether it is a tombstone: true when `version` replaces `kept` (a greater time, or a
/// tombstone at an equal time).
pub fn is_newer_version(version: (&[u8], bool), kept: (&[u8], bool)) -> bool {
    match compare_decimal(version.0, kept.0) {
        Ordering::Greater => true,
        Ordering::Equal => version.1 && !kept.1,
        Ordering::Less => false,
    }
}

/// A record of `client` at client time `time` (also its number), received by server `A` at
/// time 0: for tests.
pub fn sample(client: &str, time: u64) -> Record {
    Record::received(
        "A",
        time,
        -i128::from(time) * 1_000_000_000,
        client.as_bytes(),
        b"+1+1",
        time.to_string().as_bytes(),
        (1.0, 1.0),
    )
}

/// For replaying stored records: true when the `later` stored record (`SEQ AT ...`) should
/// replace the `kept` one, i.e. its client time is newer (unreadable bytes never win). Plain
/// numbers (the sequence lease) compare as numbers.
pub fn stored_is_newer(later: &[u8], kept: &[u8]) -> bool {
    let number = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    if number(later) && number(kept) {
        return compare_decimal(later, kept) == Ordering::Greater;
    }
    // The client time, and whether it is a tombstone.
    let time = |bytes: &[u8]| {
        let mut f: [&[u8]; 7] = [&[]; 7];
        (split_fields(bytes, &mut f) == 7 && is_client_time(f[6]))
            .then(|| (f[6].to_vec(), f[1] == b"GONE"))
    };
    match (time(later), time(kept)) {
        (Some((l, l_gone)), Some((k, k_gone))) => match compare_decimal(&l, &k) {
            Ordering::Greater => true,
            Ordering::Equal => l_gone && !k_gone,
            Ordering::Less => false,
        },
        (Some(_), None) => true,
        _ => false,
    }
}

fn span(line: &[u8], len: usize) -> Range<u32> {
    line.len() as u32..(line.len() + len) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::protocol::number::time_difference;

    #[test]
    fn received_records_keep_fields_verbatim() {
        let r = Record::received(
            "Clark",
            42,
            time_difference(1_621_464_828_223_371_889, b"1621464827.959498503").unwrap(),
            b"kiwi.cs.ucla.edu",
            b"+34.068930-118.445127",
            b"1621464827.959498503",
            (34.06893, -118.445127),
        );
        assert_eq!(
            r.line(),
            b"AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
        );
        assert_eq!(r.origin(), b"Clark");
        assert_eq!(r.client_bytes(), b"kiwi.cs.ucla.edu");
        assert_eq!(r.seq(), 42);
        assert_eq!(r.difference(), b"+0.263873386");
        assert_eq!(r.difference_nanos(), 263_873_386);
        assert!(r.wire().starts_with(b"42 AT Clark "));
        assert_eq!(Record::decode(r.wire_bytes()).unwrap(), r);
    }

    #[test]
    fn client_times_in_the_future_give_a_negative_difference() {
        let diff = time_difference(1_000_000_000, b"2.5").unwrap();
        let r = Record::received("A", 1, diff, b"c", b"+1+1", b"2.5", (1.0, 1.0));
        assert_eq!(r.line(), b"AT A -1.500000000 c +1+1 2.5");
        assert_eq!(r.difference_nanos(), -1_500_000_000);
    }

    #[test]
    fn bad_lines_are_refused() {
        let huge = "9".repeat(400);
        for bad in [
            "1 AT A +0.100000000 c +1+1".to_string(),
            "1 AT A 0.100000000 c +1+1 1".to_string(),
            "1 AT A +0.100000000 c 1+1 1".to_string(),
            "1 AT A +0.100000000 c +1+1 x".to_string(),
            "1 IAMAT A +0.100000000 c +1+1 1".to_string(),
            "AT A +0.100000000 c +1+1 1".to_string(),
            "x AT A +0.100000000 c +1+1 1".to_string(),
            "99999999999999999999999 AT A +0.100000000 c +1+1 1".to_string(),
            // A difference not in nine decimals, or not a number.
            "1 AT A +0.1 c +1+1 1".to_string(),
            format!("1 AT A -inf c +1+1 {huge}"),
            format!("1 AT A -{huge}.000000000 c +1+1 {huge}"),
            // A time of more than twenty digits before the point.
            format!("1 AT A +0.000000000 c +1+1 {huge}"),
            "1 AT A +0.000000000 c +1+1 -123456789012345678901".to_string(),
        ] {
            assert_eq!(
                Record::decode(Bytes::from(bad.clone())),
                Err(BadRecord),
                "{bad}"
            );
        }
        let r = Record::decode(Bytes::from("7 AT A +0.100000000 c +1+1 1 ")).unwrap();
        assert_eq!(r.wire(), b"7 AT A +0.100000000 c +1+1 1");
        assert_eq!(r.difference_nanos(), 100_000_000);
    }

    #[test]
    fn a_tombstone_reads_back_and_wins_ties_in_memory_and_on_disk() {
        let record = sample("c", 7);
        let gone = Record::forgetting("B", 9, &record);
        assert_eq!(gone.wire(), b"9 GONE B +0.000000000 c +0+0 7");
        assert_eq!(Record::decode(gone.wire_bytes()).unwrap(), gone);
        assert!(gone.is_gone() && !record.is_gone());
        assert!(gone.is_newer_than(&record) && !record.is_newer_than(&gone));
        assert!(!gone.is_newer_than(&gone.clone()));
        assert!(sample("c", 8).is_newer_than(&gone));
        assert!(stored_is_newer(gone.wire(), record.wire()));
        assert!(!stored_is_newer(record.wire(), gone.wire()));
        assert!(stored_is_newer(sample("c", 8).wire(), gone.wire()));
    }

    #[test]
    fn newer_wins_by_exact_time() {
        let r = |t: &str| Record::received("A", 1, 0, b"c", b"+1+1", t.as_bytes(), (1.0, 1.0));
        assert!(r("10.000000000000000001").is_newer_than(&r("10")));
        assert!(!r("10.0").is_newer_than(&r("10")));
        assert!(!r("9").is_newer_than(&r("10")));
    }
}
