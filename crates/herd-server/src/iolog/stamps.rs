//! Timestamps for log lines: RFC 3339 with microseconds, the date and time formatted once a
//! second and reused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats timestamps, reusing the date and time of the last second formatted.
#[derive(Default)]
pub(super) struct Stamps {
    /// The whole second of `prefix`, in seconds since the epoch.
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS.` of `second` (empty before the first entry).
    prefix: Vec<u8>,
    /// The stamp of the entry being formatted, written once per entry, copied per line.
    stamp: Vec<u8>,
    /// The time `stamp` shows: the entries of one read share it, and are stamped once.
    at: Option<SystemTime>,
}

impl Stamps {
    /// Writes `at` as RFC 3339 with microseconds, as `humantime::format_rfc3339_micros` does.
    pub(super) fn stamp(&mut self, at: SystemTime) {
        if self.at == Some(at) {
            return;
        }
        self.at = Some(at);
        self.stamp.clear();
        let Ok(since) = at.duration_since(UNIX_EPOCH) else {
            let text = humantime::format_rfc3339_micros(at).to_string();
            self.stamp.extend_from_slice(text.as_bytes());
            return;
        };
        if self.prefix.is_empty() || since.as_secs() != self.second {
            self.second = since.as_secs();
            let whole = UNIX_EPOCH + Duration::from_secs(self.second);
            let text = humantime::format_rfc3339_seconds(whole).to_string();
            self.prefix.clear();
            self.prefix
                .extend_from_slice(text.strip_suffix('Z').unwrap_or(&text).as_bytes());
            self.prefix.push(b'.');
        }
        self.stamp.extend_from_slice(&self.prefix);
        let mut digits = [b'0'; 6];
        let mut micros = since.subsec_micros();
        for d in digits.iter_mut().rev() {
            *d = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        self.stamp.extend_from_slice(&digits);
        self.stamp.push(b'Z');
    }

    /// The stamp made by the last [`Stamps::stamp`].
    pub(super) fn current(&self) -> &[u8] {
        &self.stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_stamps_match_humantime() {
        let mut stamps = Stamps::default();
        let base = UNIX_EPOCH + Duration::from_secs(1_763_769_600);
        for offset_us in [
            0u64,
            1,
            999_999,
            1_000_000,
            1_000_001,
            59_999_999,
            86_400_000_007,
        ] {
            let at = base + Duration::from_micros(offset_us) + Duration::from_nanos(999);
            stamps.stamp(at);
            stamps.stamp(at);
            let expected = humantime::format_rfc3339_micros(at).to_string();
            assert_eq!(std::str::from_utf8(stamps.current()).unwrap(), expected);
        }
    }
}
