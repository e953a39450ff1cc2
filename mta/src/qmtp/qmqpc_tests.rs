//! Unit tests of qmail-qmqpc's pieces (spec §10.3); the whole program is
//! tested against qmail-qmqpd in `tests/qmtp_qmqpc.rs`.

use super::*;
use std::net::TcpListener;

fn env(bytes: &[u8]) -> Result<Envelope, QmqpcError> {
    read_envelope(&mut &bytes[..])
}

#[test]
fn envelope_records() {
    let e = env(b"Fa@b\0Tc@d\0T\0\0trailing").unwrap();
    assert_eq!(e.sender, b"a@b");
    assert_eq!(e.recipients, [b"c@d".to_vec(), Vec::new()]);
    assert_eq!(env(b"F\0\0").unwrap().recipients.len(), 0);
    for bad in [
        &b""[..],
        b"F",
        b"Xa\0\0",
        b"\0",
        b"Fa\0",
        b"Fa\0Tb\0",
        b"Fa\0Xb\0\0",
    ] {
        let e = env(bad).unwrap_err();
        assert_eq!(e.exit_code(), 91, "{bad:?}: {e}");
    }
}

#[test]
fn server_lines() {
    let lines: Vec<String> = [
        "192.0.2.1",
        "192.0.2.2:2628",
        "192.0.2.3 # comment",
        "mx.example.com",
        "192.0.2",
        "300.1.1.1",
        "192.0.2.4:notaport",
        "192.0.2.5:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let got: Vec<String> = servers(&lines).iter().map(|a| a.to_string()).collect();
    assert_eq!(
        got,
        [
            "192.0.2.1:628",
            "192.0.2.2:2628",
            "192.0.2.3:628",
            "192.0.2.4:628",
            "192.0.2.5:628"
        ]
    );
}

#[test]
fn package_is_nested_netstrings() {
    let e = Envelope {
        sender: b"a@b".to_vec(),
        recipients: vec![b"c@d".to_vec(), b"e@f".to_vec()],
    };
    let (head, tail) = package(6, &e);
    let whole = [&head[..], b"hello\n", &tail[..]].concat();
    assert_eq!(whole, b"27:6:hello\n,3:a@b,3:c@d,3:e@f,,");
}

#[test]
fn verdict_skips_to_the_letter() {
    let v = |b: &[u8]| verdict(&mut &b[..]).map(|r| r.map_err(|e| e.exit_code()));
    assert_eq!(v(b"25:Kok 1 qp 2,").unwrap(), Ok(()));
    assert_eq!(v(b"1:Z,").unwrap(), Err(71));
    assert_eq!(v(b"1:D,").unwrap(), Err(31));
    assert!(v(b"12:").is_err());
}

#[test]
fn exit_codes() {
    let a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
    let io = || std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
    assert_eq!(connect_error(a, io()).exit_code(), 73);
    assert_eq!(
        connect_error(a, std::io::ErrorKind::TimedOut.into()).exit_code(),
        72
    );
    assert_eq!(
        connect_error(a, std::io::Error::from_raw_os_error(libc::EMFILE)).exit_code(),
        56
    );
    assert!(QmqpcError::Refused.is_permanent());
    assert!(!QmqpcError::Deferred.is_permanent());
    assert_eq!(QmqpcError::NoServers.exit_code(), 55);
}

/// A port nobody listens on: bind, note the port, close.
fn dead_port() -> SocketAddrV4 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    match l.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        _ => unreachable!(),
    }
}

#[test]
fn first_reachable_server_decides() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let SocketAddr::V4(live) = l.local_addr().unwrap() else {
        unreachable!()
    };
    let t = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut got = vec![0u8; 21];
        c.read_exact(&mut got).unwrap();
        c.write_all(b"1:Z,").unwrap();
        got
    });
    let e = Envelope {
        sender: b"a".to_vec(),
        recipients: vec![b"b".to_vec()],
    };
    let r = send(&[dead_port(), live, dead_port()], b"hello\n", &e);
    assert_eq!(r.unwrap_err().exit_code(), 71);
    assert_eq!(t.join().unwrap(), b"17:6:hello\n,1:a,1:b,,");
    // Nothing reachable: the last error counts.
    let r = send(&[dead_port()], b"m", &e);
    assert_eq!(r.unwrap_err().exit_code(), 73);
    assert_eq!(send(&[], b"m", &e).unwrap_err().exit_code(), 55);
}
