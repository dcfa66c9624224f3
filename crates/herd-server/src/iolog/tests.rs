use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// How long a test waits for the writer before it fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `done` until it holds; panics after [`DEADLINE`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A log with the default limits at `name` inside a new temporary folder (kept while the
/// returned guard lives), with its path and writer.
fn open_default(name: &str) -> (tempfile::TempDir, std::path::PathBuf, IoLog, IoLogWriter) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let (log, writer) = IoLog::open(&path, LogLimits::default());
    (dir, path, log, writer)
}

fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Small files, so that a few hundred lines rotate.
fn small(keep: usize) -> LogLimits {
    LogLimits {
        max_file_bytes: 4096,
        keep,
        ..LogLimits::default()
    }
}

#[tokio::test]
async fn writes_every_line_with_a_timestamp() {
    let (_dir, path, log, writer) = open_default("s/log.txt");
    log.input(Bytes::from_static(b"IAMAT a +1+1 1"));
    log.output(Bytes::from_static(b"AT S +0.1 a +1+1 1\n"));
    log.event("link B connected");
    drop(log);
    writer.finish().await;
    let text = text_of(&path);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with("Z < IAMAT a +1+1 1"));
    assert!(lines[1].ends_with("Z > AT S +0.1 a +1+1 1"));
    assert!(lines[2].ends_with("Z * link B connected"));
    assert!(lines[0].starts_with("20"));
}

#[tokio::test]
async fn a_deleted_log_file_comes_back_and_answers_never_wait() {
    let (dir, path, log, writer) = open_default("s/log.txt");
    log.event("before");
    wait_until("the first entry reaches the file", || {
        text_of(&path).contains("before")
    })
    .await;
    std::fs::remove_dir_all(dir.path().join("s")).unwrap();
    // Keep logging: the writer notices the file is gone and opens a new one.
    let mut i = 0;
    wait_until("the log file comes back", || {
        log.event(format!("after {i}"));
        i += 1;
        text_of(&path).contains("after")
    })
    .await;
    drop(log);
    writer.finish().await;
}

#[tokio::test]
async fn rotates_by_size_keeping_log_keep_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herd.log");
    let (log, writer) = IoLog::open(&path, small(2));
    for i in 0..1000 {
        log.event(format!("entry {i:04} {}", "x".repeat(60)));
    }
    writer.finish().await;
    let c = log.counters();
    assert!(c.rotations >= 20, "{c:?}");
    assert_eq!((c.lines_dropped, c.write_errors), (0, 0), "{c:?}");
    let files = [
        dir.path().join("herd.log.2"),
        dir.path().join("herd.log.1"),
        path.clone(),
    ];
    let mut total = 0;
    for f in &files {
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size <= 4096, "{} has {size} bytes", f.display());
        total += size;
    }
    assert!(total > 2 * 4096, "the kept files are nearly full: {total}");
    assert!(
        !dir.path().join("herd.log.3").exists(),
        "only log_keep files are kept"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    // Oldest in .2, newest in herd.log, no line lost between them, and each new file says
    // where the earlier lines are.
    let numbers: Vec<Vec<usize>> = files.iter().map(|f| entry_numbers(&text_of(f))).collect();
    for pair in numbers.windows(2) {
        assert_eq!(pair[0].last().unwrap() + 1, pair[1][0]);
    }
    assert_eq!(*numbers[2].last().unwrap(), 999);
    for f in &files {
        let text = text_of(f);
        let first = text.lines().next().unwrap();
        assert!(
            first.contains("* log: rotated (")
                && first.ends_with("earlier lines are in herd.log.1"),
            "{first}"
        );
    }
}

/// The numbers of the `entry N` lines of `text`, checked to follow each other.
fn entry_numbers(text: &str) -> Vec<usize> {
    let numbers: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split_once("* entry ")?.1.get(..4)?.parse().ok())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] + 1 == w[1]), "{numbers:?}");
    numbers
}

#[tokio::test]
async fn with_log_keep_0_a_full_log_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herd.log");
    let (log, writer) = IoLog::open(&path, small(0));
    for i in 0..200 {
        log.event(format!("entry {i:04} {}", "x".repeat(60)));
    }
    writer.finish().await;
    assert!(log.counters().rotations >= 2);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert!(std::fs::metadata(&path).unwrap().len() <= 4096);
    assert!(text_of(&path).contains("earlier lines were removed (log_keep = 0)"));
}

#[tokio::test]
async fn a_line_longer_than_a_file_is_cut_to_fit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herd.log");
    let (log, writer) = IoLog::open(&path, small(1));
    log.event("short");
    log.input(Bytes::from(vec![b'a'; 10_000]));
    writer.finish().await;
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(size, 4096, "the long line fills a file of its own, exactly");
    assert!(text_of(&path).ends_with("aaa...\n"));
    assert!(text_of(&dir.path().join("herd.log.1")).contains("* short"));
}

#[tokio::test]
async fn the_log_and_its_rotated_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herd.log");
    let (log, writer) = IoLog::open(&path, small(2));
    for i in 0..100 {
        log.event(format!("entry {i:04} {}", "x".repeat(60)));
    }
    writer.finish().await;
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(mode_of(&dir.path().join("herd.log.1")), 0o600);

    // A log an older version left readable by all is made private when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (log, writer) = IoLog::open(&path, small(2));
    log.event("again");
    writer.finish().await;
    assert_eq!(mode_of(&path), 0o600);
    assert!(text_of(&path).ends_with("* again\n"));
}

/// A log whose file is a named pipe nobody reads: the writer blocks in `open` as on a hung disk.
/// A FIFO at `path`: a log writer opening it stalls until someone reads it (a disk that hangs).
/// A log whose file is a FIFO nobody reads (its writer stalls at the first write), with a
/// queue of `queue_bytes`, in a new temporary folder kept while the returned guard lives.
fn open_stalled(
    queue_bytes: usize,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    LogLimits,
    IoLog,
    IoLogWriter,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herd.log");
    make_fifo(&path);
    let limits = LogLimits {
        queue_bytes,
        ..LogLimits::default()
    };
    let (log, writer) = IoLog::open(&path, limits);
    (dir, path, limits, log, writer)
}

fn make_fifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

/// Reads the FIFO at `path` to its end on a thread of its own: the disk comes back.
fn read_fifo(path: &Path) -> std::thread::JoinHandle<String> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut text = String::new();
        std::fs::File::open(path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    })
}

#[tokio::test]
async fn a_stalled_writer_holds_at_most_the_queue_bytes() {
    let (_dir, path, limits, log, writer) = open_stalled(64 * 1024);
    // Lines that are slices of one big read buffer, as the framer hands them over.
    let buffer = Bytes::from(vec![b'i'; 64 * 1024]);
    let pushed: u64 = 10_000;
    for i in 0..pushed as usize {
        let at = (i * 100) % (buffer.len() - 100);
        log.input(buffer.slice(at..at + 100));
        assert!(log.counters().queued_bytes <= limits.queue_bytes);
    }
    assert!(
        buffer.is_unique(),
        "a queued entry pins the caller's read buffer"
    );
    let c = log.counters();
    let kept = pushed - c.lines_dropped;
    assert!(kept > 0 && c.lines_dropped > 0, "{c:?}");
    assert_eq!(
        c.queued_bytes as u64,
        kept * (100 + ENTRY_COST as u64),
        "{c:?}"
    );
    assert!(
        c.queued_bytes > limits.queue_bytes - 100 - ENTRY_COST,
        "{c:?}"
    );

    // The disk comes back: what was kept is written, then the count of what was not.
    let reader = read_fifo(&path);
    drop(log);
    writer.finish().await;
    let text = reader.join().unwrap();
    let inputs = text.lines().filter(|l| l.contains(" < iii")).count() as u64;
    assert_eq!(inputs, kept);
    assert!(
        text.contains(&format!(
            "* log: {} lines dropped and 0 write errors so far",
            c.lines_dropped
        )),
        "{}",
        text.lines().next().unwrap_or_default()
    );
}

/// Makes `path` unusable in a way that holds for root too, logs while it is, repairs it and
/// checks that the losses were counted and then written into the log.
async fn losses_are_counted_and_reported_once_repaired(
    break_it: impl FnOnce(&Path),
    repair: impl FnOnce(&Path),
) {
    let (_dir, path, log, writer) = open_default("herd.log");
    log.event("before");
    wait_until("the log is written", || text_of(&path).contains("before")).await;
    std::fs::remove_file(&path).unwrap();
    break_it(&path);
    let mut i = 0;
    wait_until("lost lines and failures are counted", || {
        log.event(format!("lost {i}"));
        i += 1;
        let c = log.counters();
        c.write_errors > 0 && c.lines_dropped > 0
    })
    .await;
    repair(&path);
    // No more entries: the writer retries by itself and says what was lost.
    wait_until("the log comes back with the count", || {
        text_of(&path).contains(" lines dropped and ")
    })
    .await;
    let c = log.counters();
    writer.finish().await;
    let text = text_of(&path);
    let report = text.lines().find(|l| l.contains("* log: ")).unwrap();
    let (dropped, errors) = (c.lines_dropped, c.write_errors);
    assert!(
        report.contains(&format!(
            "log: {dropped} lines dropped and {errors} write errors so far"
        )),
        "{report} vs {c:?}"
    );
    assert!(
        !text.contains("lost "),
        "lines written during the failure were dropped"
    );
}

#[tokio::test]
async fn a_log_path_that_cannot_be_opened_is_retried() {
    losses_are_counted_and_reported_once_repaired(
        |p| std::fs::create_dir(p).unwrap(),
        |p| std::fs::remove_dir(p).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn a_full_disk_is_retried() {
    losses_are_counted_and_reported_once_repaired(
        |p| std::os::unix::fs::symlink("/dev/full", p).unwrap(),
        |p| std::fs::remove_file(p).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn a_discarding_log_counts_nothing() {
    let log = IoLog::discard();
    log.event("nothing");
    log.input(Bytes::from_static(b"x"));
    assert_eq!(log.counters(), IoLogCounters::default());
}

#[tokio::test]
async fn a_batch_writes_its_lines_in_order_among_the_others_at_one_time() {
    let (_dir, path, log, writer) = open_default("herd.log");
    log.event("before");
    let mut batch = log.batch();
    batch.input(b"IAMAT a +1+1 1");
    batch.output(b"AT S +0.1 a +1+1 1\n");
    batch.event("IAMAT refused: too far ahead");
    batch.output(b"? IAMAT b\nsecond line\n");
    // Not queued until flushed: a line pushed directly now comes first.
    log.event("meanwhile");
    batch.flush();
    batch.input(b"WHATSAT a 1 1");
    drop(batch);
    log.event("after");
    assert_eq!(log.counters().lines_dropped, 0);
    drop(log);
    writer.finish().await;
    let text = text_of(&path);
    let lines: Vec<&str> = text.lines().collect();
    let ends = [
        "Z * before",
        "Z * meanwhile",
        "Z < IAMAT a +1+1 1",
        "Z > AT S +0.1 a +1+1 1",
        "Z * IAMAT refused: too far ahead",
        "Z > ? IAMAT b",
        "Z > second line",
        "Z < WHATSAT a 1 1",
        "Z * after",
    ];
    assert_eq!(lines.len(), ends.len(), "{text}");
    for (line, end) in lines.iter().zip(ends) {
        assert!(
            line.ends_with(end),
            "{line:?} should end with {end:?}\n{text}"
        );
    }
    // The lines of one flush share its time.
    let stamp = |line: &str| line.split(' ').next().unwrap().to_owned();
    assert!((3..7).all(|i| stamp(lines[i]) == stamp(lines[2])), "{text}");
}

#[tokio::test]
async fn a_batch_that_does_not_fit_in_the_queue_is_dropped_and_counted_whole() {
    let (_dir, path, limits, log, writer) = open_stalled(4096);
    let mut kept = 0;
    let mut dropped = 0;
    for _ in 0..100 {
        let mut batch = log.batch();
        for _ in 0..3 {
            batch.input(&[b'i'; 100]);
        }
        batch.output(b"two\nlines\n");
        let before = log.counters().lines_dropped;
        batch.flush();
        let after = log.counters();
        assert!(after.queued_bytes <= limits.queue_bytes, "{after:?}");
        match after.lines_dropped - before {
            0 => kept += 1,
            5 => dropped += 1,
            other => panic!("a batch lost {other} of its 5 lines"),
        }
    }
    assert!(kept > 0 && dropped > 0, "kept {kept}, dropped {dropped}");
    let reader = read_fifo(&path);
    drop(log);
    writer.finish().await;
    let text = reader.join().unwrap();
    assert_eq!(
        text.lines().filter(|l| l.contains(" < iii")).count(),
        kept * 3
    );
    assert_eq!(
        text.lines().filter(|l| l.ends_with(" > lines")).count(),
        kept
    );
}
