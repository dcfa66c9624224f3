//! `herd watch` and `herd status` against real server processes over real HTTP.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use support::herd::DEADLINE;
use support::procs::{herd_bin, ProcHerd};

/// A child process killed (by its own handle) when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    /// Sends SIGINT (what Ctrl-C sends) by process id and waits, bounded, for the exit status.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "no exit after SIGINT");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Starts `herd ARGS...`, its stdout lines arriving on the receiver.
fn spawn(args: &[&str]) -> (Guard, Receiver<String>) {
    let mut child = Command::new(herd_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (Guard(child), rx)
}

/// The lines that arrive until one contains `needle` (panics after [`DEADLINE`]), while
/// `poke` runs every 200 ms (a watch that is still connecting misses what came before).
fn lines_until(rx: &Receiver<String>, needle: &str, mut poke: impl FnMut()) -> Vec<String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    poke();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(RecvTimeoutError::Timeout) => poke(),
            Err(RecvTimeoutError::Disconnected) => panic!("the watch ended: {seen:?}"),
        }
        assert!(start.elapsed() < DEADLINE, "no {needle:?} in {seen:?}");
    }
}

/// `herd client` sends `line` to `server`.
fn send(herd: &ProcHerd, server: &str, line: &str) {
    let out = Command::new(herd_bin())
        .args(["client", server, line, "--timeout", "5s", "--config"])
        .arg(&herd.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn herd_cmd(args: &[&str]) -> std::process::Output {
    Command::new(herd_bin()).args(args).output().unwrap()
}

#[test]
fn watch_prints_the_events_its_filter_admits_and_no_others() {
    let mut herd = ProcHerd::with_http(&[("A", &["B"]), ("B", &["A"])], "");
    herd.start_all();
    let config = herd.config.to_str().unwrap().to_string();
    let http = herd.http_addr("A").to_string();
    // One by name (its `http` from the config), filtered by client, as text; one by address,
    // filtered by position (around UCLA), as JSON.
    let (_by_client, by_client) = spawn(&["watch", "A", "--client", "kiwi", "--config", &config]);
    let (_near, near) = spawn(&["watch", &http, "--near", "34.07,-118.44,50", "--json"]);

    // Until both watches are connected, each IAMAT is newer than the last.
    let mut time = 1_621_464_827u64;
    let mut kiwi = |herd: &ProcHerd| {
        time += 1;
        send(
            herd,
            "A",
            &format!("IAMAT kiwi +34.068930-118.445127 {time}"),
        );
        time
    };
    lines_until(&by_client, "location kiwi", || {
        kiwi(&herd);
    });
    lines_until(&near, "\"kiwi\"", || {
        kiwi(&herd);
    });

    // Now both watch: emu (in Sydney) is left out by both filters; the kiwi after it shows
    // that the emu's event had come and gone.
    send(&herd, "A", "IAMAT emu -33.868820+151.209296 1621464900.25");
    let last = kiwi(&herd);
    let text = lines_until(&by_client, &format!(" at {last}"), || {});
    assert!(
        text.contains(&format!(
            "location kiwi +34.068930-118.445127 from A at {last}"
        )),
        "{text:?}"
    );
    let json = lines_until(&near, &format!("\"{last}\""), || {});
    for lines in [&text, &json] {
        assert!(!lines.iter().any(|l| l.contains("emu")), "{lines:?}");
    }
    let record: serde_json::Value = serde_json::from_str(json.last().unwrap()).unwrap();
    assert_eq!(record["client"], "kiwi");
    assert_eq!(record["origin"], "A");
}

#[test]
fn status_shows_every_server_and_a_dead_one_as_down_with_a_non_zero_exit() {
    let mut herd = ProcHerd::with_http(&[("A", &["B"]), ("B", &["A"])], "");
    herd.start_all();
    let config = herd.config.to_str().unwrap().to_string();

    let out = herd_cmd(&["status", "--config", &config]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.starts_with("SERVER"), "{table}");
    for server in ["A", "B"] {
        let row = table.lines().find(|l| l.starts_with(&format!("{server} ")));
        assert!(row.is_some_and(|r| r.contains(" ready ")), "{table}");
    }

    let out = herd_cmd(&["status", "--json", "--config", &config]);
    assert_eq!(out.status.code(), Some(0));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let servers = status["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2, "{status}");
    assert_eq!(servers[0]["status"]["server"], "A", "{status}");
    assert_eq!(servers[1]["state"], "ready", "{status}");

    herd.kill("B");
    let out = herd_cmd(&["status", "--config", &config, "--timeout", "2s"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let b = table.lines().find(|l| l.starts_with("B ")).unwrap();
    assert!(b.contains(" down "), "{table}");
    let a = table.lines().find(|l| l.starts_with("A ")).unwrap();
    assert!(a.contains(" ready "), "{table}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim(), "herd: down: B", "{err}");

    // Only one server, by name: A alone answers, so all is well.
    let out = herd_cmd(&["status", "A", "--config", &config]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\nB "));
}

#[test]
fn watch_dials_again_when_the_server_comes_back() {
    let mut herd = ProcHerd::with_http(&[("A", &[])], "");
    herd.start("A");
    let config = herd.config.to_str().unwrap().to_string();
    let (mut watch, lines) = spawn(&["watch", "A", "--config", &config]);
    let time = std::cell::Cell::new(1_621_464_827u64);
    let iamat = |herd: &ProcHerd, client: &str| {
        time.set(time.get() + 1);
        let line = format!("IAMAT {client} +34.068930-118.445127 {}", time.get());
        send(herd, "A", &line);
    };
    lines_until(&lines, "location kiwi", || iamat(&herd, "kiwi"));
    herd.kill("A");
    herd.start("A");
    // Only the restarted server hears of kea.
    lines_until(&lines, "location kea", || iamat(&herd, "kea"));
    assert_eq!(
        watch.interrupt().code(),
        Some(0),
        "Ctrl-C ends a watch with 0"
    );
}
