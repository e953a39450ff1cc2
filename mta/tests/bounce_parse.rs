//! The bounce parser reads QSBMF and DSN into one model.

use mta::bounce::{dsn, parse, plan, qsbmf, record, BounceConfig, Format, Plan};

const T: i64 = 1704423845;

fn cfg() -> BounceConfig {
    BounceConfig {
        bouncefrom: "MAILER-DAEMON".into(),
        bouncehost: "mx.example.com".into(),
        doublebounceto: "postmaster".into(),
        doublebouncehost: "mx.example.com".into(),
    }
}

const MESS: &[u8] = b"Received: (qmail 1 invoked by uid 0); 5 Jan 2024 03:04:04 -0000\nSubject: x\n\nbody line\n\n-- \nsig\n";

fn texts() -> Vec<u8> {
    let mut t = record::paragraph(
        b"nobody@mx.example.com",
        None,
        b"Sorry, no mailbox here by that name. (#5.1.1)\n",
    );
    t.extend(record::paragraph(
        b"bob@far.example",
        None,
        b"Connected to 192.0.2.9 but sender was rejected.\nRemote host said: 553 sorry\n\nsecond para\n",
    ));
    t
}

fn both(sender: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let Plan::Send(b) = plan(sender, &cfg()) else {
        panic!("expected a bounce");
    };
    let mut q = Vec::new();
    qsbmf::write(&mut q, &b, &cfg(), &texts(), &mut &MESS[..], T).unwrap();
    let mut d = Vec::new();
    dsn::write(
        &mut d,
        &b,
        &cfg(),
        &texts(),
        &mut std::io::Cursor::new(MESS),
        T,
        None,
    )
    .unwrap();
    (q, d)
}

#[test]
fn qsbmf_reads_into_the_model() {
    let (q, _) = both(b"alice@example.org");
    let r = parse(&q).unwrap();
    assert_eq!(r.format, Format::Qsbmf);
    assert_eq!(r.reporting_host.as_deref(), Some("mx.example.com"));
    assert_eq!(r.to.as_deref(), Some("alice@example.org"));
    assert!(!r.double);
    assert_eq!(r.recipients.len(), 2);
    assert_eq!(r.recipients[0].address, "nobody@mx.example.com");
    assert_eq!(r.recipients[0].status.as_deref(), Some("5.1.1"));
    assert_eq!(
        r.recipients[0].text,
        "Sorry, no mailbox here by that name. (#5.1.1)\n"
    );
    let bob = &r.recipients[1];
    assert_eq!(bob.text, "Connected to 192.0.2.9 but sender was rejected.\nRemote host said: 553 sorry\n/second para\n");
    assert_eq!(bob.status, None, "no code anywhere in the text");
    assert_eq!(bob.remote_mta.as_deref(), Some("192.0.2.9"));
    assert_eq!(bob.diagnostic.as_deref(), Some("smtp; 553 sorry"));
    let mut want = b"Return-Path: <alice@example.org>\n".to_vec();
    want.extend_from_slice(MESS);
    assert_eq!(r.original, want, "the copy is exact, blank lines included");
}

#[test]
fn both_formats_agree_on_recipients() {
    let (q, d) = both(b"alice@example.org");
    let rq = parse(&q).unwrap();
    let rd = parse(&d).unwrap();
    assert_eq!(rd.format, Format::Dsn);
    assert_eq!(rq.reporting_host, rd.reporting_host);
    assert_eq!(rq.to, rd.to);
    let addrs = |r: &mta::bounce::Report| -> Vec<String> {
        r.recipients.iter().map(|x| x.address.clone()).collect()
    };
    assert_eq!(addrs(&rq), addrs(&rd));
    assert_eq!(rq.recipients[1].remote_mta, rd.recipients[1].remote_mta);
    assert_eq!(rq.recipients[1].diagnostic, rd.recipients[1].diagnostic);
    // The DSN always has a status: 5.0.0 where qmail gave no code.
    assert_eq!(rd.recipients[1].status.as_deref(), Some("5.0.0"));
    assert!(rd
        .original
        .starts_with(b"Return-Path: <alice@example.org>\n"));
}

#[test]
fn double_bounce_and_crlf() {
    let (q, _) = both(b"");
    let crlf: Vec<u8> = q
        .iter()
        .flat_map(|&c| {
            if c == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![c]
            }
        })
        .collect();
    let r = parse(&crlf).unwrap();
    assert!(r.double);
    assert_eq!(r.to.as_deref(), Some("postmaster@mx.example.com"));
    assert_eq!(r.recipients.len(), 2);
    assert!(r.original.starts_with(b"Return-Path: <>\nReceived:"));
}

#[test]
fn foreign_qsbmf_with_reserved_paragraph_and_other_break_line() {
    let m = b"From: MAILER-DAEMON@other.example\nTo: s@example.org\nSubject: failure notice\n\nHi. This is the qmail-send program at other.example.\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n some reserved paragraph\n\n<u@other.example>:\nThis address no longer accepts mail. (#5.2.1)\n\n--- Enclosed is a copy of the message.\n\nReturn-Path: <s@example.org>\nSubject: q\n\nhi\n";
    let r = parse(m).unwrap();
    assert_eq!(r.reporting_host.as_deref(), Some("other.example"));
    assert_eq!(r.recipients.len(), 1);
    assert_eq!(r.recipients[0].status.as_deref(), Some("5.2.1"));
    assert_eq!(
        r.original,
        b"Return-Path: <s@example.org>\nSubject: q\n\nhi\n"
    );
}

#[test]
fn foreign_dsn_with_folding_and_headers_only() {
    let m = b"From: MAILER-DAEMON@pf.example\r\nTo: s@example.org\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsorry\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; pf.example\r\n\r\nFinal-Recipient: rfc822; <u@far.example>\r\nOriginal-Recipient: rfc822;u@far.example\r\nAction: Failed\r\nStatus: 5.7.1 (policy)\r\nRemote-MTA: dns; mx.far.example\r\nDiagnostic-Code: smtp; 550 5.7.1 rejected\r\n  by policy\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: q\r\n--B--\r\n";
    let r = parse(m).unwrap();
    assert_eq!(r.format, Format::Dsn);
    assert_eq!(r.reporting_host.as_deref(), Some("pf.example"));
    let u = &r.recipients[0];
    assert_eq!(u.address, "u@far.example");
    assert_eq!(u.action, "failed");
    assert_eq!(u.status.as_deref(), Some("5.7.1"));
    assert_eq!(u.remote_mta.as_deref(), Some("mx.far.example"));
    assert_eq!(
        u.diagnostic.as_deref(),
        Some("smtp; 550 5.7.1 rejected by policy")
    );
    assert_eq!(u.text, "550 5.7.1 rejected by policy");
    assert!(r.original.starts_with(b"Subject: q"));
}

#[test]
fn bounce_file_paragraphs_round_trip() {
    let p = mta::bounce::parse::paragraphs(&texts());
    assert_eq!(p.len(), 2);
    assert_eq!(p[1].address, b"bob@far.example");
    assert!(p[1].text.ends_with(b"/second para\n"));
}
