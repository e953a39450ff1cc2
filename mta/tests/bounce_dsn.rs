//! RFC 3464 bounces: structure checked with mail-parser, fields with our
//! parser (which mail-parser does not interpret).

use std::io::Cursor;

use mail_parser::{MessageParser, MimeHeaders};
use mta::bounce::{dsn, parse, plan, record, BounceConfig, Format, Plan};

const T: i64 = 1704423845; // 5 Jan 2024 03:04:05 UTC
const ARRIVAL: i64 = T - 3600;

fn cfg() -> BounceConfig {
    BounceConfig {
        bouncefrom: "MAILER-DAEMON".into(),
        bouncehost: "mx.example.com".into(),
        doublebounceto: "postmaster".into(),
        doublebouncehost: "mx.example.com".into(),
    }
}

const MESS: &[u8] = b"Received: (qmail 4321 invoked from network); 5 Jan 2024 03:04:04 -0000\nFrom: alice@example.org\nTo: nobody@mx.example.com\nSubject: hi\n\nhello\n";

const REMOTE: &[u8] = b"192.0.2.25 does not like recipient.\nRemote host said: 550 5.1.1 <bob@far.example>... User unknown\nGiving up on 192.0.2.25.\n";

fn bounce_text() -> Vec<u8> {
    let mut t = record::paragraph(
        b"nobody@mx.example.com",
        None,
        b"Sorry, no mailbox here by that name. (#5.1.1)\n",
    );
    t.extend(record::paragraph(b"bob@far.example", None, REMOTE));
    t
}

fn dsn_for(sender: &[u8], text: &[u8], mess: &[u8]) -> Vec<u8> {
    let Plan::Send(b) = plan(sender, &cfg()) else {
        panic!("expected a bounce");
    };
    let mut out = Vec::new();
    let n = dsn::write(
        &mut out,
        &b,
        &cfg(),
        text,
        &mut Cursor::new(mess),
        T,
        Some(ARRIVAL),
    )
    .unwrap();
    assert_eq!(n as usize, out.len());
    out
}

#[test]
fn mime_structure_parses_with_mail_parser() {
    let raw = dsn_for(b"alice@example.org", &bounce_text(), MESS);
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert!(msg.is_content_type("multipart", "report"));
    let ct = msg.content_type().unwrap();
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    assert_eq!(msg.subject(), Some("failure notice"));
    assert_eq!(msg.header_raw("MIME-Version").map(str::trim), Some("1.0"));
    assert!(msg
        .header_raw("Date")
        .unwrap()
        .contains("5 Jan 2024 03:04:05 -0000"));
    assert_eq!(msg.header_raw("Message-ID"), None);
    assert_eq!(
        msg.from().unwrap().first().unwrap().address(),
        Some("MAILER-DAEMON@mx.example.com")
    );
    assert_eq!(
        msg.to().unwrap().first().unwrap().address(),
        Some("alice@example.org")
    );

    let root = msg.root_part().sub_parts().unwrap().to_vec();
    assert_eq!(root.len(), 3);
    let p1 = msg.part(root[0]).unwrap();
    let p2 = msg.part(root[1]).unwrap();
    let p3 = msg.part(root[2]).unwrap();
    assert!(p1.is_content_type("text", "plain"));
    assert!(p2.is_content_type("message", "delivery-status"));
    assert!(p3.is_content_type("message", "rfc822"));

    let human = p1.text_contents().unwrap();
    assert!(human.starts_with("Hi. This is the qmail-send program at mx.example.com.\nI'm afraid I wasn't able to deliver your message to the following addresses.\n"));
    assert!(
        human.contains("<nobody@mx.example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n")
    );

    let inner = p3.message().unwrap();
    assert_eq!(inner.subject(), Some("hi"));
    assert_eq!(
        inner.header_raw("Return-Path").map(str::trim),
        Some("<alice@example.org>")
    );
}

#[test]
fn delivery_status_fields() {
    let raw = dsn_for(b"alice@example.org", &bounce_text(), MESS);
    let r = parse(&raw).unwrap();
    assert_eq!(r.format, Format::Dsn);
    assert_eq!(r.reporting_host.as_deref(), Some("mx.example.com"));
    assert_eq!(r.to.as_deref(), Some("alice@example.org"));
    assert_eq!(r.recipients.len(), 2);

    let local = &r.recipients[0];
    assert_eq!(local.address, "nobody@mx.example.com");
    assert_eq!(local.action, "failed");
    assert_eq!(local.status.as_deref(), Some("5.1.1"));
    assert_eq!(
        local.diagnostic.as_deref(),
        Some("x-qmail; Sorry, no mailbox here by that name. (#5.1.1)")
    );
    assert_eq!(local.remote_mta, None);

    let remote = &r.recipients[1];
    assert_eq!(remote.address, "bob@far.example");
    assert_eq!(remote.status.as_deref(), Some("5.1.1"));
    assert_eq!(remote.remote_mta.as_deref(), Some("192.0.2.25"));
    assert_eq!(
        remote.diagnostic.as_deref(),
        Some("smtp; 550 5.1.1 <bob@far.example>... User unknown")
    );

    let mut want_original = b"Return-Path: <alice@example.org>\n".to_vec();
    want_original.extend_from_slice(MESS);
    assert!(r.original.starts_with(&want_original));

    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("\nArrival-Date: 5 Jan 2024 02:04:05 -0000\n"));
    assert!(text.contains("\nRemote-MTA: dns; 192.0.2.25\n"));
}

#[test]
fn status_defaults_and_class_is_final() {
    let mut t = record::paragraph(b"a@x.example", None, b"Something odd happened.\n");
    t.extend(record::paragraph(
        b"b@y.example",
        None,
        b"Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\nI'm not going to try again; this message has been in the queue too long.\n",
    ));
    let r = parse(&dsn_for(b"s@example.org", &t, MESS)).unwrap();
    assert_eq!(r.recipients[0].status.as_deref(), Some("5.0.0"));
    assert_eq!(r.recipients[1].status.as_deref(), Some("5.4.1"));
}

#[test]
fn boundary_does_not_collide_with_a_nested_dsn() {
    // A double bounce whose original bounce is itself one of our DSNs.
    let first = dsn_for(b"alice@example.org", &bounce_text(), MESS);
    let t = record::paragraph(b"alice@example.org", None, b"no such user (#5.1.1)\n");
    let second = dsn_for(b"", &t, &first);
    let r = parse(&second).unwrap();
    assert_eq!(r.to.as_deref(), Some("postmaster@mx.example.com"));
    assert_eq!(r.recipients.len(), 1);
    assert_eq!(r.recipients[0].address, "alice@example.org");
    let mut want = b"Return-Path: <>\n".to_vec();
    want.extend_from_slice(&first);
    assert!(r.original.starts_with(&want));
    let text = String::from_utf8(second).unwrap();
    assert!(text.contains("the bounce bounced!"));
}

#[test]
fn eight_bit_original_is_labelled() {
    let mess = "Subject: caf\u{e9}\n\nd\u{e9}j\u{e0} vu\n".as_bytes();
    let raw = String::from_utf8(dsn_for(b"s@example.org", &bounce_text(), mess)).unwrap();
    assert!(raw.contains("Content-Type: message/rfc822\nContent-Description: Undelivered message\nContent-Transfer-Encoding: 8bit\n"));
}
