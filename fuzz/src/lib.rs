//! The bodies of the herd's fuzz targets, one plain function per target.
//!
//! Each `fuzz_targets/NAME.rs` is a three-line libFuzzer wrapper around the function `NAME`
//! here, and `tests/fuzz_corpus.rs` (root package) includes this file with `#[path]` to replay
//! every committed corpus and regression input through the same functions without
//! instrumentation. So nothing here may depend on libFuzzer, and every child module is named
//! with an explicit `#[path]` (it then resolves the same way in both builds).
//!
//! A body panics when the code under test breaks one of its invariants (libFuzzer reports the
//! panic as a crash and saves the input); it returns normally for every input the code handles
//! as it should, refusals included. A tour:
//! - [`client_lines`]: the client line framer, the command parser, the `?` answers, and the
//!   record an accepted IAMAT becomes.
//! - [`peer_wire`]: the lines neighbours trade: records, watermarks, keep-alives.
//! - [`handshake`]: HELLO lines and the HMAC proofs, as pure functions.
//! - [`handshake_io`]: the real acceptor and dialer reading a fuzzed PROOF or WELCOME line
//!   over a loopback socket (the only way to reach the code that parses them).
//! - [`store_frames`]: the store's frame decoder, frame search and header check.
//! - [`store_recover`]: a fuzzed `records.log` opened by the real store, then repaired and
//!   opened again, checked against a model built from the pure frame functions.
#![forbid(unsafe_code)]

#[path = "client.rs"]
mod client;
#[path = "handshake.rs"]
mod handshake_targets;
#[path = "known.rs"]
pub mod known;
#[path = "peer.rs"]
mod peer;
#[path = "store.rs"]
mod store;

// The product's handshake module, compiled here as it is. Depending on herd-server instead
// would instrument (and build, in CI) the places providers' HTTP and TLS stack too, for one
// file that needs only herd-core, tokio and the HMAC crates. If that file ever uses other
// herd-server modules, switch this to a herd-server dependency.
#[path = "../../crates/herd-server/src/peer/handshake.rs"]
#[allow(dead_code)]
mod herd_handshake;

pub use client::client_lines;
pub use handshake_targets::{handshake, handshake_io};
pub use peer::peer_wire;
pub use store::{store_frames, store_recover};

/// A target body: panics when an invariant breaks.
pub type Body = fn(&[u8]);

/// Every target by name, for replaying corpora (`tests/fuzz_corpus.rs`).
pub const TARGETS: &[(&str, Body)] = &[
    ("client_lines", client_lines),
    ("peer_wire", peer_wire),
    ("handshake", handshake),
    ("handshake_io", handshake_io),
    ("store_frames", store_frames),
    ("store_recover", store_recover),
];

/// True when `part` lies inside `whole` (same memory), i.e. it was sliced out of it.
fn is_slice_of(part: &[u8], whole: &[u8]) -> bool {
    let (start, end) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    start >= end && start + part.len() <= end + whole.len()
}

/// A small deterministic generator (xorshift64*), for chunk sizes and the like.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `1..=max` (`max` >= 1).
    fn upto(&mut self, max: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        1 + (x % max as u64) as usize
    }
}
