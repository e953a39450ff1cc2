//! The listener's in-process qmail-queue (unprivileged mode): no
//! qmail-queue process per message, the same replies and queue files,
//! `MTA_QUEUE_EXEC=1` restores the exec, and a huge message streams
//! through with flat memory.

mod listener_harness;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use listener_harness::common::{wait_for, Mta};
use listener_harness::{queued, Client, Listener};

/// `mta-listen` in unprivileged mode with `env`; killed by pid on drop.
fn listen(root: &Path, env: &[(&str, &str)]) -> Listener {
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, v.as_ref())).collect();
    Listener::start_env(root, &[], &env)
}

/// Replaces `bin/qmail-queue` with a script that leaves `marker` and
/// rejects the message permanently: any use of it shows.
fn loud_queue(root: &Path) -> PathBuf {
    let marker = root.join("qmail-queue-ran");
    let bin = root.join("bin/qmail-queue");
    let _ = std::fs::remove_file(&bin);
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\ntouch {}\ncat >/dev/null\nexit 31\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    marker
}

/// MAIL, RCPT, DATA, a small message; returns the reply to the dot.
fn send_one(c: &mut Client, subject: &str) -> String {
    assert_eq!(c.cmd("HELO x\r\n"), "250 localhost\r\n");
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("RCPT TO:<user@localhost>\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("DATA\r\n"), "354 go ahead\r\n");
    c.cmd(&format!("Subject: {subject}\r\n\r\nhello\r\n.\r\n"))
}

#[test]
fn unprivileged_listener_queues_without_running_qmail_queue() {
    let mut m = Mta::init();
    let marker = loud_queue(&m.root);
    m.start();
    let s = listen(&m.root, &[]);
    let mut c = s.greeted();
    let reply = send_one(&mut c, "inline");
    // qmail's `250 ok <time> qp <qp>`; inline, the qp is the listener's pid.
    assert!(reply.starts_with("250 ok "), "{reply}");
    assert!(reply.ends_with(&format!(" qp {}\r\n", s.pid())), "{reply}");
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
    let got = m.wait_maildir(&m.user_home().join("Maildir"), 1);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(text.contains("Subject: inline\n"), "{text}");
    assert!(
        text.contains(&format!("(qmail {} invoked from network)", s.pid())),
        "{text}"
    );
    assert!(!marker.exists(), "bin/qmail-queue was run");
}

#[test]
fn queue_exec_env_and_qmailqueue_restore_the_exec() {
    let m = Mta::init();
    let marker = loud_queue(&m.root);
    for env in [
        &[("MTA_QUEUE_EXEC", "1")][..],
        &[("QMAILQUEUE", "bin/qmail-queue")][..],
    ] {
        let _ = std::fs::remove_file(&marker);
        let s = listen(&m.root, env);
        let mut c = s.greeted();
        assert_eq!(
            send_one(&mut c, "exec"),
            "554 mail server permanently rejected message (#5.3.0)\r\n",
            "{env:?}"
        );
        assert!(marker.exists(), "{env:?}: bin/qmail-queue did not run");
    }
    assert!(queued(&m.root).is_empty());
}

/// `MTA_INLINE_MIB` MiB (default 200) through the inline queue onto
/// disk: the listener's memory stays flat and the whole message is
/// queued.
#[test]
fn a_huge_message_streams_through_the_inline_queue_with_flat_memory() {
    let mib: u64 = std::env::var("MTA_INLINE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let m = Mta::init();
    let marker = loud_queue(&m.root);
    let s = listen(&m.root, &[]);
    let before = s.rss_kib();
    let mut c = s.greeted();
    assert_eq!(c.cmd("HELO x\r\n"), "250 localhost\r\n");
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("RCPT TO:<user@localhost>\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("DATA\r\n"), "354 go ahead\r\n");
    let mut w = c.w.try_clone().unwrap();
    let total = mib << 20;
    let writer = std::thread::spawn(move || {
        let mut line = vec![b'x'; 998];
        line.extend_from_slice(b"\r\n");
        let chunk = line.repeat(1024);
        let mut sent = 0u64;
        while sent < total {
            w.write_all(&chunk).unwrap();
            sent += chunk.len() as u64;
        }
        w.write_all(b".\r\n").unwrap();
        sent
    });
    let mut peak = before;
    while !writer.is_finished() {
        peak = peak.max(s.rss_kib());
        wait_for(Duration::from_millis(100), || writer.is_finished());
    }
    let sent = writer.join().unwrap();
    let reply = c.reply();
    assert!(reply.starts_with("250 ok "), "{reply}");
    peak = peak.max(s.rss_kib());
    eprintln!("{} MiB: RSS {before} KiB, peak {peak} KiB", sent >> 20);
    assert!(
        peak - before < 16 * 1024,
        "RSS grew from {before} to {peak} KiB"
    );
    // CRLF became LF; the Received line was added.
    let mut sizes = Vec::new();
    for d in std::fs::read_dir(m.root.join("queue/mess"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            sizes.push(f.metadata().unwrap().len());
        }
    }
    assert_eq!(sizes.len(), 1);
    assert!(sizes[0] > sent / 1000 * 999, "{} of {sent}", sizes[0]);
    assert!(!marker.exists());
}
