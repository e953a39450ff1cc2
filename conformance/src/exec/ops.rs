//! Running the steps of [`crate::scenario::ops`]: signals, stop/start,
//! writes, programs, the queue's clock, log waits and the scenario's
//! network. The `check` step is [`super::opscheck`].

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Failure, Session, Skip};
use crate::escape;
use crate::network::Network;
use crate::scenario::ops::{Op, Run, WaitLog, Write};
use crate::target::admin::{Admin, Program};
use crate::target::wait_until;

impl Session<'_> {
    fn admin(&mut self) -> Result<&mut dyn Admin, Failure> {
        self.inst
            .admin()
            .ok_or_else(|| Failure::plain("the target offers no signals, programs or network"))
    }

    pub(super) fn home_dir(&self) -> Result<PathBuf, Failure> {
        self.inst
            .qmail_home()
            .ok_or_else(|| Failure::plain("the target's qmail home is not reachable"))
    }

    pub(super) fn op(&mut self, op: &Op) -> Result<(), Skip> {
        match op {
            Op::Signal(sig) => {
                self.t.note(format!("SIG{} to qmail-send", sig.name()));
                self.admin()?
                    .signal(*sig)
                    .map_err(|e| Failure::plain(format!("signal: {e}")))?;
            }
            Op::Stop => {
                self.t.note("stop the MTA");
                self.admin()?
                    .stop()
                    .map_err(|e| Failure::plain(format!("stop: {e}")))?;
            }
            Op::Start => {
                self.t.note("start the MTA");
                self.admin()?
                    .start()
                    .map_err(|e| Failure::plain(format!("start: {e}")))?;
            }
            Op::Write(w) => self.write(w)?,
            Op::Run(r) => self.run_program(r)?,
            Op::Age(secs) => {
                self.t.note(format!("age the queue by {secs} s"));
                let home = self.home_dir()?;
                age(&home.join("queue"), *secs).map_err(|e| Failure::plain(format!("age: {e}")))?;
            }
            Op::WaitLog(w) => self.wait_log(w)?,
            Op::Check(c) => self.check(c)?,
            Op::Network(spec) => {
                self.t.note("start the scenario's network");
                // The old one (if any) must release its addresses first.
                self.network = None;
                let net =
                    Network::start(spec).map_err(|e| Failure::plain(format!("network: {e}")))?;
                let (dns, port) = (net.dns_addr(), net.port());
                self.network = Some(net);
                self.admin()?
                    .use_network(dns, port)
                    .map_err(|e| Failure::plain(format!("network: {e}")))?;
            }
            Op::Host(h) => {
                self.t.note(format!("host {} is now {:?}", h.ip, h.mode));
                let net = self
                    .network
                    .as_mut()
                    .ok_or_else(|| Failure::plain("`host` needs a `network` step first"))?;
                net.set_host(h.ip, h.mode, &h.sink)
                    .map_err(|e| Failure::plain(format!("host: {e}")))?;
            }
        }
        Ok(())
    }

    fn write(&mut self, w: &Write) -> Result<(), Failure> {
        let base = match &w.user {
            Some(u) => self
                .inst
                .home(u)
                .map_err(|e| Failure::plain(e.to_string()))?,
            None => self.home_dir()?,
        };
        let p = base.join(&w.path);
        let io = |e: std::io::Error| Failure::plain(format!("write {}: {e}", p.display()));
        if w.remove {
            self.t.note(format!("remove {}", w.path));
            return match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(()),
            };
        }
        self.t.note(format!("write {}", w.path));
        let text = self.subst(&w.text.as_ref().map(|t| t.0.clone()).unwrap_or_default());
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        // Written beside and renamed, so a daemon never reads half a file.
        let tmp = p.with_extension("conformance-tmp");
        std::fs::write(&tmp, &text).map_err(io)?;
        let mode = w
            .mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o644);
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        std::fs::rename(&tmp, &p).map_err(io)
    }

    fn run_program(&mut self, r: &Run) -> Result<(), Failure> {
        let args: Vec<String> = r
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(&self.subst(a.as_bytes())).into_owned())
            .collect();
        let env: Vec<(String, String)> = r
            .env
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(&self.subst(v.as_bytes())).into_owned();
                (k.clone(), v)
            })
            .collect();
        let p = Program {
            name: &r.program,
            args: &args,
            env,
            stdin: self.subst(&r.stdin.as_ref().map(|t| t.0.clone()).unwrap_or_default()),
            fd1: r.fd1.as_ref().map(|t| self.subst(&t.0)),
            timeout: Duration::from_secs_f64(r.timeout.unwrap_or(30.0)),
        };
        self.t.note(format!("run {} {}", r.program, args.join(" ")));
        let ran = self
            .admin()?
            .run(&p)
            .map_err(|e| Failure::plain(format!("run {}: {e}", r.program)))?;
        let shown = format!(
            "exit {}\n== stdout\n{}== stderr\n{}",
            ran.code.map_or("by a signal".into(), |c| c.to_string()),
            escape::visible_lines(&ran.stdout),
            escape::visible_lines(&ran.stderr)
        );
        self.t.note(format!("{} ran: {shown}", r.program));
        if ran.timed_out {
            return Err(Failure::plain(format!(
                "run {}: still running after {:?}, killed",
                r.program, p.timeout
            )));
        }
        let allowed = r.exit.as_ref().map_or(vec![0], |e| e.0.clone());
        if !ran.code.is_some_and(|c| allowed.contains(&c)) {
            return Err(Failure {
                reason: format!("run {}: exit code not in {allowed:?}", r.program),
                diff: Some((format!("exit one of {allowed:?}\n"), shown)),
            });
        }
        let lookup = self.lookup();
        let all: Vec<&[u8]> = ran
            .stdout
            .split(|&b| b == b'\n')
            .chain(ran.stderr.split(|&b| b == b'\n'))
            .collect();
        for pat in &r.output {
            let re = pat.resolve(&lookup);
            if !all.iter().any(|l| re.is_match(l)) {
                return Err(Failure {
                    reason: format!("run {}: no output line matches /{}/", r.program, pat.source),
                    diff: Some((format!("<a line matching /{}/>\n", pat.source), shown)),
                });
            }
        }
        if let Some(want) = &r.stdout_lines {
            let text = ran.stdout.strip_suffix(b"\n").unwrap_or(&ran.stdout);
            let got: Vec<&[u8]> = if text.is_empty() {
                Vec::new()
            } else {
                text.split(|&b| b == b'\n').collect()
            };
            let bad = got.len() != want.len()
                || want
                    .iter()
                    .zip(&got)
                    .any(|(p, l)| !p.resolve(&lookup).is_match(l));
            if bad {
                let expected: String = want.iter().map(|p| format!("/{}/\n", p.source)).collect();
                return Err(Failure {
                    reason: format!("run {}: stdout lines differ", r.program),
                    diff: Some((expected, escape::visible_lines(&ran.stdout))),
                });
            }
        }
        Ok(())
    }

    pub(super) fn log_lines(&self) -> Result<Vec<String>, Failure> {
        let text = self
            .inst
            .log_text()
            .ok_or_else(|| Failure::plain("the target has no activity log"))?;
        Ok(text.lines().map(str::to_string).collect())
    }

    fn wait_log(&mut self, w: &WaitLog) -> Result<(), Failure> {
        let wait = Duration::from_secs_f64(w.timeout.unwrap_or(20.0));
        let re = w.pattern.resolve(&self.lookup());
        self.t.note(format!(
            "wait for {} log line(s) /{}/",
            w.count, w.pattern.source
        ));
        let count = |s: &Self| {
            s.log_lines()
                .map(|l| l.iter().filter(|l| re.is_match(l.as_bytes())).count())
                .unwrap_or(0)
        };
        if wait_until(wait, || count(self) >= w.count) {
            return Ok(());
        }
        Err(Failure {
            reason: format!(
                "{} log line(s) match /{}/ after {wait:?}, expected {}",
                count(self),
                w.pattern.source,
                w.count
            ),
            diff: Some((
                format!("<{} lines matching /{}/>\n", w.count, w.pattern.source),
                self.inst.log_text().unwrap_or_default(),
            )),
        })
    }

    /// The sink serving `host` (the harness sink for `None`).
    pub(super) fn sink_for(&self, host: Option<Ipv4Addr>) -> Result<&crate::sink::Sink, Failure> {
        match host {
            None => Ok(self.sink),
            Some(ip) => self
                .network
                .as_ref()
                .and_then(|n| n.sink(ip))
                .ok_or_else(|| Failure::plain(format!("host {ip} is not an accepting host"))),
        }
    }
}

/// Moves every timestamp of the queue `secs` into the past: the mtimes
/// (and atimes) of `info/`, `local/` and `remote/` files, and the times
/// of the timeout table's records (qmail-behaviour §2.5, §6.5).
pub fn age(queue: &Path, secs: u64) -> std::io::Result<()> {
    let back = |t: std::time::SystemTime| {
        t.checked_sub(Duration::from_secs(secs))
            .unwrap_or(std::time::UNIX_EPOCH)
    };
    for d in ["info", "local", "remote"] {
        for sub in std::fs::read_dir(queue.join(d))?.flatten() {
            for f in std::fs::read_dir(sub.path())?.flatten() {
                let p = f.path();
                let m = std::fs::metadata(&p)?;
                let times = std::fs::FileTimes::new()
                    .set_accessed(back(m.accessed()?))
                    .set_modified(back(m.modified()?));
                std::fs::File::options()
                    .write(true)
                    .open(&p)?
                    .set_times(times)?;
            }
        }
    }
    let tcpto = queue.join("lock/tcpto");
    if let Ok(mut t) = std::fs::read(&tcpto) {
        for rec in t.chunks_exact_mut(16) {
            if rec[..4] == [0, 0, 0, 0] {
                continue;
            }
            let when = u32::from_le_bytes([rec[8], rec[9], rec[10], rec[11]]);
            let when = when.saturating_sub(secs.min(u32::MAX as u64) as u32);
            rec[8..12].copy_from_slice(&when.to_le_bytes());
        }
        std::fs::write(&tcpto, &t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_moves_queue_times_back() {
        let d = tempfile::tempdir().unwrap();
        let q = d.path();
        for dir in ["info/3", "local/3", "remote/3", "lock"] {
            std::fs::create_dir_all(q.join(dir)).unwrap();
        }
        std::fs::write(q.join("info/3/26"), b"Fs@x\0").unwrap();
        let mut table = vec![0u8; 1024];
        table[..4].copy_from_slice(&[127, 0, 0, 5]);
        table[8..12].copy_from_slice(&1000u32.to_le_bytes());
        std::fs::write(q.join("lock/tcpto"), &table).unwrap();
        let before = std::fs::metadata(q.join("info/3/26"))
            .unwrap()
            .modified()
            .unwrap();
        age(q, 100).unwrap();
        let after = std::fs::metadata(q.join("info/3/26"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before.duration_since(after).unwrap().as_secs(), 100);
        let t = std::fs::read(q.join("lock/tcpto")).unwrap();
        assert_eq!(u32::from_le_bytes([t[8], t[9], t[10], t[11]]), 900);
    }
}
