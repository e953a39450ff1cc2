//! QSBMF bounces byte for byte (spec §4.1–§4.3).

use mta::bounce::{envelope, plan, qsbmf, record, BounceConfig, Kind, Plan};

const T: i64 = 1704423845; // 5 Jan 2024 03:04:05 UTC

fn cfg() -> BounceConfig {
    BounceConfig {
        bouncefrom: "MAILER-DAEMON".into(),
        bouncehost: "mx.example.com".into(),
        doublebounceto: "postmaster".into(),
        doublebouncehost: "mx.example.com".into(),
    }
}

const MESS: &[u8] = b"Received: (qmail 4321 invoked from network); 5 Jan 2024 03:04:04 -0000\nFrom: alice@example.org\nSubject: hi\n\nhello\n";

fn bounce_for(sender: &[u8], cfg: &BounceConfig, bounce_text: &[u8]) -> Vec<u8> {
    let Plan::Send(b) = plan(sender, cfg) else {
        panic!("expected a bounce");
    };
    let mut out = Vec::new();
    let n = qsbmf::write(&mut out, &b, cfg, bounce_text, &mut &MESS[..], T).unwrap();
    assert_eq!(n as usize, out.len());
    out
}

#[test]
fn spec_example_is_byte_exact() {
    let text = record::paragraph(
        b"nobody@mx.example.com",
        None,
        b"Sorry, no mailbox here by that name. (#5.1.1)\n",
    );
    let got = bounce_for(b"alice@example.org", &cfg(), &text);
    let mut want = b"Date: 5 Jan 2024 03:04:05 -0000
From: MAILER-DAEMON@mx.example.com
To: alice@example.org
Subject: failure notice

Hi. This is the qmail-send program at mx.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@mx.example.com>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <alice@example.org>
"
    .to_vec();
    want.extend_from_slice(MESS);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn two_recipients_give_two_paragraphs_in_order() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("42");
    record::append(&f, &record::paragraph(b"a@x.example", None, b"first\n")).unwrap();
    record::append(&f, &record::paragraph(b"b@y.example", None, b"second")).unwrap();
    let text = std::fs::read(&f).unwrap();
    let got = String::from_utf8(bounce_for(b"alice@example.org", &cfg(), &text)).unwrap();
    assert!(got.contains(
        "Sorry it didn't work out.\n\n<a@x.example>:\nfirst\n\n<b@y.example>:\nsecond\n\n--- Below this line is a copy of the message.\n\n"
    ));
}

#[test]
fn blank_line_in_report_is_neutralised_with_slash() {
    let text = record::paragraph(b"a@x", None, b"line one\n\nline two\n");
    let got = String::from_utf8(bounce_for(b"s@example.org", &cfg(), &text)).unwrap();
    assert!(got.contains("<a@x>:\nline one\n/line two\n\n---"));
}

#[test]
fn double_bounce_wording_and_envelope() {
    let Plan::Send(b) = plan(b"", &cfg()) else {
        panic!("expected a bounce");
    };
    assert_eq!(b.kind, Kind::Double);
    assert_eq!(b.envelope_sender, b"#@[]");
    assert_eq!(b.recipient, b"postmaster@mx.example.com");
    let text = record::paragraph(b"alice@example.org", None, b"no such user (#5.1.1)\n");
    let got = String::from_utf8(bounce_for(b"", &cfg(), &text)).unwrap();
    let want_head = "Date: 5 Jan 2024 03:04:05 -0000
From: MAILER-DAEMON@mx.example.com
To: postmaster@mx.example.com
Subject: failure notice

Hi. This is the qmail-send program at mx.example.com.
I tried to deliver a bounce message to this address, but the bounce bounced!

<alice@example.org>:
no such user (#5.1.1)

--- Below this line is the original bounce.

Return-Path: <>
Received: ";
    assert!(got.starts_with(want_head), "{got}");
}

#[test]
fn triple_bounce_is_discarded() {
    assert_eq!(plan(b"#@[]", &cfg()), Plan::Discard);
}

#[test]
fn verp_sender_is_reduced_for_envelope_to_and_return_path() {
    let got = String::from_utf8(bounce_for(b"list-owner-@example.org-@[]", &cfg(), b"")).unwrap();
    assert!(got.contains("\nTo: list-owner-@example.org\n"));
    assert!(got.contains("\nReturn-Path: <list-owner-@example.org>\n"));
    let Plan::Send(b) = plan(b"l-@h-@[]", &cfg()) else {
        panic!("expected a bounce");
    };
    assert_eq!(b.recipient, b"l-@h");
    assert_eq!(b.envelope_sender, b"");
}

#[test]
fn virtualdomain_prefix_is_stripped_in_the_paragraph() {
    let vd = mta::control::VirtualDomains::from_lines(&["virt.example:joe".to_string()]);
    let recip = b"joe-info@virt.example";
    let p = record::paragraph(recip, record::prepend_for(&vd, recip), b"x (#5.1.1)\n");
    assert_eq!(p, b"<info@virt.example>:\nx (#5.1.1)\n\n");
}

#[test]
fn weird_bouncefrom_and_sender_are_quoted() {
    let mut c = cfg();
    c.bouncefrom = "Mail Delivery <System>".into();
    let got = String::from_utf8(bounce_for(b"joe smith@example.org", &c, b"")).unwrap();
    assert!(got.contains("\nFrom: \"Mail Delivery <System>\"@mx.example.com\n"));
    assert!(got.contains("\nTo: \"joe smith\"@example.org\n"));
    assert!(got.contains("\nReturn-Path: <\"joe smith\"@example.org>\n"));
    c.bouncefrom = "a\"b\\c".into();
    let got = String::from_utf8(bounce_for(b"s@example.org", &c, b"")).unwrap();
    assert!(got.contains("\nFrom: \"a\\\"b\\\\c\"@mx.example.com\n"));
}

#[test]
fn prefix_ends_with_return_path() {
    let Plan::Send(b) = plan(b"alice@example.org", &cfg()) else {
        panic!("expected a bounce");
    };
    let p = qsbmf::prefix(&b, &cfg(), b"", T);
    assert!(p.ends_with(b"\n\nReturn-Path: <alice@example.org>\n"));
    assert_eq!(
        envelope::return_path(&b),
        b"Return-Path: <alice@example.org>\n"
    );
}

#[test]
fn large_message_is_copied_whole() {
    let Plan::Send(b) = plan(b"alice@example.org", &cfg()) else {
        panic!("expected a bounce");
    };
    let big: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut out = Vec::new();
    qsbmf::write(&mut out, &b, &cfg(), b"", &mut &big[..], T).unwrap();
    assert!(out.ends_with(&big));
}
