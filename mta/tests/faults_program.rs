//! A program that hangs: qmail has no limit on `|program` lines; ours is
//! `control/timeoutlocal` (README, "Control files beyond qmail's"). The
//! program and everything in its process group are killed, the delivery
//! is deferred (not lost) with `Timeout on program delivery. (#4.3.0)`,
//! and other deliveries go on meanwhile.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Mta;

const MSG: &str = "Subject: x\n\nhello\n";

/// Pids of processes whose command line contains `needle`.
fn procs_with(needle: &str) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            v.push(format!("{name}: {cmd}"));
        }
    }
    v
}

#[test]
fn hung_program_times_out_and_defers() {
    let mut m = Mta::init();
    m.control("timeoutlocal", "3\n");
    // A sleep nobody else runs, so we can look for leftovers.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let arg = format!("600.{nanos:09}");
    m.dot_qmail(".qmail-hang", &format!("|sleep {arg}\n"));
    m.start();
    m.inject("user@localhost", &["user-hang@localhost"], MSG);
    m.wait_log("starting delivery 1: ", Duration::from_secs(20));
    assert!(common::wait_for(Duration::from_secs(10), || !procs_with(
        &arg
    )
    .is_empty()));
    // Another address is delivered while the program hangs.
    m.inject("user@localhost", &["user@localhost"], MSG);
    m.wait_maildir(&m.user_home().join("Maildir"), 1);
    m.wait_log(
        "delivery 1: deferral: Timeout_on_program_delivery._(#4.3.0)/\n",
        Duration::from_secs(20),
    );
    let log = m.log();
    let ok = log.find("delivery 2: success: did_1+0+0/").unwrap();
    let timeout = log.find("delivery 1: deferral: Timeout").unwrap();
    assert!(ok < timeout, "{log}");
    assert!(
        common::wait_for(Duration::from_secs(5), || procs_with(&arg).is_empty()),
        "left over: {:?}",
        procs_with(&arg)
    );
    // Deferred, not lost: fixed, retried, delivered.
    assert!(!m.queue_empty());
    m.dot_qmail(".qmail-hang", "./Maildir/\n");
    m.alarm();
    m.wait_maildir(&m.user_home().join("Maildir"), 2);
    m.wait_queue_empty(Duration::from_secs(10));
    assert_eq!(m.stop(), Some(0));
}
