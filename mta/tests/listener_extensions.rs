//! The opt-in SMTP extensions through the built-in listener: STARTTLS
//! with a certificate made at test time, AUTH through a fake
//! checkpassword, SIZE; and the supervisor starting the listener.

mod listener_harness;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use listener_harness::common::{wait_for, Mta};
use listener_harness::{control, queued, read_reply, Listener};

/// Writes control/servercert.pem (certificate then key, one file) and
/// returns the certificate for the client to trust.
fn self_signed(root: &std::path::Path) -> rustls_pki_types::CertificateDer<'static> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = ck.cert.pem() + &ck.signing_key.serialize_pem();
    control(root, "servercert.pem", &pem);
    ck.cert.der().clone()
}

fn tls_client(cert: rustls_pki_types::CertificateDer<'static>) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap()
}

#[test]
fn starttls_with_a_self_signed_certificate() {
    let m = Mta::init();
    let cert = self_signed(&m.root);
    let l = Listener::start(&m.root, &[]);
    let mut c = l.connect();
    c.reply();
    assert_eq!(
        c.cmd("EHLO x\r\n"),
        "250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
    );
    assert_eq!(c.cmd("STARTTLS\r\n"), "220 ready to start TLS\r\n");
    let sock = c.r.into_inner();
    let tls = rustls::StreamOwned::new(tls_client(cert), sock);
    let mut r = BufReader::new(tls);
    let say = |r: &mut BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
               s: &str| {
        r.get_mut().write_all(s.as_bytes()).unwrap();
        read_reply(r)
    };
    assert_eq!(
        say(&mut r, "EHLO x\r\n"),
        "250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    );
    assert_eq!(say(&mut r, "MAIL FROM:<a@b>\r\n"), "250 ok\r\n");
    assert_eq!(say(&mut r, "RCPT TO:<user@localhost>\r\n"), "250 ok\r\n");
    assert_eq!(say(&mut r, "DATA\r\n"), "354 go ahead\r\n");
    assert!(say(&mut r, "secret\r\n.\r\n").starts_with("250 ok "));
    assert_eq!(say(&mut r, "QUIT\r\n"), "221 localhost\r\n");
    let msgs = queued(&m.root);
    assert!(msgs[0].contains(" with ESMTPS; "), "{}", msgs[0]);
}

#[test]
fn auth_plain_and_login_through_checkpassword_then_relay() {
    let m = Mta::init();
    let cp = m.root.join("checkpassword");
    // A fake checkpassword: joe/secret is right; it must get user\0pass\0\0.
    std::fs::write(
        &cp,
        "#!/bin/sh\n[ \"$(tr '\\0' : <&3)\" = 'joe:secret::' ] && exec \"$@\"\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&cp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    control(
        &m.root,
        "smtpauth",
        &format!("{} /bin/true\n", cp.display()),
    );
    let l = Listener::start(&m.root, &[]);
    let mut c = l.connect();
    c.reply();
    // Without TLS, AUTH needs control/smtpauthplaintext.
    assert_eq!(c.cmd("EHLO x\r\n").lines().count(), 3);
    assert_eq!(c.cmd("AUTH LOGIN\r\n"), "502 unimplemented (#5.5.1)\r\n");
    control(&m.root, "smtpauthplaintext", "");
    let mut c = l.connect();
    c.reply();
    assert!(c.cmd("EHLO x\r\n").ends_with("250 AUTH LOGIN PLAIN\r\n"));
    // PLAIN, wrong password: \0joe\0wrong.
    assert_eq!(
        c.cmd("AUTH PLAIN AGpvZQB3cm9uZw==\r\n"),
        "535 authorization failed (#5.7.0)\r\n"
    );
    c.cmd("MAIL FROM:<a@b>\r\n");
    assert!(c
        .cmd("RCPT TO:<x@elsewhere.example>\r\n")
        .starts_with("553 "));
    c.cmd("RSET\r\n");
    // LOGIN, right password: joe / secret.
    assert_eq!(c.cmd("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd("am9l\r\n"), "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(c.cmd("c2VjcmV0\r\n"), "235 ok, go ahead (#2.0.0)\r\n");
    c.cmd("MAIL FROM:<a@b>\r\n");
    assert_eq!(c.cmd("RCPT TO:<x@elsewhere.example>\r\n"), "250 ok\r\n");
    // PLAIN with the initial response on a fresh connection.
    let mut c = l.connect();
    c.reply();
    assert_eq!(
        c.cmd("AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n"),
        "235 ok, go ahead (#2.0.0)\r\n"
    );
}

#[test]
fn size_is_offered_and_checked_when_smtpsize_and_databytes_are_set() {
    let m = Mta::init();
    control(&m.root, "databytes", "100\n");
    let l = Listener::start(&m.root, &[]);
    let mut c = l.connect();
    c.reply();
    // databytes alone: netqmail's EHLO, SIZE= ignored.
    assert_eq!(
        c.cmd("EHLO x\r\n"),
        "250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b> SIZE=101\r\n"), "250 ok\r\n");
    control(&m.root, "smtpsize", "");
    let mut c = l.connect();
    c.reply();
    assert_eq!(
        c.cmd("EHLO x\r\n"),
        "250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@b> SIZE=101\r\n"),
        "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b> SIZE=100\r\n"), "250 ok\r\n");
}

#[test]
fn the_supervisor_runs_the_listener_from_control_smtplisten() {
    let mut m = Mta::init();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    m.control("smtplisten", &format!("127.0.0.1:{port}\n"));
    m.start();
    let mut greeting = String::new();
    let ok = wait_for(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            greeting = read_reply(&mut BufReader::new(s));
            true
        })
    });
    assert!(ok, "no listener on port {port}");
    assert_eq!(greeting, "220 localhost ESMTP\r\n");
    m.stop();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
