//! The one place the config reads the process environment: the variables that
//! `places.api_key_env` and `herd.secret_env` name.

use super::sections::ConfigFile;
use super::HerdConfig;

/// What the environment holds for a config, read once when it is loaded, so that checking a
/// config is a function of the file and this alone (and tests need not set variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Env {
    /// Whether the variable `places.api_key_env` names is set (a Google provider needs it).
    pub api_key_set: bool,
}

impl Env {
    /// Looks up the variables `written` names.
    pub(crate) fn read(written: &ConfigFile) -> Env {
        Env {
            api_key_set: std::env::var_os(&written.places.api_key_env).is_some(),
        }
    }
}

impl HerdConfig {
    /// The shared secret servers prove to each other: the value of the variable `secret_env`
    /// names, when that is set and not empty.
    pub fn secret(&self) -> Option<String> {
        let name = self.secret_env.as_ref()?;
        std::env::var(name).ok().filter(|s| !s.is_empty())
    }
}
