//! Live events of real `herd serve` processes over real sockets: `GET /ws` (WebSocket) and
//! `GET /events` (Server-Sent Events) with their filters (one client, an area), the `Origin`
//! check of the upgrade, `lagged` for a subscriber that stopped reading, and the cap on live
//! subscribers.
//!
//! "Not delivered" is shown by order: an event that does not match is caused first, a
//! matching one after it, and the matching one must be the first (only) location to arrive.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};
use support::events::{SseClient, Subscriber, WsClient};
use support::herd::{ask, poll_until, wait_until_async, DEADLINE};
use support::procs::ProcHerd;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One server with no neighbours: every event comes from the test's own IAMATs.
const SOLO: &[(&str, &[&str])] = &[("Solo", &[])];

/// A started one-server herd with HTTP, ready, and its HTTP address.
async fn solo() -> (ProcHerd, SocketAddr) {
    let mut herd = ProcHerd::with_http(SOLO, "");
    herd.start_all();
    let http = herd.http_addr("Solo");
    let readyz = format!("http://{http}/readyz");
    wait_until_async("the server gets ready", || async {
        get(&readyz).await.0 == 200
    })
    .await;
    (herd, http)
}

/// Reports `client` at `location` to the server, each report newer than the last (so each
/// is a change).
async fn iamat(herd: &ProcHerd, client: &str, location: &str) {
    static TIME: AtomicU64 = AtomicU64::new(1_700_000_000);
    let time = TIME.fetch_add(1, Ordering::Relaxed);
    let line = format!("IAMAT {client} {location} {time}");
    let answer = ask(herd.addr("Solo"), &[line.as_str()]).await;
    assert!(answer.starts_with("AT Solo "), "{answer}");
}

/// Inside a circle of 50 km around Los Angeles, and far outside it.
const LA: (&str, &str) = ("34.05,-118.25", "50");
/// Westwood, 18 km from the centre of [`LA`].
const WESTWOOD: &str = "+34.068930-118.445127";
/// Sydney.
const SYDNEY: &str = "-33.86+151.20";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribers_get_what_they_asked_for() {
    let (herd, http) = solo().await;

    // Everything, by default; the server confirms the filter first.
    let mut all = WsClient::open(http, "/ws", None, None).await.unwrap();
    assert_eq!(all.next().await, ("subscribed".into(), json!("all")));
    iamat(&herd, "kiwi", WESTWOOD).await;
    let (kind, location) = all.next().await;
    assert_eq!(kind, "location");
    assert_eq!(location["client"], "kiwi");
    assert_eq!(location["origin"], "Solo");
    assert_eq!(location["location"], WESTWOOD);
    assert!(location["at"].as_str().unwrap().starts_with("AT Solo "));

    // One client, by the query of the upgrade and by a message.
    let mut by_query = WsClient::open(http, "/ws?client=kiwi", None, None)
        .await
        .unwrap();
    assert_eq!(by_query.next().await.1, json!({ "client": "kiwi" }));
    all.send(r#"{"subscribe":{"client":"kiwi"}}"#).await;
    assert_eq!(
        all.next().await,
        ("subscribed".into(), json!({ "client": "kiwi" }))
    );
    iamat(&herd, "other", WESTWOOD).await;
    iamat(&herd, "kiwi", "+1+1").await;
    assert_eq!(by_query.locations_until("kiwi").await, ["kiwi"]);
    assert_eq!(all.locations_until("kiwi").await, ["kiwi"]);

    // A bad message is answered, and the socket goes on with its filter.
    all.send("{\"subscribe\":{\"near\":[91,0]}}").await;
    let (kind, why) = all.next().await;
    assert_eq!(kind, "error");
    assert!(why["error"].as_str().unwrap().contains("near"), "{why}");
    all.send("not json").await;
    assert_eq!(all.next().await.0, "error");

    // An area, by message and by query: outside first, inside after.
    all.send(r#"{"subscribe":{"near":[34.05,-118.25],"radius_km":50}}"#)
        .await;
    assert_eq!(
        all.next().await,
        (
            "subscribed".into(),
            json!({ "near": [34.05, -118.25], "radius_km": 50.0 })
        )
    );
    let target = format!("/ws?near={}&radius_km={}", LA.0, LA.1);
    let mut area = WsClient::open(http, &target, None, None).await.unwrap();
    assert_eq!(area.next().await.0, "subscribed");
    iamat(&herd, "sydney", SYDNEY).await;
    iamat(&herd, "westwood", WESTWOOD).await;
    assert_eq!(all.locations_until("westwood").await, ["westwood"]);
    assert_eq!(area.locations_until("westwood").await, ["westwood"]);

    // And everything again.
    all.send(r#"{"subscribe":"all"}"#).await;
    assert_eq!(all.next().await, ("subscribed".into(), json!("all")));
    iamat(&herd, "sydney2", SYDNEY).await;
    assert_eq!(all.locations_until("sydney2").await, ["sydney2"]);

    // A bad query is refused before the upgrade.
    for bad in [
        "/ws?near=91,0",
        "/ws?client=a&near=1,2",
        "/ws?radius_km=3",
        "/ws?x=1",
    ] {
        assert_eq!(
            WsClient::open(http, bad, None, None).await.err(),
            Some(400),
            "{bad}"
        );
    }
    all.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_from_pages_of_other_sites_are_forbidden() {
    let (_herd, http) = solo().await;
    let own = format!("http://{http}");
    let mut same = WsClient::open(http, "/ws", Some(&own), None).await.unwrap();
    assert_eq!(same.next().await.0, "subscribed");
    let mut tool = WsClient::open(http, "/ws", None, None).await.unwrap();
    assert_eq!(tool.next().await.0, "subscribed");
    let other_port = format!("http://127.0.0.1:{}", http.port().wrapping_add(1));
    for foreign in ["http://evil.example", other_port.as_str(), "null"] {
        assert_eq!(
            WsClient::open(http, "/ws", Some(foreign), None).await.err(),
            Some(403),
            "{foreign}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_subscribers_get_one_client_or_one_area() {
    let (herd, http) = solo().await;
    let mut client = SseClient::open(http, "/events?client=kiwi", None).await;
    assert_eq!(client.status, 200);
    let target = format!("/events?near={}&radius_km={}", LA.0, LA.1);
    let mut area = SseClient::open(http, &target, None).await;
    assert_eq!(area.status, 200);
    let mut all = SseClient::open(http, "/events", None).await;

    iamat(&herd, "other", WESTWOOD).await;
    iamat(&herd, "kiwi", SYDNEY).await;
    iamat(&herd, "westwood", WESTWOOD).await;
    assert_eq!(client.locations_until("kiwi").await, ["kiwi"]);
    assert_eq!(
        area.locations_until("westwood").await,
        ["other", "westwood"]
    );
    assert_eq!(
        all.locations_until("westwood").await,
        ["other", "kiwi", "westwood"]
    );

    for bad in [
        "/events?near=91,0",
        "/events?near=1,2&radius_km=-1",
        "/events?near=1,2&radius_km=far",
        "/events?radius_km=3",
        "/events?client=kiwi&near=1,2",
        "/events?client=",
        "/events?clients=kiwi",
    ] {
        let refused = SseClient::open(http, bad, None).await;
        assert_eq!(refused.status, 400, "{bad}");
        let body = refused.body().await;
        let json = body.split_once("\r\n\r\n").map_or(body.as_str(), |b| b.1);
        let why: Value = serde_json::from_str(json).unwrap_or_else(|_| panic!("{body}"));
        assert!(why["error"].is_string(), "{bad}: {why}");
    }
}

/// Sends `count` IAMATs with rising times, one at a time on each of two connections (one
/// client each, so every IAMAT wins newer-wins and is a change of its own), so the change
/// feed moves `count` places.
async fn flood(addr: SocketAddr, count: usize) {
    let send = |first: usize, step: usize| async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut answers = BufReader::new(read).lines();
        for i in (first..count).step_by(step) {
            let line = format!(
                "IAMAT flood{first} +10+10 {}.{i:09}\n",
                1_700_000_000 + i / 1000
            );
            write.write_all(line.as_bytes()).await.unwrap();
            let answer = tokio::time::timeout(DEADLINE, answers.next_line())
                .await
                .expect("an answer in time")
                .unwrap()
                .unwrap();
            assert!(answer.starts_with("AT "), "{answer}");
        }
    };
    tokio::join!(send(0, 2), send(1, 2));
}

/// How many changes the flood makes: well over what the feed holds for a subscriber
/// (`herd_server::stats::FEED_CAPACITY`, 4,096) plus what a stopped reader's connection can
/// hold (`herd_http::SEND_BUFFER_BYTES` doubled, hyper's buffer of some 400 KiB, the small
/// receive buffer: about 3,000 events of some 330 bytes).
const FLOOD: usize = 20_000;

/// A subscriber that stopped reading while many changes flowed is told `lagged` once it
/// reads again, then gets the newest changes; a subscriber that kept reading got them all.
async fn lagged_then_caught_up<S: Subscriber>(herd: &ProcHerd, slow: &mut S, reading: &mut S) {
    let addr = herd.addr("Solo");
    let (_, read_all) = tokio::join!(
        async {
            flood(addr, FLOOD).await;
            iamat(herd, "marker", "+1+1").await;
        },
        reading.locations_until("marker"),
    );
    assert_eq!(read_all.last().map(String::as_str), Some("marker"));

    let events = slow.events_until("marker").await;
    let lagged: Vec<&Value> = events
        .iter()
        .filter(|(kind, _)| kind == "lagged")
        .map(|(_, data)| data)
        .collect();
    assert!(
        !lagged.is_empty(),
        "no lagged event in {} events",
        events.len()
    );
    let missed: u64 = lagged.iter().map(|d| d["missed"].as_u64().unwrap()).sum();
    assert!(missed > 0, "{lagged:?}");
    let locations = events.iter().filter(|(kind, _)| kind == "location").count() as u64;
    assert!(locations + missed >= FLOOD as u64, "{locations} + {missed}");
    eprintln!(
        "the slow subscriber got {locations} locations and missed {missed} changes ({} lagged events)",
        lagged.len()
    );
    let (_, metrics) = get(&format!("http://{}/metrics", herd.http_addr("Solo"))).await;
    let counted = sample(&metrics, "herd_events_missed_total").unwrap();
    assert!(counted >= missed as f64, "{counted} < {missed}");
}

/// GETs `url`: status and body.
async fn get(url: &str) -> (u16, String) {
    let answer = reqwest::Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// The value of the sample `name` (labels included, as written) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The receive buffer of a subscriber that stops reading, in bytes (the kernel's least).
const SMALL_BUFFER: u32 = 4096;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_subscriber_that_stops_reading_is_told_it_lagged() {
    let (herd, http) = solo().await;
    let mut slow = WsClient::open(http, "/ws", None, Some(SMALL_BUFFER))
        .await
        .unwrap();
    assert_eq!(slow.next().await.0, "subscribed");
    let mut reading = WsClient::open(http, "/ws", None, None).await.unwrap();
    assert_eq!(reading.next().await.0, "subscribed");
    lagged_then_caught_up(&herd, &mut slow, &mut reading).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_subscriber_that_stops_reading_is_told_it_lagged() {
    let (herd, http) = solo().await;
    let mut slow = SseClient::open(http, "/events", Some(SMALL_BUFFER)).await;
    assert_eq!(slow.status, 200);
    let mut reading = SseClient::open(http, "/events", None).await;
    lagged_then_caught_up(&herd, &mut slow, &mut reading).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_beyond_the_cap_are_refused_with_503() {
    use herd_http::subscription::MAX_SUBSCRIBERS;
    let (herd, http) = solo().await;
    let mut streams = Vec::new();
    for _ in 0..MAX_SUBSCRIBERS - 1 {
        let sse = SseClient::open(http, "/events", None).await;
        assert_eq!(sse.status, 200);
        streams.push(sse);
    }
    let mut last = WsClient::open(http, "/ws", None, None).await.unwrap();
    assert_eq!(last.next().await.0, "subscribed");

    let refused = SseClient::open(http, "/events", None).await;
    assert_eq!(refused.status, 503);
    assert!(refused.body().await.contains("\"error\""));
    assert_eq!(
        WsClient::open(http, "/ws", None, None).await.err(),
        Some(503)
    );
    let (_, metrics) = get(&format!("http://{http}/metrics")).await;
    assert_eq!(
        sample(&metrics, "herd_event_subscribers"),
        Some(MAX_SUBSCRIBERS as f64),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "herd_event_subscribers_refused_total"),
        Some(2.0)
    );

    // The live ones still get events; one that leaves makes room.
    iamat(&herd, "kiwi", WESTWOOD).await;
    assert_eq!(last.locations_until("kiwi").await, ["kiwi"]);
    assert_eq!(streams[0].locations_until("kiwi").await, ["kiwi"]);
    last.close().await;
    let mut again = poll_until("the slot to be given back", || async {
        match WsClient::open(http, "/ws", None, None).await {
            Ok(ws) => Some(ws),
            Err(status) => {
                assert_eq!(status, 503);
                None
            }
        }
    })
    .await;
    assert_eq!(again.next().await.0, "subscribed");
}
