//! The `qmail-rspawn` binary end to end (spec §1.3, §1.5): one command on
//! fd 0, one collapsed report on fd 1, with `$QMAILREMOTE` pointing at our
//! qmail-remote and smtproutes sending everything to a loopback sink.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::smtp_sink::{Script, SmtpSink};

#[test]
fn one_command_one_report_and_the_table_is_zeroed() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path();
    for dir in ["control", "queue/lock", "queue/mess/1"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
    }
    std::fs::write(home.join("control/me"), "me.test\n").unwrap();
    std::fs::write(home.join("queue/lock/tcpto"), [9u8; 1024]).unwrap();
    std::fs::write(home.join("queue/mess/1/2"), "Subject: x\n\n.body\n").unwrap();
    let sink = SmtpSink::start("127.0.0.1", Script::default());
    std::fs::write(
        home.join("control/smtproutes"),
        format!(":[127.0.0.1]:{}\n", sink.port()),
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_qmail-rspawn"))
        .env("QMAILHOME", home)
        .env("MTA_MODE", "unprivileged")
        .env("QMAILREMOTE", env!("CARGO_BIN_EXE_qmail-remote"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"\x031/2\0s@me.test\0u@remote.test\0")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "\u{78}\u{3}K127.0.0.1 accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n\0"
    );
    assert_eq!(
        std::fs::read(home.join("queue/lock/tcpto")).unwrap(),
        vec![0u8; 1024]
    );
    let s = sink.finish_text();
    assert_eq!(s.len(), 1);
    assert!(s[0].contains("RCPT TO:<u@remote.test>\r\nDATA\r\nSubject: x\r\n\r\n..body\r\n.\r\n"));
}
