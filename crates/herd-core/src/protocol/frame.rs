//! Line framing: finds whole lines in a connection's read buffer, with a cap on line length.
//!
//! Two-phase, like mini-redis: check cheaply (one `memchr`) that a whole line is buffered, then
//! split it off. A line longer than the cap is reported once, with its first bytes, and the
//! rest of it is skipped as it arrives, so a hostile line never grows the buffer past the cap
//! (plus one byte: a `\r` that may be the start of the line's `\r\n`).

use bytes::{Bytes, BytesMut};

/// How many leading bytes of an overlong line are echoed back.
pub const OVERLONG_ECHO: usize = 100;

/// One framed unit of client input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole line, without its `\n` (or `\r\n`).
    Line(Bytes),
    /// A line over the cap: its first bytes (at most [`OVERLONG_ECHO`]).
    Overlong(Bytes),
}

/// The framing state of one connection.
#[derive(Debug)]
pub struct LineFramer {
    /// The longest line accepted, terminator excluded.
    max_line: usize,
    /// True while the tail of an overlong line is being thrown away.
    skipping: bool,
}

impl LineFramer {
    /// A framer that accepts lines of up to `max_line` bytes.
    pub fn new(max_line: usize) -> LineFramer {
        LineFramer {
            max_line,
            skipping: false,
        }
    }

    /// Takes the next frame out of `buf`, if one is complete. With `eof` set, a final line
    /// without `\n` counts as complete.
    pub fn next_frame(&mut self, buf: &mut BytesMut, eof: bool) -> Option<Frame> {
        loop {
            let newline = memchr::memchr(b'\n', buf);
            if self.skipping {
                match newline {
                    Some(i) => {
                        let _ = buf.split_to(i + 1);
                        self.skipping = false;
                        continue;
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                }
            }
            return match newline {
                Some(i) => {
                    let mut line = buf.split_to(i + 1);
                    line.truncate(i);
                    if line.last() == Some(&b'\r') {
                        line.truncate(i - 1);
                    }
                    if line.len() > self.max_line {
                        line.truncate(OVERLONG_ECHO);
                        Some(Frame::Overlong(line.freeze()))
                    } else {
                        Some(Frame::Line(line.freeze()))
                    }
                }
                // A `\r` at the end may be the first half of a `\r\n` whose `\n` comes with
                // the next read (or never, at a half-close): it is not part of the line.
                None if buf.len() > self.max_line + usize::from(buf.last() == Some(&b'\r')) => {
                    let echo = Bytes::copy_from_slice(&buf[..OVERLONG_ECHO.min(buf.len())]);
                    buf.clear();
                    self.skipping = true;
                    Some(Frame::Overlong(echo))
                }
                None if eof && !buf.is_empty() => {
                    let mut line = buf.split();
                    if line.last() == Some(&b'\r') {
                        line.truncate(line.len() - 1);
                    }
                    Some(Frame::Line(line.freeze()))
                }
                None => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[&[u8]], eof: bool, max: usize) -> Vec<Frame> {
        let mut f = LineFramer::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for (i, chunk) in input.iter().enumerate() {
            buf.extend_from_slice(chunk);
            let last = i + 1 == input.len();
            while let Some(frame) = f.next_frame(&mut buf, eof && last) {
                out.push(frame);
            }
            assert!(buf.len() <= max + 1);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn lines_crlf_and_final_line() {
        assert_eq!(frames(&[b"a\nb\r\nc"], false, 64), [line("a"), line("b")]);
        assert_eq!(
            frames(&[b"a\nb\r\nc"], true, 64),
            [line("a"), line("b"), line("c")]
        );
        assert_eq!(frames(&[b"x\r", b"\n"], false, 64), [line("x")]);
        assert_eq!(frames(&[b"a\r\r\n"], false, 64), [line("a\r")]);
        assert_eq!(frames(&[b"\n"], false, 64), [line("")]);
    }

    #[test]
    fn a_line_of_exactly_the_limit_ended_by_crlf_is_a_line_however_it_is_read() {
        let full = "x".repeat(64);
        let crlf = format!("{full}\r\n");
        let whole = [line(&full)];
        assert_eq!(frames(&[crlf.as_bytes()], false, 64), whole);
        // The read ends between `\r` and `\n`.
        let (head, tail) = crlf.as_bytes().split_at(65);
        assert_eq!(frames(&[head, tail], false, 64), whole);
        // The last line, ended by a half-close right after its `\r`.
        assert_eq!(frames(&[head], true, 64), whole);
        // One byte more is overlong, whatever follows.
        let over = format!("{full}y\r");
        let out = frames(&[format!("{over}\nok\n").as_bytes()], false, 64);
        let head = Frame::Overlong(Bytes::from(format!("{full}y")));
        assert_eq!(out, [head, line("ok")]);
        let out = frames(&[over.as_bytes(), b"\nok\n"], false, 64);
        assert_eq!(
            out,
            [Frame::Overlong(Bytes::from(over.clone())), line("ok")]
        );
        let out = frames(&[over.as_bytes(), b"z\nok\n"], true, 64);
        assert_eq!(out, [Frame::Overlong(Bytes::from(over)), line("ok")]);
    }

    #[test]
    fn overlong_lines_are_cut_and_skipped() {
        let long = vec![b'x'; 1000];
        let out = frames(&[&long, &long, b"\nok\n"], false, 200);
        assert_eq!(
            out,
            [Frame::Overlong(Bytes::from(vec![b'x'; 100])), line("ok")]
        );
        let mut whole = long.clone();
        whole.extend_from_slice(b"\nok\n");
        let out = frames(&[&whole], false, 200);
        assert_eq!(
            out,
            [Frame::Overlong(Bytes::from(vec![b'x'; 100])), line("ok")]
        );
    }
}
