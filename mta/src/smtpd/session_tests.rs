//! Whole sessions in memory: the same [`drive`] loop as the binary, with
//! a scripted client and a queue that records what it would have queued.

use std::sync::Arc;
use std::time::Duration;

use crate::queue::client::QqError;
use crate::smtpd::controls::{Peer, SmtpdControls};
use crate::smtpd::io::{drive, Queue, Read, Transport};
use crate::smtpd::relay::{BadMailFrom, RcptHosts};
use crate::smtpd::session::{Action, Context, Envelope, Session};

const T: i64 = 1704423845;

fn controls() -> SmtpdControls {
    SmtpdControls {
        greeting: b"mx.example.com".to_vec(),
        localiphost: Some(b"example.com".to_vec()),
        timeout: 1200,
        rcpthosts: RcptHosts::from_lines(Some(&["example.com", ".wild.example"])),
        badmailfrom: BadMailFrom::from_lines(&["@spam.example", "bad@x.example"]),
        databytes: 0,
        local_ips: vec![std::net::Ipv4Addr::LOCALHOST],
        extensions: Default::default(),
    }
}

fn peer() -> Peer {
    Peer::from_vars(|k| match k {
        "TCPREMOTEIP" => Some(b"192.0.2.7".to_vec()),
        "TCPLOCALHOST" => Some(b"mx.example.com".to_vec()),
        _ => None,
    })
}

fn session_with(c: SmtpdControls, p: Peer) -> Session {
    Session::new(Context {
        controls: Arc::new(c),
        peer: p,
        clock: || T,
    })
}

/// A client that sends its chunks one read at a time, then EOF, and
/// records each write.
struct Script {
    chunks: Vec<Vec<u8>>,
    writes: Vec<Vec<u8>>,
    timeout_at_end: bool,
}

impl Transport for Script {
    fn read(&mut self, buf: &mut [u8], _: Duration) -> Read {
        if self.chunks.is_empty() {
            return if self.timeout_at_end {
                Read::Timeout
            } else {
                Read::Eof
            };
        }
        let c = self.chunks.remove(0);
        buf[..c.len()].copy_from_slice(&c);
        Read::Data(c.len())
    }
    fn write_all(&mut self, buf: &[u8], _: Duration) -> std::io::Result<()> {
        self.writes.push(buf.to_vec());
        Ok(())
    }
}

#[derive(Default)]
struct FakeQueue {
    current: Option<Vec<u8>>,
    queued: Vec<(Vec<u8>, Envelope)>,
    aborted: usize,
    result: Option<Result<u32, QqError>>,
    refuse_start: bool,
}

impl Queue for FakeQueue {
    fn start(&mut self) -> Result<(), QqError> {
        if self.refuse_start {
            return Err(QqError {
                permanent: false,
                text: "unable to exec qq (#4.3.0)".into(),
            });
        }
        self.current = Some(Vec::new());
        Ok(())
    }
    fn write(&mut self, data: &[u8]) {
        self.current.as_mut().unwrap().extend_from_slice(data);
    }
    fn finish(&mut self, env: &Envelope) -> Result<u32, QqError> {
        let m = self.current.take().unwrap();
        let r = self.result.clone().unwrap_or(Ok(4321));
        if r.is_ok() {
            self.queued.push((m, env.clone()));
        }
        r
    }
    fn abort(&mut self) {
        if self.current.take().is_some() {
            self.aborted += 1;
        }
    }
}

struct Run {
    out: String,
    writes: Vec<String>,
    code: i32,
    q: FakeQueue,
}

fn run_with(s: Session, chunks: &[&str], mut q: FakeQueue, timeout_at_end: bool) -> Run {
    let mut t = Script {
        chunks: chunks.iter().map(|c| c.as_bytes().to_vec()).collect(),
        writes: Vec::new(),
        timeout_at_end,
    };
    let code = drive(s, &mut t, &mut q);
    let writes: Vec<String> = t
        .writes
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    Run {
        out: writes.concat(),
        writes,
        code,
        q,
    }
}

fn run(chunks: &[&str]) -> Run {
    run_with(
        session_with(controls(), peer()),
        chunks,
        FakeQueue::default(),
        false,
    )
}

const G: &str = "220 mx.example.com ESMTP\r\n";

#[test]
fn appendix_b_trace() {
    let r = run(&[
        "EHLO client.example\r\n",
        "MAIL FROM:<alice@example.org>\r\n",
        "RCPT TO:<bob@example.com>\r\n",
        "DATA\r\n",
        "Subject: hi\r\n\r\nhello\r\n.\r\n",
        "QUIT\r\n",
    ]);
    assert_eq!(
        r.out,
        format!(
            "{G}250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n250 ok\r\n250 ok\r\n\
             354 go ahead\r\n250 ok {T} qp 4321\r\n221 mx.example.com\r\n"
        )
    );
    assert_eq!(r.code, 0);
    let (msg, env) = &r.q.queued[0];
    assert_eq!(
        String::from_utf8_lossy(msg),
        "Received: from unknown (HELO client.example) (192.0.2.7)\n  \
         by mx.example.com with SMTP; 5 Jan 2024 03:04:05 -0000\nSubject: hi\n\nhello\n"
    );
    assert_eq!(env.sender, b"alice@example.org");
    assert_eq!(env.recipients, vec![b"bob@example.com".to_vec()]);
}

#[test]
fn simple_replies() {
    let r = run(&[
        "HELO x\r\nnoop a b\r\nvrfy x\r\nrset\r\nhelp\r\nEXPN x\r\n\r\nSTARTTLS\r\nRCPT TO:<a@example.com>\r\nDATA\r\nquit\r\n",
    ]);
    assert_eq!(
        r.out,
        format!(
            "{G}250 mx.example.com\r\n250 ok\r\n252 send some mail, i'll try my best\r\n\
             250 flushed\r\n214 netqmail home page: http://qmail.org/netqmail\r\n\
             502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n\
             503 MAIL first (#5.5.1)\r\n503 MAIL first (#5.5.1)\r\n221 mx.example.com\r\n"
        )
    );
}

#[test]
fn pipelined_mail_rcpt_replies_wait_for_a_flush_point() {
    let r = run(&[
        "MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nRSET\r\n",
        "QUIT\r\n",
    ]);
    // One write after the greeting for the three buffered replies: they
    // went out when the session had to wait for input.
    assert_eq!(r.writes[0], G);
    assert_eq!(r.writes[1], "250 ok\r\n250 ok\r\n250 flushed\r\n");
    assert_eq!(r.writes[2], "221 mx.example.com\r\n");
}

#[test]
fn data_needs_mail_then_rcpt_and_resets_afterwards() {
    let r = run(&[
        "DATA\r\nMAIL FROM:<a@b>\r\nDATA\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
        ".\r\n",
        "RCPT TO:<c@example.com>\r\nDATA\r\n",
    ]);
    assert_eq!(
        r.out,
        format!(
            "{G}503 MAIL first (#5.5.1)\r\n250 ok\r\n503 RCPT first (#5.5.1)\r\n250 ok\r\n\
             354 go ahead\r\n250 ok {T} qp 4321\r\n503 MAIL first (#5.5.1)\r\n503 MAIL first (#5.5.1)\r\n"
        )
    );
    assert_eq!(r.code, 1);
}

#[test]
fn rcpthosts_badmailfrom_and_syntax() {
    let long = "a".repeat(900);
    let r = run(&[&format!(
        "MAIL FROM:<x@example.org>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<a@sub.example.com>\r\n\
         RCPT TO:<a@x.wild.example>\r\nRCPT TO:<postmaster>\r\nRCPT TO:<u@[127.0.0.1]>\r\n\
         RCPT TO:<{long}>\r\nMAIL FROM:<{long}>\r\n\
         MAIL FROM:<x@SPAM.example>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nQUIT\r\n"
    )]);
    assert_eq!(
        r.out,
        format!(
            "{G}250 ok\r\n250 ok\r\n\
             553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n\
             250 ok\r\n250 ok\r\n250 ok\r\n555 syntax error (#5.5.4)\r\n555 syntax error (#5.5.4)\r\n\
             250 ok\r\n\
             553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n\
             553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n\
             221 mx.example.com\r\n"
        )
    );
}

#[test]
fn relayclient_skips_rcpthosts_and_is_appended() {
    let mut p = peer();
    p.relay_client = Some(b"@fixme".to_vec());
    let r = run_with(
        session_with(controls(), p),
        &[
            "MAIL FROM:<>\r\nRCPT TO:<u@elsewhere>\r\nDATA\r\n",
            "x\r\n.\r\n",
        ],
        FakeQueue::default(),
        false,
    );
    assert!(r.out.contains("354 go ahead"), "{}", r.out);
    let env = &r.q.queued[0].1;
    assert_eq!(env.sender, b"");
    assert_eq!(env.recipients, vec![b"u@elsewhere@fixme".to_vec()]);
}

#[test]
fn helo_equal_to_remote_host_is_not_shown() {
    let mut p = peer();
    p.remote_host = b"Client.Example".to_vec();
    p.remote_info = Some(b"joe".to_vec());
    let r = run_with(
        session_with(controls(), p),
        &["HELO client.EXAMPLE\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n.\r\n"],
        FakeQueue::default(),
        false,
    );
    let msg = String::from_utf8_lossy(&r.q.queued[0].0).into_owned();
    assert!(
        msg.starts_with("Received: from Client.Example (joe@192.0.2.7)\n"),
        "{msg}"
    );
}

#[test]
fn data_and_commands_pipelined_in_one_read() {
    let r = run(&[
        "MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nline\r\n..dot\r\n.\r\nQUIT\r\n",
    ]);
    assert!(r.out.ends_with(&format!(
        "354 go ahead\r\n250 ok {T} qp 4321\r\n221 mx.example.com\r\n"
    )));
    assert!(r.q.queued[0].0.ends_with(b"\nline\n.dot\n"));
}

#[test]
fn bare_lf_is_refused_and_closes() {
    let r = run(&[
        "MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
        "a\nb\r\n.\r\nQUIT\r\n",
    ]);
    assert!(r
        .out
        .ends_with("354 go ahead\r\n451 See http://pobox.com/~djb/docs/smtplf.html.\r\n"));
    assert_eq!(r.code, 1);
    assert_eq!(r.q.aborted, 1);
    assert!(r.q.queued.is_empty());
}

#[test]
fn hops_take_precedence_over_databytes() {
    let mut c = controls();
    c.databytes = 5;
    let body = "Received: x\r\n".repeat(100) + ".\r\n";
    let r = run_with(
        session_with(c, peer()),
        &[
            "MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
            &body,
            "NOOP\r\n",
        ],
        FakeQueue::default(),
        false,
    );
    assert!(r.out.ends_with(
        "354 go ahead\r\n554 too many hops, this message is looping (#5.4.6)\r\n250 ok\r\n"
    ));
    assert_eq!(r.q.aborted, 1);
}

#[test]
fn databytes_env_overrides_control() {
    let mut p = peer();
    p.databytes = Some(3);
    let r = run_with(
        session_with(controls(), p),
        &["MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nabcd\r\n.\r\n"],
        FakeQueue::default(),
        false,
    );
    assert!(r
        .out
        .ends_with("552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n"));
}

#[test]
fn qq_results_become_replies() {
    for (perm, text, want) in [
        (
            true,
            "mail server permanently rejected message (#5.3.0)",
            "554 ",
        ),
        (
            false,
            "mail server temporarily rejected message (#4.3.0)",
            "451 ",
        ),
    ] {
        let q = FakeQueue {
            result: Some(Err(QqError {
                permanent: perm,
                text: text.into(),
            })),
            ..Default::default()
        };
        let r = run_with(
            session_with(controls(), peer()),
            &["MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n.\r\n"],
            q,
            false,
        );
        assert!(r.out.ends_with(&format!("{want}{text}\r\n")), "{}", r.out);
    }
}

#[test]
fn queue_start_failure_leaves_the_rest_as_commands() {
    let q = FakeQueue {
        refuse_start: true,
        ..Default::default()
    };
    let r = run_with(
        session_with(controls(), peer()),
        &["MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nNOOP\r\n"],
        q,
        false,
    );
    assert!(
        r.out.ends_with("451 qqt failure (#4.3.0)\r\n250 ok\r\n"),
        "{}",
        r.out
    );
}

#[test]
fn timeout_replies_and_closes() {
    let r = run_with(
        session_with(controls(), peer()),
        &["MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\npartial"],
        FakeQueue::default(),
        true,
    );
    assert!(r.out.ends_with("354 go ahead\r\n451 timeout (#4.4.2)\r\n"));
    assert_eq!(r.q.aborted, 1);
    assert_eq!(r.code, 1);
}

#[test]
fn eof_mid_message_queues_nothing() {
    let r = run(&["MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nabc\r\n"]);
    assert!(r.out.ends_with("354 go ahead\r\n"));
    assert_eq!(r.q.aborted, 1);
    assert!(r.q.queued.is_empty());
}

#[test]
fn feed_while_waiting_is_kept_for_later() {
    let mut s = session_with(controls(), peer());
    let a = s.feed(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nx");
    assert_eq!(a.last(), Some(&Action::StartMessage));
    assert!(s.feed(b"y\r\n.\r\nNOOP\r\n").is_empty());
    let a = s.message_started(Ok(()));
    assert_eq!(a[0], Action::Reply(b"354 go ahead\r\n".to_vec()));
    assert_eq!(a[2], Action::MessageData(b"xy\n".to_vec()));
    assert!(matches!(a.last(), Some(Action::EndMessage(_))));
    let a = s.message_done(Ok(7));
    assert_eq!(
        a,
        vec![
            Action::Reply(format!("250 ok {T} qp 7\r\n").into_bytes()),
            Action::Flush,
            Action::Reply(b"250 ok\r\n".to_vec()),
            Action::Flush,
        ]
    );
}

#[test]
fn empty_greeting_gives_two_spaces() {
    let mut c = controls();
    c.greeting = Vec::new();
    assert_eq!(session_with(c, peer()).greeting(), b"220  ESMTP\r\n");
}

#[test]
fn sessions_can_move_between_threads() {
    // A built-in listener shares one control snapshot between many
    // sessions on a thread pool.
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<SmtpdControls>();
    send::<Session>();
}

#[test]
fn replies_and_message_do_not_depend_on_how_input_is_split() {
    let input = "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n\
                 Received: x\r\n\r\n..a\r\n.\rb\r\r\n.\r\nNOOP\r\nQUIT\r\n";
    let whole = run(&[input]);
    for size in [1, 2, 3, 7, 13] {
        let chunks: Vec<String> = input
            .as_bytes()
            .chunks(size)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
        let split = run(&refs);
        assert_eq!(split.out, whole.out, "chunk size {size}");
        assert_eq!(split.q.queued, whole.q.queued, "chunk size {size}");
    }
    assert_eq!(whole.q.queued.len(), 1);
}
