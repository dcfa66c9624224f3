//! WHATSAT end to end: a herd server answering through a Google provider pointed at the fake
//! Google (real HTTP), and through the built-in offline index.

mod support;

use std::time::{Duration, Instant};

use support::fake_google::{FakeGoogle, Mode, LEGACY_PATH, NEW_PATH};
use support::herd::{ask, TestHerd};

const SOLO: &[(&str, &[&str])] = &[("Clark", &[])];
const KIWI: &str = "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";

fn google(provider: &str, fake: &FakeGoogle, key_env: &str, timeout: &str) -> String {
    format!(
        "[places]\nprovider = \"{provider}\"\nbase_url = \"{}\"\napi_key_env = \"{key_env}\"\ntimeout = \"{timeout}\"\n",
        fake.base_url
    )
}

/// Splits a WHATSAT answer into its AT line and its JSON, checking the framing rules.
fn split_answer(answer: &str) -> (&str, serde_json::Value) {
    assert!(answer.ends_with("}\n\n"), "{answer:?}");
    let body = &answer[..answer.len() - 2];
    assert!(!body.contains("\n\n"), "no empty line inside: {answer:?}");
    let (at, json) = body.split_once('\n').unwrap();
    (at, serde_json::from_str(json).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_nearby_search_is_asked_in_metres_with_the_key_and_cut_to_the_bound() {
    let fake = FakeGoogle::start().await;
    std::env::set_var("HERD_TEST_KEY_LEGACY", "test-key-123");
    let herd = TestHerd::start(
        SOLO,
        &google("google-legacy", &fake, "HERD_TEST_KEY_LEGACY", "5s"),
    )
    .await;
    let at = herd.ask("Clark", &[KIWI]).await;
    let answer = herd.ask("Clark", &["WHATSAT kiwi.cs.ucla.edu 10 5"]).await;
    let (at_line, json) = split_answer(&answer);
    assert_eq!(format!("{at_line}\n"), at);
    assert_eq!(json["status"], "OK");
    assert_eq!(json["results"].as_array().unwrap().len(), 5);
    assert!(json.get("html_attributions").is_some());
    assert!(
        answer.contains("\n   \"results\" : [\n"),
        "Google's layout: {answer}"
    );

    let asked = fake.requests();
    assert_eq!(asked.len(), 1);
    let r = &asked[0];
    assert_eq!(r.path, LEGACY_PATH);
    assert_eq!(r.query_param("radius").as_deref(), Some("10000"));
    assert_eq!(r.query_param("key").as_deref(), Some("test-key-123"));
    let raw = r.query.clone().unwrap();
    assert!(!raw.contains('+'), "no raw + in the query: {raw}");
    let location = r.query_param("location").unwrap();
    assert_eq!(location, "34.06893,-118.445127");
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_new_answers_come_back_in_the_nearby_search_shape() {
    let fake = FakeGoogle::start().await;
    std::env::set_var("HERD_TEST_KEY_NEW", "new-key");
    let herd = TestHerd::start(SOLO, &google("google", &fake, "HERD_TEST_KEY_NEW", "5s")).await;
    herd.ask("Clark", &[KIWI]).await;
    let answer = herd.ask("Clark", &["WHATSAT kiwi.cs.ucla.edu 2.5 3"]).await;
    let (_, json) = split_answer(&answer);
    assert_eq!(json["status"], "OK");
    let results = json["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.len() <= 3);
    for place in results {
        assert!(
            place["place_id"].is_string() && place["name"].is_string(),
            "{place}"
        );
        assert!(place["geometry"]["location"]["lat"].is_number(), "{place}");
    }
    let asked = fake.requests();
    assert_eq!(asked[0].path, NEW_PATH);
    assert_eq!(asked[0].header("x-goog-api-key"), Some("new-key"));
    assert!(asked[0]
        .header("x-goog-fieldmask")
        .is_some_and(|m| m.contains("places.displayName")));
    let body = asked[0].json_body();
    assert_eq!(body["locationRestriction"]["circle"]["radius"], 2500.0);
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_gives_the_failure_shape_in_time_and_never_stalls_other_clients() {
    let fake = FakeGoogle::start().await;
    fake.set_mode(Mode::Slow(Duration::from_secs(30)));
    std::env::set_var("HERD_TEST_KEY_SLOW", "k");
    let herd = TestHerd::start(
        SOLO,
        &google("google-legacy", &fake, "HERD_TEST_KEY_SLOW", "3s"),
    )
    .await;
    herd.ask("Clark", &[KIWI]).await;
    let addr = herd.addr("Clark");
    let started = Instant::now();
    let slow = tokio::spawn(async move { ask(addr, &["WHATSAT kiwi.cs.ucla.edu 10 5"]).await });
    assert!(fake.wait_for_count(1, Duration::from_secs(5)).await);
    // While the WHATSAT waits on Google (up to its 3 s timeout), other clients are answered:
    // all of these come back before it does.
    for i in 0..20 {
        let at = herd
            .ask("Clark", &[&format!("IAMAT other{i} +1+1 {i}")])
            .await;
        assert!(at.starts_with("AT Clark "));
    }
    assert!(
        !slow.is_finished(),
        "the other clients waited for the slow WHATSAT"
    );
    let answer = slow.await.unwrap();
    // Bounded by the configured timeout, not by Google's 30 s.
    assert!(started.elapsed() < Duration::from_secs(20));
    let (_, json) = split_answer(&answer);
    assert_eq!(json["results"], serde_json::json!([]));
    assert_eq!(json["status"], "UNKNOWN_ERROR");
    assert!(json["error_message"].is_string());
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_identical_whatsats_at_once_make_one_upstream_call() {
    let fake = FakeGoogle::start().await;
    fake.set_mode(Mode::Slow(Duration::from_millis(300)));
    std::env::set_var("HERD_TEST_KEY_MANY", "k");
    let herd = TestHerd::start(
        SOLO,
        &google("google-legacy", &fake, "HERD_TEST_KEY_MANY", "5s"),
    )
    .await;
    herd.ask("Clark", &[KIWI]).await;
    let addr = herd.addr("Clark");
    let asks: Vec<_> = (0..100)
        .map(|_| tokio::spawn(async move { ask(addr, &["WHATSAT kiwi.cs.ucla.edu 10 3"]).await }))
        .collect();
    for a in asks {
        let answer = a.await.unwrap();
        let (_, json) = split_answer(&answer);
        assert_eq!(json["results"].as_array().unwrap().len(), 3);
    }
    assert_eq!(fake.count(), 1);
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_index_answers_with_no_key_and_no_network() {
    let herd = TestHerd::start(SOLO, "").await;
    herd.ask("Clark", &[KIWI, "IAMAT ship +0.0-140.0 1"]).await;
    let answer = herd.ask("Clark", &["WHATSAT kiwi.cs.ucla.edu 50 20"]).await;
    let (_, json) = split_answer(&answer);
    assert_eq!(json["status"], "OK");
    assert_eq!(json["results"].as_array().unwrap().len(), 20);
    let answer = herd.ask("Clark", &["WHATSAT ship 50 20"]).await;
    let (_, json) = split_answer(&answer);
    assert_eq!(json["status"], "ZERO_RESULTS");
    assert_eq!(json["results"], serde_json::json!([]));
    herd.stop().await;
}
