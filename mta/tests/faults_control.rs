//! Missing or garbled control files (spec §3.1, §9.1): a number file that
//! is not a number keeps the default; a control file that exists but
//! cannot be read, or a missing `locals` with no `me`, stops qmail-send
//! from starting, with a log line naming the file and then qmail's alert.
//! The supervisor restarts it once a second (not a hot loop) until the
//! admin fixes the file.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Mta;

const ALERT: &str = "alert: cannot start: unable to read controls\n";

#[test]
fn garbled_number_file_keeps_the_default() {
    let mut m = Mta::init();
    m.control("concurrencylocal", "abc\n");
    m.control("concurrencyremote", "3\n");
    m.start();
    assert!(
        m.log().starts_with("status: local 0/10 remote 0/3\n"),
        "{}",
        m.log()
    );
    m.inject("user@localhost", &["user@localhost"], "Subject: x\n\nhi\n");
    m.wait_maildir(&m.user_home().join("Maildir"), 1);
}

#[test]
fn unreadable_locals_refuses_to_start_with_once() {
    let mut m = Mta::init();
    let locals = m.root.join("control/locals");
    std::fs::remove_file(&locals).unwrap();
    std::fs::create_dir(&locals).unwrap();
    m.spawn(true);
    let code = m.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(111), "{}", m.log());
    let log = m.log();
    assert!(
        log.starts_with("warning: unable to read control/locals: Is a directory"),
        "{log}"
    );
    assert!(log.ends_with(&format!("\n{ALERT}")), "{log}");
}

#[test]
fn missing_me_and_locals_refuses_to_start() {
    // `mta start` re-creates a default `me` and `locals`, so this runs
    // qmail-start (which becomes qmail-send) directly, its log on stdout.
    let m = Mta::init();
    for f in ["me", "locals"] {
        std::fs::remove_file(m.root.join("control").join(f)).unwrap();
    }
    let mut path = m.root.join("bin").into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut child = Command::new(m.root.join("bin/qmail-start"))
        .arg("./Maildir/")
        .env("QMAILHOME", &m.root)
        .env("MTA_MODE", "unprivileged")
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(111));
    assert_eq!(
        out,
        format!("warning: neither control/locals nor control/me exists\n{ALERT}")
    );
}

#[test]
fn supervisor_retries_once_a_second_until_the_controls_are_fixed() {
    let mut m = Mta::init();
    let locals = m.root.join("control/locals");
    std::fs::remove_file(&locals).unwrap();
    std::fs::create_dir(&locals).unwrap();
    m.spawn(false);
    let t0 = Instant::now();
    assert!(common::wait_for(Duration::from_secs(20), || m
        .log()
        .matches(ALERT)
        .count()
        >= 3));
    // Three start attempts need at least two restart pauses of 1 s each.
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(1900), "hot loop: {took:?}");
    // Fixed: the next restart comes up and delivers.
    std::fs::remove_dir(&locals).unwrap();
    std::fs::write(&locals, "localhost\n").unwrap();
    m.wait_log("status: local 0/10 remote 0/20\n", Duration::from_secs(20));
    m.inject("user@localhost", &["user@localhost"], "Subject: x\n\nhi\n");
    m.wait_maildir(&m.user_home().join("Maildir"), 1);
    assert_eq!(m.stop(), Some(0));
}
