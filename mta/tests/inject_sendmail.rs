//! The sendmail wrapper and mailq as programs (spec §8.6, §7.8), in the
//! invocation shapes real callers use: cron, PHP's mail(), mutt.

mod common;
mod inject_support;

use inject_support::{stderr, stdout, Root, MAILQ, SENDMAIL};

#[test]
fn php_mail_shape_t_i_reads_recipients_from_header() {
    // PHP: sendmail -t -i
    let r = Root::new();
    let o = r.run(
        SENDMAIL,
        &["-t", "-i"],
        "To: a@x.example\nCc: b@x.example\nBcc: c@x.example\nSubject: php\n\nline\n.\nmore\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (msg, env) = r.queued();
    assert_eq!(
        env,
        "Fu@dh.dd.example\0Ta@x.example\0Tb@x.example\0Tc@x.example\0\0"
    );
    assert!(!msg.contains("Bcc"));
    // A lone dot is not the end of the input.
    assert!(msg.ends_with("\n\nline\n.\nmore\n"), "{msg}");
}

#[test]
fn t_also_takes_arguments() {
    let r = Root::new();
    r.run(SENDMAIL, &["-t", "arg@x.example"], "To: h@x.example\n\n");
    assert_eq!(
        r.queued().1,
        "Fu@dh.dd.example\0Targ@x.example\0Th@x.example\0\0"
    );
}

#[test]
fn f_sets_envelope_sender_and_default_from() {
    let mut r = Root::new();
    r.set("NAME", "Should Go");
    let o = r.run(
        SENDMAIL,
        &["-oi", "-f", "a@b.c", "r@d.example"],
        "Subject: s\n\nb\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (msg, env) = r.queued();
    assert_eq!(env, "Fa@b.c\0Tr@d.example\0\0");
    assert!(msg.contains("\nFrom: a@b.c\n"), "{msg}");
    assert!(!msg.contains("Should Go"));
}

#[test]
fn ignored_flags_work() {
    // mutt: sendmail -oem -oi -- recipients
    let r = Root::new();
    let o = r.run(
        SENDMAIL,
        &[
            "-oem",
            "-oi",
            "-v",
            "-x",
            "-m",
            "-ex",
            "-Bx",
            "-px",
            "-Eabc",
            "-J",
            "-bm",
            "--",
            "r@d.example",
        ],
        "To: r@d.example\n\nhi\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r.queued().1, "Fu@dh.dd.example\0Tr@d.example\0\0");
    let r = Root::new();
    r.run(SENDMAIL, &["-oi", "-oem", "r@d"], "\n");
    assert_eq!(r.queued().1, "Fu@dh.dd.example\0Tr@d.dd.example\0\0");
}

#[test]
fn cron_shape() {
    // cronie: sendmail -FCronDaemon -i -odi -oem -oi -t -f root
    let r = Root::new();
    let o = r.run(
        SENDMAIL,
        &[
            "-FCronDaemon",
            "-i",
            "-odi",
            "-oem",
            "-oi",
            "-t",
            "-f",
            "root",
        ],
        "To: user\nSubject: Cron <root@h> true\n\noutput\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (msg, env) = r.queued();
    assert_eq!(env, "Froot@dh.dd.example\0Tuser@dh.dd.example\0\0");
    // netqmail: -f drops the -F name and makes the sender the From.
    assert!(msg.contains("\nFrom: root@dh.dd.example\n"), "{msg}");
    assert!(msg.contains("\nTo: user@dh.dd.example\n"));
}

#[test]
fn capital_f_sets_the_name() {
    let r = Root::new();
    r.run(SENDMAIL, &["-F", "Joe Q", "r@d.example"], "\n");
    assert!(r
        .queued()
        .0
        .contains("\nFrom: \"Joe Q\" <u@dh.dd.example>\n"));
}

#[test]
fn without_t_and_without_arguments_nobody_gets_it() {
    let r = Root::new();
    let o = r.run(SENDMAIL, &[], "To: h@x.example\n\n");
    assert!(o.status.success());
    assert_eq!(r.queued().1, "Fu@dh.dd.example\0\0");
}

#[test]
fn usage_errors() {
    let r = Root::new();
    let usage =
        "sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]\n";
    let o = r.run(SENDMAIL, &["-q"], "");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        stderr(&o),
        format!("sendmail: illegal option -- q\n{usage}")
    );
    let o = r.run(SENDMAIL, &["-bx"], "");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(stderr(&o), usage);
    assert!(r.nothing_queued());
}

#[test]
fn newaliases_name() {
    let r = Root::new();
    let link = r.path().join("newaliases");
    std::os::unix::fs::symlink(SENDMAIL, &link).unwrap();
    let o = r.run(link.to_str().unwrap(), &[], "");
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        stderr(&o),
        "sendmail: fatal: please use fastforward/newaliases instead\n"
    );
}

#[test]
fn bs_speaks_smtp_on_stdio() {
    let r = Root::new();
    // RELAYCLIENT is preset, so rcpthosts does not refuse a foreign domain.
    r.control("rcpthosts", "me.example\n");
    let o = r.run(
        SENDMAIL,
        &["-bs"],
        "HELO client\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@far.example>\r\nDATA\r\nSubject: bs\r\n\r\nbody\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(lines[0], "220 me.example ESMTP");
    assert_eq!(lines[1], "250 me.example");
    assert_eq!(lines[2], "250 ok");
    assert_eq!(lines[3], "250 ok");
    assert_eq!(lines[4], "354 go ahead");
    assert!(lines[5].starts_with("250 ok "), "{out}");
    assert_eq!(lines[6], "221 me.example");
    let (msg, env) = r.queued();
    assert_eq!(env, "Fa@b.example\0Tc@far.example\0\0");
    assert!(
        msg.starts_with("Received: from localhost (HELO client) (sendmail-bs@127.0.0.1)\n  by localhost with SMTP; "),
        "{msg}"
    );
    assert!(msg.ends_with("\nSubject: bs\n\nbody\n"));
}

#[test]
fn bs_keeps_the_environment_when_proto_is_set() {
    let mut r = Root::new();
    r.control("rcpthosts", "me.example\n");
    r.set("PROTO", "TCP");
    r.set("TCPREMOTEIP", "10.9.8.7");
    let o = r.run(
        SENDMAIL,
        &["-bs"],
        "HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@far.example>\r\nQUIT\r\n",
    );
    let out = stdout(&o);
    assert!(
        out.contains("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"),
        "{out}"
    );
}

#[test]
fn bp_and_mailq_list_the_queue() {
    let mut m = common::Mta::init();
    // Remote deliveries held, so the message stays in the queue.
    m.control("concurrencyremote", "0");
    m.start();
    m.inject("s@x.example", &["r@y.example"], "Subject: q\n\nb\n");
    let run = |prog: &std::path::Path, args: &[&str]| {
        let o = std::process::Command::new(prog)
            .args(args)
            .env_remove("QMAILHOME")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    // qmail-qread lists messages once qmail-send has preprocessed them.
    let preprocessed = common::wait_for(std::time::Duration::from_secs(20), || {
        run(&m.root.join("bin/sendmail"), &["-bp"]).contains("\tremote\t")
    });
    assert!(preprocessed, "log:\n{}", m.log());
    let bp = run(&m.root.join("bin/sendmail"), &["-bp"]);
    let lines: Vec<&str> = bp.lines().collect();
    assert_eq!(lines.len(), 2, "{bp}");
    assert!(
        lines[0].contains(" GMT  #") && lines[0].ends_with("  <s@x.example> "),
        "{bp}"
    );
    assert_eq!(lines[1], "\tremote\tr@y.example");
    assert_eq!(run(&m.root.join("bin/mailq"), &[]), bp);
    // sendmail invoked as mailq.
    let link = m.dir.path().join("bin");
    std::fs::create_dir(&link).unwrap();
    std::os::unix::fs::symlink(SENDMAIL, link.join("mailq")).unwrap();
    let o = std::process::Command::new(link.join("mailq"))
        .env("QMAILHOME", &m.root)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), bp);
    // The standalone binary, through QMAILHOME.
    let o = std::process::Command::new(MAILQ)
        .env("QMAILHOME", &m.root)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), bp);
}
