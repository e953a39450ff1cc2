//! Hostile clients against the built-in listener (`mta-listen`): every
//! byte sequence gets qmail's reply or a clean disconnect, memory stays
//! flat however much a client sends, and one session never stalls
//! another. The server's memory is its VmRSS from /proc.
//!
//! The multi-gigabyte message goes to a fake qmail-queue (`QMAILQUEUE`)
//! that reads and discards the message and envelope, so no disk is used.
//! Its size is `MTA_ABUSE_GIB` GiB (default 1; see README).

mod listener_harness;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use listener_harness::common::{wait_for, Mta};
use listener_harness::{queued, Client, Listener};

/// `mta-listen` on 127.0.0.1:0, optionally with `QMAILQUEUE`; killed (by
/// pid) on drop.
fn listen(root: &Path, qmailqueue: Option<&Path>) -> Listener {
    match qmailqueue {
        Some(q) => Listener::start_env(root, &[], &[("QMAILQUEUE", q.as_os_str())]),
        None => Listener::start(root, &[]),
    }
}

/// A fresh session still gets served.
fn still_serves(s: &Listener) {
    let mut c = s.greeted();
    assert_eq!(c.cmd("NOOP\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
}

/// A qmail-queue that reads the message and the envelope and keeps
/// nothing.
fn discarding_queue(root: &Path) -> std::path::PathBuf {
    let p = root.join("discard-queue");
    std::fs::write(
        &p,
        "#!/bin/sh\ncat >/dev/null && cat <&1 >/dev/null\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

fn send_bytes(c: &mut Client, b: &[u8]) {
    c.w.write_all(b).unwrap();
}

/// Opens a transaction for user@localhost and says DATA.
fn start_data(c: &mut Client) {
    assert_eq!(c.cmd("HELO x\r\n"), "250 localhost\r\n");
    c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<user@localhost>\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.cmd("DATA\r\n"), "354 go ahead\r\n");
}

#[test]
fn a_ten_megabyte_line_is_answered_and_not_buffered() {
    let m = Mta::init();
    let s = listen(&m.root, None);
    still_serves(&s);
    let before = s.rss_kib();
    let mut c = s.greeted();
    send_bytes(&mut c, b"NOOP ");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..10 {
        send_bytes(&mut c, &chunk);
    }
    assert_eq!(c.cmd("\r\n"), "250 ok\r\n");
    // Also in the middle of an address.
    send_bytes(&mut c, b"MAIL FROM:<");
    for _ in 0..10 {
        send_bytes(&mut c, &chunk);
    }
    assert_eq!(c.cmd(">\r\n"), "555 syntax error (#5.5.4)\r\n");
    let grown = s.rss_kib().saturating_sub(before);
    assert!(grown < 4 * 1024, "RSS grew by {grown} KiB");
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
}

#[test]
fn nul_eight_bit_and_bare_cr_get_qmails_answers() {
    let m = Mta::init();
    let s = listen(&m.root, None);
    let mut c = s.greeted();
    // A command ends at its first NUL (qmail's C strings).
    assert_eq!(c.cmd("NOOP\0junk\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("NO\0OP\r\n"), "502 unimplemented (#5.5.1)\r\n");
    // A bare CR is part of the line, not its end: the verb is
    // `NOOP\rQUIT`, which qmail does not know.
    assert_eq!(c.cmd("NOOP\rQUIT\r\n"), "502 unimplemented (#5.5.1)\r\n");
    assert_eq!(c.cmd("NOOP \rQUIT\r\n"), "250 ok\r\n");
    assert_eq!(c.cmd("HELO h\u{e9}l\u{f6}\r\n"), "250 localhost\r\n");
    c.send("MAIL FROM:<\u{e9}t\u{e9}@b.example>\r\nRCPT TO:<user@localhost>\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.cmd("DATA\r\n"), "354 go ahead\r\n");
    c.w.write_all(b"Subject: \xff\xfe\r\n\r\nnul\0here\r\nbare\rcr\r\n.\r\n")
        .unwrap();
    assert!(c.reply().starts_with("250 ok "));
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
    let mess = std::fs::read_dir(m.root.join("queue/mess"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|f| std::fs::read(f.path()).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(mess.len(), 1);
    let body = &mess[0];
    let tail = b"Subject: \xff\xfe\n\nnul\0here\nbare\rcr\n";
    assert!(body.ends_with(tail), "{}", String::from_utf8_lossy(body));
}

#[test]
fn lf_dot_lf_smuggling_is_refused_and_nothing_is_queued() {
    let m = Mta::init();
    let s = listen(&m.root, None);
    let mut c = s.greeted();
    start_data(&mut c);
    c.send("legit\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<user@localhost>\r\nDATA\r\nsmuggled\r\n.\r\n");
    assert_eq!(
        c.reply(),
        "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n"
    );
    assert!(c.closed_silently());
    assert!(queued(&m.root).is_empty());
    still_serves(&s);
}

#[test]
fn cr_dot_cr_does_not_end_the_message() {
    let m = Mta::init();
    let s = listen(&m.root, None);
    let mut c = s.greeted();
    start_data(&mut c);
    c.send("legit\r.\rMAIL FROM:<evil@x>\r\nRCPT TO:<user@localhost>\r\nDATA\r\nsmuggled\r\n.\r\n");
    // One message, holding the would-be commands as text.
    assert!(c.reply().starts_with("250 ok "));
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
    let q = queued(&m.root);
    assert_eq!(q.len(), 1);
    assert!(
        q[0].ends_with("legit\r.\rMAIL FROM:<evil@x>\nRCPT TO:<user@localhost>\nDATA\nsmuggled\n"),
        "{:?}",
        q[0]
    );
}

#[test]
fn a_pipelined_flood_of_100k_recipients() {
    const N: usize = 100_000;
    let m = Mta::init();
    let q = discarding_queue(&m.root);
    let s = listen(&m.root, Some(&q));
    let mut c = s.greeted();
    let mut w = c.w.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut all = b"HELO x\r\nMAIL FROM:<a@b.example>\r\n".to_vec();
        for _ in 0..N {
            all.extend_from_slice(b"RCPT TO:<user@localhost>\r\n");
        }
        all.extend_from_slice(b"DATA\r\n");
        w.write_all(&all).unwrap();
    });
    assert_eq!(c.reply(), "250 localhost\r\n");
    for i in 0..=N {
        assert_eq!(c.reply(), "250 ok\r\n", "reply {i}");
    }
    assert_eq!(c.reply(), "354 go ahead\r\n");
    writer.join().unwrap();
    assert!(c.cmd("x\r\n.\r\n").starts_with("250 ok "));
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
}

#[test]
fn a_client_that_never_reads_cannot_make_the_server_buffer() {
    let m = Mta::init();
    let s = listen(&m.root, None);
    still_serves(&s);
    let before = s.rss_kib();
    let sock = TcpStream::connect(s.addr).unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut w = sock.try_clone().unwrap();
    // NOOP replies are flushed at once: with nobody reading them the
    // server's writes block, so it must stop reading, and our writes
    // block in turn.
    let chunk = b"NOOP\r\n".repeat(10_000);
    let mut sent = 0usize;
    let blocked = loop {
        match w.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break true,
        }
        if sent > 512 << 20 {
            break false;
        }
    };
    assert!(
        blocked,
        "the server read {sent} bytes without us reading a reply"
    );
    let grown = s.rss_kib().saturating_sub(before);
    assert!(
        grown < 8 * 1024,
        "RSS grew by {grown} KiB after {sent} bytes"
    );
    still_serves(&s);
    drop(w);
    drop(sock);
}

/// Streams `MTA_ABUSE_GIB` GiB (default 1) of message through the
/// listener into a discarding qmail-queue, sampling the server's memory;
/// meanwhile other sessions are served.
#[test]
fn a_gigabyte_message_streams_through_with_flat_memory() {
    let gib: u64 = std::env::var("MTA_ABUSE_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let total = gib << 30;
    let m = Mta::init();
    let q = discarding_queue(&m.root);
    let s = listen(&m.root, Some(&q));
    still_serves(&s);
    let before = s.rss_kib();
    let mut c = s.greeted();
    start_data(&mut c);
    let mut w = c.w.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let start = Instant::now();
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
        d.store(true, Ordering::SeqCst);
        sent
    });
    let mut peak = before;
    let mut served = 0;
    while !done.load(Ordering::SeqCst) {
        peak = peak.max(s.rss_kib());
        if served < 3 {
            still_serves(&s);
            served += 1;
        }
        wait_for(Duration::from_millis(200), || done.load(Ordering::SeqCst));
    }
    let sent = writer.join().unwrap();
    assert!(c.reply().starts_with("250 ok "));
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} MiB in {secs:.1} s; RSS {before} KiB, peak {peak} KiB",
        sent >> 20
    );
    assert!(
        peak - before < 16 * 1024,
        "RSS grew from {before} to {peak} KiB"
    );
    assert_eq!(served, 3);
    assert_eq!(c.cmd("QUIT\r\n"), "221 localhost\r\n");
}
