//! Black-box tests of qmail-smtpd's DATA over loopback sockets: decoding,
//! hops, databytes, qmail-queue results, the Received line, and one run
//! against the real qmail-queue (spec §7.6, §7.7, Appendix B).

mod smtpd_harness;

use smtpd_harness::{fake_queue, Server, Smtp, G};

#[test]
fn message_is_decoded_and_received_line_is_first() {
    let mut s = Server::new();
    s.set("TCPREMOTEINFO", "joe");
    let mut c = s.connect();
    c.expect(G);
    c.send("EHLO [1.2.3.4]\r\n");
    c.expect("250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    c.start_data("alice@example.org", "bob@example.com");
    c.send("Subject: hi\r\n\r\n..line\r\n.dot\r\nbare\rcr\r\n.\r\n");
    let qp = c.accepted();
    c.send("QUIT\r\n");
    assert_eq!(c.rest().0, "221 mx.example.com\r\n");
    let (msg, env) = s.queued();
    let (received, body) = msg.split_at(msg.find("Subject").unwrap());
    assert!(
        received.starts_with("Received: from unknown (HELO ?1.2.3.4?) (joe@192.0.2.7)\n  by mx.example.com with SMTP; "),
        "{received}"
    );
    assert!(received.ends_with(" -0000\n"), "{received}");
    assert_eq!(body, "Subject: hi\n\n.line\ndot\nbare\rcr\n");
    assert_eq!(env, b"Falice@example.org\0Tbob@example.com\0\0");
    assert_eq!(
        String::from_utf8(s.file("pid")).unwrap().trim(),
        qp.to_string()
    );
}

#[test]
fn without_helo_the_received_line_has_no_helo_part() {
    let mut s = Server::new();
    s.unset("TCPLOCALHOST");
    s.set("TCPLOCALIP", "127.0.0.1");
    s.set("TCPREMOTEHOST", "client.example");
    let mut c = s.connect();
    c.expect(G);
    c.start_data("a@b", "c@d");
    c.send(".\r\n");
    c.accepted();
    let msg = s.queued().0;
    assert!(
        msg.starts_with("Received: from client.example (192.0.2.7)\n  by 127.0.0.1 with SMTP; ")
    );
}

#[test]
fn bare_lf_gets_451_and_close_and_nothing_is_queued() {
    for body in ["hello\nworld\r\n.\r\n", "\n.\r\n", "ok\r\n.\n"] {
        let s = Server::new();
        let mut c = s.connect();
        c.expect(G);
        c.start_data("a@b", "c@d");
        c.send(body);
        assert_eq!(
            c.rest(),
            (
                "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n".to_string(),
                1
            ),
            "{body:?}"
        );
        // The queue program saw no envelope.
        assert_eq!(s.queued().1, b"", "{body:?}");
    }
}

#[test]
fn cr_dot_cr_shapes_do_not_end_the_message() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.start_data("a@b", "c@d");
    // <CR>.<CR> and .<CR>x are data, not terminators; QUIT inside is data.
    c.send("a\r.\rQUIT\r\n.\rx\r\n.\r\r\n.\r\n");
    c.accepted();
    let msg = s.queued().0;
    let body = &msg[msg.find(" -0000\n").unwrap() + 7..];
    assert_eq!(body, "a\r.\rQUIT\n.\rx\n.\r\n");
}

#[test]
fn hop_count_of_100_is_looping_and_99_is_not() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.start_data("a@b", "c@d");
    c.send(&("Received: x\r\n".repeat(99) + "\r\nbody\r\n.\r\n"));
    c.accepted();
    c.start_data("a@b", "c@d");
    c.send(&("Received: x\r\n".repeat(50) + &"Delivered-To: y\r\n".repeat(50) + ".\r\n"));
    c.expect("554 too many hops, this message is looping (#5.4.6)\r\n");
    // Lines after the header do not count.
    c.start_data("a@b", "c@d");
    c.send(&("Subject: x\r\n\r\n".to_string() + &"Received: x\r\n".repeat(150) + ".\r\n"));
    c.accepted();
}

#[test]
fn databytes_limit_counts_decoded_bytes() {
    let s = Server::new();
    s.control("databytes", "10\n");
    let mut c = s.connect();
    c.expect(G);
    // "..23456789" + CRLF decodes to ".23456789\n": 10 bytes.
    c.start_data("a@b", "c@d");
    c.send("..23456789\r\n.\r\n");
    c.accepted();
    c.start_data("a@b", "c@d");
    c.send("0123456789\r\n.\r\n");
    c.expect("552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n");
    // The connection goes on.
    c.send("NOOP\r\n");
    c.expect("250 ok\r\n");
}

#[test]
fn databytes_environment_overrides_control() {
    let mut s = Server::new();
    s.control("databytes", "10\n");
    s.set("DATABYTES", "0");
    let mut c = s.connect();
    c.expect(G);
    c.start_data("a@b", "c@d");
    c.send(&("x".repeat(100) + "\r\n.\r\n"));
    c.accepted();
}

#[test]
fn queue_exit_codes_become_replies() {
    for (code, reply) in [
        (31, "554 mail server permanently rejected message (#5.3.0)"),
        (71, "451 mail server temporarily rejected message (#4.3.0)"),
        (53, "451 qq write error or disk full (#4.3.0)"),
    ] {
        let mut s = Server::new();
        fake_queue(&s.root, "qqfail", code);
        s.set("QMAILQUEUE", "qqfail");
        let mut c = s.connect();
        c.expect(G);
        c.start_data("a@b", "c@d");
        c.send("x\r\n.\r\n");
        c.expect(&format!("{reply}\r\n"));
        // A new transaction needs MAIL again.
        c.send("RCPT TO:<c@d>\r\n");
        c.expect("503 MAIL first (#5.5.1)\r\n");
    }
}

#[test]
fn queue_that_cannot_start_gives_qqt_failure() {
    let mut s = Server::new();
    s.set("QMAILQUEUE", "does-not-exist");
    let mut c = s.connect();
    c.expect(G);
    c.send("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    c.expect("250 ok\r\n250 ok\r\n451 qqt failure (#4.3.0)\r\n");
}

#[test]
fn real_qmail_queue_stores_appendix_b_message() {
    let mut s = Server::new();
    let layout = mta::queue::layout::Layout::new(s.root.join("queue"));
    layout.create().unwrap();
    std::fs::create_dir(s.root.join("bin")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_qmail-queue"),
        s.root.join("bin/qmail-queue"),
    )
    .unwrap();
    s.unset("QMAILQUEUE");
    s.control("rcpthosts", "example.com\n");
    let mut c = s.connect();
    c.expect(G);
    c.send("EHLO client.example\r\n");
    c.expect("250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    c.start_data("alice@example.org", "bob@example.com");
    c.send("Subject: hi\r\n\r\nhello\r\n.\r\n");
    let qp = c.accepted();
    c.send("QUIT\r\n");
    assert_eq!(c.rest(), ("221 mx.example.com\r\n".to_string(), 0));

    let todo: Vec<_> = walk(&layout.dir("todo"));
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
    assert_eq!(
        lines[1],
        "Received: from unknown (HELO client.example) (192.0.2.7)"
    );
    assert!(lines[2].starts_with("  by mx.example.com with SMTP; "));
    assert_eq!(&lines[3..], ["Subject: hi", "", "hello", ""]);
    let env = std::fs::read(&todo[0]).unwrap();
    assert!(
        env.ends_with(format!("\0p{qp}\0Falice@example.org\0Tbob@example.com\0").as_bytes()),
        "{env:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn large_message_streams_through() {
    let s = Server::new();
    let mut c = s.connect();
    c.expect(G);
    c.start_data("a@b", "c@d");
    let line = "x".repeat(998) + "\r\n";
    let chunk = line.repeat(1024);
    for _ in 0..8 {
        c.send(&chunk);
    }
    c.send(".\r\n");
    c.accepted();
    let msg = s.queued().0;
    assert_eq!(msg.matches('\n').count(), 2 + 8 * 1024);
}
