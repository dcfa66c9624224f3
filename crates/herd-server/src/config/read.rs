//! Step one of loading: the TOML text into a [`ConfigFile`]. Only types and spellings are
//! checked here; a value of the wrong kind becomes a [`ConfigError`] naming the field (its
//! path, e.g. `servers[0].colour`), the line it is on, and what the field expects.

use serde::Deserialize;

use super::error::line_at;
use super::locate;
use super::sections::ConfigFile;
use super::ConfigError;

/// Deserializes `text`; `file` names it in errors.
///
/// # Errors
/// A [`ConfigError`] when the text is not TOML, has a key no section knows, or a value that
/// does not fit its field.
pub(crate) fn read(text: &str, file: &str) -> Result<ConfigFile, ConfigError> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
        let path = e.path().to_string();
        let error = e.into_inner();
        let written = error.span().and_then(|span| text.get(span));
        // The document's root is the only field a syntax error can be blamed on.
        let field = if path == "." {
            "(toml)".to_owned()
        } else {
            path
        };
        let problem = written
            .and_then(|value| reworded(&field, value))
            .unwrap_or_else(|| error.message().trim().to_owned());
        let line = match error.span() {
            Some(span) => Some(line_at(text, span.start)),
            None => locate::line_of(text, &field),
        };
        ConfigError {
            file: file.to_owned(),
            line,
            field,
            problem,
        }
    })
}

/// Our own words for the fields whose serde message would not say plainly what they accept,
/// when the value `written` there (as in the file, quotes included) is a string.
fn reworded(field: &str, written: &str) -> Option<String> {
    let word = String::deserialize(toml::de::ValueDeserializer::new(written)).ok()?;
    Some(match field {
        "places.provider" => format!(
            "unknown provider \"{word}\" (expected \"offline\", \"google\" or \"google-legacy\")"
        ),
        "storage.fsync" => {
            format!("unknown policy \"{word}\" (expected \"always\", \"batch\" or \"never\")")
        }
        "places.timeout"
        | "places.cache_ttl"
        | "storage.forget_after"
        | "herd.max_clock_ahead"
        | "herd.client_write_timeout"
        | "herd.client_idle_timeout"
        | "herd.shutdown_grace" => {
            // humantime-serde refused it; humantime says why.
            let why = humantime::parse_duration(&word).err()?;
            format!("\"{word}\" is not a duration like \"5s\" or \"24h\" ({why})")
        }
        _ => return None,
    })
}
