//! qmail-lspawn's Spawner driving the real qmail-local, as the spawn
//! server would (spec §1.4): the child gets the message on fd 0 and one
//! pipe for fds 1 and 2, and its exit becomes the report.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use mta::home::{Home, Mode};
use mta::local::lspawn::LocalSpawner;
use mta::spawn::{Command, Spawner, Status};

struct Site {
    dir: tempfile::TempDir,
}

fn site(assign: &str) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path();
    fs::create_dir_all(q.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_qmail-local"), q.join("bin/qmail-local"))
        .unwrap();
    fs::create_dir_all(q.join("users")).unwrap();
    fs::write(q.join("users/assign"), assign).unwrap();
    mta::local::newu::compile(q).unwrap();
    for h in ["alias", "bob"] {
        fs::create_dir_all(q.join(h)).unwrap();
        fs::set_permissions(q.join(h), fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::write(q.join("message"), b"Subject: x\n\nbody\n").unwrap();
    Site { dir }
}

impl Site {
    /// Runs one delivery the way the spawn server does; returns the report.
    fn deliver(&self, recipient: &str) -> (Status, String) {
        let q = self.dir.path();
        let sp =
            LocalSpawner::new(Home::new(q, Mode::Unprivileged), b"./Mailbox".to_vec()).unwrap();
        let cmd = Command {
            slot: 0,
            messid: b"1/1".to_vec(),
            sender: b"s@x".to_vec(),
            recipient: recipient.as_bytes().to_vec(),
        };
        let report = match sp.command(&cmd) {
            Err(r) => r,
            Ok(mut p) => {
                let out = p
                    .env("QMAILHOME", q)
                    .env("MTA_MODE", "unprivileged")
                    .stdin(fs::File::open(q.join("message")).unwrap())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .output()
                    .unwrap();
                let mut all = out.stdout;
                all.extend_from_slice(&out.stderr);
                sp.report(&cmd, out.status, all)
            }
        };
        (
            report.status,
            String::from_utf8_lossy(&report.text).into_owned(),
        )
    }
}

fn assign_for(q: &std::path::Path) -> String {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    format!(
        "=bob:bob:{uid}:{gid}:{}:::\n+bob-:bob:{uid}:{gid}:{}:-::\n.\n",
        q.join("bob").display(),
        q.join("bob").display()
    )
}

#[test]
fn user_from_cdb_gets_default_delivery() {
    // The assign file needs the tempdir path; write it after creating.
    let s = site(".\n");
    let q = s.dir.path().to_path_buf();
    fs::write(q.join("users/assign"), assign_for(&q)).unwrap();
    mta::local::newu::compile(&q).unwrap();
    let (st, text) = s.deliver("Bob@example.com");
    assert_eq!((st, text.as_str()), (Status::Success, "did 1+0+0\n"));
    let mbox = fs::read_to_string(q.join("bob/Mailbox")).unwrap();
    assert!(mbox.contains("Delivered-To: Bob@example.com\n"), "{mbox}");
}

#[test]
fn extension_without_file_bounces() {
    let s = site(".\n");
    let q = s.dir.path().to_path_buf();
    fs::write(q.join("users/assign"), assign_for(&q)).unwrap();
    mta::local::newu::compile(&q).unwrap();
    let (st, text) = s.deliver("bob-nothing@example.com");
    assert_eq!(
        (st, text.as_str()),
        (
            Status::Failure,
            "Sorry, no mailbox here by that name. (#5.1.1)\n"
        )
    );
}

#[test]
fn unknown_address_goes_to_alias() {
    let s = site(".\n");
    let q = s.dir.path();
    fs::write(q.join("alias/.qmail-postmaster"), "./pm\n").unwrap();
    let (st, text) = s.deliver("PostMaster@example.com");
    assert_eq!((st, text.as_str()), (Status::Success, "did 1+0+0\n"));
    assert!(q.join("alias/pm").exists());
}

#[test]
fn temporary_failure_and_empty_local() {
    let s = site(".\n");
    let q = s.dir.path();
    fs::write(q.join("alias/.qmail-t"), "|echo busy; exit 111\n").unwrap();
    assert_eq!(
        s.deliver("t@example.com"),
        (Status::Deferral, "busy\n".to_string())
    );
    assert_eq!(s.deliver("@example.com"), (Status::Success, String::new()));
}

#[test]
fn qmail_lspawn_binary_speaks_the_spawn_protocol() {
    use std::io::{Read, Write};
    let s = site(".\n");
    let q = s.dir.path();
    fs::create_dir_all(q.join("queue/mess/1")).unwrap();
    fs::write(q.join("queue/mess/1/1"), b"Subject: x\n\nbody\n").unwrap();
    fs::write(q.join("alias/.qmail-postmaster"), "./pm\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qmail-lspawn"))
        .arg("./Mailbox")
        .env("QMAILHOME", q)
        .env("MTA_MODE", "unprivileged")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"\x05mess-ignored\0s@x\0x@y\0")
        .and_then(|()| stdin.write_all(b"\x031/1\0s@x\0postmaster@example.com\0"))
        .unwrap();
    drop(stdin);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out[0], 120);
    let mut reports: Vec<&[u8]> = out[1..].split_inclusive(|&c| c == 0).collect();
    reports.sort();
    assert_eq!(
        reports,
        vec![
            &b"\x03Kdid 1+0+0\n\0"[..],
            &b"\x05DInternal error: messid has nonnumerics. (#5.3.5)\n\0"[..]
        ]
    );
    let pm = fs::read_to_string(q.join("alias/pm")).unwrap();
    assert!(pm.contains("Delivered-To: postmaster@example.com\n"));
}
