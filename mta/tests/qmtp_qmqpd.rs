//! qmail-qmqpd over real loopback sockets (spec §10.3 and the black-box
//! list of §10): one package, one answer, then the server closes.

mod qmtp_harness;

use qmtp_harness::*;

#[test]
fn one_package_one_k_answer_then_close() {
    let h = Home::new();
    // QMQP ignores rcpthosts and databytes.
    h.control("rcpthosts", "example.com\n");
    h.control("databytes", "1\n");
    let s = Server::new(QMQPD, &h);
    let mut c = s.connect();
    c.send(qmqp_package(
        b"Subject: hi\n\nhello\n",
        "a@b",
        &["c@elsewhere.org", "d@e"],
    ));
    let qp = kok(&c.netstring());
    // The server closes without waiting for us.
    assert_eq!(c.rest(), (String::new(), 0));
    let (pid, msg, env) = h.queued();
    assert_eq!(qp, pid);
    let lines: Vec<&str> = msg.split('\n').collect();
    assert_eq!(lines[0], "Received: from unknown (192.0.2.7)");
    assert!(
        lines[1].starts_with("  by mx.example.com with QMQP; "),
        "{msg}"
    );
    assert_eq!(&lines[2..], ["Subject: hi", "", "hello", ""]);
    assert_eq!(env, b"Fa@b\0Tc@elsewhere.org\0Td@e\0\0");
}

#[test]
fn unacceptable_address_refuses_the_message() {
    let h = Home::new();
    let s = Server::new(QMQPD, &h);
    let mut c = s.connect();
    c.send(qmqp_package(b"m\n", "a@b", &[&"x".repeat(1000)]));
    c.expect("51:Dsorry, I can't accept addresses like that (#5.1.3),");
    assert_eq!(c.rest(), (String::new(), 0));
    assert_eq!(h.queued().2, b"");
}

#[test]
fn framing_errors_exit_100_and_queue_nothing() {
    let h = Home::new();
    let layout = h.real_queue();
    let mut s = Server::new(QMQPD, &h);
    s.unset("QMAILQUEUE");
    for bad in [
        &b"6:3:abc,,"[..], // no sender
        b"8:2:ab,0:,;",    // missing final comma
        b"x:",             // non-digit length
    ] {
        let mut c = s.connect();
        c.send(bad);
        assert_eq!(c.rest(), (String::new(), 100), "{bad:?}");
    }
    assert!(todo(&layout).is_empty());
}

#[test]
fn peer_closing_mid_package_exits_0_and_queues_nothing() {
    let h = Home::new();
    let layout = h.real_queue();
    let mut s = Server::new(QMQPD, &h);
    s.unset("QMAILQUEUE");
    let mut c = s.connect();
    c.send(b"100:50:Subject: cut");
    c.shutdown();
    assert_eq!(c.rest(), (String::new(), 0));
    assert!(todo(&layout).is_empty());
}

#[test]
fn real_qmail_queue_and_queue_failures() {
    let h = Home::new();
    let layout = h.real_queue();
    let mut s = Server::new(QMQPD, &h);
    s.unset("QMAILQUEUE");
    let mut c = s.connect();
    c.send(qmqp_package(b"Subject: x\n\nhi\n", "a@b", &["c@d"]));
    let qp = kok(&c.netstring());
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
    assert!(
        mess.starts_with(&format!("Received: (qmail {qp} invoked from network); ")),
        "{mess}"
    );
    assert!(mess.contains(" with QMQP; "), "{mess}");
    assert!(mess.ends_with("\nSubject: x\n\nhi\n"), "{mess}");

    fake_queue(&h.root, "qq71", 71);
    s.set("QMAILQUEUE", "qq71");
    let mut c = s.connect();
    c.send(qmqp_package(b"m\n", "a@b", &["c@d"]));
    c.expect("50:Zmail server temporarily rejected message (#4.3.0),");
}
