//! The `conformance` binary end to end: schema errors, a deliberately
//! failing scenario, deviations, the remote target, and the whole
//! scenario library against the reference target.
//!
//! The reference target needs the `mta` programs next to this binary
//! (`cargo build --workspace --bins`, as `ci/test` does first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_conformance");

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn schema_errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "typo.yaml",
        "id: typo\ntitle: t\nsteps:\n  - expect: {code: 220}\n  - expect:\n      code: 250\n      cod: 1\n",
    );
    write(
        dir.path(),
        "badclass.yaml",
        "id: c\ntitle: t\nsteps:\n  - expect: {class: 7xx}\n",
    );
    let out = run(&["list", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("2 scenario error(s)"), "{err}");
    let want = format!(
        "{}:7:7: field `steps[1].expect.cod`: unknown field `cod`",
        f.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("badclass.yaml:4:") && err.contains("class \"7xx\""),
        "{err}"
    );
}

#[test]
fn a_failing_scenario_fails_with_a_visible_diff_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "wrong.yaml",
        "id: wrong-reply\ntitle: expects 250 for an unknown verb\nsteps:\n  - expect: {code: 220}\n  - send: XYZZY\n  - expect: {reply: \"250 ok\"}\n",
    );
    let out_dir = dir.path().join("out");
    let out = run(&[
        "run",
        dir.path().to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("FAIL wrong-reply"), "{stdout}");
    assert!(stdout.contains("--- expected\n+++ actual\n"), "{stdout}");
    assert!(
        stdout.contains("-S: 250 ok\\r\\n\n+S: 502 unimplemented (#5.5.1)\\r\\n\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 scenarios (1 cases) on `reference` (profile qmail)"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<failure") && junit.contains("wrong-reply"),
        "{junit}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["counts"]["fail"], 1);
    assert_eq!(json["results"][0]["status"], "FAIL");
    assert!(json["results"][0]["transcript"]
        .as_str()
        .unwrap()
        .contains("C: XYZZY\\r\\n"));
}

#[test]
fn listed_deviations_are_reported_as_such_under_their_profile() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        scenarios().to_str().unwrap(),
        "--profile",
        "rfc",
        "--filter",
        "^smtp-unknown-verb$",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("DEVIATION smtp-unknown-verb: qmail-smtpd answers every unknown verb"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 passed, 0 failed, 0 skipped, 1 deviations"),
        "{stdout}"
    );
}

#[test]
fn remote_target_runs_protocol_checks_and_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "greet.yaml",
        "id: greet\ntitle: t\nsteps:\n  - expect: {code: 220, text: '^${me} ESMTP'}\n  - send: QUIT\n  - expect: {code: 221}\n",
    );
    write(
        dir.path(),
        "local.yaml",
        "id: needs-files\ntitle: t\nsteps: [{expect: {code: 220}}]\nassert:\n  no_delivery: [{user: alice}]\n",
    );
    write(
        dir.path(),
        "pop3.yaml",
        "id: needs-pop3\ntitle: t\nsteps:\n  - connect: pop3\n  - expect: {status: ok}\n",
    );
    // The harness' own sink is a small SMTP server to aim at.
    let server = conformance::sink::Sink::start().unwrap();
    let target = format!("remote:{}", server.addr());
    let out = run(&[
        "run",
        dir.path().to_str().unwrap(),
        "--target",
        &target,
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("SKIP      needs-files: not supported by target `remote` yet: filesystem"),
        "{stdout}"
    );
    assert!(
        stdout.contains("SKIP      needs-pop3: not supported by target `remote` yet: pop3"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 0 failed, 2 skipped"), "{stdout}");
}

#[test]
fn list_and_show() {
    let out = run(&[
        "list",
        scenarios().to_str().unwrap(),
        "--filter",
        "^smtp-greeting$",
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("smtp-greeting "), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    let out = run(&[
        "show",
        "smuggling-s01-lf-dot-lf",
        scenarios().to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("id: smuggling-s01-lf-dot-lf"), "{stdout}");
    let out = run(&["show", "no-such-id", scenarios().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// The whole library passes against the reference target (SKIPs only
/// for capabilities the reference target does not have yet).
#[test]
fn the_scenario_library_passes_on_the_reference_target() {
    let dir = tempfile::tempdir().unwrap();
    // Every area but the crash tiers (minutes; `crash_tiers_*` below runs
    // a sample, `conformance run` the whole library).
    let mut args = vec!["run".to_string()];
    for e in std::fs::read_dir(scenarios()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() && name != "crash" && name != "targets" {
            args.push(e.path().display().to_string());
        }
    }
    args.extend(["--out".into(), dir.path().display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let results = json["results"].as_array().unwrap();
    assert!(results.len() >= 60, "only {} scenarios", results.len());
    for r in results {
        let (id, status) = (r["id"].as_str().unwrap(), r["status"].as_str().unwrap());
        match status {
            "PASS" => {}
            // Extensions qmail does not offer, capabilities the target
            // lacks: SKIP with the reason.
            "SKIP" => {
                let why = r["reason"].as_str().unwrap_or("");
                assert!(
                    why.contains("does not advertise") || why.contains("not supported by target"),
                    "unexpected skip {id}: {why}"
                )
            }
            other => panic!("{id}: {other}: {}", r["reason"]),
        }
    }
}

/// A sample of the crash tiers: a named crash point in qmail-queue and
/// one in qmail-send, a kill right after the 250, and tier B with its
/// self-test (a dropped Maildir/new fsync must be reported as a loss).
#[test]
fn crash_tiers_sample() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        scenarios().join("crash").to_str().unwrap(),
        "--filter",
        "^crash-(a-queue-todo-linked|a-send-channel-marked|kill-after-reply|b-powercut|b-powercut-checker-catches-missing-maildir-fsync)$",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("5 scenarios"), "{stdout}");
    let json = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    // The report names each power-cut state and the lost message.
    assert!(json.contains("LOST m1"), "{json}");
    assert!(json.contains("distinct power-cut states"), "{json}");
}

/// `conformance record` turns a scripted session into a scenario that
/// then passes against the same target.
#[test]
fn record_writes_a_scenario_that_replays() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.yaml");
    let mut child = Command::new(BIN)
        .args(["record", "smtp-recorded", "--out", file.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"HELO client.test\nMAIL FROM:<a@remote.test>\nRCPT TO:<nobody@remote.test>\nQUIT\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.contains("id: smtp-recorded"), "{yaml}");
    // Relaying is refused: qmail's exact 553 line is recorded.
    assert!(
        yaml.contains("553 sorry, that domain isn't in my list of allowed rcpthosts"),
        "{yaml}"
    );
    assert!(yaml.contains("220 ${me} ESMTP"), "{yaml}");
    let replay = run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stdout));
}
