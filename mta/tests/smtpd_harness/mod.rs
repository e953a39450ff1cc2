//! Test harness for qmail-smtpd over real loopback sockets: a listener on
//! 127.0.0.1:0, and per connection the `qmail-smtpd` binary with the
//! accepted socket as fd 0 and fd 1 and the TCP* environment set, as
//! tcpserver would run it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    listener: TcpListener,
    pub env: Vec<(String, String)>,
}

/// A fake qmail-queue: saves the message (fd 0) to `msg`, the envelope
/// (fd 1) to `env` and its pid to `pid`, then exits with `code`.
pub fn fake_queue(root: &Path, name: &str, code: i32) {
    let script = format!("#!/bin/sh\necho $$ > pid\ncat > msg\ncat <&1 > env\nexit {code}\n");
    let p = root.join(name);
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Server {
    /// A home with `control/me` = `mx.example.com` and the fake queue
    /// `fakeqq` as QMAILQUEUE.
    pub fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("control")).unwrap();
        fake_queue(&root, "fakeqq", 0);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut s = Server {
            _dir: dir,
            root,
            listener,
            env: Vec::new(),
        };
        s.control("me", "mx.example.com\n");
        s.set("QMAILQUEUE", "fakeqq");
        s.set("TCPREMOTEIP", "192.0.2.7");
        s.set("TCPLOCALHOST", "mx.example.com");
        s
    }

    pub fn control(&self, name: &str, text: &str) {
        std::fs::write(self.root.join("control").join(name), text).unwrap();
    }

    pub fn remove_control(&self, name: &str) {
        std::fs::remove_file(self.root.join("control").join(name)).unwrap();
    }

    pub fn set(&mut self, k: &str, v: &str) {
        self.unset(k);
        self.env.push((k.to_string(), v.to_string()));
    }

    pub fn unset(&mut self, k: &str) {
        self.env.retain(|(a, _)| a != k);
    }

    /// Connects a client and starts qmail-smtpd on the accepted socket.
    pub fn connect(&self) -> Conn {
        let client = TcpStream::connect(self.listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let (accepted, _) = self.listener.accept().unwrap();
        let out = accepted.try_clone().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qmail-smtpd"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("QMAILHOME", &self.root)
            .env("MTA_MODE", "unprivileged")
            .stdin(Stdio::from(OwnedFd::from(accepted)))
            .stdout(Stdio::from(OwnedFd::from(out)))
            .stderr(Stdio::inherit());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Conn { client, child }
    }

    pub fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.root.join(name)).unwrap_or_default()
    }

    /// What the fake queue saved: (message, envelope).
    pub fn queued(&self) -> (String, Vec<u8>) {
        (
            String::from_utf8_lossy(&self.file("msg")).into_owned(),
            self.file("env"),
        )
    }
}

pub struct Conn {
    pub client: TcpStream,
    pub child: Child,
}

impl Conn {
    pub fn send(&mut self, s: &str) {
        self.send_bytes(s.as_bytes());
    }

    pub fn send_bytes(&mut self, b: &[u8]) {
        self.client.write_all(b).unwrap();
    }

    /// Reads exactly `want.len()` bytes and compares them.
    pub fn expect(&mut self, want: &str) {
        let mut buf = vec![0u8; want.len()];
        self.client.read_exact(&mut buf).unwrap_or_else(|e| {
            panic!("reading {want:?}: {e}");
        });
        assert_eq!(String::from_utf8_lossy(&buf), want);
    }

    /// Reads one CRLF-terminated reply line (without CRLF).
    pub fn line(&mut self) -> String {
        let mut v = Vec::new();
        let mut b = [0u8; 1];
        while !v.ends_with(b"\r\n") {
            match self.client.read(&mut b) {
                Ok(1) => v.push(b[0]),
                other => panic!("connection ended after {v:?}: {other:?}"),
            }
        }
        v.truncate(v.len() - 2);
        String::from_utf8(v).unwrap()
    }

    /// Everything until the server closes; then waits for its exit code.
    pub fn rest(mut self) -> (String, i32) {
        let mut v = Vec::new();
        self.client.read_to_end(&mut v).unwrap();
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        (String::from_utf8_lossy(&v).into_owned(), code)
    }

    /// MAIL, RCPT, DATA with their replies checked, ready for the body.
    pub fn start_data(&mut self, from: &str, to: &str) {
        self.send(&format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n"));
        self.expect("250 ok\r\n250 ok\r\n354 go ahead\r\n");
    }

    /// Reads a `250 ok <time> qp <pid>` reply and returns the qp.
    pub fn accepted(&mut self) -> u32 {
        let l = self.line();
        let parts: Vec<&str> = l.split(' ').collect();
        assert_eq!(parts.len(), 5, "{l}");
        assert_eq!(&parts[..2], ["250", "ok"], "{l}");
        assert!(parts[2].parse::<u64>().is_ok(), "{l}");
        assert_eq!(parts[3], "qp", "{l}");
        parts[4].parse().unwrap()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const G: &str = "220 mx.example.com ESMTP\r\n";
