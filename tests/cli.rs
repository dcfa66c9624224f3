//! The `herd` command line as a user meets it: exit codes and one-line messages.

mod support;

use std::process::Command;

use support::procs::herd_bin;

fn herd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(herd_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_default_round_trips_through_config_check() {
    let (code, default, _) = herd(&["config", "default"]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.toml");
    std::fs::write(&file, default).unwrap();
    let (code, out, err) = herd(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5 servers"), "{out}");
    assert!(
        out.contains("Clark") && out.contains("127.0.0.1:10003") && out.contains("Bona, Jaquez"),
        "{out}"
    );
}

#[test]
fn a_bad_config_is_one_message_naming_file_and_field_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\nneighbours=['Nobody']\n", "servers[0].neighbours: unknown server \"Nobody\""),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n[[servers]]\nname='A'\nlisten='127.0.0.1:2'\n", "servers[1].name: duplicate name \"A\""),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n[[servers]]\nname='B'\nlisten='127.0.0.1:1'\n", "servers[1].listen: duplicate address"),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\nneighbours=['A']\n", "servers[0].neighbours: \"A\" cannot talk with itself"),
        ("[[servers]]\nname='A'\nlisten='localhost'\n", "servers[0].listen: \"localhost\" is not an address"),
        ("[places]\nprovider='yahoo'\n[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n", "places.provider: unknown provider \"yahoo\""),
        ("[places]\nprovider='google'\napi_key_env='HERD_CLI_TEST_NO_SUCH_KEY'\n[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n", "places.api_key_env: the \"google\" provider needs a Google API key, but the environment variable HERD_CLI_TEST_NO_SUCH_KEY is not set"),
        ("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\ncolour='blue'\n", "unknown field `colour`"),
        ("[places]\ntimeout='5 parsecs'\n[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n", ".toml:2: places.timeout: \"5 parsecs\" is not a duration like \"5s\" or \"24h\""),
        ("this is not toml", ".toml:1: (toml): expected"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap();
        for args in [
            vec!["config", "check", path],
            vec!["serve", "A", "--config", path],
        ] {
            let (code, out, err) = herd(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{out}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            // herd: FILE:LINE: FIELD: PROBLEM (no LINE for a field that is not written).
            assert!(err.starts_with(&format!("herd: {path}:")), "{err}");
            assert!(err.contains(expected), "{err} should contain {expected}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let (code, _, err) = herd(&["config", "check", "/no/such/file.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("herd: /no/such/file.toml: (file): cannot read it"),
        "{err}"
    );
}

#[test]
fn unknown_servers_and_targets_are_usage_errors() {
    let (code, _, err) = herd(&["serve", "Nobody"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no server called \"Nobody\" (known: Bailey, Bona, Campbell, Clark, Jaquez)"),
        "{err}"
    );
    let (code, _, err) = herd(&["client", "Nowhere", "IAMAT a +1+1 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"Nowhere\" is neither a server"), "{err}");
    let (code, _, _) = herd(&["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn herd_client_sends_lines_and_prints_answers() {
    let solo: &[(&str, &[&str])] = &[("Solo", &[])];
    let mut procs = support::procs::ProcHerd::new(solo, "");
    procs.start("Solo");
    let addr = procs.addr("Solo").to_string();
    let (code, out, err) = herd(&[
        "client",
        &addr,
        "IAMAT kiwi +34.068930-118.445127 1621464827.959498503",
        "HELLO",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("AT Solo +")
            && lines[0].ends_with(" kiwi +34.068930-118.445127 1621464827.959498503"),
        "{out}"
    );
    assert_eq!(lines[1], "? HELLO");
    let (code, out, _) = herd(&[
        "client",
        "Solo",
        "--config",
        procs.config.to_str().unwrap(),
        "WHATSAT kiwi 10 2",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with(lines[0]) && out.ends_with("}\n\n"), "{out}");
}

#[test]
fn places_near_lists_the_offline_index() {
    let (code, out, err) = herd(&[
        "places", "near", "-33.8688", "151.2093", "5", "--limit", "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("Sydney"), "{out}");
    let (code, out, _) = herd(&[
        "places",
        "near",
        "34.068930",
        "-118.445127",
        "10",
        "--json",
        "--limit",
        "2",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "OK");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let (code, _, err) = herd(&["places", "near", "95", "0", "5"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("herd: 95,0 is not a position"), "{err}");
}
