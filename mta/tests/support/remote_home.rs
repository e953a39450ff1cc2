//! A QMAILHOME for running `qmail-remote` by itself: `control/me` =
//! `me.test`, an empty `queue/lock/tcpto`, and helpers to route mail to a
//! loopback server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::dns::DnsServer;

pub struct RemoteHome {
    dir: tempfile::TempDir,
}

impl RemoteHome {
    pub fn new() -> RemoteHome {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("control")).unwrap();
        std::fs::create_dir_all(dir.path().join("queue/lock")).unwrap();
        std::fs::write(dir.path().join("queue/lock/tcpto"), [0u8; 1024]).unwrap();
        let q = RemoteHome { dir };
        q.control("me", "me.test\n");
        q
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn control(&self, name: &str, content: &str) {
        std::fs::write(self.path().join("control").join(name), content).unwrap();
    }

    pub fn tcpto(&self) -> PathBuf {
        self.path().join("queue/lock/tcpto")
    }

    /// Routes everything to `127.0.0.1:port` via smtproutes.
    pub fn route_to(&self, port: u16) {
        self.control("smtproutes", &format!(":[127.0.0.1]:{port}\n"));
    }

    /// Uses `dns` and sends unrouted mail to `port`.
    pub fn use_dns(&self, dns: &DnsServer, port: u16) {
        self.control("dnsserver", &format!("{}\n", dns.addr()));
        self.control("remoteport", &format!("{port}\n"));
    }

    /// Runs `qmail-remote ARGS` with the message on fd 0; returns fd 1 as
    /// text (NULs kept) after checking the exit code is 0.
    pub fn run(&self, args: &[&str], message: &[u8]) -> String {
        let msg = self.path().join("message");
        std::fs::write(&msg, message).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_qmail-remote"))
            .args(args)
            .env("QMAILHOME", self.path())
            .env("MTA_MODE", "unprivileged")
            .stdin(Stdio::from(std::fs::File::open(&msg).unwrap()))
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "qmail-remote always exits 0");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
