//! Header processing in memory (spec §8.4, §8.5).

use super::*;
use crate::inject::env::Vars;

const T: i64 = 1704423845; // 5 Jan 2024 03:04:05 UTC

fn stamp() -> Stamp {
    Stamp {
        now: T,
        pid: 4242,
        idhost: b"id.example".to_vec(),
    }
}

fn rw() -> Rewriter {
    Rewriter::new(b"dh.example", b"dd.example", b"pd.example").unwrap()
}

fn env(pairs: &[(&str, &str)]) -> InjectEnv {
    InjectEnv::from_vars(&Vars::from_pairs(pairs.iter().copied()))
}

fn compose(e: &InjectEnv, sender: Option<&str>, fields: &[&str]) -> Composed {
    let r = rw();
    let mut c = Composer::new(&r, e, sender.map(|s| s.as_bytes().to_vec()));
    for f in fields {
        c.field(f.as_bytes().to_vec()).unwrap();
    }
    c.finish(&stamp(), None).unwrap()
}

fn text(c: &Composed) -> String {
    String::from_utf8(c.header.clone()).unwrap()
}

fn strs(v: &[Vec<u8>]) -> Vec<String> {
    v.iter()
        .map(|x| String::from_utf8(x.clone()).unwrap())
        .collect()
}

#[test]
fn adds_date_message_id_from_and_cc_in_front() {
    let c = compose(&env(&[("QMAILUSER", "joe")]), None, &["Subject: x\n"]);
    assert_eq!(
        text(&c),
        "Date: 5 Jan 2024 03:04:05 -0000\n\
         Message-ID: <20240105030405.4242.qmail@id.example>\n\
         From: joe@dh.example\n\
         Cc: recipient list not shown: ;\n\
         Subject: x\n"
    );
    assert_eq!(c.sender, b"joe@dh.example");
}

#[test]
fn rewrites_recipient_fields_and_collects_them() {
    let c = compose(
        &env(&[]),
        None,
        &[
            "To: joe, djb@silverton\n",
            "Cc: \"A B\" <ab@x.example>\n",
            "Bcc: hidden\n",
            "Apparently-To: app@y.example\n",
        ],
    );
    assert_eq!(
        text(&c).lines().skip(3).collect::<Vec<_>>(),
        vec![
            "To: joe@dh.example, djb@silverton.dd.example",
            "Cc: \"A B\" <ab@x.example>",
            "Apparently-To: app@y.example",
        ]
    );
    assert_eq!(
        strs(&c.header_recipients),
        vec![
            "djb@silverton.dd.example",
            "joe@dh.example",
            "ab@x.example",
            "hidden@dh.example",
            "app@y.example"
        ]
    );
    assert!(!text(&c).contains("Cc: recipient list not shown"));
}

#[test]
fn return_path_sets_sender_and_is_removed() {
    let c = compose(
        &env(&[]),
        None,
        &["Return-Path: <x@y.example>\n", "To: a@b.c\n"],
    );
    assert_eq!(c.sender, b"x@y.example");
    assert!(!text(&c).contains("Return-Path"));
    // -f wins over Return-Path.
    let c = compose(
        &env(&[]),
        Some("f@g.example"),
        &["Return-Path: <x@y.example>\n"],
    );
    assert_eq!(c.sender, b"f@g.example");
    // QMAILINJECT=s: removed and ignored.
    let c = compose(
        &env(&[("QMAILINJECT", "s"), ("QMAILUSER", "u")]),
        None,
        &["Return-Path: <x@y.example>\n"],
    );
    assert_eq!(c.sender, b"u@dh.example");
    // The null sender.
    let c = compose(&env(&[]), None, &["Return-Path: <>\n"]);
    assert_eq!(c.sender, b"");
}

#[test]
fn removed_fields() {
    let c = compose(
        &env(&[]),
        None,
        &[
            "To: a@b.c\n",
            "Bcc: b@b.c\n",
            "Content-Length: 12\n",
            "Resent-Bcc: r@b.c\n",
            "X-Kept: yes\n",
        ],
    );
    let t = text(&c);
    assert!(!t.contains("Bcc") && !t.contains("Content-Length"));
    assert!(t.ends_with("X-Kept: yes\n"));
}

#[test]
fn resent_messages_get_resent_fields_and_resent_recipients() {
    let c = compose(
        &env(&[("QMAILUSER", "u")]),
        None,
        &[
            "From: orig@x.example\n",
            "To: orig-to@x.example\n",
            "Date: 1 Jan 2000 00:00:00 -0000\n",
            "Message-ID: <a@b>\n",
            "Resent-To: again@y.example\n",
        ],
    );
    let t = text(&c);
    assert!(t.starts_with(
        "Resent-Date: 5 Jan 2024 03:04:05 -0000\n\
         Resent-Message-ID: <20240105030405.4242.qmail@id.example>\n\
         Resent-From: u@dh.example\n\
         From: orig@x.example\n"
    ));
    assert!(!t.contains("Resent-Cc"));
    assert_eq!(strs(&c.header_recipients), vec!["again@y.example"]);
    let c = compose(
        &env(&[]),
        None,
        &[
            "Resent-Date: x\n",
            "Resent-Message-ID: <y>\n",
            "Resent-From: z@z.z\n",
        ],
    );
    assert_eq!(
        text(&c).lines().next(),
        Some("Resent-Cc: recipient list not shown: ;")
    );
}

#[test]
fn default_from_forms() {
    let from = |pairs: &[(&str, &str)]| {
        let c = compose(&env(pairs), None, &[]);
        text(&c).lines().nth(2).unwrap().to_string()
    };
    assert_eq!(
        from(&[
            ("QMAILUSER", "joe"),
            ("QMAILHOST", "h.example"),
            ("QMAILNAME", "Joe Q. Public")
        ]),
        "From: \"Joe Q. Public\" <joe@h.example>"
    );
    assert_eq!(
        from(&[("QMAILUSER", "joe"), ("NAME", "Joe"), ("QMAILINJECT", "c")]),
        "From: joe@dh.example (Joe)"
    );
    assert_eq!(
        from(&[("QMAILUSER", "joe smith"), ("QMAILHOST", "h")]),
        "From: \"joe smith\"@h.dd.example"
    );
    assert_eq!(from(&[]), "From: anonymous@dh.example");
}

#[test]
fn flags_delete_from_and_message_id() {
    let c = compose(
        &env(&[("QMAILINJECT", "fi"), ("QMAILUSER", "u")]),
        None,
        &[
            "From: other@x.example\n",
            "Message-ID: <old@x>\n",
            "To: t@x.example\n",
        ],
    );
    let t = text(&c);
    assert!(t.contains("From: u@dh.example\n") && !t.contains("other@x.example"));
    assert!(
        t.contains("Message-ID: <20240105030405.4242.qmail@id.example>\n") && !t.contains("old@x")
    );
}

#[test]
fn verp_flags() {
    let c = compose(
        &env(&[
            ("QMAILINJECT", "r"),
            ("QMAILUSER", "me"),
            ("QMAILHOST", "h.example"),
        ]),
        None,
        &[],
    );
    assert_eq!(c.sender, b"me-@h.example-@[]");
    let c = compose(
        &env(&[("QMAILINJECT", "r")]),
        None,
        &["Return-Path: <x@y.example>\n"],
    );
    assert_eq!(c.sender, b"x@y.example-@[]");
    // A -f sender is not modified.
    let c = compose(&env(&[("QMAILINJECT", "r")]), Some("f@g.example"), &[]);
    assert_eq!(c.sender, b"f@g.example");
    let c = compose(
        &env(&[
            ("QMAILINJECT", "m"),
            ("QMAILUSER", "me"),
            ("QMAILSHOST", "s.example"),
        ]),
        None,
        &[],
    );
    assert_eq!(c.sender, format!("me-{T}.4242@s.example").as_bytes());
    let c = compose(
        &env(&[("QMAILUSER", "me"), ("QMAILSUSER", "bounces")]),
        None,
        &[],
    );
    assert_eq!(c.sender, b"bounces@dh.example");
}

#[test]
fn mail_followup_to() {
    let r = rw();
    let e = env(&[]);
    let mut c = Composer::new(&r, &e, None);
    c.field(b"To: List@l.example, a@x.example\n".to_vec())
        .unwrap();
    c.field(b"Cc: \"c d\"@x.example\n".to_vec()).unwrap();
    let lists = vec!["list@l.example".to_string()];
    let done = c.finish(&stamp(), Some(&lists)).unwrap();
    let t = text(&done);
    assert!(
        t.contains(
            // qmail walks each list right to left, then prints backwards.
            "Mail-Followup-To: \"c d\"@x.example,\n  List@l.example,\n  a@x.example\nTo: "
        ),
        "{t}"
    );
    let mut c = Composer::new(&r, &e, None);
    c.field(b"To: other@x.example\n".to_vec()).unwrap();
    assert!(!text(&c.finish(&stamp(), Some(&lists)).unwrap()).contains("Mail-Followup-To"));
}

#[test]
fn unparsable_fields_are_fatal() {
    let r = rw();
    let e = env(&[]);
    let mut c = Composer::new(&r, &e, None);
    match c.field(b"To: (unclosed\n".to_vec()) {
        Err(InjectError::ParseLine(l)) => assert_eq!(l, b"To: (unclosed\n"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.field(b"From: a:b\n".to_vec()),
        Err(InjectError::ParseLine(_))
    ));
    assert!(matches!(
        c.field(b"bad field\n".to_vec()),
        Err(InjectError::InvalidField(_))
    ));
    // Fields qmail does not rewrite may hold anything.
    c.field(b"Subject: (unclosed\n".to_vec()).unwrap();
}

#[test]
fn long_lists_are_folded() {
    let to: Vec<String> = (0..6).map(|i| format!("someone{i}@example.com")).collect();
    let c = compose(&env(&[]), None, &[&format!("To: {}\n", to.join(", "))]);
    let t = text(&c);
    let to_field: String = t
        .split_inclusive('\n')
        .skip(3)
        .take_while(|l| l.starts_with("To:") || l.starts_with(' '))
        .collect();
    assert_eq!(
        to_field,
        "To: someone0@example.com, someone1@example.com, someone2@example.com,\n  \
         someone3@example.com, someone4@example.com, someone5@example.com\n"
    );
}
