//! Replays the fuzz corpora (fuzz/corpus/TARGET/) and the inputs of fixed crashes
//! (fuzz/regressions/TARGET/) through the fuzz target bodies, without instrumentation or
//! libFuzzer, so a plain `cargo test` keeps them passing. Inputs of reported bugs not fixed yet
//! (fuzz/regressions/TARGET/open-BUG-*) must still crash; see fuzz/src/known.rs.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The files of `fuzz/KIND/TARGET/`, sorted; dot files (`.gitkeep`) left out.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("listing a corpus directory").path())
        .filter(|p| p.is_file())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

/// The name of the open bug an input is kept for, if it is an `open-BUG-...` input.
fn open_bug_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("open-")?;
    let (bug, _) = targets::known::OPEN_BUGS
        .iter()
        .find(|(bug, _)| rest.starts_with(&format!("{bug}-")))
        .unwrap_or_else(|| panic!("{name}: no open bug in fuzz/src/known.rs by that name"));
    Some(bug)
}

fn replay(kind: &str) {
    let mut failures = Vec::new();
    let mut count = 0;
    for (target, body) in targets::TARGETS {
        for path in inputs(kind, target) {
            count += 1;
            let data = std::fs::read(&path).expect("reading an input");
            let shown = path.display();
            match open_bug_of(&path) {
                None => {
                    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
                        failures.push(format!("{shown}: {}", message(&panic)));
                    }
                }
                Some(bug) => {
                    let run = || targets::known::strictly(|| body(&data));
                    if catch_unwind(AssertUnwindSafe(run)).is_ok() {
                        failures.push(format!(
                            "{shown}: no longer crashes, so bug {bug} looks fixed: rename the \
                             file without `open-{bug}-` and remove the bug from \
                             fuzz/src/known.rs"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[test]
fn corpus_inputs_pass() {
    replay("corpus");
}

#[test]
fn regression_inputs_pass_and_open_bugs_still_crash() {
    replay("regressions");
}

#[test]
fn every_target_has_a_corpus_a_dictionary_and_a_wrapper() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, _) in targets::TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "no seeds for {target}"
        );
        assert!(fuzz.join(format!("dicts/{target}.dict")).is_file());
        assert!(fuzz.join(format!("fuzz_targets/{target}.rs")).is_file());
    }
}

/// Writes the store seeds with the real store: `cargo test --test fuzz_corpus -- --ignored`.
/// A log of real records (keyed by client, as the server keys them, with the sequence lease),
/// then copies of it torn, damaged in the middle, cut inside the header and of another version.
#[tokio::test]
#[ignore = "writes seed files; run by hand when the store format changes"]
async fn write_store_seeds() {
    use bytes::Bytes;
    use herd_core::record::Record;
    use herd_store::{Fsync, Store};

    let record = |origin: &str, seq: u64, client: &str, location: &str, time: &str| {
        let (lat, lng) = herd_core::protocol::number::parse_location(location.as_bytes()).unwrap();
        let received = 1_621_464_828_223_371_889;
        let r = Record::received(
            origin,
            seq,
            received,
            client.as_bytes(),
            location.as_bytes(),
            time.as_bytes(),
            (lat, lng),
        );
        (Bytes::copy_from_slice(client.as_bytes()), r.wire_bytes())
    };
    let records = [
        (
            Bytes::from_static(b" seq-lease"),
            Bytes::from_static(b"10000000"),
        ),
        record(
            "Clark",
            1,
            "kiwi.cs.ucla.edu",
            "+34.068930-118.445127",
            "1621464827.959498503",
        ),
        record("Bona", 7, "-33.86+151.20", "-33.86+151.20", "1621464830"),
        record(
            "Clark",
            2,
            "kiwi.cs.ucla.edu",
            "+34.068930-118.445127",
            "1621464900.5",
        ),
        record("Clark", 3, "kiwi.cs.ucla.edu", "+34.1-118.4", "1621464800"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Always).await.unwrap();
    for (key, payload) in &records {
        store.append(key.clone(), payload.clone()).await.unwrap();
    }
    store.close().await.unwrap();
    let log = std::fs::read(dir.path().join("records.log")).unwrap();

    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        std::fs::write(fuzz.join(target).join(name), bytes).unwrap();
    };
    let header = herd_store::format::HEADER_LEN;
    write("store_recover", "real-log", &log);
    write("store_recover", "torn-last-record", &log[..log.len() - 5]);
    let mut damaged = log.clone();
    damaged[header + 30] ^= 0x20;
    write("store_recover", "damaged-in-the-middle", &damaged);
    write("store_recover", "header-only", &log[..header]);
    write("store_recover", "header-cut-short", &log[..10]);
    let mut version2 = log.clone();
    version2[8] = 2;
    write("store_recover", "version-2", &version2);
    let first = herd_store::format::frame_len(records[0].0.len(), records[0].1.len());
    write("store_frames", "lease-frame", &log[header..header + first]);
    write("store_frames", "record-frames", &log[header + first..]);
    write("store_frames", "header-and-frames", &log);
}
