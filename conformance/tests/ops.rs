//! The steps of `scenario::ops` against the reference target: each check
//! given a wrong expectation must FAIL with a reason that says what was
//! found (a check that cannot fail proves nothing), and the schema
//! refuses malformed steps at their line.
//!
//! Needs the `mta` programs next to the test binary, as `tests/cli.rs`.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_conformance");

/// Runs the scenarios `(file name, text)`; returns (stdout, report.json).
fn run(scenarios: &[(&str, &str)]) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in scenarios {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out_dir = dir.path().join("out");
    let out = Command::new(BIN)
        .args(["run", dir.path().to_str().unwrap(), "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = Path::new(&out_dir).join("report.json");
    let json = std::fs::read_to_string(&report)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (stdout + &String::from_utf8_lossy(&out.stderr), json)
}

fn status_of<'a>(json: &'a serde_json::Value, id: &str) -> (&'a str, &'a str) {
    let r = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result for {id}: {json}"));
    (
        r["status"].as_str().unwrap(),
        r["reason"].as_str().unwrap_or(""),
    )
}

#[test]
fn wrong_expectations_of_every_check_fail() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "retry",
            // The first local retry is 100..144 s after birth, not 400.
            "setup: {users: [{name: alice, files: {.qmail: \"|exit 111\\n\"}}]}\nsteps:\n  - inject: {from: s@remote.test, to: [\"alice@${domain}\"], message: \"S: x\\n\\nx\\n\"}\n  - wait_log: {pattern: 'deferral'}\n  - stop: true\n  - check: {queue: {retry: {local: [400]}}}\n",
            "expected one of [400]",
        ),
        (
            "queue-files",
            "steps:\n  - stop: true\n  - inject: {from: s@remote.test, to: [\"bob@remote.test\"], message: \"S: x\\n\\nx\\n\"}\n  - check: {queue: {files: {todo: 0}}}\n",
            "queue/todo holds 1 file(s), expected 0",
        ),
        (
            "channel",
            "setup: {users: [{name: alice, files: {.qmail: \"|exit 111\\n\"}}]}\nsteps:\n  - inject: {from: s@remote.test, to: [\"alice@${domain}\"], message: \"S: x\\n\\nx\\n\"}\n  - wait_log: {pattern: 'deferral'}\n  - check: {queue: {channel: {local: [\"Dalice@${domain}\"]}}}\n",
            "the records differ",
        ),
        (
            "log-order",
            "steps:\n  - inject: {from: s@remote.test, to: [\"bob@remote.test\"], message: \"S: x\\n\\nx\\n\"}\n  - wait_log: {pattern: '^end msg '}\n  - check: {log_order: ['^end msg ', '^new msg ']}\n",
            "no log line matches /^new msg /",
        ),
        (
            "log-count",
            "steps:\n  - inject: {from: s@remote.test, to: [\"bob@remote.test\"], message: \"S: x\\n\\nx\\n\"}\n  - wait_log: {pattern: '^end msg '}\n  - check: {log_count: [{pattern: '^new msg ', count: 2}]}\n",
            "1 log line(s) match /^new msg /, expected 2",
        ),
        (
            "commands",
            "steps:\n  - inject: {from: s@remote.test, to: [\"bob@remote.test\"], message: \"S: x\\n\\nx\\n\"}\n  - wait_queue_empty: true\n  - check: {connections: [{commands: ['^EHLO ', '^MAIL ', '^RCPT ', '^DATA$', '^QUIT$']}]}\n",
            "the commands of connection 1 differ",
        ),
        (
            "processes",
            "steps:\n  - check: {processes: {qmail-send: {count: 2}}}\n",
            "1 qmail-send process(es), expected 2",
        ),
        (
            "run-exit",
            "steps:\n  - run: {program: qmail-queue, fd1: 'Xs@a\\0\\0', exit: 0}\n",
            "exit code not in [0]",
        ),
        (
            "run-lines",
            "steps:\n  - run: {program: qmail-tcpto, stdout_lines: ['^127\\.0\\.0\\.9 ']}\n",
            "stdout lines differ",
        ),
        (
            "wait-log",
            "steps:\n  - wait_log: {pattern: '^never$', timeout: 1}\n",
            "0 log line(s) match /^never$/",
        ),
        (
            "host",
            "steps:\n  - network: {hosts: {127.0.0.2: {}}}\n  - check: {connections: [{host: 127.0.0.2, count: 1}]}\n",
            "host 127.0.0.2: 0 connection(s), expected 1",
        ),
    ];
    let files: Vec<(String, String)> = cases
        .iter()
        .map(|(id, body, _)| {
            (
                format!("{id}.yaml"),
                format!("id: wrong-{id}\ntitle: a wrong {id} expectation\n{body}assert: {{settle: false}}\n"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let (out, json) = run(&refs);
    for (id, _, reason) in cases {
        let (status, why) = status_of(&json, &format!("wrong-{id}"));
        assert_eq!(status, "FAIL", "wrong-{id}: {why}\n{out}");
        assert!(why.contains(reason), "wrong-{id}: {why:?} lacks {reason:?}");
    }
}

#[test]
fn malformed_steps_are_schema_errors_at_their_line() {
    let cases: &[(&str, &str)] = &[
        ("  - write: {path: ../x, text: y}\n", "must be relative"),
        (
            "  - write: {path: control/x}\n",
            "exactly one of `text` and `remove: true`",
        ),
        ("  - signal: KILL\n", "must be HUP, ALRM or TERM"),
        (
            "  - run: {program: /bin/sh}\n",
            "plain name in the home's bin/",
        ),
        (
            "  - check: {queue: {files: {spool: 1}}}\n",
            "queue directory \"spool\"",
        ),
        (
            "  - network: {hosts: {127.0.0.1: {}}}\n",
            "other than 127.0.0.1",
        ),
        (
            "  - network: {dns: {a.test: {mx: [\"mx.a.test\"]}}}\n",
            "`<preference> <host>`",
        ),
    ];
    for (step, message) in cases {
        let text = format!("id: bad\ntitle: t\nsteps:\n  - send: NOOP\n{step}");
        let (out, _) = run(&[("bad.yaml", &text)]);
        assert!(
            out.contains("bad.yaml:5:") && out.contains(message),
            "{step}: {out}"
        );
    }
}
