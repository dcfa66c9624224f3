//! The lines neighbours send each other once a link is up (after the handshake):
//!
//! ```text
//! SEQ AT origin diff client location time     a record (the AT fields, as the origin made them)
//! WM origin=seq origin=seq ...                 my watermarks: send me what I lack
//! CAUGHT origin=seq ...                        that was everything I had for you, as of these
//! PING                                         I am alive (sent every second)
//! RESYNC                                       records for you were refused on my side
//!                                              (a full outbox): send me WM again
//! IHAVE client time [GONE]                     I hold this version of client's record
//!                                              (the link is lazy: see `replica::tree`)
//! GRAFT client                                 send me client's record, and records whole
//! PRUNE origin                                 send me announcements only of origin's records
//! ```

use bytes::Bytes;

use crate::protocol::command::split_fields;
use crate::protocol::number::is_client_time;
use crate::record::Record;
use crate::replica::Watermarks;

/// One line from a neighbour.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerLine {
    /// A record.
    Record(Record),
    /// The neighbour's watermarks.
    Watermarks(Watermarks),
    /// The neighbour finished a catch-up.
    CaughtUp(Watermarks),
    /// A keep-alive.
    Ping,
    /// The neighbour refused records on their way here: it asks for watermarks, to send
    /// what this server lacks.
    Resync,
    /// The neighbour holds this version of a client's record.
    Announced {
        /// The client.
        client: Bytes,
        /// The version's client time.
        time: Bytes,
        /// Whether it is a tombstone.
        gone: bool,
    },
    /// The neighbour asks for a client's record, and for records whole.
    Graft(Bytes),
    /// The neighbour asks for announcements only of an origin's records.
    Prune(Bytes),
}

/// The `RESYNC` line, with its terminator.
pub const RESYNC_LINE: &[u8] = b"RESYNC\n";

/// The `PRUNE` line for `origin`'s records, with its `\n`.
pub fn prune_line(origin: &[u8]) -> Vec<u8> {
    word_line(b"PRUNE ", origin)
}

/// Why a neighbour's line was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a neighbour line")]
pub struct BadLine;

/// Reads one line from a neighbour.
///
/// # Errors
/// [`BadLine`] for anything that is not one of the lines above.
pub fn parse(line: Bytes) -> Result<PeerLine, BadLine> {
    match line.first() {
        Some(b'0'..=b'9') => Record::decode(line)
            .map(PeerLine::Record)
            .map_err(|_| BadLine),
        _ if &line[..] == b"PING" => Ok(PeerLine::Ping),
        _ if &line[..] == b"RESYNC" => Ok(PeerLine::Resync),
        _ if line.starts_with(b"WM") => parse_marks(&line[2..]).map(PeerLine::Watermarks),
        _ if line.starts_with(b"CAUGHT") => parse_marks(&line[6..]).map(PeerLine::CaughtUp),
        _ if line.starts_with(b"IHAVE ") => parse_announced(&line),
        _ if line.starts_with(b"GRAFT ") => one_word(&line).map(PeerLine::Graft),
        _ if line.starts_with(b"PRUNE ") => one_word(&line).map(PeerLine::Prune),
        _ => Err(BadLine),
    }
}

/// The one word after the first (`GRAFT client`, `PRUNE origin`).
fn one_word(line: &Bytes) -> Result<Bytes, BadLine> {
    let mut fields: [&[u8]; 3] = [&[]; 3];
    match split_fields(line, &mut fields) {
        2 => Ok(line.slice_ref(fields[1])),
        _ => Err(BadLine),
    }
}

/// `IHAVE client time [GONE]`, with a time a client could have written.
fn parse_announced(line: &Bytes) -> Result<PeerLine, BadLine> {
    let mut fields: [&[u8]; 5] = [&[]; 5];
    let gone = match split_fields(line, &mut fields) {
        3 => false,
        4 if fields[3] == b"GONE" => true,
        _ => return Err(BadLine),
    };
    if !is_client_time(fields[2]) {
        return Err(BadLine);
    }
    Ok(PeerLine::Announced {
        client: line.slice_ref(fields[1]),
        time: line.slice_ref(fields[2]),
        gone,
    })
}

/// Appends the `IHAVE` line announcing `record` (with its `\n`) to `out`.
pub fn announce_line(record: &Record, out: &mut Vec<u8>) {
    out.extend_from_slice(b"IHAVE ");
    out.extend_from_slice(record.client_bytes());
    out.push(b' ');
    out.extend_from_slice(record.time());
    if record.is_gone() {
        out.extend_from_slice(b" GONE");
    }
    out.push(b'\n');
}

/// The `GRAFT` line asking for `client`'s record, with its `\n`.
pub fn graft_line(client: &[u8]) -> Vec<u8> {
    word_line(b"GRAFT ", client)
}

/// `word` (with its space), `name` and `\n`.
fn word_line(word: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len() + name.len() + 1);
    out.extend_from_slice(word);
    out.extend_from_slice(name);
    out.push(b'\n');
    out
}

fn parse_marks(text: &[u8]) -> Result<Watermarks, BadLine> {
    let text = std::str::from_utf8(text).map_err(|_| BadLine)?;
    if !text.is_empty() && !text.starts_with(' ') {
        return Err(BadLine);
    }
    let mut marks = Watermarks::new();
    for pair in text.split_ascii_whitespace() {
        let (origin, seq) = pair.split_once('=').ok_or(BadLine)?;
        marks.insert(origin.to_string(), seq.parse().map_err(|_| BadLine)?);
    }
    Ok(marks)
}

/// Formats `WM ...` or `CAUGHT ...` with a line terminator.
pub fn marks_line(word: &str, marks: &Watermarks) -> Vec<u8> {
    let mut out = word.as_bytes().to_vec();
    for (origin, seq) in marks {
        out.extend_from_slice(format!(" {origin}={seq}").as_bytes());
    }
    out.push(b'\n');
    out
}

/// Checks [`split_fields`] agrees that a marks line has one word per pair (names never hold
/// white space or `=`; the config refuses such names).
pub fn is_plain_name(name: &str) -> bool {
    let mut one: [&[u8]; 1] = [&[]];
    split_fields(name.as_bytes(), &mut one) == 1
        && one[0].len() == name.len()
        && !name.contains('=')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::sample;

    #[test]
    fn lines_round_trip() {
        let marks: Watermarks = [
            ("A".to_string(), 3),
            ("Bona".to_string(), 1_700_000_000_000_000),
        ]
        .into();
        let wm = marks_line("WM", &marks);
        assert_eq!(wm, b"WM A=3 Bona=1700000000000000\n");
        assert_eq!(
            parse(Bytes::copy_from_slice(&wm[..wm.len() - 1])),
            Ok(PeerLine::Watermarks(marks.clone()))
        );
        assert_eq!(
            parse(Bytes::from_static(b"CAUGHT")),
            Ok(PeerLine::CaughtUp(Watermarks::new()))
        );
        assert_eq!(parse(Bytes::from_static(b"PING")), Ok(PeerLine::Ping));
        assert_eq!(
            parse(Bytes::copy_from_slice(
                &RESYNC_LINE[..RESYNC_LINE.len() - 1]
            )),
            Ok(PeerLine::Resync)
        );
        assert!(
            matches!(parse(Bytes::from_static(b"5 AT A +0.100000000 c +1+1 1")), Ok(PeerLine::Record(r)) if r.seq() == 5)
        );
        let record = sample("c1", 7);
        let mut ihave = Vec::new();
        announce_line(&record, &mut ihave);
        announce_line(&Record::forgetting("B", 9, &record), &mut ihave);
        assert_eq!(ihave, b"IHAVE c1 7\nIHAVE c1 7 GONE\n");
        let lines: Vec<&[u8]> = ihave.split(|&b| b == b'\n').collect();
        for (line, gone) in [(lines[0], false), (lines[1], true)] {
            assert_eq!(
                parse(Bytes::copy_from_slice(line)),
                Ok(PeerLine::Announced {
                    client: Bytes::from_static(b"c1"),
                    time: Bytes::from_static(b"7"),
                    gone
                })
            );
        }
        let graft = graft_line(b"c1");
        assert_eq!(
            parse(Bytes::copy_from_slice(&graft[..graft.len() - 1])),
            Ok(PeerLine::Graft(Bytes::from_static(b"c1")))
        );
        let prune = prune_line(b"Bona");
        assert_eq!(prune, b"PRUNE Bona\n");
        assert_eq!(
            parse(Bytes::copy_from_slice(&prune[..prune.len() - 1])),
            Ok(PeerLine::Prune(Bytes::from_static(b"Bona")))
        );
        for bad in [
            "IHAVE",
            "IHAVE c1",
            "IHAVE c1 soon",
            "IHAVE c1 7 LATER",
            "IHAVE c1 7 GONE x",
            "GRAFT",
            "GRAFT a b",
            "PRUNE",
            "PRUNE a b",
            "WMX",
            "WM A",
            "WM A=x",
            "AT A +0.1 c +1+1 1",
            "HELLO",
            "RESYNC now",
            "5 AT A",
        ] {
            assert_eq!(parse(Bytes::from(bad)), Err(BadLine), "{bad}");
        }
        assert!(is_plain_name("Bona") && !is_plain_name("a=b") && !is_plain_name("a b"));
    }
}
