//! Runs `mta-listen` on a loopback port over an initialised (not started)
//! MTA root, and speaks SMTP to it. The listener is stopped (by its pid)
//! when dropped.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../common/mod.rs"]
pub mod common;

pub const LISTEN: &str = env!("CARGO_BIN_EXE_mta-listen");
pub const TCPRULES: &str = env!("CARGO_BIN_EXE_mta-tcprules");
/// The greeting of a root `mta init` made (`control/me` = localhost).
pub const GREETING: &str = "220 localhost ESMTP\r\n";

pub struct Listener {
    child: Child,
    pub addr: SocketAddr,
}

impl Listener {
    /// `mta-listen <args> smtp 127.0.0.1:0` for `root`.
    pub fn start(root: &Path, args: &[&str]) -> Listener {
        Listener::start_env(root, args, &[])
    }

    /// [`Listener::start`] with `env` added (QMAILQUEUE and
    /// MTA_QUEUE_EXEC are unset unless `env` sets them).
    pub fn start_env(root: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Listener {
        let mut c = Command::new(LISTEN);
        c.args(args)
            .args(["--print-addrs", "smtp", "127.0.0.1:0"])
            .env("QMAILHOME", root)
            .env("MTA_MODE", "unprivileged")
            .env_remove("QMAILQUEUE")
            .env_remove("MTA_QUEUE_EXEC")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().parse().unwrap();
        Listener { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn connect(&self) -> Client {
        Client::new(TcpStream::connect(self.addr).unwrap())
    }

    /// Connects and checks the default root's greeting.
    pub fn greeted(&self) -> Client {
        let mut c = self.connect();
        assert_eq!(c.reply(), GREETING);
        c
    }

    /// Resident memory of the listener, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Compiles `text` into `cdb` with mta-tcprules.
pub fn tcprules(cdb: &Path, text: &str) {
    let tmp = cdb.with_extension("tmp");
    let mut c = Command::new(TCPRULES)
        .arg(cdb)
        .arg(&tmp)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
}

pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Client {
    pub fn new(s: TcpStream) -> Client {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    pub fn send(&mut self, s: &str) {
        self.w.write_all(s.as_bytes()).unwrap();
    }

    /// One whole reply (continuation lines included).
    pub fn reply(&mut self) -> String {
        read_reply(&mut self.r)
    }

    /// Sends `cmd`, returns the reply.
    pub fn cmd(&mut self, cmd: &str) -> String {
        self.send(cmd);
        self.reply()
    }

    /// True when the server closed without sending anything.
    pub fn closed_silently(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}

pub fn read_reply(r: &mut impl BufRead) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "connection closed; so far {all:?}");
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

/// The messages in the root's queue (`queue/mess/*/*`).
pub fn queued(root: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(root.join("queue/mess"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            v.push(std::fs::read_to_string(f.path()).unwrap());
        }
    }
    v
}

pub fn control(root: &Path, name: &str, value: &str) {
    std::fs::write(root.join("control").join(name), value).unwrap();
}

pub fn rules_path(root: &Path) -> PathBuf {
    root.join("control/tcp.smtp.cdb")
}
