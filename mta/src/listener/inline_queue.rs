//! qmail-queue without the exec: in unprivileged mode the listener runs
//! qmail-queue's core ([`crate::queue::enqueue::enqueue`], spec §2.4
//! steps 3–10) on a thread of its own instead of forking and executing
//! `bin/qmail-queue` per message.
//!
//! Why: a fork and exec costs about 0.7 ms of CPU per message here, a
//! large share of the per-message budget. In unprivileged mode
//! qmail-queue would run as the listener's own user anyway, so the
//! process boundary separates nothing (the same reasoning as
//! [`crate::local::inline`]). Production mode keeps the setuid
//! `qmailq` program; so does a set `QMAILQUEUE` (a filter must see the
//! message), and `MTA_QUEUE_EXEC=1` forces the exec for comparison.
//!
//! The queue writes, their order, fsyncs and crash points are the shared
//! code's, so durability is exactly qmail-queue's. What differs from the
//! process, and why it is harmless:
//! - The "qp" (Received line, the `p` record, `250 ok <t> qp <n>`) is
//!   the listener's pid: there is no qmail-queue process to name.
//!   Several messages then share a qp, as in qmail across pid reuse; the
//!   pid file name gets a per-message serial so it stays unique
//!   ([`Injector::serial`]).
//! - No 24-hour alarm: the SMTP session's `timeoutsmtpd` ends a stalled
//!   message, which closes the channels, and the core then takes its
//!   files back exactly as after qmail-queue's read error (54).
//! - The process umask is the listener's, not 033: in unprivileged mode
//!   every file belongs to the same user anyway.
//! - A crash point aborts the listener (it is the process doing the
//!   step), like it aborts qmail-queue.
//!
//! Memory stays flat: the message goes through a bounded channel of
//! [`CHUNKS`] session reads, so a slow disk holds the client back instead
//! of buffering. One thread per message in progress, like one qmail-queue
//! process per message in progress on the exec path; not a blocking-pool
//! thread, so slow senders can never starve the pool. The threads are kept
//! for the next messages ([`crate::workers`]).

use std::io::{self, Cursor, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::home::{Home, Mode};
use crate::queue::client::{envelope, qq_text, QqError};
use crate::queue::enqueue::{enqueue, Injector, QueueError};
use crate::queue::spare::{Pool, Spares};
use crate::workers::Workers;

/// Session reads buffered between the session and the queue thread.
pub const CHUNKS: usize = 4;

/// Per-message serial for the pid file names (see module docs).
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// Whether the listener should enqueue in-process: unprivileged mode, no
/// `QMAILQUEUE` (empty counts as unset, as in [`crate::queue::client::program`])
/// and `MTA_QUEUE_EXEC` not `1`.
pub fn wanted(home: &Home) -> bool {
    home.mode == Mode::Unprivileged
        && std::env::var_os("QMAILQUEUE").is_none_or(|v| v.is_empty())
        && std::env::var_os("MTA_QUEUE_EXEC").is_none_or(|v| v != "1")
}

/// One message being queued by the in-process qmail-queue.
pub struct InlineInjection {
    data: Option<mpsc::Sender<Vec<u8>>>,
    envelope: Option<oneshot::Sender<Vec<u8>>>,
    done: oneshot::Receiver<Result<u64, QueueError>>,
    write_failed: bool,
}

/// The message as the core reads it: chunks from the session, EOF when
/// the session closes its end.
struct ChunkReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Cursor<Vec<u8>>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.cur.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.blocking_recv() {
                Some(c) => self.cur = Cursor::new(c),
                None => return Ok(0),
            }
        }
    }
}

/// The envelope: waits for [`InlineInjection::finish`]; an abort drops
/// the sender, which reads as an empty envelope, i.e. qmail-queue's read
/// error (nothing is queued).
struct EnvelopeReader {
    rx: Option<oneshot::Receiver<Vec<u8>>>,
    cur: Cursor<Vec<u8>>,
}

impl Read for EnvelopeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(rx) = self.rx.take() {
            self.cur = Cursor::new(rx.blocking_recv().unwrap_or_default());
        }
        self.cur.read(buf)
    }
}

/// qmail-queue's answer for `e`, as its exit code would be read.
fn qq_error(e: &QueueError) -> QqError {
    let status = ExitStatus::from_raw((e.exit_code() & 0xff) << 8);
    match qq_text(status) {
        Err(q) => q,
        Ok(()) => QqError {
            permanent: false,
            text: "qq internal bug (#4.3.0)".to_string(),
        },
    }
}

fn bug() -> QqError {
    qq_error(&QueueError::Bug)
}

impl InlineInjection {
    /// Starts queueing into `root/queue` on a new thread.
    pub fn start(root: &Path) -> Result<InlineInjection, QqError> {
        let who = Injector {
            pid: std::process::id(),
            uid: nix::unistd::getuid().as_raw(),
            start: crate::date::now(),
            how: "from network".to_string(),
            serial: Some(SERIAL.fetch_add(1, Ordering::Relaxed)),
        };
        let queue: PathBuf = root.join("queue");
        let spares = Spares::shared(&queue, Pool::Queue);
        let (data_tx, data_rx) = mpsc::channel(CHUNKS);
        let (env_tx, env_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let body = move || {
            let mut message = ChunkReader {
                rx: data_rx,
                cur: Cursor::new(Vec::new()),
            };
            let mut env = EnvelopeReader {
                rx: Some(env_rx),
                cur: Cursor::new(Vec::new()),
            };
            // A panic is qmail-queue's internal bug (81), as in
            // qq_process; it must not take the listener down.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                enqueue(&queue, &spares, &who, &mut message, &mut env)
            }))
            .unwrap_or(Err(QueueError::Bug));
            let _ = done_tx.send(r);
        };
        static WORKERS: std::sync::OnceLock<Workers> = std::sync::OnceLock::new();
        WORKERS
            .get_or_init(|| Workers::new("qmail-queue", 256 * 1024))
            .run(body)
            // The exec path's answer when it cannot start qmail-queue.
            .map_err(|_| qq_error_exec())?;
        Ok(InlineInjection {
            data: Some(data_tx),
            envelope: Some(env_tx),
            done: done_rx,
            write_failed: false,
        })
    }

    /// Passes one piece of the message on; waits (without blocking the
    /// runtime) while the queue thread is [`CHUNKS`] pieces behind.
    pub async fn write(&mut self, data: Vec<u8>) {
        if self.write_failed {
            return;
        }
        let ok = match &self.data {
            Some(tx) => tx.send(data).await.is_ok(),
            None => false,
        };
        self.write_failed = !ok;
    }

    /// Ends the message, hands over the envelope and waits for the
    /// commit. Returns the qp (the listener's pid) on success.
    pub async fn finish(mut self, sender: &[u8], recipients: &[Vec<u8>]) -> Result<u32, QqError> {
        drop(self.data.take());
        if let Some(tx) = self.envelope.take() {
            // As on the exec path: after a failed message write the
            // envelope is withheld, so nothing truncated is committed.
            if !self.write_failed {
                let _ = tx.send(envelope(sender, recipients));
            }
        }
        match self.done.await {
            Ok(Ok(_)) if self.write_failed => Err(qq_error(&QueueError::Read(
                io::ErrorKind::BrokenPipe.into(),
            ))),
            Ok(Ok(_)) => Ok(std::process::id()),
            Ok(Err(e)) => Err(qq_error(&e)),
            Err(_) => Err(bug()),
        }
    }

    /// Gives up: no envelope, so the core takes back what it made; waits
    /// for that, as the exec path reaps its child.
    pub async fn abort(mut self) {
        drop(self.data.take());
        drop(self.envelope.take());
        let _ = self.done.await;
    }
}

fn qq_error_exec() -> QqError {
    QqError {
        permanent: false,
        text: "unable to exec qq (#4.3.0)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::layout::Layout;

    fn root() -> (tempfile::TempDir, Layout) {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        (d, l)
    }

    fn count(l: &Layout, dir: &str) -> usize {
        std::fs::read_dir(l.dir(dir)).unwrap().count()
    }

    #[tokio::test]
    async fn queues_message_with_listener_pid_as_qp() {
        let (d, l) = root();
        let mut inj = InlineInjection::start(d.path()).unwrap();
        inj.write(b"Subject: x\n\n".to_vec()).await;
        inj.write(b"body\n".to_vec()).await;
        let qp = inj.finish(b"s@x", &[b"r@y".to_vec()]).await.unwrap();
        assert_eq!(qp, std::process::id());
        let todo: Vec<_> = std::fs::read_dir(l.dir("todo")).unwrap().collect();
        assert_eq!(todo.len(), 1);
        let name = todo[0].as_ref().unwrap().file_name();
        let id: u64 = name.to_str().unwrap().parse().unwrap();
        let mess = String::from_utf8(std::fs::read(l.mess(id)).unwrap()).unwrap();
        let first = format!("Received: (qmail {qp} invoked from network); ");
        assert!(mess.starts_with(&first), "{mess}");
        assert!(mess.ends_with("\nSubject: x\n\nbody\n"), "{mess}");
        let uid = nix::unistd::getuid().as_raw();
        assert_eq!(
            std::fs::read(l.todo(id)).unwrap(),
            format!("u{uid}\0p{qp}\0Fs@x\0Tr@y\0").into_bytes()
        );
        assert_eq!(count(&l, "pid"), 0);
    }

    #[tokio::test]
    async fn abort_leaves_nothing() {
        let (d, l) = root();
        let mut inj = InlineInjection::start(d.path()).unwrap();
        inj.write(b"half a message".to_vec()).await;
        inj.abort().await;
        for dir in ["todo", "intd", "pid"] {
            assert_eq!(count(&l, dir), 0, "{dir}");
        }
    }

    #[tokio::test]
    async fn many_at_once_in_one_second_all_queue() {
        // qmail-queue's pid file name has 9 tries per pid and second; the
        // serial keeps concurrent inline messages apart.
        let (d, l) = root();
        let mut v = Vec::new();
        for _ in 0..20 {
            let mut inj = InlineInjection::start(d.path()).unwrap();
            inj.write(b"x\n".to_vec()).await;
            v.push(inj);
        }
        for inj in v {
            inj.finish(b"", &[b"r@y".to_vec()]).await.unwrap();
        }
        assert_eq!(count(&l, "todo"), 20);
    }

    #[tokio::test]
    async fn queue_errors_get_qmail_queue_texts() {
        // No queue directory: the pid file cannot be made (exit 63).
        let d = tempfile::tempdir().unwrap();
        let mut inj = InlineInjection::start(d.path()).unwrap();
        inj.write(b"x\n".to_vec()).await;
        let e = inj.finish(b"", &[b"r@y".to_vec()]).await.unwrap_err();
        assert_eq!(e.lettered(), "Zqq trouble creating files in queue (#4.3.0)");
        let long = vec![b'a'; 2000];
        let (d, _l) = root();
        let inj = InlineInjection::start(d.path()).unwrap();
        let e = inj.finish(&long, &[]).await.unwrap_err();
        assert_eq!(e.lettered(), "Denvelope address too long for qq (#5.1.3)");
    }

    #[test]
    fn wanted_only_unprivileged() {
        let d = tempfile::tempdir().unwrap();
        assert!(!wanted(&Home::new(d.path(), Mode::Production)));
    }
}
