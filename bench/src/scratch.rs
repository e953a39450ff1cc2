//! Scratch directories are set aside, not deleted, until the bench ends.
//!
//! Why: without a journal, ext4's inode allocator skips every inode freed
//! in the last 60 seconds, or 300 while its inode-table block is dirty
//! (`recently_deleted()`), so deleting one run's 20,000 Maildir
//! and queue files would make the next run's file creations (whichever
//! MTA it is) pay for the previous run's clean-up. Each run should pay
//! only for its own churn, so a finished run's directory is renamed into
//! `<parent>/.discarded/` and the whole work directory goes at the end.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Renames `dir` (if it exists) to a fresh sibling name and returns that
/// name, so that its deletion can wait until the bench is over.
pub fn set_aside(dir: &Path) -> Option<std::path::PathBuf> {
    if !dir.exists() {
        return None;
    }
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".old-{}", std::process::id()));
    let to = std::path::PathBuf::from(name);
    match std::fs::rename(dir, &to) {
        Ok(()) => Some(to),
        Err(_) => {
            let _ = std::fs::remove_dir_all(dir);
            None
        }
    }
}

/// Moves `dir` out of the way (to `<parent>/.discarded/<n>`); removes it
/// only when it cannot be moved. A missing `dir` is fine.
pub fn discard(dir: &Path) {
    static N: AtomicU64 = AtomicU64::new(0);
    if !dir.exists() {
        return;
    }
    let Some(parent) = dir.parent() else {
        let _ = std::fs::remove_dir_all(dir);
        return;
    };
    let bin = parent.join(".discarded");
    let _ = std::fs::create_dir_all(&bin);
    let to = bin.join(format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::rename(dir, &to).is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discarded_directories_leave_their_place_empty() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir_all(run.join("Maildir/new")).unwrap();
        std::fs::write(run.join("Maildir/new/1"), b"x").unwrap();
        discard(&run);
        assert!(!run.exists());
        let kept: Vec<_> = std::fs::read_dir(d.path().join(".discarded"))
            .unwrap()
            .collect();
        assert_eq!(kept.len(), 1);
        discard(&run);
        let again = d.path().join("again");
        std::fs::create_dir(&again).unwrap();
        let aside = set_aside(&again).unwrap();
        assert!(!again.exists() && aside.is_dir());
        assert!(set_aside(&again).is_none());
    }
}
