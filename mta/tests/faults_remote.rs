//! A peer that drops the connection mid-DATA (spec §6.6: "Connected to
//! <ip> but connection died. (#4.4.2)"): the deferral names the peer, the
//! message stays queued, and it is delivered once the peer behaves
//! (SIGALRM retries at once).

mod common;
mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::Mta;
use support::dns::{DnsServer, Zone};
use support::smtp_sink::{Script, SmtpSink};

#[test]
fn peer_dropping_mid_data_defers_then_delivers() {
    let dns = DnsServer::start(
        Zone::new()
            .mx("remote.test", 10, "mx.remote.test")
            .a("mx.remote.test", Ipv4Addr::new(127, 0, 0, 2)),
    );
    let dying = SmtpSink::start(
        "127.0.0.2",
        Script {
            body_close_after: Some(1),
            ..Script::default()
        },
    );
    let port = dying.port();
    let mut m = Mta::init();
    m.control("dnsserver", &format!("{}\n", dns.addr()));
    m.control("remoteport", &format!("{port}\n"));
    m.start();
    // Far more than the socket buffers hold, so qmail-remote is still
    // writing the body (not waiting after the final dot, which would be
    // "Possible duplicate!") when the peer goes away.
    let line = "x".repeat(99);
    let mut msg = String::from("Subject: big\n\n");
    for _ in 0..160_000 {
        msg.push_str(&line);
        msg.push('\n');
    }
    m.inject("user@localhost", &["bob@remote.test"], &msg);
    m.wait_log(
        "delivery 1: deferral: Connected_to_127.0.0.2_but_connection_died._(#4.4.2)/\n",
        Duration::from_secs(30),
    );
    assert!(!m.queue_empty(), "deferred, still queued");
    let sessions = dying.finish_text();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].contains("DATA\r\nReceived: (qmail "));

    let good = SmtpSink::start_on(&format!("127.0.0.2:{port}"), Script::default());
    m.alarm();
    m.wait_log(
        "delivery 2: success: 127.0.0.2_accepted_message./",
        Duration::from_secs(30),
    );
    m.wait_queue_empty(Duration::from_secs(10));
    assert_eq!(m.stop(), Some(0));
    let sessions = good.finish();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].ends_with(b"\r\n.\r\nQUIT\r\n"));
}
