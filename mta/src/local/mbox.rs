//! Appending to an mbox file (spec §5.6 "mbox delivery").
//!
//! Open for append (creating, mode 0600), take an exclusive `flock`
//! waiting at most 30 seconds, note the end offset, write UFLINE, RPLINE,
//! DTLINE and the message with `>From ` quoting, a newline if the last
//! line lacks one, and one empty line; flush and fsync. On a read or
//! write error the file is truncated back to the noted offset if we held
//! the lock (without the lock, someone else may have appended since).
//!
//! qmail waits for the lock with a 30-second `alarm`; a signal is
//! process-wide, so we poll the non-blocking lock instead, which keeps the
//! delivery usable inside a long-lived worker.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::errno;
use super::error::{show, LocalError};
use crate::durable;

const LOCK_WAIT: Duration = Duration::from_secs(30);
const BUF: usize = 64 * 1024;

/// qmail's `gfrom`: does the line need a `>` in front (`>*From `)?
pub fn needs_quote(line: &[u8]) -> bool {
    let start = line.iter().position(|&c| c != b'>').unwrap_or(line.len());
    line[start..].starts_with(b"From ")
}

enum Lock {
    Held(Flock<File>),
    Unlocked(File),
}

impl Lock {
    fn file(&self) -> &File {
        match self {
            Lock::Held(f) => f,
            Lock::Unlocked(f) => f,
        }
    }
}

/// Takes the exclusive lock, polling for up to 30 seconds. Locking that
/// fails for another reason than contention proceeds unlocked (qmail).
fn lock(mut f: File) -> Result<Lock, LocalError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(Lock::Held(l)),
            Err((back, Errno::EWOULDBLOCK)) | Err((back, Errno::EINTR)) => {
                if Instant::now() >= deadline {
                    return Err(LocalError::SlowLock);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
                f = back;
            }
            Err((back, _)) => return Ok(Lock::Unlocked(back)),
        }
    }
}

enum Failure {
    Read(io::Error),
    Write(io::Error),
}

fn write_all(
    lines: [&[u8]; 3],
    message: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<(), Failure> {
    for l in lines {
        out.write_all(l).map_err(Failure::Write)?;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = message
            .read_until(b'\n', &mut line)
            .map_err(Failure::Read)?;
        if n == 0 {
            break;
        }
        if needs_quote(&line) {
            out.write_all(b">").map_err(Failure::Write)?;
        }
        out.write_all(&line).map_err(Failure::Write)?;
        if line.last() != Some(&b'\n') {
            out.write_all(b"\n").map_err(Failure::Write)?;
            break;
        }
    }
    out.write_all(b"\n").map_err(Failure::Write)?;
    out.flush().map_err(Failure::Write)
}

/// Appends `message` to the mbox `path` (relative to `home` unless
/// absolute). `lines` are UFLINE, RPLINE, DTLINE.
pub fn deliver(
    home: &Path,
    path: &[u8],
    lines: [&[u8]; 3],
    message: &File,
) -> Result<(), LocalError> {
    let mut message: &File = message;
    message
        .seek(SeekFrom::Start(0))
        .map_err(|_| LocalError::Rewind)?;
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(home.join(std::ffi::OsStr::from_bytes(path)))
        .map_err(|e| LocalError::OpenMbox {
            path: show(path),
            err: errno::text(&e),
        })?;
    let locked = lock(f)?;
    let mut file: &File = locked.file();
    let write_err = |e: &io::Error| LocalError::WriteMbox {
        path: show(path),
        err: errno::text(e),
    };
    let pos = file.seek(SeekFrom::End(0)).map_err(|e| write_err(&e))?;

    let mut reader = BufReader::with_capacity(BUF, message);
    let result = {
        let mut out = BufWriter::with_capacity(BUF, file);
        write_all(lines, &mut reader, &mut out)
    };
    let result = result.and_then(|()| {
        durable::sync_file(locked.file(), "local.mbox.synced").map_err(Failure::Write)
    });
    match result {
        Ok(()) => Ok(()),
        Err(f) => {
            if let Lock::Held(_) = locked {
                let _ = locked.file().set_len(pos);
            }
            Err(match f {
                Failure::Read(e) => LocalError::ReadMessage {
                    err: errno::text(&e),
                },
                Failure::Write(e) => write_err(&e),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_quoting_rule() {
        assert!(needs_quote(b"From x\n"));
        assert!(needs_quote(b">>From x\n"));
        assert!(!needs_quote(b" From x\n"));
        assert!(!needs_quote(b"From\n"));
        assert!(!needs_quote(b">>>"));
    }

    #[test]
    fn appends_with_quoting_and_blank_line() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("msg");
        std::fs::write(&m, b"Subject: x\n\nFrom me\n>From you\nlast").unwrap();
        let f = File::open(&m).unwrap();
        deliver(d.path(), b"./Mailbox", [b"UF\n", b"RP\n", b"DT\n"], &f).unwrap();
        deliver(d.path(), b"./Mailbox", [b"UF\n", b"RP\n", b"DT\n"], &f).unwrap();
        let one = b"UF\nRP\nDT\nSubject: x\n\n>From me\n>>From you\nlast\n\n".to_vec();
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert_eq!(std::fs::read(d.path().join("Mailbox")).unwrap(), two);
    }

    #[test]
    fn open_failure_text() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("msg");
        std::fs::write(&m, b"x\n").unwrap();
        let e = deliver(
            d.path(),
            b"./no/such/box",
            [b"", b"", b""],
            &File::open(&m).unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unable to open ./no/such/box: file does not exist. (#4.2.1)"
        );
    }

    #[test]
    fn free_lock_is_taken() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("box");
        let f = File::create(&p).unwrap();
        assert!(matches!(lock(f).unwrap(), Lock::Held(_)));
    }
}
