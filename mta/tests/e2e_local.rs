//! End to end through the supervisor in unprivileged mode: qmail-queue →
//! qmail-send → qmail-lspawn → qmail-local, checking what landed, the log
//! lines, and the bounce text for a permanent failure.

mod common;

use common::Mta;
use std::time::Duration;

const MSG: &str = "Subject: hi\n\nhello\n";

#[test]
fn maildir_delivery_and_log_lines() {
    let mut m = Mta::init();
    m.start();
    m.inject("alice@example.org", &["user@localhost"], MSG);
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let text = String::from_utf8(got[0].clone()).unwrap();
    assert!(
        text.starts_with(
            "Return-Path: <alice@example.org>\nDelivered-To: user@localhost\nReceived: (qmail "
        ),
        "{text}"
    );
    assert!(text.ends_with("\nSubject: hi\n\nhello\n"), "{text}");
    m.wait_log("end msg ", Duration::from_secs(10));
    let log = m.log();
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("new msg "))
        .unwrap();
    let id = lines[start].trim_start_matches("new msg ");
    assert!(
        lines[start + 1].starts_with(&format!("info msg {id}: bytes ")),
        "{log}"
    );
    assert!(
        lines[start + 1].contains(" from <alice@example.org> qp "),
        "{log}"
    );
    assert_eq!(
        lines[start + 2],
        format!("starting delivery 1: msg {id} to local user@localhost")
    );
    assert_eq!(lines[start + 3], "status: local 1/10 remote 0/20");
    assert_eq!(lines[start + 4], "delivery 1: success: did_1+0+0/");
    assert_eq!(lines[start + 5], "status: local 0/10 remote 0/20");
    assert_eq!(lines[start + 6], format!("end msg {id}"));
    m.wait_queue_empty(Duration::from_secs(5));
    assert_eq!(m.stop(), Some(0));
    assert!(m.log().ends_with("status: exiting\n"), "{}", m.log());
}

#[test]
fn mbox_extension_default_program_and_forward() {
    let mut m = Mta::init();
    m.dot_qmail(".qmail-box", "./Mailbox\n");
    m.dot_qmail(".qmail-list-default", "./listdir/\n");
    m.dot_qmail(".qmail-prog", "|cat > prog-out; echo \"ran $EXT\"\n");
    m.dot_qmail(".qmail-fwd", "&user-box\n");
    let h = m.user_home();
    for d in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(h.join("listdir").join(d)).unwrap();
    }
    m.start();
    m.inject(
        "s@x.example",
        &["user-box@localhost"],
        "From me\nSubject: a\n\nFrom here\n",
    );
    m.inject("s@x.example", &["user-list-joe@localhost"], MSG);
    m.inject("s@x.example", &["user-prog@localhost"], MSG);
    m.wait_maildir(&h.join("listdir"), 1);
    assert!(common::wait_for(Duration::from_secs(20), || h
        .join("prog-out")
        .exists()
        && m.log().contains("did_0+0+1/")));
    m.inject("s@x.example", &["user-fwd@localhost"], MSG);
    m.wait_log("did_0+1+0/qp_", Duration::from_secs(20));
    m.wait_queue_empty(Duration::from_secs(20));
    let mbox = std::fs::read_to_string(h.join("Mailbox")).unwrap();
    // Two messages: the direct one and the forwarded copy.
    assert_eq!(
        mbox.matches("\nDelivered-To: user-box@localhost\n").count(),
        2,
        "{mbox}"
    );
    assert!(mbox.starts_with("From s@x.example "), "{mbox}");
    assert!(mbox.contains("\n>From here\n"), "{mbox}");
    assert!(
        mbox.contains("Delivered-To: user-fwd@localhost\n"),
        "{mbox}"
    );
    assert!(
        m.log().contains("success: ran_prog/did_0+0+1/"),
        "{}",
        m.log()
    );
    // A program sees the queued message: qmail-queue's Received line, then
    // the message (no Return-Path/Delivered-To: that is what preline adds).
    let prog = std::fs::read_to_string(h.join("prog-out")).unwrap();
    assert!(prog.starts_with("Received: (qmail "), "{prog}");
    assert!(prog.ends_with(&format!(" -0000\n{MSG}")), "{prog}");
}

#[test]
fn permanent_failure_bounces_in_qsbmf() {
    let mut m = Mta::init();
    m.start();
    m.inject("user@localhost", &["nobody@localhost"], MSG);
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let b = String::from_utf8(got[0].clone()).unwrap();
    assert!(
        b.starts_with("Return-Path: <>\nDelivered-To: user@localhost\nReceived: (qmail "),
        "{b}"
    );
    assert!(b.contains(" invoked for bounce); "), "{b}");
    let body = "\nFrom: MAILER-DAEMON@localhost\nTo: user@localhost\nSubject: failure notice\n\n\
        Hi. This is the qmail-send program at localhost.\n\
        I'm afraid I wasn't able to deliver your message to the following addresses.\n\
        This is a permanent error; I've given up. Sorry it didn't work out.\n\n\
        <nobody@localhost>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n\
        --- Below this line is a copy of the message.\n\nReturn-Path: <user@localhost>\nReceived: (qmail ";
    assert!(b.contains(body), "{b}");
    assert!(b.ends_with(MSG));
    m.wait_log(
        "delivery 1: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/",
        Duration::from_secs(5),
    );
    m.wait_log("bounce msg ", Duration::from_secs(5));
    let parsed = mta::bounce::parse(&got[0]).unwrap();
    assert_eq!(parsed.recipients[0].address, "nobody@localhost");
}

#[test]
fn dsn_bounce_when_selected() {
    let mut m = Mta::init();
    m.control("bounceformat", "dsn\n");
    m.start();
    m.inject("user@localhost", &["nobody@localhost"], MSG);
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let parsed = mta::bounce::parse(&got[0]).unwrap();
    assert_eq!(parsed.format, mta::bounce::Format::Dsn);
    assert_eq!(parsed.recipients[0].status.as_deref(), Some("5.1.1"));
}

/// The same delivery through the exec path (one qmail-local process per
/// delivery, as in production mode).
#[test]
fn exec_path_delivers_the_same() {
    let mut m = Mta::init();
    m.env.push(("MTA_LOCAL_EXEC".into(), "1".into()));
    m.dot_qmail(".qmail-prog", "|echo \"ran $EXT\"\n");
    m.start();
    m.inject(
        "alice@example.org",
        &["user@localhost", "user-prog@localhost"],
        MSG,
    );
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    assert!(got[0].starts_with(b"Return-Path: <alice@example.org>\nDelivered-To: user@localhost\n"));
    m.wait_log("success: ran_prog/did_0+0+1/", Duration::from_secs(20));
    m.wait_queue_empty(Duration::from_secs(10));
}

/// SIGHUP rereads `locals` and `virtualdomains` (spec §3.8): a domain
/// added to virtualdomains is remote before the HUP and local after it.
#[test]
fn hup_rereads_virtualdomains() {
    let mut m = Mta::init();
    m.dot_qmail(".qmail-default", "./Maildir/\n");
    // Remote mail for virt.example goes to a closed loopback port.
    m.control("smtproutes", "virt.example:127.0.0.1:1\n");
    m.start();
    m.inject("s@x.example", &["x@virt.example"], MSG);
    m.wait_log("to remote x@virt.example", Duration::from_secs(10));
    m.wait_log(
        "deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/",
        Duration::from_secs(20),
    );
    m.control("virtualdomains", "virt.example:user\n");
    m.signal(nix::sys::signal::Signal::SIGHUP);
    // The HUP is handled asynchronously; wait until a probe goes local.
    let mut n = 0;
    let ok = common::wait_for(Duration::from_secs(20), || {
        n += 1;
        m.inject("s@x.example", &[&format!("p{n}@virt.example")], MSG);
        std::thread::sleep(Duration::from_millis(100));
        m.log().contains("to local user-p")
    });
    assert!(ok, "{}", m.log());
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let t = String::from_utf8_lossy(&got[0]);
    assert!(t.contains("\nDelivered-To: user-p"), "{t}");
}

/// A bounce that bounces goes to postmaster as a double bounce; a failure
/// of that is a triple bounce, discarded (spec §4.2).
#[test]
fn double_and_triple_bounces() {
    let mut m = Mta::init();
    m.start();
    // Sender <> (a bounce) to a missing user: double bounce to
    // postmaster@localhost, which ~alias/.qmail-postmaster forwards to user.
    m.inject("", &["nobody@localhost"], MSG);
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let b = String::from_utf8_lossy(&got[0]).into_owned();
    assert!(b.contains("\nTo: postmaster@localhost\n"), "{b}");
    assert!(
        b.contains("Hi. This is the qmail-send program at localhost.\nI tried to deliver a bounce message to this address, but the bounce bounced!\n\n<nobody@localhost>:\n"),
        "{b}"
    );
    assert!(
        b.contains("--- Below this line is the original bounce.\n\nReturn-Path: <>\n"),
        "{b}"
    );
    // Sender #@[] (a double bounce) to a missing user: discarded.
    m.inject("#@[]", &["nobody@localhost"], MSG);
    m.wait_log("triple bounce: discarding bounce/", Duration::from_secs(20));
    m.wait_queue_empty(Duration::from_secs(10));
    assert_eq!(m.maildir_new(&m.user_home().join("Maildir")).len(), 1);
}
