//! The I/O log of a real `herd serve` process: rotated by size, private to its owner, and never
//! a reason to stop answering when its file cannot be written.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use support::herd::{ask, DEADLINE};
use support::procs::{config_check, ProcHerd};

const SOLO: &[(&str, &[&str])] = &[("Solo", &[])];

fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Polls `done` until it holds; panics after [`DEADLINE`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts Solo and waits for its log: a server that exited instead (its port taken by another
/// process between `free_addr` and its bind, say) fails here, not later as a wrong answer.
fn start_solo(herd: &mut ProcHerd) {
    herd.start("Solo");
    let start = Instant::now();
    while !herd.log_path("Solo").exists() {
        let child = herd.children[0].as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = text_of(&herd.dir.path().join("Solo.stderr"));
            panic!("Solo exited ({status}): {stderr}");
        }
        assert!(start.elapsed() < DEADLINE, "Solo never opened its log");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends IAMAT `client` to Solo and checks the answer is its AT line, exactly.
async fn iamat_is_answered(herd: &ProcHerd, client: &str, time: u32) {
    let answer = ask(
        herd.addr("Solo"),
        &[&format!("IAMAT {client} +10.5-20.25 {time}")],
    )
    .await;
    let line = answer.strip_suffix('\n').unwrap_or(&answer);
    let tail = format!(" {client} +10.5-20.25 {time}");
    assert!(
        line.starts_with("AT Solo ") && line.ends_with(&tail) && !line.contains('\n'),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_rotates_at_log_max_bytes_and_keeps_log_keep_files() {
    let mut herd = ProcHerd::with_storage(SOLO, "", "log_max_bytes = 4096\nlog_keep = 2");
    start_solo(&mut herd);
    let lines: Vec<String> = (0..300)
        .map(|i| format!("IAMAT rotating{i} +1+1 {}", 1000 + i))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let answer = ask(herd.addr("Solo"), &lines).await;
    assert_eq!(answer.lines().count(), 300);
    let dir = herd.data_dir("Solo");
    wait_until("the log holds the last answer", || {
        text_of(&herd.log_path("Solo")).contains(" rotating299 +1+1 1299\n")
    })
    .await;
    assert!(herd.terminate("Solo").success());
    let mut total = 0;
    for name in ["herd.log", "herd.log.1", "herd.log.2"] {
        let size = std::fs::metadata(dir.join(name)).unwrap().len();
        assert!(size <= 4096, "{name} has {size} bytes");
        total += size;
    }
    assert!(
        !dir.join("herd.log.3").exists(),
        "at most log_keep rotated files"
    );
    assert!(total <= 3 * 4096);
    assert!(text_of(&dir.join("herd.log.1")).contains(" * log: rotated ("));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_readable_by_its_owner_only() {
    let mut herd = ProcHerd::new(SOLO, "");
    start_solo(&mut herd);
    iamat_is_answered(&herd, "private", 1).await;
    let path = herd.log_path("Solo");
    wait_until("the log holds the answer", || {
        text_of(&path).contains(" private +10.5-20.25 1\n")
    })
    .await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

/// Breaks the log file of a running server with `break_it` (in a way that holds for root too),
/// checks that IAMATs are still answered and the losses warned about on stderr, then repairs
/// it and checks that the log comes back saying what it lost.
async fn answers_go_on_while_the_log_is_broken(
    herd: &mut ProcHerd,
    round: u32,
    break_it: impl FnOnce(&Path),
    repair: impl FnOnce(&Path),
    warning: &str,
) {
    let path = herd.log_path("Solo");
    let stderr = herd.dir.path().join("Solo.stderr");
    let base = round * 1000;
    iamat_is_answered(herd, &format!("before{round}"), base).await;
    wait_until("the log holds the answer", || {
        text_of(&path).contains(&format!(" before{round} +10.5-20.25 {base}\n"))
    })
    .await;
    std::fs::remove_file(&path).unwrap();
    break_it(&path);
    let warned = text_of(&stderr).matches(warning).count();
    let mut i = 1;
    let start = Instant::now();
    while text_of(&stderr).matches(warning).count() == warned {
        assert!(start.elapsed() < DEADLINE, "no warning on stderr");
        iamat_is_answered(herd, &format!("during{round}.{i}"), base + i).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..20 {
        iamat_is_answered(herd, &format!("during{round}.{i}"), base + i).await;
        i += 1;
    }
    repair(&path);
    wait_until("the log comes back saying what was lost", || {
        text_of(&path).contains(" lines dropped and ")
    })
    .await;
    iamat_is_answered(herd, &format!("after{round}"), base + i).await;
    wait_until("the log holds new answers", || {
        text_of(&path).contains(&format!(" after{round} +10.5-20.25 "))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answers_while_its_log_cannot_be_written_and_reports_the_losses() {
    let mut herd = ProcHerd::new(SOLO, "");
    start_solo(&mut herd);
    // The disk is full: every write fails.
    answers_go_on_while_the_log_is_broken(
        &mut herd,
        1,
        |p| std::os::unix::fs::symlink("/dev/full", p).unwrap(),
        |p| std::fs::remove_file(p).unwrap(),
        "No space left on device",
    )
    .await;
    // The log's path becomes a folder: opening it fails, for root too.
    answers_go_on_while_the_log_is_broken(
        &mut herd,
        2,
        |p| std::fs::create_dir(p).unwrap(),
        |p| std::fs::remove_dir(p).unwrap(),
        "Is a directory",
    )
    .await;
    let status = herd.terminate("Solo");
    assert!(status.success(), "{status:?}");
    let log = text_of(&herd.log_path("Solo"));
    let reports: Vec<&str> = log.lines().filter(|l| l.contains(" * log: ")).collect();
    assert!(
        reports
            .iter()
            .any(|l| l.contains(" lines dropped and ") && l.contains("write errors so far")),
        "{reports:?}"
    );
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn a_bad_log_limit_is_one_message_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herd.toml");
    std::fs::write(
        &file,
        "[storage]\nlog_keep = 1000\n[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n",
    )
    .unwrap();
    let out = config_check(&file, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "herd: {}:2: storage.log_keep: 1000 is too large (at most 100 files)",
            file.display()
        )
    );
}
