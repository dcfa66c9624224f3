//! `herd client TARGET` on a terminal: the prompt, driven through a pseudo-terminal against a
//! real server process.

mod support;

use std::path::Path;
use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::{spawn_command, PtySession};
use support::procs::{herd_bin, ProcHerd};

/// How long one expectation waits, in milliseconds.
const EXPECT_MS: u64 = 10_000;

/// What the server answers to the IAMAT below (any time difference).
const AT_KIWI: &str = r"AT A [+-][0-9]+\.[0-9]{9} kiwi \+34\.068930-118\.445127 1621464827\.5";

/// `herd client A` on a fresh pseudo-terminal, keeping its history under `state`.
fn repl(herd: &ProcHerd, state: &Path) -> PtySession {
    let mut command = Command::new(herd_bin());
    command
        .args(["client", "A", "--config"])
        .arg(&herd.config)
        .env("XDG_STATE_HOME", state)
        .env("TERM", "xterm")
        .env_remove("RUST_LOG");
    let mut session = spawn_command(command, Some(EXPECT_MS)).unwrap();
    session.exp_string("A> ").expect("the prompt");
    session
}

/// Waits (bounded by the session's timeout) for the process to end and returns its status.
fn exit_status(mut session: PtySession) -> WaitStatus {
    let _ = session.exp_eof();
    session.process().wait().unwrap()
}

fn one_server() -> ProcHerd {
    let mut herd = ProcHerd::new(&[("A", &[])], "");
    herd.start("A");
    herd
}

#[test]
fn the_prompt_answers_recalls_history_across_runs_and_completes() {
    let herd = one_server();
    let state = tempfile::tempdir().unwrap();

    let mut first = repl(&herd, state.path());
    first
        .send_line("IAMAT kiwi +34.068930-118.445127 1621464827.5")
        .unwrap();
    first.exp_regex(AT_KIWI).expect("the AT answer");
    first.send_control('d').unwrap();
    assert!(
        matches!(exit_status(first), WaitStatus::Exited(_, 0)),
        "Ctrl-D exits 0"
    );
    let history = std::fs::read_to_string(state.path().join("herd/history")).unwrap();
    assert!(
        history.contains("IAMAT kiwi +34.068930-118.445127 1621464827.5"),
        "{history}"
    );

    // A new run: the up arrow brings back the line of the last run.
    let mut second = repl(&herd, state.path());
    second.send("\x1b[A").unwrap();
    second.flush().unwrap();
    second.send_line("").unwrap();
    second
        .exp_regex(AT_KIWI)
        .expect("the recalled IAMAT answered");
    // Tab completes the command word, then the client id this session saw.
    second.send("WHA\t").unwrap();
    second.flush().unwrap();
    second.send("ki\t").unwrap();
    second.flush().unwrap();
    second.send_line("10 1").unwrap();
    second
        .exp_string("\"html_attributions\"")
        .expect("WHATSAT kiwi 10 1 answered (without completion the server says `? WHAki...`)");
    second.send_control('c').unwrap();
    assert!(
        matches!(exit_status(second), WaitStatus::Exited(_, 0)),
        "Ctrl-C exits 0"
    );
}

#[test]
fn a_lost_connection_is_one_line_and_a_non_zero_exit() {
    let mut herd = one_server();
    // History that cannot be kept (its folder would be inside a file) is no error.
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let mut session = repl(&herd, &file);
    session
        .send_line("IAMAT kiwi +34.068930-118.445127 1621464827.5")
        .unwrap();
    session.exp_regex(AT_KIWI).expect("the AT answer");
    herd.kill("A");
    session
        .exp_regex("herd: 127.0.0.1:[0-9]+: (the server closed|lost) the connection")
        .expect("one line says the connection is gone");
    assert!(
        matches!(exit_status(session), WaitStatus::Exited(_, 1)),
        "a lost connection exits 1"
    );
}

#[test]
fn without_a_terminal_stdin_is_copied_like_nc_with_no_prompt() {
    use std::io::Write;
    let herd = one_server();
    let mut child = Command::new(herd_bin())
        .args(["client", "A", "--config"])
        .arg(&herd.config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"IAMAT kiwi +34.068930-118.445127 1621464827.5\nFOO bar\n")
        .unwrap();
    // End of input: the client half-closes and prints every answer.
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert!(is_the_kiwi_at_line(lines[0]), "{text:?}");
    assert_eq!(lines[1], "? FOO bar");
    assert!(!text.contains("A> "), "{text:?}");
}

/// Whether `line` is the AT answer to the IAMAT above.
fn is_the_kiwi_at_line(line: &str) -> bool {
    line.starts_with("AT A ") && line.ends_with(" kiwi +34.068930-118.445127 1621464827.5")
}
