//! `herd client TARGET` on a terminal: a prompt with line editing, history kept across runs,
//! tab completion of the command words and of the client ids seen, and the server's answers
//! printed as they arrive (above the prompt, which is redrawn).
//!
//! Two threads: this one edits lines and writes them to the socket; a reader prints what the
//! server sends through rustyline's external printer. Ctrl-D and Ctrl-C end the session (exit
//! 0); a connection the server lost ends it with one line and exit 1, even while a line is
//! being edited.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Editor, ExternalPrinter as _, Helper, Highlighter, Hinter, Validator};

/// The command words a client may send.
const COMMANDS: [&str; 2] = ["IAMAT", "WHATSAT"];

/// The most client ids the session remembers for completion (the oldest seen go first).
const MAX_SEEN: usize = 10_000;

/// How many lines the history file keeps.
const HISTORY_LINES: usize = 1000;

/// The client ids this session saw, in the lines typed and in the answers.
type Seen = Arc<Mutex<BTreeSet<String>>>;

/// Completes the first word to a command word and the second to a client id seen.
#[derive(Helper, Highlighter, Hinter, Validator)]
struct LineHelper {
    /// Client ids for the second word.
    seen: Seen,
}

impl Completer for LineHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let word = &before[start..];
        let index = before[..start].split_whitespace().count();
        let candidates: Vec<String> = match index {
            0 => COMMANDS
                .iter()
                .filter(|c| c.starts_with(&word.to_ascii_uppercase()))
                .map(|c| format!("{c} "))
                .collect(),
            1 => {
                let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.iter()
                    .filter(|id| id.starts_with(word))
                    .map(|id| format!("{id} "))
                    .collect()
            }
            _ => Vec::new(),
        };
        let pairs = candidates
            .into_iter()
            .map(|c| Pair {
                display: c.trim_end().to_string(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

/// Remembers the client id of an `IAMAT`/`WHATSAT` line typed or an `AT` line received.
fn remember(seen: &Seen, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let id = match words.as_slice() {
        ["IAMAT" | "WHATSAT", id, ..] => *id,
        ["AT", _, _, id, ..] => *id,
        _ => return,
    };
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    if seen.len() < MAX_SEEN {
        seen.insert(id.to_string());
    }
}

/// Where the history lives: `$XDG_STATE_HOME/herd/history`, else
/// `~/.local/state/herd/history`; `None` (no history file) when neither can be made.
fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".local").join("state"))
        })?;
    let dir = state.join("herd");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

/// The terminal's settings before the editor changed them, to put back when the connection is
/// lost while a line is being edited.
#[cfg(unix)]
struct TerminalState(Option<nix::sys::termios::Termios>);

#[cfg(unix)]
impl TerminalState {
    /// The settings now (none when stdin is not a terminal).
    fn save() -> TerminalState {
        TerminalState(nix::sys::termios::tcgetattr(std::io::stdin()).ok())
    }

    /// Puts the saved settings back.
    fn restore(&self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

#[cfg(not(unix))]
struct TerminalState;

#[cfg(not(unix))]
impl TerminalState {
    fn save() -> TerminalState {
        TerminalState
    }

    fn restore(&self) {}
}

/// Runs the session with the server at `addr`, named `target` in the prompt. On Ctrl-D or
/// Ctrl-C it half-closes and prints the answers still coming for up to `drain`.
///
/// # Errors
/// The connection could not be made or the terminal could not be used. A connection lost
/// during the session ends the process with exit code 1 (after one line on stderr).
pub fn run(addr: SocketAddr, target: &str, drain: Duration) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    let seen: Seen = Arc::default();
    let config = rustyline::Config::builder()
        .max_history_size(HISTORY_LINES)?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<LineHelper, FileHistory> =
        Editor::with_config(config).context("opening the terminal")?;
    editor.set_helper(Some(LineHelper { seen: seen.clone() }));
    let mut history = history_path();
    if let Some(path) = &history {
        // A missing or unreadable file is an empty history, never an error.
        let _ = editor.load_history(path);
    }
    let mut printer = editor.create_external_printer().ok();
    let terminal = TerminalState::save();

    let closing = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let reader = {
        let stream = stream.try_clone().context("cloning the socket")?;
        let closing = closing.clone();
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stream);
            let mut line = Vec::new();
            let ended = loop {
                line.clear();
                match lines.read_until(b'\n', &mut line) {
                    Ok(0) => break "the server closed the connection".to_string(),
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        remember(&seen, &text);
                        match printer.as_mut() {
                            Some(p) => {
                                let _ = p.print(text);
                            }
                            None => {
                                let mut out = std::io::stdout().lock();
                                let _ = out.write_all(&line);
                                let _ = out.flush();
                            }
                        }
                    }
                    Err(e) => break format!("lost the connection: {e}"),
                }
            };
            if closing.load(Ordering::SeqCst) {
                let _ = done_tx.send(());
                return;
            }
            // The editor may be waiting for a key in raw mode: put the terminal back, say why,
            // and end here (the history is written line by line, so nothing is lost).
            terminal.restore();
            println!();
            crate::logging::fatal(&format!("{addr}: {ended}"));
            std::process::exit(1);
        })
    };

    let prompt = format!("{target}> ");
    let mut writer = stream;
    loop {
        match editor.readline(&prompt) {
            Ok(line) => {
                remember(&seen, &line);
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(path) = &history {
                        if editor.append_history(path).is_err() {
                            history = None;
                        }
                    }
                }
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                if writer.write_all(&bytes).is_err() {
                    // The reader sees the same loss and ends the process with its message.
                    let _ = done_rx.recv_timeout(drain);
                    anyhow::bail!("{addr}: lost the connection");
                }
            }
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => break,
            Err(e) => return Err(e).context("reading the terminal"),
        }
    }
    closing.store(true, Ordering::SeqCst);
    let _ = writer.shutdown(Shutdown::Write);
    if done_rx.recv_timeout(drain).is_err() {
        let _ = writer.shutdown(Shutdown::Both);
    }
    // The reader is either done or blocked on a socket shut down both ways: it ends with us.
    drop(reader);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(seen: &[&str], line: &str) -> Vec<String> {
        let helper = LineHelper {
            seen: Arc::new(Mutex::new(seen.iter().map(|s| s.to_string()).collect())),
        };
        let history = FileHistory::new();
        let ctx = rustyline::Context::new(&history);
        let (_, pairs) = helper.complete(line, line.len(), &ctx).unwrap();
        pairs.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn completes_command_words_then_client_ids() {
        assert_eq!(complete(&[], "WHA"), ["WHATSAT "]);
        assert_eq!(complete(&[], "i"), ["IAMAT "]);
        assert_eq!(complete(&[], ""), ["IAMAT ", "WHATSAT "]);
        assert_eq!(
            complete(&["kiwi", "kea", "emu"], "WHATSAT k"),
            ["kea ", "kiwi "]
        );
        assert!(complete(&["kiwi"], "WHATSAT kiwi 1").is_empty());
    }

    #[test]
    fn remembers_ids_of_typed_lines_and_answers() {
        let seen = Seen::default();
        remember(&seen, "IAMAT kiwi +1+1 1");
        remember(&seen, "AT Clark +0.1 emu +1+1 1\n");
        remember(&seen, "? FOO bar");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.iter().collect::<Vec<_>>(), ["emu", "kiwi"]);
    }
}
