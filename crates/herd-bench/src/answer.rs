//! Answer framing: where one server answer ends in a byte stream, and whether it is the
//! answer that was expected.
//!
//! Framing follows PROTOCOL.md: an IAMAT answer (or any `? ` answer, or a Redis status
//! reply) is one line; a WHATSAT answer is an AT line, a JSON object and an empty line, so it
//! ends at the first `\n\n` (the JSON itself never holds an empty line).

/// What the bench expects back for one command it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// One `AT` line echoing the IAMAT's client id, location and time.
    Iamat,
    /// An `AT` line for the client, a JSON object, then an empty line.
    Whatsat,
    /// A Redis `+OK\r\n` status reply to an inline `SET`.
    RedisOk,
}

/// How one framed answer was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The answer has the expected shape and echoes the command's fields.
    Ok,
    /// The server said the command was invalid (`? ...` or a Redis `-ERR`).
    Rejected,
    /// The answer does not have the expected shape.
    Malformed,
}

/// Returns the length of the first complete answer at the start of `buf`, or `None` while
/// more bytes are needed.
pub fn frame_len(buf: &[u8], expect: Expect) -> Option<usize> {
    let line_end = memchr::memchr(b'\n', buf)? + 1;
    if expect != Expect::Whatsat || buf.starts_with(b"?") {
        return Some(line_end);
    }
    memchr::memmem::find(&buf[line_end - 1..], b"\n\n").map(|at| line_end - 1 + at + 2)
}

/// Judges one framed `answer` against the command `sent` (without its line terminator).
pub fn judge(answer: &[u8], sent: &[u8], expect: Expect) -> Verdict {
    if answer.starts_with(b"? ") || answer.starts_with(b"-") {
        return Verdict::Rejected;
    }
    match expect {
        Expect::RedisOk if answer == b"+OK\r\n" => Verdict::Ok,
        Expect::RedisOk => Verdict::Malformed,
        Expect::Iamat => judge_iamat(answer, sent),
        Expect::Whatsat => judge_whatsat(answer, sent),
    }
}

/// Splits a line into exactly `N` white-space separated fields, or `None` for another count.
fn exact_fields<const N: usize>(line: &[u8]) -> Option<[&[u8]; N]> {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut parts = line
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty());
    for slot in &mut out {
        *slot = parts.next()?;
    }
    parts.next().is_none().then_some(out)
}

/// An IAMAT answer is `AT server diff id loc time` echoing `IAMAT id loc time`.
fn judge_iamat(answer: &[u8], sent: &[u8]) -> Verdict {
    let ok = match (exact_fields::<6>(answer), exact_fields::<4>(sent)) {
        (Some(got), Some(want)) => {
            got[0] == b"AT" && is_signed_number(got[2]) && got[3..] == want[1..]
        }
        _ => false,
    };
    if ok {
        Verdict::Ok
    } else {
        Verdict::Malformed
    }
}

/// A WHATSAT answer starts with an AT line for the asked client and ends with `}\n\n`.
fn judge_whatsat(answer: &[u8], sent: &[u8]) -> Verdict {
    let first_end = memchr::memchr(b'\n', answer).unwrap_or(answer.len());
    let at_line_ok = match (
        exact_fields::<6>(&answer[..first_end]),
        exact_fields::<4>(sent),
    ) {
        (Some(got), Some(want)) => got[0] == b"AT" && got[3] == want[1],
        _ => false,
    };
    let json = answer[first_end..].trim_ascii_start();
    if at_line_ok && json.starts_with(b"{") && answer.ends_with(b"}\n\n") {
        Verdict::Ok
    } else {
        Verdict::Malformed
    }
}

/// True for `+1.5` or `-0.000000001`: an explicit sign, then a decimal number.
fn is_signed_number(field: &[u8]) -> bool {
    match field.split_first() {
        Some((b'+' | b'-', rest)) => {
            !rest.is_empty() && rest.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHATSAT_ANSWER: &[u8] =
        b"AT Clark +0.1 kiwi +34-118 1.5\n{\n   \"results\" : [ {\n   } ],\n   \"status\" : \"OK\"\n}\n\n";

    #[test]
    fn iamat_answer_is_one_line() {
        assert_eq!(frame_len(b"AT Clark +0.1 k +1+2 3", Expect::Iamat), None);
        assert_eq!(frame_len(b"AT a\nAT b\n", Expect::Iamat), Some(5));
    }

    #[test]
    fn whatsat_answer_ends_at_empty_line() {
        let mut buf = WHATSAT_ANSWER.to_vec();
        assert_eq!(frame_len(&buf, Expect::Whatsat), Some(WHATSAT_ANSWER.len()));
        buf.extend_from_slice(b"AT next\n");
        assert_eq!(frame_len(&buf, Expect::Whatsat), Some(WHATSAT_ANSWER.len()));
        let cut = &WHATSAT_ANSWER[..WHATSAT_ANSWER.len() - 1];
        assert_eq!(frame_len(cut, Expect::Whatsat), None);
        assert_eq!(frame_len(b"AT Clark +0.1 kiwi\n", Expect::Whatsat), None);
    }

    #[test]
    fn rejected_whatsat_is_one_line() {
        assert_eq!(frame_len(b"? WHATSAT x 1 1\nAT", Expect::Whatsat), Some(16));
        assert_eq!(
            judge(b"? WHATSAT x 1 1\n", b"WHATSAT x 1 1", Expect::Whatsat),
            Verdict::Rejected
        );
    }

    #[test]
    fn judges_iamat_echo() {
        let sent = b"IAMAT kiwi +34.1-118.2 1621464827.959498503";
        let good = b"AT Clark +0.263873386 kiwi +34.1-118.2 1621464827.959498503\n";
        assert_eq!(judge(good, sent, Expect::Iamat), Verdict::Ok);
        let other = b"AT Clark +0.263873386 pear +34.1-118.2 1621464827.959498503\n";
        assert_eq!(judge(other, sent, Expect::Iamat), Verdict::Malformed);
        let unsigned = b"AT Clark 0.26 kiwi +34.1-118.2 1621464827.959498503\n";
        assert_eq!(judge(unsigned, sent, Expect::Iamat), Verdict::Malformed);
    }

    #[test]
    fn judges_whatsat_and_redis() {
        assert_eq!(
            judge(WHATSAT_ANSWER, b"WHATSAT kiwi 10 5", Expect::Whatsat),
            Verdict::Ok
        );
        assert_eq!(
            judge(WHATSAT_ANSWER, b"WHATSAT pear 10 5", Expect::Whatsat),
            Verdict::Malformed
        );
        assert_eq!(judge(b"+OK\r\n", b"SET k v", Expect::RedisOk), Verdict::Ok);
        assert_eq!(
            judge(b"-ERR x\r\n", b"SET k v", Expect::RedisOk),
            Verdict::Rejected
        );
    }
}
