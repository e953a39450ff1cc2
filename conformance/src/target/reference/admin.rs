//! The reference target's [`Admin`]: qmail-send's pid from
//! `run/qmail-send.pid`, signal delivery watched in `/proc/PID/status`,
//! the programs of `R/bin` run with `QMAILHOME=R` in unprivileged mode,
//! the MTA's processes found by process group (the supervisor leads its
//! own), and `control/dnsserver` + `control/remoteport` (the MTA's own
//! controls) for the scenario's network.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{write, RefInstance};
use crate::scenario::ops::SendSignal;
use crate::target::admin::{Admin, Proc, Program, Ran};
use crate::target::{wait_until, TargetError};

impl RefInstance {
    fn send_pid(&self) -> Result<i32, TargetError> {
        let f = self.root.join("run/qmail-send.pid");
        std::fs::read_to_string(&f)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .filter(|&p| alive(p))
            .ok_or_else(|| TargetError::Failed(format!("{}: no running qmail-send", f.display())))
    }

    /// `root`, and `uid`/`gid` of local deliveries (every user of an
    /// unprivileged root shares them: the default `users/assign` line).
    pub(super) fn extra_var(&self, name: &str) -> Option<String> {
        match name {
            "root" => Some(self.root.display().to_string()),
            "uid" | "gid" => {
                let assign = std::fs::read_to_string(self.root.join("users/assign")).ok()?;
                let f: Vec<&str> = assign
                    .lines()
                    .find(|l| l.starts_with('=') && l.split(':').count() > 4)?
                    .split(':')
                    .collect();
                Some(f[if name == "uid" { 2 } else { 3 }].to_string())
            }
            _ => None,
        }
    }
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Whether signal `sig` is pending for `pid` (thread or process set).
fn pending(pid: i32, sig: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (sig - 1);
    status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .any(|m| m & bit != 0)
}

/// Reads `r` to the end on a thread.
fn drain(mut r: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = r.read_to_end(&mut b);
        let _ = tx.send(b);
    });
    rx
}

impl Admin for RefInstance {
    fn signal(&mut self, sig: SendSignal) -> Result<(), TargetError> {
        use nix::sys::signal::Signal;
        let pid = self.send_pid()?;
        let s = match sig {
            SendSignal::Hup => Signal::SIGHUP,
            SendSignal::Alrm => Signal::SIGALRM,
            SendSignal::Term => Signal::SIGTERM,
        };
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), s)
            .map_err(|e| TargetError::io(format!("kill -{} {pid}", sig.name()))(e.into()))?;
        if !wait_until(Duration::from_secs(10), || {
            !alive(pid) || !pending(pid, s as i32)
        }) {
            return Err(TargetError::Failed(format!(
                "SIG{} to qmail-send ({pid}) still pending after 10 s",
                sig.name()
            )));
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<(), TargetError> {
        self.stop_mta();
        Ok(())
    }

    fn start(&mut self) -> Result<(), TargetError> {
        if self.supervisor.is_some() {
            return Err(TargetError::Failed("the MTA is already running".into()));
        }
        self.start_mta()
    }

    fn run(&mut self, p: &Program<'_>) -> Result<Ran, TargetError> {
        let bin = self.root.join("bin").join(p.name);
        if !bin.is_file() {
            return Err(TargetError::Failed(format!(
                "{} does not exist",
                bin.display()
            )));
        }
        let path = format!(
            "{}:{}",
            self.root.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(&bin);
        cmd.args(p.args)
            .current_dir(&self.root)
            .env_remove("QMAILQUEUE")
            .env_remove("MTA_CRASHPOINT")
            .env("QMAILHOME", &self.root)
            .env("MTA_MODE", "unprivileged")
            .env("PATH", path)
            .envs(p.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        let mut envelope = None;
        match &p.fd1 {
            Some(bytes) => {
                let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                    .map_err(|e| TargetError::io("pipe")(e.into()))?;
                cmd.stdout(Stdio::from(r));
                envelope = Some((std::fs::File::from(w), bytes.clone()));
            }
            None => {
                cmd.stdout(Stdio::piped());
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(TargetError::io(format!("running {}", bin.display())))?;
        // Our copy of the pipe's read end went with `cmd`'s Stdio; write
        // the fd 1 bytes and the input on threads (a program may read
        // them in either order, or not at all).
        drop(cmd);
        if let Some((mut f, bytes)) = envelope {
            std::thread::spawn(move || {
                let _ = f.write_all(&bytes);
            });
        }
        if let Some(mut stdin) = child.stdin.take() {
            let input = p.stdin.clone();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let out = child.stdout.take().map(drain);
        let err = child.stderr.take().map(drain);
        let deadline = Instant::now() + p.timeout;
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child
                .try_wait()
                .map_err(TargetError::io(format!("waiting for {}", p.name)))?
            {
                break st;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                let _ = child.kill();
                break child
                    .wait()
                    .map_err(TargetError::io(format!("waiting for {}", p.name)))?;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Descendants may hold the pipes a little longer.
        let take = |rx: Option<std::sync::mpsc::Receiver<Vec<u8>>>| {
            rx.and_then(|r| r.recv_timeout(Duration::from_secs(5)).ok())
                .unwrap_or_default()
        };
        Ok(Ran {
            code: status.code(),
            stdout: take(out),
            stderr: take(err),
            timed_out,
        })
    }

    fn processes(&self) -> Result<Vec<Proc>, TargetError> {
        let Some(leader) = self.supervisor.as_ref().map(|c| c.id() as i32) else {
            return Ok(Vec::new());
        };
        let mut v = Vec::new();
        let rd = std::fs::read_dir("/proc").map_err(TargetError::io("reading /proc"))?;
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp ...; comm may contain spaces.
            let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
                continue;
            };
            let pgrp = rest
                .split_whitespace()
                .nth(2)
                .and_then(|p| p.parse::<i32>().ok());
            if pgrp != Some(leader) {
                continue;
            }
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok());
            let name = std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .and_then(|c| {
                    let argv0 = c.split(|&b| b == 0).next()?.to_vec();
                    let argv0 = String::from_utf8_lossy(&argv0).into_owned();
                    Some(argv0.rsplit('/').next().unwrap_or("").to_string())
                })
                .unwrap_or_default();
            if let (Some(uid), false) = (uid, name.is_empty()) {
                v.push(Proc { pid, name, uid });
            }
        }
        Ok(v)
    }

    fn account_uid(&self, _account: &str) -> Option<u32> {
        // Unprivileged mode: every qmail account is the invoking user.
        Some(nix::unistd::getuid().as_raw())
    }

    fn use_network(&mut self, dns: SocketAddr, port: u16) -> Result<(), TargetError> {
        let c = self.control();
        write(&c.join("dnsserver"), format!("{dns}\n").as_bytes())?;
        write(&c.join("remoteport"), format!("{port}\n").as_bytes())?;
        let routes = format!(
            "{}:{}:{}\n",
            self.vars.remote,
            self.sink.ip(),
            self.sink.port()
        );
        write(&c.join("smtproutes"), routes.as_bytes())
    }
}
