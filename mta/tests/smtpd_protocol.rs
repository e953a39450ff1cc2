//! Black-box tests of qmail-smtpd's commands and replies over loopback
//! sockets (spec §7.1–7.5, §9, Appendix C).

mod smtpd_harness;

use smtpd_harness::{Server, Smtp, G};

#[test]
fn greeting_ehlo_helo_and_simple_commands() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.send("EHLO client.example\r\n");
    c.expect("250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    c.send("HELO x\r\n");
    c.expect("250 mx.example.com\r\n");
    c.send("help\r\n");
    c.expect("214 netqmail home page: http://qmail.org/netqmail\r\n");
    c.send("noop x y\r\n");
    c.expect("250 ok\r\n");
    c.send("vrfy x\r\n");
    c.expect("252 send some mail, i'll try my best\r\n");
    c.send("rset\r\n");
    c.expect("250 flushed\r\n");
    for cmd in [
        "EXPN x",
        "TURN",
        "ETRN x",
        "AUTH PLAIN",
        "STARTTLS",
        "BDAT 1",
        "",
    ] {
        c.send(format!("{cmd}\r\n"));
        c.expect("502 unimplemented (#5.5.1)\r\n");
    }
    c.send("QUIT\r\n");
    assert_eq!(c.rest(), ("221 mx.example.com\r\n".to_string(), 0));
}

#[test]
fn greeting_comes_from_smtpgreeting_verbatim() {
    let s = Server::new();
    s.control("smtpgreeting", "mx.example ready  \n");
    let mut c = s.connect();
    c.expect("220 mx.example ready ESMTP\r\n");
    c.send("QUIT\r\n");
    assert_eq!(c.rest().0, "221 mx.example ready\r\n");
    s.control("smtpgreeting", "");
    let mut c = s.connect();
    c.expect("220  ESMTP\r\n");
}

#[test]
fn no_smtpgreeting_and_no_me_refuses_to_run() {
    let s = Server::new();
    s.remove_control("me");
    let c = s.connect();
    assert_eq!(
        c.rest(),
        ("421 unable to read controls (#4.3.0)\r\n".to_string(), 1)
    );
}

#[test]
fn missing_home_is_a_control_failure() {
    let mut s = Server::new();
    let gone = s.root.join("nonexistent");
    s.set("QMAILHOME", gone.to_str().unwrap());
    // The harness sets QMAILHOME itself; our override comes later and wins.
    let c = s.connect();
    assert_eq!(
        c.rest(),
        ("421 unable to read controls (#4.3.0)\r\n".to_string(), 1)
    );
}

#[test]
fn mail_and_rcpt_sequence_errors() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.send("RCPT TO:<a@b>\r\n");
    c.expect("503 MAIL first (#5.5.1)\r\n");
    c.send("DATA\r\n");
    c.expect("503 MAIL first (#5.5.1)\r\n");
    c.send("MAIL FROM:<a@b>\r\n");
    c.expect("250 ok\r\n");
    c.send("DATA\r\n");
    c.expect("503 RCPT first (#5.5.1)\r\n");
    // Keywords are not checked; MAIL without argument is the null sender.
    c.send("MAIL <x@y>\r\nMAIL\r\nRCPT <q@r>\r\n");
    c.expect("250 ok\r\n250 ok\r\n250 ok\r\n");
    // HELO resets the transaction.
    c.send("HELO h\r\nRCPT TO:<a@b>\r\n");
    c.expect("250 mx.example.com\r\n503 MAIL first (#5.5.1)\r\n");
    let long = "a".repeat(900);
    c.send(format!("MAIL FROM:<{long}>\r\n"));
    c.expect("555 syntax error (#5.5.4)\r\n");
    c.send(format!("MAIL FROM:<{}>\r\n", &long[1..]));
    c.expect("250 ok\r\n");
    c.send(format!("RCPT TO:<{long}>\r\n"));
    c.expect("555 syntax error (#5.5.4)\r\n");
}

#[test]
fn pipelined_commands_get_all_replies_in_order() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n");
    c.expect("250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n");
    c.send(".\r\n");
    c.accepted();
}

#[test]
fn rcpthosts_exact_and_dot_suffix() {
    let s = Server::new();
    s.control("rcpthosts", "example.com   \n# a comment\n\n");
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<x@y>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<a@EXAMPLE.COM>\r\n");
    c.expect("250 ok\r\n250 ok\r\n250 ok\r\n");
    c.send("RCPT TO:<a@sub.example.com>\r\n");
    c.expect("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n");
    c.send("RCPT TO:<postmaster>\r\nRCPT TO:<>\r\n");
    c.expect("250 ok\r\n250 ok\r\n");
    drop(c);
    s.control("rcpthosts", "example.com\n.example.com\n");
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<x@y>\r\nRCPT TO:<a@sub.example.com>\r\nRCPT TO:<a@other.org>\r\n");
    c.expect(
        "250 ok\r\n250 ok\r\n\
         553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
    );
}

#[test]
fn no_rcpthosts_accepts_all_and_empty_rcpthosts_rejects_all() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<x@y>\r\nRCPT TO:<a@anywhere.example>\r\n");
    c.expect("250 ok\r\n250 ok\r\n");
    drop(c);
    s.control("rcpthosts", "");
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<x@y>\r\nRCPT TO:<a@anywhere.example>\r\nRCPT TO:<local>\r\n");
    c.expect(
        "250 ok\r\n\
         553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n250 ok\r\n",
    );
}

#[test]
fn morercpthosts_cdb_counts_only_with_rcpthosts() {
    let s = Server::new();
    s.control("morercpthosts", "More.example\n");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_qmail-newmrh"))
        .env("QMAILHOME", &s.root)
        .status()
        .unwrap();
    assert!(st.success());
    // Without rcpthosts the cdb has no effect: everything is accepted.
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<x@y>\r\nRCPT TO:<a@other.example>\r\n");
    c.expect("250 ok\r\n250 ok\r\n");
    drop(c);
    s.control("rcpthosts", "example.com\n");
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<x@y>\r\nRCPT TO:<a@more.example>\r\nRCPT TO:<a@other.example>\r\n");
    c.expect(
        "250 ok\r\n250 ok\r\n\
         553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
    );
}

#[test]
fn qmail_newmrh_without_source_fails_temporarily() {
    let s = Server::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qmail-newmrh"))
        .env("QMAILHOME", &s.root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("qmail-newmrh: fatal: unable to read control/morercpthosts: "));
}

#[test]
fn relayclient_accepts_any_domain_and_is_appended() {
    let mut s = Server::new();
    s.control("rcpthosts", "example.com\n");
    s.set("RELAYCLIENT", "");
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<x@y>\r\nRCPT TO:<a@other.example>\r\n");
    c.expect("250 ok\r\n250 ok\r\n");
    drop(c);
    s.set("RELAYCLIENT", "@fixme");
    let mut c = s.connect();
    c.expect(G);
    c.start_data("x@y", "u@h");
    c.send(".\r\n");
    c.accepted();
    assert_eq!(s.queued().1, b"Fx@y\0Tu@h@fixme\0\0");
}

#[test]
fn badmailfrom_rejects_every_rcpt() {
    let s = Server::new();
    s.control("badmailfrom", "@spam.example\nbad@x.example\n");
    let mut c = s.connect();
    c.expect(G);
    let bmf = "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n";
    c.send("MAIL FROM:<x@spam.example>\r\nRCPT TO:<a@b>\r\nRCPT TO:<c@d>\r\n");
    c.expect(&format!("250 ok\r\n{bmf}{bmf}"));
    c.send("MAIL FROM:<BAD@x.example>\r\nRCPT TO:<a@b>\r\n");
    c.expect(&format!("250 ok\r\n{bmf}"));
    c.send("MAIL FROM:<x@sub.spam.example>\r\nRCPT TO:<a@b>\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\n");
    c.expect("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n");
}

#[test]
fn addresses_lose_source_routes_quotes_and_local_ip_literals() {
    let s = Server::new();
    s.control("localiphost", "example.com\n");
    s.control("rcpthosts", "example.com\n");
    let mut c = s.connect();
    c.expect(G);
    c.send(
        "MAIL FROM:<\"a b\"@example.org>\r\n\
         RCPT TO:<@a.example,@b.example:u@example.com>\r\n\
         RCPT TO:<\"v w\"@example.com>\r\nRCPT TO:<x@[127.0.0.1]>\r\nDATA\r\n",
    );
    c.expect("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n");
    c.send(".\r\n");
    c.accepted();
    assert_eq!(
        s.queued().1,
        b"Fa b@example.org\0Tu@example.com\0Tv w@example.com\0Tx@example.com\0\0"
    );
}

#[test]
fn timeoutsmtpd_gives_451_and_closes() {
    let s = Server::new();
    s.control("timeoutsmtpd", "1\n");
    let mut c = s.connect();
    c.expect(G);
    let t = std::time::Instant::now();
    assert_eq!(c.rest(), ("451 timeout (#4.4.2)\r\n".to_string(), 1));
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));
}

#[test]
fn huge_command_line_is_consumed_without_harm() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    let junk = vec![b'x'; 1 << 20];
    c.send(&junk);
    c.send("\r\nNOOP\r\n");
    c.expect("502 unimplemented (#5.5.1)\r\n250 ok\r\n");
}

#[test]
fn eof_exits_silently() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.rest(), (String::new(), 1));
}
