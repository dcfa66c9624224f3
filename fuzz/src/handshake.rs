//! Targets `handshake` and `handshake_io`: the lines that open a link between two servers.
//!
//! `handshake` calls the pure functions of crates/herd-server/src/peer/handshake.rs:
//! - `is_hello` is exactly "starts with `HERD1 HELLO `";
//! - a parsed HELLO's names and nonce are its fields, and the line the dialer writes for it
//!   parses back to the same HELLO;
//! - proofs (bound to a fixed stand-in for the TLS exporter value): a fuzzed proof passes only
//!   if it is the proof (hex in any letter case); without a
//!   secret exactly `-` passes; and (for inputs with no proof of their own, which keeps the
//!   HMAC work per input small) a proof checks for its own role, names and nonces and for
//!   nothing else: another role, a changed name or nonce, swapped nonces, another key or none,
//!   another TLS session's binding.
//!   Input: `secret \n dialer \n acceptor \n nonce \n acceptor-nonce \n given` (missing parts
//!   are empty), and the whole input is also tried as a HELLO line.
//!
//! `handshake_io` runs the real `accept` (which parses PROOF lines) and `dial` (which parses
//! WELCOME lines) on a loopback TCP connection, the other end playing a fuzzed line:
//! - the result is exactly what the line's fields call for: `Unexpected` for the wrong words
//!   or field count or an overlong line, `BadProof` for a wrong proof, and never `Ok` with a
//!   secret (the fuzzer cannot know the fresh nonce);
//! - what the product writes (WELCOME, HELLO, PROOF) is well formed and its proof checks;
//! - the bytes handed on past the handshake are the ones that followed its line.
//!
//!   Input: a knob byte (bit 0: with a secret; bit 1: dial, else accept; bit 2: dial any name
//!   `*`; bits 3..8: how many bytes the acceptor already holds in its buffer), then the
//!   bytes the other end sends, to which a `\n` is added.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use herd_core::protocol::command::split_fields;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

use super::herd_handshake::{self as hs, HandshakeError, Hello};

/// The line limit of a handshake step (`read_line` in handshake.rs).
const HANDSHAKE_MAX_LINE: usize = 1024;
/// The secret of the runs with a secret.
const SECRET: &[u8] = b"fuzzing secret";
/// The TLS exporter value proofs are bound to (the product gets it from the TLS session).
const BINDING: &[u8] = b"fuzzing session's exporter value";

/// The pure-function target: see the module documentation.
pub fn handshake(data: &[u8]) {
    hello_line(data);
    let mut parts = data.split(|&b| b == b'\n');
    let secret = parts.next().unwrap_or_default();
    let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let hello = Hello {
        dialer: text(),
        acceptor: text(),
        nonce: text(),
    };
    let acceptor_nonce = text();
    let given = parts.next();
    let given_text = String::from_utf8_lossy(given.unwrap_or_default());
    fuzzed_proof(Some(secret), &hello, &acceptor_nonce, &given_text);
    fuzzed_proof(None, &hello, &acceptor_nonce, &given_text);
    if given.is_none() {
        proofs_bind(secret, &hello, &acceptor_nonce);
    }
}

fn hello_line(line: &[u8]) {
    assert_eq!(hs::is_hello(line), line.starts_with(b"HERD1 HELLO "));
    let Some(hello) = hs::parse_hello(line) else {
        return;
    };
    let mut f: [&[u8]; 6] = [&[]; 6];
    assert_eq!(split_fields(line, &mut f), 5);
    assert_eq!((f[0], f[1]), (hs::MAGIC, &b"HELLO"[..]));
    assert_eq!(hello.dialer.as_bytes(), f[2]);
    assert_eq!(hello.acceptor.as_bytes(), f[3]);
    assert_eq!(hello.nonce.as_bytes(), f[4]);
    // As `dial` writes it.
    let written = format!(
        "HERD1 HELLO {} {} {}",
        hello.dialer, hello.acceptor, hello.nonce
    );
    assert!(hs::is_hello(written.as_bytes()));
    assert_eq!(hs::parse_hello(written.as_bytes()), Some(hello));
}

/// A fuzzed proof passes only if it is the proof.
fn fuzzed_proof(secret: Option<&[u8]>, hello: &Hello, acceptor_nonce: &str, given: &str) {
    let dialer = hs::proof(secret, BINDING, "dialer", hello, acceptor_nonce);
    assert_eq!(
        hs::check_proof(secret, BINDING, "dialer", hello, acceptor_nonce, given),
        match secret {
            Some(_) => given.eq_ignore_ascii_case(&dialer),
            None => given == "-",
        },
        "a fuzzed proof {given:?} against {dialer:?}"
    );
    if secret.is_none() {
        assert_eq!(dialer, "-");
    }
}

/// A proof checks for its own role, names and nonces, under its own key, and nothing else.
fn proofs_bind(secret: &[u8], hello: &Hello, acceptor_nonce: &str) {
    let check = |role, hello: &Hello, nonce: &str, proof: &str| {
        hs::check_proof(Some(secret), BINDING, role, hello, nonce, proof)
    };
    let dialer = hs::proof(Some(secret), BINDING, "dialer", hello, acceptor_nonce);
    let acceptor = hs::proof(Some(secret), BINDING, "acceptor", hello, acceptor_nonce);
    assert!(dialer.len() == 64 && dialer.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(check("dialer", hello, acceptor_nonce, &dialer));
    assert!(check("acceptor", hello, acceptor_nonce, &acceptor));
    assert!(!check("acceptor", hello, acceptor_nonce, &dialer));
    assert!(!check("dialer", hello, acceptor_nonce, &acceptor));
    // Bound to its TLS session: worthless in another (what a relay would need).
    assert!(!hs::check_proof(
        Some(secret),
        b"another session's exporter value",
        "dialer",
        hello,
        acceptor_nonce,
        &dialer
    ));
    assert!(!hs::check_proof(
        None,
        BINDING,
        "dialer",
        hello,
        acceptor_nonce,
        &dialer
    ));
    let mut other_key = secret.to_vec();
    other_key.push(b'!');
    let other = Some(&other_key[..]);
    assert!(!hs::check_proof(
        other,
        BINDING,
        "dialer",
        hello,
        acceptor_nonce,
        &dialer
    ));
    let renamed = Hello {
        dialer: format!("{}x", hello.dialer),
        ..hello.clone()
    };
    assert!(!check("dialer", &renamed, acceptor_nonce, &dialer));
    let readdressed = Hello {
        acceptor: format!("{}x", hello.acceptor),
        ..hello.clone()
    };
    assert!(!check("dialer", &readdressed, acceptor_nonce, &dialer));
    assert!(!check(
        "dialer",
        hello,
        &format!("{acceptor_nonce}x"),
        &dialer
    ));
    if hello.nonce != acceptor_nonce {
        let swapped = Hello {
            nonce: acceptor_nonce.to_string(),
            ..hello.clone()
        };
        assert!(!check("dialer", &swapped, &hello.nonce, &dialer));
    }
}

/// A runtime and a loopback listener, made once per thread.
struct Loopback {
    rt: Runtime,
    listener: TcpListener,
    addr: SocketAddr,
}

thread_local! {
    static LOOPBACK: RefCell<Option<Loopback>> = const { RefCell::new(None) };
}

impl Loopback {
    fn new() -> Loopback {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback listener");
        let addr = listener.local_addr().expect("the listener's address");
        Loopback { rt, listener, addr }
    }

    /// A fresh connection: (the product's end, the fuzzed peer's end). Both reset on drop, so
    /// a long run leaves no TIME_WAIT sockets behind.
    async fn pair(&self) -> (TcpStream, TcpStream) {
        let (dialed, accepted) =
            tokio::join!(TcpStream::connect(self.addr), self.listener.accept());
        let ours = dialed.expect("connecting on loopback");
        let (theirs, _) = accepted.expect("accepting on loopback");
        ours.set_zero_linger().expect("SO_LINGER");
        theirs.set_zero_linger().expect("SO_LINGER");
        (ours, theirs)
    }
}

/// What a handshake step should do with the line it reads.
#[derive(Debug, PartialEq)]
enum Expect {
    Ok,
    Unexpected,
    BadProof,
}

fn outcome<T>(result: &Result<T, HandshakeError>) -> Expect {
    match result {
        Ok(_) => Expect::Ok,
        Err(HandshakeError::Unexpected(_)) => Expect::Unexpected,
        Err(HandshakeError::BadProof) => Expect::BadProof,
        Err(e) => panic!("the handshake failed on a whole line: {e}"),
    }
}

/// The socket target: see the module documentation.
pub fn handshake_io(data: &[u8]) {
    let Some((&knob, payload)) = data.split_first() else {
        return;
    };
    if payload.len() > 1 << 16 {
        return; // more than a socket buffer holds without a reader
    }
    let secret = (knob & 1 == 1).then_some(SECRET);
    let sent = [payload, b"\n"].concat();
    let end = sent.iter().position(|&b| b == b'\n').unwrap_or(sent.len());
    let raw = &sent[..end];
    let rest = &sent[end + 1..];
    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
    // A line of exactly the limit plus `\r` may or may not be taken for overlong, depending on
    // where the socket reads end (see `client_lines`, which checks the framer for this).
    let either = raw.len() == HANDSHAKE_MAX_LINE + 1 && raw.ends_with(b"\r");
    LOOPBACK.with(|cell| {
        let mut cell = cell.borrow_mut();
        let io = cell.get_or_insert_with(Loopback::new);
        io.rt.block_on(async {
            let (ours, theirs) = io.pair().await;
            let step = async {
                if knob & 2 == 0 {
                    let held = usize::from(knob >> 3).min(sent.len());
                    accept_case(ours, theirs, secret, &sent, held, line, rest, either).await;
                } else {
                    let them = if knob & 4 == 0 { "B" } else { "*" };
                    dial_case(ours, theirs, secret, &sent, them, line, rest, either).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(20), step)
                .await
                .expect("a handshake step hung on a whole line");
        });
    });
}

/// What the fields of `line` call for; `words` are the expected first fields and `count` the
/// field count; `name_ok` checks the name field of a WELCOME.
fn expect(
    line: &[u8],
    either: bool,
    secret: Option<&[u8]>,
    words: &[u8],
    count: usize,
    name_ok: impl Fn(&[u8]) -> bool,
) -> Option<Expect> {
    if either {
        return None;
    }
    if line.len() > HANDSHAKE_MAX_LINE {
        return Some(Expect::Unexpected);
    }
    let mut f: [&[u8]; 6] = [&[]; 6];
    let n = split_fields(line, &mut f);
    if n != count || f[0] != hs::MAGIC || f[1] != words || (count == 5 && !name_ok(f[2])) {
        return Some(Expect::Unexpected);
    }
    let given = f[count - 1];
    Some(if secret.is_none() && given == b"-" {
        Expect::Ok
    } else {
        Expect::BadProof
    })
}

#[allow(clippy::too_many_arguments)]
async fn accept_case(
    mut ours: TcpStream,
    mut theirs: TcpStream,
    secret: Option<&[u8]>,
    sent: &[u8],
    held: usize,
    line: &[u8],
    rest: &[u8],
    either: bool,
) {
    let hello = Hello {
        dialer: "A".into(),
        acceptor: "B".into(),
        nonce: "0123456789abcdef0123456789abcdef".into(),
    };
    theirs.write_all(&sent[held..]).await.expect("writing");
    let mut buf = BytesMut::from(&sent[..held]);
    let secrets: Vec<&[u8]> = secret.into_iter().collect();
    let result = hs::accept(&mut ours, &mut buf, &hello, "B", &secrets, BINDING).await;
    // The WELCOME it wrote first.
    let welcome = read_lines(&mut theirs, 1).await.remove(0);
    let mut f: [&[u8]; 6] = [&[]; 6];
    assert_eq!(split_fields(&welcome, &mut f), 5, "WELCOME {welcome:?}");
    assert_eq!((f[0], f[1], f[2]), (hs::MAGIC, &b"WELCOME"[..], &b"B"[..]));
    let nonce = std::str::from_utf8(f[3]).expect("a text nonce");
    assert!(nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit()));
    let mac = std::str::from_utf8(f[4]).expect("a text proof");
    assert!(hs::check_proof(
        secret, BINDING, "acceptor", &hello, nonce, mac
    ));

    let got = outcome(&result);
    if let Some(want) = expect(line, either, secret, b"PROOF", 3, |_| true) {
        assert_eq!(got, want, "accept on {:?}", String::from_utf8_lossy(line));
    }
    assert!(
        secret.is_none() || got != Expect::Ok,
        "a fuzzed proof passed"
    );
    if got == Expect::Ok {
        assert!(rest.starts_with(&buf), "bytes past PROOF were lost");
    }
}

#[allow(clippy::too_many_arguments)]
async fn dial_case(
    mut ours: TcpStream,
    mut theirs: TcpStream,
    secret: Option<&[u8]>,
    sent: &[u8],
    them: &str,
    line: &[u8],
    rest: &[u8],
    either: bool,
) {
    theirs.write_all(sent).await.expect("writing");
    let secrets: Vec<&[u8]> = secret.into_iter().collect();
    let result = hs::dial(&mut ours, "A", them, &secrets, BINDING).await;
    // The HELLO it wrote first, and the PROOF after an accepted WELCOME.
    let mut lines = read_lines(&mut theirs, if result.is_ok() { 2 } else { 1 }).await;
    let hello_line = lines.remove(0);
    let hello = hs::parse_hello(&hello_line).expect("dial wrote a HELLO that does not parse");
    assert!(hs::is_hello(&hello_line));
    assert_eq!(
        (hello.dialer.as_str(), hello.acceptor.as_str()),
        ("A", them)
    );
    assert!(hello.nonce.len() == 32 && hello.nonce.bytes().all(|b| b.is_ascii_hexdigit()));

    let got = outcome(&result);
    let name_ok = |name: &[u8]| them == "*" || name == them.as_bytes();
    if let Some(want) = expect(line, either, secret, b"WELCOME", 5, name_ok) {
        assert_eq!(got, want, "dial on {:?}", String::from_utf8_lossy(line));
    }
    assert!(
        secret.is_none() || got != Expect::Ok,
        "a fuzzed WELCOME passed"
    );
    if let Ok(buf) = result {
        assert!(rest.starts_with(&buf), "bytes past WELCOME were lost");
        assert_eq!(lines, [b"HERD1 PROOF -"]);
    }
}

/// Reads `n` `\n`-terminated lines (without their `\n`) from the fuzzed peer's end.
async fn read_lines(stream: &mut TcpStream, n: usize) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    while buf.iter().filter(|&&b| b == b'\n').count() < n {
        let read = stream.read_buf(&mut buf).await;
        assert!(
            read.expect("reading what the product wrote") > 0,
            "closed early"
        );
    }
    let mut lines: Vec<Vec<u8>> = buf.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines.truncate(n);
    lines
}
