//! Shell completions, JSON diagnostics and the one-line usage errors of the newer commands.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::herd::DEADLINE;
use support::procs::{herd_bin, ProcHerd};

fn herd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(herd_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn completions_for_bash_pass_bash_n_and_every_shell_gets_a_script() {
    let (code, script, err) = herd(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        script.contains("watch") && script.contains("status"),
        "{script}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herd.bash");
    std::fs::write(&file, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(check.status.success(), "{check:?}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, script, err) = herd(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(script.contains("completions"), "{shell}: {script}");
    }
}

#[test]
fn log_format_json_makes_every_diagnostic_a_json_line() {
    let mut herd_procs = ProcHerd::new(&[("A", &[])], "");
    let stderr_path = herd_procs.dir.path().join("json.stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let child = Command::new(herd_bin())
        .args(["--log-format", "json", "serve", "A", "--config"])
        .arg(&herd_procs.config)
        .env("RUST_LOG", "herd=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // The herd's guard kills it by its handle whatever happens below.
    herd_procs.children[0] = Some(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(herd_procs.addr("A")).is_err() {
        assert!(start.elapsed() < DEADLINE, "A did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    // It writes its notice once it listens; SIGTERM stops it cleanly.
    assert!(herd_procs.terminate("A").success());
    let text = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(!text.trim().is_empty());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?} in\n{text}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(text.lines().any(|l| l.contains("A listening on")), "{text}");

    // The error that ends a command is a JSON line too, with the same exit code.
    let (code, _, err) = herd(&["--log-format", "json", "serve", "Nobody"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&err).unwrap();
    assert_eq!(v["level"], "ERROR");
    let message = v["fields"]["message"].as_str().unwrap();
    assert!(message.contains("no server called \"Nobody\""), "{message}");

    // Text stays the default.
    let (_, _, err) = herd(&["serve", "Nobody"]);
    assert!(
        err.starts_with("herd: <built-in>: no server called"),
        "{err}"
    );
}

#[test]
fn bad_watch_and_status_arguments_are_one_line_and_exit_code_2() {
    let no_http = ProcHerd::new(&[("A", &[])], "");
    let config = no_http.config.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["watch", "Clark", "--near", "34,-118"],
            "--near \"34,-118\": not three numbers",
        ),
        (
            &["watch", "Clark", "--near", "95,0,10"],
            "latitude -90 to 90",
        ),
        (&["watch", "Clark", "--near", "34,-118,0"], "above 0 km"),
        (
            &["watch", "Nobody"],
            "\"Nobody\" is neither a server of <built-in>",
        ),
        (
            &["status", "Nobody"],
            "\"Nobody\" is neither a server of <built-in>",
        ),
        (
            &["watch", "A", "--config", config],
            "server \"A\" has no `http` address",
        ),
    ];
    for (args, expected) in cases {
        let (code, out, err) = herd(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("herd: ") && err.contains(expected),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = herd(&["status", "--config", config]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no server to ask has an `http` address"),
        "{err}"
    );
}
