//! Black-box test of the real `qmail-clean` binary (spec §1.6).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use mta::queue::layout::Layout;

#[test]
fn answers_requests_one_byte_each_and_exits_0_on_eof() {
    let d = tempfile::tempdir().unwrap();
    let l = Layout::new(d.path().join("queue"));
    l.create().unwrap();
    for p in [l.intd(30), l.todo(30), l.mess(30), l.mess(31)] {
        std::fs::write(p, b"x").unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_qmail-clean"))
        .env("QMAILHOME", d.path())
        .env("MTA_MODE", "unprivileged")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut ask = |req: &[u8]| {
        stdin.write_all(req).unwrap();
        stdin.flush().unwrap();
        let mut b = [0u8; 1];
        stdout.read_exact(&mut b).unwrap();
        b[0]
    };
    assert_eq!(ask(b"todo/30\0"), b'+');
    assert!(!l.todo(30).exists() && !l.intd(30).exists() && l.mess(30).exists());
    assert_eq!(ask(b"foop/30\0"), b'+');
    assert!(!l.mess(30).exists());
    assert_eq!(ask(b"foop/31\0"), b'+');
    assert!(!l.mess(31).exists());
    assert_eq!(ask(b"todo/\0"), b'x');
    assert_eq!(ask(b"junk/12345\0"), b'x');
    drop(stdin);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn missing_queue_exits_111() {
    let d = tempfile::tempdir().unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_qmail-clean"))
        .env("QMAILHOME", d.path().join("none"))
        .env("MTA_MODE", "unprivileged")
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(111));
}
