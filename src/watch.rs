//! `herd watch TARGET`: follows a server's `GET /events` (Server-Sent Events) and prints one
//! line per event, or its JSON with `--json`.
//!
//! A filter (`--client ID`, `--near LAT,LNG,KM`) is sent as the query parameters the server
//! understands (`?client=ID`, `?near=LAT,LNG&radius_km=KM`) and applied here too, so it holds
//! against a server that ignores them. Filters narrow `location` events only; `link`,
//! `forgot` and `lagged` events are always shown. A dropped stream is dialed again with a
//! backoff; Ctrl-C ends the command with exit code 0.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use herd_server::config::Config;
use serde_json::Value;

use crate::UsageError;

/// The mean Earth radius the server's `near` uses, in kilometres.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// The first wait before dialing a dropped stream again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest wait between two dials.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long a dial may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a stream may stay silent: the server sends a keep-alive every 15 s, so a stream
/// silent for longer is a server that hangs or a path that broke without a word.
const SILENCE: Duration = Duration::from_secs(60);

/// The most bytes of one event kept while waiting for its end: a stream that sends more
/// without ending an event is dropped and dialed again.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Which `location` events to show.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Every event.
    All,
    /// Only the records of this client.
    Client(String),
    /// Only the records within `km` kilometres of a position.
    Near {
        /// Latitude in degrees.
        lat: f64,
        /// Longitude in degrees.
        lng: f64,
        /// Radius in kilometres.
        km: f64,
    },
}

impl Filter {
    /// The filter of the command line's `--client` and `--near` (clap keeps them apart).
    ///
    /// # Errors
    /// `--near` is not `LAT,LNG,KM` with a valid position and a radius above 0.
    pub fn from_args(client: Option<String>, near: Option<&str>) -> Result<Filter, UsageError> {
        match (client, near) {
            (Some(id), _) => Ok(Filter::Client(id)),
            (None, Some(near)) => parse_near(near),
            (None, None) => Ok(Filter::All),
        }
    }

    /// The query parameters that ask the server for this filter.
    fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            Filter::All => Vec::new(),
            Filter::Client(id) => vec![("client", id.clone())],
            Filter::Near { lat, lng, km } => {
                vec![
                    ("near", format!("{lat},{lng}")),
                    ("radius_km", km.to_string()),
                ]
            }
        }
    }

    /// Whether an event of kind `event` with JSON `data` is shown.
    fn admits(&self, event: &str, data: &Value) -> bool {
        if event == "forget" {
            // A forgotten client has no position: narrowed by client only.
            return match self {
                Filter::Client(id) => data["client"].as_str() == Some(id),
                _ => true,
            };
        }
        if event != "location" {
            return true;
        }
        match self {
            Filter::All => true,
            Filter::Client(id) => data["client"].as_str() == Some(id),
            Filter::Near { lat, lng, km } => match (data["lat"].as_f64(), data["lng"].as_f64()) {
                (Some(a), Some(b)) => distance_km(*lat, *lng, a, b) <= *km,
                _ => false,
            },
        }
    }
}

/// Parses `LAT,LNG,KM`.
fn parse_near(text: &str) -> Result<Filter, UsageError> {
    let bad = |why: &str| {
        UsageError(format!(
            "--near {text:?}: {why} (expected LAT,LNG,KM, e.g. 34.07,-118.44,10)"
        ))
    };
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [lat, lng, km] = parts.as_slice() else {
        return Err(bad("not three numbers"));
    };
    let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    let (Some(lat), Some(lng), Some(km)) = (number(lat), number(lng), number(km)) else {
        return Err(bad("not three numbers"));
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
        return Err(bad("latitude -90 to 90, longitude -180 to 180"));
    }
    if km <= 0.0 {
        return Err(bad("the radius must be above 0 km"));
    }
    Ok(Filter::Near { lat, lng, km })
}

/// Great-circle distance in kilometres (haversine).
fn distance_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The HTTP address of `target`: a server of `config` (its `http`), or `HOST:PORT`.
///
/// # Errors
/// A usage error when `target` is neither, or names a server without `http`.
pub async fn http_addr(target: &str, config: &Config) -> Result<SocketAddr, UsageError> {
    if let Some(server) = config.server(target) {
        return server.http.ok_or_else(|| {
            UsageError(format!(
                "{}: server \"{target}\" has no `http` address to ask",
                config.source
            ))
        });
    }
    if let Some(addr) = crate::host_port(target).await {
        return Ok(addr);
    }
    Err(UsageError(format!(
        "\"{target}\" is neither a server of {} ({}) nor the HOST:PORT of an HTTP listener",
        config.source,
        config.names().join(", ")
    )))
}

/// Splits a byte stream into Server-Sent Events.
#[derive(Default)]
struct EventReader {
    /// Bytes of a line not ended yet.
    partial: Vec<u8>,
    /// The `event:` field of the event being read.
    event: String,
    /// The `data:` lines of the event being read, joined by newlines.
    data: String,
}

impl EventReader {
    /// Feeds `bytes` and returns the events they complete, as (event, data).
    ///
    /// # Errors
    /// One event grew past [`MAX_EVENT_BYTES`].
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
        let mut done = Vec::new();
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.partial.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if !self.data.is_empty() || !self.event.is_empty() {
                    let event = std::mem::take(&mut self.event);
                    let event = if event.is_empty() {
                        "message".to_string()
                    } else {
                        event
                    };
                    done.push((event, std::mem::take(&mut self.data)));
                }
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (&*line, ""),
            };
            match field {
                "event" => self.event = value.to_string(),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                // Comments (keep-alives), `id`, `retry`: nothing to show.
                _ => {}
            }
        }
        if self.partial.len() + self.data.len() > MAX_EVENT_BYTES {
            return Err(format!("an event longer than {MAX_EVENT_BYTES} bytes"));
        }
        Ok(done)
    }
}

/// The line shown for one event of server `server`.
fn readable(server: &str, event: &str, data: &Value, raw: &str) -> String {
    let text = |key: &str| data[key].as_str().unwrap_or("?").to_string();
    match event {
        "location" => format!(
            "location {} {} from {} at {}",
            text("client"),
            text("location"),
            text("origin"),
            text("time")
        ),
        "link" => format!(
            "link {server}-{} {}",
            text("peer"),
            if data["up"].as_bool() == Some(true) {
                "up"
            } else {
                "down"
            }
        ),
        "forget" => format!(
            "forget {} (as of {}) by {}",
            text("client"),
            text("time"),
            text("origin")
        ),
        "forgot" => "forgot: clients were forgotten by age".to_string(),
        "lagged" => format!(
            "lagged: {} events were skipped (this watch fell behind)",
            data["missed"]
        ),
        other => format!("{other} {raw}"),
    }
}

/// Follows the events of `target` until Ctrl-C.
///
/// # Errors
/// `target` or the filter is a usage error. A stream that drops is dialed again, not an error.
pub async fn run(target: &str, config: &Config, filter: Filter, json: bool) -> anyhow::Result<()> {
    let addr = http_addr(target, config).await?;
    tokio::select! {
        r = follow(target, addr, &filter, json) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Dials `addr` again and again, printing its events.
async fn follow(target: &str, addr: SocketAddr, filter: &Filter, json: bool) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()?;
    let mut url = reqwest::Url::parse(&format!("http://{addr}/events"))?;
    if !matches!(filter, Filter::All) {
        url.query_pairs_mut().extend_pairs(filter.query());
    }
    let mut backoff = FIRST_BACKOFF;
    loop {
        // The server's own name, for `link A-B` lines (the event names only the peer).
        let server = server_name(&client, addr)
            .await
            .unwrap_or_else(|| target.to_string());
        let why = match client.get(url.clone()).send().await {
            Ok(answer) if answer.status().is_success() => {
                backoff = FIRST_BACKOFF;
                stream(answer, &server, filter, json).await
            }
            Ok(answer) => format!("{url} answered {}", answer.status()),
            Err(e) => format!("cannot reach {url}: {e}"),
        };
        crate::logging::warn(&format!(
            "watch: {why}; trying again in {}",
            humantime::format_duration(backoff)
        ));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `"server"` of `addr`'s `/api/status`.
async fn server_name(client: &reqwest::Client, addr: SocketAddr) -> Option<String> {
    let answer = client
        .get(format!("http://{addr}/api/status"))
        .timeout(CONNECT_TIMEOUT)
        .send()
        .await
        .ok()?;
    let status: Value = answer.json().await.ok()?;
    status["server"].as_str().map(str::to_string)
}

/// Prints the events of one answer until it ends; returns why it ended.
async fn stream(
    mut answer: reqwest::Response,
    server: &str,
    filter: &Filter,
    json: bool,
) -> String {
    let mut reader = EventReader::default();
    loop {
        let chunk = match tokio::time::timeout(SILENCE, answer.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return "the server ended the stream".to_string(),
            Ok(Err(e)) => return format!("the stream broke: {e}"),
            Err(_) => return format!("nothing came for {}", humantime::format_duration(SILENCE)),
        };
        let events = match reader.feed(&chunk) {
            Ok(events) => events,
            Err(e) => return e,
        };
        let mut out = std::io::stdout().lock();
        for (event, raw) in events {
            let data: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
            if !filter.admits(&event, &data) {
                continue;
            }
            let line = if json {
                raw.replace('\n', " ")
            } else {
                readable(server, &event, &data, &raw)
            };
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                // Nobody reads our output any more (a closed pipe): nothing left to do.
                std::process::exit(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_parses_and_rejects_with_the_reason() {
        assert_eq!(
            parse_near("34.07,-118.44,10").unwrap(),
            Filter::Near {
                lat: 34.07,
                lng: -118.44,
                km: 10.0
            }
        );
        for bad in [
            "", "1,2", "a,b,c", "1,2,3,4", "91,0,1", "0,181,1", "0,0,0", "0,0,-1", "0,0,inf",
        ] {
            let e = parse_near(bad).unwrap_err().0;
            assert!(e.starts_with("--near "), "{e}");
        }
    }

    #[test]
    fn filters_narrow_location_events_only() {
        let kiwi = serde_json::json!({"client": "kiwi", "lat": 34.0689, "lng": -118.4451});
        let link = serde_json::json!({"peer": "Bona", "up": true});
        let client = Filter::Client("kiwi".into());
        assert!(client.admits("location", &kiwi));
        assert!(!Filter::Client("emu".into()).admits("location", &kiwi));
        assert!(Filter::Client("emu".into()).admits("link", &link));
        let ucla = Filter::Near {
            lat: 34.07,
            lng: -118.44,
            km: 5.0,
        };
        assert!(ucla.admits("location", &kiwi));
        let sydney = Filter::Near {
            lat: -33.86,
            lng: 151.2,
            km: 100.0,
        };
        assert!(!sydney.admits("location", &kiwi));
    }

    #[test]
    fn reads_events_split_anywhere() {
        let text =
            ": keep-alive\n\nevent: location\ndata: {\"a\":1}\n\nevent: link\r\ndata: {}\r\n\r\n";
        for cut in 0..text.len() {
            let mut r = EventReader::default();
            let mut events = r.feed(&text.as_bytes()[..cut]).unwrap();
            events.extend(r.feed(&text.as_bytes()[cut..]).unwrap());
            assert_eq!(
                events,
                [
                    ("location".to_string(), "{\"a\":1}".to_string()),
                    ("link".to_string(), "{}".to_string())
                ]
            );
        }
    }

    #[test]
    fn readable_lines() {
        let record = serde_json::json!({
            "client": "kiwi.cs.ucla.edu", "origin": "Hill",
            "location": "+34.068930-118.445127", "time": "1621464827.959498503"
        });
        assert_eq!(
            readable("Clark", "location", &record, ""),
            "location kiwi.cs.ucla.edu +34.068930-118.445127 from Hill at 1621464827.959498503"
        );
        let link = serde_json::json!({"peer": "Jaquez", "up": true});
        assert_eq!(readable("Hill", "link", &link, ""), "link Hill-Jaquez up");
    }
}
