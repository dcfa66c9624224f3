//! The dashboard in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against five real `herd serve` processes. Skipped, with a message, when Chromium or
//! chromedriver is not installed (CI installs Debian's `chromium` and `chromium-driver`).
//!
//! Screenshots are left in cargo's target tmp folder (`target/tmp/dashboard*.png`).

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use support::herd::{ask, poll_every, DEADLINE, TOPOLOGY_2023};
use support::procs::{free_addr, ProcHerd};

/// How long the browser test waits for the page to show something (the page polls each
/// second; a browser's first start is slow on a busy machine).
const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// The first of `names` found on the PATH.
fn installed(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A chromedriver child, killed by its id when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` (a page query) until it holds; panics with `what` after [`PAGE_DEADLINE`].
async fn wait_for_page(client: &Client, what: &str, script: &str) -> Value {
    let start = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if value != Value::Bool(false) && !value.is_null() {
            return value;
        }
        if start.elapsed() > PAGE_DEADLINE {
            let shot = client.screenshot().await.unwrap_or_default();
            let _ = std::fs::write(artifact("dashboard-failed.png"), shot);
            panic!("the page never showed: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where a screenshot goes.
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Failed requests and errors the page met: resources answered 4xx/5xx (or not at all),
/// and what the page itself noted (fetch failures, CSP violations, script errors).
const FAILURES: &str = r#"
const bad = performance.getEntriesByType("resource")
  .concat(performance.getEntriesByType("navigation"))
  .filter((e) => e.responseStatus >= 400)
  .map((e) => e.name + " " + e.responseStatus);
return bad.concat(window.herdErrors || []);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_herd_live() {
    let (Some(chromium), Some(chromedriver)) = (
        installed(&["chromium", "chromium-browser", "google-chrome"]),
        installed(&["chromedriver"]),
    ) else {
        eprintln!("skipped: chromium and chromedriver are not installed (Debian: chromium chromium-driver)");
        return;
    };
    let mut herd = ProcHerd::with_http(TOPOLOGY_2023, "");
    herd.start_all();

    let port = free_addr().port();
    let driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let listening = poll_every(Instant::now() + DEADLINE, Duration::from_millis(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(listening, "chromedriver did not start");
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--window-size=1280,860",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");

    let page = format!("http://{}/", herd.http_addr("Bailey"));
    client.goto(&page).await.unwrap();
    wait_for_page(
        &client,
        "five servers up",
        r#"return document.querySelectorAll('g.server[data-state="up"]').length === 5;"#,
    )
    .await;
    wait_for_page(
        &client,
        "six links up",
        r#"return document.querySelectorAll('line.link[data-state="up"]').length === 6;"#,
    )
    .await;

    // A client reports to Clark; its marker appears on the page Bailey serves.
    ask(
        herd.addr("Clark"),
        &["IAMAT browser.kiwi +34.068930-118.445127 1621464827.959498503"],
    )
    .await;
    wait_for_page(
        &client,
        "the new client's marker",
        r#"return document.querySelector('circle.client[data-client="browser.kiwi"]') !== null;"#,
    )
    .await;
    let failures = client.execute(FAILURES, vec![]).await.unwrap();
    assert_eq!(failures, json!([]), "the page met failures");
    let shot = client.screenshot().await.unwrap();
    std::fs::write(artifact("dashboard.png"), shot).unwrap();

    // Jaquez dies: its two links turn down.
    herd.kill("Jaquez");
    wait_for_page(
        &client,
        "Jaquez down with its links",
        r#"
        const down = (k) => { const l = document.querySelector('line.link[data-link="' + k + '"]'); return l && l.dataset.state === "down"; };
        const s = document.querySelector('g.server[data-server="Jaquez"]');
        return s && s.dataset.state === "down" && down("Campbell-Jaquez") && down("Clark-Jaquez")
          && document.querySelectorAll('line.link[data-state="up"]').length === 4;
        "#,
    )
    .await;
    let shot = client.screenshot().await.unwrap();
    std::fs::write(artifact("dashboard-server-down.png"), shot).unwrap();
    client.close().await.unwrap();
    drop(driver);
}
