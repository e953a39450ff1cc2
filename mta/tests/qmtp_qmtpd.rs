//! qmail-qmtpd over real loopback sockets (spec §10.2 and its black-box
//! list): the binary runs with the accepted socket as fd 0/1, QMAILQUEUE
//! pointing at a fake queue that records fd 0 and fd 1, or the real
//! qmail-queue into a tempdir queue.

mod qmtp_harness;

use qmtp_harness::*;

const NOT_ALLOWED: &str = "66:Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1),";
const UNHANDLED: &str = "46:Dsorry, I can't handle that recipient (#5.1.3),";

#[test]
fn lf_package_for_rcpthosts_domain_is_accepted() {
    let h = Home::new();
    h.control("rcpthosts", "example.com\n");
    let s = Server::new(QMTPD, &h);
    let mut c = s.connect();
    c.send(qmtp_package(
        b"\nSubject: hi\n\nhello\n",
        "alice@example.org",
        &["bob@example.com"],
    ));
    let qp = kok(&c.netstring());
    c.shutdown();
    assert_eq!(c.rest(), (String::new(), 0));
    let (pid, msg, env) = h.queued();
    assert_eq!(qp, pid);
    let lines: Vec<&str> = msg.split('\n').collect();
    assert_eq!(lines[0], "Received: from unknown (192.0.2.7)");
    assert!(
        lines[1].starts_with("  by mx.example.com with QMTP; "),
        "{msg}"
    );
    assert!(lines[1].ends_with(" -0000"), "{msg}");
    assert_eq!(&lines[2..], ["Subject: hi", "", "hello", ""]);
    assert_eq!(env, b"Falice@example.org\0Tbob@example.com\0\0");
}

#[test]
fn several_recipients_answered_in_order() {
    let h = Home::new();
    h.control("rcpthosts", "example.com\n.sub.example.net\n");
    let s = Server::new(QMTPD, &h);
    let mut c = s.connect();
    let long = "x".repeat(1000);
    c.send(qmtp_package(
        b"\nm\n",
        "a@b",
        &[
            "one@example.com",
            "two@elsewhere.org",
            &long,
            "three@a.sub.example.net",
        ],
    ));
    let qp = kok(&c.netstring());
    c.expect(NOT_ALLOWED);
    c.expect(UNHANDLED);
    assert_eq!(kok(&c.netstring()), qp);
    c.shutdown();
    assert_eq!(c.rest(), (String::new(), 0));
    assert_eq!(
        h.queued().2,
        b"Fa@b\0Tone@example.com\0Tthree@a.sub.example.net\0\0"
    );
}

#[test]
fn recipient_outside_rcpthosts_gets_exact_refusal() {
    let h = Home::new();
    h.control("rcpthosts", "example.com\n");
    let s = Server::new(QMTPD, &h);
    let mut c = s.connect();
    c.send(qmtp_package(b"\nm\n", "a@b", &["victim@elsewhere.org"]));
    c.expect(NOT_ALLOWED);
    c.shutdown();
    assert_eq!(c.rest(), (String::new(), 0));
    // qmail-queue was started but got no envelope: nothing queued.
    assert_eq!(h.queued().2, b"");
}

#[test]
fn relayclient_bypasses_rcpthosts_and_is_appended() {
    let h = Home::new();
    h.control("rcpthosts", "example.com\n");
    let mut s = Server::new(QMTPD, &h);
    s.set("RELAYCLIENT", "");
    let mut c = s.connect();
    c.send(qmtp_package(b"\nm\n", "a@b", &["out@elsewhere.org"]));
    kok(&c.netstring());
    assert_eq!(h.queued().2, b"Fa@b\0Tout@elsewhere.org\0\0");
    drop(c);

    s.set("RELAYCLIENT", "@fixme");
    let mut c = s.connect();
    c.send(qmtp_package(b"\nm\n", "a@b", &["u@h"]));
    kok(&c.netstring());
    assert_eq!(h.queued().2, b"Fa@b\0Tu@h@fixme\0\0");
}

#[test]
fn cr_encoded_package_is_stored_with_lf() {
    let h = Home::new();
    let s = Server::new(QMTPD, &h);
    let mut c = s.connect();
    c.send(qmtp_package(
        b"\rSubject: dos\r\n\r\nline\rwith CR\r\nend\r\n",
        "a@b",
        &["c@d"],
    ));
    kok(&c.netstring());
    let msg = h.queued().1;
    let body = msg.splitn(3, '\n').nth(2).unwrap();
    assert_eq!(body, "Subject: dos\n\nline\rwith CR\nend\n");
    assert!(!msg.contains("\r\n"), "{msg:?}");
}

#[test]
fn bad_first_byte_closes_and_queues_nothing() {
    let h = Home::new();
    let layout = h.real_queue();
    let mut s = Server::new(QMTPD, &h);
    s.unset("QMAILQUEUE");
    let mut c = s.connect();
    c.send(qmtp_package(b"Xnot a message\n", "a@b", &["c@d"]));
    assert_eq!(c.rest(), (String::new(), 100));
    assert!(todo(&layout).is_empty());
}

#[test]
fn framing_errors_exit_100_without_answer() {
    let h = Home::new();
    let s = Server::new(QMTPD, &h);
    for bad in [
        &b"0:,"[..],              // empty message
        b"2:\nm;",                // missing comma
        b"2:\nm,3:a@b,5:9:c@d,,", // recipient overruns its list
        b"1x:",                   // non-digit in a length (notqmail)
    ] {
        let mut c = s.connect();
        c.send(bad);
        assert_eq!(c.rest(), (String::new(), 100), "{bad:?}");
    }
}

#[test]
fn pipelined_packages_then_peer_close() {
    let h = Home::new();
    let layout = h.real_queue();
    let mut s = Server::new(QMTPD, &h);
    s.unset("QMAILQUEUE");
    let mut c = s.connect();
    let mut all = Vec::new();
    for i in 0..3 {
        all.extend(qmtp_package(
            format!("\nSubject: {i}\n\nbody {i}\n").as_bytes(),
            "a@b",
            &["c@d"],
        ));
    }
    // Half of a fourth package: the peer goes away mid-message.
    all.extend(b"100:\npartial");
    c.send(&all);
    let qps: Vec<u32> = (0..3).map(|_| kok(&c.netstring())).collect();
    assert!(qps[0] != qps[1] && qps[1] != qps[2]);
    c.shutdown();
    assert_eq!(c.rest(), (String::new(), 0));
    let todo = todo(&layout);
    assert_eq!(todo.len(), 3, "the partial package must not be queued");
}

#[test]
fn real_qmail_queue_stores_the_message() {
    let h = Home::new();
    let layout = h.real_queue();
    let mut s = Server::new(QMTPD, &h);
    s.unset("QMAILQUEUE");
    let mut c = s.connect();
    c.send(qmtp_package(b"\rSubject: x\r\n\r\nhi\r\n", "a@b", &["c@d"]));
    let qp = kok(&c.netstring());
    c.shutdown();
    assert_eq!(c.rest().1, 0);
    let todo = todo(&layout);
    assert_eq!(todo.len(), 1);
    let id: u64 = todo[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mess = String::from_utf8(std::fs::read(layout.mess(id)).unwrap()).unwrap();
    let lines: Vec<&str> = mess.split('\n').collect();
    assert!(
        lines[0].starts_with(&format!("Received: (qmail {qp} invoked from network); ")),
        "{mess}"
    );
    assert_eq!(lines[1], "Received: from unknown (192.0.2.7)");
    assert!(lines[2].starts_with("  by mx.example.com with QMTP; "));
    assert_eq!(&lines[3..], ["Subject: x", "", "hi", ""]);
    let env = std::fs::read(&todo[0]).unwrap();
    assert!(
        env.ends_with(format!("\0p{qp}\0Fa@b\0Tc@d\0").as_bytes()),
        "{env:?}"
    );
}

#[test]
fn queue_exit_codes_become_answers() {
    let h = Home::new();
    fake_queue(&h.root, "qq31", 31);
    fake_queue(&h.root, "qq53", 53);
    let mut s = Server::new(QMTPD, &h);
    for (qq, want) in [
        (
            "qq31",
            "50:Dmail server permanently rejected message (#5.3.0),",
        ),
        ("qq53", "37:Zqq write error or disk full (#4.3.0),"),
    ] {
        s.set("QMAILQUEUE", qq);
        let mut c = s.connect();
        c.send(qmtp_package(b"\nm\n", "a@b", &["c@d"]));
        c.expect(want);
    }
    // A queue that cannot even start: resources, exit 111.
    s.set("QMAILQUEUE", "does-not-exist");
    let mut c = s.connect();
    c.send(qmtp_package(b"\nm\n", "a@b", &["c@d"]));
    assert_eq!(c.rest(), (String::new(), 111));
}

#[test]
fn databytes_and_sender_limits() {
    let h = Home::new();
    h.control("databytes", "10\n");
    let mut s = Server::new(QMTPD, &h);
    let mut c = s.connect();
    c.send(qmtp_package(b"\n0123456789", "a@b", &["c@d"]));
    kok(&c.netstring());
    c.send(qmtp_package(b"\n0123456789X", "a@b", &["c@d"]));
    c.expect("61:Dsorry, that message size exceeds my databytes limit (#5.3.4),");
    c.send(qmtp_package(b"\nm", &"s".repeat(1000), &["c@d"]));
    c.expect("29:Dunacceptable sender (#5.1.7),");
    drop(c);
    s.set("DATABYTES", "0");
    let mut c = s.connect();
    c.send(qmtp_package(b"\n0123456789X", "a@b", &["c@d"]));
    kok(&c.netstring());
}

#[test]
fn morercpthosts_cdb_extends_rcpthosts() {
    let h = Home::new();
    h.control("rcpthosts", "example.com\n");
    h.control("morercpthosts", "more.example.org\n");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_qmail-newmrh"))
        .env("QMAILHOME", &h.root)
        .status()
        .unwrap();
    assert!(st.success());
    let s = Server::new(QMTPD, &h);
    let mut c = s.connect();
    c.send(qmtp_package(
        b"\nm\n",
        "a@b",
        &["x@more.example.org", "y@other.example.org"],
    ));
    kok(&c.netstring());
    c.expect(NOT_ALLOWED);
    assert_eq!(h.queued().2, b"Fa@b\0Tx@more.example.org\0\0");
}

#[test]
fn unreadable_controls_or_home_exit_111() {
    let h = Home::new();
    std::fs::create_dir(h.root.join("control/rcpthosts")).unwrap();
    let s = Server::new(QMTPD, &h);
    let c = s.connect();
    assert_eq!(c.rest(), (String::new(), 111));
    std::fs::remove_dir(h.root.join("control/rcpthosts")).unwrap();

    let mut s = Server::new(QMTPD, &h);
    s.root = h.root.join("nonexistent");
    let c = s.connect();
    assert_eq!(c.rest(), (String::new(), 111));
}
