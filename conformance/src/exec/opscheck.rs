//! The `check` step ([`crate::scenario::ops::Check`]): the queue's files,
//! the order and number of log lines, the SMTP connections a host got,
//! the MTA's processes, and directories in users' homes — at that moment
//! of the scenario (a failing check is retried for up to 3 s).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Failure, Session};
use crate::escape;
use crate::scenario::ops::{Check, ConnCheck, DirCheck, QueueCheck, QUEUE_DIRS};

/// How long a failing `check` is retried: the state it looks at may be a
/// moment behind the log line a scenario waited for (a client's QUIT on
/// its way to a host, a channel record marked just after its log line).
const SETTLE: Duration = Duration::from_secs(3);

impl Session<'_> {
    pub(super) fn check(&mut self, c: &Check) -> Result<(), Failure> {
        self.t.note("check");
        let deadline = Instant::now() + SETTLE;
        loop {
            match self.check_once(c) {
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                r => return r,
            }
        }
    }

    fn check_once(&mut self, c: &Check) -> Result<(), Failure> {
        if let Some(q) = &c.queue {
            let home = self.home_dir()?;
            self.check_queue(&home.join("queue"), q)?;
        }
        if !c.log_order.is_empty() {
            self.check_log_order(c)?;
        }
        for lc in &c.log_count {
            let re = lc.pattern.resolve(&self.lookup());
            let lines = self.log_lines()?;
            let n = lines.iter().filter(|l| re.is_match(l.as_bytes())).count();
            if n != lc.count {
                return Err(Failure {
                    reason: format!(
                        "{n} log line(s) match /{}/, expected {}",
                        lc.pattern.source, lc.count
                    ),
                    diff: Some((
                        format!("<{} lines matching /{}/>\n", lc.count, lc.pattern.source),
                        lines.join("\n"),
                    )),
                });
            }
        }
        for conn in &c.connections {
            self.check_connections(conn)?;
        }
        if !c.processes.is_empty() {
            self.check_processes(c)?;
        }
        for d in &c.dirs {
            self.check_dir(d)?;
        }
        Ok(())
    }

    fn check_log_order(&self, c: &Check) -> Result<(), Failure> {
        let lines = self.log_lines()?;
        let lookup = self.lookup();
        let mut from = 0;
        for p in &c.log_order {
            let re = p.resolve(&lookup);
            match lines[from..].iter().position(|l| re.is_match(l.as_bytes())) {
                Some(i) => from += i + 1,
                None => {
                    let expected: String = c
                        .log_order
                        .iter()
                        .map(|p| format!("/{}/\n", p.source))
                        .collect();
                    return Err(Failure {
                        reason: format!(
                            "no log line matches /{}/ after the lines matched before it",
                            p.source
                        ),
                        diff: Some((expected, lines.join("\n"))),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_connections(&self, c: &ConnCheck) -> Result<(), Failure> {
        let sink = self.sink_for(c.host)?;
        let who = c
            .host
            .map_or("the sink".to_string(), |h| format!("host {h}"));
        let sessions = sink.sessions();
        let listing = || {
            sessions
                .iter()
                .enumerate()
                .map(|(i, s)| format!("== connection {}\n{}\n", i + 1, s.commands.join("\n")))
                .collect::<String>()
        };
        if let Some(n) = c.count {
            if sessions.len() != n {
                return Err(Failure {
                    reason: format!("{who}: {} connection(s), expected {n}", sessions.len()),
                    diff: Some((format!("<{n} connections>\n"), listing())),
                });
            }
        }
        if let Some(n) = c.messages {
            let got = sink.transactions().len();
            if got != n {
                return Err(Failure::plain(format!(
                    "{who}: {got} message(s) received, expected {n}"
                )));
            }
        }
        if let Some(want) = &c.commands {
            let lookup = self.lookup();
            for (i, s) in sessions.iter().enumerate() {
                let ok = s.commands.len() == want.len()
                    && want
                        .iter()
                        .zip(&s.commands)
                        .all(|(p, l)| p.resolve(&lookup).is_match(l.as_bytes()));
                if !ok {
                    let expected: String =
                        want.iter().map(|p| format!("/{}/\n", p.source)).collect();
                    return Err(Failure {
                        reason: format!("{who}: the commands of connection {} differ", i + 1),
                        diff: Some((expected, s.commands.join("\n") + "\n")),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_processes(&mut self, c: &Check) -> Result<(), Failure> {
        let admin = self
            .inst
            .admin()
            .ok_or_else(|| Failure::plain("the target cannot list its processes"))?;
        let procs = admin
            .processes()
            .map_err(|e| Failure::plain(format!("processes: {e}")))?;
        let listing: String = procs
            .iter()
            .map(|p| format!("{} {} uid {}\n", p.pid, p.name, p.uid))
            .collect();
        for (name, want) in &c.processes {
            let mine: Vec<_> = procs.iter().filter(|p| &p.name == name).collect();
            if mine.len() != want.count {
                return Err(Failure {
                    reason: format!("{} {name} process(es), expected {}", mine.len(), want.count),
                    diff: Some((format!("<{} {name}>\n", want.count), listing)),
                });
            }
            if let Some(account) = &want.user {
                let uid = admin.account_uid(account).ok_or_else(|| {
                    Failure::plain(format!("the target does not know account {account}"))
                })?;
                if let Some(p) = mine.iter().find(|p| p.uid != uid) {
                    return Err(Failure::plain(format!(
                        "{name} ({}) runs as uid {}, expected {uid} ({account})",
                        p.pid, p.uid
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_dir(&self, d: &DirCheck) -> Result<(), Failure> {
        let dir = self
            .inst
            .home(&d.user)
            .map_err(|e| Failure::plain(e.to_string()))?
            .join(&d.path);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Failure::plain(format!("{}: {e}", dir.display())))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if let Some(n) = d.count {
            if names.len() != n {
                return Err(Failure {
                    reason: format!("{}: {} file(s), expected {n}", dir.display(), names.len()),
                    diff: Some((format!("<{n} files>\n"), names.join("\n"))),
                });
            }
        }
        if let Some(p) = &d.names {
            let re = p.resolve(&self.lookup());
            if let Some(bad) = names.iter().find(|n| !re.is_match(n.as_bytes())) {
                return Err(Failure::plain(format!(
                    "{}: file name {bad:?} does not match /{}/",
                    dir.display(),
                    p.source
                )));
            }
        }
        Ok(())
    }

    fn check_queue(&self, queue: &Path, q: &QueueCheck) -> Result<(), Failure> {
        let files = |d: &str| -> Result<Vec<(String, std::path::PathBuf)>, Failure> {
            queue_files(&queue.join(d)).map_err(|e| Failure::plain(format!("queue/{d}: {e}")))
        };
        let mut summary = String::new();
        for d in QUEUE_DIRS {
            summary.push_str(&format!("{d}: {}\n", files(d)?.len()));
        }
        for (d, want) in &q.files {
            let got = files(d)?.len();
            if got != *want {
                return Err(Failure {
                    reason: format!("queue/{d} holds {got} file(s), expected {want}"),
                    diff: Some((format!("{d}: {want}\n"), summary)),
                });
            }
        }
        let mess = files("mess")?;
        if q.inode_ids {
            let split = std::fs::read_dir(queue.join("mess"))
                .map(|r| r.flatten().filter(|e| e.path().is_dir()).count() as u64)
                .unwrap_or(0);
            for (sub, p) in &mess {
                let id: Option<u64> = p.file_name().and_then(|n| n.to_str()?.parse().ok());
                let ino = std::fs::metadata(p).map(|m| m.ino()).ok();
                let sub: Option<u64> = sub.parse().ok();
                if id.is_none() || id != ino || split == 0 || sub != id.map(|i| i % split) {
                    return Err(Failure::plain(format!(
                        "{}: inode {ino:?}, expected the name to be the inode number in \
                         mess/<inode mod {split}>/",
                        p.display()
                    )));
                }
            }
        }
        if let Some(pat) = &q.mess_starts {
            let re = pat.resolve(&self.lookup());
            for (_, p) in &mess {
                let b = std::fs::read(p).unwrap_or_default();
                let first = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
                if !re.is_match(first) {
                    return Err(Failure {
                        reason: format!("{} does not start with /{}/", p.display(), pat.source),
                        diff: Some((format!("/{}/\n", pat.source), escape::visible(first) + "\n")),
                    });
                }
            }
        }
        if q.channel.is_empty() && q.retry.is_empty() {
            return Ok(());
        }
        let info = files("info")?;
        let [(sub, info_path)] = info.as_slice() else {
            return Err(Failure {
                reason: "`channel` and `retry` need exactly one message in queue/info".into(),
                diff: Some(("info: 1\n".into(), summary)),
            });
        };
        let name = info_path.file_name().unwrap_or_default();
        for (ch, want) in &q.channel {
            let p = queue.join(ch).join(sub).join(name);
            let b = std::fs::read(&p).unwrap_or_default();
            let got: Vec<String> = b
                .split(|&c| c == 0)
                .filter(|r| !r.is_empty())
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .collect();
            let want: Vec<String> = want
                .iter()
                .map(|w| String::from_utf8_lossy(&self.subst(w.as_bytes())).into_owned())
                .collect();
            if got != want {
                return Err(Failure {
                    reason: format!(
                        "queue/{ch}/{sub}/{}: the records differ",
                        name.to_string_lossy()
                    ),
                    diff: Some((want.join("\n") + "\n", got.join("\n") + "\n")),
                });
            }
        }
        let mtime = |p: &Path| std::fs::metadata(p).map(|m| m.mtime());
        let birth = mtime(info_path)
            .map_err(|e| Failure::plain(format!("{}: {e}", info_path.display())))?;
        for (ch, allowed) in &q.retry {
            let p = queue.join(ch).join(sub).join(name);
            let t = mtime(&p).map_err(|e| Failure::plain(format!("{}: {e}", p.display())))?;
            if !allowed.contains(&(t - birth)) {
                return Err(Failure {
                    reason: format!(
                        "the next {ch} attempt is {} s after the message's birth, expected one of {allowed:?}",
                        t - birth
                    ),
                    diff: Some((format!("{allowed:?}\n"), format!("{}\n", t - birth))),
                });
            }
        }
        Ok(())
    }
}

/// The files of a queue directory: (split subdirectory or "", path).
fn queue_files(dir: &Path) -> std::io::Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            for f in std::fs::read_dir(&p)?.flatten() {
                out.push((name.clone(), f.path()));
            }
        } else {
            out.push((String::new(), p));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}
