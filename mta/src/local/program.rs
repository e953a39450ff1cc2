//! Program lines: `|command` (spec §5.6 "Program delivery").
//!
//! `/bin/sh -c <command>` with cwd = the home directory, stdin = the
//! message at offset 0 (without Return-Path/Delivered-To; programs use
//! `$RPLINE`/`$DTLINE` or preline), stdout and stderr = the report
//! (inherited), SIGPIPE at its default (std restores it for children),
//! and the delivery environment on top of the inherited one.
//!
//! Beyond qmail: a program that runs longer than `control/timeoutlocal`
//! seconds (default 86400, the same as qmail's maildir-delivery alarm) is
//! killed, with its whole process group, and the delivery fails
//! temporarily with `Timeout on program delivery. (#4.3.0)`. qmail has no
//! such limit, so one hung program would hold a local slot forever.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::errno;
use super::error::LocalError;
use crate::control::ControlDir;

/// `control/timeoutlocal`'s default: qmail's maildir-delivery alarm.
pub const DEFAULT_TIMEOUT: u64 = 86400;

/// The program-delivery time limit from `<qmailhome>/control/timeoutlocal`
/// (a number file, spec §9.1: missing or garbled keeps the default; 0 is
/// taken as the default too, since "no time at all" cannot be meant).
pub fn timeout_control(qmailhome: &Path) -> Result<Duration, LocalError> {
    let secs = ControlDir::new(qmailhome.join("control"))
        .number("timeoutlocal", DEFAULT_TIMEOUT)
        .map_err(|_| LocalError::Controls)?;
    Ok(Duration::from_secs(if secs == 0 {
        DEFAULT_TIMEOUT
    } else {
        secs
    }))
}

/// What a successful program asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Exit 0: go on with the next line.
    Continue,
    /// Exit 99: success, skip every later line (forwards already
    /// collected are still sent).
    Stop,
}

/// Maps a program's exit status (spec §5.6 table).
pub fn status_result(status: ExitStatus) -> Result<Next, LocalError> {
    if status.signal().is_some() {
        return Err(LocalError::ChildCrashed);
    }
    match status.code() {
        Some(0) => Ok(Next::Continue),
        Some(99) => Ok(Next::Stop),
        Some(100 | 64 | 65 | 70 | 76 | 77 | 78 | 112) => {
            Err(LocalError::Program { permanent: true })
        }
        _ => Err(LocalError::Program { permanent: false }),
    }
}

/// The environment of one program run.
pub struct ProgramEnv<'a> {
    pub vars: &'a [(&'static str, Vec<u8>)],
    /// DEFAULT, when a `default` file was chosen; otherwise it is unset.
    pub default: Option<&'a [u8]>,
    /// Where stdout/stderr go; `None` inherits ours.
    pub output: Option<&'a File>,
    /// Kill the program (and its process group) after this long.
    pub timeout: Duration,
}

/// Runs `command` with the message on stdin.
pub fn run(
    home: &Path,
    command: &[u8],
    message: &File,
    env: &ProgramEnv<'_>,
) -> Result<Next, LocalError> {
    let mut m: &File = message;
    m.seek(SeekFrom::Start(0)).map_err(|_| LocalError::Rewind)?;
    let fork_err = |e: &std::io::Error| LocalError::Fork {
        err: errno::text(e),
    };
    let stdin = message.try_clone().map_err(|e| fork_err(&e))?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(OsStr::from_bytes(command))
        .current_dir(home)
        .stdin(Stdio::from(stdin));
    for (k, v) in env.vars {
        cmd.env(k, OsStr::from_bytes(v));
    }
    match env.default {
        Some(d) => cmd.env("DEFAULT", OsStr::from_bytes(d)),
        None => cmd.env_remove("DEFAULT"),
    };
    if let Some(out) = env.output {
        cmd.stdout(out.try_clone().map_err(|e| fork_err(&e))?);
        cmd.stderr(out.try_clone().map_err(|e| fork_err(&e))?);
    }
    // Its own process group, so a timeout kills everything it started.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| match e.raw_os_error() {
        // fork itself failed
        Some(libc::EAGAIN | libc::ENOMEM) => fork_err(&e),
        // exec of /bin/sh failed (qmail's child prints this and exits 111)
        _ => LocalError::RunShell {
            err: errno::text(&e),
        },
    })?;
    if wait_exited(child.id(), env.timeout) == Waited::TimedOut {
        // The child is not reaped yet (waitid with WNOWAIT), so its pid,
        // which is also the group id, cannot have been reused.
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        return Err(LocalError::ProgramTimeout);
    }
    let status = child.wait().map_err(|e| fork_err(&e))?;
    status_result(status)
}

#[derive(Debug, PartialEq, Eq)]
enum Waited {
    Exited,
    TimedOut,
}

/// Waits up to `timeout` for child `pid` to exit, without reaping it.
fn wait_exited(pid: u32, timeout: Duration) -> Waited {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let (tx, rx) = mpsc::channel();
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    // The waiter thread is left behind on a timeout; it returns as soon as
    // the killed child exits, and the process ends soon after anyway.
    std::thread::spawn(move || loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => {
                let _ = tx.send(());
                return;
            }
        }
    });
    match rx.recv_timeout(timeout) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => Waited::Exited,
        Err(mpsc::RecvTimeoutError::Timeout) => Waited::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(c: i32) -> ExitStatus {
        ExitStatus::from_raw(c << 8)
    }

    #[test]
    fn exit_status_mapping() {
        assert_eq!(status_result(exit(0)).unwrap(), Next::Continue);
        assert_eq!(status_result(exit(99)).unwrap(), Next::Stop);
        for c in [100, 64, 65, 70, 76, 77, 78, 112] {
            assert!(status_result(exit(c)).unwrap_err().is_permanent(), "{c}");
        }
        for c in [1, 111, 75, 98, 101] {
            assert!(!status_result(exit(c)).unwrap_err().is_permanent(), "{c}");
        }
        assert!(matches!(
            status_result(ExitStatus::from_raw(9)),
            Err(LocalError::ChildCrashed)
        ));
    }

    #[test]
    fn program_reads_message_and_env() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("msg");
        std::fs::write(&m, b"hello\n").unwrap();
        let f = File::open(&m).unwrap();
        let vars = vec![("EXT", b"foo".to_vec())];
        let env = ProgramEnv {
            vars: &vars,
            default: Some(b"bar"),
            output: None,
            timeout: Duration::from_secs(60),
        };
        let next = run(
            d.path(),
            b"cat > got; echo \"$EXT $DEFAULT\" > env; exit 99",
            &f,
            &env,
        )
        .unwrap();
        assert_eq!(next, Next::Stop);
        assert_eq!(std::fs::read(d.path().join("got")).unwrap(), b"hello\n");
        assert_eq!(std::fs::read(d.path().join("env")).unwrap(), b"foo bar\n");
    }

    #[test]
    fn hung_program_is_killed_with_its_process_group() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("msg");
        std::fs::write(&m, b"hello\n").unwrap();
        let f = File::open(&m).unwrap();
        let env = ProgramEnv {
            vars: &[],
            default: None,
            output: None,
            timeout: Duration::from_millis(300),
        };
        // A grandchild in the background, and the shell waiting on it.
        let t0 = std::time::Instant::now();
        let e = run(d.path(), b"sleep 30 & echo $! > pid; wait", &f, &env).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert!(matches!(e, LocalError::ProgramTimeout));
        assert_eq!(e.to_string(), "Timeout on program delivery. (#4.3.0)");
        assert!(!e.is_permanent());
        let pid: i32 = std::fs::read_to_string(d.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background sleep was killed too (it may linger as a zombie
        // of init for a moment, so look at its state).
        let gone = (0..100).any(|_| {
            let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if st.is_empty() || st.contains(") Z ") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
            false
        });
        assert!(gone, "background sleep {pid} survived");
    }

    #[test]
    fn timeout_control_reads_seconds_with_the_default() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("control")).unwrap();
        let t = |c: Option<&str>| {
            let p = d.path().join("control/timeoutlocal");
            match c {
                Some(c) => std::fs::write(&p, c).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&p);
                }
            }
            timeout_control(d.path()).unwrap().as_secs()
        };
        assert_eq!(t(None), 86400);
        assert_eq!(t(Some("2\n")), 2);
        assert_eq!(t(Some("abc\n")), 86400);
        assert_eq!(t(Some("0\n")), 86400);
    }
}
