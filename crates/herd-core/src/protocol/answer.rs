//! Answers as bytes on the wire: `?` lines and WHATSAT answers with Google-style JSON.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use serde_json::Value;

use super::frame::Frame;

/// Appends the answer to an invalid line: `? ` and the line as received.
pub fn invalid(line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"? ");
    out.extend_from_slice(line);
    out.push(b'\n');
}

/// Appends the answer to an overlong line: `? `, its first bytes and an ellipsis.
pub fn overlong(head: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"? ");
    out.extend_from_slice(head);
    out.extend_from_slice(b"...\n");
}

/// Appends the answer to a frame that is not a command (`?` for a line or an overlong line).
pub fn refuse(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Line(line) => invalid(line, out),
        Frame::Overlong(head) => overlong(head, out),
    }
}

/// Appends a WHATSAT answer: the stored AT line, the places JSON with `results` cut to `bound`,
/// then an empty line. The JSON never holds an empty line and never ends with a newline.
pub fn whatsat(at_line: &[u8], mut places: Value, bound: usize, out: &mut Vec<u8>) {
    if let Some(Value::Array(results)) = places.get_mut("results") {
        results.truncate(bound);
    }
    out.extend_from_slice(at_line);
    out.push(b'\n');
    let start = out.len();
    render_google_json(&places, out);
    squeeze_newlines(out, start);
    out.extend_from_slice(b"\n\n");
}

/// Renders JSON the way Google's Nearby Search pretty-prints it: three-space indents and
/// `"key" : value`.
pub fn render_google_json(value: &Value, out: &mut Vec<u8>) {
    let mut ser = Serializer::with_formatter(&mut *out, GoogleFormatter::default());
    value
        .serialize(&mut ser)
        .expect("writing JSON to memory cannot fail");
}

/// Replaces every run of newlines in `out[start..]` with one and drops trailing ones.
fn squeeze_newlines(out: &mut Vec<u8>, start: usize) {
    let mut write = start;
    for read in start..out.len() {
        let b = out[read];
        if b == b'\n' && write > start && out[write - 1] == b'\n' {
            continue;
        }
        out[write] = b;
        write += 1;
    }
    while write > start && out[write - 1] == b'\n' {
        write -= 1;
    }
    out.truncate(write);
}

/// A serde_json formatter for Google's layout.
#[derive(Default)]
struct GoogleFormatter {
    /// Current nesting depth.
    depth: usize,
    /// Whether the container being closed had any element.
    has_value: bool,
}

impl GoogleFormatter {
    fn indent<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        for _ in 0..self.depth {
            w.write_all(b"   ")?;
        }
        Ok(())
    }

    /// Opens an array or object.
    fn open<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    /// Closes an array or object: on its own line unless it was empty (`[]`, `{}`).
    fn close<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(bracket)
    }

    /// Starts an element (an array value or an object key) on a new, indented line.
    fn element<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }
}

impl Formatter for GoogleFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.element(w, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.element(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn google_layout() {
        let mut out = Vec::new();
        render_google_json(
            &json!({"html_attributions": [], "results": [{"name": "A", "types": ["x", "y"], "geometry": {}}], "status": "OK"}),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n   \"html_attributions\" : [],\n   \"results\" : [\n      {\n         \"name\" : \"A\",\n         \"types\" : [\n            \"x\",\n            \"y\"\n         ],\n         \"geometry\" : {}\n      }\n   ],\n   \"status\" : \"OK\"\n}"
        );
    }

    #[test]
    fn whatsat_cuts_results_and_ends_with_two_newlines() {
        let places = json!({"html_attributions": [], "next_page_token": "t", "results": [1, 2, 3, 4], "status": "OK"});
        let mut out = Vec::new();
        whatsat(b"AT A +0.1 c +1+1 1", places, 2, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("AT A +0.1 c +1+1 1\n{\n"));
        assert!(text.ends_with("}\n\n"));
        assert!(!text[..text.len() - 2].contains("\n\n"));
        assert!(text.contains("\"next_page_token\" : \"t\""));
        assert!(text.contains("      1,\n      2\n   ]"));
    }

    #[test]
    fn newline_runs_are_squeezed() {
        let mut out = b"keep\n\n\nx\n\n".to_vec();
        squeeze_newlines(&mut out, 0);
        assert_eq!(out, b"keep\nx");
    }
}
