//! The real `herd` binary as five child processes: crashes, restarts and clean stops.

mod support;

use support::herd::{ask, wait_until_async, TOPOLOGY_2023};
use support::procs::ProcHerd;

/// True once `server` answers a WHATSAT about `client` with an AT line ending in `tail`.
async fn knows(herd: &ProcHerd, server: &str, client: &str, tail: &str) -> bool {
    let answer = ask(herd.addr(server), &[&format!("WHATSAT {client} 5 1")]).await;
    answer
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("AT ") && l.ends_with(tail))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_routed_around_and_rejoins_by_itself() {
    let mut herd = ProcHerd::new(TOPOLOGY_2023, "");
    herd.start_all();
    ask(
        herd.addr("Bailey"),
        &["IAMAT before +34.068930-118.445127 1"],
    )
    .await;
    for s in ["Bona", "Campbell", "Clark", "Jaquez"] {
        wait_until_async(&format!("{s} learns 'before'"), || {
            knows(&herd, s, "before", " before +34.068930-118.445127 1")
        })
        .await;
    }

    herd.kill("Bona");
    // Clark's only other neighbour is Jaquez: the record goes round through Campbell.
    ask(herd.addr("Clark"), &["IAMAT during +10-10 2"]).await;
    for s in ["Bailey", "Campbell", "Jaquez"] {
        wait_until_async(&format!("{s} learns 'during' without Bona"), || {
            knows(&herd, s, "during", " during +10-10 2")
        })
        .await;
    }

    herd.start("Bona");
    ask(herd.addr("Bailey"), &["IAMAT after +20-20 3"]).await;
    wait_until_async("the restarted Bona learns 'after'", || {
        knows(&herd, "Bona", "after", " after +20-20 3")
    })
    .await;
    // Its links came back by themselves: a record it receives reaches the others.
    ask(herd.addr("Bona"), &["IAMAT via.bona +30-30 4"]).await;
    for s in ["Bailey", "Campbell", "Clark", "Jaquez"] {
        wait_until_async(&format!("{s} learns 'via.bona'"), || {
            knows(&herd, s, "via.bona", " via.bona +30-30 4")
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_server_cleanly_with_its_log_flushed() {
    let solo: &[(&str, &[&str])] = &[("Solo", &[])];
    let mut herd = ProcHerd::new(solo, "");
    herd.start("Solo");
    ask(herd.addr("Solo"), &["IAMAT bye +1+1 1"]).await;
    let status = herd.terminate("Solo");
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(herd.log_path("Solo")).unwrap();
    assert!(
        log.contains(" < IAMAT bye +1+1 1\n") && log.contains(" > AT Solo "),
        "{log}"
    );
    assert!(log.contains("shutting down"), "{log}");
}

/// The classic graders stop a server with `lsof -ti:PORT | xargs kill`. Links use their own
/// port, so a neighbour's link never touches another server's client port and that command
/// names exactly one process, even with every link up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsof_on_a_client_port_names_only_that_server() {
    if std::process::Command::new("lsof")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipped: lsof is not installed (.ci/run installs it)");
        return;
    }
    let mut herd = ProcHerd::new(TOPOLOGY_2023, "");
    herd.start_all();
    // Every link up: a record from one end reaches the far end.
    ask(herd.addr("Bailey"), &["IAMAT linked +1+1 1"]).await;
    wait_until_async("Clark learns 'linked'", || {
        knows(&herd, "Clark", "linked", " linked +1+1 1")
    })
    .await;
    for (name, _) in TOPOLOGY_2023 {
        let port = herd.addr(name).port();
        let out = std::process::Command::new("lsof")
            .arg(format!("-ti:{port}"))
            .output()
            .unwrap();
        let mut pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids, [herd.pid(name).unwrap()], "lsof -ti:{port} ({name})");
    }
}
