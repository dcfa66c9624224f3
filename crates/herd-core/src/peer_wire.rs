//! The lines neighbours send each other once a link is up (after the handshake):
//!
//! ```text
//! SEQ AT origin diff client location time     a record (the AT fields, as the origin made them)
//! WM origin=seq origin=seq ...                 my watermarks: send me what I lack
//! CAUGHT origin=seq ...                        that was everything I had for you, as of these
//! PING                                         I am alive (sent every second)
//! RESYNC                                       records for you were refused on my side
//!                                              (a full outbox): send me WM again
//! ```

use bytes::Bytes;

use crate::protocol::command::split_fields;
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
}

/// The `RESYNC` line, with its terminator.
pub const RESYNC_LINE: &[u8] = b"RESYNC\n";

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
        _ => Err(BadLine),
    }
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
        for bad in [
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
