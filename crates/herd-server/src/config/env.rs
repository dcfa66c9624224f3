//! The one place the config reads the process environment: the variables that
//! `places.api_key_env`, `herd.secret_env`, `herd.previous_secret_env` and
//! `herd.api_token_env` name.

use super::sections::ConfigFile;

/// What the environment holds for a config, read once when it is loaded, so that checking a
/// config is a function of the file and this alone (and tests need not set variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Env {
    /// Whether the variable `places.api_key_env` names is set (a Google provider needs it).
    pub api_key_set: bool,
    /// The value of the variable `herd.secret_env` names: `None` when it is not set (or no
    /// variable is named); its bytes as they are otherwise, empty included.
    pub secret: Option<Vec<u8>>,
    /// The value of the variable `herd.previous_secret_env` names, likewise.
    pub previous_secret: Option<Vec<u8>>,
    /// The value of the variable `herd.api_token_env` names, likewise.
    pub api_token: Option<Vec<u8>>,
}

impl Env {
    /// Looks up the variables `written` names.
    pub(crate) fn read(written: &ConfigFile) -> Env {
        // The bytes of the variable `name` names, if it names one and it is set.
        let bytes = |name: &Option<String>| {
            name.as_ref()
                .and_then(std::env::var_os)
                .map(std::ffi::OsString::into_encoded_bytes)
        };
        Env {
            api_key_set: std::env::var_os(&written.places.api_key_env).is_some(),
            secret: bytes(&written.herd.secret_env),
            previous_secret: bytes(&written.herd.previous_secret_env),
            api_token: bytes(&written.herd.api_token_env),
        }
    }
}
