//! Diagnostics on stderr: `--log-format text` (the default, as it always was) or `json` (one
//! JSON object per line, for log collectors), for the tracing events of the servers and for the
//! command's own notices and errors.

use std::sync::OnceLock;

use clap::ValueEnum;

/// How diagnostics are written on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, `target`).
    Json,
}

/// The format chosen at start-up (text until [`init`] ran).
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the tracing subscriber for `format` (the filter comes from `RUST_LOG`, else
/// `herd=info`).
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "herd=info".into());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Whether diagnostics are JSON.
fn json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// One diagnostic line in the shape of the tracing JSON lines. Written directly, so that a
/// `RUST_LOG` that silences `herd` never hides why the command failed.
fn json_line(level: &str, message: &str) {
    let line = serde_json::json!({
        "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
        "level": level,
        "fields": { "message": message },
        "target": "herd",
    });
    eprintln!("{line}");
}

/// A notice for the user on stderr (a server says where it listens): the line itself as
/// text, an `INFO` line as JSON.
pub fn notice(message: &str) {
    if json() {
        json_line("INFO", message);
    } else {
        eprintln!("{message}");
    }
}

/// A problem the command gets over (a stream that drops and is dialed again): `herd: message`
/// as text, a `WARN` line as JSON.
pub fn warn(message: &str) {
    problem("WARN", message);
}

/// The error that ends the command: `herd: message` as text, an `ERROR` line as JSON.
pub fn fatal(message: &str) {
    problem("ERROR", message);
}

/// `herd: message` as text, a line of `level` as JSON.
fn problem(level: &str, message: &str) {
    if json() {
        json_line(level, message);
    } else {
        eprintln!("herd: {message}");
    }
}
