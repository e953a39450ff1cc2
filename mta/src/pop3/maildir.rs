//! The maildir side of qmail-pop3d (spec §11.3, qmail's `maildir.c`):
//! cleaning old files out of `tmp/`, building the session's message list
//! from `new/` and `cur/`, and carrying out QUIT. Every path is relative
//! to the maildir, which is the current directory in qmail-pop3d; the
//! functions take the maildir explicitly so tests need no chdir.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::pop3d::{Message, QuitOp, Subdir};

/// Files in `tmp/` whose atime is older than this are removed (36 hours:
/// a delivery that old has crashed).
pub const TMP_MAX_AGE_SECS: i64 = 36 * 60 * 60;

/// Removes files in `tmp/` whose atime is more than 36 hours before `now`
/// (unix seconds). Best effort, as qmail: errors are ignored.
pub fn clean_tmp(maildir: &Path, now: i64) {
    let Ok(dir) = std::fs::read_dir(maildir.join("tmp")) else {
        return;
    };
    for entry in dir.flatten() {
        if entry.file_name().as_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        if let Ok(md) = std::fs::metadata(&path) {
            if now > md.atime().saturating_add(TMP_MAX_AGE_SECS) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// The session's message list: the files of `new/` then `cur/` (names not
/// starting with `.`) whose mtime is strictly before `now` (unix seconds),
/// ordered by mtime. A message delivered during the current second waits
/// for the next session, so that the numbering cannot mix up the order.
///
/// qmail orders equal mtimes as its priority queue happens to; we keep
/// `new/` before `cur/` and then name order, which is deterministic.
/// Sizes are on-disk sizes from the same `stat`.
pub fn scan(maildir: &Path, now: i64) -> io::Result<Vec<Message>> {
    let mut found: Vec<(i64, Message)> = Vec::new();
    for subdir in [Subdir::New, Subdir::Cur] {
        let dir = maildir.join(subdir.name());
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name().as_bytes().to_vec();
            if !name.starts_with(b".") {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let m = Message {
                subdir,
                name,
                size: 0,
            };
            // qmail: a file it cannot stat is left out of the list.
            let Ok(md) = std::fs::metadata(maildir.join(m.path())) else {
                continue;
            };
            if md.mtime() < now {
                found.push((
                    md.mtime(),
                    Message {
                        size: md.len(),
                        ..m
                    },
                ));
            }
        }
    }
    // A stable sort keeps new/ before cur/ and name order for equal mtimes.
    found.sort_by_key(|(mtime, _)| *mtime);
    Ok(found.into_iter().map(|(_, m)| m).collect())
}

/// Carries out QUIT's steps in order; returns how many unlinks failed. A
/// failed rename is ignored (the message stays in `new/`), as in qmail.
pub fn commit(maildir: &Path, ops: &[QuitOp]) -> usize {
    let mut failures = 0;
    for op in ops {
        match op {
            QuitOp::Unlink(p) => {
                if std::fs::remove_file(maildir.join(p)).is_err() {
                    failures += 1;
                }
            }
            QuitOp::ToCur { from, to } => {
                let _ = std::fs::rename(maildir.join(from), maildir.join(to));
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn maildir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for s in ["tmp", "new", "cur"] {
            std::fs::create_dir(d.path().join(s)).unwrap();
        }
        d
    }

    fn put(dir: &Path, rel: &str, body: &str, mtime: u64) {
        let p = dir.join(rel);
        std::fs::write(&p, body).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
            .unwrap();
    }

    #[test]
    fn scan_orders_by_mtime_and_skips_dot_files_and_the_current_second() {
        let d = maildir();
        put(d.path(), "cur/b:2,S", "bb", 300);
        put(d.path(), "new/a", "a", 200);
        put(d.path(), "new/c", "ccc", 400);
        put(d.path(), "new/.hidden", "x", 100);
        put(d.path(), "new/now", "x", 1000);
        let list = scan(d.path(), 1000).unwrap();
        let names: Vec<_> = list.iter().map(|m| m.path()).collect();
        assert_eq!(
            names,
            ["new/a", "cur/b:2,S", "new/c"].map(std::path::PathBuf::from)
        );
        assert_eq!(list.iter().map(|m| m.size).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(scan(d.path(), 1001).unwrap().len(), 4);
    }

    #[test]
    fn equal_mtimes_keep_new_first_then_name_order() {
        let d = maildir();
        put(d.path(), "cur/a", "", 5);
        put(d.path(), "new/z", "", 5);
        put(d.path(), "new/y", "", 5);
        let names: Vec<_> = scan(d.path(), 10)
            .unwrap()
            .iter()
            .map(|m| m.path())
            .collect();
        assert_eq!(
            names,
            ["new/y", "new/z", "cur/a"].map(std::path::PathBuf::from)
        );
    }

    #[test]
    fn scan_fails_without_cur() {
        let d = maildir();
        std::fs::remove_dir(d.path().join("cur")).unwrap();
        assert!(scan(d.path(), 10).is_err());
    }

    #[test]
    fn clean_tmp_removes_only_files_older_than_36_hours() {
        let d = maildir();
        for (name, atime) in [("tmp/old", 1000), ("tmp/young", 2000)] {
            let p = d.path().join(name);
            std::fs::write(&p, "x").unwrap();
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(atime);
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_times(std::fs::FileTimes::new().set_accessed(t))
                .unwrap();
        }
        clean_tmp(d.path(), 1000 + TMP_MAX_AGE_SECS);
        assert!(d.path().join("tmp/old").exists());
        clean_tmp(d.path(), 1000 + TMP_MAX_AGE_SECS + 1);
        assert!(!d.path().join("tmp/old").exists());
        assert!(d.path().join("tmp/young").exists());
    }

    #[test]
    fn commit_counts_failed_unlinks_and_ignores_failed_renames() {
        let d = maildir();
        put(d.path(), "new/a", "a", 1);
        put(d.path(), "new/b", "b", 1);
        let ops = vec![
            QuitOp::Unlink("new/gone".into()),
            QuitOp::ToCur {
                from: "new/missing".into(),
                to: "cur/missing:2,".into(),
            },
            QuitOp::Unlink("new/a".into()),
            QuitOp::ToCur {
                from: "new/b".into(),
                to: "cur/b:2,".into(),
            },
        ];
        assert_eq!(commit(d.path(), &ops), 1);
        assert!(!d.path().join("new/a").exists());
        assert!(d.path().join("cur/b:2,").exists());
    }
}
