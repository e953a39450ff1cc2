//! qmail-qmqpc as a black box (spec §10.3, §2.2): against stub servers
//! for each verdict, against nothing, and end to end through
//! qmail-qmqpd into qmail-queue. Servers are named in
//! `control/qmqpservers` with our `ip:port` extension, on loopback.

mod qmtp_harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use qmtp_harness::*;

const ENV: &[u8] = b"Fa@b\0Tc@d\0Te@f\0\0";

/// A QMQP stub on 127.0.0.1: reads one whole package, answers `reply`
/// (or just closes when `None`), returns what it read.
fn stub(reply: Option<&'static [u8]>) -> (u16, JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        // "<n>:" then n bytes and ','.
        while !got.ends_with(b":") {
            c.read_exact(&mut b).unwrap();
            got.push(b[0]);
        }
        let n: usize = std::str::from_utf8(&got[..got.len() - 1])
            .unwrap()
            .parse()
            .unwrap();
        let mut rest = vec![0u8; n + 1];
        c.read_exact(&mut rest).unwrap();
        got.extend(rest);
        if let Some(r) = reply {
            c.write_all(r).unwrap();
        }
        got
    });
    (port, t)
}

/// A port with no listener: bind, note it, close.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn verdicts_become_exit_codes() {
    for (reply, code) in [
        (Some(&b"1:D,"[..]), 31),
        (Some(b"1:Z,"), 71),
        (Some(b"22:Kok 1704423845 qp 4242,"), 0),
        (None, 74),
    ] {
        let h = Home::new();
        let (port, t) = stub(reply);
        h.control("qmqpservers", &format!("127.0.0.1:{port}\n"));
        assert_eq!(qmqpc(&h.root, b"hello\n", ENV), code, "{reply:?}");
        assert_eq!(t.join().unwrap(), b"27:6:hello\n,3:a@b,3:c@d,3:e@f,,");
    }
}

#[test]
fn servers_are_tried_in_order() {
    let h = Home::new();
    let (port, t) = stub(Some(b"1:D,"));
    // Not an address, a dead server, then the stub; the last is never
    // tried because the stub answered.
    h.control(
        "qmqpservers",
        &format!(
            "qmqp.example.com\n127.0.0.1:{}\n127.0.0.1:{port}\n127.0.0.1:{}\n",
            dead_port(),
            dead_port()
        ),
    );
    assert_eq!(qmqpc(&h.root, b"m\n", ENV), 31);
    t.join().unwrap();
}

#[test]
fn no_reachable_server() {
    let h = Home::new();
    assert_eq!(qmqpc(&h.root, b"m\n", ENV), 55, "no qmqpservers");
    h.control("qmqpservers", "");
    assert_eq!(qmqpc(&h.root, b"m\n", ENV), 55, "empty qmqpservers");
    h.control("qmqpservers", "not-an-ip\n");
    assert_eq!(qmqpc(&h.root, b"m\n", ENV), 55, "no IPv4 line");
    h.control("qmqpservers", &format!("127.0.0.1:{}\n", dead_port()));
    assert_eq!(qmqpc(&h.root, b"m\n", ENV), 73, "refused");
}

#[test]
fn bad_envelope_and_home() {
    let h = Home::new();
    h.control("qmqpservers", &format!("127.0.0.1:{}\n", dead_port()));
    assert_eq!(qmqpc(&h.root, b"m\n", b"Xa\0\0"), 91);
    assert_eq!(qmqpc(&h.root, b"m\n", b"Fa\0Tb\0"), 91);
    let gone = h.root.join("nonexistent");
    assert_eq!(qmqpc(&gone, b"m\n", ENV), 61);
}

#[test]
fn end_to_end_through_qmqpd_into_the_queue() {
    let h = Home::new();
    let layout = h.real_queue();
    let mut s = Server::new(QMQPD, &h);
    s.unset("QMAILQUEUE");
    s.set("TCPREMOTEIP", "127.0.0.1");
    h.control("qmqpservers", &format!("127.0.0.1:{}\n", s.port()));
    let server = s.serve_one();
    let code = qmqpc(&h.root, b"Subject: relayed\n\nvia QMQP\n", ENV);
    assert_eq!(code, 0);
    assert_eq!(server.join().unwrap(), 0);
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
        mess.contains("\nReceived: from unknown (127.0.0.1)\n  by mx.example.com with QMQP; "),
        "{mess}"
    );
    assert!(mess.ends_with("\nSubject: relayed\n\nvia QMQP\n"), "{mess}");
    let env = std::fs::read(&todo[0]).unwrap();
    assert!(env.ends_with(b"\0Fa@b\0Tc@d\0Te@f\0"), "{env:?}");
}

#[test]
fn qmqpd_refusal_reaches_the_qmqpc_exit_code() {
    let h = Home::new();
    fake_queue(&h.root, "qq31", 31);
    let mut s = Server::new(QMQPD, &h);
    s.set("QMAILQUEUE", "qq31");
    h.control("qmqpservers", &format!("127.0.0.1:{}\n", s.port()));
    let server = s.serve_one();
    assert_eq!(qmqpc(&h.root, b"m\n", ENV), 31);
    assert_eq!(server.join().unwrap(), 0);
}

/// qmail-qmqpc is a drop-in qmail-queue: qmail-qmtpd with
/// QMAILQUEUE=qmail-qmqpc relays through qmail-qmqpd to the fake queue.
#[test]
fn qmqpc_as_qmailqueue_of_qmtpd() {
    let h = Home::new();
    let qmqpd = Server::new(QMQPD, &h);
    h.control("qmqpservers", &format!("127.0.0.1:{}\n", qmqpd.port()));
    let server = qmqpd.serve_one();
    let mut front = Server::new(QMTPD, &h);
    front.set("QMAILQUEUE", QMQPC);
    let mut c = front.connect();
    c.send(qmtp_package(b"\nSubject: hop\n\nx\n", "a@b", &["c@d"]));
    kok(&c.netstring());
    assert_eq!(server.join().unwrap(), 0);
    let (_, msg, env) = h.queued();
    assert!(msg.contains(" with QMTP; "), "{msg}");
    assert!(msg.contains(" with QMQP; "), "{msg}");
    assert!(msg.ends_with("\nSubject: hop\n\nx\n"), "{msg}");
    assert_eq!(env, b"Fa@b\0Tc@d\0\0");
}
