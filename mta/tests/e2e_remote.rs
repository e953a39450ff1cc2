//! End to end through the supervisor for remote delivery (spec §1.5, §6,
//! Appendix B): qmail-queue → qmail-send → qmail-rspawn → qmail-remote →
//! a scripted SMTP sink, with MX lookups answered by a loopback DNS server.
//!
//! The sink listens on 127.0.0.2: Linux routes all of 127/8 to `lo` but
//! only 127.0.0.1 is an interface address, so 127.0.0.2 is "another host"
//! for qmail-remote's best-MX rule (spec §6.3).

mod common;
mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::Mta;
use support::dns::{DnsServer, Zone};
use support::smtp_sink::{Reply, Script, SmtpSink};

const MSG: &str = "Subject: remote\n\nhello\n.dot\n..two\n";

/// `remote.test` MX → `mx.remote.test` A 127.0.0.2.
fn zone() -> Zone {
    Zone::new()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", Ipv4Addr::new(127, 0, 0, 2))
}

/// A started MTA whose remote deliveries go to `sink` via `dns`.
fn mta_with(dns: &DnsServer, sink: &SmtpSink) -> Mta {
    let mut m = Mta::init();
    m.control("dnsserver", &format!("{}\n", dns.addr()));
    m.control("remoteport", &format!("{}\n", sink.port()));
    m.start();
    m
}

/// The message id of the n-th (0-based) `new msg` line.
fn msg_id(log: &str, n: usize) -> String {
    log.lines()
        .filter_map(|l| l.strip_prefix("new msg "))
        .nth(n)
        .unwrap_or_else(|| panic!("no new msg #{n} in log:\n{log}"))
        .to_string()
}

#[test]
fn remote_delivery_speaks_qmails_dialogue_and_logs_success() {
    let dns = DnsServer::start(zone());
    let sink = SmtpSink::start("127.0.0.2", Script::default());
    let mut m = mta_with(&dns, &sink);
    m.inject("user@localhost", &["bob@remote.test"], MSG);
    m.wait_log("delivery 1: success: ", Duration::from_secs(20));
    m.wait_queue_empty(Duration::from_secs(10));
    let log = m.log();
    let id = msg_id(&log, 0);
    assert!(
        log.contains(&format!(
            "\nstarting delivery 1: msg {id} to remote bob@remote.test\n"
        )),
        "{log}"
    );
    assert!(
        log.contains(
            "\ndelivery 1: success: 127.0.0.2_accepted_message./\
             Remote_host_said:_250_ok_1700000000_qp_4242/\n"
        ),
        "{log}"
    );
    assert!(log.contains(&format!("\nend msg {id}\n")), "{log}");
    m.stop();
    let sessions = sink.finish_text();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let s = &sessions[0];
    let head =
        "HELO localhost\r\nMAIL FROM:<user@localhost>\r\nRCPT TO:<bob@remote.test>\r\nDATA\r\n";
    assert!(s.starts_with(head), "{s}");
    // qmail-queue's Received line, then the message with CRLF and leading
    // dots doubled, then the dot and QUIT.
    let data = &s[head.len()..];
    assert!(data.starts_with("Received: (qmail "), "{s}");
    assert!(
        data.ends_with(
            " -0000\r\nSubject: remote\r\n\r\nhello\r\n..dot\r\n...two\r\n.\r\nQUIT\r\n"
        ),
        "{s}"
    );
    assert_eq!(data.matches("\r\n.\r\n").count(), 1, "{s}");
    assert!(dns.queries().contains(&"MX remote.test".to_string()));
}

#[test]
fn rejected_recipient_bounces_to_the_local_sender() {
    let dns = DnsServer::start(zone());
    let sink = SmtpSink::start(
        "127.0.0.2",
        Script {
            rcpt: vec![Reply::line("550 no such user here")],
            ..Script::default()
        },
    );
    let m = mta_with(&dns, &sink);
    m.inject("user@localhost", &["bob@remote.test"], MSG);
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let b = String::from_utf8(got[0].clone()).unwrap();
    assert!(b.starts_with("Return-Path: <>\n"), "{b}");
    assert!(
        b.contains(
            "\n\n<bob@remote.test>:\n127.0.0.2 does not like recipient.\n\
             Remote host said: 550 no such user here\nGiving up on 127.0.0.2.\n\n"
        ),
        "{b}"
    );
    assert!(b.ends_with(MSG), "{b}");
    m.wait_log(
        "delivery 1: failure: 127.0.0.2_does_not_like_recipient./\
         Remote_host_said:_550_no_such_user_here/Giving_up_on_127.0.0.2./",
        Duration::from_secs(5),
    );
    m.wait_queue_empty(Duration::from_secs(10));
}

#[test]
fn deferred_recipient_is_retried_after_sigalrm() {
    let dns = DnsServer::start(zone());
    let busy = SmtpSink::start(
        "127.0.0.2",
        Script {
            rcpt: vec![Reply::line("450 mailbox busy")],
            ..Script::default()
        },
    );
    let port = busy.port();
    let m = mta_with(&dns, &busy);
    m.inject("user@localhost", &["bob@remote.test"], MSG);
    m.wait_log(
        "delivery 1: deferral: 127.0.0.2_does_not_like_recipient./\
         Remote_host_said:_450_mailbox_busy/Giving_up_on_127.0.0.2./",
        Duration::from_secs(20),
    );
    assert!(!m.queue_empty());
    assert_eq!(busy.finish().len(), 1);
    // The sink is fixed: same address and port, now accepting.
    let good = SmtpSink::start_on(&format!("127.0.0.2:{port}"), Script::default());
    m.alarm();
    m.wait_log("delivery 2: success: ", Duration::from_secs(20));
    m.wait_queue_empty(Duration::from_secs(10));
    let log = m.log();
    let id = msg_id(&log, 0);
    assert!(
        log.contains(&format!(
            "\nstarting delivery 2: msg {id} to remote bob@remote.test\n"
        )),
        "{log}"
    );
    assert_eq!(good.finish().len(), 1);
}

#[test]
fn two_recipients_get_two_smtp_sessions() {
    let dns = DnsServer::start(zone());
    let sink = SmtpSink::start("127.0.0.2", Script::default());
    let mut m = mta_with(&dns, &sink);
    m.inject(
        "user@localhost",
        &["bob@remote.test", "carol@remote.test"],
        MSG,
    );
    m.wait_queue_empty(Duration::from_secs(20));
    let log = m.log();
    assert_eq!(
        log.matches(": success: 127.0.0.2_accepted_message.")
            .count(),
        2,
        "{log}"
    );
    m.stop();
    let mut rcpts: Vec<String> = sink
        .finish_text()
        .iter()
        .map(|s| {
            assert_eq!(s.matches("RCPT TO:").count(), 1, "{s}");
            assert_eq!(s.matches("MAIL FROM:").count(), 1, "{s}");
            s.lines()
                .find(|l| l.starts_with("RCPT TO:"))
                .unwrap()
                .to_string()
        })
        .collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        ["RCPT TO:<bob@remote.test>", "RCPT TO:<carol@remote.test>"]
    );
}
