//! The MTAs under test, each started in a private directory, listening on
//! a loopback port, delivering to one Maildir (or relaying to a sink), and
//! stopped by the pid of the process that roots its tree.
//!
//! - [`reference`]: this workspace's MTA (`mta init --unprivileged`, `mta
//!   start`, the built-in listener).
//! - [`postfix`], [`exim`], [`opensmtpd`]: Debian 12's packages unpacked by
//!   ci/bench into a prefix and configured here; see each module for what
//!   it takes to run them outside their usual paths.
//!
//! Durability is each MTA's default: every one fsyncs a message into its
//! queue before its 250 and fsyncs a delivered Maildir file.

pub mod exim;
pub mod opensmtpd;
pub mod postfix;
pub mod reference;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Which MTA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Kind {
    /// The reference MTA (this workspace).
    Reference,
    Postfix,
    Exim,
    /// OpenSMTPD as shipped (its listen backlog is 5).
    Opensmtpd,
    /// OpenSMTPD with its listen backlog raised to 1024 (LD_PRELOAD shim).
    OpensmtpdBacklog,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Reference => "reference",
            Kind::Postfix => "postfix",
            Kind::Exim => "exim",
            Kind::Opensmtpd => "opensmtpd",
            Kind::OpensmtpdBacklog => "opensmtpd-backlog1024",
        }
    }

    pub fn all() -> [Kind; 5] {
        [
            Kind::Reference,
            Kind::Postfix,
            Kind::Exim,
            Kind::Opensmtpd,
            Kind::OpensmtpdBacklog,
        ]
    }
}

/// Where things are: the unpacked peers, the reference build, scratch.
#[derive(Debug, Clone)]
pub struct Env {
    /// The prefix ci/bench unpacked the Debian packages into.
    pub peers: PathBuf,
    /// LD_LIBRARY_PATH for the unpacked binaries (Postfix's own libraries).
    pub lib_path: String,
    /// The directory holding the release build (`mta`, `migrate`).
    pub bin: PathBuf,
    /// Scratch space on the disk under test.
    pub work: PathBuf,
    /// The LD_PRELOAD shim raising listen()'s backlog (ci/bench builds it).
    pub backlog_shim: Option<PathBuf>,
}

impl Env {
    /// A program of the unpacked peers, e.g. `usr/sbin/smtp-source`.
    pub fn peer(&self, rel: &str) -> PathBuf {
        self.peers.join(rel)
    }

    /// A command for an unpacked peer program, with its libraries.
    pub fn peer_cmd(&self, rel: &str) -> Command {
        let mut c = Command::new(self.peer(rel));
        c.env("LD_LIBRARY_PATH", &self.lib_path);
        c
    }
}

/// What one run asks of the MTA.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The loopback port to listen on.
    pub port: u16,
    /// Relay everything for `relay.example` to this sink port.
    pub sink: Option<u16>,
    /// Connections to serve at once (raised for the idle-memory workload).
    pub conns: usize,
}

/// The domain relayed to the sink.
pub const RELAY_DOMAIN: &str = "relay.example";

/// A started MTA.
#[derive(Debug)]
pub struct Instance {
    pub kind: Kind,
    /// The process rooting the MTA's tree (stop it, measure under it).
    pub child: Child,
    pub port: u16,
    /// Where delivered messages appear.
    pub maildir_new: PathBuf,
    /// The MTA's private directory (removed by [`Instance::stop`]).
    pub dir: PathBuf,
    /// How to inject one message locally (workload 3), when measured.
    pub injector: Option<Injector>,
}

/// A local injection program and its environment.
#[derive(Debug, Clone)]
pub struct Injector {
    /// `qmail-queue` (message on fd 0, envelope on fd 1) or `sendmail`.
    pub qmail_queue: bool,
    pub program: PathBuf,
    pub env: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0} cannot run here: {1}")]
    Unavailable(&'static str, String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} did not answer on 127.0.0.1:{1} within {2:?} (log: {3})")]
    NotReady(&'static str, u16, Duration, String),
}

pub fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// Starts `kind` in `dir` (created afresh) and waits for its greeting.
pub fn start(kind: Kind, env: &Env, setup: &Setup, dir: &Path) -> Result<Instance, StartError> {
    crate::scratch::discard(dir);
    std::fs::create_dir_all(dir).map_err(io_err(format!("mkdir {}", dir.display())))?;
    let mut inst = match kind {
        Kind::Reference => reference::start(env, setup, dir)?,
        Kind::Postfix => postfix::start(env, setup, dir)?,
        Kind::Exim => exim::start(env, setup, dir)?,
        Kind::Opensmtpd => opensmtpd::start(env, setup, dir, false)?,
        Kind::OpensmtpdBacklog => opensmtpd::start(env, setup, dir, true)?,
    };
    let timeout = Duration::from_secs(30);
    if !wait_greeting(setup.port, timeout, &mut inst.child) {
        let log = dir.join("log").display().to_string();
        stop_tree(&mut inst.child);
        return Err(StartError::NotReady(kind.name(), setup.port, timeout, log));
    }
    Ok(inst)
}

/// Connects until the server sends a 220 line (or `child` exits).
fn wait_greeting(port: u16, timeout: Duration, child: &mut Child) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut line = String::new();
            if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("220") {
                let _ = std::io::Write::write_all(&mut &s, b"QUIT\r\n");
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// SIGTERM to the root, wait up to 20 s, then SIGKILL whatever of the
/// tree is left (pids collected before the SIGTERM).
pub fn stop_tree(child: &mut Child) {
    let root = child.id();
    let pids = crate::procs::tree(root);
    let _ = kill(Pid::from_raw(root as i32), Signal::SIGTERM);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in pids {
        if p != root && crate::procs::stat(p).is_some() {
            let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
        }
    }
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

impl Instance {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the MTA and removes its directory.
    pub fn stop(mut self) {
        stop_tree(&mut self.child);
        crate::scratch::discard(&self.dir);
    }
}

/// Writes `text` to `path`, naming the file on failure.
pub fn write(path: &Path, text: &str) -> Result<(), StartError> {
    std::fs::write(path, text).map_err(io_err(format!("write {}", path.display())))
}

/// Makes `path` (and parents) owned by `user` (an account ci/bench made).
pub fn chown_to(path: &Path, user: &str) -> Result<(), StartError> {
    let u = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| {
            StartError::Unavailable("peer", format!("no account {user} (run ci/bench as root)"))
        })?;
    std::os::unix::fs::chown(path, Some(u.uid.as_raw()), Some(u.gid.as_raw()))
        .map_err(io_err(format!("chown {} {}", user, path.display())))
}

/// A log file for an MTA's stdout and stderr.
pub fn log_file(dir: &Path) -> Result<std::fs::File, StartError> {
    std::fs::File::create(dir.join("log")).map_err(io_err("create log"))
}
