//! Target `peer_wire`: the lines a neighbour sends once a link is up.
//!
//! Input: the bytes of a link, framed as a link frames them (`\n`-terminated lines; the last
//! line is taken even without `\n`). Every line goes to `peer_wire::parse` and to
//! `Record::decode` (which the store's replay also uses).
//!
//! Checks, beyond "no panic":
//! - a decoded record's wire bytes are the line less trailing white space, its fields are the
//!   line's fields, and decoding the wire bytes again gives the same record;
//! - `parse` and `decode` agree on every line that starts with a digit;
//! - the replay order (`stored_is_newer` on raw bytes) agrees with newer-wins on decoded
//!   records, and no record is newer than itself;
//! - `WM` and `CAUGHT` lines round-trip through `marks_line`, and their names hold no white
//!   space or `=`;
//! - `IHAVE`, `GRAFT` and `PRUNE` lines (the tree's) hold one word per name, a time a client
//!   could have written, and round-trip through `announce_line`, `graft_line` and
//!   `prune_line`.

use bytes::{Bytes, BytesMut};
use herd_core::peer_wire::{self, PeerLine};
use herd_core::protocol::command::{is_field_space, split_fields};
use herd_core::protocol::frame::{Frame, LineFramer};
use herd_core::record::{stored_is_newer, Record};
use herd_core::replica::Watermarks;

/// The line limit of a link (`PEER_MAX_LINE` in crates/herd-server/src/peer/link.rs).
const PEER_MAX_LINE: usize = 1 << 20;

/// The target: see the module documentation.
pub fn peer_wire(data: &[u8]) {
    let mut framer = LineFramer::new(PEER_MAX_LINE);
    let mut buf = BytesMut::from(data);
    let mut previous: Option<Record> = None;
    while let Some(frame) = framer.next_frame(&mut buf, true) {
        if let Frame::Line(line) = frame {
            check_line(line, &mut previous);
        }
    }
}

fn check_line(line: Bytes, previous: &mut Option<Record>) {
    let decoded = Record::decode(line.clone()).ok();
    if let Some(record) = &decoded {
        check_record(record, &line);
        if let Some(before) = previous.as_ref() {
            check_order(record, before);
            check_order(before, record);
        }
        *previous = Some(record.clone());
    }
    let starts_with_digit = line.first().is_some_and(u8::is_ascii_digit);
    match peer_wire::parse(line.clone()) {
        Ok(PeerLine::Record(record)) => {
            assert!(starts_with_digit);
            assert_eq!(Some(&record), decoded.as_ref(), "parse and decode disagree");
        }
        Ok(PeerLine::Watermarks(marks)) => {
            assert!(line.starts_with(b"WM"));
            marks_round_trip("WM", &marks, PeerLine::Watermarks);
        }
        Ok(PeerLine::CaughtUp(marks)) => {
            assert!(line.starts_with(b"CAUGHT"));
            marks_round_trip("CAUGHT", &marks, PeerLine::CaughtUp);
        }
        Ok(PeerLine::Announced { client, time, gone }) => {
            assert!(line.starts_with(b"IHAVE "));
            assert!(one_word(&client) && one_word(&time));
            assert!(herd_core::protocol::number::is_client_time(&time));
            // Formatted back from a record of that client and time, it parses the same.
            let mut again = b"IHAVE ".to_vec();
            again.extend_from_slice(&client);
            again.push(b' ');
            again.extend_from_slice(&time);
            if gone {
                again.extend_from_slice(b" GONE");
            }
            assert_eq!(
                peer_wire::parse(Bytes::from(again)),
                Ok(PeerLine::Announced { client, time, gone })
            );
        }
        Ok(PeerLine::Graft(client)) => {
            assert!(line.starts_with(b"GRAFT ") && one_word(&client));
            word_round_trip(peer_wire::graft_line(&client), PeerLine::Graft(client));
        }
        Ok(PeerLine::Prune(origin)) => {
            assert!(line.starts_with(b"PRUNE ") && one_word(&origin));
            word_round_trip(peer_wire::prune_line(&origin), PeerLine::Prune(origin));
        }
        Ok(PeerLine::Ping) => assert_eq!(&line[..], b"PING"),
        Ok(PeerLine::Resync) => assert_eq!(&line[..], b"RESYNC"),
        Err(_) => assert!(
            !starts_with_digit || decoded.is_none(),
            "a record line that decodes was refused by parse"
        ),
    }
}

/// A decoded record is the line's fields, and decodes again to itself.
fn check_record(record: &Record, line: &[u8]) {
    let wire = record.wire();
    assert!(line.starts_with(wire), "the wire bytes are not the line");
    assert!(
        line[wire.len()..].iter().all(|&b| is_field_space(b)),
        "the record dropped more than trailing white space"
    );
    let mut f: [&[u8]; 8] = [&[]; 8];
    assert_eq!(split_fields(line, &mut f), 7);
    let seq: u64 = std::str::from_utf8(f[0])
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("the sequence number is a u64");
    assert_eq!(record.seq(), seq);
    // A location, or a tombstone (a forgotten client).
    assert_eq!(
        f[1],
        if record.is_gone() {
            &b"GONE"[..]
        } else {
            b"AT"
        }
    );
    assert_eq!(record.origin(), f[2]);
    assert_eq!(record.client_bytes(), f[4]);
    assert_eq!(&record.client()[..], f[4]);
    assert_eq!(record.location(), f[5]);
    assert_eq!(record.time(), f[6]);
    assert!(record.line().starts_with(f[1]));
    assert!(wire.ends_with(record.line()));
    let (lat, lng) = record.position();
    assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng));
    match Record::decode(record.wire_bytes()) {
        Ok(again) => assert_eq!(&again, record),
        Err(_) => panic!("a decoded record's wire bytes do not decode"),
    }
    assert!(!record.is_newer_than(record));
    assert!(
        !stored_is_newer(wire, wire),
        "a stored record is newer than itself"
    );
}

/// Replay (on stored bytes) and newer-wins (on records) order two records alike.
fn check_order(later: &Record, kept: &Record) {
    assert_eq!(
        stored_is_newer(later.wire(), kept.wire()),
        later.is_newer_than(kept),
        "replay and newer-wins disagree on {later:?} against {kept:?}"
    );
    assert!(!(later.is_newer_than(kept) && kept.is_newer_than(later)));
}

/// True for one field: not empty, no white space.
fn one_word(bytes: &[u8]) -> bool {
    !bytes.is_empty() && !bytes.iter().any(|&b| is_field_space(b))
}

/// A line formatted from what was parsed (with its `\n`) parses back to the same.
fn word_round_trip(mut line: Vec<u8>, parsed: PeerLine) {
    assert_eq!(line.pop(), Some(b'\n'));
    assert_eq!(peer_wire::parse(Bytes::from(line)), Ok(parsed));
}

/// A marks line formatted from parsed marks parses back to the same marks.
fn marks_round_trip(word: &str, marks: &Watermarks, wrap: fn(Watermarks) -> PeerLine) {
    for origin in marks.keys() {
        assert!(
            !origin.contains('=') && !origin.bytes().any(|b| b.is_ascii_whitespace()),
            "name {origin:?} in a marks line"
        );
    }
    let mut line = peer_wire::marks_line(word, marks);
    assert_eq!(line.pop(), Some(b'\n'));
    assert_eq!(
        peer_wire::parse(Bytes::from(line)),
        Ok(wrap(marks.clone())),
        "marks do not round-trip through marks_line"
    );
}
