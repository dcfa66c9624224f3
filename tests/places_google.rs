//! The Google places providers against a fake Google: what they ask, how they convert, how they
//! fail, and how the cache, coalescing and limits keep calls to Google down.

mod support;

use std::sync::Arc;
use std::time::Duration;

use herd_places::google::{nearby_search_from_places, PlacesNew, FIELD_MASK};
use herd_places::google_legacy::PlacesLegacy;
use herd_places::http::EndpointError;
use herd_places::settings::{PlacesConfig, ProviderKind};
use herd_places::upstream::{SetupError, UpstreamProvider};
use herd_places::upstream_counters::PlacesCounters;
use herd_places::upstream_limits::BackoffPolicy;
use herd_places::{NearbyQuery, PlacesProvider};
use serde_json::{json, Value};
use support::fake_google::{
    refused_base_url, FakeGoogle, Mode, CANNED, LEGACY_PATH, NEW_PATH, UCLA,
};
use support::herd::wait_until_async;
use tokio::time::timeout;

/// A key with characters that need encoding in a query string.
const KEY: &str = "AIzaFake+key/with=odd&chars";

/// Generous bound on any single answer in these tests.
const DEADLINE: Duration = Duration::from_secs(5);

/// Which API a test speaks.
#[derive(Debug, Clone, Copy)]
enum Api {
    New,
    Legacy,
}

fn settings(base_url: &str) -> PlacesConfig {
    PlacesConfig {
        base_url: Some(base_url.to_owned()),
        ..PlacesConfig::with_defaults(ProviderKind::Google)
    }
}

/// The provider of either API: the one upstream provider around one of the two APIs.
#[derive(Debug)]
enum GoogleProvider {
    New(UpstreamProvider<PlacesNew>),
    Legacy(UpstreamProvider<PlacesLegacy>),
}

impl GoogleProvider {
    fn places(&self) -> &dyn PlacesProvider {
        match self {
            Self::New(provider) => provider,
            Self::Legacy(provider) => provider,
        }
    }

    fn name(&self) -> &'static str {
        self.places().name()
    }

    fn counters(&self) -> PlacesCounters {
        match self {
            Self::New(provider) => provider.counters(),
            Self::Legacy(provider) => provider.counters(),
        }
    }
}

fn provider(api: Api, settings: &PlacesConfig) -> Arc<GoogleProvider> {
    provider_backing_off(api, settings, BackoffPolicy::default())
}

fn provider_backing_off(
    api: Api,
    settings: &PlacesConfig,
    backoff: BackoffPolicy,
) -> Arc<GoogleProvider> {
    let key = KEY.to_owned();
    let provider = match api {
        Api::New => {
            UpstreamProvider::new(PlacesNew, settings, key, backoff).map(GoogleProvider::New)
        }
        Api::Legacy => {
            UpstreamProvider::new(PlacesLegacy, settings, key, backoff).map(GoogleProvider::Legacy)
        }
    };
    Arc::new(provider.expect("provider builds"))
}

fn query(lat: f64, lng: f64, radius_m: f64, bound: usize) -> NearbyQuery {
    NearbyQuery {
        lat,
        lng,
        radius_m,
        bound,
    }
}

fn ucla(radius_m: f64) -> NearbyQuery {
    query(UCLA.0, UCLA.1, radius_m, 20)
}

async fn ask(provider: &GoogleProvider, query: NearbyQuery) -> Value {
    timeout(DEADLINE, provider.places().nearby(query))
        .await
        .expect("the provider answers before the deadline")
}

fn status(answer: &Value) -> &str {
    answer["status"].as_str().expect("a status")
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn legacy_asks_for_metres_with_an_encoded_location_and_key() {
    let fake = FakeGoogle::start().await;
    let legacy = provider(Api::Legacy, &settings(&fake.base_url));

    let answer = ask(&legacy, query(34.068930, -118.445127, 10_000.0, 5)).await;
    assert_eq!(status(&answer), "OK");
    // The southern hemisphere and a radius from 0.0123 km: no sign, no float noise.
    ask(&legacy, query(-33.86, 151.2, 0.0123 * 1000.0, 5)).await;

    let asked = fake.requests();
    assert_eq!(asked.len(), 2);
    for request in &asked {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, LEGACY_PATH);
        let raw = request.query.as_deref().expect("a query string");
        assert!(!raw.contains('+'), "raw + in {raw}");
        assert_eq!(request.query_param("key").as_deref(), Some(KEY));
    }
    assert_eq!(
        asked[0].query_param("location").as_deref(),
        Some("34.06893,-118.445127")
    );
    assert_eq!(asked[0].query_param("radius").as_deref(), Some("10000"));
    assert_eq!(
        asked[1].query_param("location").as_deref(),
        Some("-33.86,151.2")
    );
    assert_eq!(asked[1].query_param("radius").as_deref(), Some("12.3"));
}

#[tokio::test]
async fn legacy_passes_google_answer_through_unchanged() {
    let fake = FakeGoogle::start().await;
    let legacy = provider(Api::Legacy, &settings(&fake.base_url));

    let answer = ask(&legacy, ucla(10_000.0)).await;

    assert_eq!(
        keys(&answer),
        ["html_attributions", "next_page_token", "results", "status"]
    );
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 20, "a page holds 20 results");
    for (result, canned) in results.iter().zip(CANNED) {
        assert_eq!(*result, canned.legacy());
        assert_eq!(keys(result), keys(&canned.legacy()));
    }
    assert_eq!(legacy.name(), "google-legacy");
}

#[tokio::test]
async fn places_new_posts_key_field_mask_and_circle() {
    let fake = FakeGoogle::start().await;
    let google = provider(Api::New, &settings(&fake.base_url));

    let answer = ask(&google, query(34.068930, -118.445127, 10_000.0, 5)).await;
    assert_eq!(status(&answer), "OK");

    let asked = fake.requests();
    assert_eq!(asked.len(), 1);
    let request = &asked[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, NEW_PATH);
    assert_eq!(request.query, None);
    assert_eq!(request.header("X-Goog-Api-Key"), Some(KEY));
    assert_eq!(request.header("X-Goog-FieldMask"), Some(FIELD_MASK));
    assert!(request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    assert_eq!(
        request.json_body(),
        json!({
            "locationRestriction": {
                "circle": {
                    "center": {"latitude": 34.06893, "longitude": -118.445127},
                    "radius": 10000
                }
            },
            "maxResultCount": 20
        })
    );
    // The mask asks for every field the conversion reads.
    for field in [
        "places.id",
        "places.displayName",
        "places.location",
        "places.viewport",
        "places.types",
        "places.rating",
        "places.userRatingCount",
        "places.businessStatus",
        "places.priceLevel",
        "places.shortFormattedAddress",
        "places.formattedAddress",
        "places.plusCode",
        "places.iconMaskBaseUri",
        "places.currentOpeningHours.openNow",
        "places.photos",
    ] {
        assert!(FIELD_MASK.split(',').any(|f| f == field), "{field} missing");
    }
    assert_eq!(google.name(), "google");
}

#[tokio::test]
async fn places_new_converts_to_nearby_search() {
    let fake = FakeGoogle::start().await;
    let google = provider(Api::New, &settings(&fake.base_url));
    let royce = &CANNED[0];

    let answer = ask(&google, query(royce.lat, royce.lng, 120.0, 20)).await;

    insta::assert_json_snapshot!("places_new_near_royce_hall", answer);
}

#[test]
fn sparse_and_odd_places_convert_to_nearby_search() {
    let answer = json!({
        "places": [
            {
                "id": "ChIJSparse",
                "types": ["point_of_interest"],
                "formattedAddress": "405 Hilgard Ave, Los Angeles, CA 90095, USA",
                "location": {"latitude": 34.0689254, "longitude": -118.4451691},
                "priceLevel": "PRICE_LEVEL_UNSPECIFIED",
                "displayName": {"text": "Somewhere \"quoted\" & <odd>", "languageCode": "en"},
                "plusCode": {"globalCode": "85632PCW+HX"},
                "currentOpeningHours": {"openNow": false},
                "photos": [{
                    "name": "places/ChIJSparse/photos/P1",
                    "widthPx": 800,
                    "heightPx": 600,
                    "authorAttributions": [
                        {"displayName": "Ann & Bo", "uri": "https://example.com/a?b=1&c=2"},
                        {"displayName": "Cy"}
                    ]
                }]
            },
            {"id": "ChIJOnlyId", "businessStatus": "CLOSED_PERMANENTLY",
             "priceLevel": "PRICE_LEVEL_EXPENSIVE", "rating": 3, "userRatingCount": 0}
        ]
    });
    insta::assert_json_snapshot!(
        "sparse_places_converted",
        nearby_search_from_places(&answer)
    );
}

#[tokio::test]
async fn converted_results_match_legacy_answers_field_by_field() {
    let fake = FakeGoogle::start().await;
    let google = provider(Api::New, &settings(&fake.base_url));

    let answer = ask(&google, ucla(10_000.0)).await;

    assert_eq!(keys(&answer), ["html_attributions", "results", "status"]);
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 20);
    for (converted, canned) in results.iter().zip(CANNED) {
        let legacy = canned.legacy();
        assert_eq!(
            keys(converted),
            keys(&legacy),
            "key order of {}",
            canned.name
        );
        for key in keys(&legacy) {
            // Icons come from a newer icon set, vicinity from the short address, and photo
            // references are the photos' resource names: those differ by design.
            if !["icon", "vicinity", "photos"].contains(&key) {
                assert_eq!(converted[key], legacy[key], "{key} of {}", canned.name);
            }
        }
        assert_eq!(converted["vicinity"], json!(canned.short_address));
        assert_eq!(
            converted["photos"][0]["html_attributions"],
            legacy["photos"][0]["html_attributions"]
        );
    }
}

#[tokio::test]
async fn nothing_nearby_is_zero_results_for_both_apis() {
    let fake = FakeGoogle::start().await;
    let google = provider(Api::New, &settings(&fake.base_url));
    let legacy = provider(Api::Legacy, &settings(&fake.base_url));
    let sydney = query(-33.86, 151.2, 1_000.0, 5);

    for answer in [ask(&google, sydney).await, ask(&legacy, sydney).await] {
        assert_eq!(
            answer,
            json!({"html_attributions": [], "results": [], "status": "ZERO_RESULTS"})
        );
    }
    fake.set_mode(Mode::Empty);
    let answer = ask(&google, ucla(10_000.0)).await;
    assert_eq!(status(&answer), "ZERO_RESULTS");
}

/// Each failure mode, for both APIs: the status and message the herd answers with.
#[tokio::test]
async fn every_failure_is_answered_in_the_failure_shape_within_the_timeout() {
    let cases: &[(Api, Mode, &str, &str)] = &[
        (
            Api::New,
            Mode::ServerError,
            "UNKNOWN_ERROR",
            "Internal error encountered.",
        ),
        (
            Api::New,
            Mode::Denied,
            "REQUEST_DENIED",
            "API key not valid",
        ),
        (
            Api::New,
            Mode::HttpStatus(403),
            "REQUEST_DENIED",
            "Injected failure.",
        ),
        (
            Api::New,
            Mode::OverQuota,
            "OVER_QUERY_LIMIT",
            "Quota exceeded",
        ),
        (
            Api::New,
            Mode::BadRequest,
            "INVALID_REQUEST",
            "Invalid request payload.",
        ),
        (
            Api::New,
            Mode::HttpStatus(503),
            "UNKNOWN_ERROR",
            "Injected failure.",
        ),
        (
            Api::New,
            Mode::Garbage,
            "UNKNOWN_ERROR",
            "not a JSON object",
        ),
        (
            Api::New,
            Mode::Slow(Duration::from_secs(30)),
            "UNKNOWN_ERROR",
            "did not answer within",
        ),
        (
            Api::Legacy,
            Mode::ServerError,
            "UNKNOWN_ERROR",
            "Internal error.",
        ),
        (
            Api::Legacy,
            Mode::Denied,
            "REQUEST_DENIED",
            "The provided API key is invalid.",
        ),
        (
            Api::Legacy,
            Mode::HttpStatus(403),
            "UNKNOWN_ERROR",
            "Injected failure.",
        ),
        (
            Api::Legacy,
            Mode::OverQuota,
            "OVER_QUERY_LIMIT",
            "exceeded your daily request quota",
        ),
        (
            Api::Legacy,
            Mode::BadRequest,
            "INVALID_REQUEST",
            "INVALID_REQUEST",
        ),
        (Api::Legacy, Mode::Garbage, "UNKNOWN_ERROR", "not JSON"),
        (
            Api::Legacy,
            Mode::Slow(Duration::from_secs(30)),
            "UNKNOWN_ERROR",
            "did not answer within",
        ),
    ];
    let fake = FakeGoogle::start().await;
    for &(api, mode, want_status, want_message) in cases {
        fake.set_mode(mode);
        let short = PlacesConfig {
            timeout: Duration::from_millis(300),
            ..settings(&fake.base_url)
        };
        let provider = provider(api, &short);
        let answer = ask(&provider, ucla(10_000.0)).await;
        let context = format!("{api:?} {mode:?}: {answer}");
        assert_eq!(
            keys(&answer),
            ["html_attributions", "results", "status", "error_message"],
            "{context}"
        );
        assert_eq!(answer["results"], json!([]), "{context}");
        assert_eq!(status(&answer), want_status, "{context}");
        let message = answer["error_message"].as_str().expect("a message");
        assert!(message.contains(want_message), "{context}");
        assert!(!message.contains(KEY), "the key leaked: {context}");
        assert_eq!(
            provider.counters().errors.get(want_status),
            Some(&1),
            "{context}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_google_is_unknown_error() {
    let base = refused_base_url();
    for api in [Api::New, Api::Legacy] {
        let provider = provider(api, &settings(&base));
        let answer = ask(&provider, ucla(10_000.0)).await;
        assert_eq!(status(&answer), "UNKNOWN_ERROR", "{api:?}: {answer}");
        let message = answer["error_message"].as_str().expect("a message");
        assert!(message.contains("could not connect"), "{api:?}: {message}");
        assert!(!message.contains(KEY), "the key leaked: {message}");
        assert!(!message.contains("127.0.0.1"), "the URL leaked: {message}");
    }
}

#[tokio::test]
async fn failures_are_not_cached() {
    let fake = FakeGoogle::start().await;
    for api in [Api::New, Api::Legacy] {
        fake.clear();
        fake.set_mode(Mode::ServerError);
        let provider = provider(api, &settings(&fake.base_url));
        assert_eq!(
            status(&ask(&provider, ucla(5_000.0)).await),
            "UNKNOWN_ERROR"
        );
        fake.set_mode(Mode::Normal);
        assert_eq!(status(&ask(&provider, ucla(5_000.0)).await), "OK");
        assert_eq!(fake.count(), 2, "{api:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_questions_make_one_call() {
    let fake = FakeGoogle::start().await;
    fake.set_mode(Mode::Slow(Duration::from_millis(300)));
    for api in [Api::New, Api::Legacy] {
        fake.clear();
        let provider = provider(api, &settings(&fake.base_url));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let provider = Arc::clone(&provider);
                tokio::spawn(async move { ask(&provider, ucla(10_000.0)).await })
            })
            .collect();
        let answers = futures::future::join_all(tasks).await;

        assert_eq!(fake.count(), 1, "{api:?}");
        let first = answers[0].as_ref().expect("task ran");
        assert_eq!(status(first), "OK");
        assert!(answers
            .iter()
            .all(|a| a.as_ref().expect("task ran") == first));
        let counters = provider.counters();
        assert_eq!(counters.requests, 100);
        assert_eq!(counters.calls, 1);
        assert_eq!(counters.coalesced + counters.cache_hits, 99, "{counters:?}");
        assert!(counters.coalesced > 0, "{counters:?}");
    }
}

#[tokio::test]
async fn a_smaller_bound_nearby_is_served_from_the_cache() {
    let fake = FakeGoogle::start().await;
    for api in [Api::New, Api::Legacy] {
        fake.clear();
        let provider = provider(api, &settings(&fake.base_url));
        let full = ask(&provider, ucla(10_000.0)).await;
        assert_eq!(full["results"].as_array().map(Vec::len), Some(20));

        // Less than a metre away, a smaller bound: the same answer, not cut (the server cuts).
        let jittered = query(UCLA.0 + 0.000_001, UCLA.1, 10_000.4, 5);
        assert_eq!(ask(&provider, jittered).await, full);
        assert_eq!(fake.count(), 1, "{api:?}");
        assert_eq!(provider.counters().cache_hits, 1);

        // Another radius is another question.
        ask(&provider, ucla(2_000.0)).await;
        assert_eq!(fake.count(), 2, "{api:?}");
    }
}

#[tokio::test]
async fn over_query_limit_makes_the_provider_back_off() {
    let fake = FakeGoogle::start().await;
    for api in [Api::New, Api::Legacy] {
        fake.clear();
        fake.set_mode(Mode::OverQuota);
        let patient = BackoffPolicy {
            initial: Duration::from_secs(30),
            ..BackoffPolicy::default()
        };
        let provider = provider_backing_off(api, &settings(&fake.base_url), patient);
        assert_eq!(
            status(&ask(&provider, ucla(10_000.0)).await),
            "OVER_QUERY_LIMIT"
        );

        fake.set_mode(Mode::Normal);
        for radius in [1_000.0, 2_000.0, 3_000.0] {
            let answer = ask(&provider, ucla(radius)).await;
            assert_eq!(status(&answer), "OVER_QUERY_LIMIT", "{api:?}: {answer}");
            assert!(answer["error_message"]
                .as_str()
                .is_some_and(|m| m.contains("backing off")));
        }
        assert_eq!(
            fake.count(),
            1,
            "{api:?}: calls during the back-off reached Google"
        );
        let counters = provider.counters();
        assert_eq!(counters.local_refusals, 3);
        assert_eq!(counters.errors.get("OVER_QUERY_LIMIT"), Some(&1));
    }
}

#[tokio::test]
async fn calls_resume_when_the_back_off_ends() {
    let fake = FakeGoogle::start().await;
    fake.set_mode(Mode::OverQuota);
    let brief = BackoffPolicy {
        initial: Duration::from_millis(100),
        ..BackoffPolicy::default()
    };
    let google = provider_backing_off(Api::New, &settings(&fake.base_url), brief);
    assert_eq!(
        status(&ask(&google, ucla(10_000.0)).await),
        "OVER_QUERY_LIMIT"
    );
    fake.set_mode(Mode::Normal);

    wait_until_async("Google asked again once the backoff is over", || async {
        status(&ask(&google, ucla(10_000.0)).await) == "OK"
    })
    .await;
    assert_eq!(fake.count(), 2);
}

#[tokio::test]
async fn the_rate_limit_refuses_locally_rather_than_wait_past_the_timeout() {
    let fake = FakeGoogle::start().await;
    let slow_rate = PlacesConfig {
        rate_per_sec: 1,
        timeout: Duration::from_millis(300),
        ..settings(&fake.base_url)
    };
    let google = provider(Api::New, &slow_rate);
    assert_eq!(status(&ask(&google, ucla(1_000.0)).await), "OK");
    let answer = ask(&google, ucla(2_000.0)).await;
    assert_eq!(status(&answer), "OVER_QUERY_LIMIT", "{answer}");
    assert_eq!(fake.count(), 1);
    assert_eq!(google.counters().local_refusals, 1);
}

#[test]
fn bad_settings_are_refused_with_the_field_named() {
    let zero_rate = PlacesConfig {
        rate_per_sec: 0,
        ..PlacesConfig::with_defaults(ProviderKind::Google)
    };
    let err = UpstreamProvider::new(PlacesNew, &zero_rate, KEY.to_owned(), Default::default())
        .expect_err("zero rate refused");
    assert!(matches!(
        err,
        SetupError::Zero {
            field: "places.rate_per_sec"
        }
    ));
    assert_eq!(
        err.to_string(),
        "places.rate_per_sec must be greater than zero"
    );

    let bad_url = PlacesConfig {
        base_url: Some("not a url".to_owned()),
        ..PlacesConfig::with_defaults(ProviderKind::GoogleLegacy)
    };
    let err = UpstreamProvider::new(PlacesLegacy, &bad_url, KEY.to_owned(), Default::default())
        .expect_err("bad URL refused");
    assert!(matches!(
        err,
        SetupError::Endpoint(EndpointError::BaseUrl { .. })
    ));
    assert!(err.to_string().contains("places.base_url"));
}

#[test]
fn defaults_match_the_documented_ones() {
    let defaults = PlacesConfig::with_defaults(ProviderKind::Google);
    assert_eq!(defaults.timeout, Duration::from_secs(5));
    assert_eq!(defaults.cache_ttl, Duration::from_secs(300));
    assert_eq!(defaults.cache_capacity, 10_000);
    assert_eq!(defaults.max_concurrent, 64);
    assert_eq!(defaults.rate_per_sec, 50);
    assert_eq!(defaults.base_url, None);
}

#[tokio::test]
async fn counters_serialize_for_the_log() {
    let fake = FakeGoogle::start().await;
    let google = provider(Api::New, &settings(&fake.base_url));
    ask(&google, ucla(10_000.0)).await;
    ask(&google, ucla(10_000.0)).await;
    let logged = serde_json::to_value(google.counters()).expect("serializable");
    assert_eq!(
        logged,
        json!({
            "provider": "google",
            "requests": 2,
            "cache_hits": 1,
            "coalesced": 0,
            "calls": 1,
            "local_refusals": 0,
            "errors": {}
        })
    );
    assert!(
        !format!("{google:?}").contains(KEY),
        "the key leaked into Debug"
    );
}
