//! qmail-inject as a program (spec §8.1–8.5 and its "Black-box testable"
//! list), queueing through a fake `QMAILQUEUE` that records the exact
//! message and envelope bytes.

mod inject_support;

use inject_support::{is_date, is_message_id, stderr, stdout, Root, INJECT};

#[test]
fn spec_example_prints_fields_in_order() {
    let r = Root::new();
    let o = r.run(INJECT, &["-n", "joe"], "Subject: x\n\nbody\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Return-Path: <u@dh.dd.example>");
    assert!(is_date(lines[1]), "{}", lines[1]);
    assert!(is_message_id(lines[2], "id.example"), "{}", lines[2]);
    assert_eq!(lines[3], "From: u@dh.dd.example");
    assert_eq!(lines[4], "Cc: recipient list not shown: ;");
    assert_eq!(&lines[5..], &["Subject: x", "", "body"]);
    // -n queues nothing.
    assert!(r.nothing_queued());
}

#[test]
fn message_id_pid_is_the_injectors() {
    let r = Root::new();
    let o = r.run(INJECT, &["-n"], "To: a@b.example\n\n");
    let out = stdout(&o);
    let id = out.lines().find(|l| l.starts_with("Message-ID:")).unwrap();
    assert!(is_message_id(id, "id.example"), "{id}");
}

#[test]
fn to_is_rewritten_with_defaulthost_and_defaultdomain() {
    let r = Root::new();
    let o = r.run(
        INJECT,
        &["-n"],
        "To: joe\nCc: joe@silverton, eric@mammoth.cs+\n\n",
    );
    let out = stdout(&o);
    assert!(out.contains("\nTo: joe@dh.dd.example\n"), "{out}");
    // plusdomain defaults to me.
    assert!(
        out.contains("\nCc: joe@silverton.dd.example, eric@mammoth.cs.me.example\n"),
        "{out}"
    );
}

#[test]
fn queues_exact_message_and_envelope() {
    let r = Root::new();
    let input = "From: a@x.example\nTo: b@y.example\nDate: 1 Jan 2024 00:00:00 -0000\nMessage-ID: <m@x>\nSubject: s\n\nline 1\n.\nlast";
    let o = r.run(INJECT, &[], input);
    assert!(o.status.success(), "{}", stderr(&o));
    let (msg, env) = r.queued();
    assert_eq!(
        msg,
        "From: a@x.example\nTo: b@y.example\nDate: 1 Jan 2024 00:00:00 -0000\nMessage-ID: <m@x>\nSubject: s\n\nline 1\n.\nlast\n"
    );
    assert_eq!(env, "Fu@dh.dd.example\0Tb@y.example\0\0");
}

#[test]
fn bcc_recipients_get_it_but_never_see_the_field() {
    let input = "To: t@x.example\nBcc: hidden@x.example\nSubject: s\n\nb\n";
    for args in [&["-h", "ignored@x.example"][..], &[][..]] {
        let r = Root::new();
        let o = r.run(INJECT, args, input);
        assert!(o.status.success(), "{}", stderr(&o));
        let (msg, env) = r.queued();
        assert!(!msg.contains("Bcc") && !msg.contains("hidden"), "{msg}");
        assert_eq!(env, "Fu@dh.dd.example\0Tt@x.example\0Thidden@x.example\0\0");
    }
    // -H: arguments and header.
    let r = Root::new();
    r.run(INJECT, &["-H", "arg@x.example"], input);
    assert_eq!(
        r.queued().1,
        "Fu@dh.dd.example\0Targ@x.example\0Tt@x.example\0Thidden@x.example\0\0"
    );
    // -A with arguments, and -a: arguments only.
    for args in [&["arg@x.example"][..], &["-a", "arg@x.example"][..]] {
        let r = Root::new();
        r.run(INJECT, args, input);
        assert_eq!(r.queued().1, "Fu@dh.dd.example\0Targ@x.example\0\0");
    }
}

#[test]
fn return_path_sets_the_envelope_sender_and_is_removed() {
    let input = "Return-Path: <x@y.example>\nTo: t@x.example\n\nb\n";
    let r = Root::new();
    r.run(INJECT, &[], input);
    let (msg, env) = r.queued();
    assert!(!msg.contains("Return-Path"), "{msg}");
    assert!(env.starts_with("Fx@y.example\0"), "{env:?}");
    let mut r = Root::new();
    r.set("QMAILINJECT", "s");
    r.run(INJECT, &[], input);
    let (msg, env) = r.queued();
    assert!(!msg.contains("Return-Path"));
    assert!(env.starts_with("Fu@dh.dd.example\0"), "{env:?}");
    // -f beats Return-Path.
    let r = Root::new();
    r.run(INJECT, &["-f", "f@g.example"], input);
    assert!(r.queued().1.starts_with("Ff@g.example\0"));
}

#[test]
fn content_length_dropped_and_mbox_from_line_kept_as_field() {
    let r = Root::new();
    let o = r.run(
        INJECT,
        &["-n"],
        "From someone Fri Jan  5 03:04:05 2024\nContent-Length: 99\nTo: t@x.example\n\nb\n",
    );
    let out = stdout(&o);
    assert!(out.contains("MBOX-Line: From someone Fri Jan  5 03:04:05 2024\n"));
    assert!(!out.contains("Content-Length"));
}

#[test]
fn verp_flag_r_envelope() {
    let mut r = Root::new();
    r.set("QMAILINJECT", "r");
    r.set("QMAILUSER", "me");
    r.set("QMAILHOST", "h.example");
    r.run(INJECT, &["x@y.example"], "Subject: v\n\n");
    assert_eq!(r.queued().1, "Fme-@h.example-@[]\0Tx@y.example\0\0");
}

#[test]
fn environment_shapes_the_default_from() {
    let mut r = Root::new();
    r.set("QMAILUSER", "joe");
    r.set("QMAILHOST", "h.example");
    r.set("NAME", "Joe Q. Public");
    let out = stdout(&r.run(INJECT, &["-n", "x@y.example"], "\n"));
    assert!(
        out.contains("\nFrom: \"Joe Q. Public\" <joe@h.example>\n"),
        "{out}"
    );
    r.set("QMAILINJECT", "c");
    let out = stdout(&r.run(INJECT, &["-n", "x@y.example"], "\n"));
    assert!(
        out.contains("\nFrom: joe@h.example (Joe Q. Public)\n"),
        "{out}"
    );
}

#[test]
fn qq_failures_map_to_exit_codes() {
    let r = Root::new();
    std::fs::write(r.path().join("qqexit"), "31").unwrap();
    let o = r.run(INJECT, &["x@y.example"], "\n");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        stderr(&o),
        "qmail-inject: fatal: mail server permanently rejected message (#5.3.0)\n"
    );
    std::fs::write(r.path().join("qqexit"), "71").unwrap();
    let o = r.run(INJECT, &["x@y.example"], "\n");
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        stderr(&o),
        "qmail-inject: fatal: mail server temporarily rejected message (#4.3.0)\n"
    );
}

#[test]
fn missing_queue_program_is_temporary() {
    let mut r = Root::new();
    r.set("QMAILQUEUE", "no-such-program");
    let o = r.run(INJECT, &["x@y.example"], "\n");
    assert_eq!(o.status.code(), Some(111));
    assert!(
        stderr(&o).starts_with("qmail-inject: fatal: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_and_syntax_errors_are_permanent_and_queue_nothing() {
    let r = Root::new();
    let o = r.run(INJECT, &["-z"], "\n");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(stderr(&o), "qmail-inject: illegal option -- z\n");
    let o = r.run(INJECT, &["x@(y"], "\n");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        stderr(&o),
        "qmail-inject: fatal: unable to parse address: x@(y\n"
    );
    let o = r.run(INJECT, &[], "To: a@b.example>\n\n");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        stderr(&o),
        "qmail-inject: fatal: unable to parse this line:\nTo: a@b.example>\n"
    );
    assert!(r.nothing_queued());
}

#[test]
fn unreadable_control_is_a_read_error() {
    let r = Root::new();
    std::fs::remove_file(r.path().join("control/defaulthost")).unwrap();
    std::fs::create_dir(r.path().join("control/defaulthost")).unwrap();
    let o = r.run(INJECT, &["x@y.example"], "\n");
    assert_eq!(o.status.code(), Some(111));
    assert!(
        stderr(&o).starts_with("qmail-inject: fatal: read error"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("defaulthost"), "{}", stderr(&o));
}

#[test]
fn mail_followup_to_from_qmailmftfile() {
    let mut r = Root::new();
    let lists = r.path().join("lists");
    std::fs::write(&lists, "# lists\nlist@l.example\n").unwrap();
    r.set("QMAILMFTFILE", lists.to_str().unwrap());
    let out = stdout(&r.run(INJECT, &["-n"], "To: list@l.example\nCc: me@x.example\n\n"));
    assert!(
        out.contains("Mail-Followup-To: me@x.example,\n  list@l.example\nTo: list@l.example\n"),
        "{out}"
    );
}
