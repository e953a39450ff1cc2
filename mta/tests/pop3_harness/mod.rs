//! Test harness for the POP3 programs over real loopback sockets: a
//! listener on 127.0.0.1:0 and, per connection, `qmail-popup` with the
//! accepted socket as fd 0 and fd 1 and the TCP* environment set, as
//! tcpserver would run it. The root is a QMAILHOME in unprivileged mode
//! with the user `joe` (password `joe's secret`) whose home is
//! `ROOT/home/joe` with an empty `Maildir`.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

#[macro_use]
#[path = "../loopback/mod.rs"]
mod loopback;
pub use loopback::{Conn, Inetd};

pub const PASSWORD: &str = "joe's secret";
pub const POPUP: &str = env!("CARGO_BIN_EXE_qmail-popup");
pub const POP3D: &str = env!("CARGO_BIN_EXE_qmail-pop3d");
pub const CHECKPASSWORD: &str = env!("CARGO_BIN_EXE_mta-checkpassword");
pub const PASSWD: &str = env!("CARGO_BIN_EXE_mta-passwd");

pub struct Server {
    _dir: tempfile::TempDir,
    inetd: Inetd,
}

deref_inetd!(Server);

impl Server {
    pub fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("TCPREMOTEIP", "127.0.0.1"),
            ("TCPLOCALIP", "127.0.0.1"),
            ("TCPLOCALHOST", "pop.example.com"),
        ];
        let inetd = Inetd::new(dir.path(), &env);
        let s = Server { _dir: dir, inetd };
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
    pub fn connect_program(&self, program: &OsStr, args: &[OsString]) -> Conn {
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        self.inetd.connect(program, &args)
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
        c.send(format!("USER joe\r\nPASS {PASSWORD}\r\n"));
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

/// POP3 on top of [`Conn`].
pub trait Pop3 {
    /// Reads the greeting, checks its form, returns the timestamp.
    fn greeting(&mut self) -> String;
}

impl Pop3 for Conn {
    fn greeting(&mut self) -> String {
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
}
