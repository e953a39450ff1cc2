//! Bad input in the queue (the "Bad input and faults"): a garbage
//! `todo/N` and a garbage channel file `local/S/N` each get qmail's warning
//! naming the file (spec §3.3, §3.5), stay in the queue (deferred, not
//! lost), and the rest of the queue keeps moving.

mod common;

use std::time::Duration;

use common::Mta;

const MSG: &str = "Subject: x\n\nhello\n";

fn new_msgs(m: &Mta) -> usize {
    m.log().matches("\nnew msg ").count() + usize::from(m.log().starts_with("new msg "))
}

#[test]
fn garbage_todo_file_is_warned_about_and_kept() {
    let mut m = Mta::init();
    // Queued while qmail-send is down, then garbled: an unknown record type.
    m.inject("user@localhost", &["user@localhost"], MSG);
    let bad = m.todo_ids()[0];
    let todo = m.root.join(format!("queue/todo/{bad}"));
    std::fs::write(&todo, b"u0\0p1\0Fuser@localhost\0Quser@localhost\0").unwrap();
    m.start();
    m.wait_log(
        &format!("warning: unknown record type in todo/{bad}\n"),
        Duration::from_secs(20),
    );
    // Another message goes through meanwhile.
    m.inject("user@localhost", &["user@localhost"], MSG);
    m.wait_maildir(&m.user_home().join("Maildir"), 1);
    m.wait_log("end msg ", Duration::from_secs(10));
    // The garbled one is still queued: todo and mess kept, nothing lost.
    assert!(todo.exists());
    assert!(m
        .root
        .join(format!("queue/mess/{}/{bad}", bad % 23))
        .exists());
    assert!(
        !m.log().contains(&format!("new msg {bad}\n")),
        "{}",
        m.log()
    );
    assert_eq!(new_msgs(&m), 1, "{}", m.log());
    // A repaired todo file is processed at the next scan (the trigger).
    std::fs::write(&todo, b"u0\0p1\0Fuser@localhost\0Tuser@localhost\0").unwrap();
    m.inject("user@localhost", &["user@localhost"], MSG);
    m.wait_maildir(&m.user_home().join("Maildir"), 3);
    m.wait_queue_empty(Duration::from_secs(10));
    assert_eq!(m.stop(), Some(0), "qmail-send kept running");
}

#[test]
fn garbage_channel_file_is_warned_about_and_deferred() {
    let mut m = Mta::init();
    m.inject("user@localhost", &["user@localhost"], MSG);
    let id = m.todo_ids()[0];
    let q = m.root.join("queue");
    let s = id % 23;
    // What preprocessing would have left, but with a garbled local file:
    // no final NUL after a record of an unknown type.
    std::fs::write(q.join(format!("info/{s}/{id}")), b"Fuser@localhost\0").unwrap();
    let chan = q.join(format!("local/{s}/{id}"));
    std::fs::write(&chan, b"Tuser@localhost\0Xgarbage").unwrap();
    std::fs::remove_file(q.join(format!("todo/{id}"))).unwrap();
    let _ = std::fs::remove_file(q.join(format!("intd/{id}")));
    m.start();
    m.wait_log(
        &format!("warning: trouble reading local/{s}/{id}; will try again later\n"),
        Duration::from_secs(20),
    );
    m.inject("user@localhost", &["user@localhost"], MSG);
    m.wait_maildir(&m.user_home().join("Maildir"), 1);
    m.wait_log("end msg ", Duration::from_secs(10));
    assert!(!m.log().contains(&format!("end msg {id}\n")));
    assert!(chan.exists(), "the garbled message is still queued");
    assert!(q.join(format!("mess/{s}/{id}")).exists());
    // Repaired and retried on SIGALRM: delivered.
    std::fs::write(&chan, b"Tuser@localhost\0").unwrap();
    m.alarm();
    m.wait_log(&format!("end msg {id}\n"), Duration::from_secs(20));
    assert_eq!(m.maildir_new(&m.user_home().join("Maildir")).len(), 2);
    assert_eq!(m.stop(), Some(0));
}
