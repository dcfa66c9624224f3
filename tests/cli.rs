//! The `herd` command line as a user meets it: exit codes and one-line messages.

mod support;

use std::process::Command;

use support::procs::herd_bin;

fn herd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(herd_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_default_round_trips_through_config_check() {
    let (code, default, _) = herd(&["config", "default"]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.toml");
    std::fs::write(&file, &default).unwrap();
    let (code, out, err) = herd(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5 servers"), "{out}");
    // Clark's address as the printed default config gives it, shown back by the check.
    let config: toml::Table = default.parse().unwrap();
    let clark = config["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str() == Some("Clark"))
        .expect("the default herd has Clark");
    let listen = clark["listen"].as_str().unwrap();
    assert!(
        out.contains("Clark") && out.contains(listen) && out.contains("Bona, Jaquez"),
        "{out}"
    );
}

#[test]
fn a_bad_config_is_one_message_naming_file_and_field_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\nneighbours=['Nobody']\n", "servers[0].neighbours: unknown server \"Nobody\""),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n[[servers]]\nname='A'\nlisten='127.0.0.1:2'\n", "servers[1].name: duplicate name \"A\""),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n[[servers]]\nname='B'\nlisten='127.0.0.1:1'\n", "servers[1].listen: duplicate address"),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\nneighbours=['A']\n", "servers[0].neighbours: \"A\" cannot talk with itself"),
        ("[[servers]]\nname='A'\nlisten='localhost'\n", "servers[0].listen: \"localhost\" is not an address"),
        ("[places]\nprovider='yahoo'\n[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n", "places.provider: unknown provider \"yahoo\""),
        ("[places]\nprovider='google'\napi_key_env='HERD_CLI_TEST_NO_SUCH_KEY'\n[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n", "places.api_key_env: the \"google\" provider needs a Google API key, but the environment variable HERD_CLI_TEST_NO_SUCH_KEY is not set"),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\ncolour='blue'\n", "unknown field `colour`"),
        ("[places]\ntimeout='5 parsecs'\n[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n", ".toml:2: places.timeout: \"5 parsecs\" is not a duration like \"5s\" or \"24h\""),
        ("this is not toml", ".toml:1: (toml): expected"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap();
        for args in [
            vec!["config", "check", path],
            vec!["serve", "A", "--config", path],
        ] {
            let (code, out, err) = herd(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{out}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            // herd: FILE:LINE: FIELD: PROBLEM (no LINE for a field that is not written).
            assert!(err.starts_with(&format!("herd: {path}:")), "{err}");
            assert!(err.contains(expected), "{err} should contain {expected}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let (code, _, err) = herd(&["config", "check", "/no/such/file.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("herd: /no/such/file.toml: (file): cannot read it"),
        "{err}"
    );
}

#[test]
fn unknown_servers_and_targets_are_usage_errors() {
    let (code, _, err) = herd(&["serve", "Nobody"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no server called \"Nobody\" (known: Bailey, Bona, Campbell, Clark, Jaquez)"),
        "{err}"
    );
    let (code, _, err) = herd(&["client", "Nowhere", "IAMAT a +1+1 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"Nowhere\" is neither a server"), "{err}");
    let (code, _, _) = herd(&["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn herd_client_sends_lines_and_prints_answers() {
    let solo: &[(&str, &[&str])] = &[("Solo", &[])];
    let mut procs = support::procs::ProcHerd::new(solo, "");
    procs.start("Solo");
    let addr = procs.addr("Solo").to_string();
    let (code, out, err) = herd(&[
        "client",
        &addr,
        "IAMAT kiwi +34.068930-118.445127 1621464827.959498503",
        "HELLO",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("AT Solo +")
            && lines[0].ends_with(" kiwi +34.068930-118.445127 1621464827.959498503"),
        "{out}"
    );
    assert_eq!(lines[1], "? HELLO");
    let (code, out, _) = herd(&[
        "client",
        "Solo",
        "--config",
        procs.config.to_str().unwrap(),
        "WHATSAT kiwi 10 2",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with(lines[0]) && out.ends_with("}\n\n"), "{out}");
}

#[test]
fn places_near_lists_the_offline_index() {
    let (code, out, err) = herd(&[
        "places", "near", "-33.8688", "151.2093", "5", "--limit", "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("Sydney"), "{out}");
    let (code, out, _) = herd(&[
        "places",
        "near",
        "34.068930",
        "-118.445127",
        "10",
        "--json",
        "--limit",
        "2",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "OK");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let (code, _, err) = herd(&["places", "near", "95", "0", "5"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("herd: 95,0 is not a position"), "{err}");
}

/// Runs `herd ARGS` with `env` set (a `None` value removes the variable), for at most the
/// test deadline (a server that should have refused to start is killed, and the test fails).
fn herd_bounded(args: &[&str], env: &[(&str, Option<&str>)]) -> (Option<i32>, String) {
    let mut command = Command::new(herd_bin());
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    let mut child = command.spawn().unwrap();
    let start = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > support::herd::DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut err = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    (code, err)
}

/// A `herd serve` child, killed (by its id) when dropped.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `herd serve A --config file` with `env` and waits until it answers on `client`;
/// returns it and where its stderr goes.
fn serve_until_up(
    file: &std::path::Path,
    client: std::net::SocketAddr,
    env: &[(&str, &str)],
) -> (Serving, std::path::PathBuf) {
    let stderr_path = file.with_extension("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let child = Command::new(herd_bin())
        .args(["serve", "A", "--config"])
        .arg(file)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let serving = Serving(child);
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(client).is_err() {
        assert!(
            start.elapsed() < support::herd::DEADLINE,
            "the server did not start: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (serving, stderr_path)
}

/// A 32-byte secret: the shortest taken.
const SECRET_32: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn without_a_good_secret_a_herd_beyond_loopback_refuses_to_start_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let one = |listen: &str, peer: &str| {
        format!(
            "[storage]\ndir = {:?}\n[[servers]]\nname = 'A'\nlisten = '{listen}'\npeer = '{peer}'\n",
            data.display().to_string()
        )
    };
    let (lo, lo_peer) = (
        support::procs::free_addr().to_string(),
        support::procs::free_addr().to_string(),
    );
    let var = "HERD_CLI_TEST_SECRET";
    let named = |rest: &str| format!("[herd]\nsecret_env = '{var}'\n{rest}");
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        (
            named(&one(&lo, &lo_peer)),
            None,
            ":2: herd.secret_env: the environment variable HERD_CLI_TEST_SECRET is not set",
        ),
        (
            named(&one(&lo, &lo_peer)),
            Some(""),
            ":2: herd.secret_env: the environment variable HERD_CLI_TEST_SECRET is empty",
        ),
        (
            named(&one(&lo, &lo_peer)),
            Some(&SECRET_32[..31]),
            ":2: herd.secret_env: the secret in HERD_CLI_TEST_SECRET is 31 bytes, fewer than 32",
        ),
        (
            one("0.0.0.0:1", &lo_peer),
            None,
            ":5: servers[0].listen: 0.0.0.0:1 is beyond loopback and the herd has no secret",
        ),
        (
            // A wildcard peer is reached at its `address` (issue 11).
            format!("{}address = 'a.herd.internal'\n", one(&lo, "[::]:2")),
            None,
            ":6: servers[0].peer: [::]:2 is beyond loopback and the herd has no secret",
        ),
        (
            one(&lo, "192.168.77.7:2"),
            None,
            ":6: servers[0].peer: 192.168.77.7:2 is beyond loopback and the herd has no secret",
        ),
    ];
    for (i, (text, secret, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("closed{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap();
        for args in [
            vec!["serve", "A", "--config", path],
            vec!["up", "--config", path],
            vec!["config", "check", path],
        ] {
            let (code, err) = herd_bounded(&args, &[(var, *secret)]);
            assert_eq!(code, Some(2), "{args:?} must not start: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(
                err.starts_with(&format!("herd: {path}{expected}")),
                "{err} should start with herd: {path}{expected}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn loopback_without_a_secret_runs_with_a_warning_and_beyond_it_with_one_or_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let one = |herd: &str, ip: &str| {
        let (listen, peer) = (support::procs::free_addr(), support::procs::free_addr());
        // A wildcard peer is reached at its `address` (issue 11).
        let address = if ip == "0.0.0.0" {
            "address = '127.0.0.1'\n"
        } else {
            ""
        };
        let text = format!(
            "{herd}\n[storage]\ndir = {:?}\n[[servers]]\nname = 'A'\nlisten = '{ip}:{}'\npeer = '{ip}:{}'\n{address}",
            data.display().to_string(),
            listen.port(),
            peer.port()
        );
        (text, listen)
    };
    // The classic graders' way: everything on loopback, no secret.
    let file = dir.path().join("loopback.toml");
    let (text, client) = one("", "127.0.0.1");
    std::fs::write(&file, text).unwrap();
    let (serving, stderr) = serve_until_up(&file, client, &[]);
    // The warning comes once the listeners are bound, so a moment after the port answers.
    let start = std::time::Instant::now();
    loop {
        let err = std::fs::read_to_string(&stderr).unwrap();
        if err.contains("links between servers are checked by name only") {
            break;
        }
        assert!(
            start.elapsed() < support::herd::DEADLINE,
            "no warning: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(serving);
    // Beyond loopback with a secret of 32 bytes, and with no secret but said on purpose.
    for (i, (herd, env)) in [
        (
            "[herd]\nsecret_env = 'HERD_CLI_TEST_SECRET'",
            vec![("HERD_CLI_TEST_SECRET", SECRET_32)],
        ),
        ("[herd]\ninsecure_links = true", vec![]),
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path().join(format!("beyond{i}.toml"));
        let (text, reach) = one(herd, "0.0.0.0");
        std::fs::write(&file, text).unwrap();
        let (serving, _) = serve_until_up(&file, reach, &env);
        drop(serving);
    }
}

#[test]
fn secret_gen_prints_a_fresh_256_bit_secret() {
    let (code, a, _) = herd(&["secret", "gen"]);
    let (_, b, _) = herd(&["secret", "gen"]);
    assert_eq!(code, 0);
    let a = a.trim_end();
    assert_eq!(a.len(), 64, "{a}");
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
    assert_ne!(a, b.trim_end());
}

#[test]
fn herd_up_makes_a_secret_that_herd_dump_proves_and_a_stranger_cannot() {
    use std::io::{Read, Write};
    let pair: &[(&str, &[&str])] = &[("A", &["B"]), ("B", &[])];
    let procs = support::procs::ProcHerd::new(pair, "");
    let config = procs.config.to_str().unwrap().to_string();
    let up = Command::new(herd_bin())
        .args(["up", "--config", &config])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut up = Serving(up);
    let start = std::time::Instant::now();
    for name in ["A", "B"] {
        while std::net::TcpStream::connect(procs.addr(name)).is_err() {
            assert!(
                start.elapsed() < support::herd::DEADLINE,
                "herd up did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let (code, out, err) = herd(&["client", "A", "--config", &config, "IAMAT t +1+1 1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("AT A "), "{out}");
    // The operator's dump proves the secret `herd up` made (from the file it left).
    let secret_file = procs.dir.path().join("data").join("up.secret");
    assert!(std::fs::metadata(&secret_file).is_ok());
    let (code, table, err) = herd(&["dump", "A", "--config", &config, "--timeout", "5s"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table, "t A 1 +1+1\n");
    // A stranger who knows the names but not the secret gets no table: in clear, not even a
    // WELCOME (the peer port speaks TLS only); sealed, a WELCOME whose proof it cannot answer.
    let mut s = std::net::TcpStream::connect(procs.peer_addr("A")).unwrap();
    s.set_read_timeout(Some(support::herd::DEADLINE)).unwrap();
    s.write_all(b"HERD1 HELLO *dump A 00\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(!rest.windows(5).any(|w| w == b"HERD1"), "{rest:?}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let refused = runtime.block_on(async {
        let seal = herd_server::peer::seal::Seal::self_signed(Vec::new()).unwrap();
        let tcp = tokio::net::TcpStream::connect(procs.peer_addr("A"))
            .await
            .unwrap();
        seal.dial(Box::new(tcp), "*dump", "A").await.map(|_| ())
    });
    assert!(
        matches!(
            refused,
            Err(herd_server::peer::handshake::HandshakeError::BadProof)
        ),
        "{refused:?}"
    );
    // A clean stop takes the file away.
    let pid = up.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = std::time::Instant::now();
    while up.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < support::herd::DEADLINE,
            "herd up did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        std::fs::metadata(&secret_file).is_err(),
        "up.secret is left"
    );
}
