//! Test harness for qmail-qmtpd, qmail-qmqpd and qmail-qmqpc over real
//! loopback sockets: a home in a tempdir, a listener on 127.0.0.1:0, and
//! per connection the server binary with the accepted socket as fd 0 and
//! fd 1 and the TCP* environment set, as tcpserver would run it.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[macro_use]
#[path = "../loopback/mod.rs"]
mod loopback;
pub use loopback::{fake_queue, Conn, Inetd};

pub const QMTPD: &str = env!("CARGO_BIN_EXE_qmail-qmtpd");
pub const QMQPD: &str = env!("CARGO_BIN_EXE_qmail-qmqpd");
pub const QMQPC: &str = env!("CARGO_BIN_EXE_qmail-qmqpc");

/// The netstring of `s`.
pub fn ns(s: &[u8]) -> Vec<u8> {
    [format!("{}:", s.len()).as_bytes(), s, b","].concat()
}

/// A QMTP package: message (with its encoding byte), sender, recipients.
pub fn qmtp_package(message: &[u8], sender: &str, rcpts: &[&str]) -> Vec<u8> {
    let list: Vec<u8> = rcpts.iter().flat_map(|r| ns(r.as_bytes())).collect();
    [ns(message), ns(sender.as_bytes()), ns(&list)].concat()
}

/// A QMQP package: one netstring of message, sender, recipients.
pub fn qmqp_package(message: &[u8], sender: &str, rcpts: &[&str]) -> Vec<u8> {
    let mut inner = ns(message);
    inner.extend(ns(sender.as_bytes()));
    for r in rcpts {
        inner.extend(ns(r.as_bytes()));
    }
    ns(&inner)
}

pub struct Home {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Home {
    /// A home with `control/` and the fake queue `fakeqq`.
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("control")).unwrap();
        fake_queue(&root, "fakeqq", 0);
        Home { _dir: dir, root }
    }

    pub fn control(&self, name: &str, text: &str) {
        std::fs::write(self.root.join("control").join(name), text).unwrap();
    }

    /// A real queue: `queue/` and `bin/qmail-queue`.
    pub fn real_queue(&self) -> mta::queue::layout::Layout {
        let layout = mta::queue::layout::Layout::new(self.root.join("queue"));
        layout.create().unwrap();
        std::fs::create_dir_all(self.root.join("bin")).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_qmail-queue"),
            self.root.join("bin/qmail-queue"),
        )
        .unwrap();
        layout
    }

    pub fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.root.join(name)).unwrap_or_default()
    }

    /// The fake queue's pid, message and envelope.
    pub fn queued(&self) -> (u32, String, Vec<u8>) {
        let pid = String::from_utf8(self.file("pid")).unwrap();
        (
            pid.trim().parse().unwrap_or(0),
            String::from_utf8_lossy(&self.file("msg")).into_owned(),
            self.file("env"),
        )
    }
}

/// Files in the queue's `todo/` (each one a committed message).
pub fn todo(layout: &mta::queue::layout::Layout) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&layout.dir("todo"), &mut v);
    v
}

/// A server binary behind a loopback listener.
pub struct Server {
    pub bin: &'static str,
    inetd: Inetd,
}

deref_inetd!(Server);

impl Server {
    /// `bin` for `home`, with QMAILQUEUE=fakeqq and TCP* variables.
    pub fn new(bin: &'static str, home: &Home) -> Server {
        let env = [
            ("QMAILQUEUE", "fakeqq"),
            ("TCPREMOTEIP", "192.0.2.7"),
            ("TCPLOCALHOST", "mx.example.com"),
        ];
        Server {
            bin,
            inetd: Inetd::new(&home.root, &env),
        }
    }

    /// Connects a client and starts the server on the accepted socket.
    pub fn connect(&self) -> Conn {
        self.inetd.connect(self.bin.as_ref(), &[])
    }

    /// Serves the next connection (from another client, such as
    /// qmail-qmqpc) in a thread; joining gives the server's exit code.
    pub fn serve_one(self) -> std::thread::JoinHandle<i32> {
        std::thread::spawn(move || {
            let (accepted, _) = self.listener.accept().unwrap();
            let mut child = self.spawn_on(accepted, self.bin.as_ref(), &[]);
            child.wait().unwrap().code().unwrap_or(-1)
        })
    }
}

/// Checks a `Kok <time> qp <pid>` answer and returns the qp.
pub fn kok(answer: &str) -> u32 {
    let parts: Vec<&str> = answer.split(' ').collect();
    assert_eq!(parts.len(), 4, "{answer}");
    assert_eq!(parts[0], "Kok", "{answer}");
    let t: i64 = parts[1].parse().unwrap();
    assert!((t - mta::date::now()).abs() < 600, "{answer}");
    assert_eq!(parts[2], "qp", "{answer}");
    parts[3].parse().unwrap()
}

/// Runs qmail-qmqpc for `root` with `message` on fd 0 and `envelope` on
/// fd 1 (a pipe); returns its exit code.
pub fn qmqpc(root: &Path, message: &[u8], envelope: &[u8]) -> i32 {
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut w = std::fs::File::from(w);
    w.write_all(envelope).unwrap();
    drop(w);
    let mut child = Command::new(QMQPC)
        .env_clear()
        .env("QMAILHOME", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(r))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // qmqpc may exit before reading (no servers): ignore EPIPE.
    let _ = stdin.write_all(message);
    drop(stdin);
    child.wait().unwrap().code().unwrap_or(-1)
}
