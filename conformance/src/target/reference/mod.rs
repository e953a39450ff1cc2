//! The `reference` target: the workspace's own MTA, one fresh root per
//! scenario in a temporary directory, unprivileged mode.
//!
//! Start-up: `mta init --unprivileged --root R`; the harness' controls
//! (`me` = `mx.test`, `locals` and `rcpthosts` = `mx.test` and
//! `localhost`, `smtproutes` = `:127.0.0.1:<sink port>` so every non-local
//! domain goes to the sink — qmail-remote's best-MX rule does not apply to
//! smtproutes routes), then the scenario's controls, users and alias files,
//! `qmail-newu`, what the doors need (an empty `smtplisten` unless the
//! scenario uses `starttls`, see `doors`), and `mta start --unprivileged --quiet --root R`.
//!
//! The SMTP door: until the MTA has its own listener, the harness accepts
//! on 127.0.0.1:0 and runs `R/bin/qmail-smtpd` per connection with the
//! socket as fd 0 and 1 and the TCP* variables set, as tcpserver would.
//! A scenario with `starttls` is served instead by the MTA's own
//! `mta-listen smtp` with a self-signed `control/servercert.pem`
//! (qmail-smtpd on fds never offers STARTTLS; see `listeners`).
//! The QMTP, QMQP and POP3 doors are in `doors`.
//!
//! Crashes (conformance spec §4.4, capability `crash`): a named crash
//! point `queue.*` fires in qmail-queue, so `QMAILQUEUE` (for qmail-smtpd
//! and `inject`) names a wrapper script that sets `MTA_CRASHPOINT` and
//! notes a death by signal; any other point fires in the daemons, so the
//! MTA is restarted with `MTA_CRASHPOINT` and `--once` (the supervisor
//! exits when qmail-send dies instead of restarting it with the same
//! crash point). Syscall faults wrap the same places in `strace -f -e
//! inject=...`. `restart` waits for an armed daemon crash to fire, then
//! SIGKILLs the MTA's whole process group (every process started in the
//! supervisor's group) and starts it clean. Tier B recording snapshots the
//! root, then runs both places under `strace -f -y -xx -ttt`.

mod admin;
mod door;
mod doors;
mod extra;

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use door::Door;

use super::{wait_until, Instance, Target, TargetError, Vars};
use crate::crash::powercut::PowerCut;
use crate::crash::{sweep, Arm};
use crate::scenario::step::{Fault, Inject, Place, Via};
use crate::scenario::{Capability, Protocol, Setup};

/// The readiness line qmail-send logs once it is running.
const READY: &str = "status: local 0/";
const ME: &str = "mx.test";

pub struct Reference {
    programs: PathBuf,
    caps: Vec<Capability>,
}

impl Reference {
    /// The target using the `mta` programs in `programs`, or if `None` in
    /// `$CONFORMANCE_MTA_BIN`, else next to the running program (or one
    /// level up, for test executables in `target/*/deps`).
    pub fn new(programs: Option<PathBuf>) -> Result<Reference, TargetError> {
        let programs =
            match programs.or_else(|| std::env::var_os("CONFORMANCE_MTA_BIN").map(PathBuf::from)) {
                Some(p) => p,
                None => locate_programs()?,
            };
        for p in ["mta", "qmail-smtpd", "qmail-queue"] {
            if !programs.join(p).is_file() {
                return Err(TargetError::Failed(format!(
                    "{} not found in {} (build the MTA with `cargo build -p mta`, or pass --mta-bin)",
                    p,
                    programs.display()
                )));
            }
        }
        Ok(Reference {
            programs,
            caps: vec![
                Capability::Controls,
                Capability::Filesystem,
                Capability::Queue,
                Capability::Inject,
                Capability::Restart,
                Capability::Sink,
                Capability::Sendmail,
                Capability::Log,
                Capability::Migrate,
                Capability::Qmtp,
                Capability::Qmqp,
                Capability::Qmqpc,
                Capability::Pop3,
                Capability::Checkpassword,
                Capability::QmailHome,
                Capability::Signals,
                Capability::Processes,
                Capability::Dns,
                Capability::Starttls,
            ]
            .into_iter()
            .chain(sweep::strace_available().then_some(Capability::Crash))
            .collect(),
        })
    }
}

fn locate_programs() -> Result<PathBuf, TargetError> {
    let exe = std::env::current_exe().map_err(TargetError::io("locating the running program"))?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Test executables live in target/<profile>/deps, the programs one up.
    let candidates = [
        dir.clone(),
        dir.parent().map(Path::to_path_buf).unwrap_or_default(),
    ];
    if let Some(d) = candidates.into_iter().find(|d| d.join("mta").is_file()) {
        return Ok(d);
    }
    Err(TargetError::Failed(format!(
        "the `mta` program is not next to {} (build it with `cargo build -p mta`, or pass --mta-bin)",
        exe.display()
    )))
}

impl Target for Reference {
    fn name(&self) -> &str {
        "reference"
    }

    fn capabilities(&self) -> &[Capability] {
        &self.caps
    }

    fn start(&self, setup: &Setup, sink: SocketAddr) -> Result<Box<dyn Instance>, TargetError> {
        let dir = tempfile::Builder::new()
            .prefix("conformance-")
            .tempdir()
            .map_err(TargetError::io("creating a temporary root"))?;
        let root = dir.path().join("mta");
        run(
            Command::new(self.programs.join("mta"))
                .args(["init", "--unprivileged", "--root"])
                .arg(&root),
            "mta init",
        )?;
        let scratch = dir.path().to_path_buf();
        let mut inst = RefInstance {
            _dir: dir,
            scratch,
            root,
            supervisor: None,
            launch: Launch::default(),
            armed: None,
            fired_latch: false,
            traced_calls: Vec::new(),
            counted: None,
            door_env: Arc::default(),
            door: None,
            doors: doors::Doors::default(),
            env: setup.env.clone(),
            vars: Vars {
                me: ME.into(),
                domain: ME.into(),
                remote: "remote.test".into(),
            },
            removed: Vec::new(),
            sink,
        };
        inst.configure(setup, sink)?;
        inst.doors = doors::Doors::configure(&inst.root, &inst.scratch, setup)?;
        if let Some(aliases) = &setup.migrate_aliases {
            inst.migrate(&self.programs, &aliases.0)?;
        }
        inst.start_mta()?;
        inst.door = Some(Door::open(&inst.root, &inst.env, inst.door_env.clone())?);
        Ok(Box::new(inst))
    }
}

/// Runs a command to completion; its stderr goes into the error.
fn run(c: &mut Command, what: &str) -> Result<(), TargetError> {
    let out = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(TargetError::io(what))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TargetError::Failed(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

struct RefInstance {
    _dir: tempfile::TempDir,
    /// The temporary directory around the root: wrappers, traces,
    /// snapshots.
    scratch: PathBuf,
    root: PathBuf,
    /// The supervisor, or strace running it; the leader of its own
    /// process group.
    supervisor: Option<Child>,
    /// How the daemons are started now (crash env, strace).
    launch: Launch,
    armed: Option<Arm>,
    /// The armed crash fired before the last restart disarmed it.
    fired_latch: bool,
    /// The syscalls of the last syscall arm (its traces outlive restart).
    traced_calls: Vec<String>,
    /// A counting run's counts, taken when `restart` began (calls made
    /// while stopping are not part of the run).
    counted: Option<Vec<(String, u32)>>,
    /// Extra environment for every qmail-smtpd (`QMAILQUEUE`).
    door_env: Arc<Mutex<Vec<(String, String)>>>,
    door: Option<Door>,
    /// QMTP, QMQP and POP3.
    doors: doors::Doors,
    env: std::collections::BTreeMap<String, String>,
    vars: Vars,
    /// Controls the scenario removes.
    removed: Vec<PathBuf>,
    /// The harness sink non-local mail goes to.
    sink: SocketAddr,
}

pub(super) fn write(p: &Path, bytes: &[u8]) -> Result<(), TargetError> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(TargetError::io(format!("creating {}", d.display())))?;
    }
    std::fs::write(p, bytes).map_err(TargetError::io(format!("writing {}", p.display())))
}

fn with_newline(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    if !v.is_empty() && !v.ends_with(b"\n") {
        v.push(b'\n');
    }
    v
}

impl RefInstance {
    fn control(&self) -> PathBuf {
        self.root.join("control")
    }

    fn configure(&mut self, setup: &Setup, sink: SocketAddr) -> Result<(), TargetError> {
        let c = self.control();
        let both = format!("{ME}\nlocalhost\n");
        write(&c.join("me"), format!("{ME}\n").as_bytes())?;
        write(&c.join("locals"), both.as_bytes())?;
        write(&c.join("rcpthosts"), both.as_bytes())?;
        write(
            &c.join("smtproutes"),
            format!(":{}:{}\n", sink.ip(), sink.port()).as_bytes(),
        )?;
        for (name, value) in &setup.controls {
            let p = c.join(name);
            match value {
                Some(v) => write(&p, &with_newline(&v.0))?,
                // `mta start` re-creates missing default controls, so
                // removals happen after every start (see start_mta).
                None => self.removed.push(p),
            }
        }
        let alias = self.home("alias")?;
        for (name, text) in &setup.alias {
            write(&alias.join(name), &text.0)?;
            set_mode(&alias.join(name), 0o644)?;
        }
        if setup.users.is_empty() {
            return Ok(());
        }
        let assign_path = self.root.join("users/assign");
        let assign = std::fs::read_to_string(&assign_path).map_err(TargetError::io(format!(
            "reading {}",
            assign_path.display()
        )))?;
        // The default user's line carries the uid and gid every user of
        // an unprivileged root shares.
        let ids = assign
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 4 && f[0].starts_with('=')).then(|| format!("{}:{}", f[2], f[3]))
            })
            .ok_or_else(|| TargetError::Failed("users/assign has no `=` line".into()))?;
        let mut lines = String::new();
        for u in &setup.users {
            let home = self.root.join("home").join(&u.name);
            std::fs::create_dir_all(&home)
                .map_err(TargetError::io(format!("creating {}", home.display())))?;
            set_mode(&home, 0o700)?;
            if u.maildir {
                for d in ["tmp", "new", "cur"] {
                    let p = home.join("Maildir").join(d);
                    std::fs::create_dir_all(&p)
                        .map_err(TargetError::io(format!("creating {}", p.display())))?;
                }
            }
            for (name, text) in &u.files {
                let p = home.join(name);
                write(&p, &text.0)?;
                set_mode(&p, 0o644)?;
            }
            for (name, mode) in &u.modes {
                let m = u32::from_str_radix(mode, 8)
                    .map_err(|_| TargetError::Failed(format!("mode {mode:?} is not octal")))?;
                set_mode(&home.join(name), m)?;
            }
            let h = home.display();
            let n = &u.name;
            lines.push_str(&format!("={n}:{n}:{ids}:{h}:::\n+{n}-:{n}:{ids}:{h}:-::\n"));
        }
        write(&assign_path, format!("{lines}{assign}").as_bytes())?;
        run(
            Command::new(self.root.join("bin/qmail-newu"))
                .env("QMAILHOME", &self.root)
                .env("MTA_MODE", "unprivileged"),
            "qmail-newu",
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("log/current")).unwrap_or_default()
    }

    fn start_mta(&mut self) -> Result<(), TargetError> {
        let mut cmd = match &self.launch.strace {
            Some(args) => {
                let mut c = Command::new("strace");
                c.args(args).arg(self.root.join("bin/mta"));
                c
            }
            None => Command::new(self.root.join("bin/mta")),
        };
        cmd.arg("start")
            .args(self.launch.once.then_some("--once"))
            .args(["--unprivileged", "--quiet", "--root"])
            .arg(&self.root)
            .env_remove("MTA_CRASHPOINT")
            .env_remove("QMAILQUEUE")
            .env_remove("QMAILHOME")
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let before = self.log().len();
        let child = cmd.spawn().map_err(TargetError::io("starting the MTA"))?;
        self.supervisor = Some(child);
        // A crash armed in the daemons may fire while they start. Only
        // this start's lines count: every later status line of an earlier
        // run looks like the readiness line too.
        if !wait_until(Duration::from_secs(20), || {
            self.log().get(before..).is_some_and(|l| l.contains(READY))
                || (self.daemon_armed() && self.crash_fired())
        }) {
            return Err(TargetError::Failed(format!(
                "the MTA did not get ready in 20 s; log:\n{}",
                self.diagnostics()
            )));
        }
        // After `mta start`'s own init has run (it re-creates missing
        // default controls).
        for p in &self.removed {
            let _ = std::fs::remove_file(p);
        }
        self.doors.wait_ready()
    }

    /// SIGTERM to the supervisor (its pid file names it even under
    /// strace), then SIGKILL to its group if it has not finished in 10 s.
    fn stop_mta(&mut self) {
        let Some(mut c) = self.supervisor.take() else {
            return;
        };
        let pid = std::fs::read_to_string(self.root.join("run/mta.pid"))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .unwrap_or(c.id() as i32);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        if !wait_child(&mut c, Duration::from_secs(10)) {
            kill_group(c.id());
            let _ = c.wait();
        }
        // Delivery processes of a killed qmail-send may linger a moment.
        kill_group(c.id());
    }

    /// SIGKILL to the MTA's whole process group: a crash of every process.
    fn crash_mta(&mut self) {
        if let Some(mut c) = self.supervisor.take() {
            kill_group(c.id());
            let _ = c.wait();
        }
    }

    /// The program qmail-smtpd and `inject` run as qmail-queue.
    fn qq_program(&self) -> PathBuf {
        let w = self.scratch.join("qq");
        if self.armed.is_some() && w.is_file() {
            w
        } else {
            self.root.join("bin/qmail-queue")
        }
    }

    /// Writes the qmail-queue wrapper (`env` for qmail-queue, `prefix`
    /// before it) and points qmail-smtpd at it.
    fn wrap_queue(&mut self, env: &str, prefix: &str) -> Result<(), TargetError> {
        let w = self.scratch.join("qq");
        let fired = self.scratch.join("fired");
        let script = format!(
            "#!/bin/sh\n# qmail-queue wrapper (conformance crash tests)\n\
             {env} {prefix} '{qq}'\nst=$?\n\
             if [ $st -gt 128 ]; then : > '{fired}'; kill -$((st - 128)) $$; fi\nexit $st\n",
            qq = self.root.join("bin/qmail-queue").display(),
            fired = fired.display(),
        );
        write(&w, script.as_bytes())?;
        set_mode(&w, 0o755)?;
        let mut e = self.door_env.lock().unwrap_or_else(|p| p.into_inner());
        e.retain(|(k, _)| k != "QMAILQUEUE");
        e.push(("QMAILQUEUE".into(), w.display().to_string()));
        Ok(())
    }

    fn disarm(&mut self) {
        self.armed = None;
        self.launch = Launch::default();
        let _ = std::fs::remove_file(self.scratch.join("qq"));
        self.door_env
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, _)| k != "QMAILQUEUE");
    }

    /// Every trace file the armed crash has written so far.
    fn trace_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.scratch)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("trace."))
            })
            .collect();
        v.sort();
        v
    }

    /// A crash armed in the daemons that `restart` must wait for.
    fn daemon_armed(&self) -> bool {
        match &self.armed {
            Some(Arm::Point { name, .. }) => !name.starts_with("queue."),
            Some(Arm::Syscall {
                place,
                inject: Some(_),
                ..
            }) => *place == Place::Daemons,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Launch {
    env: Vec<(String, String)>,
    strace: Option<Vec<String>>,
    once: bool,
}

/// Waits up to `timeout` for `c` to exit.
fn wait_child(c: &mut Child, timeout: Duration) -> bool {
    wait_until(timeout, || matches!(c.try_wait(), Ok(Some(_))))
}

/// SIGKILL to the process group led by `pid` (a child we started with
/// its own group).
pub(super) fn kill_group(pid: u32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

fn set_mode(p: &Path, mode: u32) -> Result<(), TargetError> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(TargetError::io(format!("chmod {}", p.display())))
}

impl Drop for RefInstance {
    fn drop(&mut self) {
        self.door.take();
        self.stop_mta();
    }
}

impl Instance for RefInstance {
    fn smtp_addr(&self) -> SocketAddr {
        if let Some(a) = self.doors.smtp_listener() {
            return a;
        }
        self.door
            .as_ref()
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |d| d.addr)
    }

    fn vars(&self) -> &Vars {
        &self.vars
    }

    fn door_addr(&mut self, door: Protocol) -> Result<SocketAddr, TargetError> {
        self.doors.addr(door, self.smtp_addr())
    }

    fn wait_doors_idle(&self) {
        self.doors.wait_idle();
    }

    fn inject(&mut self, inj: &Inject) -> Result<i32, TargetError> {
        if inj.via == Via::Sendmail {
            return self.sendmail(inj);
        }
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| TargetError::io("pipe")(e.into()))?;
        let program = match inj.via {
            Via::Qmqpc => self.root.join("bin/qmail-qmqpc"),
            _ => self.qq_program(),
        };
        let mut child = Command::new(program)
            .env("QMAILHOME", &self.root)
            .env("MTA_MODE", "unprivileged")
            .env_remove("QMAILQUEUE")
            .stdin(Stdio::piped())
            .stdout(Stdio::from(r))
            .stderr(Stdio::null())
            .spawn()
            .map_err(TargetError::io("running qmail-queue"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&inj.message.0);
        }
        let rcpts: Vec<Vec<u8>> = inj.to.iter().map(|t| t.as_bytes().to_vec()).collect();
        let mut envf = std::fs::File::from(w);
        let _ = envf.write_all(&mta::queue::client::envelope(inj.from.as_bytes(), &rcpts));
        drop(envf);
        let st = child
            .wait()
            .map_err(TargetError::io("waiting for qmail-queue"))?;
        Ok(st.code().unwrap_or(-1))
    }

    fn restart(&mut self) -> Result<(), TargetError> {
        if matches!(self.armed, Some(Arm::Syscall { inject: None, .. })) {
            // The run to count is the delivery of what the steps sent.
            wait_until(Duration::from_secs(20), || {
                self.nothing_pending().unwrap_or(false)
            });
            self.counted = Some(self.calls_counted());
        }
        if self.daemon_armed() {
            // The crash has to happen before the restart; it usually
            // follows a delivery the steps just caused.
            wait_until(Duration::from_secs(20), || self.crash_fired());
            self.fired_latch = self.crash_fired();
            self.crash_mta();
        } else if matches!(self.armed, Some(Arm::Record)) {
            self.crash_mta();
        } else {
            self.fired_latch = self.crash_fired();
            self.stop_mta();
        }
        self.disarm();
        self.start_mta()
    }

    fn arm(&mut self, arm: &Arm) -> Result<(), TargetError> {
        self.fired_latch = false;
        self.counted = None;
        // Set first: a daemon crash may fire while the MTA starts.
        self.armed = Some(arm.clone());
        let _ = std::fs::remove_file(self.scratch.join("fired"));
        for t in self.trace_files() {
            let _ = std::fs::remove_file(t);
        }
        match arm {
            Arm::Point { name, nth } if name.starts_with("queue.") => {
                self.wrap_queue(&format!("MTA_CRASHPOINT='{name}:{nth}'"), "")?;
            }
            Arm::Point { name, nth } => {
                self.stop_mta();
                self.launch = Launch {
                    env: vec![("MTA_CRASHPOINT".into(), format!("{name}:{nth}"))],
                    strace: None,
                    once: true,
                };
                self.start_mta()?;
            }
            Arm::Syscall {
                calls,
                place,
                fault,
                inject,
            } => {
                self.traced_calls = calls.clone();
                let trace = |who: &str| self.scratch.join(format!("trace.{who}"));
                let mut args: Vec<String> = vec!["-f".into(), "-qq".into(), "-o".into()];
                let set = calls.join(",");
                let mut tail = vec!["-e".to_string(), format!("trace={set}")];
                if let Some((some, n)) = inject {
                    let what = match fault {
                        Fault::Kill => "signal=SIGKILL".to_string(),
                        Fault::Eio => "error=EIO".to_string(),
                        Fault::Enospc => "error=ENOSPC".to_string(),
                    };
                    let some = some.join(",");
                    tail.extend(["-e".to_string(), format!("inject={some}:{what}:when={n}")]);
                }
                match place {
                    Place::Queue => {
                        args.push(format!("{}.$$", trace("qq").display()));
                        args.extend(tail);
                        let quoted: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
                        // `$$` must expand in the wrapper: quote with "".
                        self.wrap_queue("", &format!("strace {}", quoted.join(" ")))?;
                    }
                    Place::Daemons => {
                        args.push(trace("daemons").display().to_string());
                        args.extend(tail);
                        self.stop_mta();
                        self.launch = Launch {
                            env: Vec::new(),
                            strace: Some(args),
                            once: true,
                        };
                        self.start_mta()?;
                    }
                }
            }
            Arm::Record => {
                self.stop_mta();
                crate::crash::powercut::snapshot(&self.root, &self.scratch.join("snapshot"))
                    .map_err(TargetError::io("snapshotting the root"))?;
                let flags = crate::crash::trace::RECORD_FLAGS.join(" ");
                let qq = self.scratch.join("trace.qq");
                self.wrap_queue("", &format!("strace {flags} -o \"{}.$$\"", qq.display()))?;
                let mut args: Vec<String> = crate::crash::trace::RECORD_FLAGS
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                args.extend([
                    "-o".into(),
                    self.scratch.join("trace.daemons").display().to_string(),
                ]);
                self.launch = Launch {
                    env: Vec::new(),
                    strace: Some(args),
                    once: false,
                };
                self.start_mta()?;
            }
        }
        self.armed = Some(arm.clone());
        Ok(())
    }

    fn log_text(&self) -> Option<String> {
        Some(self.log())
    }

    fn crash_fired(&self) -> bool {
        if self.fired_latch {
            return true;
        }
        match &self.armed {
            Some(Arm::Point { name, .. }) if name.starts_with("queue.") => {
                self.scratch.join("fired").exists()
            }
            // `--once`: the supervisor removes its pid file when
            // qmail-send has died.
            Some(Arm::Point { .. }) => !self.root.join("run/mta.pid").exists(),
            Some(Arm::Syscall {
                inject: Some(_), ..
            }) => self.trace_files().iter().any(|f| {
                std::fs::read_to_string(f)
                    .is_ok_and(|t| t.contains("(INJECTED)") || t.contains("killed by SIGKILL"))
            }),
            _ => false,
        }
    }

    fn calls_counted(&self) -> Vec<(String, u32)> {
        if let Some(c) = &self.counted {
            return c.clone();
        }
        let calls = &self.traced_calls;
        let texts: Vec<String> = self
            .trace_files()
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        sweep::max_calls(&texts, calls)
    }

    fn kill(&mut self) -> Result<(), TargetError> {
        if let Some(d) = &self.door {
            d.kill_all();
        }
        self.crash_mta();
        Ok(())
    }

    fn nothing_pending(&self) -> Result<bool, TargetError> {
        let q = self.root.join("queue");
        let mut n = 0;
        for d in ["todo", "info", "bounce"] {
            let rd = std::fs::read_dir(q.join(d))
                .map_err(TargetError::io(format!("reading queue/{d}")))?;
            for e in rd.flatten() {
                n += if e.path().is_dir() {
                    std::fs::read_dir(e.path()).map(|r| r.count()).unwrap_or(0)
                } else {
                    1
                };
            }
        }
        Ok(n == 0)
    }

    fn admin(&mut self) -> Option<&mut dyn crate::target::admin::Admin> {
        Some(self)
    }

    fn qmail_home(&self) -> Option<PathBuf> {
        Some(self.root.clone())
    }

    fn var(&self, name: &str) -> Option<String> {
        self.extra_var(name)
    }

    fn power_cut(&mut self) -> Option<&mut dyn PowerCut> {
        let recorded = self.scratch.join("snapshot").is_dir();
        recorded.then_some(self as &mut dyn PowerCut)
    }

    fn queue_empty(&self) -> Result<bool, TargetError> {
        let q = self.root.join("queue");
        let mut n = 0;
        for d in ["mess", "todo", "info"] {
            let rd = std::fs::read_dir(q.join(d))
                .map_err(TargetError::io(format!("reading queue/{d}")))?;
            for e in rd.flatten() {
                n += if e.path().is_dir() {
                    std::fs::read_dir(e.path()).map(|r| r.count()).unwrap_or(0)
                } else {
                    1
                };
            }
        }
        Ok(n == 0)
    }

    fn home(&self, user: &str) -> Result<PathBuf, TargetError> {
        Ok(if user == "alias" {
            self.root.join("alias")
        } else {
            self.root.join("home").join(user)
        })
    }

    fn diagnostics(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!(
            "last lines of {}/log/current:\n{}",
            self.root.display(),
            lines[from..].join("\n")
        )
    }
}
