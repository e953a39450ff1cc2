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
    fn write_atomic_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!d.path().join("f.tmp").exists());
    }
}
