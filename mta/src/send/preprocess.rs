//! Preprocessing `todo/<id>` (spec §3.3): the envelope becomes `info/`,
//! `local/` and `remote/` files, then qmail-clean removes `todo` and
//! `intd`.
//!
//! Beyond qmail: every file is fsynced and, once per batch, every directory
//! that gained an entry, before the todo file is cleaned. The batch writes
//! all its files first and is flushed afterwards, on the syncer's thread
//! ([`super::syncer`]), so the first fsync's journal commit carries the
//! data of the whole batch and the later ones find little left to do:
//! several messages share one flush (group commit). After a power cut a
//! message is either still in `todo/` or fully preprocessed. Any failure
//! leaves `todo/<id>` in place; the next scan redoes the work from scratch
//! (step 2 removes leftovers, so the step is idempotent).
//!
//! New files come from qmail-send's spare pool when it has any
//! ([`crate::queue::spare`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use super::channel;
use super::rewrite::{Rewriter, Route};
use crate::queue::layout::Layout;
use crate::queue::spare::Spares;

/// What preprocessing learned about one message, for logging and scheduling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preprocessed {
    pub id: u64,
    pub size: u64,
    pub sender: Vec<u8>,
    pub qp: Vec<u8>,
    pub uid: Vec<u8>,
    pub has_local: bool,
    pub has_remote: bool,
}

/// Why a todo entry could not be preprocessed now (it stays in todo/).
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("unable to open {0}")]
    Open(String),
    #[error("unable to stat {0}")]
    Stat(String),
    #[error("unable to create {0}")]
    Create(String),
    #[error("trouble writing to {0}")]
    Write(String),
    #[error("trouble fsyncing {0}")]
    Fsync(String),
    #[error("unknown record type in {0}")]
    Format(String),
    #[error("unable to unlink {0}")]
    Unlink(String),
}

impl PreprocessError {
    /// Always temporary: the message stays queued.
    pub fn is_permanent(&self) -> bool {
        false
    }
}

fn rel(layout: &Layout, p: &std::path::Path) -> String {
    p.strip_prefix(&layout.root)
        .unwrap_or(p)
        .display()
        .to_string()
}

fn remove_stale(layout: &Layout, p: &std::path::Path) -> Result<(), PreprocessError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => Err(PreprocessError::Unlink(rel(layout, p))),
    }
}

/// Files written by a batch, waiting for their fsync, and the directories
/// that gained entries.
#[derive(Default)]
pub struct Batch {
    files: Vec<(File, PathBuf)>,
    dirs: BTreeSet<PathBuf>,
}

fn write_new(
    layout: &Layout,
    spares: &Spares,
    batch: &mut Batch,
    p: &std::path::Path,
    data: &[u8],
) -> Result<(), PreprocessError> {
    let mut c = spares
        .create(p, 0o600)
        .map_err(|_| PreprocessError::Create(rel(layout, p)))?;
    c.file
        .write_all(data)
        .and_then(|()| c.fit(data.len() as u64))
        .map_err(|_| PreprocessError::Write(rel(layout, p)))?;
    if let Some(d) = p.parent() {
        batch.dirs.insert(d.to_path_buf());
    }
    batch.files.push((c.file, p.to_path_buf()));
    Ok(())
}

/// Preprocesses one todo entry: writes its info and channel files into
/// `batch`. Nothing is durable until [`sync`]; the caller asks qmail-clean
/// to remove the todo file only after that.
pub fn preprocess(
    layout: &Layout,
    rw: &Rewriter,
    spares: &Spares,
    id: u64,
    batch: &mut Batch,
) -> Result<Preprocessed, PreprocessError> {
    let todo = layout.todo(id);
    let env = std::fs::read(&todo).map_err(|_| PreprocessError::Open(rel(layout, &todo)))?;
    let mess = layout.mess(id);
    let size = std::fs::metadata(&mess)
        .map_err(|_| PreprocessError::Stat(rel(layout, &mess)))?
        .len();
    let (info, local, remote) = (layout.info(id), layout.local(id), layout.remote(id));
    for p in [&local, &remote, &info] {
        remove_stale(layout, p)?;
    }
    let mut out = Preprocessed {
        id,
        size,
        sender: Vec::new(),
        qp: Vec::new(),
        uid: Vec::new(),
        has_local: false,
        has_remote: false,
    };
    let mut locals = Vec::new();
    let mut remotes = Vec::new();
    let mut saw_sender = false;
    for rec in env.split(|&c| c == 0).filter(|r| !r.is_empty()) {
        let body = rec[1..].to_vec();
        match rec[0] {
            b'u' => out.uid = body,
            b'p' => out.qp = body,
            b'F' => {
                out.sender = body;
                saw_sender = true;
            }
            b'T' => match rw.rewrite(&body) {
                Route::Local(a) => locals.push(a),
                Route::Remote(a) => remotes.push(a),
            },
            _ => return Err(PreprocessError::Format(rel(layout, &todo))),
        }
    }
    if !saw_sender {
        return Err(PreprocessError::Format(rel(layout, &todo)));
    }
    let mut f = Vec::with_capacity(out.sender.len() + 2);
    f.push(b'F');
    f.extend_from_slice(&out.sender);
    f.push(0);
    write_new(layout, spares, batch, &info, &f)?;
    if !locals.is_empty() {
        write_new(layout, spares, batch, &local, &channel::encode(&locals))?;
        out.has_local = true;
    }
    if !remotes.is_empty() {
        write_new(layout, spares, batch, &remote, &channel::encode(&remotes))?;
        out.has_remote = true;
    }
    Ok(out)
}

impl Batch {
    /// The flush that makes the batch durable: every file, then every
    /// directory that gained an entry. Until it has completed, the batch's
    /// todo files must stay.
    pub fn into_job(self, token: u64) -> super::syncer::SyncJob {
        super::syncer::SyncJob {
            token,
            files: self.files,
            dirs: self.dirs,
            point: Some("send.info.synced"),
            dir_point: Some("send.channel.synced"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{DomainSet, VirtualDomains};

    #[test]
    fn splits_local_and_remote() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        std::fs::write(l.mess(30), b"Received: x\n\nhi\n").unwrap();
        std::fs::write(
            l.todo(30),
            b"u1000\0p42\0Fs@x\0Tbob@me.example\0Tz@far.example\0",
        )
        .unwrap();
        // A leftover from a crashed earlier attempt must not block us.
        std::fs::write(l.info(30), b"Fold\0").unwrap();
        let rw = Rewriter {
            envnoathost: "me.example".into(),
            percenthack: DomainSet::default(),
            locals: DomainSet::from_lines(&["me.example".into()]),
            virtualdomains: VirtualDomains::default(),
        };
        let mut batch = Batch::default();
        let p = preprocess(&l, &rw, &Spares::none(), 30, &mut batch).unwrap();
        assert_eq!(batch.dirs.len(), 3);
        super::super::syncer::run(&l.root, &mut batch.into_job(1)).unwrap();
        assert_eq!(p.size, 16);
        assert_eq!(p.qp, b"42");
        assert!(p.has_local && p.has_remote);
        assert_eq!(std::fs::read(l.info(30)).unwrap(), b"Fs@x\0");
        assert_eq!(std::fs::read(l.local(30)).unwrap(), b"Tbob@me.example\0");
        assert_eq!(std::fs::read(l.remote(30)).unwrap(), b"Tz@far.example\0");
    }

    #[test]
    fn bad_record_leaves_todo() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        std::fs::write(l.mess(31), b"x\n").unwrap();
        std::fs::write(l.todo(31), b"Fs@x\0Qbad\0").unwrap();
        let rw = Rewriter {
            envnoathost: "e".into(),
            percenthack: DomainSet::default(),
            locals: DomainSet::default(),
            virtualdomains: VirtualDomains::default(),
        };
        let e = preprocess(&l, &rw, &Spares::none(), 31, &mut Batch::default()).unwrap_err();
        assert_eq!(e.to_string(), "unknown record type in todo/31");
        assert!(l.todo(31).exists());
    }
}
