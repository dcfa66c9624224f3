//! Forgetting a client herd-wide (`DELETE /api/clients/{id}`) on real `herd serve` processes:
//! the token, the flood, the store, catch-up, and the client's return.

mod support;

use support::events::SseClient;
use support::herd::{ask, wait_until_async};
use support::procs::{config_check, http, in_log, wait_for_log, ProcHerd};

/// The variable the config names for the API token, and its value in these tests.
const TOKEN_VAR: &str = "HERD_TEST_API_TOKEN";
const TOKEN: &str = "0123456789abcdef0123456789abcdef-forget";

/// A chain A - B - C with HTTP listeners and an API token, started, every link up.
async fn chain() -> ProcHerd {
    let mut herd = ProcHerd::with_http(
        &[("A", &["B"]), ("B", &["A", "C"]), ("C", &["B"])],
        &format!("[herd]\napi_token_env = {TOKEN_VAR:?}\n"),
    );
    herd.env.push((TOKEN_VAR.to_string(), TOKEN.to_string()));
    herd.start_all();
    for s in ["A", "B", "C"] {
        links_up(&herd, s).await;
    }
    herd
}

/// The status of `GET /api/clients/{client}` on `server`.
async fn lookup(herd: &ProcHerd, server: &str, client: &str) -> u16 {
    let url = format!("http://{}/api/clients/{client}", herd.http_addr(server));
    match http().get(url).send().await {
        Ok(answer) => answer.status().as_u16(),
        Err(_) => 0,
    }
}

/// `DELETE /api/clients/{client}` on `server` with `token` (if any): status and body.
async fn delete(herd: &ProcHerd, server: &str, client: &str, token: Option<&str>) -> (u16, String) {
    let url = format!("http://{}/api/clients/{client}", herd.http_addr(server));
    let mut request = http().delete(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// Waits until `GET /api/clients/{client}` answers `status` on every server in `servers`.
async fn until_everywhere(herd: &ProcHerd, servers: &[&str], client: &str, status: u16) {
    for server in servers {
        wait_until_async(
            &format!("{client} answers {status} on {server}"),
            || async { lookup(herd, server, client).await == status },
        )
        .await;
    }
}

/// Waits until `server` has every link up (its `/api/status`).
async fn links_up(herd: &ProcHerd, server: &str) {
    let url = format!("http://{}/api/status", herd.http_addr(server));
    wait_until_async(&format!("{server}'s links up"), || async {
        let Ok(answer) = http().get(&url).send().await else {
            return false;
        };
        let Ok(status) = answer.json::<serde_json::Value>().await else {
            return false;
        };
        status["neighbours"]
            .as_array()
            .is_some_and(|l| l.iter().all(|l| l["up"] == true))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_client_is_gone_everywhere_and_stays_gone_until_it_reports_again() {
    let mut herd = chain().await;
    let answer = ask(
        herd.addr("A"),
        &["IAMAT kiwi +34.068930-118.445127 1621464827.5"],
    )
    .await;
    assert!(answer.starts_with("AT A "), "{answer}");
    ask(herd.addr("A"), &["IAMAT other +10+10 1621464827.5"]).await;
    until_everywhere(&herd, &["A", "B", "C"], "kiwi", 200).await;

    // Without the token, or with a wrong one, nothing is forgotten.
    let (status, body) = delete(&herd, "C", "kiwi", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = delete(
        &herd,
        "C",
        "kiwi",
        Some("not-the-token-not-the-token-xxxxxx"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(lookup(&herd, "A", "kiwi").await, 200);
    assert_eq!(delete(&herd, "C", "nobody", Some(TOKEN)).await.0, 404);

    // A's subscribers of kiwi's events are told it was forgotten.
    let mut watching = SseClient::open(herd.http_addr("A"), "/events?client=kiwi", None).await;
    assert_eq!(watching.status, 200);

    // Forgotten at the far end of the chain: the tombstone floods to A through B.
    let (status, body) = delete(&herd, "C", "kiwi", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let forgot: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(forgot["forgotten"], "kiwi");
    assert_eq!(forgot["by"], "C");
    until_everywhere(&herd, &["A", "B", "C"], "kiwi", 404).await;
    let (kind, data) = watching.next().await;
    assert_eq!(kind, "forget", "{data}");
    assert_eq!(
        (&data["client"], &data["time"]),
        (&"kiwi".into(), &"1621464827.5".into())
    );
    assert_eq!(
        lookup(&herd, "A", "other").await,
        200,
        "only kiwi is forgotten"
    );
    let whatsat = ask(herd.addr("A"), &["WHATSAT kiwi 10 5"]).await;
    assert!(whatsat.starts_with("? WHATSAT kiwi"), "{whatsat}");
    assert!(!herd.dump("B").contains("kiwi"), "{}", herd.dump("B"));
    assert_eq!(
        delete(&herd, "A", "kiwi", Some(TOKEN)).await.0,
        404,
        "gone already"
    );

    // Durable: A restarted reads the tombstone back, not the record it forgot.
    herd.kill("A");
    herd.start("A");
    links_up(&herd, "A").await;
    assert_eq!(lookup(&herd, "A", "kiwi").await, 404);

    // The client's next report (a newer time) brings it back everywhere.
    let answer = ask(herd.addr("B"), &["IAMAT kiwi +1+1 1621464828.5"]).await;
    assert!(answer.starts_with("AT B "), "{answer}");
    until_everywhere(&herd, &["A", "B", "C"], "kiwi", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_while_a_client_is_forgotten_learns_it_by_catch_up_and_cannot_undo_it() {
    let mut herd = chain().await;
    ask(herd.addr("A"), &["IAMAT kiwi +1+1 1621464827.5"]).await;
    until_everywhere(&herd, &["A", "B", "C"], "kiwi", 200).await;

    // C still holds kiwi's record while it is down; the herd forgets kiwi meanwhile.
    herd.kill("C");
    let (status, body) = delete(&herd, "A", "kiwi", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    until_everywhere(&herd, &["A", "B"], "kiwi", 404).await;

    // Back up, C catches up on the tombstone; its own old copy of the record, offered to B
    // in the same catch-up, loses to it.
    let caught = |s: &str, from: &str| in_log(&herd, s, &format!("link {from}: caught up"));
    let (b_before, c_before) = (caught("B", "C"), caught("C", "B"));
    herd.start("C");
    links_up(&herd, "C").await;
    until_everywhere(&herd, &["C"], "kiwi", 404).await;
    // Both halves of the catch-up are done once each side has the other's CAUGHT: B has then
    // been offered C's old copy.
    wait_for_log(&herd, "B", "link C: caught up", b_before).await;
    wait_for_log(&herd, "C", "link B: caught up", c_before).await;
    for s in ["A", "B", "C"] {
        assert_eq!(lookup(&herd, s, "kiwi").await, 404, "kiwi came back on {s}");
    }
}

#[test]
fn a_token_variable_that_is_named_but_unset_or_short_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herd.toml");
    std::fs::write(
        &file,
        format!(
            "[herd]\napi_token_env = {TOKEN_VAR:?}\n\n[[servers]]\nname = \"A\"\nlisten = \"127.0.0.1:1\"\npeer = \"127.0.0.1:2\"\n"
        ),
    )
    .unwrap();
    for env in [&[][..], &[(TOKEN_VAR, "short")][..]] {
        let out = config_check(&file, env);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("herd.api_token_env"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    let out = config_check(&file, &[(TOKEN_VAR, TOKEN)]);
    assert!(out.status.success(), "{out:?}");
}
