//! Bind and reach are separate (issue 11): servers whose peer ports bind every interface
//! (`0.0.0.0`) are reached by their neighbours at `address`, a host name looked up at every
//! dial. Real `herd` processes and real sockets.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::herd::{ask, DEADLINE};
use support::procs::{free_addr, herd_bin, ProcHerd};

const PAIR: &[(&str, &[&str])] = &[("Clark", &["Jaquez"]), ("Jaquez", &["Clark"])];

/// A 32-byte secret (binding beyond loopback needs one).
const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbours_bound_to_every_interface_find_each_other_by_name() {
    let mut herd = ProcHerd::new(PAIR, "");
    let (clark, jaquez) = (herd.addr("Clark"), herd.addr("Jaquez"));
    let (clark_peer, jaquez_peer) = (free_addr().port(), free_addr().port());
    let data = herd.dir.path().join("data");
    // `localhost` is both ::1 and 127.0.0.1 on most systems; the peer ports listen on IPv4
    // only, so a dial may have to try the next address the name gives.
    let text = format!(
        "[herd]\nsecret_env = \"HERD_SECRET\"\n\
         [storage]\ndir = {data:?}\n\
         [[servers]]\nname = \"Clark\"\nlisten = \"{clark}\"\npeer = \"0.0.0.0:{clark_peer}\"\n\
         address = \"localhost\"\nneighbours = [\"Jaquez\"]\n\
         [[servers]]\nname = \"Jaquez\"\nlisten = \"{jaquez}\"\npeer = \"0.0.0.0:{jaquez_peer}\"\n\
         address = \"localhost:{jaquez_peer}\"\n"
    );
    std::fs::write(&herd.config, text).unwrap();
    herd.env.push(("HERD_SECRET".into(), SECRET.into()));

    let check = Command::new(herd_bin())
        .args(["config", "check"])
        .arg(&herd.config)
        .env("HERD_SECRET", SECRET)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{shown}");
    assert!(
        shown.contains(&format!(
            "0.0.0.0:{clark_peer} reached at localhost:{clark_peer}"
        )),
        "{shown}"
    );

    herd.start_all();
    let answer = ask(
        clark,
        &["IAMAT kiwi +34.068930-118.445127 1621464827.959498503"],
    )
    .await;
    assert!(answer.starts_with("AT Clark "), "{answer}");
    // The record crosses the link Clark dialed by name; `herd dump` finds Jaquez by name too.
    let start = Instant::now();
    loop {
        match herd.try_dump("Jaquez") {
            Ok(table) if table.contains("kiwi") => break,
            other => assert!(
                start.elapsed() < DEADLINE,
                "Jaquez never got Clark's record over a link dialed by name: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
