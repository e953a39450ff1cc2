//! Injecting the bounce of a finished message: qmail-send's
//! `injectbounce()` minus the logging and the unlink (spec §3.5, §4.2).
//!
//! The scheduler calls [`inject`] when a message is done. On
//! [`Outcome::Injected`] it logs `bounce msg <id> qp <qp>`, on
//! [`Outcome::Discarded`] `triple bounce: discarding bounce/<id>`; in both
//! cases it then unlinks `bounce/<id>`. On an error it logs
//! `warning: trouble injecting bounce message, will try later` and retries
//! the done processing later; every error here is temporary.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::envelope::{plan, BounceConfig, Plan};
use super::{dsn, qsbmf};
use crate::queue::client::{Injection, QqError};

/// What happened to `bounce/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// There is no `bounce/N`: nothing failed permanently.
    NoBounce,
    /// A triple bounce: nothing was sent.
    Discarded,
    /// The bounce was queued; `qp` is qmail-queue's pid.
    Injected { qp: u32 },
}

/// Why the bounce could not be queued this time. Always temporary.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("unable to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Queue(#[from] QqError),
}

impl InjectError {
    /// Bounce trouble is always retried (qmail: "will try later").
    pub fn is_permanent(&self) -> bool {
        false
    }
}

/// Everything [`inject`] needs besides the queue files.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `QMAILHOME`: where the queue program is found.
    pub home: &'a Path,
    pub config: &'a BounceConfig,
    /// `control/bounceformat` said `dsn`.
    pub dsn: bool,
    /// The original envelope sender, from `info/N`.
    pub sender: &'a [u8],
    /// `queue/bounce/N`.
    pub bounce_file: &'a Path,
    /// `queue/mess/S/N`.
    pub mess_file: &'a Path,
    /// The message's birth (mtime of `info/N`), for the DSN's Arrival-Date.
    pub arrival: Option<i64>,
    /// The time written in the bounce's `Date:`.
    pub now: i64,
}

/// Builds and queues the bounce for a finished message.
pub fn inject(req: &Request<'_>) -> Result<Outcome, InjectError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InjectError::Read { path, source }
    };
    let bounce_text = match std::fs::read(req.bounce_file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Outcome::NoBounce),
        Err(e) => return Err(read_err(req.bounce_file)(e)),
    };
    let b = match plan(req.sender, req.config) {
        Plan::Discard => return Ok(Outcome::Discarded),
        Plan::Send(b) => b,
    };
    // Open before starting qmail-queue, so the common failures cannot
    // leave a half-written injection behind.
    let mut mess = Tracked {
        inner: File::open(req.mess_file).map_err(read_err(req.mess_file))?,
        failed: None,
    };
    let mut inj = Injection::start(req.home, Some("bounce"))?;
    let written = if req.dsn {
        dsn::write(
            &mut inj,
            &b,
            req.config,
            &bounce_text,
            &mut mess,
            req.now,
            req.arrival,
        )
    } else {
        qsbmf::write(&mut inj, &b, req.config, &bounce_text, &mut mess, req.now)
    };
    if let Some(e) = mess.failed.take() {
        // Never commit a truncated copy. Dropping the injection closes
        // both pipes without an envelope, so qmail-queue queues nothing.
        inj.abort();
        return Err(read_err(req.mess_file)(e));
    }
    // A write error means qmail-queue went away; finish() reaps it and
    // turns its exit code into the right text.
    let _ = written;
    let qp = inj.finish(&b.envelope_sender, std::slice::from_ref(&b.recipient))?;
    Ok(Outcome::Injected { qp })
}

/// A reader that remembers its first error, to tell read trouble (ours)
/// from write trouble (qmail-queue's) after `io::copy`.
struct Tracked<R> {
    inner: R,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let copy = io::Error::new(e.kind(), e.to_string());
            self.failed.get_or_insert(e);
            copy
        })
    }
}

impl<R: Seek> Seek for Tracked<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let copy = io::Error::new(e.kind(), e.to_string());
            self.failed.get_or_insert(e);
            copy
        })
    }
}
