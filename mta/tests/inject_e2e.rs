//! sendmail and qmail-inject through the whole MTA: the root's own
//! `bin/sendmail` (linked by `mta init`) queues with the root's
//! `bin/qmail-queue`, and the message lands in the default user's Maildir.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Mta;

/// The default root: qmail-inject completes the dotless names `user` and
/// `localhost` to `localhost.localdomain`, which `mta init` made local.
fn mta() -> Mta {
    let mut m = Mta::init();
    m.start();
    m
}

fn run(m: &Mta, prog: &str, args: &[&str], env: &[(&str, &str)], input: &str) {
    use std::io::Write;
    let mut c = Command::new(m.root.join("bin").join(prog));
    c.args(args)
        .env_remove("QMAILHOME")
        .env_remove("QMAILQUEUE")
        .env_remove("QMAILINJECT")
        .stdin(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn sendmail_t_delivers_to_the_maildir() {
    let m = mta();
    run(
        &m,
        "sendmail",
        &["-t", "-i"],
        &[("USER", "cron")],
        "To: user\nBcc: user@localhost\nSubject: hello\n\nbody\n",
    );
    let maildir = m.user_home().join("Maildir");
    // To and Bcc name the same mailbox: two deliveries.
    let got = m.wait_maildir(&maildir, 2);
    let msg = String::from_utf8(got[0].clone()).unwrap();
    assert!(
        msg.starts_with("Return-Path: <cron@localhost.localdomain>\n"),
        "{msg}"
    );
    assert!(msg.contains("\nTo: user@localhost.localdomain\n"), "{msg}");
    assert!(
        msg.contains("\nFrom: cron@localhost.localdomain\n"),
        "{msg}"
    );
    assert!(msg.contains("\nSubject: hello\n\nbody\n"));
    assert!(!msg.contains("Bcc"));
    assert!(
        msg.contains("(qmail ") && msg.contains(" invoked by uid "),
        "{msg}"
    );
    m.wait_queue_empty(Duration::from_secs(20));
}

#[test]
fn per_recipient_verp_arrives_with_expanded_sender() {
    let m = mta();
    run(
        &m,
        "qmail-inject",
        &["user@localhost"],
        &[
            ("QMAILINJECT", "r"),
            ("QMAILUSER", "me"),
            ("QMAILHOST", "h.example"),
        ],
        "Subject: verp\n\n",
    );
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let msg = String::from_utf8(got[0].clone()).unwrap();
    assert!(
        msg.starts_with("Return-Path: <me-user=localhost.localdomain@h.example>\n"),
        "{msg}"
    );
}
