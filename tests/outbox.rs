//! A link's outbox is bounded in bytes (`[herd] link_outbox_bytes`, issue 9): when a neighbour
//! stops reading long enough for it to fill, the records it refuses are counted and reach the
//! neighbour by a catch-up round on the same connection, once it reads again. The real servers
//! and links, over the in-memory network, whose delivery a test can hold.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use herd_server::config::Config;
use herd_server::server::{self, Running};
use support::herd::{ask, wait_until};
use support::memnet::MemNet;

/// Clark and Jaquez, linked through `net`, with outboxes of 1 MiB.
async fn pair(net: &Arc<MemNet>, dir: &std::path::Path) -> Vec<Running> {
    let mut text = format!(
        "[herd]\nlink_outbox_bytes = 1048576\n# In-memory addresses: nothing real listens beyond loopback.\ninsecure_links = true\n[storage]\ndir = {:?}\n",
        dir.display().to_string()
    );
    for (i, (name, other)) in [("Clark", "Jaquez"), ("Jaquez", "Clark")]
        .iter()
        .enumerate()
    {
        let addr = SocketAddr::from(([10, 0, 0, i as u8 + 1], 7000));
        text.push_str(&format!(
            "\n[[servers]]\nname = {name:?}\nlisten = \"{addr}\"\nneighbours = [{other:?}]\n"
        ));
    }
    let config = Config::parse(&text, "outbox.toml").unwrap();
    let places = herd_places::from_config(&config.places).unwrap();
    let mut running = Vec::new();
    for name in ["Clark", "Jaquez"] {
        let any = || server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listeners = server::Listeners {
            client: Some(any()),
            peer: Some(any()),
        };
        let r = server::start_on(
            &config,
            name,
            listeners,
            places.clone(),
            net.transport(name),
        )
        .await
        .unwrap();
        net.register(config.server(name).unwrap().peer, r.node.clone());
        running.push(r);
    }
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_full_outbox_refused_reach_the_neighbour_by_catch_up_on_the_same_link() {
    let dir = tempfile::tempdir().unwrap();
    let net = MemNet::new();
    let servers = pair(&net, dir.path()).await;
    let (clark, jaquez) = (&servers[0], &servers[1]);
    wait_until("the link is up", || {
        clark.node.links[0].is_up() && jaquez.node.links[0].is_up()
    })
    .await;

    // Jaquez stops reading what Clark sends; Clark takes reports of new clients (long IDs,
    // so that a few thousand fill the outbox) until its outbox for Jaquez refuses some.
    assert_eq!(net.hold("Clark", "Jaquez", true), 1);
    let link = &clark.node.links[0];
    let pad = "x".repeat(200);
    let mut clients = 0;
    while link.overflowed() == 0 {
        assert!(clients < 100_000, "the outbox never filled");
        let lines: Vec<String> = (clients..clients + 500)
            .map(|i| format!("IAMAT {pad}{i} +1+1 {}", 1_700_000_000 + i))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let answer = ask(clark.addr, &lines).await;
        assert_eq!(answer.lines().count(), lines.len());
        clients += lines.len();
    }
    assert!(link.outbox.bytes() <= 1 << 20);
    net.hold("Clark", "Jaquez", false);

    // The same connection catches Jaquez up: every client reaches it, the refused ones too.
    wait_until("Jaquez holds every client", || {
        jaquez.node.table().len() == clients
    })
    .await;
    assert!(link.is_up());
    let log =
        std::fs::read_to_string(dir.path().join("Clark").join("herd.log")).unwrap_or_default();
    assert!(!log.contains("link Jaquez: dropped"), "{log}");
    for s in servers {
        s.shutdown().await;
    }
    let log = std::fs::read_to_string(dir.path().join("Clark").join("herd.log")).unwrap();
    assert!(log.contains("link Jaquez: outbox full"), "{log}");
    assert!(log.contains(" link outboxes full: "), "{log}");
    net.clear();
}
