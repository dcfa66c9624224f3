//! Bugs the fuzz targets found that are reported but not fixed yet.
//!
//! While a bug is open, the body that finds it lets through the inputs that hit only that bug
//! (calling [`open_bug`]), so fuzzing, `fuzz/ci.sh` included, goes on looking for new ones.
//! With `HERD_FUZZ_STRICT=1` in the environment (or inside [`strictly`]) an open bug is a
//! crash like any other. `tests/fuzz_corpus.rs` replays `fuzz/regressions/*/open-BUG-*`
//! strictly and checks each still crashes, so a fix is noticed: then rename the input without
//! `open-BUG-`, delete the bug's entry here and its `open_bug` call, and it becomes an
//! ordinary regression input.

use std::cell::Cell;
use std::sync::OnceLock;

/// The open bugs: (name used in `open-NAME-*` regression files, what is wrong).
pub const OPEN_BUGS: &[(&str, &str)] = &[];

thread_local! {
    static STRICT: Cell<Option<bool>> = const { Cell::new(None) };
}

fn strict() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    STRICT.get().unwrap_or_else(|| {
        *FROM_ENV.get_or_init(|| std::env::var_os("HERD_FUZZ_STRICT").is_some_and(|v| v == "1"))
    })
}

/// Runs `f` with open bugs treated as crashes on this thread.
pub fn strictly<R>(f: impl FnOnce() -> R) -> R {
    let before = STRICT.replace(Some(true));
    let result = f();
    STRICT.set(before);
    result
}

/// An input hit the open bug `name` (and, so far, nothing else): a crash when strict.
pub fn open_bug(name: &str, details: std::fmt::Arguments<'_>) {
    assert!(
        OPEN_BUGS.iter().any(|(known, _)| *known == name),
        "open_bug({name:?}) is not listed in OPEN_BUGS"
    );
    if strict() {
        panic!("open bug {name}: {details}");
    }
    thread_local! {
        static SEEN: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SEEN.with_borrow_mut(|seen| {
        if !seen.iter().any(|s| s == name) {
            seen.push(name.to_string());
            eprintln!("herd-fuzz: hit open bug {name} (let through; first time here): {details}");
        }
    });
}
