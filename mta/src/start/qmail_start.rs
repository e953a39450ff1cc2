//! qmail-start (spec §1.2): `qmail-start [defaultdelivery [logger arg...]]`.
//!
//! Creates the pipes, starts qmail-lspawn (stays root in production),
//! qmail-rspawn (qmailr) and qmail-clean (qmailq), optionally a logger
//! (qmaill), and finally *becomes* qmail-send (qmails) with:
//! fd 0 log, 1/2 lspawn, 3/4 rspawn, 5/6 clean. Programs are found
//! through `PATH`, as qmail's `execvp`. Exits 111 on any set-up failure and
//! prints nothing.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::home::{Accounts, Home, Mode};

/// The compiled default delivery instruction.
pub const DEFAULT_DELIVERY: &str = "./Mailbox";

/// A close-on-exec pipe: children get only the ends placed on their
/// fds 0/1, so each daemon sees EOF when its peer goes away.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Sets uid/gid on `cmd` in production mode (no supplementary groups).
fn as_user(cmd: &mut Command, mode: Mode, uid: u32, gid: u32) {
    if mode == Mode::Production {
        cmd.uid(uid).gid(gid);
    }
}

/// Moves `fds[i]` onto descriptor `i` in this process.
fn place(fds: &[RawFd]) -> io::Result<()> {
    // First lift every source above the target range so no dup2 clobbers a
    // source that is still needed.
    let mut high = Vec::with_capacity(fds.len());
    for &f in fds {
        // SAFETY: plain descriptor syscalls on descriptors we own.
        let h = unsafe { libc::fcntl(f, libc::F_DUPFD_CLOEXEC, 10) };
        if h < 0 {
            return Err(io::Error::last_os_error());
        }
        high.push(h);
    }
    for (i, &h) in high.iter().enumerate() {
        // SAFETY: as above; dup2 clears close-on-exec on the target.
        if unsafe { libc::dup2(h, i as RawFd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs qmail-start; only returns on failure (with the exit code).
pub fn main(home: &Home, args: &[String]) -> i32 {
    match run(home, args) {
        Ok(never) => match never {},
        Err(_) => 111,
    }
}

enum Never {}

fn run(home: &Home, args: &[String]) -> io::Result<Never> {
    std::env::set_current_dir("/")?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let acct = Accounts::resolve(home).map_err(io::Error::other)?;
    let mode = home.mode;
    if mode == Mode::Production {
        nix::unistd::setgid(nix::unistd::Gid::from_raw(acct.gid_qmail))?;
    }
    let delivery = args
        .first()
        .cloned()
        .unwrap_or_else(|| DEFAULT_DELIVERY.to_string());

    // The log: a logger's pipe, or our own stdout.
    let log: OwnedFd = if args.len() > 1 {
        let (r, w) = pipe()?;
        let mut c = Command::new(&args[1]);
        c.args(&args[2..])
            .stdin(Stdio::from(r))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_user(&mut c, mode, acct.qmaill.uid, acct.gid_nofiles);
        c.spawn()?;
        w
    } else {
        io::stdout().as_fd_owned()?
    };

    let child =
        |prog: &str, arg: Option<&str>, uid: Option<u32>| -> io::Result<(OwnedFd, OwnedFd)> {
            let (cmd_r, cmd_w) = pipe()?;
            let (rep_r, rep_w) = pipe()?;
            let mut c = Command::new(prog);
            if let Some(a) = arg {
                c.arg(a);
            }
            c.stdin(Stdio::from(cmd_r))
                .stdout(Stdio::from(rep_w))
                .stderr(Stdio::null());
            if let Some(u) = uid {
                as_user(&mut c, mode, u, acct.gid_qmail);
            }
            c.spawn()?;
            Ok((cmd_w, rep_r))
        };
    // qmail-lspawn stays root: it must switch to each recipient's uid.
    let (l_cmd, l_rep) = child("qmail-lspawn", Some(&delivery), None)?;
    let (r_cmd, r_rep) = child("qmail-rspawn", None, Some(acct.qmailr.uid))?;
    let (c_cmd, c_rep) = child("qmail-clean", None, Some(acct.qmailq.uid))?;

    place(&[
        log.as_raw_fd(),
        l_cmd.as_raw_fd(),
        l_rep.as_raw_fd(),
        r_cmd.as_raw_fd(),
        r_rep.as_raw_fd(),
        c_cmd.as_raw_fd(),
        c_rep.as_raw_fd(),
    ])?;
    let mut send = Command::new("qmail-send");
    as_user(&mut send, mode, acct.qmails.uid, acct.gid_qmail);
    Err(send.exec())
}

trait DupStdout {
    fn as_fd_owned(&self) -> io::Result<OwnedFd>;
}

impl DupStdout for io::Stdout {
    fn as_fd_owned(&self) -> io::Result<OwnedFd> {
        use std::os::fd::AsFd;
        self.as_fd().try_clone_to_owned()
    }
}
