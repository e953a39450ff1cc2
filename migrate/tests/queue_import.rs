//! `migrate queue`: hand-written sendmail qf/df pairs (in the format
//! sendmail 8.17 writes, see `queue/qf.rs`) imported into a real
//! reference-MTA root made by `mta init --unprivileged`, checked with the
//! MTA's own `qmail-qstat` and its queue files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn mta_bin(name: &str) -> PathBuf {
    // target/debug/deps/queue_import-… → target/debug/NAME
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        p.is_file(),
        "{} missing: build the MTA first (cargo build --workspace --bins)",
        p.display()
    );
    p
}

fn mta_root(d: &Path) -> PathBuf {
    let root = d.join("mta");
    let st = Command::new(mta_bin("mta"))
        .args(["init", "--unprivileged", "--root"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    root
}

const QF_GOOD: &str = "V8\nT1700000000\nK0\nN2\nP120045\nFs\n$_root@localhost\n\
Ssender@example.net\nAsender@example.net\nCbob:2002:2002:a1\nrRFC822; a1@mail.example.org\n\
RNSFA:\\bob\nC\nrRFC822; carol@example.net\nRPNSF:carol@example.net\n\
H?P?Return-Path: <\u{81}g>\nH??Received: (from root@localhost)\n\tby mail.example.org id 1;\n\
\tTue, 14 Nov 2023 22:13:20 GMT\nH?D?Date: Tue, 14 Nov 2023 22:13:20 GMT\nH??Subject: queued\n.\n";

const QF_PROGRAM: &str = "V8\nT1700000000\nS<>\nC\nRPNSF:\"|/usr/bin/vacation bob\"\n\
RPNSF:dave@example.net\nH??Subject: bounce\n.\n";

const QF_TRUNCATED: &str = "V8\nT1700000000\nSsender@example.net\nRPNSF:x@example.net\nH??Subj";

fn queue_dir(d: &Path) -> PathBuf {
    let q = d.join("mqueue");
    std::fs::create_dir(&q).unwrap();
    for (id, qf) in [
        ("AAgood", QF_GOOD),
        ("BBprog", QF_PROGRAM),
        ("CCtrunc", QF_TRUNCATED),
    ] {
        std::fs::write(q.join(format!("qf{id}")), qf).unwrap();
        std::fs::write(q.join(format!("df{id}")), "body line\n.dot\n").unwrap();
    }
    q
}

fn migrate_queue(from: &Path, to: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["queue", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `qmail-qstat`: qmail-qread lists only messages qmail-send has
/// preprocessed, and no qmail-send runs here.
fn qstat(root: &Path) -> String {
    let out = Command::new(root.join("bin/qmail-qstat"))
        .env("QMAILHOME", root)
        .env("MTA_MODE", "unprivileged")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn messages(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in std::fs::read_dir(root.join("queue/mess")).unwrap() {
        for m in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            v.push(m.unwrap().path());
        }
    }
    v
}

#[test]
fn imports_undone_recipients_once_and_leaves_the_rest() {
    let d = tempfile::tempdir().unwrap();
    let root = mta_root(d.path());
    let q = queue_dir(d.path());

    let (code, out) = migrate_queue(&q, &root, &["--dry-run"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("AAgood: would import from <sender@example.net> to bob, carol@example.net"),
        "{out}"
    );
    assert!(messages(&root).is_empty(), "dry run changed nothing");
    assert!(q.join("qfAAgood").exists());

    let (code, out) = migrate_queue(&q, &root, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("AAgood: imported from <sender@example.net> to bob, carol@example.net (qp "),
        "{out}"
    );
    assert!(out.contains("note: `\\bob` (line 12)"), "{out}");
    assert!(
        out.contains("BBprog: left in the sendmail queue: program or file recipients"),
        "{out}"
    );
    assert!(out.contains("CCtrunc: malformed, left in place:"), "{out}");
    assert!(out.contains("qfCCtrunc:5: no `.` line"), "{out}");
    // The pair moved aside; the others stayed for sendmail.
    assert!(q.join("imported/qfAAgood").exists() && q.join("imported/dfAAgood").exists());
    assert!(q.join("qfBBprog").exists() && q.join("qfCCtrunc").exists());
    assert!(q.join("dfCCtrunc").exists());

    // The MTA's queue holds exactly that message, for those recipients.
    let m = messages(&root);
    assert_eq!(m.len(), 1);
    let text = std::fs::read_to_string(&m[0]).unwrap();
    assert!(text.starts_with("Received: "), "{text}");
    assert!(!text.contains("Return-Path"), "{text}");
    assert!(
        text.contains("Subject: queued\n\nbody line\n.dot\n"),
        "{text}"
    );
    let r = qstat(&root);
    assert!(r.contains("messages in queue: 1\n"), "{r}");
    // The envelope qmail-queue committed (todo/ holds it until
    // qmail-send preprocesses it): sender and the undone recipients.
    let id = m[0].file_name().unwrap();
    let env = std::fs::read(root.join("queue/todo").join(id)).unwrap();
    let env = String::from_utf8_lossy(&env);
    assert!(
        env.ends_with("\0Fsender@example.net\0Tbob\0Tcarol@example.net\0"),
        "{env:?}"
    );

    // A second run imports nothing twice, even when the qf comes back
    // (say, restored from a backup).
    let (_, out) = migrate_queue(&q, &root, &[]);
    assert!(!out.contains("AAgood"), "{out}");
    std::fs::write(q.join("qfAAgood"), QF_GOOD).unwrap();
    let (_, out) = migrate_queue(&q, &root, &[]);
    assert!(out.contains("AAgood: already imported"), "{out}");
    assert_eq!(messages(&root).len(), 1);
}

#[test]
fn an_interrupted_import_is_reported_not_repeated() {
    let d = tempfile::tempdir().unwrap();
    let root = mta_root(d.path());
    let q = d.path().join("mqueue");
    std::fs::create_dir_all(q.join("imported")).unwrap();
    std::fs::write(q.join("imported/qfZZ.importing"), QF_GOOD).unwrap();
    std::fs::write(q.join("dfZZ"), "x\n").unwrap();
    let (code, out) = migrate_queue(&q, &root, &["--json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["id"], "ZZ");
    assert_eq!(v[0]["status"], "interrupted");
    assert!(messages(&root).is_empty());
}

#[test]
fn refuses_a_target_that_is_not_an_mta_home() {
    let d = tempfile::tempdir().unwrap();
    let q = queue_dir(d.path());
    let (code, out) = migrate_queue(&q, d.path(), &[]);
    assert_eq!(code, 100, "{out}");
    assert!(out.contains("not an MTA home"), "{out}");
    assert!(q.join("qfAAgood").exists());
}
