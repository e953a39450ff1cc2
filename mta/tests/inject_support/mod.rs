//! A QMAILHOME in a tempdir for running qmail-inject and sendmail, with a
//! fake queue program (`QMAILQUEUE=fakeqq`) that saves the message (fd 0)
//! to `msg` and the envelope (fd 1) to `env`, and exits with the number in
//! `qqexit` (0 if absent). Use with `mod inject_support;`.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub const INJECT: &str = env!("CARGO_BIN_EXE_qmail-inject");
pub const SENDMAIL: &str = env!("CARGO_BIN_EXE_sendmail");
pub const MAILQ: &str = env!("CARGO_BIN_EXE_mailq");

pub struct Root {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Root {
    /// control/me = me.example; defaulthost = dh; defaultdomain =
    /// dd.example; idhost = id.example; USER = u.
    pub fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("control")).unwrap();
        let r = Root {
            dir,
            vars: vec![("USER".into(), "u".into())],
        };
        r.control("me", "me.example\n");
        r.control("defaulthost", "dh\n");
        r.control("defaultdomain", "dd.example\n");
        r.control("idhost", "id.example\n");
        let script = r.path().join("fakeqq");
        std::fs::write(
            &script,
            "#!/bin/sh\ncat > msg\ncat <&1 > env\nif [ -f qqexit ]; then exit $(cat qqexit); fi\nexit 0\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        r
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn control(&self, name: &str, value: &str) {
        std::fs::write(self.path().join("control").join(name), value).unwrap();
    }

    pub fn set(&mut self, k: &str, v: &str) {
        self.vars.push((k.into(), v.into()));
    }

    /// Runs `prog` with `args` and `input` on stdin, in a clean
    /// environment: PATH, QMAILHOME, QMAILQUEUE=fakeqq, and `vars`.
    pub fn run(&self, prog: &str, args: &[&str], input: &str) -> Output {
        let mut c = Command::new(prog);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("QMAILHOME", self.path())
            .env("QMAILQUEUE", "fakeqq")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// The message and envelope the fake queue saved.
    pub fn queued(&self) -> (String, String) {
        let msg = std::fs::read(self.path().join("msg")).expect("nothing queued");
        let env = std::fs::read(self.path().join("env")).expect("no envelope");
        (
            String::from_utf8(msg).unwrap(),
            String::from_utf8(env).unwrap(),
        )
    }

    pub fn nothing_queued(&self) -> bool {
        !self.path().join("env").exists()
            || std::fs::read(self.path().join("env")).unwrap().is_empty()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// True if `line` is `Message-ID: <14 digits.pid.qmail@idhost>`.
pub fn is_message_id(line: &str, idhost: &str) -> bool {
    let Some(rest) = line.strip_prefix("Message-ID: <") else {
        return false;
    };
    let Some(rest) = rest.strip_suffix(&format!(".qmail@{idhost}>")) else {
        return false;
    };
    let Some((stamp, pid)) = rest.split_once('.') else {
        return false;
    };
    stamp.len() == 14
        && stamp.bytes().all(|b| b.is_ascii_digit())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
}

/// True if `line` is `Date: D Mon YYYY HH:MM:SS -0000`.
pub fn is_date(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("Date: ") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(' ').collect();
    parts.len() == 5
        && (1..=2).contains(&parts[0].len())
        && !parts[0].starts_with('0')
        && parts[1].len() == 3
        && parts[2].len() == 4
        && parts[3].len() == 8
        && parts[4] == "-0000"
}
