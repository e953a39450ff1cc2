//! The supervisor's QMTP and QMQP listeners (`control/qmtplisten`,
//! `control/qmqplisten`): `mta-listen qmtp|qmqp` runs qmail-qmtpd or
//! qmail-qmqpd per connection with tcpserver's environment.

mod common;

use common::Mta;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ns(b: &[u8]) -> Vec<u8> {
    mta::qmtp::netstring::encode(b)
}

fn connect(port: u16) -> TcpStream {
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            return s;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {port}");
}

#[test]
fn qmtp_through_the_supervisors_listener() {
    let mut m = Mta::init();
    let port = free_port();
    m.control("qmtplisten", &format!("127.0.0.1:{port}\n"));
    m.start();
    let mut s = connect(port);
    let mut pkg = ns(b"\nSubject: q\n\nvia QMTP\n");
    pkg.extend(ns(b"alice@example.org"));
    pkg.extend(ns(&ns(b"user@localhost")));
    s.write_all(&pkg).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(reply.contains(":Kok "), "{reply}");
    drop(s);
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let t = String::from_utf8_lossy(&got[0]).into_owned();
    assert!(t.contains(" with QMTP; "), "{t}");
    assert!(t.contains("(127.0.0.1)"), "{t}");
    assert!(t.ends_with("via QMTP\n"), "{t}");
}

#[test]
fn qmqp_without_rules_refuses_everyone() {
    let mut m = Mta::init();
    let port = free_port();
    m.control("qmqplisten", &format!("127.0.0.1:{port}\n"));
    m.start();
    let mut s = connect(port);
    let mut pkg = ns(b"Subject: q\n\nrelay?\n");
    pkg.extend(ns(b"alice@example.org"));
    pkg.extend(ns(b"bob@far.example"));
    let _ = s.write_all(&ns(&pkg));
    let mut buf = [0u8; 64];
    // Denied: closed without a word.
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
}
