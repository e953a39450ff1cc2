//! A whole reference MTA for end-to-end tests: `mta init` in a tempdir,
//! `mta start --unprivileged --quiet`, injection through the root's own
//! `bin/qmail-queue`, and polling helpers. The MTA is stopped (SIGTERM,
//! then waited for) when the handle is dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MTA: &str = env!("CARGO_BIN_EXE_mta");

pub struct Mta {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    child: Option<Child>,
    pub env: Vec<(String, String)>,
    /// Run the MTA (and `inject_with_env`'s qmail-queue) as this uid/gid.
    pub run_as: Option<(u32, u32)>,
    /// The supervisor's exit code once it has been seen to exit.
    exited: Option<i32>,
}

impl Mta {
    /// A fresh root with the default configuration, not started.
    pub fn init() -> Mta {
        Mta::init_inner(None, None)
    }

    /// Like [`init`](Self::init), with the root at `root` (e.g. on a small
    /// filesystem the test mounted); the caller removes it.
    pub fn init_at(root: PathBuf) -> Mta {
        Mta::init_inner(None, Some(root))
    }

    /// Like [`init`](Self::init), but the root belongs to `uid:gid` and the
    /// MTA runs as that user (unprivileged mode as someone else, so a test
    /// running as root can still meet permission errors).
    pub fn init_as(uid: u32, gid: u32) -> Mta {
        Mta::init_inner(Some((uid, gid)), None)
    }

    fn init_inner(run_as: Option<(u32, u32)>, root: Option<PathBuf>) -> Mta {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let root = root.unwrap_or_else(|| dir.path().join("mta"));
        let mut c = Command::new(MTA);
        c.args(["init", "--unprivileged", "--root"])
            .arg(&root)
            .stdout(Stdio::null());
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            c.uid(uid).gid(gid);
        }
        let st = c.status().unwrap();
        assert!(st.success(), "mta init failed");
        // Many MTAs run at once in the tests: none listens on 2525 unless
        // a test asks (by writing control/smtplisten again). An empty file,
        // not a missing one: `mta start` re-creates missing defaults.
        std::fs::write(root.join("control").join("smtplisten"), "").unwrap();
        Mta {
            dir,
            root,
            child: None,
            env: Vec::new(),
            run_as,
            exited: None,
        }
    }

    fn as_user(&self, c: &mut Command) {
        use std::os::unix::process::CommandExt;
        if let Some((uid, gid)) = self.run_as {
            c.uid(uid).gid(gid);
        }
    }

    pub fn control(&self, name: &str, value: &str) {
        std::fs::write(self.root.join("control").join(name), value).unwrap();
    }

    pub fn user_home(&self) -> PathBuf {
        self.root.join("home/user")
    }

    /// Writes `~user/<name>` (a .qmail file) with mode 0644.
    pub fn dot_qmail(&self, name: &str, content: &str) {
        let p = self.user_home().join(name);
        std::fs::write(&p, content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// Adds a users/assign line (before the `+:` catch-all) and runs
    /// qmail-newu.
    pub fn assign(&self, line: &str) {
        let p = self.root.join("users/assign");
        let old = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{line}\n{old}")).unwrap();
        let st = Command::new(self.root.join("bin/qmail-newu"))
            .env("QMAILHOME", &self.root)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Starts the supervisor (with `self.env`) and waits until the new
    /// qmail-send has logged its first status line. On a restart the log
    /// already holds the previous run's lines, so only lines written after
    /// this call count.
    pub fn start(&mut self) {
        let from = self.log().len();
        self.spawn(true);
        // qmail-send logs its first status line once it is ready (its
        // signal handlers are in place by then).
        self.wait_log_from(from, "status: local 0/", Duration::from_secs(20));
    }

    /// Like [`Mta::start`], but without `--once`: the supervisor restarts
    /// qmail-send (after a second) whenever it dies.
    pub fn start_restarting(&mut self) {
        let from = self.log().len();
        self.spawn(false);
        self.wait_log_from(from, "status: local 0/", Duration::from_secs(20));
    }

    /// Starts the supervisor without waiting for qmail-send to be ready
    /// (for start-up failures); `once` = exit when qmail-send exits.
    pub fn spawn(&mut self, once: bool) {
        assert!(self.child.is_none());
        self.exited = None;
        let mut c = Command::new(MTA);
        c.args(["start", "--unprivileged", "--quiet"]);
        if once {
            c.arg("--once");
        }
        c.arg("--root")
            .arg(&self.root)
            .stdout(Stdio::null())
            .env_remove("MTA_CRASHPOINT")
            .env_remove("QMAILQUEUE");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        self.as_user(&mut c);
        self.child = Some(c.spawn().unwrap());
    }

    /// The supervisor's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `sig` to the supervisor (it passes ALRM and HUP on to
    /// qmail-send).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(pid) = self.pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
        }
    }

    /// SIGALRM through the supervisor: qmail-send retries deferred mail now.
    pub fn alarm(&self) {
        self.signal(nix::sys::signal::Signal::SIGALRM);
    }

    /// qmail-send's pid, from `ROOT/run/qmail-send.pid`.
    pub fn send_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.root.join("run/qmail-send.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// True when the current qmail-send (per `run/qmail-send.pid`) is
    /// alive and catches SIGTERM, i.e. a stop now is a clean stop.
    pub fn send_ready(&self) -> bool {
        let Some(pid) = self.send_pid() else {
            return false;
        };
        let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return false;
        };
        let caught = st
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            .unwrap_or(0);
        let zombie = st
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        !zombie && caught & (1 << (libc::SIGTERM - 1)) != 0
    }

    /// True while the supervisor runs; once it has exited its code is
    /// kept for [`Mta::exit_code`].
    pub fn running(&mut self) -> bool {
        if self.child.is_none() {
            return false;
        }
        self.wait_exit(Duration::ZERO);
        self.child.is_some()
    }

    /// The supervisor's exit code, once it has been seen to exit.
    pub fn exit_code(&self) -> Option<i32> {
        self.exited
    }

    /// The queue's ids in `todo/` (for tests that tamper with the queue
    /// while the MTA is stopped).
    pub fn todo_ids(&self) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(self.root.join("queue/todo"))
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        v.sort();
        v
    }

    /// SIGTERM and wait; returns the supervisor's exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let st = c.wait().unwrap();
        self.exited = Some(st.code().unwrap_or(-1));
        st.code()
    }

    /// Waits for the supervisor to exit on its own (after a crash with --once).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let c = self.child.as_mut()?;
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                self.child = None;
                let code = st.code().unwrap_or(-1);
                self.exited = Some(code);
                return Some(code);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("log/current")).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        self.wait_log_from(0, needle, timeout);
    }

    /// Waits for `needle` in the log past byte offset `from`.
    pub fn wait_log_from(&self, from: usize, needle: &str, timeout: Duration) {
        let ok = wait_for(timeout, || {
            self.log().get(from..).is_some_and(|l| l.contains(needle))
        });
        assert!(ok, "log never showed {needle:?}; log:\n{}", self.log());
    }

    /// Queues a message through the root's bin/qmail-queue (as the
    /// current user: use `inject_with_env` for a root run by `run_as`).
    pub fn inject(&self, from: &str, to: &[&str], msg: &str) -> u32 {
        let rcpts: Vec<Vec<u8>> = to.iter().map(|t| t.as_bytes().to_vec()).collect();
        mta::queue::client::inject(&self.root, None, msg.as_bytes(), from.as_bytes(), &rcpts)
            .expect("qmail-queue failed")
    }

    /// Runs bin/qmail-queue with the given env (for crash points).
    pub fn inject_with_env(
        &self,
        from: &str,
        to: &[&str],
        msg: &str,
        env: &[(&str, &str)],
    ) -> std::process::ExitStatus {
        use std::io::Write;
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut c = Command::new(self.root.join("bin/qmail-queue"));
        c.stdin(Stdio::piped()).stdout(Stdio::from(r));
        for (k, v) in env {
            c.env(k, v);
        }
        self.as_user(&mut c);
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(msg.as_bytes());
        drop(stdin);
        let rcpts: Vec<Vec<u8>> = to.iter().map(|t| t.as_bytes().to_vec()).collect();
        let mut envf = std::fs::File::from(w);
        let _ = envf.write_all(&mta::queue::client::envelope(from.as_bytes(), &rcpts));
        drop(envf);
        child.wait().unwrap()
    }

    pub fn maildir_new(&self, maildir: &Path) -> Vec<Vec<u8>> {
        let mut v: Vec<_> = std::fs::read_dir(maildir.join("new"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_else(|_| Vec::new());
        v.sort();
        v.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    pub fn wait_maildir(&self, maildir: &Path, n: usize) -> Vec<Vec<u8>> {
        let ok = wait_for(Duration::from_secs(30), || {
            self.maildir_new(maildir).len() >= n
        });
        assert!(
            ok,
            "{} never got {n} messages; log:\n{}",
            maildir.display(),
            self.log()
        );
        self.maildir_new(maildir)
    }

    /// True when the queue holds no message at all.
    pub fn queue_empty(&self) -> bool {
        let q = self.root.join("queue");
        let count = |d: &str| -> usize {
            let mut n = 0;
            if let Ok(rd) = std::fs::read_dir(q.join(d)) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        n += std::fs::read_dir(e.path()).map(|r| r.count()).unwrap_or(0);
                    } else {
                        n += 1;
                    }
                }
            }
            n
        };
        count("mess") + count("todo") + count("info") == 0
    }

    /// Every file left in the queue's message directories (mess, todo,
    /// info, local, remote, bounce, intd, pid), as `dir/.../name` paths
    /// relative to the queue.
    pub fn queue_files(&self) -> Vec<String> {
        let q = self.root.join("queue");
        let mut v = Vec::new();
        for d in [
            "mess", "todo", "info", "local", "remote", "bounce", "intd", "pid",
        ] {
            let Ok(rd) = std::fs::read_dir(q.join(d)) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    for f in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                        let rel = f.path().strip_prefix(&q).unwrap().display().to_string();
                        v.push(rel);
                    }
                } else {
                    v.push(p.strip_prefix(&q).unwrap().display().to_string());
                }
            }
        }
        v.sort();
        v
    }

    pub fn wait_queue_empty(&self, timeout: Duration) {
        let ok = wait_for(timeout, || self.queue_empty());
        assert!(ok, "queue never emptied; log:\n{}", self.log());
    }
}

impl Drop for Mta {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
