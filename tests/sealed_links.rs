//! Sealed links between real `herd` processes: what crosses the network between two servers
//! is TLS, a changed byte drops the link rather than changing a record, only servers holding
//! the herd's credential (a shared secret, or a certificate of the herd CA naming them) link,
//! a man in the middle relaying a genuine handshake gets nowhere, and a new secret rolls
//! through the herd without a gap.
//!
//! The taps and the man in the middle are played by the test on loopback; the neighbours
//! reach them through `[[servers]] address`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use herd_server::peer::seal::Seal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::herd::{ask, wait_until_async};
use support::procs::{herd_bin, in_log, wait_for_log, ProcHerd};

/// A dials B (its name sorts first).
const PAIR: &[(&str, &[&str])] = &[("A", &["B"]), ("B", &[])];
/// A line: A - B - C.
const LINE: &[(&str, &[&str])] = &[("A", &["B"]), ("B", &["C"]), ("C", &[])];

const VAR: &str = "HERD_SEALED_LINKS_TEST_SECRET";
const PREVIOUS_VAR: &str = "HERD_SEALED_LINKS_TEST_PREVIOUS_SECRET";
const SECRET: &str = "the sealed-link tests' secret, longer than 32 bytes";
const OTHER_SECRET: &str = "another herd's secret, also longer than 32 bytes";

fn with_secret() -> String {
    format!("[herd]\nsecret_env = {VAR:?}\n")
}

/// True once `server` answers a WHATSAT about `client` with an AT line.
async fn knows(herd: &ProcHerd, server: &str, client: &str) -> bool {
    let answer = ask(herd.addr(server), &[&format!("WHATSAT {client} 5 1")]).await;
    answer.starts_with("AT ")
}

async fn wait_knows(herd: &ProcHerd, server: &str, client: &str) {
    wait_until_async(&format!("{server} learns {client}"), || {
        knows(herd, server, client)
    })
    .await;
}

/// Makes neighbours reach the last server of the config at `addr` (a tap or a man in the
/// middle) instead of its peer port.
fn reach_last_at(herd: &ProcHerd, addr: SocketAddr) {
    let mut text = std::fs::read_to_string(&herd.config).unwrap();
    text.push_str(&format!("address = \"{addr}\"\n"));
    std::fs::write(&herd.config, text).unwrap();
}

/// Starts `herd serve name` with its own config file and environment (the secrets' variables
/// of the test's own environment left out).
fn start_as(herd: &mut ProcHerd, name: &str, config: &Path, env: &[(&str, &str)]) {
    herd.start_with(name, config, env, &[VAR, PREVIOUS_VAR]);
}

/// A TCP relay that records every byte crossing it and can flip one byte on its way from the
/// dialer to the acceptor.
struct Tap {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    flip: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    async fn start(to: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let flip = Arc::new(AtomicBool::new(false));
        let (seen2, flip2) = (seen.clone(), flip.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(to).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pump(ri, wo, seen2.clone(), Some(flip2.clone())));
                tokio::spawn(pump(ro, wi, seen2.clone(), None));
            }
        });
        Tap {
            addr,
            seen,
            flip,
            task,
        }
    }

    fn seen(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, recording; flips the last byte of one read when `flip` is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Vec<u8>>>,
    flip: Option<Arc<AtomicBool>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        seen.lock().unwrap().extend_from_slice(&buf[..n]);
        if flip
            .as_ref()
            .is_some_and(|f| f.swap(false, Ordering::SeqCst))
        {
            buf[n - 1] ^= 0x20;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_sees_no_client_or_location_and_a_flipped_byte_only_drops_the_link() {
    let mut herd = ProcHerd::new(PAIR, &with_secret());
    let tap = Tap::start(herd.peer_addr("B")).await;
    reach_last_at(&herd, tap.addr);
    herd.env.push((VAR.into(), SECRET.into()));
    herd.start_all();

    ask(
        herd.addr("A"),
        &["IAMAT kiwi.secret.client +34.068930-118.445127 1"],
    )
    .await;
    wait_knows(&herd, "B", "kiwi.secret.client").await;
    ask(
        herd.addr("B"),
        &["IAMAT fig.other.client -33.861234+151.201234 2"],
    )
    .await;
    wait_knows(&herd, "A", "fig.other.client").await;
    let seen = tap.seen();
    assert!(seen.len() > 100, "the link ran through the tap");
    for needle in [
        &b"kiwi.secret.client"[..],
        b"+34.068930-118.445127",
        b"fig.other.client",
        b"-33.861234+151.201234",
        b"HERD1",
        b"PING",
    ] {
        assert!(
            !contains(&seen, needle),
            "{:?} crossed the tap in clear",
            String::from_utf8_lossy(needle)
        );
    }

    // One byte changed on its way to B: B drops the link instead of taking what it says, A
    // redials, and the record sent meanwhile arrives whole (by the catch-up of the new link).
    let connected = in_log(&herd, "B", "link A: connected");
    tap.flip.store(true, Ordering::SeqCst);
    ask(herd.addr("A"), &["IAMAT after.flip +1.500000+2.500000 3"]).await;
    wait_for_log(&herd, "B", "link A: dropped (read failed: TLS", 0).await;
    wait_for_log(&herd, "B", "link A: connected", connected).await;
    wait_knows(&herd, "B", "after.flip").await;
    let (a, b) = (herd.dump("A"), herd.dump("B"));
    assert_eq!(a, b);
    assert_eq!(
        b,
        "after.flip A 3 +1.500000+2.500000\n\
         fig.other.client B 2 -33.861234+151.201234\n\
         kiwi.secret.client A 1 +34.068930-118.445127\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_another_secret_never_links_and_no_record_crosses() {
    let mut herd = ProcHerd::new(PAIR, &with_secret());
    let config = herd.config.clone();
    start_as(&mut herd, "A", &config, &[(VAR, SECRET)]);
    start_as(&mut herd, "B", &config, &[(VAR, OTHER_SECRET)]);
    ask(herd.addr("A"), &["IAMAT from.a +1+1 1"]).await;
    ask(herd.addr("B"), &["IAMAT from.b +1+1 1"]).await;
    // A keeps dialing and keeps being refused (three more tries after the records).
    let refused = in_log(&herd, "A", "link B: handshake refused");
    for n in 1..=3 {
        wait_for_log(&herd, "A", "link B: handshake refused", refused + n - 1).await;
    }
    assert!(!knows(&herd, "B", "from.a").await);
    assert!(!knows(&herd, "A", "from.b").await);
    for name in ["A", "B"] {
        assert_eq!(in_log(&herd, name, "connected"), 0, "{name} linked");
    }
}

/// A man in the middle with its own TLS sessions to both sides, relaying their handshake
/// lines as they are: each side's proof is bound to its own session with the relay, so the
/// other side refuses it, and no record crosses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_of_a_genuine_handshake_links_nothing() {
    let mut herd = ProcHerd::new(PAIR, &with_secret());
    let b_peer = herd.peer_addr("B");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    reach_last_at(&herd, listener.local_addr().unwrap());
    let relayed = Arc::new(Mutex::new(Vec::new()));
    let sessions = Arc::new(AtomicUsize::new(0));
    let (relayed2, sessions2) = (relayed.clone(), sessions.clone());
    let mitm = tokio::spawn(async move {
        let seal = Arc::new(Seal::self_signed(Vec::new()).unwrap());
        while let Ok((from_a, _)) = listener.accept().await {
            let (seal, relayed, sessions) = (seal.clone(), relayed2.clone(), sessions2.clone());
            tokio::spawn(async move {
                let Ok((mut a, _)) = seal.accept(Box::new(from_a)).await else {
                    return;
                };
                let to_b = TcpStream::connect(b_peer).await.unwrap();
                let Ok((mut b, _)) = seal.connect(Box::new(to_b), "B").await else {
                    return;
                };
                sessions.fetch_add(1, Ordering::SeqCst);
                // Relay both ways, keeping what A said in clear.
                let mut from_a = [0u8; 4096];
                let mut from_b = [0u8; 4096];
                loop {
                    tokio::select! {
                        r = a.read(&mut from_a) => match r {
                            Ok(n) if n > 0 => {
                                relayed.lock().unwrap().extend_from_slice(&from_a[..n]);
                                if b.write_all(&from_a[..n]).await.is_err() { break; }
                            }
                            _ => break,
                        },
                        r = b.read(&mut from_b) => match r {
                            Ok(n) if n > 0 => {
                                if a.write_all(&from_b[..n]).await.is_err() { break; }
                            }
                            _ => break,
                        },
                    }
                }
                // Then try its luck with a record of its own.
                let _ = b
                    .write_all(b"HERD1 PROOF 00\n1 AT A +0.000000000 injected +1+1 9\n")
                    .await;
            });
        }
    });
    herd.env.push((VAR.into(), SECRET.into()));
    herd.start_all();
    ask(herd.addr("A"), &["IAMAT through.relay +1+1 1"]).await;
    let refused = in_log(&herd, "A", "link B: handshake refused: wrong proof");
    for n in 1..=3 {
        wait_for_log(
            &herd,
            "A",
            "link B: handshake refused: wrong proof",
            refused + n - 1,
        )
        .await;
    }
    // The relay did carry genuine handshakes...
    assert!(sessions.load(Ordering::SeqCst) >= 3);
    assert!(contains(&relayed.lock().unwrap(), b"HERD1 HELLO A B "));
    // ...and got nothing out of them.
    assert!(!knows(&herd, "B", "through.relay").await);
    assert!(!knows(&herd, "B", "injected").await);
    for name in ["A", "B"] {
        assert_eq!(in_log(&herd, name, "connected"), 0, "{name} linked");
    }
    mitm.abort();
}

/// `[herd.tls]` with paths relative to the config file's folder.
fn tls_section(dir: &str, cert: &str) -> String {
    format!(
        "[herd.tls]\nca = \"{dir}/ca.crt\"\ncert = \"{dir}/{cert}.crt\"\nkey = \"{dir}/{cert}.key\"\n"
    )
}

/// Runs `herd certs init`, which must succeed.
fn certs_init(config: &Path, out: &Path) {
    let status = Command::new(herd_bin())
        .args(["certs", "init", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herd_certs_init_makes_a_ca_whose_herd_links_and_floods() {
    let mut herd = ProcHerd::new(LINE, &tls_section("certs", "{name}"));
    let certs = herd.dir.path().join("certs");
    certs_init(&herd.config, &certs);
    #[cfg(unix)]
    for file in ["ca.key", "A.key", "B.key", "C.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(certs.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // No secret anywhere: the CA alone lets the herd listen beyond loopback, and links it.
    herd.start_all();
    ask(herd.addr("A"), &["IAMAT under.the.ca +10+10 1"]).await;
    wait_knows(&herd, "C", "under.the.ca").await;
    ask(herd.addr("C"), &["IAMAT back.again +11+11 2"]).await;
    wait_knows(&herd, "A", "back.again").await;
    assert!(in_log(&herd, "B", "link A: connected") > 0);
    assert_eq!(in_log(&herd, "B", "not authenticated"), 0);
    // `herd dump` seals its connection with a certificate of the CA too.
    assert_eq!(
        herd.dump("C"),
        "back.again C 2 +11+11\nunder.the.ca A 1 +10+10\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_ca_a_certificate_of_another_ca_or_naming_another_server_never_links() {
    let mut herd = ProcHerd::new(PAIR, &tls_section("certs", "{name}"));
    let dir = herd.dir.path().to_path_buf();
    // Certificates for A, B and Mallory under the herd's CA, and for A and B under another.
    let names = dir.join("names.toml");
    std::fs::write(
        &names,
        "[[servers]]\nname = \"A\"\nlisten = \"127.0.0.1:1\"\n\
         [[servers]]\nname = \"B\"\nlisten = \"127.0.0.1:2\"\n\
         [[servers]]\nname = \"Mallory\"\nlisten = \"127.0.0.1:3\"\n",
    )
    .unwrap();
    certs_init(&names, &dir.join("certs"));
    certs_init(&names, &dir.join("other"));
    let text = std::fs::read_to_string(&herd.config).unwrap();
    let variant = |file: &str, section: String| {
        let path = dir.join(file);
        std::fs::write(
            &path,
            text.replace(&tls_section("certs", "{name}"), &section),
        )
        .unwrap();
        path
    };
    let impostor = variant("impostor.toml", tls_section("certs", "Mallory"));
    let stranger = variant("stranger.toml", tls_section("other", "{name}"));
    let config = herd.config.clone();
    start_as(&mut herd, "B", &config, &[]);

    // A presents Mallory's certificate (a good one of the herd CA) and says HELLO as A: B
    // refuses it for its name.
    start_as(&mut herd, "A", &impostor, &[]);
    ask(herd.addr("A"), &["IAMAT from.impostor +1+1 1"]).await;
    ask(herd.addr("B"), &["IAMAT to.impostor +1+1 1"]).await;
    let refused = "link A: handshake refused: its certificate does not name it";
    for n in 1..=3 {
        wait_for_log(&herd, "B", refused, n - 1).await;
    }
    assert!(!knows(&herd, "B", "from.impostor").await);
    assert!(!knows(&herd, "A", "to.impostor").await);
    herd.kill("A");

    // A with a certificate of another CA: TLS itself fails, both ways.
    let before = in_log(&herd, "A", "link B: handshake refused");
    start_as(&mut herd, "A", &stranger, &[]);
    ask(herd.addr("A"), &["IAMAT from.stranger +1+1 1"]).await;
    for n in 1..=3 {
        wait_for_log(&herd, "A", "link B: handshake refused", before + n - 1).await;
    }
    assert!(!knows(&herd, "B", "from.stranger").await);
    assert!(!knows(&herd, "A", "to.impostor").await);
    for name in ["A", "B"] {
        assert_eq!(in_log(&herd, name, "connected"), 0, "{name} linked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_rolls_through_the_herd_with_links_up_at_every_step() {
    const NEW: &str = "the new secret of the herd, longer than 32 bytes";
    let mut herd = ProcHerd::new(
        PAIR,
        &format!("[herd]\nsecret_env = {VAR:?}\nprevious_secret_env = {PREVIOUS_VAR:?}\n"),
    );
    let config = herd.config.clone();
    // Step 1: A has moved to the new secret and still takes the old one; B has only the old.
    start_as(
        &mut herd,
        "A",
        &config,
        &[(VAR, NEW), (PREVIOUS_VAR, SECRET)],
    );
    start_as(&mut herd, "B", &config, &[(VAR, SECRET)]);
    ask(herd.addr("A"), &["IAMAT step1.a +1+1 1"]).await;
    ask(herd.addr("B"), &["IAMAT step1.b +1+1 1"]).await;
    wait_knows(&herd, "B", "step1.a").await;
    wait_knows(&herd, "A", "step1.b").await;
    // Step 2: B moves over (new only); A still holds both.
    let linked = in_log(&herd, "A", "link B: connected");
    herd.kill("B");
    start_as(&mut herd, "B", &config, &[(VAR, NEW)]);
    wait_for_log(&herd, "A", "link B: connected", linked).await;
    ask(herd.addr("A"), &["IAMAT step2.a +1+1 2"]).await;
    wait_knows(&herd, "B", "step2.a").await;
    // Step 3: A drops the old secret.
    let linked = in_log(&herd, "B", "link A: connected");
    herd.kill("A");
    start_as(&mut herd, "A", &config, &[(VAR, NEW)]);
    wait_for_log(&herd, "B", "link A: connected", linked).await;
    ask(herd.addr("B"), &["IAMAT step3.b +1+1 3"]).await;
    wait_knows(&herd, "A", "step3.b").await;
}
