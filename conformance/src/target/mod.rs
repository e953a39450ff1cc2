//! Targets: the MTAs a scenario can run against (conformance spec §8.1).
//!
//! A [`Target`] says what it can do ([`Capability`]) and starts one
//! [`Instance`] per scenario, configured from the scenario's setup and
//! relaying non-local mail and bounces to the worker's sink.
//!
//! - [`reference`](mod@reference): the workspace's own MTA in a temporary root,
//!   unprivileged; qmail-smtpd run per connection as tcpserver would.
//! - [`remote`]: any SMTP server at host:port; protocol checks only.
//! - [`container`]: the reference MTA, Postfix or OpenSMTPD in a Docker
//!   image built offline by `ci/images/`, one container per scenario.
//! - [`listeners`]: the QMTP and QMQP doors of a qmail-style root (the
//!   MTA's own listeners), for `reference` and the reference image.

pub mod admin;
pub mod container;
pub mod listeners;
pub mod reference;
pub mod remote;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::crash::Arm;
use crate::scenario::step::Inject;
use crate::scenario::{Capability, Protocol, Setup};

/// The host names scenarios refer to as `${me}`, `${domain}` and
/// `${remote}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// The server's own name (greeting, bounce host).
    pub me: String,
    /// A domain the server delivers locally.
    pub domain: String,
    /// A domain the server relays to the sink.
    pub remote: String,
}

impl Vars {
    pub fn lookup(&self, name: &str) -> Option<String> {
        match name {
            "me" => Some(self.me.clone()),
            "domain" => Some(self.domain.clone()),
            "remote" => Some(self.remote.clone()),
            _ => None,
        }
    }
}

/// Why a target could not do what was asked. Temporary errors are the
/// environment's fault (a process failed to start), permanent ones the
/// scenario's or the configuration's.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
    #[error("target `{target}` does not support {what}")]
    Unsupported { target: String, what: String },
}

impl TargetError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TargetError {
        let what = what.into();
        move |source| TargetError::Io { what, source }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, TargetError::Unsupported { .. })
    }
}

/// An MTA the suite can run scenarios against.
pub trait Target: Send + Sync {
    /// The name used on the command line and for the deviation list
    /// (`scenarios/targets/<name>.yaml`).
    fn name(&self) -> &str;
    fn capabilities(&self) -> &[Capability];
    /// A running instance configured per `setup`, relaying to `sink`.
    fn start(&self, setup: &Setup, sink: SocketAddr) -> Result<Box<dyn Instance>, TargetError>;
}

/// One running, configured MTA. Dropping it stops everything it started.
pub trait Instance {
    fn smtp_addr(&self) -> SocketAddr;
    fn vars(&self) -> &Vars;
    /// Queues a message locally; returns the injector's exit code.
    fn inject(&mut self, inject: &Inject) -> Result<i32, TargetError>;
    /// Stops the MTA and starts it again on the same state.
    fn restart(&mut self) -> Result<(), TargetError>;
    /// True when the queue holds no message.
    fn queue_empty(&self) -> Result<bool, TargetError>;
    /// A local user's home directory (`alias` for the alias user).
    fn home(&self, user: &str) -> Result<PathBuf, TargetError>;
    /// Text that helps explain a failure (the tail of the MTA's log).
    fn diagnostics(&self) -> String;

    /// The address of one of the doors (qmail-behaviour §10, §11: QMTP,
    /// QMQP, POP3), opening it if it opens on demand.
    fn door_addr(&mut self, door: Protocol) -> Result<SocketAddr, TargetError> {
        match door {
            Protocol::Smtp => Ok(self.smtp_addr()),
            _ => Err(TargetError::Unsupported {
                target: "this target".into(),
                what: format!("the {door} door"),
            }),
        }
    }

    /// Waits (a few seconds at most) until the server processes of
    /// connections the steps closed have ended, so the assertions see
    /// what they did at the end (a POP3 QUIT's renames).
    fn wait_doors_idle(&self) {}

    /// The MTA's activity log so far, if the target has one.
    fn log_text(&self) -> Option<String> {
        None
    }

    /// Arms a crash (conformance spec §4.4 tier A) or a trace recording
    /// (tier B); `restart` disarms.
    fn arm(&mut self, _arm: &Arm) -> Result<(), TargetError> {
        Err(TargetError::Unsupported {
            target: "this target".into(),
            what: "crashes".into(),
        })
    }
    /// Whether the armed crash has happened (a named point reached, a
    /// syscall fault injected).
    fn crash_fired(&self) -> bool {
        false
    }
    /// For a counting run (an armed syscall crash without `nth`): per
    /// syscall, the largest number of calls one process made.
    fn calls_counted(&self) -> Vec<(String, u32)> {
        Vec::new()
    }
    /// SIGKILL the whole MTA and every SMTP server process at once.
    fn kill(&mut self) -> Result<(), TargetError> {
        Err(TargetError::Unsupported {
            target: "this target".into(),
            what: "kill".into(),
        })
    }
    /// True when no message is waiting for delivery (leftovers of a
    /// killed injector, swept after 36 hours, do not count).
    fn nothing_pending(&self) -> Result<bool, TargetError> {
        self.queue_empty()
    }
    /// Tier B: the recording and the means to restart on a rebuilt state.
    fn power_cut(&mut self) -> Option<&mut dyn crate::crash::powercut::PowerCut> {
        None
    }
    /// Signals, stop/start, programs, processes, the network
    /// (capabilities `signals`, `qmailhome`, `processes`, `dns`).
    fn admin(&mut self) -> Option<&mut dyn admin::Admin> {
        None
    }
    /// The qmail home (`control/`, `queue/`, `bin/`, ...), if the harness
    /// can reach it (capability `qmailhome`).
    fn qmail_home(&self) -> Option<PathBuf> {
        None
    }
    /// Target-specific variables beyond [`Vars`]: `root` (the qmail
    /// home), `uid` and `gid` (of local deliveries).
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

/// A free port on 127.0.0.1 (bound, then released for a server the MTA
/// starts; the kernel does not hand the same port out again at once).
pub(crate) fn free_port() -> Result<SocketAddr, TargetError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(TargetError::io("finding a free port"))?;
    l.local_addr()
        .map_err(TargetError::io("finding a free port"))
}

/// Polls `f` every 10 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
