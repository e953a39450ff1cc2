//! Black-box tests of `qmail-qread`, `qmail-qstat` and `qmail-showctl` on
//! a hand-built queue (spec Appendix A, §9.3).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use mta::queue::layout::Layout;

/// 5 Jan 2024 03:04:05 UTC
const T: u64 = 1704423845;

fn write(p: &Path, data: &[u8]) {
    std::fs::write(p, data).unwrap();
}

fn info(l: &Layout, id: u64, sender: &[u8]) {
    let p = l.info(id);
    write(&p, &[b"F", sender, b"\0"].concat());
    let f = std::fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(T)).unwrap();
}

/// Three messages in info/ (ids 24, 50, 457) plus one only in todo (99).
fn queue() -> (tempfile::TempDir, Layout) {
    let d = tempfile::tempdir().unwrap();
    let l = Layout::new(d.path().join("queue"));
    l.create().unwrap();
    // 457: in mess/20, bouncing, local and remote recipients.
    write(&l.mess(457), &[b'x'; 100]);
    info(&l, 457, b"sender@example.org");
    write(&l.local(457), b"Tu@example.net\0Du2@example.net\0");
    write(&l.remote(457), b"Tr@example.com\0");
    write(&l.bounce(457), b"");
    // 24: in mess/1, a control byte in the sender, remote done.
    write(&l.mess(24), b"hello");
    info(&l, 24, b"a\tb@x");
    write(&l.remote(24), b"Dx@y\0");
    // 50: info without mess.
    info(&l, 50, b"");
    // 99: queued, not yet preprocessed.
    write(&l.mess(99), b"m");
    write(&l.todo(99), b"u0\0p1\0F\0");
    (d, l)
}

fn run(bin: &str, home: &Path) -> (i32, String) {
    let o = Command::new(bin)
        .env("QMAILHOME", home)
        .env("MTA_MODE", "unprivileged")
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
    )
}

#[test]
fn qread_lists_messages_and_recipients() {
    let (d, _l) = queue();
    let (code, out) = run(env!("CARGO_BIN_EXE_qmail-qread"), d.path());
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "5 Jan 2024 03:04:05 GMT  #24  5  <a_b@x> \n\
         \x20 done\tremote\tx@y\n\
         warning: trouble with #50: file does not exist\n\
         5 Jan 2024 03:04:05 GMT  #457  100  <sender@example.org>  bouncing\n\
         \tlocal\tu@example.net\n\
         \x20 done\tlocal\tu2@example.net\n\
         \tremote\tr@example.com\n"
    );
}

#[test]
fn qread_without_a_queue_is_fatal() {
    let d = tempfile::tempdir().unwrap();
    let (code, out) = run(env!("CARGO_BIN_EXE_qmail-qread"), d.path());
    assert_eq!(code, 111);
    assert!(out.starts_with("fatal: unable to "), "{out}");
}

#[test]
fn qstat_counts_mess_and_todo() {
    let (d, _l) = queue();
    let (code, out) = run(env!("CARGO_BIN_EXE_qmail-qstat"), d.path());
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "messages in queue: 3\nmessages in queue but not yet preprocessed: 1\n"
    );
}

#[test]
fn qstat_of_an_empty_queue() {
    let d = tempfile::tempdir().unwrap();
    Layout::new(d.path().join("queue")).create().unwrap();
    let (code, out) = run(env!("CARGO_BIN_EXE_qmail-qstat"), d.path());
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "messages in queue: 0\nmessages in queue but not yet preprocessed: 0\n"
    );
}

#[test]
fn showctl_explains_the_control_files() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("control");
    std::fs::create_dir(&c).unwrap();
    write(&c.join("me"), b"mx.example.com\n");
    write(&c.join("locals"), b"example.com\n");
    write(&c.join("mystery"), b"");
    let (code, out) = run(env!("CARGO_BIN_EXE_qmail-showctl"), d.path());
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("qmail home directory: {}.\n", d.path().display())));
    assert!(out.contains("\nlocals: \nMessages for example.com are delivered locally.\n"));
    assert!(out.contains("\nhelohost: (Default.) SMTP client HELO host name is mx.example.com.\n"));
    assert!(out.contains("\nmystery: I have no idea what this file does.\n"));
}
