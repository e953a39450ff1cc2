//! `bounce::inject::inject` runs the queue program with the right
//! envelope and message, and leaves triple bounces and missing bounce
//! files alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

use mta::bounce::inject::{inject, Outcome, Request};
use mta::bounce::{parse, record, BounceConfig, Format};

fn cfg() -> BounceConfig {
    BounceConfig {
        bouncefrom: "MAILER-DAEMON".into(),
        bouncehost: "mx.example.com".into(),
        doublebounceto: "postmaster".into(),
        doublebouncehost: "mx.example.com".into(),
    }
}

/// One fake qmail-queue for all tests, written once before any test runs
/// it: writing an executable while other threads fork can make exec fail
/// with ETXTBSY. It records what it is given, or fails if `fail` exists.
fn fake_queue() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let d = DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let q = d.path().join("qq");
        std::fs::write(
            &q,
            "#!/bin/sh\nif [ -f fail ]; then cat >/dev/null; exit 71; fi\ncat > out.msg\ncat 0<&1 1> out.env\necho \"$MTA_ROLE\" > out.role\nexit 0\n",
        )
        .unwrap();
        std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    });
    Box::leak(d.path().join("qq").into_boxed_path())
}

/// A home whose bin/qmail-queue is the fake.
fn home() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(fake_queue(), d.path().join("bin/qmail-queue")).unwrap();
    std::fs::write(d.path().join("mess"), b"Subject: hi\n\nhello\n").unwrap();
    d
}

fn request<'a>(h: &'a Path, c: &'a BounceConfig, sender: &'a [u8], dsn: bool) -> Request<'a> {
    Request {
        home: h,
        config: c,
        dsn,
        sender,
        bounce_file: Box::leak(h.join("bounce").into_boxed_path()),
        mess_file: Box::leak(h.join("mess").into_boxed_path()),
        arrival: Some(1704420000),
        now: 1704423845,
    }
}

#[test]
fn no_bounce_file_means_nothing_to_do() {
    let h = home();
    let c = cfg();
    assert_eq!(
        inject(&request(h.path(), &c, b"a@b", false)).unwrap(),
        Outcome::NoBounce
    );
    assert!(!h.path().join("out.msg").exists());
}

#[test]
fn triple_bounce_is_discarded_without_queueing() {
    let h = home();
    let c = cfg();
    record::append(
        &h.path().join("bounce"),
        &record::paragraph(b"p@x", None, b"no (#5.1.1)\n"),
    )
    .unwrap();
    assert_eq!(
        inject(&request(h.path(), &c, b"#@[]", false)).unwrap(),
        Outcome::Discarded
    );
    assert!(!h.path().join("out.msg").exists());
}

#[test]
fn qsbmf_bounce_is_queued_from_null_sender() {
    let h = home();
    let c = cfg();
    record::append(
        &h.path().join("bounce"),
        &record::paragraph(b"u@x", None, b"no (#5.1.1)\n"),
    )
    .unwrap();
    let out = inject(&request(h.path(), &c, b"alice@example.org", false)).unwrap();
    assert!(matches!(out, Outcome::Injected { qp } if qp > 0));
    assert_eq!(
        std::fs::read(h.path().join("out.env")).unwrap(),
        b"F\0Talice@example.org\0\0"
    );
    assert_eq!(
        std::fs::read_to_string(h.path().join("out.role")).unwrap(),
        "bounce\n"
    );
    let msg = std::fs::read(h.path().join("out.msg")).unwrap();
    assert!(msg.ends_with(b"Return-Path: <alice@example.org>\nSubject: hi\n\nhello\n"));
    assert_eq!(parse(&msg).unwrap().format, Format::Qsbmf);
}

#[test]
fn dsn_double_bounce_is_queued_from_hash() {
    let h = home();
    let c = cfg();
    record::append(
        &h.path().join("bounce"),
        &record::paragraph(b"alice@example.org", None, b"no (#5.1.1)\n"),
    )
    .unwrap();
    inject(&request(h.path(), &c, b"", true)).unwrap();
    assert_eq!(
        std::fs::read(h.path().join("out.env")).unwrap(),
        b"F#@[]\0Tpostmaster@mx.example.com\0\0"
    );
    let r = parse(&std::fs::read(h.path().join("out.msg")).unwrap()).unwrap();
    assert_eq!(r.format, Format::Dsn);
    assert_eq!(r.recipients[0].address, "alice@example.org");
}

#[test]
fn missing_message_is_a_temporary_error() {
    let h = home();
    let c = cfg();
    record::append(
        &h.path().join("bounce"),
        &record::paragraph(b"u@x", None, b"no\n"),
    )
    .unwrap();
    std::fs::remove_file(h.path().join("mess")).unwrap();
    let e = inject(&request(h.path(), &c, b"a@b", false)).unwrap_err();
    assert!(!e.is_permanent());
    assert!(!h.path().join("out.msg").exists());
}

#[test]
fn queue_failure_is_reported() {
    let h = home();
    let c = cfg();
    std::fs::write(h.path().join("fail"), b"").unwrap();
    record::append(
        &h.path().join("bounce"),
        &record::paragraph(b"u@x", None, b"no\n"),
    )
    .unwrap();
    let e = inject(&request(h.path(), &c, b"a@b", false)).unwrap_err();
    assert!(!e.is_permanent());
}
