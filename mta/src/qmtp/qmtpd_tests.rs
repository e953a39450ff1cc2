//! Unit tests of the QMTP core, driven in memory (spec §10.2).

use super::*;
use crate::qmtp::netstring::encode;
use crate::qmtp::testing::{origin, MemQueue};
use crate::queue::client::QqError;

const RECEIVED: &str = "Received: from unknown (192.0.2.7)\n  by mx.example.com with QMTP; 5 Jan 2024 03:04:05 -0000\n";
const OK: &str = "22:Kok 1704423845 qp 4242,";

fn package(message: &[u8], sender: &[u8], rcpts: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for r in rcpts {
        encode_into(&mut list, r);
    }
    [encode(message), encode(sender), encode(&list)].concat()
}

fn server(rcpthosts: Option<&[&str]>, databytes: u64, env: &[(&str, &str)]) -> Qmtpd {
    let mut o = origin();
    for (k, v) in env {
        match *k {
            "RELAYCLIENT" => o.peer.relay_client = Some(v.as_bytes().to_vec()),
            "DATABYTES" => o.peer.databytes = v.parse().ok(),
            _ => panic!("{k}"),
        }
    }
    let c = QmtpdControls {
        rcpthosts: RcptHosts::from_lines(rcpthosts),
        databytes,
    };
    Qmtpd::new(Arc::new(c), o)
}

/// Feeds `input` in pieces of `step`; the result, the answers, the queue.
fn run(s: &mut Qmtpd, input: &[u8], step: usize) -> (Result<(), ServerError>, String, MemQueue) {
    let mut q = MemQueue::default();
    let mut out = Vec::new();
    for piece in input.chunks(step) {
        if let Err(e) = s.feed(piece, &mut q, &mut out) {
            return (Err(e), String::from_utf8(out).unwrap(), q);
        }
    }
    (Ok(()), String::from_utf8(out).unwrap(), q)
}

fn msg(q: &MemQueue, i: usize) -> String {
    String::from_utf8_lossy(&q.queued[i].0).into_owned()
}

#[test]
fn lf_package_is_queued_as_is() {
    let p = package(b"\nSubject: x\n\nhi\r\n", b"a@b", &[b"c@example.com"]);
    for step in [1, 2, 3, 4096] {
        let mut s = server(Some(&["example.com"]), 0, &[]);
        let (r, out, q) = run(&mut s, &p, step);
        r.unwrap();
        assert_eq!(out, OK);
        assert_eq!(msg(&q, 0), format!("{RECEIVED}Subject: x\n\nhi\r\n"));
        assert_eq!(q.queued[0].1.sender, b"a@b");
        assert_eq!(q.queued[0].1.recipients, [b"c@example.com".to_vec()]);
    }
}

#[test]
fn cr_package_gets_lf_line_ends_whatever_the_pieces() {
    let body = b"\rA\r\nB\rC\r\r\nD\r\n\r";
    let p = package(body, b"", &[b"c@d"]);
    for step in [1, 2, 5, 4096] {
        let mut s = server(None, 0, &[]);
        let (r, out, q) = run(&mut s, &p, step);
        r.unwrap();
        assert_eq!(out, OK);
        // A CR not followed by LF is kept, also at the very end.
        assert_eq!(msg(&q, 0), format!("{RECEIVED}A\nB\rC\r\nD\n\r"));
    }
}

#[test]
fn answers_per_recipient_in_order() {
    let long = vec![b'x'; 1000];
    let p = package(
        b"\nm\n",
        b"a@b",
        &[
            b"c@example.com",
            b"c@elsewhere",
            &long,
            b"n\0ul@example.com",
            b"d@EXAMPLE.com",
        ],
    );
    let mut s = server(Some(&["example.com"]), 0, &[]);
    let (r, out, q) = run(&mut s, &p, 4096);
    r.unwrap();
    assert_eq!(
        out,
        format!(
            "{OK}66:Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1),\
             46:Dsorry, I can't handle that recipient (#5.1.3),\
             46:Dsorry, I can't handle that recipient (#5.1.3),{OK}"
        )
    );
    assert_eq!(
        q.queued[0].1.recipients,
        [b"c@example.com".to_vec(), b"d@EXAMPLE.com".to_vec()]
    );
}

#[test]
fn relayclient_is_appended_and_skips_rcpthosts() {
    let p = package(b"\nm\n", b"a@b", &[b"c@elsewhere", &[b'y'; 995]]);
    let mut s = server(Some(&[]), 0, &[("RELAYCLIENT", "@fixme")]);
    let (r, out, q) = run(&mut s, &p, 4096);
    r.unwrap();
    // 995 + 6 bytes reach the 1000-byte limit.
    assert_eq!(
        out,
        format!("{OK}46:Dsorry, I can't handle that recipient (#5.1.3),")
    );
    assert_eq!(q.queued[0].1.recipients, [b"c@elsewhere@fixme".to_vec()]);
}

#[test]
fn all_recipients_refused_queues_nothing() {
    let p = package(b"\nm\n", b"a@b", &[b"c@elsewhere"]);
    let mut s = server(Some(&["example.com"]), 0, &[]);
    let (r, out, q) = run(&mut s, &p, 4096);
    r.unwrap();
    assert!(out.starts_with("66:D"), "{out}");
    assert!(q.queued.is_empty());
    assert_eq!(q.aborted, 1);
}

#[test]
fn bad_sender_refuses_the_package() {
    let long = vec![b's'; 1000];
    for sender in [&long[..], b"a\0b"] {
        let p = package(b"\nm\n", sender, &[b"c@d", b"e@f"]);
        let mut s = server(None, 0, &[]);
        let (r, out, q) = run(&mut s, &p, 4096);
        r.unwrap();
        assert_eq!(out, "29:Dunacceptable sender (#5.1.7),".repeat(2));
        assert!(q.queued.is_empty());
    }
    // 999 bytes is fine.
    let p = package(b"\nm\n", &long[..999], &[b"c@d"]);
    let (_, out, _) = run(&mut server(None, 0, &[]), &p, 4096);
    assert_eq!(out, OK);
}

#[test]
fn databytes_counts_stored_bytes() {
    const TOO_BIG: &str = "61:Dsorry, that message size exceeds my databytes limit (#5.3.4),";
    // LF: 5 bytes after the encoding byte.
    let lf = package(b"\nabcde", b"a@b", &[b"c@d"]);
    let (_, out, _) = run(&mut server(None, 5, &[]), &lf, 4096);
    assert_eq!(out, OK);
    let (_, out, q) = run(&mut server(None, 4, &[]), &lf, 4096);
    assert_eq!(out, TOO_BIG);
    assert!(q.queued.is_empty());
    // CR: "ab\r\ncd" stores 5 bytes; DATABYTES overrides the control.
    let cr = package(b"\rab\r\ncd", b"a@b", &[b"c@d"]);
    let (_, out, _) = run(&mut server(None, 4, &[("DATABYTES", "5")]), &cr, 1);
    assert_eq!(out, OK);
    let (_, out, _) = run(&mut server(None, 0, &[("DATABYTES", "4")]), &cr, 1);
    assert_eq!(out, TOO_BIG);
    // The size answer wins over a bad sender.
    let p = package(b"\nabcde", b"a\0", &[b"c@d"]);
    let (_, out, _) = run(&mut server(None, 1, &[]), &p, 4096);
    assert_eq!(out, TOO_BIG);
}

#[test]
fn pipelined_packages_each_get_answers() {
    let p = [
        package(b"\none\n", b"a@b", &[b"c@d"]),
        package(b"\rtwo\r\n", b"a@b", &[b"e@f", b"g@h"]),
        package(b"\nthree\n", b"a@b", &[]),
    ]
    .concat();
    let mut s = server(None, 0, &[]);
    let (r, out, q) = run(&mut s, &p, 7);
    r.unwrap();
    assert_eq!(out, OK.repeat(3));
    assert_eq!(q.queued.len(), 2);
    assert!(msg(&q, 1).ends_with("\ntwo\n"));
    // A package without recipients gets no answer and queues nothing.
    assert_eq!(q.aborted, 1);
}

#[test]
fn queue_failure_text_is_the_answer() {
    let mut s = server(None, 0, &[]);
    let mut q = MemQueue {
        fail_finish: Some(QqError {
            permanent: true,
            text: "mail server permanently rejected message (#5.3.0)".into(),
        }),
        ..Default::default()
    };
    let mut out = Vec::new();
    s.feed(&package(b"\nm", b"a", &[b"b"]), &mut q, &mut out)
        .unwrap();
    assert_eq!(
        out,
        b"50:Dmail server permanently rejected message (#5.3.0),"
    );
}

#[test]
fn framing_errors() {
    let cases: &[(&[u8], i32)] = &[
        (b"3:Xab,", 100),            // bad encoding byte
        (b"0:,", 100),               // empty message
        (b"2:\nab", 100),            // missing comma after the message
        (b"2:\na,1:a,3:9:a,", 100),  // recipient overruns its list
        (b"2:\na,1:a,2:1:a,", 100),  // recipient comma outside the list
        (b"2:\na,1:a,2:12,", 100),   // list ends inside a length
        (b"2:\na,1:a,4:1:a,;", 100), // missing list comma
        (b"1a:", 100),               // non-digit in a length
        (b"3000000000:", 111),       // absurd length
    ];
    for (c, code) in cases {
        let mut s = server(None, 0, &[]);
        let (r, out, q) = run(&mut s, c, 4096);
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), *code, "{c:?}: {e}");
        assert_eq!(out, "");
        assert!(q.queued.is_empty());
    }
}

#[test]
fn queue_that_cannot_start_is_a_resource_error() {
    let mut s = server(None, 0, &[]);
    let mut q = MemQueue {
        fail_start: true,
        ..Default::default()
    };
    let e = s
        .feed(&package(b"\nm", b"a", &[b"b"]), &mut q, &mut Vec::new())
        .unwrap_err();
    assert_eq!(e.exit_code(), 111);
}
