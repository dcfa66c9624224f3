//! How a store syncs and when it wants compacting.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// When appended records are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// `append` returns only after its record is fsynced (one fsync per batch of appends).
    Always,
    /// `append` returns once queued; the writer starts an fsync at most 10 ms after a write,
    /// so a crash loses at most the last ~10 ms of appends (plus one fsync's duration).
    #[default]
    Batch,
    /// Syncing is left to the operating system (and to `close` and compaction).
    Never,
}

impl fmt::Display for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fsync::Always => "always",
            Fsync::Batch => "batch",
            Fsync::Never => "never",
        })
    }
}

/// A word that is not an fsync mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fsync mode {0:?}: expected \"always\", \"batch\" or \"never\"")]
pub struct UnknownFsync(pub String);

impl FromStr for Fsync {
    type Err = UnknownFsync;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(Fsync::Always),
            "batch" => Ok(Fsync::Batch),
            "never" => Ok(Fsync::Never),
            other => Err(UnknownFsync(other.to_owned())),
        }
    }
}

/// When [`Store::needs_compaction`](super::Store::needs_compaction) says yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Compact when the log is more than this many times the live data.
    pub ratio: u64,
    /// Never compact a log smaller than this many bytes.
    pub min_file_bytes: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            ratio: 4,
            min_file_bytes: 1 << 20,
        }
    }
}

impl CompactionPolicy {
    /// Whether a log of `file_bytes` holding `live_bytes` of live records should be compacted.
    #[must_use]
    pub fn wants(&self, file_bytes: u64, live_bytes: u64) -> bool {
        file_bytes >= self.min_file_bytes && file_bytes > live_bytes.saturating_mul(self.ratio)
    }
}

/// Everything [`Store::open_with`](super::Store::open_with) needs besides the directory.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// When appends are fsynced.
    pub fsync: Fsync,
    /// When compaction is advised.
    pub compaction: CompactionPolicy,
    /// Appends that may wait for the writer before `append` itself waits (backpressure).
    pub queue_capacity: usize,
    /// Decides, at replay, whether a later record of a key replaces the one kept so far. The
    /// default keeps the last appended; a caller whose appends for one key may reach the log
    /// out of order (newer-wins decided elsewhere) passes its own order here.
    pub supersedes: Supersedes,
}

/// `supersedes(later, kept)`: true when the `later` payload of a key replaces the `kept` one.
pub type Supersedes = fn(later: &[u8], kept: &[u8]) -> bool;

/// The default order: the last append wins.
fn last_append_wins(_later: &[u8], _kept: &[u8]) -> bool {
    true
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            fsync: Fsync::default(),
            compaction: CompactionPolicy::default(),
            queue_capacity: 4096,
            supersedes: last_append_wins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_from_words() {
        #[derive(Deserialize)]
        struct Section {
            fsync: Fsync,
        }
        let s: Section = toml::from_str("fsync = \"always\"").unwrap();
        assert_eq!(s.fsync, Fsync::Always);
        assert!(toml::from_str::<Section>("fsync = \"sometimes\"").is_err());
        assert_eq!("never".parse::<Fsync>(), Ok(Fsync::Never));
        assert_eq!(Fsync::Batch.to_string(), "batch");
    }

    #[test]
    fn policy() {
        let p = CompactionPolicy::default();
        assert!(!p.wants(500_000, 1), "small logs are left alone");
        assert!(p.wants(5 << 20, 1 << 20));
        assert!(!p.wants(4 << 20, 1 << 20));
    }
}
