//! The on-disk format: a file header, then one frame per record.
//!
//! ```text
//! header (16 bytes): magic "HERDSTOR" | version: u32 LE | reserved: u32 LE (0)
//! frame:             len: u32 LE | crc: u32 LE | key_len: u32 LE | key | payload
//! ```
//!
//! `len` counts the bytes after the `crc` field (`4 + key.len() + payload.len()`), and `crc` is
//! CRC-32 (IEEE) over the four `len` bytes followed by those `len` bytes, so a damaged length is
//! caught like a damaged key or payload. These functions are pure: they never touch a file.

/// First eight bytes of every log file.
pub const MAGIC: [u8; 8] = *b"HERDSTOR";
/// Format version written in the header; a reader refuses any other.
pub const VERSION: u32 = 1;
/// Size of the file header in bytes.
pub const HEADER_LEN: usize = 16;
/// Bytes a frame adds around key and payload (`len`, `crc`, `key_len`).
pub const FRAME_OVERHEAD: usize = 12;
/// Largest key plus payload accepted in one record (1 MiB; a protocol line is at most 64 KiB).
pub const MAX_RECORD_LEN: usize = 1 << 20;

/// The header that starts every log file of this version.
#[must_use]
pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// What the first bytes of a file say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderCheck {
    /// A complete header of this version.
    Valid,
    /// Fewer than [`HEADER_LEN`] bytes that begin a valid header: a creation cut short.
    Partial,
    /// Not a herd store log.
    BadMagic,
    /// A herd store log of a version this build cannot read.
    UnsupportedVersion(u32),
}

/// Checks the start of a file against the header format.
#[must_use]
pub fn check_header(bytes: &[u8]) -> HeaderCheck {
    let expected = header();
    if bytes.len() < HEADER_LEN {
        return if expected.starts_with(bytes) {
            HeaderCheck::Partial
        } else {
            HeaderCheck::BadMagic
        };
    }
    if bytes[..8] != MAGIC {
        return HeaderCheck::BadMagic;
    }
    let version = read_u32(bytes, 8);
    if version != VERSION {
        return HeaderCheck::UnsupportedVersion(version);
    }
    HeaderCheck::Valid
}

/// Size on disk of the frame of a record with these key and payload lengths.
#[must_use]
pub fn frame_len(key_len: usize, payload_len: usize) -> usize {
    FRAME_OVERHEAD + key_len + payload_len
}

/// Whether a record with these lengths fits in one frame.
#[must_use]
pub fn fits(key_len: usize, payload_len: usize) -> bool {
    key_len.saturating_add(payload_len) <= MAX_RECORD_LEN
}

/// Appends the frame of one record to `out`.
///
/// The caller has checked [`fits`]; lengths that do not fit would be cut to 32 bits.
pub fn encode(out: &mut Vec<u8>, key: &[u8], payload: &[u8]) {
    let len = u32::try_from(4 + key.len() + payload.len()).unwrap_or(u32::MAX);
    let key_len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len.to_le_bytes());
    crc.update(&key_len.to_le_bytes());
    crc.update(key);
    crc.update(payload);
    out.reserve(frame_len(key.len(), payload.len()));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(payload);
}

/// The result of looking for a frame at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole, valid frame.
    Record {
        /// The record's key.
        key: &'a [u8],
        /// The record's payload.
        payload: &'a [u8],
        /// Bytes the frame takes, to step over it.
        frame_len: usize,
    },
    /// The buffer ends before the frame does; more bytes may complete it.
    Incomplete,
    /// The bytes cannot be a frame: impossible length or checksum mismatch.
    Invalid,
}

/// Looks for one frame at the start of `buf`.
#[must_use]
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < 4 {
        return Decoded::Incomplete;
    }
    let len = read_u32(buf, 0) as usize;
    if !(4..=MAX_RECORD_LEN + 4).contains(&len) {
        return Decoded::Invalid;
    }
    let total = 8 + len;
    if buf.len() < total {
        return Decoded::Incomplete;
    }
    let stored_crc = read_u32(buf, 4);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&buf[..4]);
    crc.update(&buf[8..total]);
    if crc.finalize() != stored_crc {
        return Decoded::Invalid;
    }
    let key_len = read_u32(buf, 8) as usize;
    if key_len > len - 4 {
        return Decoded::Invalid;
    }
    let key_end = FRAME_OVERHEAD + key_len;
    Decoded::Record {
        key: &buf[FRAME_OVERHEAD..key_end],
        payload: &buf[key_end..total],
        frame_len: total,
    }
}

/// Offset of the first whole, valid frame in `buf`, trying every byte position.
///
/// Used only after damage, to tell a torn tail (nothing valid follows) from damage in the
/// middle, and by repair to step over damage.
#[must_use]
pub fn find_next_frame(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find(|&at| matches!(decode(&buf[at..]), Decoded::Record { .. }))
}

/// Reads a little-endian `u32` at `at`; the caller has checked the bounds.
fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        encode(&mut buf, b"kiwi", b"payload");
        encode(&mut buf, b"", b"");
        assert_eq!(buf.len(), frame_len(4, 7) + frame_len(0, 0));
        let Decoded::Record {
            key,
            payload,
            frame_len: n,
        } = decode(&buf)
        else {
            panic!("first frame did not decode");
        };
        assert_eq!((key, payload), (&b"kiwi"[..], &b"payload"[..]));
        assert!(matches!(
            decode(&buf[n..]),
            Decoded::Record {
                key: b"",
                payload: b"",
                ..
            }
        ));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode(&mut buf, b"key", b"value");
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    !matches!(decode(&bad), Decoded::Record { .. }),
                    "flip at {byte}:{bit} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn prefixes_are_incomplete_and_zeros_invalid() {
        let mut buf = Vec::new();
        encode(&mut buf, b"key", b"value");
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), Decoded::Incomplete, "cut {cut}");
        }
        assert_eq!(decode(&[0u8; 64]), Decoded::Invalid);
        assert_eq!(find_next_frame(&[0u8; 64]), None);
    }

    #[test]
    fn header_checks() {
        let h = header();
        assert_eq!(check_header(&h), HeaderCheck::Valid);
        assert_eq!(check_header(&h[..5]), HeaderCheck::Partial);
        assert_eq!(check_header(b"nonsense-nonsense"), HeaderCheck::BadMagic);
        let mut v2 = h;
        v2[8] = 2;
        assert_eq!(check_header(&v2), HeaderCheck::UnsupportedVersion(2));
    }
}
