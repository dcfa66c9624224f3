//! Target `client_lines`: what a client sends, framed, parsed and answered.
//!
//! Input: the first byte is a knob, the rest is the bytes a client sends before it
//! half-closes. The knob picks the line limit, the default 64 KiB for knobs from 192 up, else
//! `64 + knob % 64` bytes (from the config's least allowed limit, across the 100 bytes echoed
//! of an overlong line), and seeds the chunking.
//!
//! Checks, beyond "no panic":
//! - the frames match PROTOCOL.md's lines (split at `\n`, one `\r` before it dropped, a final
//!   line without `\n` kept at end of input) whether the bytes arrive whole, one byte at
//!   a time, or in random chunks of 1 to 200 bytes; a line within the limit comes through exactly, a longer one
//!   as an `Overlong` holding between `min(100, limit + 1)` and 100 of its first bytes;
//! - memory stays bounded: bytes waiting for a newline never exceed the limit;
//! - an IAMAT's fields are slices of the line, its numbers are in range, and the record the
//!   server makes of it is one that neighbours and the store accept back unchanged;
//! - a WHATSAT's radius and bound are in range;
//! - the answer to anything else is `? ` and the line; to an overlong line, `? `, its head and
//!   `...`;
//! - how fields are separated never changes what a line means.

use bytes::BytesMut;
use herd_core::protocol::answer;
use herd_core::protocol::command::{self, is_field_space, split_fields, Command, Invalid};
use herd_core::protocol::frame::{Frame, LineFramer, OVERLONG_ECHO};
use herd_core::protocol::number::{is_decimal, is_difference, parse_location, time_difference};
use herd_core::record::Record;

use super::{is_slice_of, Rng};

/// The server's line limit unless configured (`herd.max_line`).
const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// The server clock the records are made at (nanoseconds since the epoch).
const RECEIVED_NANOS: i128 = 1_764_619_200_123_456_789;

/// A line as PROTOCOL.md defines it.
struct SpecLine<'a> {
    /// The bytes before the `\n` (or before the end of input).
    raw: &'a [u8],
    /// `raw` without one trailing `\r`: the line.
    line: &'a [u8],
}

/// The target: see the module documentation.
pub fn client_lines(data: &[u8]) {
    let Some((&knob, stream)) = data.split_first() else {
        return;
    };
    let max_line = if knob >= 192 {
        DEFAULT_MAX_LINE
    } else {
        64 + usize::from(knob % 64)
    };
    let spec = spec_lines(stream);

    let whole = frame_in_chunks(stream, max_line, || usize::MAX);
    check_frames(&whole, &spec, max_line, "whole");
    let bytewise = frame_in_chunks(stream, max_line, || 1);
    check_frames(&bytewise, &spec, max_line, "one byte at a time");
    let mut rng = Rng::new(u64::from(knob) ^ ((stream.len() as u64) << 8));
    let large = frame_in_chunks(stream, max_line, || rng.upto(200));
    check_frames(&large, &spec, max_line, "chunks of 1..=200");

    let mut out = Vec::new();
    for frame in &whole {
        match frame {
            Frame::Line(line) => check_line(line, &mut out),
            Frame::Overlong(head) => {
                out.clear();
                answer::refuse(frame, &mut out);
                assert_eq!(out.len(), 2 + head.len() + 4);
                assert!(out.starts_with(b"? ") && out.ends_with(b"...\n"));
                assert_eq!(&out[2..2 + head.len()], &head[..]);
            }
        }
    }
}

/// Splits `stream` into PROTOCOL.md's lines, as read up to a half-close.
fn spec_lines(stream: &[u8]) -> Vec<SpecLine<'_>> {
    let mut lines = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (raw, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        lines.push(SpecLine { raw, line });
        rest = after;
    }
    lines
}

/// Feeds `stream` to a framer in chunks of `next_chunk()` bytes, taking every frame after each
/// chunk, then signals the end of input.
fn frame_in_chunks(
    stream: &[u8],
    max_line: usize,
    mut next_chunk: impl FnMut() -> usize,
) -> Vec<Frame> {
    let mut framer = LineFramer::new(max_line);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = next_chunk().clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(frame) = framer.next_frame(&mut buf, false) {
            frames.push(frame);
        }
        // One byte more than the limit may wait: a `\r` that may start the line's `\r\n`.
        assert!(
            buf.len() <= max_line + 1,
            "{} bytes wait for a newline, over the {max_line}-byte limit",
            buf.len()
        );
    }
    while let Some(frame) = framer.next_frame(&mut buf, true) {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "bytes left over after the end of input");
    frames
}

/// Checks the frames one way of chunking gave against the lines of the spec.
fn check_frames(frames: &[Frame], spec: &[SpecLine<'_>], max_line: usize, how: &str) {
    let shown = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert_eq!(
        frames.len(),
        spec.len(),
        "{how}: {} frames for {} lines (limit {max_line})",
        frames.len(),
        spec.len()
    );
    for (frame, want) in frames.iter().zip(spec) {
        match frame {
            Frame::Line(line) => {
                assert!(
                    line.len() <= max_line,
                    "{how}: a {}-byte line passed the {max_line}-byte limit",
                    line.len()
                );
                assert_eq!(
                    shown(line),
                    shown(want.line),
                    "{how}: the frame is not the line"
                );
            }
            Frame::Overlong(head) => {
                assert!(
                    want.line.len() > max_line,
                    "{how}: a {}-byte line (limit {max_line}) was refused as overlong: {:?}",
                    want.line.len(),
                    shown(want.raw)
                );
                assert!(
                    head.len() <= OVERLONG_ECHO && head.len() >= OVERLONG_ECHO.min(max_line + 1),
                    "{how}: {}-byte head of an overlong line (limit {max_line})",
                    head.len()
                );
                assert!(
                    want.raw.starts_with(head),
                    "{how}: the head is not the start of the line"
                );
            }
        }
    }
}

/// Parses one framed line and checks the command, or the answer that refuses it.
fn check_line(line: &[u8], out: &mut Vec<u8>) {
    let parsed = command::parse(line);
    let fields: Vec<&[u8]> = line
        .split(|&b| is_field_space(b))
        .filter(|f| !f.is_empty())
        .collect();
    match parsed {
        Ok(Command::IAmAt {
            client,
            location,
            time,
            lat,
            lng,
        }) => {
            assert_eq!(fields, [&b"IAMAT"[..], client, location, time]);
            for part in [client, location, time] {
                assert!(
                    is_slice_of(part, line),
                    "a field is not a slice of the line"
                );
            }
            assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng));
            assert_eq!(parse_location(location), Some((lat, lng)));
            assert!(is_decimal(time));
            check_record_of(client, location, time, (lat, lng));
        }
        Ok(Command::WhatsAt {
            client,
            radius_km,
            bound,
        }) => {
            assert_eq!(fields.len(), 4);
            assert_eq!((fields[0], fields[1]), (&b"WHATSAT"[..], client));
            assert!(
                is_slice_of(client, line),
                "the client is not a slice of the line"
            );
            assert!(radius_km > 0.0 && radius_km <= 50.0, "radius {radius_km}");
            assert!((1..=20).contains(&bound), "bound {bound}");
        }
        Err(why) => {
            let command = fields.first().copied();
            match why {
                Invalid::Empty => assert!(fields.is_empty()),
                Invalid::UnknownCommand => {
                    assert!(command.is_some_and(|c| c != b"IAMAT" && c != b"WHATSAT"));
                }
                _ => assert!(command == Some(b"IAMAT") || command == Some(b"WHATSAT")),
            }
            out.clear();
            answer::invalid(line, out);
            assert!(
                out.starts_with(b"? "),
                "an invalid line's answer lacks `? `"
            );
            assert_eq!(&out[2..out.len() - 1], line);
            assert_eq!(out.last(), Some(&b'\n'));
        }
    }
    // White space between fields, of any kind and length, never changes the meaning.
    let plain = fields.join(&b' ');
    assert_eq!(
        command::parse(&plain),
        parsed,
        "the line means something else with its fields separated by single spaces"
    );
}

/// The record a server makes of an accepted IAMAT must carry the client's fields verbatim and
/// be accepted by a neighbour (and by the store's replay) as the same record.
fn check_record_of(client: &[u8], location: &[u8], time: &[u8], position: (f64, f64)) {
    let difference = time_difference(RECEIVED_NANOS, time)
        .expect("an accepted IAMAT's time gives a difference a server can write");
    let record = Record::received("Clark", 7, difference, client, location, time, position);
    assert_eq!(record.origin(), b"Clark");
    assert_eq!(record.client_bytes(), client);
    assert_eq!(record.location(), location);
    assert_eq!(record.time(), time);
    assert!(record.line().starts_with(b"AT Clark "));
    assert!(record.wire().starts_with(b"7 AT Clark "));
    let mut f: [&[u8]; 7] = [&[]; 7];
    assert_eq!(split_fields(record.line(), &mut f), 6);
    assert!(
        is_difference(f[2]),
        "the AT line's time difference {:?} is not one a neighbour reads",
        String::from_utf8_lossy(f[2])
    );
    match Record::decode(record.wire_bytes()) {
        Ok(back) => assert_eq!(back, record),
        Err(_) => panic!(
            "the record of an accepted IAMAT is refused when decoded: {:?}",
            String::from_utf8_lossy(record.wire())
        ),
    }
}
