//! qmail-remote's STARTTLS (ours, `control/remotetls`) against a loopback
//! sink that offers STARTTLS with a certificate made at test time: the
//! dialogue, the fallbacks, and the certificate policy.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use support::remote_home::RemoteHome;
use support::smtp_sink::{Script, SmtpSink};

/// qmail-remote's arguments: host, sender, recipient.
const ARGS: &[&str] = &["example.org", "s@example.net", "r@example.org"];

/// A one-connection SMTP server that offers STARTTLS; it records the
/// plaintext part and the part spoken over TLS separately.
struct TlsSink {
    port: u16,
    thread: JoinHandle<(String, String)>,
}

/// Certificate for 127.0.0.1 (and localhost); returns (cert PEM, cert +
/// key PEM for the server).
fn cert() -> (String, rustls::ServerConfig) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    (ck.cert.pem(), config)
}

impl TlsSink {
    fn start(config: rustls::ServerConfig) -> TlsSink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (sock, _) = l.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut plain = String::new();
            let mut rd = BufReader::new(sock.try_clone().unwrap());
            let mut w = sock.try_clone().unwrap();
            w.write_all(b"220 tls.sink ESMTP\r\n").unwrap();
            let mut line = String::new();
            let mut data = false;
            loop {
                line.clear();
                if rd.read_line(&mut line).unwrap_or(0) == 0 {
                    return (plain, String::new());
                }
                plain.push_str(&line);
                if data {
                    if line == ".\r\n" {
                        data = false;
                        w.write_all(b"250 ok\r\n").unwrap();
                    }
                    continue;
                }
                match line.to_ascii_uppercase().get(..4).unwrap_or("") {
                    "DATA" => {
                        data = true;
                        w.write_all(b"354 go\r\n").unwrap();
                    }
                    "EHLO" => w
                        .write_all(b"250-tls.sink\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
                        .unwrap(),
                    "STAR" => {
                        w.write_all(b"220 go ahead\r\n").unwrap();
                        break;
                    }
                    _ => w.write_all(b"250 ok\r\n").unwrap(),
                }
            }
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut secret = Vec::new();
            let mut data = false;
            let mut buf = [0u8; 4096];
            let mut pending = Vec::new();
            loop {
                let n = match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(i) = pending.iter().position(|&c| c == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    secret.extend_from_slice(&line);
                    let reply: &[u8] = if data {
                        if line == b".\r\n" {
                            data = false;
                            b"250 ok 1 qp 2\r\n"
                        } else {
                            continue;
                        }
                    } else {
                        match &line[..4.min(line.len())] {
                            b"EHLO" => b"250-tls.sink\r\n250 PIPELINING\r\n",
                            b"DATA" => {
                                data = true;
                                b"354 go\r\n"
                            }
                            b"QUIT" => b"221 bye\r\n",
                            _ => b"250 ok\r\n",
                        }
                    };
                    if tls.write_all(reply).is_err() {
                        break;
                    }
                }
            }
            (plain, String::from_utf8_lossy(&secret).into_owned())
        });
        TlsSink { port, thread }
    }

    fn finish(self) -> (String, String) {
        self.thread.join().unwrap()
    }
}

#[test]
fn without_remotetls_the_dialogue_stays_helo_even_if_starttls_is_offered() {
    let q = RemoteHome::new();
    let (_, config) = cert();
    let sink = TlsSink::start(config);
    q.route_to(sink.port);
    let out = q.run(ARGS, b"Subject: t\n\nhi\n");
    assert!(
        out.ends_with("K127.0.0.1 accepted message.\nRemote host said: 250 ok\n\0"),
        "{out:?}"
    );
    let (plain, secret) = sink.finish();
    assert!(
        plain.starts_with("HELO me.test\r\nMAIL FROM:<s@example.net>\r\n"),
        "{plain}"
    );
    assert_eq!(secret, "");
}

#[test]
fn remotetls_does_ehlo_starttls_then_the_dialogue_over_tls() {
    let q = RemoteHome::new();
    q.control("remotetls", "");
    let (_, config) = cert();
    let sink = TlsSink::start(config);
    q.route_to(sink.port);
    let out = q.run(ARGS, b"Subject: t\n\n.hidden\n");
    assert_eq!(
        out,
        "r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 1 qp 2\n\0"
    );
    let (plain, secret) = sink.finish();
    assert_eq!(plain, "EHLO me.test\r\nSTARTTLS\r\n");
    assert_eq!(
        secret,
        "EHLO me.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n\
         Subject: t\r\n\r\n..hidden\r\n.\r\nQUIT\r\n"
    );
}

#[test]
fn remotetlsverify_accepts_a_trusted_certificate_and_defers_on_an_unknown_one() {
    let q = RemoteHome::new();
    q.control("remotetls", "");
    let (pem, config) = cert();
    let ca = q.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    q.control("remotetlsverify", &format!("{}\n", ca.display()));
    let sink = TlsSink::start(config);
    q.route_to(sink.port);
    let out = q.run(ARGS, b"x\n");
    assert!(
        out.ends_with("K127.0.0.1 accepted message.\nRemote host said: 250 ok 1 qp 2\n\0"),
        "{out:?}"
    );
    sink.finish();

    // Another certificate, not the trusted one.
    let (_, other) = cert();
    let sink = TlsSink::start(other);
    q.route_to(sink.port);
    let out = q.run(ARGS, b"x\n");
    assert!(
        out.starts_with("ZTLS connect failed: invalid peer certificate: ")
            && out.ends_with("; connected to 127.0.0.1. (#4.4.2)\n\0"),
        "{out:?}"
    );
    let (plain, secret) = sink.finish();
    assert_eq!(plain, "EHLO me.test\r\nSTARTTLS\r\n");
    assert_eq!(secret, "");
}

#[test]
fn an_unreadable_ca_file_defers_with_unable_to_read_controls() {
    let q = RemoteHome::new();
    q.control("remotetls", "");
    q.control("remotetlsverify", "/nonexistent/ca.pem\n");
    q.route_to(9);
    assert_eq!(
        q.run(ARGS, b"x\n"),
        "ZUnable to read control files. (#4.3.0)\n\0"
    );
}

#[test]
fn ehlo_refused_falls_back_to_helo_in_plaintext() {
    let q = RemoteHome::new();
    q.control("remotetls", "");
    // The scripted sink answers EHLO with 502.
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    q.route_to(sink.port());
    let out = q.run(ARGS, b"x\n");
    assert!(
        out.ends_with(
            "K127.0.0.1 accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n\0"
        ),
        "{out:?}"
    );
    let s = sink.finish_text();
    assert!(
        s[0].starts_with("EHLO me.test\r\nHELO me.test\r\nMAIL FROM:<s@example.net>\r\n"),
        "{}",
        s[0]
    );
}

#[test]
fn no_starttls_in_the_ehlo_reply_goes_on_in_plaintext() {
    let q = RemoteHome::new();
    q.control("remotetls", "");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    q.route_to(l.local_addr().unwrap().port());
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut rd = BufReader::new(s);
        w.write_all(b"220 x\r\n").unwrap();
        let mut seen = String::new();
        let mut line = String::new();
        let mut data = false;
        while rd.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&line);
            let r: &[u8] = match (data, line.as_str()) {
                (true, ".\r\n") => {
                    data = false;
                    b"250 ok\r\n"
                }
                (true, _) => b"",
                (false, l) if l.starts_with("EHLO") => b"250-x\r\n250 8BITMIME\r\n",
                (false, "DATA\r\n") => {
                    data = true;
                    b"354 go\r\n"
                }
                _ => b"250 ok\r\n",
            };
            w.write_all(r).unwrap();
            line.clear();
        }
        seen
    });
    let out = q.run(ARGS, b"x\n");
    assert!(
        out.ends_with("K127.0.0.1 accepted message.\nRemote host said: 250 ok\n\0"),
        "{out:?}"
    );
    let seen = t.join().unwrap();
    assert_eq!(
        seen,
        "EHLO me.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<r@example.org>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"
    );
}
