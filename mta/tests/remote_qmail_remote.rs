//! Black-box tests of the `qmail-remote` binary (spec §6, Appendix C)
//! against a scripted SMTP sink and a DNS server, all on loopback.
//!
//! MX-routed tests put the sink on 127.0.0.2 (and 127.0.0.3): Linux routes
//! all of 127/8 to `lo`, but only 127.0.0.1 is an interface address, so
//! those are "another host" for the best-MX rule. `control/remoteport`
//! (our extension) points unrouted deliveries at the sink's port.

mod support;

use std::net::Ipv4Addr;
use std::process::Command;

use support::dns::{DnsServer, Zone};
use support::remote_home::RemoteHome;
use support::smtp_sink::{Reply, Script, SmtpSink};

const BODY: &[u8] = b"Subject: test\n\nhello\n.x\n..y\n";

#[test]
fn wire_dialogue_is_helo_mail_one_rcpt_data_dot_quit() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    q.route_to(sink.port());
    let out = q.run(
        &["example.test", "sender@me.test", "rcpt@example.test"],
        BODY,
    );
    assert_eq!(
        out,
        "r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n\0"
    );
    let sessions = sink.finish_text();
    assert_eq!(
        sessions,
        vec![
            "HELO me.test\r\n\
             MAIL FROM:<sender@me.test>\r\n\
             RCPT TO:<rcpt@example.test>\r\n\
             DATA\r\n\
             Subject: test\r\n\r\nhello\r\n..x\r\n...y\r\n.\r\n\
             QUIT\r\n"
        ]
    );
}

#[test]
fn helohost_control_names_the_helo() {
    let q = RemoteHome::new();
    q.control("helohost", "helo.example\n");
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    q.route_to(sink.port());
    q.run(&["example.test", "s@me.test", "r@example.test"], BODY);
    assert!(sink.finish_text()[0].starts_with("HELO helo.example\r\n"));
}

#[test]
fn greeting_421_defers_and_no_second_mx_is_tried() {
    let q = RemoteHome::new();
    let first = SmtpSink::start(
        "127.0.0.2",
        Script {
            greeting: Reply::line("421 busy"),
            ..Script::default()
        },
    );
    let second = SmtpSink::start_on(&format!("127.0.0.3:{}", first.port()), Script::default());
    let dns = DnsServer::start(
        Zone::new()
            .mx("two.test", 10, "mx1.two.test")
            .mx("two.test", 20, "mx2.two.test")
            .a("mx1.two.test", Ipv4Addr::new(127, 0, 0, 2))
            .a("mx2.two.test", Ipv4Addr::new(127, 0, 0, 3)),
    );
    q.use_dns(&dns, first.port());
    let out = q.run(&["two.test", "s@me.test", "r@two.test"], BODY);
    assert_eq!(
        out,
        "ZConnected to 127.0.0.2 but greeting failed.\nRemote host said: 421 busy\n\0"
    );
    assert_eq!(first.finish_text(), vec!["QUIT\r\n"]);
    assert!(second.finish().is_empty(), "once connected, no other MX");
}

#[test]
fn rcpt_550_is_a_hard_recipient_report_then_giving_up() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start(
        "127.0.0.1",
        Script {
            rcpt: vec![Reply::line("550 no such user")],
            ..Script::default()
        },
    );
    q.route_to(sink.port());
    let out = q.run(&["example.test", "s@me.test", "r@example.test"], BODY);
    assert_eq!(
        out,
        "h127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\n\0\
         DGiving up on 127.0.0.1.\n\0"
    );
    assert!(sink.finish_text()[0].ends_with("RCPT TO:<r@example.test>\r\nQUIT\r\n"));
}

#[test]
fn rcpt_450_is_a_soft_recipient_report() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start(
        "127.0.0.1",
        Script {
            rcpt: vec![Reply::line("450 try later")],
            ..Script::default()
        },
    );
    q.route_to(sink.port());
    let out = q.run(&["example.test", "s@me.test", "r@example.test"], BODY);
    assert_eq!(
        out,
        "s127.0.0.1 does not like recipient.\nRemote host said: 450 try later\n\0\
         DGiving up on 127.0.0.1.\n\0"
    );
}

#[test]
fn several_recipients_each_answered_in_turn() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start(
        "127.0.0.1",
        Script {
            rcpt: vec![Reply::line("550 nope"), Reply::line("250 ok")],
            ..Script::default()
        },
    );
    q.route_to(sink.port());
    let out = q.run(&["x.test", "s@me.test", "a@x.test", "b@x.test"], BODY);
    assert!(
        out.starts_with("h127.0.0.1 does not like recipient.\nRemote host said: 550 nope\n\0r\0K")
    );
    let s = &sink.finish_text()[0];
    assert!(s.contains("RCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"));
}

#[test]
fn close_after_final_dot_is_a_possible_duplicate() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start(
        "127.0.0.1",
        Script {
            message: Reply::Close,
            ..Script::default()
        },
    );
    q.route_to(sink.port());
    let out = q.run(&["example.test", "s@me.test", "r@example.test"], BODY);
    assert_eq!(
        out,
        "r\0ZConnected to 127.0.0.1 but connection died. Possible duplicate! (#4.4.2)\n\0"
    );
}

#[test]
fn close_before_the_dot_is_connection_died() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start(
        "127.0.0.1",
        Script {
            mail: Reply::Close,
            ..Script::default()
        },
    );
    q.route_to(sink.port());
    let out = q.run(&["example.test", "s@me.test", "r@example.test"], BODY);
    assert_eq!(
        out,
        "ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0"
    );
}

#[test]
fn partial_final_line_fails_permanently_without_the_dot() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    q.route_to(sink.port());
    let out = q.run(
        &["example.test", "s@me.test", "r@example.test"],
        b"Subject: x\n\nno newline",
    );
    assert_eq!(
        out,
        "r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0"
    );
    let s = &sink.finish_text()[0];
    // The complete lines were still in qmail's 1024-byte output buffer:
    // the connection is dropped without flushing it, and without a dot.
    assert!(s.ends_with("DATA\r\n"), "{s:?}");
}

#[test]
fn double_bounce_and_null_senders_are_sent_literally() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    q.route_to(sink.port());
    q.run(&["example.test", "#@[]", "postmaster@example.test"], BODY);
    q.run(&["example.test", "", "a b@example.test"], BODY);
    let s = sink.finish_text();
    assert!(s[0].contains("MAIL FROM:<#@[]>\r\n"));
    assert!(s[1].contains("MAIL FROM:<>\r\nRCPT TO:<\"a b\"@example.test>\r\n"));
}

#[test]
fn smtproutes_port_and_domain_exception() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.2", Script::default());
    let dns = DnsServer::start(Zone::new().a("direct.test", Ipv4Addr::new(127, 0, 0, 2)));
    q.use_dns(&dns, sink.port());
    // Everything goes to a dead relay except direct.test, which uses DNS.
    q.control("smtproutes", "direct.test:\n:[127.0.0.1]:1\n");
    let out = q.run(&["direct.test", "s@me.test", "r@direct.test"], BODY);
    assert!(
        out.starts_with("r\0K127.0.0.2 accepted message."),
        "{out:?}"
    );
    assert_eq!(dns.queries(), vec!["MX direct.test", "A direct.test"]);
    assert_eq!(sink.finish().len(), 1);
}

#[test]
fn mx_lookup_reaches_the_sink() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.2", Script::default());
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "mx.example.test")
            .a("mx.example.test", Ipv4Addr::new(127, 0, 0, 2)),
    );
    q.use_dns(&dns, sink.port());
    let out = q.run(&["example.test", "s@me.test", "r@Example.TEST"], BODY);
    assert_eq!(
        out,
        "r\0K127.0.0.2 accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n\0"
    );
    assert_eq!(dns.queries(), vec!["MX example.test", "A mx.example.test"]);
    // notqmail: no CNAME/ANY query, RCPT domain unchanged.
    assert!(sink.finish_text()[0].contains("RCPT TO:<r@Example.TEST>\r\n"));
}

#[test]
fn nxdomain_is_a_permanent_unknown_host() {
    let q = RemoteHome::new();
    let dns = DnsServer::start(Zone::new());
    q.use_dns(&dns, 25);
    let out = q.run(&["nowhere.test", "s@me.test", "r@nowhere.test"], BODY);
    assert_eq!(
        out,
        "DSorry, I couldn't find any host named nowhere.test. (#5.1.2)\n\0"
    );
}

#[test]
fn servfail_is_a_temporary_dns_failure() {
    let q = RemoteHome::new();
    let dns = DnsServer::start(Zone::new().servfail("broken.test"));
    q.use_dns(&dns, 25);
    let out = q.run(&["broken.test", "s@me.test", "r@broken.test"], BODY);
    assert_eq!(
        out,
        "ZSorry, I couldn't find any host by that name. (#4.1.2)\n\0"
    );
}

#[test]
fn best_mx_pointing_at_this_host_bounces() {
    let q = RemoteHome::new();
    let dns = DnsServer::start(
        Zone::new()
            .mx("loop.test", 10, "mx.loop.test")
            .a("mx.loop.test", Ipv4Addr::LOCALHOST),
    );
    q.use_dns(&dns, 25);
    let out = q.run(&["loop.test", "s@me.test", "r@loop.test"], BODY);
    assert_eq!(
        out,
        "DSorry. Although I'm listed as a best-preference MX or A for that host,\n\
         it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n\0"
    );
}

#[test]
fn lower_preference_than_ours_is_still_tried() {
    // MX 10 → another host (the sink), MX 20 → us: the sink is tried.
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.2", Script::default());
    let dns = DnsServer::start(
        Zone::new()
            .mx("mixed.test", 20, "us.mixed.test")
            .mx("mixed.test", 10, "them.mixed.test")
            .a("us.mixed.test", Ipv4Addr::LOCALHOST)
            .a("them.mixed.test", Ipv4Addr::new(127, 0, 0, 2)),
    );
    q.use_dns(&dns, sink.port());
    let out = q.run(&["mixed.test", "s@me.test", "r@mixed.test"], BODY);
    assert!(
        out.starts_with("r\0K127.0.0.2 accepted message."),
        "{out:?}"
    );
}

#[test]
fn nobody_listening_is_no_connection() {
    let q = RemoteHome::new();
    // A port that was free a moment ago: connect is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    q.control("smtproutes", &format!(":127.0.0.1:{port}\n"));
    let out = q.run(&["x.test", "s@me.test", "r@x.test"], BODY);
    assert_eq!(
        out,
        "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"
    );
    // A refusal is not a timeout: nothing is recorded.
    assert_eq!(std::fs::read(q.tcpto()).unwrap(), vec![0u8; 1024]);
}

/// A tcpto record for 127.0.0.1 with `count` timeouts, the last one now.
fn tcpto_record(count: u8) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut t = vec![0u8; 1024];
    t[..4].copy_from_slice(&[127, 0, 0, 1]);
    t[4] = count;
    t[8..12].copy_from_slice(&now.to_le_bytes());
    t
}

#[test]
fn address_with_two_recent_timeouts_is_skipped_without_connecting() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    q.route_to(sink.port());
    std::fs::write(q.tcpto(), tcpto_record(2)).unwrap();
    let out = q.run(&["x.test", "s@me.test", "r@x.test"], BODY);
    assert_eq!(
        out,
        "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"
    );
    assert!(sink.finish().is_empty());
}

#[test]
fn successful_connect_resets_a_known_address() {
    let q = RemoteHome::new();
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    q.route_to(sink.port());
    std::fs::write(q.tcpto(), tcpto_record(1)).unwrap();
    let out = q.run(&["x.test", "s@me.test", "r@x.test"], BODY);
    assert!(out.starts_with("r\0K"));
    let t = std::fs::read(q.tcpto()).unwrap();
    assert_eq!(&t[..5], &[127, 0, 0, 1, 0]);
}

#[test]
fn no_helohost_and_no_me_is_a_control_failure() {
    let q = RemoteHome::new();
    std::fs::remove_file(q.path().join("control/me")).unwrap();
    let out = q.run(&["x.test", "s@me.test", "r@x.test"], BODY);
    assert_eq!(out, "ZUnable to read control files. (#4.3.0)\n\0");
}

#[test]
fn too_few_arguments() {
    let q = RemoteHome::new();
    let out = q.run(&["x.test", "s@me.test"], BODY);
    assert_eq!(
        out,
        "DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0"
    );
}

/// A loopback listener whose accept queue is full, so further SYNs are
/// dropped and connects time out (Linux, no root or network changes
/// needed). `None` if this kernel does not behave that way.
fn blackhole() -> Option<(std::os::fd::OwnedFd, std::net::TcpStream, u16)> {
    use nix::sys::socket::{
        bind, getsockname, listen, socket, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .ok()?;
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).ok()?;
    listen(&fd, Backlog::new(0).ok()?).ok()?;
    let port = getsockname::<SockaddrIn>(fd.as_raw_fd()).ok()?.port();
    // This one fills the accept queue (nobody ever accepts).
    let filler = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let probe = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(300),
    );
    match probe {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Some((fd, filler, port)),
        _ => None,
    }
}

#[test]
fn connect_timeout_is_recorded_in_the_table_and_listed() {
    let Some((_listener, _filler, port)) = blackhole() else {
        eprintln!("skipped: this kernel does not drop SYNs on a full accept queue");
        return;
    };
    let q = RemoteHome::new();
    q.control("timeoutconnect", "1\n");
    q.control("smtproutes", &format!(":127.0.0.1:{port}\n"));
    let out = q.run(&["x.test", "s@me.test", "r@x.test"], BODY);
    assert_eq!(
        out,
        "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"
    );
    let t = std::fs::read(q.tcpto()).unwrap();
    assert_eq!(&t[..5], &[127, 0, 0, 1, 1]);

    // A second timeout within 120 s is not counted.
    q.run(&["x.test", "s@me.test", "r@x.test"], BODY);
    assert_eq!(std::fs::read(q.tcpto()).unwrap()[4], 1);

    let listing = Command::new(env!("CARGO_BIN_EXE_qmail-tcpto"))
        .env("QMAILHOME", q.path())
        .output()
        .unwrap();
    let text = String::from_utf8(listing.stdout).unwrap();
    assert!(text.starts_with("127.0.0.1 timed out "), "{text:?}");
    assert!(
        text.ends_with(" seconds ago; # recent timeouts: 1\n"),
        "{text:?}"
    );
}
