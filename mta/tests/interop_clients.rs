//! SMTP clients nobody here wrote, against the whole MTA (supervisor,
//! built-in listener on a loopback port, queue, local delivery): lettre
//! (Rust), Python's smtplib, and swaks; in plaintext, with STARTTLS (a
//! certificate made at test time), and with AUTH PLAIN/LOGIN checked by
//! `mta-checkpassword` against a user made with `mta-passwd`. Each message
//! must land in ~user/Maildir with its headers and our Received line.
//!
//! python3 and swaks come from Debian (`ci/setup`); a test whose client is
//! missing says so and passes without running.

mod listener_harness;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use listener_harness::common::{wait_for, Mta};
use listener_harness::read_reply;

const PASSWORD: &str = "s3cret pass";

/// A started MTA with STARTTLS and AUTH on, listening on `port`.
struct Setup {
    m: Mta,
    port: u16,
    /// The server certificate (PEM), for clients that verify.
    cert_pem: String,
}

impl Setup {
    fn start() -> Setup {
        let mut m = Mta::init();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        m.control(
            "servercert.pem",
            &(ck.cert.pem() + &ck.signing_key.serialize_pem()),
        );
        // The POP3 password file doubles as the SMTP AUTH one.
        let mut c = Command::new(env!("CARGO_BIN_EXE_mta-passwd"))
            .args(["set", "joe", "--home"])
            .arg(m.user_home())
            .env("QMAILHOME", &m.root)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(c.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        assert!(c.wait().unwrap().success());
        m.control(
            "smtpauth",
            &format!(
                "{} /bin/true\n",
                m.root.join("bin/mta-checkpassword").display()
            ),
        );
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        // After init (the harness removes it) and before start.
        m.control("smtplisten", &format!("127.0.0.1:{port}\n"));
        m.start();
        let up = wait_for(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                read_reply(&mut BufReader::new(s)).starts_with("220 ")
            })
        });
        assert!(up, "no listener on port {port}");
        Setup {
            m,
            port,
            cert_pem: ck.cert.pem(),
        }
    }

    /// Waits for the n-th message in ~user/Maildir/new; returns them all
    /// as text.
    fn delivered(&self, n: usize) -> Vec<String> {
        self.m
            .wait_maildir(&self.m.user_home().join("Maildir"), n)
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// The one delivered message whose Subject is `subject`.
    fn message(&self, n: usize, subject: &str) -> String {
        let all = self.delivered(n);
        let found: Vec<&String> = all
            .iter()
            .filter(|m| m.contains(&format!("\nSubject: {subject}\n")))
            .collect();
        assert_eq!(found.len(), 1, "subject {subject:?} in {all:#?}");
        found[0].clone()
    }
}

/// `Received: from <helo> (HELO ...)` as qmail writes it when the HELO
/// name differs from the (unknown) remote host, and the protocol.
fn assert_received(msg: &str, helo: &str, with: &str) {
    let ours = msg
        .split("\nReceived: from ")
        .nth(1)
        .unwrap_or_else(|| panic!("no Received line in {msg}"));
    assert!(
        ours.starts_with(&format!(
            "unknown (HELO {helo}) (127.0.0.1)\n  by localhost with {with}; "
        )),
        "{ours}"
    );
}

fn have(prog: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: {prog} is not installed (ci/setup installs it)");
    }
    ok
}

#[test]
fn lettre_plain_starttls_and_auth() {
    use lettre::message::Message;
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::transport::smtp::extension::ClientId;
    use lettre::{SmtpTransport, Transport};

    let s = Setup::start();
    let msg = |subject: &str| {
        Message::builder()
            .from("Rust <rust@example.org>".parse().unwrap())
            .to("user@localhost".parse().unwrap())
            .subject(subject)
            .body(String::from("hello from lettre\n"))
            .unwrap()
    };
    let builder = || {
        SmtpTransport::builder_dangerous("127.0.0.1")
            .port(s.port)
            .hello_name(ClientId::Domain("lettre.test".into()))
            .timeout(Some(Duration::from_secs(10)))
    };
    builder()
        .tls(Tls::None)
        .build()
        .send(&msg("lettre plain"))
        .unwrap();
    let tls = || {
        TlsParameters::builder("localhost".into())
            .add_root_certificate(Certificate::from_pem(s.cert_pem.as_bytes()).unwrap())
            .build_rustls()
            .unwrap()
    };
    builder()
        .tls(Tls::Required(tls()))
        .build()
        .send(&msg("lettre tls"))
        .unwrap();
    for (mech, subject) in [
        (Mechanism::Plain, "lettre auth plain"),
        (Mechanism::Login, "lettre auth login"),
    ] {
        builder()
            .tls(Tls::Required(tls()))
            .credentials(Credentials::new("joe".into(), PASSWORD.into()))
            .authentication(vec![mech])
            .build()
            .send(&msg(subject))
            .unwrap();
    }
    // A wrong password is refused with qmail's text.
    let err = builder()
        .tls(Tls::Required(tls()))
        .credentials(Credentials::new("joe".into(), "wrong".into()))
        .authentication(vec![Mechanism::Plain])
        .build()
        .send(&msg("never"))
        .unwrap_err();
    assert!(err.to_string().contains("authorization failed"), "{err}");

    let m = s.message(4, "lettre plain");
    assert_received(&m, "lettre.test", "SMTP");
    assert!(m.contains("\nFrom: Rust <rust@example.org>\n"), "{m}");
    assert!(m.starts_with("Return-Path: <rust@example.org>\n"), "{m}");
    assert!(m.contains("\n\nhello from lettre\n"), "{m}");
    assert_received(&s.message(4, "lettre tls"), "lettre.test", "ESMTPS");
    assert_received(&s.message(4, "lettre auth plain"), "lettre.test", "ESMTPSA");
    assert_received(&s.message(4, "lettre auth login"), "lettre.test", "ESMTPSA");
}

/// Runs a Python program with the port as argv[1]; true if it ran.
fn python(port: u16, program: &str) -> bool {
    if !have("python3") {
        return false;
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(port.to_string())
        .arg(PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn python_smtplib_plain_starttls_and_auth() {
    let s = Setup::start();
    let program = r#"
import smtplib, ssl, sys
port, password = int(sys.argv[1]), sys.argv[2]
msg = b"From: py@example.org\r\nSubject: %s\r\n\r\nhello from smtplib\r\n.dot line\r\n"

s = smtplib.SMTP("127.0.0.1", port, local_hostname="python.test", timeout=10)
s.sendmail("py@example.org", ["user@localhost"], msg % b"python plain")
s.quit()

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, local_hostname="python.test", timeout=10)
s.ehlo()
assert s.has_extn("starttls"), s.esmtp_features
assert not s.has_extn("auth"), "AUTH offered in the clear"
s.starttls(context=ctx)
s.ehlo()
assert s.has_extn("auth"), s.esmtp_features
try:
    s.login("joe", "wrong")
    raise SystemExit("wrong password accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.login("joe", password)
s.sendmail("py@example.org", ["user@localhost"], msg % b"python tls auth")
s.quit()
"#;
    if !python(s.port, program) {
        return;
    }
    let m = s.message(2, "python plain");
    assert_received(&m, "python.test", "SMTP");
    // The leading dot was stuffed by smtplib and stripped by us.
    assert!(m.ends_with("\nhello from smtplib\n.dot line\n"), "{m}");
    assert!(m.starts_with("Return-Path: <py@example.org>\n"), "{m}");
    assert_received(&s.message(2, "python tls auth"), "python.test", "ESMTPSA");
}

fn swaks(port: u16, args: &[&str]) -> String {
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--helo",
            "swaks.test",
            "--from",
            "sw@example.org",
            "--to",
            "user@localhost",
        ])
        .args(["--timeout", "10"])
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "swaks failed: {text}");
    text
}

#[test]
fn swaks_plain_starttls_and_auth_plain() {
    if !have("swaks") {
        return;
    }
    let s = Setup::start();
    let t = swaks(s.port, &["--header", "Subject: swaks plain"]);
    assert!(t.contains("<-  250 ok "), "{t}");
    let t = swaks(
        s.port,
        &[
            "--header",
            "Subject: swaks tls auth",
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "joe",
            "--auth-password",
            PASSWORD,
        ],
    );
    assert!(t.contains("<-  220 ready to start TLS"), "{t}");
    assert!(t.contains("<~  235 ok, go ahead (#2.0.0)"), "{t}");
    let m = s.message(2, "swaks plain");
    assert_received(&m, "swaks.test", "SMTP");
    assert!(m.starts_with("Return-Path: <sw@example.org>\n"), "{m}");
    assert_received(&s.message(2, "swaks tls auth"), "swaks.test", "ESMTPSA");
}
