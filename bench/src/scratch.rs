//! Scratch directories are set aside, not deleted, until the bench ends.
//!
//! Why: ext4's inode allocator skips every inode freed in the last ~30
//! seconds (`recently_deleted()`), so deleting one run's 20,000 Maildir
//! and queue files would make the next run's file creations (whichever
//! MTA it is) pay for the previous run's clean-up. Each run should pay
//! only for its own churn, so a finished run's directory is renamed into
//! `<parent>/.discarded/` and the whole work directory goes at the end.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

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
    }
}
