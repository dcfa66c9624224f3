//! A whole five-server herd in this process: flooding, newer-wins and origin names across it.

mod support;

use support::herd::{wait_until, wait_until_async, TestHerd, TOPOLOGY_2023};

const NAMES: [&str; 5] = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];

/// The AT line a WHATSAT answer starts with, or None for `? `.
async fn stored_at(herd: &TestHerd, server: &str, client: &str) -> Option<String> {
    let answer = herd.ask(server, &[&format!("WHATSAT {client} 10 1")]).await;
    if answer.starts_with("? ") {
        return None;
    }
    assert!(answer.ends_with("}\n\n"), "{answer:?}");
    Some(answer.lines().next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_reaches_every_server_with_its_origin_name() {
    let herd = TestHerd::start(TOPOLOGY_2023, "").await;
    let at = herd
        .ask(
            "Bailey",
            &["IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"],
        )
        .await;
    let at = at.trim_end().to_string();
    assert!(at.starts_with("AT Bailey "));
    for name in NAMES {
        wait_until_async(&format!("{name} knows kiwi"), || async {
            stored_at(&herd, name, "kiwi.cs.ucla.edu").await.as_deref() == Some(at.as_str())
        })
        .await;
    }
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_classic_grader_finds_the_record_three_hops_away_with_no_pause() {
    // Bailey and Jaquez are two hops apart, Bailey and Clark too; a chain makes three.
    let chain: &[(&str, &[&str])] = &[("A", &["B"]), ("B", &["C"]), ("C", &["D"]), ("D", &[])];
    let herd = TestHerd::start(chain, "").await;
    for i in 0..50 {
        let at = herd
            .ask("A", &[&format!("IAMAT fast{i} +34.068930-118.445127 {i}")])
            .await;
        let answer = herd.ask("D", &[&format!("WHATSAT fast{i} 5 1")]).await;
        assert!(
            answer.starts_with(&at),
            "round {i}: {answer:?} should start with {at:?}"
        );
    }
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_wins_across_the_herd_whatever_the_order() {
    let herd = TestHerd::start(TOPOLOGY_2023, "").await;
    // The newest report goes to one end, older ones to the others, in a burst.
    herd.ask("Jaquez", &["IAMAT phone +10+10 300.5"]).await;
    herd.ask("Bailey", &["IAMAT phone +20+20 300.25"]).await;
    herd.ask("Clark", &["IAMAT phone +30+30 100"]).await;
    for name in NAMES {
        wait_until_async(&format!("{name} holds the newest"), || async {
            stored_at(&herd, name, "phone").await.is_some_and(|at| {
                at.starts_with("AT Jaquez ") && at.ends_with(" phone +10+10 300.5")
            })
        })
        .await;
    }
    // A flood ends: every table has exactly the one client and all outboxes drain.
    for s in &herd.servers {
        assert_eq!(s.node.table().len(), 1);
        wait_until("outboxes drain", || {
            s.node.links.iter().all(|l| l.outbox.is_empty())
        })
        .await;
    }
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_flood_to_every_server() {
    let herd = TestHerd::start(TOPOLOGY_2023, "").await;
    let mut lines = Vec::new();
    for i in 0..2000 {
        lines.push(format!("IAMAT c{i} +{}.5-{}.25 {i}", i % 80, i % 170));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let answer = herd.ask("Campbell", &refs).await;
    assert_eq!(answer.lines().count(), 2000);
    for s in &herd.servers {
        wait_until(&format!("{} has all 2000", s.node.name), || {
            s.node.table().len() == 2000
        })
        .await;
    }
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_secret_is_required_when_configured() {
    std::env::set_var(
        "HERD_TEST_SECRET_A",
        "correct horse battery staple, twice over",
    );
    let herd = TestHerd::start(
        TOPOLOGY_2023,
        "[herd]\nsecret_env = \"HERD_TEST_SECRET_A\"\n",
    )
    .await;
    herd.ask("Bona", &["IAMAT s +1+1 1"]).await;
    for name in NAMES {
        wait_until_async(name, || async {
            stored_at(&herd, name, "s").await.is_some()
        })
        .await;
    }
    // A stranger on the peer port who knows a neighbour's name but not the secret gets nowhere
    // (inside TLS, which anyone may open).
    let tcp = tokio::net::TcpStream::connect(herd.server("Clark").peer_addr)
        .await
        .unwrap();
    let seal = herd_server::peer::seal::Seal::self_signed(Vec::new()).unwrap();
    let (mut stream, _) = seal.connect(Box::new(tcp), "Clark").await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"HERD1 HELLO Bona Clark 0011\n")
        .await
        .unwrap();
    let mut buf = vec![0; 512];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HERD1 WELCOME Clark "));
    stream
        .write_all(b"HERD1 PROOF 00\nAT Bona +0.1 s +5+5 99\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    let at = stored_at(&herd, "Clark", "s").await.unwrap();
    assert!(at.ends_with(" s +1+1 1"), "{at}");
    // The log is written by its own task: wait for the line rather than race it.
    let path = herd.server("Clark").log_path.clone();
    wait_until("Clark logs the refused handshake", || {
        std::fs::read_to_string(&path).is_ok_and(|l| l.contains("handshake refused: wrong proof"))
    })
    .await;
    herd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_has_input_output_and_link_events() {
    let herd = TestHerd::start(TOPOLOGY_2023, "").await;
    herd.ask("Clark", &["IAMAT logged +1+1 1", "NOPE"]).await;
    let path = herd.server("Clark").log_path.clone();
    let _files = herd.stop().await;
    let log = std::fs::read_to_string(path).unwrap();
    assert!(log.contains(" < IAMAT logged +1+1 1\n"), "{log}");
    assert!(log.contains(" > AT Clark "), "{log}");
    assert!(
        log.contains(" < NOPE\n") && log.contains(" > ? NOPE\n"),
        "{log}"
    );
    assert!(log.contains(" * link Bona: connected"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsat_about_a_client_nobody_knows_is_still_answered_with_a_question_mark() {
    let herd = TestHerd::start(TOPOLOGY_2023, "").await;
    let answer = herd
        .ask(
            "Clark",
            &[
                "WHATSAT ghost 10 5",
                "IAMAT real +1+1 1",
                "WHATSAT real 10 1",
            ],
        )
        .await;
    let mut lines = answer.lines();
    assert_eq!(lines.next(), Some("? WHATSAT ghost 10 5"));
    assert!(lines.next().unwrap().starts_with("AT Clark "));
    herd.stop().await;
}
