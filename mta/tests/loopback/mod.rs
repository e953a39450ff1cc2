//! What the inetd-style test harnesses (smtpd, qmtp, pop3) share: a
//! listener on 127.0.0.1:0 that runs a server program per connection with
//! the accepted socket as fd 0 and fd 1 and the TCP* environment set, as
//! tcpserver would; the client's end of such a connection; and a fake
//! qmail-queue.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A fake qmail-queue: saves its pid to `pid`, the message (fd 0) to
/// `msg` and the envelope (fd 1) to `env`, then exits with `code`.
pub fn fake_queue(root: &Path, name: &str, code: i32) {
    let script = format!("#!/bin/sh\necho $$ > pid\ncat > msg\ncat <&1 > env\nexit {code}\n");
    let p = root.join(name);
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Gives a harness type with an `inetd: Inetd` field Inetd's methods and
/// fields (`root`, `env`, `set`, `port`, ...) by Deref.
macro_rules! deref_inetd {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = Inetd;
            fn deref(&self) -> &Inetd {
                &self.inetd
            }
        }
        impl std::ops::DerefMut for $t {
            fn deref_mut(&mut self) -> &mut Inetd {
                &mut self.inetd
            }
        }
    };
}

/// A loopback listener whose connections are served by programs run for
/// the QMAILHOME `root` (unprivileged mode) with `env` added.
pub struct Inetd {
    pub root: PathBuf,
    pub listener: TcpListener,
    pub env: Vec<(String, String)>,
}

impl Inetd {
    pub fn new(root: &Path, env: &[(&str, &str)]) -> Inetd {
        Inetd {
            root: root.to_path_buf(),
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn set(&mut self, k: &str, v: &str) {
        self.unset(k);
        self.env.push((k.to_string(), v.to_string()));
    }

    pub fn unset(&mut self, k: &str) {
        self.env.retain(|(a, _)| a != k);
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// A command with the server's environment (and nothing else but PATH).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("QMAILHOME", &self.root)
            .env("MTA_MODE", "unprivileged");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `program args...` on an accepted connection.
    pub fn spawn_on(&self, accepted: TcpStream, program: &OsStr, args: &[&OsStr]) -> Child {
        let out = accepted.try_clone().unwrap();
        self.command(program)
            .args(args)
            .stdin(Stdio::from(OwnedFd::from(accepted)))
            .stdout(Stdio::from(OwnedFd::from(out)))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }

    /// Connects a client and runs `program args...` on the accepted socket.
    pub fn connect(&self, program: &OsStr, args: &[&OsStr]) -> Conn {
        let client = TcpStream::connect(self.listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let (accepted, _) = self.listener.accept().unwrap();
        let child = self.spawn_on(accepted, program, args);
        Conn { client, child }
    }
}

/// The client's end of a served connection, and the server process.
pub struct Conn {
    pub client: TcpStream,
    pub child: Child,
}

impl Conn {
    pub fn send(&mut self, b: impl AsRef<[u8]>) {
        self.client.write_all(b.as_ref()).unwrap();
    }

    /// Reads exactly `want.len()` bytes and compares them.
    pub fn expect(&mut self, want: &str) {
        let mut buf = vec![0u8; want.len()];
        self.client
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reading {want:?}: {e}"));
        assert_eq!(String::from_utf8_lossy(&buf), want);
    }

    /// Reads one CRLF-terminated line (without CRLF).
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

    /// Reads one netstring and returns its content.
    pub fn netstring(&mut self) -> String {
        let mut len = Vec::new();
        let mut b = [0u8; 1];
        loop {
            self.client.read_exact(&mut b).unwrap();
            if b[0] == b':' {
                break;
            }
            len.push(b[0]);
        }
        let n: usize = String::from_utf8(len).unwrap().parse().unwrap();
        let mut v = vec![0u8; n + 1];
        self.client.read_exact(&mut v).unwrap();
        assert_eq!(v.pop(), Some(b','));
        String::from_utf8(v).unwrap()
    }

    /// Closes our sending side.
    pub fn shutdown(&mut self) {
        self.client.shutdown(std::net::Shutdown::Write).unwrap();
    }

    /// Everything until the server closes; then its exit code.
    pub fn rest(mut self) -> (String, i32) {
        let mut v = Vec::new();
        self.client.read_to_end(&mut v).unwrap();
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        (String::from_utf8_lossy(&v).into_owned(), code)
    }

    /// Closes the client's side and waits for the server to end.
    pub fn hang_up(mut self) -> i32 {
        self.client.shutdown(std::net::Shutdown::Both).unwrap();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The hang-up also ends whatever the server started on the same
        // socket (qmail-popup's qmail-pop3d); then the server is stopped.
        let _ = self.client.shutdown(std::net::Shutdown::Both);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
