//! The writer side of the queue: what `qmail-queue` does with one message
//! (spec §2.1–§2.6).
//!
//! The sequence is qmail's (spec §2.4) with one strengthening: every link
//! is followed by an fsync of the directory whose entry changed
//! ([`crate::durable`]), because on Linux a `link` is not durable until its
//! directory is. The pid unlink is not flushed: if a power cut brings the
//! pid name back, qmail-clean sweeps it after 36 hours, exactly like the
//! pid file of a crashed qmail-queue. Each step is a named crash point:
//!
//! | step | crash point | if we die right after it |
//! |---|---|---|
//! | create `pid/<pid>.<t>.<seq>` | `queue.pid.created` | stale pid file, swept by qmail-clean after 36 h |
//! | link it to `mess/<N%23>/<N>` | `queue.mess.linked` | state S2, swept by qmail-send after 36 h |
//! | unlink the pid name | `queue.pid.unlinked` | state S2 |
//! | write + fsync the message | `queue.mess.synced` | state S2 |
//! | create, write, fsync `intd/<N>` | `queue.intd.synced` | state S3, swept by qmail-send |
//! | link `intd/<N>` to `todo/<N>` | `queue.todo.linked` | **committed** (S4): delivered |
//!
//! Beyond qmail: the pid and intd files are taken from the spare pool
//! when it has one ([`crate::queue::spare`]): a spare renamed to the same
//! name, with fresh times, overwritten and cut to what was written, in
//! place of a newly created file. Every later step, and every crash point,
//! is the same.
//!
//! qmail-queue runs once per message, so this file keeps the syscall count
//! low: one 64 KiB buffer for the body (the Received line goes out in the
//! first write), the whole intd file in one write, no async runtime.
//!
//! The process-level setup (umask, chdir, signals, the 24-hour alarm, fds
//! 0 and 1) lives in [`crate::queue::qq_process`]; this file only needs a
//! queue directory and two readers, so unit tests can drive it in-process.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::crashpoint;
use crate::durable;
use crate::home::SPLIT;
use crate::queue::spare::{self, Created, Spares};

/// The longest address plus its NUL (qmail's `ADDR`, spec §2.1).
pub const ADDR: u64 = 1003;
/// The 24-hour suicide timer; must stay below qmail-send's 36-hour
/// cleanup age (spec §2.4 step 2).
pub const DEATH_SECS: u32 = 86400;
/// Body copy buffer.
const BUF: usize = 64 * 1024;

/// Why qmail-queue failed; one variant per exit code of spec §2.2.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("envelope address too long")]
    AddressTooLong,
    #[error("out of memory")]
    NoMem,
    #[error("timeout")]
    Timeout,
    #[error("write error: {0}")]
    Write(#[source] io::Error),
    #[error("read error: {0}")]
    Read(#[source] io::Error),
    #[error("trouble in the home directory: {0}")]
    Home(String),
    #[error("trouble with the queue directory: {0}")]
    QueueDir(#[source] io::Error),
    #[error("trouble with queue/pid: {0}")]
    Pid(#[source] io::Error),
    #[error("trouble with queue/mess: {0}")]
    Mess(#[source] io::Error),
    #[error("trouble with queue/intd: {0}")]
    Intd(#[source] io::Error),
    #[error("trouble with queue/todo: {0}")]
    Todo(#[source] io::Error),
    #[error("internal bug")]
    Bug,
    #[error("envelope format error")]
    EnvelopeFormat,
}

impl QueueError {
    /// qmail-queue's exit code (spec §2.2).
    pub fn exit_code(&self) -> i32 {
        match self {
            QueueError::AddressTooLong => 11,
            QueueError::NoMem => 51,
            QueueError::Timeout => 52,
            QueueError::Write(_) => 53,
            QueueError::Read(_) => 54,
            QueueError::Home(_) => 61,
            QueueError::QueueDir(_) => 62,
            QueueError::Pid(_) => 63,
            QueueError::Mess(_) => 64,
            QueueError::Intd(_) => 65,
            QueueError::Todo(_) => 66,
            QueueError::Bug => 81,
            QueueError::EnvelopeFormat => 91,
        }
    }

    /// The callers' rule: codes 11–40 are permanent (spec §2.2).
    pub fn is_permanent(&self) -> bool {
        (11..=40).contains(&self.exit_code())
    }
}

/// Who is injecting, fixed once at startup (spec §2.4 step 2).
#[derive(Debug, Clone)]
pub struct Injector {
    /// qmail-queue's own pid: the "qp".
    pub pid: u32,
    /// The caller's real uid.
    pub uid: u32,
    /// Start time, seconds since the epoch.
    pub start: i64,
    /// `<how>` of the Received line (`by uid 0`, `from network`, ...).
    pub how: String,
    /// `None` for a qmail-queue process. Several injections sharing one
    /// process (the listener's inline qmail-queue) each get a serial, so
    /// the pid file name `pid/<pid>.<start>.<serial>.<seq>` stays unique
    /// beyond qmail's 9 tries per pid and second.
    pub serial: Option<u64>,
}

impl Injector {
    /// The Received line of spec §2.6, LF included.
    pub fn received(&self) -> String {
        format!(
            "Received: (qmail {} invoked {}); {}\n",
            self.pid,
            self.how,
            crate::date::rfc822(self.start)
        )
    }
}

/// Files this run created, so a read or write error can take them back
/// (qmail's `cleanup()`: truncate, then unlink; intd first).
struct Made {
    mess: Option<(File, PathBuf)>,
    intd: Option<(File, PathBuf)>,
}

impl Made {
    fn cleanup(&mut self) {
        for slot in [&mut self.intd, &mut self.mess] {
            if let Some((f, p)) = slot.take() {
                let _ = f.set_len(0);
                if std::fs::remove_file(&p).is_err() {
                    // As qmail: if one unlink fails, leave the rest for
                    // qmail-send's cleanup sweep.
                    return;
                }
            }
        }
    }

    /// Maps a read/write error to its exit code after cleaning up.
    fn fail(&mut self, e: QueueError) -> QueueError {
        if matches!(e, QueueError::Read(_) | QueueError::Write(_)) {
            self.cleanup();
        }
        e
    }
}

/// Queues one message into the queue directory `queue` (which may be
/// `""` when the process has already chdir'ed there). Returns the message
/// id (the inode number of the mess file). New files come from `spares`
/// when it has any.
pub fn enqueue(
    queue: &Path,
    spares: &Spares,
    who: &Injector,
    message: &mut dyn Read,
    envelope: &mut dyn Read,
) -> Result<u64, QueueError> {
    // Step 3: the pid file; its inode becomes the message id.
    let (pid, pidpath) = create_pid_file(queue, spares, who)?;
    crashpoint::hit("queue.pid.created");
    let id = pid.ino;
    let mess_stale = pid.stale;
    let pidfile = pid.file;

    // Step 5: link into mess/, then drop the pid name. mess/N always has
    // inode N, which is what makes the id unique.
    let mess = queue.join(format!("mess/{}/{}", id % SPLIT, id));
    durable::link(&pidpath, &mess, "queue.mess.linked").map_err(QueueError::Mess)?;
    std::fs::remove_file(&pidpath).map_err(QueueError::Pid)?;
    crashpoint::hit("queue.pid.unlinked");
    let mut made = Made {
        mess: Some((pidfile, mess)),
        intd: None,
    };

    // Step 6: Received line + body, then fsync.
    let received = who.received();
    let r = match made.mess.as_mut() {
        Some((f, _)) => copy_message(received.as_bytes(), message, f)
            .and_then(|n| spare::fit(f, mess_stale, n).map_err(QueueError::Write))
            .and_then(|()| durable::sync_file(f, "queue.mess.synced").map_err(QueueError::Write)),
        None => Err(QueueError::Bug),
    };
    r.map_err(|e| made.fail(e))?;

    // Steps 7–8: intd/N with u, p, F and T records, written at once.
    let intd = queue.join(format!("intd/{id}"));
    let intdfile = spares.create(&intd, 0o644).map_err(QueueError::Intd)?;
    let intd_stale = intdfile.stale;
    made.intd = Some((intdfile.file, intd.clone()));
    let mut records = Vec::with_capacity(256);
    records.push(b'u');
    records.extend_from_slice(who.uid.to_string().as_bytes());
    records.extend_from_slice(b"\0p");
    records.extend_from_slice(who.pid.to_string().as_bytes());
    records.push(0);
    let mut env = BufReader::with_capacity(8192, envelope);
    let r = copy_envelope(&mut env, &mut records).and_then(|()| match made.intd.as_mut() {
        Some((f, _)) => {
            f.write_all(&records).map_err(QueueError::Write)?;
            spare::fit(f, intd_stale, records.len() as u64).map_err(QueueError::Write)?;
            durable::sync_file(f, "queue.intd.synced").map_err(QueueError::Write)
        }
        None => Err(QueueError::Bug),
    });
    // 91 and 11 leave mess and intd for qmail-send's sweep (spec §2.4
    // step 8); read and write errors take them back.
    r.map_err(|e| made.fail(e))?;

    // Step 9: the commit point.
    let todo = queue.join(format!("todo/{id}"));
    durable::link(&intd, &todo, "queue.todo.linked").map_err(QueueError::Todo)?;

    // Step 10.
    pull_trigger(queue);
    Ok(id)
}

/// Creates `pid/<pid>.<start>.<seq>` with O_EXCL, seq 1..=9 (spec §2.4
/// step 3). Mode 0644 before the 033 umask.
fn create_pid_file(
    queue: &Path,
    spares: &Spares,
    who: &Injector,
) -> Result<(Created, PathBuf), QueueError> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for seq in 1..=9 {
        let p = match who.serial {
            None => queue.join(format!("pid/{}.{}.{}", who.pid, who.start, seq)),
            Some(n) => queue.join(format!("pid/{}.{}.{}.{}", who.pid, who.start, n, seq)),
        };
        match spares.create(&p, 0o644) {
            Ok(f) => return Ok((f, p)),
            Err(e) => last = e,
        }
    }
    Err(QueueError::Pid(last))
}

/// Writes `received` then everything from `from` into `to`, through one
/// 64 KiB buffer so a small message costs a single write. Returns the
/// bytes written.
pub fn copy_message(
    received: &[u8],
    from: &mut dyn Read,
    to: &mut File,
) -> Result<u64, QueueError> {
    let mut buf = vec![0u8; BUF.max(received.len() + 1)];
    buf[..received.len()].copy_from_slice(received);
    let mut len = received.len();
    let mut total = 0u64;
    loop {
        match from.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len == buf.len() {
                    to.write_all(&buf).map_err(QueueError::Write)?;
                    total += len as u64;
                    len = 0;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(QueueError::Read(e)),
        }
    }
    if len > 0 {
        to.write_all(&buf[..len]).map_err(QueueError::Write)?;
        total += len as u64;
    }
    Ok(total)
}

/// Reads the envelope (spec §2.1) and appends its records to `out`:
/// `F<sender>\0` then `T<recip>\0` each; the final extra NUL is consumed,
/// not copied. EOF anywhere before it is a read error (nothing queued).
pub fn copy_envelope(r: &mut dyn BufRead, out: &mut Vec<u8>) -> Result<(), QueueError> {
    if read_byte(r)? != b'F' {
        return Err(QueueError::EnvelopeFormat);
    }
    out.push(b'F');
    copy_address(r, out)?;
    loop {
        match read_byte(r)? {
            0 => return Ok(()),
            b'T' => {
                out.push(b'T');
                copy_address(r, out)?;
            }
            _ => return Err(QueueError::EnvelopeFormat),
        }
    }
}

fn read_byte(r: &mut dyn BufRead) -> Result<u8, QueueError> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).map_err(QueueError::Read)?;
    Ok(b[0])
}

/// Copies one NUL-terminated address (NUL included). At most [`ADDR`]
/// bytes are read, so a hostile envelope cannot make us buffer more.
fn copy_address(r: &mut dyn BufRead, out: &mut Vec<u8>) -> Result<(), QueueError> {
    let start = out.len();
    let n = r.take(ADDR).read_until(0, out).map_err(QueueError::Read)?;
    if out.last() == Some(&0) && out.len() > start {
        return Ok(());
    }
    if n as u64 >= ADDR {
        Err(QueueError::AddressTooLong)
    } else {
        Err(QueueError::Read(io::Error::from(
            io::ErrorKind::UnexpectedEof,
        )))
    }
}

/// Wakes qmail-send (spec §1.7): open `lock/trigger` write-only and
/// non-blocking, write one byte; every error is ignored (no reader simply
/// means qmail-send is not running).
pub fn pull_trigger(queue: &Path) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(queue.join("lock/trigger"))
    {
        let _ = f.write(&[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::layout::Layout;
    use std::os::unix::fs::MetadataExt;

    fn env(bytes: &[u8]) -> Result<Vec<u8>, QueueError> {
        let mut out = Vec::new();
        copy_envelope(&mut &bytes[..], &mut out).map(|()| out)
    }

    #[test]
    fn envelope_records_drop_the_final_nul() {
        assert_eq!(env(b"Fa@b\0Tc@d\0Te@f\0\0").unwrap(), b"Fa@b\0Tc@d\0Te@f\0");
        assert_eq!(env(b"F\0\0").unwrap(), b"F\0");
    }

    #[test]
    fn envelope_format_errors_are_91() {
        assert_eq!(env(b"Xa@b\0\0").unwrap_err().exit_code(), 91);
        assert_eq!(env(b"Fa@b\0Xc@d\0\0").unwrap_err().exit_code(), 91);
    }

    #[test]
    fn envelope_eof_is_a_read_error() {
        for e in [&b""[..], b"F", b"Fa@b", b"Fa@b\0", b"Fa@b\0Tc@d\0"] {
            assert_eq!(env(e).unwrap_err().exit_code(), 54, "{e:?}");
        }
    }

    #[test]
    fn address_limit_is_1002_bytes() {
        let ok = [b"F".to_vec(), vec![b'a'; 1002], b"\0\0".to_vec()].concat();
        assert!(env(&ok).is_ok());
        let long = [b"F".to_vec(), vec![b'a'; 1003], b"\0\0".to_vec()].concat();
        assert_eq!(env(&long).unwrap_err().exit_code(), 11);
        let rlong = [b"F\0T".to_vec(), vec![b'a'; 1003], b"\0\0".to_vec()].concat();
        assert_eq!(env(&rlong).unwrap_err().exit_code(), 11);
    }

    #[test]
    fn permanence_follows_the_code() {
        assert!(QueueError::AddressTooLong.is_permanent());
        assert!(!QueueError::EnvelopeFormat.is_permanent());
        assert!(!QueueError::Read(io::Error::other("x")).is_permanent());
    }

    fn who() -> Injector {
        Injector {
            pid: 4242,
            uid: 7,
            start: 1704423845,
            how: "by uid 7".into(),
            serial: None,
        }
    }

    #[test]
    fn enqueue_writes_mess_intd_todo() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        let id = enqueue(
            &l.root,
            &Spares::none(),
            &who(),
            &mut &b"Subject: x\n\nbody\n"[..],
            &mut &b"Fs@x\0Tr@y\0\0"[..],
        )
        .unwrap();
        let mess = std::fs::read(l.mess(id)).unwrap();
        assert_eq!(
            mess,
            b"Received: (qmail 4242 invoked by uid 7); 5 Jan 2024 03:04:05 -0000\nSubject: x\n\nbody\n"
        );
        assert_eq!(std::fs::metadata(l.mess(id)).unwrap().ino(), id);
        assert_eq!(
            std::fs::read(l.todo(id)).unwrap(),
            b"u7\0p4242\0Fs@x\0Tr@y\0"
        );
        assert_eq!(std::fs::read_dir(l.dir("pid")).unwrap().count(), 0);
    }

    #[test]
    fn large_message_is_copied_whole() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let id = enqueue(
            &l.root,
            &Spares::none(),
            &who(),
            &mut &body[..],
            &mut &b"F\0\0"[..],
        )
        .unwrap();
        let mess = std::fs::read(l.mess(id)).unwrap();
        assert_eq!(&mess[mess.len() - body.len()..], &body[..]);
    }

    #[test]
    fn truncated_envelope_removes_what_it_made() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        let e = enqueue(
            &l.root,
            &Spares::none(),
            &who(),
            &mut &b"x\n"[..],
            &mut &b"Fs@x\0Tr"[..],
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 54);
        for dir in ["todo", "intd", "pid"] {
            assert_eq!(std::fs::read_dir(l.dir(dir)).unwrap().count(), 0, "{dir}");
        }
        for i in 0..SPLIT {
            let sub = l.dir("mess").join(i.to_string());
            assert_eq!(std::fs::read_dir(sub).unwrap().count(), 0);
        }
    }

    #[test]
    fn format_error_leaves_mess_and_intd_for_the_sweep() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        let e = enqueue(
            &l.root,
            &Spares::none(),
            &who(),
            &mut &b"x\n"[..],
            &mut &b"Q\0\0"[..],
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 91);
        assert_eq!(std::fs::read_dir(l.dir("todo")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(l.dir("intd")).unwrap().count(), 1);
    }
}
