//! `herd status [TARGET]`: asks `GET /api/status` of every server of the config (or of
//! TARGET) at once, each with a deadline, and prints a table (or the combined JSON): per
//! server ready/not ready/down, its clients, and each neighbour's link state and lag.
//!
//! A server that does not answer is a `down` row, and makes the exit code 1.

use std::net::SocketAddr;
use std::time::Duration;

use herd_server::config::Config;
use serde_json::{json, Value};

use crate::watch::http_addr;
use crate::UsageError;

/// What one server said.
struct Row {
    /// Its name in the config, or the address asked.
    name: String,
    /// Where it was asked; `None` when the config gives it no `http`.
    http: Option<SocketAddr>,
    /// Its status JSON (`ready` false for a 503 while it loads or stops), or why it did not
    /// answer.
    answer: Result<Value, String>,
}

impl Row {
    /// The server answered nothing (a server without `http` is not counted as down).
    fn down(&self) -> bool {
        self.http.is_some() && self.answer.is_err()
    }

    /// `ready`, `not ready (why)`, `down` or `no http`.
    fn state(&self) -> String {
        match (&self.http, &self.answer) {
            (None, _) => "no http".to_string(),
            (_, Err(_)) => "down".to_string(),
            (_, Ok(v)) if v["ready"].as_bool() == Some(true) => "ready".to_string(),
            (_, Ok(v)) => format!(
                "not ready ({})",
                v["reason"].as_str().unwrap_or("no reason given")
            ),
        }
    }

    /// How many clients its table holds, or `-`.
    fn clients(&self) -> String {
        match &self.answer {
            Ok(v) => v["clients"]
                .as_u64()
                .map_or("-".to_string(), |n| n.to_string()),
            Err(_) => "-".to_string(),
        }
    }

    /// `Bona up lag 0.0s, Jaquez down lag 12.3s`, or why the server did not answer.
    fn links(&self) -> String {
        match &self.answer {
            Ok(v) => {
                let links: Vec<String> = v["neighbours"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| {
                        format!(
                            "{} {} lag {:.1}s",
                            n["name"].as_str().unwrap_or("?"),
                            if n["up"].as_bool() == Some(true) {
                                "up"
                            } else {
                                "down"
                            },
                            n["lag_seconds"].as_f64().unwrap_or(0.0)
                        )
                    })
                    .collect();
                if links.is_empty() {
                    "-".to_string()
                } else {
                    links.join(", ")
                }
            }
            Err(why) => why.clone(),
        }
    }

    /// The row for `--json`: the server's own status JSON as it sent it, or the error.
    fn to_json(&self) -> Value {
        json!({
            "server": self.name,
            "http": self.http.map(|a| a.to_string()),
            "state": self.state(),
            "status": self.answer.as_ref().ok(),
            "error": self.answer.as_ref().err(),
        })
    }
}

/// Asks the servers and prints what they say.
///
/// # Errors
/// TARGET is neither a server nor `HOST:PORT` (a usage error), or a server is down (exit 1).
pub async fn run(
    target: Option<&str>,
    config: &Config,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let asked: Vec<(String, Option<SocketAddr>)> = match target {
        Some(t) => match config.server(t) {
            Some(s) => vec![(s.name.clone(), s.http)],
            None => vec![(t.to_string(), Some(http_addr(t, config).await?))],
        },
        None => config
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.http))
            .collect(),
    };
    if asked.iter().all(|(_, http)| http.is_none()) {
        return Err(UsageError(format!(
            "{}: no server to ask has an `http` address",
            config.source
        ))
        .into());
    }
    let client = reqwest::Client::builder().timeout(timeout).build()?;
    let tasks: Vec<_> = asked
        .into_iter()
        .map(|(name, http)| {
            let client = client.clone();
            tokio::spawn(async move {
                let answer = match http {
                    Some(addr) => ask(&client, addr).await,
                    None => Err("no `http` in the config".to_string()),
                };
                Row { name, http, answer }
            })
        })
        .collect();
    let mut rows = Vec::with_capacity(tasks.len());
    for task in tasks {
        rows.push(task.await?);
    }
    if json {
        let servers: Vec<Value> = rows.iter().map(Row::to_json).collect();
        println!("{}", json!({ "servers": servers }));
    } else {
        print!("{}", table(&rows));
    }
    let down: Vec<&str> = rows
        .iter()
        .filter(|r| r.down())
        .map(|r| r.name.as_str())
        .collect();
    if down.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("down: {}", down.join(", "))
    }
}

/// `/api/status` of `addr`: the JSON of a 200 or of a 503 (not ready), else why not.
async fn ask(client: &reqwest::Client, addr: SocketAddr) -> Result<Value, String> {
    let url = format!("http://{addr}/api/status");
    let answer = client.get(&url).send().await.map_err(|e| {
        if e.is_timeout() {
            format!("{addr}: no answer in time")
        } else if e.is_connect() {
            format!("{addr}: cannot connect")
        } else {
            format!("{addr}: {e}")
        }
    })?;
    let code = answer.status();
    let body: Value = answer
        .json()
        .await
        .map_err(|e| format!("{addr}: {code}: not JSON: {e}"))?;
    if code.is_success() || code == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        Ok(body)
    } else {
        Err(format!("{addr}: {code}"))
    }
}

/// The rows as aligned columns.
fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| [r.name.clone(), r.state(), r.clients(), r.links()])
        .collect();
    let head = ["SERVER", "STATE", "CLIENTS", "LINKS"];
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].len())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = format!(
        "{:<w0$}  {:<w1$}  {:>w2$}  {}\n",
        head[0], head[1], head[2], head[3]
    );
    for c in &cells {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {}\n",
            c[0], c[1], c[2], c[3]
        ));
    }
    out
}
