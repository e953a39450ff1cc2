//! Durable filesystem steps.
//!
//! qmail's crash-safety argument (spec §2.4, INTERNALS) assumes that a
//! `link` or `rename` is durable once it returns. On Linux that holds only
//! after the parent directory is fsynced, so every step here fsyncs the
//! file **and** the directory whose entry changed before it counts as
//! done. Each step names a crash point (see [`crate::crashpoint`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use crate::crashpoint;

/// fsyncs a directory.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let d = File::open(dir)?;
    d.sync_all()
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Creates `path` with `O_EXCL` and the given mode (before umask).
pub fn create_excl(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// `link(from, to)`, then fsync the directory of `to`, then fire `point`.
pub fn link(from: &Path, to: &Path, point: &str) -> io::Result<()> {
    std::fs::hard_link(from, to)?;
    fsync_dir(parent(to))?;
    crashpoint::hit(point);
    Ok(())
}

/// `rename(from, to)`, then fsync the directory of `to` (and of `from` when
/// it differs), then fire `point`.
pub fn rename(from: &Path, to: &Path, point: &str) -> io::Result<()> {
    std::fs::rename(from, to)?;
    fsync_dir(parent(to))?;
    if parent(from) != parent(to) {
        fsync_dir(parent(from))?;
    }
    crashpoint::hit(point);
    Ok(())
}

/// fsync a file, then fire `point`.
pub fn sync_file(f: &File, point: &str) -> io::Result<()> {
    f.sync_all()?;
    crashpoint::hit(point);
    Ok(())
}

/// `unlink(path)` then fsync its directory, then fire `point`. A missing
/// file counts as removed.
pub fn unlink(path: &Path, point: &str) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fsync_dir(parent(path))?;
    crashpoint::hit(point);
    Ok(())
}

/// Writes `data` to `path` atomically: `path.tmp`, fsync, rename, dir fsync.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    fsync_dir(parent(path))
}

/// Threads of the flush pool: at most this many fsyncs run at once.
pub const WIDTH: usize = 16;

/// Something to make durable.
pub enum Target {
    /// fsync this file (it is closed afterwards).
    File(File),
    /// fsync this directory.
    Dir(std::path::PathBuf),
}

impl Target {
    fn flush(self) -> io::Result<()> {
        match self {
            Target::File(f) => f.sync_all(),
            Target::Dir(d) => fsync_dir(&d),
        }
    }
}

struct Task {
    target: Target,
    index: usize,
    done: mpsc::Sender<(usize, io::Result<()>)>,
}

/// The pool's queue; started on first use, `None` if no thread could be.
fn pool() -> Option<&'static mpsc::Sender<Task>> {
    static POOL: OnceLock<Option<mpsc::Sender<Task>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for _ in 0..WIDTH {
            let rx = Arc::clone(&rx);
            let r = std::thread::Builder::new()
                .name("fsync".into())
                .stack_size(64 * 1024)
                .spawn(move || loop {
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(t) = next else { return };
                    let _ = t.done.send((t.index, t.target.flush()));
                });
            if r.is_ok() {
                started += 1;
            }
        }
        (started > 0).then_some(tx)
    })
    .as_ref()
}

/// Flushes every target side by side, on a pool of [`WIDTH`] long-lived
/// threads, and returns when all are done: one result per target, in
/// order.
///
/// Why side by side: an fsync costs a journal commit (or, without a
/// journal, synchronous writes) and a device cache flush, and the kernel
/// merges the commits and flushes of fsyncs that wait together. One after
/// the other, qmail-send's batch of 64 messages (128 files, up to 46
/// directories) paid for 174 flushes in a row. Long-lived threads, because
/// starting a thread per fsync costs about as many system calls as the
/// fsync. Without the pool the calling thread does the work alone.
pub fn flush_all(targets: Vec<Target>) -> Vec<io::Result<()>> {
    let n = targets.len();
    let Some(pool) = pool().filter(|_| n > 1) else {
        return targets.into_iter().map(Target::flush).collect();
    };
    let (done_tx, done_rx) = mpsc::channel();
    let mut results: Vec<Option<io::Result<()>>> = (0..n).map(|_| None).collect();
    for (index, target) in targets.into_iter().enumerate() {
        let task = Task {
            target,
            index,
            done: done_tx.clone(),
        };
        if let Err(mpsc::SendError(t)) = pool.send(task) {
            results[index] = Some(t.target.flush());
        }
    }
    drop(done_tx);
    for (index, r) in done_rx.iter() {
        results[index] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("flush lost"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_and_unlink_are_visible() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::fs::write(&a, b"x").unwrap();
        link(&a, &b, "test.link").unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"x");
        unlink(&a, "test.unlink").unwrap();
        assert!(!a.exists());
        unlink(&a, "test.unlink").unwrap();
    }

    #[test]
    fn flush_all_answers_each_target_in_order() {
        let d = tempfile::tempdir().unwrap();
        let mut targets = Vec::new();
        for i in 0..40 {
            if i % 10 == 7 {
                targets.push(Target::Dir(d.path().join(format!("missing{i}"))));
            } else if i % 2 == 0 {
                targets.push(Target::Dir(d.path().to_path_buf()));
            } else {
                targets.push(Target::File(
                    File::create(d.path().join(format!("f{i}"))).unwrap(),
                ));
            }
        }
        let r = flush_all(targets);
        assert_eq!(r.len(), 40);
        for (i, r) in r.iter().enumerate() {
            assert_eq!(r.is_err(), i % 10 == 7, "target {i}");
        }
        assert!(flush_all(Vec::new()).is_empty());
        assert!(flush_all(vec![Target::Dir(d.path().join("none"))])[0].is_err());
    }

    #[test]
    fn write_atomic_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!d.path().join("f.tmp").exists());
    }
}
