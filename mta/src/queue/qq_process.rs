//! `qmail-queue` as a process (spec §2.4 steps 1–2): umask, chdir into the
//! queue, who is calling, signals and the 24-hour alarm, then
//! [`crate::queue::enqueue::enqueue`] with fd 0 (message) and
//! fd 1 (envelope, a pipe opened for reading).
//!
//! In production qmail-queue is setuid `qmailq`; [`Home::from_env`] then
//! ignores the caller's environment, and the real uid names the caller.

use std::fs::File;
use std::os::fd::FromRawFd;
use std::path::Path;

use nix::sys::signal::{sigaction, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};

use crate::home::{Accounts, Home};
use crate::queue::enqueue::{enqueue, Injector, QueueError, DEATH_SECS};
use crate::queue::spare::{Pool, Spares};

/// Runs qmail-queue and returns its exit code (0 on success).
pub fn main() -> i32 {
    // A panic is an internal bug (81), and qmail-queue prints nothing.
    std::panic::set_hook(Box::new(|_| std::process::exit(81)));
    match run() {
        Ok(_) => 0,
        Err(e) => e.exit_code(),
    }
}

/// Everything qmail-queue does; returns the message id.
pub fn run() -> Result<u64, QueueError> {
    // Unblock everything first: the alarm must be able to fire even if the
    // caller left SIGALRM blocked (qmail's sig_blocknone).
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    umask(Mode::from_bits_truncate(0o033));
    let home = Home::from_env();
    std::env::set_current_dir(&home.root).map_err(|e| QueueError::Home(e.to_string()))?;
    std::env::set_current_dir("queue").map_err(QueueError::QueueDir)?;

    let uid = nix::unistd::getuid().as_raw();
    // Missing qmail accounts in production mode are an installation
    // problem, reported like a broken home directory (temporary).
    let accounts = Accounts::resolve(&home).map_err(|e| QueueError::Home(e.to_string()))?;
    let who = Injector {
        pid: std::process::id(),
        uid,
        start: crate::date::now(),
        how: accounts.invoked_how(uid),
        serial: None,
    };

    install_signals();
    nix::unistd::alarm::set(DEATH_SECS);

    // SAFETY: fds 0 and 1 belong to this process and nothing else in it
    // reads or writes them (qmail-queue never uses std's stdin/stdout).
    let mut message = unsafe { File::from_raw_fd(0) };
    let mut envelope = unsafe { File::from_raw_fd(1) };
    let spares = Spares::new(Path::new(""), Pool::Queue);
    enqueue(Path::new(""), &spares, &who, &mut message, &mut envelope)
}

extern "C" fn on_alarm(_: libc::c_int) {
    // "thou shalt not clean up here" (qmail): exit 52, leave the files.
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(52) }
}

extern "C" fn on_bug(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(81) }
}

/// SIGALRM → 52; SIGSEGV/SIGBUS/SIGILL/SIGFPE → 81; the miscellaneous
/// signals qmail ignores are ignored (SIGPIPE is already ignored by the
/// Rust runtime). SIGABRT is deliberately left alone: crash points abort,
/// and the crash tests must see a death by signal.
fn install_signals() {
    let act =
        |h: SigHandler| SigAction::new(h, nix::sys::signal::SaFlags::empty(), SigSet::empty());
    let plan: [(Signal, SigHandler); 12] = [
        (Signal::SIGALRM, SigHandler::Handler(on_alarm)),
        (Signal::SIGSEGV, SigHandler::Handler(on_bug)),
        (Signal::SIGBUS, SigHandler::Handler(on_bug)),
        (Signal::SIGILL, SigHandler::Handler(on_bug)),
        (Signal::SIGFPE, SigHandler::Handler(on_bug)),
        (Signal::SIGVTALRM, SigHandler::SigIgn),
        (Signal::SIGPROF, SigHandler::SigIgn),
        (Signal::SIGQUIT, SigHandler::SigIgn),
        (Signal::SIGINT, SigHandler::SigIgn),
        (Signal::SIGHUP, SigHandler::SigIgn),
        (Signal::SIGXCPU, SigHandler::SigIgn),
        (Signal::SIGXFSZ, SigHandler::SigIgn),
    ];
    for (sig, h) in plan {
        // SAFETY: the handlers only call the async-signal-safe _exit.
        let _ = unsafe { sigaction(sig, &act(h)) };
    }
}
