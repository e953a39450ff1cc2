//! The `container:reference` target end to end: real containers from the
//! locally built image `mta-reference:local` (ci/images/reference/build,
//! which `ci/test` runs first), started through testcontainers 0.15.
//! Skipped, saying why, when no Docker engine answers or the image is
//! missing.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_conformance");
const IMAGE: &str = "mta-reference:local";
const LABEL: &str = "org.mta.conformance=1";

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    let ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok(&["version"]) {
        return Some("no Docker engine answers".into());
    }
    if !ok(&["image", "inspect", IMAGE]) {
        return Some(format!("{IMAGE} is missing (ci/images/reference/build)"));
    }
    None
}

/// Names of the containers carrying the suite's label.
fn labelled() -> Vec<String> {
    let o = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label={LABEL}")])
        .args(["--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn reference_image_passes_delivery_relay_inject_restart_qmtp_and_qmqp_scenarios() {
    if let Some(why) = unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let filter = "^(local-maildir-delivery|relay-relayclient-set|local-inject-through-qmail-queue|local-restart-delivers|bounce-remote-rcpt-rejected|qmtp-recipients-in-order|qmqp-relay|qmqp-qmqpc-accepted)$";
    let child = Command::new(BIN)
        .args(["run", "--target", "container:reference", "--jobs", "2"])
        .arg("--filter")
        .arg(filter)
        .arg("--out")
        .arg(out.path())
        .arg(scenarios())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 8, "{stdout}");
    for r in results {
        assert_eq!(r["status"], "PASS", "{}: {}", r["id"], r["reason"]);
        assert_eq!(r["target"], "reference-container");
    }
    // Every container of that run is gone.
    let mine = format!("mta-conformance-{pid}-");
    let left: Vec<String> = labelled()
        .into_iter()
        .filter(|n| n.starts_with(&mine))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn cleanup_removes_containers_of_a_run_that_died() {
    if let Some(why) = unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    // A pid that no process has any more: a run killed before cleanup.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let name = format!("mta-conformance-{dead}-0");
    let created = Command::new("docker")
        .args(["create", "--name", &name, IMAGE])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    assert!(labelled().contains(&name), "the image's label is inherited");
    let o = Command::new(BIN).arg("cleanup").output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(!labelled().contains(&name), "{o:?}");
}
