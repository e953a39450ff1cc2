//! The `migrate` binary end to end: writing, refusing to overwrite,
//! `--force`, `--dry-run` diffs, idempotence, JSON, exit codes, stdin,
//! and refusal of non-sendmail input naming file and line.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn migrate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migrate"));
    c.args(args)
        .args(["--me", "mail.example.org", "--passwd", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn writes_then_is_idempotent_then_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("aliases");
    std::fs::write(&src, "a: bob\nb: carol\n").unwrap();
    let q = d.path().join("alias");
    let args = [
        "aliases",
        src.to_str().unwrap(),
        "--qmail",
        q.to_str().unwrap(),
    ];
    let o = migrate(&args, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(q.join(".qmail-a")).unwrap(),
        "&bob@mail.example.org\n"
    );
    assert!(text(&o.stderr).contains("need(s) a decision"));
    assert_eq!(migrate(&args, None).status.code(), Some(0), "second run");
    std::fs::write(&src, "a: dave\n").unwrap();
    let o = migrate(&args, None);
    assert_eq!(o.status.code(), Some(100));
    assert!(text(&o.stderr).contains("not overwritten (use --force)"));
    assert_eq!(
        std::fs::read_to_string(q.join(".qmail-a")).unwrap(),
        "&bob@mail.example.org\n"
    );

    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let o = migrate(&dry, None);
    let diff = text(&o.stdout);
    assert!(
        diff.contains("-&bob@mail.example.org\n+&dave@mail.example.org\n"),
        "{diff}"
    );
    assert_eq!(
        std::fs::read_to_string(q.join(".qmail-a")).unwrap(),
        "&bob@mail.example.org\n"
    );

    let mut force = args.to_vec();
    force.push("--force");
    assert_eq!(migrate(&force, None).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(q.join(".qmail-a")).unwrap(),
        "&dave@mail.example.org\n"
    );
}

#[test]
fn stdin_json_and_needs_decision_exit() {
    let d = tempfile::tempdir().unwrap();
    let q = d.path().join("alias");
    let o = migrate(
        &["aliases", "-", "--qmail", q.to_str().unwrap(), "--json"],
        Some("a: bob carol\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["needs_decision"], true);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["construct"] == "`bob carol`")
        .unwrap();
    assert_eq!(f["file"], "(stdin)");
    assert_eq!(f["line"], 1);
    assert_eq!(f["action"], "not_converted");
}

#[test]
fn non_sendmail_input_is_refused_with_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("aliases");
    std::fs::write(&src, "# virtual\n@example.com user@example.com\n").unwrap();
    let q = d.path().join("alias");
    let o = migrate(
        &[
            "aliases",
            src.to_str().unwrap(),
            "--qmail",
            q.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(100));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("{}:2: refused:", src.display())),
        "{err}"
    );
    assert!(!q.exists(), "nothing written");
}

#[test]
fn forward_subcommand_writes_dot_qmail() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(".forward");
    std::fs::write(&f, "bob\n").unwrap();
    let o = migrate(&["forward", f.to_str().unwrap(), "--user", "root"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(d.path().join(".qmail")).unwrap(),
        "&bob@mail.example.org\n"
    );
}
