//! qmail-popup's driver (spec §11.1, §11.2): the [`Popup`] core over fd
//! 0/1, then the subprogram (a checkpassword program) with the network on
//! fds 0/1, a copy of fd 1 on fd 2 (netqmail), and the read end of a pipe
//! on fd 3 carrying `user\0password\0<pid.time@host>\0`.
//!
//! qmail reads the network through a 128-byte buffer, so bytes a client
//! pipelines after PASS are lost to the subprogram. We read one byte at a
//! time until the login (a few dozen bytes), so nothing the client sends
//! after PASS is swallowed; every reply is unchanged.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio as ChildStdio};
use std::time::Duration;

use super::command::{timeout, LineBuffer};
use super::popup::{child_ended, ChildEnd, Login, Popup, Step};
use super::popup::{ERR_FORK, ERR_PIPE, ERR_USAGE, ERR_WRITE_PIPE};
use crate::smtpd::io::{Read, Stdio, Transport};

/// qmail-popup's main: `args` are the arguments after the program name
/// (`hostname subprogram [args...]`). Returns the exit code, always 1 as in
/// qmail (a successful session ends in the subprogram).
pub fn run(args: &[OsString]) -> i32 {
    let mut t = Stdio;
    let timeout = timeout();
    let (Some(hostname), Some(_)) = (args.first(), args.get(1)) else {
        let _ = t.write_all(ERR_USAGE, timeout);
        return 1;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut popup = Popup::new(std::process::id(), now, hostname.as_bytes());
    if t.write_all(&popup.greeting(), timeout).is_err() {
        return 1;
    }
    let Some(mut login) = authorize(&mut popup, &mut t, timeout) else {
        return 1;
    };
    let reply = match run_subprogram(&args[1..], &login, popup.timestamp()) {
        Ok(end) => child_ended(end),
        Err(text) => Some(text),
    };
    login.clear();
    if let Some(text) = reply {
        let _ = t.write_all(text, timeout);
    }
    1
}

/// Reads commands until a login; `None` after QUIT, end of input, a
/// timeout or a write error.
fn authorize(popup: &mut Popup, t: &mut impl Transport, timeout: Duration) -> Option<Login> {
    let mut lines = LineBuffer::default();
    let mut byte = [0u8; 1];
    loop {
        match t.read(&mut byte, timeout) {
            Read::Data(_) => {}
            Read::Eof | Read::Timeout => return None,
        }
        let (_, Some(line)) = lines.push(&byte) else {
            continue;
        };
        match popup.command(&line) {
            Step::Reply(r) => t.write_all(r, timeout).ok()?,
            Step::Quit(r) => {
                let _ = t.write_all(r, timeout);
                return None;
            }
            Step::Login(l) => return Some(l),
        }
    }
}

/// Runs the subprogram with the login on fd 3 and waits for it. `Err` is
/// the reply for a failure before the subprogram could run.
///
/// qmail forks, then writes the pipe; a subprogram that exits without
/// reading fd 3 (or an exec failure) can make that write fail with
/// `-ERR unable to write pipe` instead of `-ERR authorization failed`.
/// We write the data into the pipe *before* starting the subprogram
/// whenever it fits in the pipe's buffer (always, for logins below 4 KiB),
/// so that race cannot happen; otherwise we write the rest afterwards, as
/// qmail does.
fn run_subprogram(
    childargs: &[OsString],
    login: &Login,
    timestamp: &[u8],
) -> Result<ChildEnd, &'static [u8]> {
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|_| ERR_PIPE)?;
    // With fd 2 closed (inetd setups), the write end could land on fd 3
    // and be clobbered below; qmail avoids that with `fd_copy(2,1)`. We
    // lift both ends above the low descriptors instead.
    let (read_end, write_end) = match (lift(read_end), lift(write_end)) {
        (Ok(r), Ok(w)) => (r, w),
        _ => return Err(ERR_PIPE),
    };
    let mut data = login.fd3_data(timestamp);
    let result = write_and_run(childargs, read_end, write_end, &data);
    data.fill(0);
    std::hint::black_box(&data);
    result
}

fn write_and_run(
    childargs: &[OsString],
    read_end: OwnedFd,
    write_end: OwnedFd,
    data: &[u8],
) -> Result<ChildEnd, &'static [u8]> {
    // Non-blocking only on the write end (its own open file description),
    // so the subprogram's reads on fd 3 stay blocking.
    set_nonblocking(&write_end, true).map_err(|_| ERR_PIPE)?;
    let mut pipe = std::fs::File::from(write_end);
    let mut sent = 0;
    while sent < data.len() {
        match pipe.write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(_) => return Err(ERR_WRITE_PIPE),
        }
    }
    let pipe = if sent == data.len() {
        drop(pipe);
        None
    } else {
        Some(pipe)
    };
    let fd3 = place_on_fd3(read_end).map_err(|_| ERR_PIPE)?;
    // netqmail gives the subprogram a copy of fd 1 as fd 2 (spec §11.2).
    let stderr = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|_| ERR_PIPE)?;
    let spawned = Command::new(&childargs[0])
        .args(&childargs[1..])
        .stderr(ChildStdio::from(stderr))
        .spawn();
    drop(fd3);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOMEM) => Err(ERR_FORK),
                // qmail's child exits 1 when execvp fails.
                _ => Ok(ChildEnd::Exited(1)),
            };
        }
    };
    if let Some(mut pipe) = pipe {
        let written =
            set_nonblocking(pipe.as_fd(), false).and_then(|()| pipe.write_all(&data[sent..]));
        drop(pipe);
        if written.is_err() {
            // As qmail: give up without waiting (the child has closed fd 3).
            return Err(ERR_WRITE_PIPE);
        }
    }
    match child.wait() {
        Ok(status) => Ok(match status.code() {
            Some(c) => ChildEnd::Exited(c),
            None => ChildEnd::Signaled,
        }),
        // qmail just exits when wait fails; we do too, without a reply.
        Err(_) => Ok(ChildEnd::Exited(0)),
    }
}

fn set_nonblocking(fd: impl AsFd, on: bool) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    let flags = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    fcntl(&fd, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// A close-on-exec copy of `fd` numbered 10 or above.
fn lift(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own makes a new one.
    let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if high < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `high` was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(high) })
}

/// Puts `fd` on descriptor 3 without close-on-exec, so the subprogram
/// inherits it there; the returned handle closes our copy.
fn place_on_fd3(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    // SAFETY: dup2 on a descriptor we own; like qmail's `close(3)` before
    // its pipe, whatever was on fd 3 (nothing of ours) is replaced. dup2
    // clears close-on-exec on the target.
    if unsafe { libc::dup2(fd.as_raw_fd(), 3) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd 3 is now ours and open; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(3) })
}
