//! Black-box tests of the real `qmail-queue` binary (spec §2).

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use mta::queue::layout::Layout;

struct Home {
    _dir: tempfile::TempDir,
    root: PathBuf,
    layout: Layout,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let layout = Layout::new(root.join("queue"));
    layout.create().unwrap();
    Home {
        _dir: dir,
        root,
        layout,
    }
}

/// Runs qmail-queue with `msg` on fd 0 and `env` in a pipe on fd 1.
/// Returns the exit status and the child's pid.
fn qq(root: &Path, msg: &[u8], env: &[u8], vars: &[(&str, &str)]) -> (ExitStatus, u32) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut w = std::fs::File::from(w);
    w.write_all(env).unwrap();
    drop(w);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qmail-queue"));
    cmd.env("QMAILHOME", root)
        .env("MTA_MODE", "unprivileged")
        .env_remove("MTA_ROLE")
        .env_remove("MTA_CRASHPOINT")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(r))
        .stderr(Stdio::inherit());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(msg);
    drop(stdin);
    (child.wait().unwrap(), pid)
}

fn ids(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    v.sort();
    v
}

fn mess_count(l: &Layout) -> usize {
    (0..23)
        .map(|i| {
            std::fs::read_dir(l.dir("mess").join(i.to_string()))
                .unwrap()
                .count()
        })
        .sum()
}

const MSG: &[u8] = b"Subject: hi\n\nhello\n";
const ENV: &[u8] = b"Fs@example.org\0Tr1@example.com\0Tr2@example.net\0\0";

#[test]
fn queues_a_message() {
    let h = home();
    // A reader on the trigger, so the pull can be seen.
    let mut trigger = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(h.layout.lock("trigger"))
        .unwrap();
    let (st, pid) = qq(&h.root, MSG, ENV, &[]);
    assert_eq!(st.code(), Some(0));

    let todo = ids(&h.layout.dir("todo"));
    assert_eq!(todo.len(), 1);
    let id = todo[0];
    let mess_path = h
        .layout
        .dir("mess")
        .join((id % 23).to_string())
        .join(id.to_string());
    assert_eq!(std::fs::metadata(&mess_path).unwrap().ino(), id);
    let mess = std::fs::read(&mess_path).unwrap();
    let uid = nix::unistd::getuid().as_raw();
    let prefix = format!("Received: (qmail {pid} invoked by uid {uid}); ");
    assert!(
        mess.starts_with(prefix.as_bytes()),
        "{}",
        String::from_utf8_lossy(&mess)
    );
    assert!(mess.ends_with(b" -0000\nSubject: hi\n\nhello\n"));
    // umask 033 and mode 0644 (spec §2.4 step 3).
    let mode = std::fs::metadata(&mess_path).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o644);

    let intd = std::fs::read(h.layout.todo(id)).unwrap();
    let want = format!("u{uid}\0p{pid}\0Fs@example.org\0Tr1@example.com\0Tr2@example.net\0");
    assert_eq!(intd, want.as_bytes());
    assert_eq!(ids(&h.layout.dir("pid")), Vec::<u64>::new());

    let mut b = [0u8; 8];
    assert_eq!(trigger.read(&mut b).unwrap(), 1);
}

#[test]
fn zero_recipients_are_allowed() {
    let h = home();
    let (st, _) = qq(&h.root, MSG, b"F\0\0", &[]);
    assert_eq!(st.code(), Some(0));
    let id = ids(&h.layout.dir("todo"))[0];
    assert!(std::fs::read(h.layout.todo(id))
        .unwrap()
        .ends_with(b"\0F\0"));
}

#[test]
fn address_of_1002_bytes_is_accepted_1003_is_11() {
    let h = home();
    let env = |n: usize| [b"F\0T".to_vec(), vec![b'a'; n], b"\0\0".to_vec()].concat();
    assert_eq!(qq(&h.root, MSG, &env(1002), &[]).0.code(), Some(0));
    assert_eq!(qq(&h.root, MSG, &env(1003), &[]).0.code(), Some(11));
    assert_eq!(ids(&h.layout.dir("todo")).len(), 1);
}

#[test]
fn envelope_not_starting_with_f_is_91() {
    let h = home();
    assert_eq!(qq(&h.root, MSG, b"Xs@x\0Tr@y\0\0", &[]).0.code(), Some(91));
    assert_eq!(qq(&h.root, MSG, b"Fs@x\0Ur@y\0\0", &[]).0.code(), Some(91));
    assert!(ids(&h.layout.dir("todo")).is_empty());
}

#[test]
fn truncated_envelope_queues_nothing() {
    let h = home();
    for env in [&b""[..], b"Fs@x", b"Fs@x\0Tr@y\0"] {
        let (st, _) = qq(&h.root, MSG, env, &[]);
        assert_eq!(st.code(), Some(54), "{env:?}");
    }
    assert!(ids(&h.layout.dir("todo")).is_empty());
    assert!(ids(&h.layout.dir("intd")).is_empty());
    assert_eq!(mess_count(&h.layout), 0);
}

#[test]
fn network_role_says_invoked_from_network() {
    let h = home();
    let (st, pid) = qq(&h.root, MSG, ENV, &[("MTA_ROLE", "network")]);
    assert_eq!(st.code(), Some(0));
    let id = ids(&h.layout.dir("todo"))[0];
    let mess = std::fs::read(h.layout.mess(id)).unwrap();
    let prefix = format!("Received: (qmail {pid} invoked from network); ");
    assert!(mess.starts_with(prefix.as_bytes()));
}

#[test]
fn bad_home_is_61_missing_queue_is_62() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(qq(&d.path().join("nope"), MSG, ENV, &[]).0.code(), Some(61));
    assert_eq!(qq(d.path(), MSG, ENV, &[]).0.code(), Some(62));
}

#[test]
fn crash_points_never_leave_a_half_queued_message() {
    let points = [
        "queue.pid.created",
        "queue.mess.linked",
        "queue.pid.unlinked",
        "queue.mess.synced",
        "queue.intd.synced",
        "queue.todo.linked",
    ];
    for p in points {
        let h = home();
        let (st, _) = qq(&h.root, MSG, ENV, &[("MTA_CRASHPOINT", p)]);
        assert_eq!(st.signal(), Some(libc::SIGABRT), "{p}: {st:?}");
        let todo = ids(&h.layout.dir("todo"));
        if p == "queue.todo.linked" {
            // Committed: todo and mess complete.
            assert_eq!(todo.len(), 1, "{p}");
            let id = todo[0];
            let t = std::fs::read(h.layout.todo(id)).unwrap();
            assert!(t.ends_with(b"Tr2@example.net\0"), "{p}");
            let m = std::fs::read(h.layout.mess(id)).unwrap();
            assert!(
                m.starts_with(b"Received: (qmail ") && m.ends_with(MSG),
                "{p}"
            );
        } else {
            assert!(todo.is_empty(), "{p}: not committed yet");
        }
    }
}

#[test]
fn unreadable_message_is_54_and_leaves_nothing() {
    let h = home();
    // A directory on fd 0: read() fails with EISDIR.
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    std::fs::File::from(w).write_all(ENV).unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_qmail-queue"))
        .env("QMAILHOME", &h.root)
        .env("MTA_MODE", "unprivileged")
        .env_remove("MTA_CRASHPOINT")
        .stdin(std::fs::File::open(&h.root).unwrap())
        .stdout(Stdio::from(r))
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(54));
    assert_eq!(mess_count(&h.layout), 0);
    assert!(ids(&h.layout.dir("pid")).is_empty());
}

/// Starts qmail-queue with fd 0 left open, waits until its mess file
/// exists (it is then blocked reading the message), sends `sig`, and
/// returns the exit status.
fn signal_while_reading(h: &Home, sig: nix::sys::signal::Signal) -> ExitStatus {
    let (r, _w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_qmail-queue"))
        .env("QMAILHOME", &h.root)
        .env("MTA_MODE", "unprivileged")
        .env_remove("MTA_CRASHPOINT")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(r))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while mess_count(&h.layout) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "qmail-queue never linked mess"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, sig).unwrap();
    let st = child.wait().unwrap();
    drop(child.stdin.take());
    st
}

#[test]
fn alarm_exits_52_without_cleaning_up() {
    let h = home();
    let st = signal_while_reading(&h, nix::sys::signal::Signal::SIGALRM);
    assert_eq!(st.code(), Some(52));
    // "thou shalt not clean up here": the mess file stays for the sweep.
    assert_eq!(mess_count(&h.layout), 1);
    assert!(ids(&h.layout.dir("todo")).is_empty());
}

#[test]
fn caught_bug_signal_exits_81() {
    let h = home();
    let st = signal_while_reading(&h, nix::sys::signal::Signal::SIGSEGV);
    assert_eq!(st.code(), Some(81));
}
