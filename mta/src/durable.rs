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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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

/// At most this many fsyncs of one [`all_at_once`] run at once.
pub const WIDTH: usize = 16;

/// Runs `flush` on every item, up to [`WIDTH`] at a time, and returns when
/// all are done: the first error in `items`' order, if any.
///
/// Why at once: an fsync costs a journal commit (or, without a journal,
/// synchronous writes) and a device cache flush, and the kernel merges the
/// commits and flushes of fsyncs that are waiting together. One after the
/// other, qmail-send's batch of 64 messages (128 files, up to 46
/// directories) paid for 174 flushes in a row; at once it pays for a few.
/// When no thread can be started the calling thread does the work alone.
pub fn all_at_once<T: Sync>(
    items: &[T],
    flush: impl Fn(&T) -> Result<(), String> + Sync,
) -> Result<(), String> {
    if items.len() <= 1 {
        return items.iter().try_for_each(&flush);
    }
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<(usize, String)>> = Mutex::new(None);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(i) else { return };
        if let Err(e) = flush(item) {
            let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
            if f.as_ref().is_none_or(|(j, _)| i < *j) {
                *f = Some((i, e));
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..items.len().min(WIDTH) {
            let started = std::thread::Builder::new()
                .name("fsync".into())
                .stack_size(64 * 1024)
                .spawn_scoped(s, work);
            if started.is_err() {
                break;
            }
        }
        work();
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
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
    fn all_at_once_does_every_item_and_names_the_first_failure() {
        let seen = Mutex::new(Vec::new());
        let items: Vec<u32> = (0..40).collect();
        let r = all_at_once(&items, |&i| {
            seen.lock().unwrap().push(i);
            if i % 10 == 7 {
                Err(format!("item {i}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err("item 7".to_string()));
        let mut v = seen.into_inner().unwrap();
        v.sort();
        assert_eq!(v, items);
        assert_eq!(all_at_once(&items[..0], |_| Err("x".into())), Ok(()));
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
