//! The handshake that opens a link between two servers, spoken inside the link's TLS session
//! (see `seal`), so nothing of it crosses the network in clear.
//!
//! ```text
//! dialer   → HERD1 HELLO <dialer> <acceptor> <nonce-d>
//! acceptor → HERD1 WELCOME <acceptor> <nonce-a> <mac-a>[,<mac-a'>]
//! dialer   → HERD1 PROOF <mac-d>
//! ```
//!
//! With a shared secret, `mac-a` and `mac-d` are HMAC-SHA256 over the TLS session's exporter
//! value (the *binding*, RFC 9266's idea), both names and both fresh nonces, each with its own
//! role label: neither side can replay the other's proof, a recorded handshake proves nothing
//! later, and a proof made in one TLS session is worthless in any other. That last point is
//! what stops a man in the middle: it must run two TLS sessions (one with each side), whose
//! exporters differ, so it can only relay proofs that the far side then refuses.
//!
//! While a new secret rolls through the herd, a server holds two: the acceptor answers with one
//! MAC per secret it holds (current first), and the dialer proves with the first of its own
//! secrets that one of those MACs checks against; the acceptor takes a proof under either of
//! its secrets. Two servers link when they share at least one secret.
//!
//! Without a secret both MACs are `-`: the link is then sealed against eavesdroppers but only
//! as authenticated as its TLS certificates make it (the herd CA's, or none at all).

use std::time::Duration;

use bytes::BytesMut;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use herd_core::protocol::command::split_fields;
use herd_core::protocol::frame::{Frame, LineFramer};

/// The first word of every handshake line.
pub const MAGIC: &[u8] = b"HERD1";

/// The dialer name `herd dump` uses: it proves the secret like a neighbour and gets the table.
pub const DUMP: &str = "*dump";

/// How many MACs a WELCOME may carry (a current and a previous secret).
pub const MAX_PROOFS: usize = 2;

/// How long each step of a handshake may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The socket failed or closed.
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The other side took too long.
    #[error("timed out")]
    Timeout,
    /// The other side said something that is not the next handshake line.
    #[error("unexpected answer {0:?}")]
    Unexpected(String),
    /// The other side's proof of the shared secret was wrong.
    #[error("wrong proof of the shared secret")]
    BadProof,
}

/// A parsed `HELLO` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The dialing server's name.
    pub dialer: String,
    /// The server it means to reach.
    pub acceptor: String,
    /// The dialer's fresh nonce (hex).
    pub nonce: String,
}

/// True when a client line opens a server handshake.
pub fn is_hello(line: &[u8]) -> bool {
    line.starts_with(b"HERD1 HELLO ")
}

/// Parses a `HELLO` line.
pub fn parse_hello(line: &[u8]) -> Option<Hello> {
    let mut f: [&[u8]; 5] = [&[]; 5];
    if split_fields(line, &mut f) != 5 || f[0] != MAGIC || f[1] != b"HELLO" {
        return None;
    }
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    Some(Hello {
        dialer: text(f[2])?,
        acceptor: text(f[3])?,
        nonce: text(f[4])?,
    })
}

/// A fresh random nonce, hex encoded.
pub fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// HMAC-SHA256 over the session's binding, the role, both names and both nonces.
fn mac(
    secret: &[u8],
    binding: &[u8],
    role: &str,
    hello: &Hello,
    acceptor_nonce: &str,
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    // Fixed length in practice (32 bytes), but length-prefixed so no part can run into the next.
    mac.update(&(binding.len() as u64).to_be_bytes());
    mac.update(binding);
    for part in [
        role,
        &hello.dialer,
        &hello.acceptor,
        &hello.nonce,
        acceptor_nonce,
    ] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac
}

/// The proof of one side (hex HMAC, see [`mac`]); `-` without a secret.
pub fn proof(
    secret: Option<&[u8]>,
    binding: &[u8],
    role: &str,
    hello: &Hello,
    acceptor_nonce: &str,
) -> String {
    match secret {
        Some(secret) => hex::encode(
            mac(secret, binding, role, hello, acceptor_nonce)
                .finalize()
                .into_bytes(),
        ),
        None => "-".to_string(),
    }
}

/// Checks a proof in constant time.
pub fn check_proof(
    secret: Option<&[u8]>,
    binding: &[u8],
    role: &str,
    hello: &Hello,
    acceptor_nonce: &str,
    given: &str,
) -> bool {
    match secret {
        None => given == "-",
        Some(secret) => hex::decode(given).is_ok_and(|given| {
            mac(secret, binding, role, hello, acceptor_nonce)
                .verify_slice(&given)
                .is_ok()
        }),
    }
}

/// The acceptor's WELCOME proof: one MAC per secret (current first), comma separated; `-`
/// without one.
pub fn proofs(secrets: &[&[u8]], binding: &[u8], role: &str, hello: &Hello, nonce: &str) -> String {
    if secrets.is_empty() {
        return "-".to_string();
    }
    let all: Vec<String> = secrets
        .iter()
        .take(MAX_PROOFS)
        .map(|s| proof(Some(s), binding, role, hello, nonce))
        .collect();
    all.join(",")
}

/// Which of `secrets` (in order of preference) one of the proofs in `given` (comma separated,
/// at most [`MAX_PROOFS`]) checks against: `Some(None)` without secrets when `given` is `-`,
/// `None` when nothing checks.
pub fn check_any<'s>(
    secrets: &[&'s [u8]],
    binding: &[u8],
    role: &str,
    hello: &Hello,
    nonce: &str,
    given: &str,
) -> Option<Option<&'s [u8]>> {
    if secrets.is_empty() {
        return (given == "-").then_some(None);
    }
    let given: Vec<&str> = given.split(',').collect();
    if given.len() > MAX_PROOFS {
        return None;
    }
    secrets
        .iter()
        .find(|s| {
            given
                .iter()
                .any(|g| check_proof(Some(s), binding, role, hello, nonce, g))
        })
        .map(|s| Some(*s))
}

/// Reads one line for the handshake, with the step timeout.
async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<Vec<u8>, HandshakeError> {
    let mut framer = LineFramer::new(1024);
    let step = async {
        loop {
            if let Some(frame) = framer.next_frame(buf, false) {
                return match frame {
                    Frame::Line(line) => Ok(line.to_vec()),
                    Frame::Overlong(_) => {
                        Err(HandshakeError::Unexpected("an overlong line".into()))
                    }
                };
            }
            if stream.read_buf(buf).await? == 0 {
                return Err(HandshakeError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .map_err(|_| HandshakeError::Timeout)?
}

/// Runs the dialer's side on a fresh connection. Returns bytes already read past the handshake.
///
/// # Errors
/// [`HandshakeError`] when the other side is not the expected server or its proof is wrong.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    me: &str,
    them: &str,
    secrets: &[&[u8]],
    binding: &[u8],
) -> Result<BytesMut, HandshakeError> {
    let hello = Hello {
        dialer: me.to_string(),
        acceptor: them.to_string(),
        nonce: nonce(),
    };
    stream
        .write_all(
            format!(
                "HERD1 HELLO {} {} {}\n",
                hello.dialer, hello.acceptor, hello.nonce
            )
            .as_bytes(),
        )
        .await?;
    let mut buf = BytesMut::with_capacity(1024);
    let line = read_line(stream, &mut buf).await?;
    let mut f: [&[u8]; 5] = [&[]; 5];
    let n = split_fields(&line, &mut f);
    if n != 5 || f[0] != MAGIC || f[1] != b"WELCOME" || (them != "*" && f[2] != them.as_bytes()) {
        return Err(HandshakeError::Unexpected(
            String::from_utf8_lossy(&line).into_owned(),
        ));
    }
    let acceptor_nonce = String::from_utf8_lossy(f[3]).into_owned();
    let given = String::from_utf8_lossy(f[4]);
    // Proved with the first of this side's secrets the acceptor also holds.
    let Some(shared) = check_any(
        secrets,
        binding,
        "acceptor",
        &hello,
        &acceptor_nonce,
        &given,
    ) else {
        return Err(HandshakeError::BadProof);
    };
    let mine = proof(shared, binding, "dialer", &hello, &acceptor_nonce);
    stream
        .write_all(format!("HERD1 PROOF {mine}\n").as_bytes())
        .await?;
    stream.flush().await?;
    Ok(buf)
}

/// Runs the acceptor's side after `hello` arrived on `stream`; `buf` holds what was read past
/// the HELLO line and keeps what is read past the PROOF line.
///
/// # Errors
/// [`HandshakeError`] when the dialer's proof is wrong or it stops answering.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    hello: &Hello,
    me: &str,
    secrets: &[&[u8]],
    binding: &[u8],
) -> Result<(), HandshakeError> {
    let acceptor_nonce = nonce();
    let mine = proofs(secrets, binding, "acceptor", hello, &acceptor_nonce);
    stream
        .write_all(format!("HERD1 WELCOME {me} {acceptor_nonce} {mine}\n").as_bytes())
        .await?;
    stream.flush().await?;
    let line = read_line(stream, buf).await?;
    let mut f: [&[u8]; 3] = [&[]; 3];
    if split_fields(&line, &mut f) != 3 || f[0] != MAGIC || f[1] != b"PROOF" {
        return Err(HandshakeError::Unexpected(
            String::from_utf8_lossy(&line).into_owned(),
        ));
    }
    let given = String::from_utf8_lossy(f[2]);
    // One proof, under either secret this side holds.
    if given.contains(',')
        || check_any(secrets, binding, "dialer", hello, &acceptor_nonce, &given).is_none()
    {
        return Err(HandshakeError::BadProof);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_bind_roles_names_and_nonces() {
        let hello = Hello {
            dialer: "A".into(),
            acceptor: "B".into(),
            nonce: "n1".into(),
        };
        let s = Some(&b"secret"[..]);
        let b = b"session one";
        let p = proof(s, b, "dialer", &hello, "n2");
        assert!(check_proof(s, b, "dialer", &hello, "n2", &p));
        assert!(!check_proof(s, b, "acceptor", &hello, "n2", &p));
        assert!(!check_proof(s, b, "dialer", &hello, "n3", &p));
        assert!(!check_proof(Some(b"other"), b, "dialer", &hello, "n2", &p));
        assert!(!check_proof(s, b, "dialer", &hello, "n2", "-"));
        assert!(check_proof(None, b, "dialer", &hello, "n2", "-"));
        // A proof made in one TLS session is worthless in another (the relay attack).
        assert!(!check_proof(s, b"session two", "dialer", &hello, "n2", &p));
    }

    #[test]
    fn either_of_two_secrets_links_and_the_shared_one_is_found() {
        let hello = Hello {
            dialer: "A".into(),
            acceptor: "B".into(),
            nonce: "n1".into(),
        };
        let (new, old, other): (&[u8], &[u8], &[u8]) = (b"new", b"old", b"other");
        let b = b"binding";
        // B still holds only the old secret; A holds new (current) and old (previous).
        let welcome = proofs(&[old], b, "acceptor", &hello, "n2");
        assert_eq!(
            check_any(&[new, old], b, "acceptor", &hello, "n2", &welcome),
            Some(Some(old))
        );
        let welcome = proofs(&[new, old], b, "acceptor", &hello, "n2");
        assert_eq!(welcome.split(',').count(), 2);
        assert_eq!(
            check_any(&[old], b, "acceptor", &hello, "n2", &welcome),
            Some(Some(old))
        );
        assert_eq!(
            check_any(&[new, old], b, "acceptor", &hello, "n2", &welcome),
            Some(Some(new))
        );
        assert_eq!(
            check_any(&[other], b, "acceptor", &hello, "n2", &welcome),
            None
        );
        assert_eq!(check_any(&[], b, "acceptor", &hello, "n2", "-"), Some(None));
        assert_eq!(check_any(&[], b, "acceptor", &hello, "n2", &welcome), None);
        let three = format!("{welcome},{welcome}");
        assert_eq!(check_any(&[new], b, "acceptor", &hello, "n2", &three), None);
    }

    #[test]
    fn hello_lines() {
        assert!(is_hello(b"HERD1 HELLO A B 00"));
        assert_eq!(
            parse_hello(b"HERD1 HELLO A B 00"),
            Some(Hello {
                dialer: "A".into(),
                acceptor: "B".into(),
                nonce: "00".into()
            })
        );
        assert_eq!(parse_hello(b"HERD1 HELLO A B"), None);
    }
}
