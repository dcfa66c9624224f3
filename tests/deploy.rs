//! The deployment files in `deploy/` (issue 11): the systemd template passes
//! `systemd-analyze verify` without a warning, the Kubernetes manifests validate against the
//! Kubernetes schemas (`kubernetes-validate --strict`, offline), and the configs they carry pass
//! `herd config check`. Each check is skipped, saying why, where its tool is missing (`.ci/run`
//! installs them).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::procs::{config_check as config_check_output, herd_bin};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// `herd config check FILE` with a secret set; panics with its message if it fails.
fn config_check(file: &Path) {
    let out = config_check_output(
        file,
        &[("HERD_SECRET", "deploy-test-secret-0123456789abcdef")],
    );
    assert!(
        out.status.success(),
        "herd config check {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_systemd_template_verifies_without_a_warning() {
    if !have("systemd-analyze") {
        eprintln!("skipped: systemd-analyze is missing (Debian: systemd)");
        return;
    }
    // verify needs the ExecStart binary to exist: point the unit at the one cargo built.
    let unit = std::fs::read_to_string(deploy("systemd/herd@.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/herd serve %i "));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herd@.service"),
        unit.replace("/usr/local/bin/herd", &herd_bin().display().to_string()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("herd@Bailey.service"))
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // verify exits 0 on unknown keys and bad values, but says so: nothing it says is allowed.
    let about_unit: Vec<&str> = said.lines().filter(|l| l.contains("herd@")).collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify: {said}"
    );
}

#[test]
fn the_systemd_config_passes_config_check() {
    config_check(&deploy("systemd/herd.toml"));
}

#[test]
fn the_kubernetes_manifests_validate_against_the_schemas() {
    if !have("kubernetes-validate") {
        eprintln!("skipped: kubernetes-validate is missing (PyPI: kubernetes-validate)");
        return;
    }
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--no-warn"])
        .arg(deploy("kubernetes/herd.yaml"))
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubernetes-validate: {said}");
    // One line per resource, each passed: ConfigMap, Service, StatefulSet.
    for kind in ["configmap/herd-config", "service/herd", "statefulset/herd"] {
        assert!(
            said.lines()
                .any(|l| l.contains(kind) && l.contains("passed")),
            "{kind} not validated: {said}"
        );
    }
}

#[test]
fn the_config_in_the_kubernetes_config_map_passes_config_check() {
    let yaml = std::fs::read_to_string(deploy("kubernetes/herd.yaml")).unwrap();
    // The block under `herd.toml: |`, indented four spaces, up to the next document.
    let mut lines = yaml
        .lines()
        .skip_while(|l| l.trim() != "herd.toml: |")
        .skip(1);
    let mut toml = String::new();
    for line in lines.by_ref() {
        if line == "---" {
            break;
        }
        toml.push_str(line.strip_prefix("    ").unwrap_or(line));
        toml.push('\n');
    }
    assert!(
        toml.contains("[[servers]]"),
        "no config found in the ConfigMap"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herd.toml");
    std::fs::write(&file, toml).unwrap();
    config_check(&file);
    // Pod herd-N runs server herd-N: the StatefulSet's replicas match the config's servers.
    let servers = yaml.matches("name = \"herd-").count();
    assert!(yaml.contains(&format!("replicas: {servers}")));
}
