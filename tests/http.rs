//! The HTTP side of real `herd serve` processes, over real sockets: health, the JSON API,
//! Prometheus metrics (checked by `promtool` when it is installed), live events, and the
//! `http` config field.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::herd::{ask, DEADLINE, TOPOLOGY_2023};
use support::procs::{config_check, free_addr, http, ProcHerd};

/// GETs `url`: the status and the body.
async fn get(url: &str) -> (u16, String) {
    let answer = http().get(url).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// GETs `url` as JSON, expecting 200.
async fn get_json(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits until every server of `herd` is ready and has all its links up.
async fn ready_with_links(herd: &ProcHerd, names: &[&str]) {
    let start = Instant::now();
    for name in names {
        let base = format!("http://{}", herd.http_addr(name));
        loop {
            assert!(start.elapsed() < DEADLINE, "{name} not ready with links");
            let (code, _) = get(&format!("{base}/readyz")).await;
            if code == 200 {
                let status = get_json(&format!("{base}/api/status")).await;
                let links = status["neighbours"].as_array().unwrap();
                if links.iter().all(|l| l["up"] == true) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of the sample `name` (with its labels, as written) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_metrics_tell_what_the_herd_holds() {
    let mut herd = ProcHerd::with_http(TOPOLOGY_2023, "");
    herd.start_all();
    let names: Vec<&str> = TOPOLOGY_2023.iter().map(|(n, _)| *n).collect();
    ready_with_links(&herd, &names).await;
    let bailey = format!("http://{}", herd.http_addr("Bailey"));
    let jaquez = format!("http://{}", herd.http_addr("Jaquez"));

    let (code, body) = get(&format!("{bailey}/livez")).await;
    assert_eq!((code, body.trim()), (200, "ok"));

    let answer = ask(
        herd.addr("Bailey"),
        &[
            "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
            "IAMAT near.kiwi +34.07-118.44 1621464827",
            "IAMAT far.away -33.86+151.20 1621464827",
            "WHATSAT kiwi.cs.ucla.edu 10 2",
            "FOO bar",
        ],
    )
    .await;
    let at_line = answer.lines().next().unwrap().to_string();
    assert!(at_line.starts_with("AT Bailey "), "{answer}");

    // Jaquez is two hops away: it holds the record once the flood got there.
    let url = format!("{jaquez}/api/clients/kiwi.cs.ucla.edu");
    let start = Instant::now();
    let record = loop {
        let (code, body) = get(&url).await;
        if code == 200 {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert_eq!(code, 404, "{body}");
        assert!(
            start.elapsed() < DEADLINE,
            "the record never reached Jaquez"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(record["client"], "kiwi.cs.ucla.edu");
    assert_eq!(record["origin"], "Bailey");
    assert_eq!(record["location"], "+34.068930-118.445127");
    assert_eq!(record["time"], "1621464827.959498503");
    assert_eq!(record["at"], at_line.as_str());
    assert!((record["lat"].as_f64().unwrap() - 34.06893).abs() < 1e-9);
    assert!((record["lng"].as_f64().unwrap() + 118.445127).abs() < 1e-9);

    let (code, body) = get(&format!("{jaquez}/api/clients/nobody")).await;
    assert_eq!(code, 404, "{body}");
    let (code, _) = get(&format!("{bailey}/api/clients?near=91,0")).await;
    assert_eq!(code, 400);

    // Nearest first, within the radius, at most the limit (the index follows the table
    // within `nearby::SETTLE`: polled until it holds all three).
    let start = Instant::now();
    loop {
        let all = get_json(&format!("{bailey}/api/clients?near=0,0&limit=10")).await;
        if all["clients"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the index never held 3 clients: {all}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let near = get_json(&format!(
        "{bailey}/api/clients?near=34.0689,-118.4451&radius_km=100&limit=5"
    ))
    .await;
    let found: Vec<&str> = near["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["kiwi.cs.ucla.edu", "near.kiwi"]);
    let one = get_json(&format!("{bailey}/api/clients?near=-33.9,151.2&limit=1")).await;
    assert_eq!(one["clients"][0]["client"], "far.away");
    assert_eq!(one["clients"].as_array().unwrap().len(), 1);

    // Read-only: with no API token configured, a write is refused.
    let deleted = http()
        .delete(format!("{bailey}/api/clients/kiwi.cs.ucla.edu"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 405);
    assert_eq!(get(&url).await.0, 200);

    let status = get_json(&format!("{bailey}/api/status")).await;
    assert_eq!(status["server"], "Bailey");
    assert_eq!(status["address"], herd.addr("Bailey").to_string());
    assert_eq!(status["clients"], 3);
    assert_eq!(status["commands"]["IAMAT"], 3);
    assert_eq!(status["commands"]["WHATSAT"], 1);
    assert_eq!(status["commands"]["invalid"], 1);
    // A flooding herd: every link carries records whole, nothing is only announced.
    for link in status["neighbours"].as_array().unwrap() {
        assert_eq!(
            (&link["announced"], &link["lazy_origins"]),
            (&json!(0), &json!(0))
        );
    }
    let herd_view = get_json(&format!("{bailey}/api/herd")).await;
    let answering = herd_view["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"].is_object())
        .count();
    assert_eq!(answering, 5, "{herd_view}");

    let (code, metrics) = get(&format!("{bailey}/metrics")).await;
    assert_eq!(code, 200);
    assert_eq!(sample(&metrics, "herd_iamat_total"), Some(3.0), "{metrics}");
    assert_eq!(sample(&metrics, "herd_whatsat_total"), Some(1.0));
    assert_eq!(sample(&metrics, "herd_invalid_lines_total"), Some(1.0));
    assert_eq!(sample(&metrics, "herd_clients"), Some(3.0));
    assert_eq!(sample(&metrics, "herd_link_up{peer=\"Bona\"}"), Some(1.0));
    assert_eq!(
        sample(&metrics, "herd_link_lazy_origins{peer=\"Bona\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "herd_flood_announced_total{peer=\"Bona\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "herd_flood_sent_total{peer=\"Bona\"}"),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "herd_command_duration_seconds_count{command=\"IAMAT\"}"
        ),
        Some(3.0)
    );
    // Buckets are cumulative: the last one holds every observation, once.
    assert_eq!(
        sample(
            &metrics,
            "herd_command_duration_seconds_bucket{command=\"IAMAT\",le=\"+Inf\"}"
        ),
        Some(3.0)
    );
    assert_eq!(sample(&metrics, "herd_places_requests_total"), Some(1.0));
    let (_, jaquez_metrics) = get(&format!("{jaquez}/metrics")).await;
    let received: f64 = ["Campbell", "Clark"]
        .iter()
        .filter_map(|p| {
            sample(
                &jaquez_metrics,
                &format!("herd_flood_received_total{{peer=\"{p}\"}}"),
            )
        })
        .sum();
    assert!(received >= 3.0, "{jaquez_metrics}");
    promtool_accepts(&metrics);

    let openmetrics = http()
        .get(format!("{bailey}/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    let kind = openmetrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(openmetrics.text().await.unwrap().ends_with("# EOF\n"));
}

/// Checks `metrics` with `promtool check metrics`; says so and returns when promtool is not
/// installed (CI installs Debian's `prometheus`).
fn promtool_accepts(metrics: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) => {
            eprintln!("skipped: promtool is not installed (Debian package prometheus)");
            return;
        }
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads Server-Sent Events from `answer` until one of type `kind` whose data satisfies
/// `wanted`; panics after [`DEADLINE`].
async fn next_event(
    answer: &mut reqwest::Response,
    buffer: &mut String,
    kind: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if event == kind {
                let value: Value = serde_json::from_str(&data).unwrap();
                if wanted(&value) {
                    return value;
                }
            }
        }
        let left = DEADLINE.saturating_sub(start.elapsed());
        let chunk = tokio::time::timeout(left, answer.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event in time"))
            .unwrap()
            .expect("the event stream ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tell_new_locations_and_links_going_down() {
    let mut herd = ProcHerd::with_http(TOPOLOGY_2023, "");
    herd.start_all();
    let names: Vec<&str> = TOPOLOGY_2023.iter().map(|(n, _)| *n).collect();
    ready_with_links(&herd, &names).await;
    let bona = format!("http://{}", herd.http_addr("Bona"));
    // No whole-request deadline on a stream: `next_event` bounds each wait itself.
    let streaming = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(DEADLINE)
        .build()
        .unwrap();
    let mut events = streaming
        .get(format!("{bona}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let kind = events.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let mut buffer = String::new();

    // A record made at Jaquez reaches Bona through Clark or Campbell.
    ask(
        herd.addr("Jaquez"),
        &["IAMAT sse.client +10-20 1700000000.5"],
    )
    .await;
    let location = next_event(&mut events, &mut buffer, "location", |v| {
        v["client"] == "sse.client"
    })
    .await;
    assert_eq!(location["origin"], "Jaquez");
    assert_eq!(location["location"], "+10-20");

    herd.kill("Clark");
    let link = next_event(&mut events, &mut buffer, "link", |v| v["peer"] == "Clark").await;
    assert_eq!(link["up"], false);
    let status = get_json(&format!("{bona}/api/status")).await;
    let clark = status["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "Clark")
        .unwrap()
        .clone();
    assert_eq!(clark["up"], false);
    let (_, metrics) = get(&format!("{bona}/metrics")).await;
    assert_eq!(sample(&metrics, "herd_link_up{peer=\"Clark\"}"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_why_until_the_server_is_attached() {
    use herd_server::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let http_listener = herd_http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let http_addr = http_listener.local_addr().unwrap();
    let client = herd_server::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let peer = herd_server::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let text = format!(
        "[storage]\ndir = {:?}\n[[servers]]\nname = \"Solo\"\nlisten = \"{}\"\npeer = \"{}\"\nhttp = \"{http_addr}\"\n",
        dir.path().display().to_string(),
        client.local_addr().unwrap(),
        peer.local_addr().unwrap(),
    );
    let config = Config::parse(&text, "solo.toml").unwrap();
    let http_side = herd_http::HttpServer::start_on(&config, "Solo", http_listener);
    let base = format!("http://{http_addr}");
    assert_eq!(get(&format!("{base}/livez")).await.0, 200);
    let (code, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(code, 503, "{body}");
    let why: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(why["reason"], "loading the store");
    assert_eq!(get(&format!("{base}/api/status")).await.0, 503);

    let places = herd_places::from_config(&config.places).unwrap();
    let listeners = herd_server::server::Listeners {
        client: Some(client),
        peer: Some(peer),
    };
    let running = herd_server::server::start(&config, "Solo", listeners, places)
        .await
        .unwrap();
    http_side.attach(running.node.clone());
    let (code, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(code, 200, "{body}");
    running.shutdown().await;
    let (code, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(code, 503, "{body}");
    http_side.stop().await;
}

#[test]
fn a_bad_http_address_is_one_line_naming_file_and_field() {
    // Free ports, though `config check` binds nothing.
    let (listen, http) = (free_addr(), free_addr());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        format!("[[servers]]\nname = \"A\"\nlisten = \"{listen}\"\nhttp = \"localhost-ish\"\n"),
    )
    .unwrap();
    let out = config_check(&file, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.toml:4: servers[0].http"), "{err}");

    std::fs::write(
        &file,
        format!("[[servers]]\nname = \"A\"\nlisten = \"{listen}\"\nhttp = \"{http}\"\n"),
    )
    .unwrap();
    let out = config_check(&file, &[]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains(&format!("http on {http}")));
}
