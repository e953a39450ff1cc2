//! Test harness for the POP3 programs over real loopback sockets: a
//! listener on 127.0.0.1:0 and, per connection, `qmail-popup` with the
//! accepted socket as fd 0 and fd 1 and the TCP* environment set, as
//! tcpserver would run it. The root is a QMAILHOME in unprivileged mode
//! with the user `joe` (password `joe's secret`) whose home is
//! `ROOT/home/joe` with an empty `Maildir`.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

pub const PASSWORD: &str = "joe's secret";
pub const POPUP: &str = env!("CARGO_BIN_EXE_qmail-popup");
pub const POP3D: &str = env!("CARGO_BIN_EXE_qmail-pop3d");
pub const CHECKPASSWORD: &str = env!("CARGO_BIN_EXE_mta-checkpassword");
pub const PASSWD: &str = env!("CARGO_BIN_EXE_mta-passwd");

pub struct Server {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    listener: TcpListener,
    pub env: Vec<(String, String)>,
}

impl Server {
    pub fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = Server {
            _dir: dir,
            root,
            listener,
            env: vec![
                ("TCPREMOTEIP".into(), "127.0.0.1".into()),
                ("TCPLOCALIP".into(), "127.0.0.1".into()),
                ("TCPLOCALHOST".into(), "pop.example.com".into()),
            ],
        };
        s.add_user("joe", PASSWORD);
        s
    }

    pub fn home(&self, user: &str) -> PathBuf {
        self.root.join("home").join(user)
    }

    pub fn maildir(&self) -> PathBuf {
        self.home("joe").join("Maildir")
    }

    /// Adds `user` with `mta-passwd set` and gives them an empty Maildir.
    pub fn add_user(&self, user: &str, password: &str) {
        let home = self.home(user);
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
        }
        let mut c = self
            .command(PASSWD)
            .args(["set", user, "--home"])
            .arg(&home)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(c.stdin.take().unwrap(), "{password}").unwrap();
        assert!(c.wait().unwrap().success());
    }

    /// A command with the server's environment (and nothing else but PATH).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
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

    pub fn set(&mut self, k: &str, v: &str) {
        self.env.retain(|(a, _)| a != k);
        self.env.push((k.to_string(), v.to_string()));
    }

    /// Puts a message file at `rel` (under the maildir) with an mtime
    /// `age` seconds in the past (qmail-pop3d skips the current second).
    pub fn deliver(&self, rel: &str, body: &str, age: u64) {
        self.deliver_at(rel, body, SystemTime::now() - Duration::from_secs(age));
    }

    /// Puts a message file at `rel` with the mtime `t`.
    pub fn deliver_at(&self, rel: &str, body: &str, t: SystemTime) {
        let p = self.maildir().join(rel);
        std::fs::write(&p, body).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(t).unwrap();
    }

    /// The names in `new/` or `cur/`, sorted.
    pub fn names(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.maildir().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// Connects a client and runs `qmail-popup ARGS...` on the socket.
    pub fn connect_with(&self, args: &[OsString]) -> Conn {
        self.connect_program(POPUP.as_ref(), args)
    }

    /// Connects a client and runs `PROGRAM ARGS...` on the socket.
    pub fn connect_program(&self, program: &std::ffi::OsStr, args: &[OsString]) -> Conn {
        let client = TcpStream::connect(self.listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let (accepted, _) = self.listener.accept().unwrap();
        let out = accepted.try_clone().unwrap();
        let child = self
            .command(program)
            .args(args)
            .stdin(Stdio::from(OwnedFd::from(accepted)))
            .stdout(Stdio::from(OwnedFd::from(out)))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Conn { client, child }
    }

    /// The usual chain:
    /// `qmail-popup pop.example.com mta-checkpassword qmail-pop3d Maildir`.
    pub fn connect(&self) -> Conn {
        self.connect_with(&[
            "pop.example.com".into(),
            CHECKPASSWORD.into(),
            POP3D.into(),
            "Maildir".into(),
        ])
    }

    /// Connects and logs in as joe; returns after qmail-pop3d's `+OK `.
    pub fn login(&self) -> Conn {
        let mut c = self.connect();
        c.greeting();
        c.send(&format!("USER joe\r\nPASS {PASSWORD}\r\n"));
        c.expect("+OK \r\n+OK \r\n");
        c
    }

    /// A shell script (run from the root) as a command line:
    /// `/bin/sh PATH`. Running it through sh, rather than exec'ing the
    /// fresh file, avoids ETXTBSY when another test thread forks while the
    /// file is open for writing.
    pub fn script(&self, name: &str, body: &str) -> Vec<OsString> {
        let p = self.root.join(name);
        std::fs::write(
            &p,
            format!("cd '{}' || exit 111\n{body}", self.root.display()),
        )
        .unwrap();
        vec!["/bin/sh".into(), p.into()]
    }

    pub fn file(&self, rel: impl AsRef<Path>) -> Vec<u8> {
        std::fs::read(self.root.join(rel)).unwrap_or_default()
    }
}

pub struct Conn {
    pub client: TcpStream,
    pub child: Child,
}

impl Conn {
    pub fn send(&mut self, s: &str) {
        self.client.write_all(s.as_bytes()).unwrap();
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

    /// Reads the greeting, checks its form, returns the timestamp.
    pub fn greeting(&mut self) -> String {
        let g = self.line();
        let ts = g.strip_prefix("+OK ").unwrap_or_else(|| panic!("{g}"));
        let inner = ts
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix("@pop.example.com>"))
            .unwrap_or_else(|| panic!("{g}"));
        let (pid, time) = inner.split_once('.').unwrap_or_else(|| panic!("{g}"));
        assert!(
            pid.parse::<u32>().is_ok() && time.parse::<u64>().is_ok(),
            "{g}"
        );
        ts.to_string()
    }

    /// Everything until the server closes, then the popup's exit code.
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
        // The hang-up also ends a qmail-pop3d or stub the popup started
        // (they read the same socket); then the popup itself is stopped.
        let _ = self.client.shutdown(std::net::Shutdown::Both);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
