//! qmail-rspawn's spawner driving the real `qmail-remote` binary against a
//! scripted SMTP sink (spec §1.5): the Spawner builds the command, the
//! child's raw output is collapsed into one report.

mod support;

use std::process::Stdio;

use mta::remote::rspawn::RSpawn;
use mta::spawn::{Command, Report, Spawner, Status};
use support::smtp_sink::{Reply, Script, SmtpSink};

fn deliver(script: Script, recipient: &str) -> Report {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("control")).unwrap();
    std::fs::create_dir_all(d.path().join("queue/lock")).unwrap();
    std::fs::write(d.path().join("control/me"), "me.test\n").unwrap();
    let sink = SmtpSink::start("127.0.0.1", script);
    std::fs::write(
        d.path().join("control/smtproutes"),
        format!(":[127.0.0.1]:{}\n", sink.port()),
    )
    .unwrap();
    std::fs::write(d.path().join("message"), "Subject: x\n\nbody\n").unwrap();

    let spawner = RSpawn::with_program(env!("CARGO_BIN_EXE_qmail-remote"));
    let cmd = Command {
        slot: 0,
        messid: b"1/2".to_vec(),
        sender: b"s@me.test".to_vec(),
        recipient: recipient.as_bytes().to_vec(),
    };
    let mut child = spawner.command(&cmd).unwrap();
    let out = child
        .env("QMAILHOME", d.path())
        .env("MTA_MODE", "unprivileged")
        .stdin(Stdio::from(
            std::fs::File::open(d.path().join("message")).unwrap(),
        ))
        .output()
        .unwrap();
    let report = spawner.report(&cmd, out.status, out.stdout);
    let sessions = sink.finish_text();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].contains(&format!("RCPT TO:<{recipient}>\r\n")));
    report
}

#[test]
fn accepted_message_is_one_k_report() {
    let r = deliver(Script::default(), "u@remote.test");
    assert_eq!(r.status, Status::Success);
    assert_eq!(
        String::from_utf8(r.text).unwrap(),
        "127.0.0.1 accepted message.\nRemote host said: 250 ok 1700000000 qp 4242\n"
    );
}

#[test]
fn hard_rejected_recipient_is_one_d_report() {
    let script = Script {
        rcpt: vec![Reply::line("550 no such user")],
        ..Script::default()
    };
    let r = deliver(script, "u@remote.test");
    assert_eq!(r.status, Status::Failure);
    assert_eq!(
        String::from_utf8(r.text).unwrap(),
        "127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\nGiving up on 127.0.0.1.\n"
    );
}

#[test]
fn start_zeroes_the_timeout_table() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("lock")).unwrap();
    std::fs::write(d.path().join("lock/tcpto"), [7u8; 1024]).unwrap();
    RSpawn::start(d.path());
    assert_eq!(
        std::fs::read(d.path().join("lock/tcpto")).unwrap(),
        vec![0u8; 1024]
    );
}
