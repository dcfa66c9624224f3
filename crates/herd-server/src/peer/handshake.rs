//! The handshake that opens a link between two servers.
//!
//! ```text
//! dialer   → HERD1 HELLO <dialer> <acceptor> <nonce-d>
//! acceptor → HERD1 WELCOME <acceptor> <nonce-a> <mac-a>
//! dialer   → HERD1 PROOF <mac-d>
//! ```
//!
//! With a shared secret, `mac-a` and `mac-d` are HMAC-SHA256 over both names and both fresh
//! nonces, each with its own role label, so neither side can replay the other's proof and a
//! recorded handshake proves nothing later. Without a secret both MACs are `-` and a server only
//! accepts names of its configured neighbours (and logs a warning at start-up).

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

/// HMAC-SHA256 over the role, both names and both nonces.
fn mac(secret: &[u8], role: &str, hello: &Hello, acceptor_nonce: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
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
pub fn proof(secret: Option<&[u8]>, role: &str, hello: &Hello, acceptor_nonce: &str) -> String {
    match secret {
        Some(secret) => hex::encode(
            mac(secret, role, hello, acceptor_nonce)
                .finalize()
                .into_bytes(),
        ),
        None => "-".to_string(),
    }
}

/// Checks a proof in constant time.
pub fn check_proof(
    secret: Option<&[u8]>,
    role: &str,
    hello: &Hello,
    acceptor_nonce: &str,
    given: &str,
) -> bool {
    match secret {
        None => given == "-",
        Some(secret) => hex::decode(given).is_ok_and(|given| {
            mac(secret, role, hello, acceptor_nonce)
                .verify_slice(&given)
                .is_ok()
        }),
    }
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
    secret: Option<&[u8]>,
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
    if !check_proof(secret, "acceptor", &hello, &acceptor_nonce, &given) {
        return Err(HandshakeError::BadProof);
    }
    let mine = proof(secret, "dialer", &hello, &acceptor_nonce);
    stream
        .write_all(format!("HERD1 PROOF {mine}\n").as_bytes())
        .await?;
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
    secret: Option<&[u8]>,
) -> Result<(), HandshakeError> {
    let acceptor_nonce = nonce();
    let mine = proof(secret, "acceptor", hello, &acceptor_nonce);
    stream
        .write_all(format!("HERD1 WELCOME {me} {acceptor_nonce} {mine}\n").as_bytes())
        .await?;
    let line = read_line(stream, buf).await?;
    let mut f: [&[u8]; 3] = [&[]; 3];
    if split_fields(&line, &mut f) != 3 || f[0] != MAGIC || f[1] != b"PROOF" {
        return Err(HandshakeError::Unexpected(
            String::from_utf8_lossy(&line).into_owned(),
        ));
    }
    if !check_proof(
        secret,
        "dialer",
        hello,
        &acceptor_nonce,
        &String::from_utf8_lossy(f[2]),
    ) {
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
        let p = proof(s, "dialer", &hello, "n2");
        assert!(check_proof(s, "dialer", &hello, "n2", &p));
        assert!(!check_proof(s, "acceptor", &hello, "n2", &p));
        assert!(!check_proof(s, "dialer", &hello, "n3", &p));
        assert!(!check_proof(Some(b"other"), "dialer", &hello, "n2", &p));
        assert!(!check_proof(s, "dialer", &hello, "n2", "-"));
        assert!(check_proof(None, "dialer", &hello, "n2", "-"));
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
