//! [`ConfigError`]: the one message a bad config gets.

use std::fmt;

/// A config that could not be read or does not describe a working herd.
///
/// Shown as one line, `FILE:LINE: FIELD: PROBLEM` (or `FILE: FIELD: PROBLEM` when the field is
/// not written in the file, e.g. a default or a missing section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file it came from (`<built-in>` for the default).
    pub file: String,
    /// The line of the file where the field is written (1-based), when it is written at all.
    pub line: Option<usize>,
    /// The field at fault, e.g. `servers[2].neighbours`.
    pub field: String,
    /// What was wrong and what was expected.
    pub problem: String,
}

impl ConfigError {
    /// A problem with `field` of `file`, its line not yet known.
    pub(crate) fn new(file: &str, field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            line: None,
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.problem),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.problem),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}
