//! The opt-in extensions (STARTTLS, AUTH, SIZE) driven in memory: what the
//! session says and which actions it asks of its driver.

use std::sync::Arc;

use crate::smtpd::auth::Verdict;
use crate::smtpd::controls::{Peer, SmtpdControls};
use crate::smtpd::extensions::Extensions;
use crate::smtpd::relay::{BadMailFrom, RcptHosts};
use crate::smtpd::session::{Action, Context, Session};

fn session(ext: Extensions, databytes: u64) -> Session {
    let controls = SmtpdControls {
        greeting: b"mx.example.com".to_vec(),
        localiphost: None,
        timeout: 1200,
        rcpthosts: RcptHosts::from_lines(Some(&["example.com"])),
        badmailfrom: BadMailFrom::default(),
        databytes,
        local_ips: vec![],
        extensions: ext,
    };
    Session::new(Context {
        controls: Arc::new(controls),
        peer: Peer::from_vars(|k| (k == "TCPREMOTEIP").then(|| b"192.0.2.7".to_vec())),
        clock: || 1704423845,
    })
}

fn replies(actions: &[Action]) -> String {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r) => Some(String::from_utf8_lossy(r).into_owned()),
            _ => None,
        })
        .collect()
}

fn tls_and_auth() -> Extensions {
    Extensions {
        servercert: Some("servercert.pem".into()),
        checkpassword: Some(vec!["/bin/checkpassword".into(), "/bin/true".into()]),
        auth_plaintext: false,
        size: false,
    }
}

#[test]
fn stock_ehlo_is_netqmails_three_lines() {
    let mut s = session(Extensions::default(), 0);
    assert_eq!(
        replies(&s.feed(b"EHLO x\r\n")),
        "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    );
    for cmd in ["STARTTLS\r\n", "AUTH PLAIN AGpvZQBwdw==\r\n"] {
        assert_eq!(
            replies(&s.feed(cmd.as_bytes())),
            "502 unimplemented (#5.5.1)\r\n"
        );
    }
}

#[test]
fn databytes_alone_keeps_netqmails_ehlo_and_ignores_size_parameter() {
    let mut s = session(Extensions::default(), 1000);
    assert_eq!(
        replies(&s.feed(b"EHLO x\r\n")),
        "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    );
    assert_eq!(
        replies(&s.feed(b"MAIL FROM:<a@b> SIZE=1001\r\n")),
        "250 ok\r\n"
    );
}

#[test]
fn smtpsize_without_databytes_offers_nothing() {
    let ext = Extensions {
        size: true,
        ..Extensions::default()
    };
    let mut s = session(ext, 0);
    assert_eq!(
        replies(&s.feed(b"EHLO x\r\n")),
        "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    );
}

#[test]
fn size_is_offered_and_enforced_at_mail_with_smtpsize_and_databytes() {
    let ext = Extensions {
        size: true,
        ..Extensions::default()
    };
    let mut s = session(ext, 1000);
    assert_eq!(
        replies(&s.feed(b"EHLO x\r\n")),
        "250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000\r\n"
    );
    assert_eq!(
        replies(&s.feed(b"MAIL FROM:<a@b> SIZE=1001\r\n")),
        "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"
    );
    // The refused MAIL started no transaction.
    assert_eq!(
        replies(&s.feed(b"RCPT TO:<u@example.com>\r\n")),
        "503 MAIL first (#5.5.1)\r\n"
    );
    assert_eq!(
        replies(&s.feed(b"MAIL FROM:<a@b> SIZE=1000\r\n")),
        "250 ok\r\n"
    );
}

#[test]
fn starttls_then_auth_then_relay_with_esmtpsa() {
    let mut s = session(tls_and_auth(), 0);
    assert_eq!(
        replies(&s.feed(b"EHLO x\r\n")),
        "250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
    );
    // AUTH is not offered in the clear.
    assert_eq!(
        replies(&s.feed(b"AUTH LOGIN\r\n")),
        "502 unimplemented (#5.5.1)\r\n"
    );
    // Pipelined input after STARTTLS is dropped (RFC 3207 §4.2).
    let a = s.feed(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n");
    assert_eq!(replies(&a), "220 ready to start TLS\r\n");
    assert_eq!(a.last(), Some(&Action::StartTls));
    assert!(s.tls_started(true).is_empty());
    assert!(s.is_tls());
    assert_eq!(
        replies(&s.feed(b"EHLO x\r\n")),
        "250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN\r\n"
    );
    assert_eq!(
        replies(&s.feed(b"STARTTLS\r\n")),
        "503 TLS already active (#5.5.1)\r\n"
    );
    // Not relaying yet.
    s.feed(b"MAIL FROM:<a@b>\r\n");
    assert!(replies(&s.feed(b"RCPT TO:<u@elsewhere.example>\r\n")).starts_with("553 "));
    assert_eq!(
        replies(&s.feed(b"AUTH PLAIN AGpvZQBwdw==\r\n")),
        "503 no auth during mail transaction (#5.5.0)\r\n"
    );
    s.feed(b"RSET\r\n");
    let a = s.feed(b"AUTH PLAIN AGpvZQBwdw==\r\nNOOP\r\n");
    assert_eq!(
        a,
        vec![Action::CheckPassword {
            user: b"joe".to_vec(),
            password: b"pw".to_vec()
        }]
    );
    // The NOOP waits for the verdict.
    let a = s.auth_done(Verdict::Accepted, b"joe".to_vec());
    assert_eq!(replies(&a), "235 ok, go ahead (#2.0.0)\r\n250 ok\r\n");
    assert_eq!(s.authenticated(), Some(&b"joe"[..]));
    s.feed(b"MAIL FROM:<a@b>\r\n");
    assert_eq!(
        replies(&s.feed(b"RCPT TO:<u@elsewhere.example>\r\n")),
        "250 ok\r\n"
    );
    let a = s.feed(b"DATA\r\n");
    assert_eq!(a, vec![Action::StartMessage]);
    let a = s.message_started(Ok(()));
    let Some(Action::MessageData(received)) = a.get(1) else {
        panic!("{a:?}")
    };
    assert!(String::from_utf8_lossy(received).contains("with ESMTPSA;"));
}

#[test]
fn auth_login_exchange_failures_and_plaintext_control() {
    let mut ext = tls_and_auth();
    ext.servercert = None;
    ext.auth_plaintext = true;
    let mut s = session(ext, 0);
    assert!(replies(&s.feed(b"EHLO x\r\n")).ends_with("250 AUTH LOGIN PLAIN\r\n"));
    assert_eq!(replies(&s.feed(b"AUTH LOGIN\r\n")), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(replies(&s.feed(b"am9l\r\n")), "334 UGFzc3dvcmQ6\r\n");
    let a = s.feed(b"YmFk\r\n");
    assert!(matches!(&a[0], Action::CheckPassword { user, password }
        if user == b"joe" && password == b"bad"));
    assert_eq!(
        replies(&s.auth_done(Verdict::Rejected, b"joe".to_vec())),
        "535 authorization failed (#5.7.0)\r\n"
    );
    s.feed(b"AUTH LOGIN\r\n");
    assert_eq!(
        replies(&s.feed(b"*\r\n")),
        "501 auth exchange cancelled (#5.0.0)\r\n"
    );
    assert_eq!(
        replies(&s.feed(b"AUTH CRAM-MD5\r\n")),
        "504 auth type unimplemented (#5.5.1)\r\n"
    );
    s.feed(b"AUTH PLAIN\r\n");
    s.feed(b"AGpvZQBwdw==\r\n");
    assert_eq!(
        replies(&s.auth_done(Verdict::Temporary, b"joe".to_vec())),
        "454 oops, problem with child and I can't auth (#4.3.0)\r\n"
    );
    // Received says ESMTPA after a successful AUTH without TLS.
    s.feed(b"AUTH PLAIN AGpvZQBwdw==\r\n");
    s.auth_done(Verdict::Accepted, b"joe".to_vec());
    s.feed(b"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\n");
    s.feed(b"DATA\r\n");
    let a = s.message_started(Ok(()));
    assert!(matches!(&a[1], Action::MessageData(r)
        if String::from_utf8_lossy(r).contains("with ESMTPA;")));
}

#[test]
fn failed_handshake_closes() {
    let mut s = session(tls_and_auth(), 0);
    s.feed(b"STARTTLS\r\n");
    assert_eq!(s.tls_started(false), vec![Action::Close { clean: false }]);
    assert!(s.is_closed());
}
