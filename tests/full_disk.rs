//! A store that cannot write under `fsync = "always"` (issue 9): its filesystem is full, so an
//! IAMAT is answered `? …` and never acknowledged, while the server goes on answering; once
//! there is room again it acknowledges again, and what it acknowledged survives a SIGKILL.
//!
//! A real `herd` process whose data folder is a tmpfs of 1 MiB mounted by the test. Mounting
//! needs root (CI runs as root); elsewhere the test says so and passes without checking.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::herd::ask;
use support::procs::ProcHerd;

const SOLO: &[(&str, &[&str])] = &[("Clark", &[])];

/// A tmpfs mounted for the test, unmounted when dropped (lazily, so a process that still has a
/// file open there cannot keep it mounted).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `at`, or says why not.
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "herd-test",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with one file until a write fails; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    // Bounded: the filesystem holds 1 MiB.
    for _ in 0..10_000 {
        if file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            return path;
        }
    }
    panic!("{} never filled up", dir.display());
}

fn iamat(time: u32) -> String {
    format!("IAMAT kiwi +34.068930-118.445127 {time}.5")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_never_acknowledges_and_recovers_when_it_can() {
    let mut herd = ProcHerd::with_storage(SOLO, "", "fsync = \"always\"");
    let data = herd.data_dir("Clark");
    let mount = match Tmpfs::mount(&data, "1m") {
        Ok(mount) => mount,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs for the store ({why}); run as root");
            return;
        }
    };
    herd.start("Clark");
    let addr = herd.addr("Clark");

    let first = ask(addr, &[&iamat(1_700_000_001)]).await;
    assert!(first.starts_with("AT Clark "), "with room: {first:?}");

    let filler = fill(&data);
    // The store's file may still have room in its last page: IAMATs are acknowledged until a
    // record needs a page the filesystem no longer has.
    let mut time = 1_700_000_002;
    let refused = loop {
        let answer = ask(addr, &[&iamat(time)]).await;
        if answer.starts_with('?') {
            break answer;
        }
        assert!(answer.starts_with("AT Clark "), "{answer:?}");
        assert!(time < 1_700_000_500, "a full disk never refused an IAMAT");
        time += 1;
    };
    assert_eq!(
        refused,
        format!("? {}\n", iamat(time)),
        "an IAMAT whose record could not be made durable must not be acknowledged"
    );
    let again = ask(addr, &[&iamat(time + 1)]).await;
    assert_eq!(again, format!("? {}\n", iamat(time + 1)), "still full");
    // The server still answers what needs no disk.
    let other = ask(addr, &["WHATSAT"]).await;
    assert_eq!(other, "? WHATSAT\n");

    std::fs::remove_file(&filler).unwrap();
    let third = ask(addr, &[&iamat(time + 2)]).await;
    assert!(
        third.starts_with("AT Clark ") && third.trim_end().ends_with(&format!("{}.5", time + 2)),
        "with room again: {third:?}"
    );

    // What was acknowledged is on disk: after a SIGKILL the server restarts with it.
    herd.kill("Clark");
    herd.start("Clark");
    let after = ask(addr, &["WHATSAT kiwi 10 1"]).await;
    assert_eq!(
        after.lines().next(),
        third.lines().next(),
        "after a SIGKILL the newest acknowledged record is back"
    );
    herd.kill("Clark");
    drop(mount);
}
