//! The on-disk queue layout (spec §2.5): qmail's own directories, split
//! subdirectories, and the message id = inode number rule.

use std::path::{Path, PathBuf};

use crate::home::SPLIT;

/// Paths inside one queue directory (`QMAILHOME/queue`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub split: u64,
}

/// The split directories (`mess`, `info`, `local`, `remote`).
pub const SPLIT_DIRS: [&str; 4] = ["mess", "info", "local", "remote"];
/// The flat directories.
pub const FLAT_DIRS: [&str; 5] = ["pid", "intd", "todo", "bounce", "lock"];

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout {
            root: root.into(),
            split: SPLIT,
        }
    }
    /// `<dir>/<id mod split>/<id>` for split dirs.
    pub fn split_path(&self, dir: &str, id: u64) -> PathBuf {
        self.root
            .join(dir)
            .join((id % self.split).to_string())
            .join(id.to_string())
    }
    /// `<dir>/<id>` for flat dirs.
    pub fn flat_path(&self, dir: &str, id: u64) -> PathBuf {
        self.root.join(dir).join(id.to_string())
    }
    pub fn mess(&self, id: u64) -> PathBuf {
        self.split_path("mess", id)
    }
    pub fn info(&self, id: u64) -> PathBuf {
        self.split_path("info", id)
    }
    pub fn local(&self, id: u64) -> PathBuf {
        self.split_path("local", id)
    }
    pub fn remote(&self, id: u64) -> PathBuf {
        self.split_path("remote", id)
    }
    pub fn intd(&self, id: u64) -> PathBuf {
        self.flat_path("intd", id)
    }
    pub fn todo(&self, id: u64) -> PathBuf {
        self.flat_path("todo", id)
    }
    pub fn bounce(&self, id: u64) -> PathBuf {
        self.flat_path("bounce", id)
    }
    /// The message id as qmail-send passes it to the spawns: `<split>/<id>`
    /// relative to `mess/`.
    pub fn messid(&self, id: u64) -> String {
        format!("{}/{}", id % self.split, id)
    }
    pub fn lock(&self, name: &str) -> PathBuf {
        self.root.join("lock").join(name)
    }
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates the whole tree (as `qmail-install` would), idempotently:
    /// split subdirectories, `lock/tcpto` (1024 NUL bytes),
    /// `lock/sendmutex` and the `lock/trigger` FIFO.
    pub fn create(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let mk = |p: &Path, mode: u32| -> std::io::Result<()> {
            match std::fs::DirBuilder::new().mode(mode).create(p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
        };
        // Modes of spec §1.1 (hier.c); owners are set by `mta init` in
        // production mode.
        let mode_of = |d: &str| match d {
            "pid" | "intd" | "bounce" | "info" | "local" | "remote" => 0o700,
            _ => 0o750,
        };
        mk(&self.root, 0o750)?;
        for d in FLAT_DIRS {
            mk(&self.dir(d), mode_of(d))?;
        }
        for d in SPLIT_DIRS {
            mk(&self.dir(d), mode_of(d))?;
            for i in 0..self.split {
                mk(&self.dir(d).join(i.to_string()), mode_of(d))?;
            }
        }
        // Beyond qmail: the spare-inode pools (see crate::queue::spare).
        mk(&self.dir("spare"), 0o750)?;
        for (d, _) in crate::queue::spare::Pool::dirs(&self.root) {
            mk(&d, 0o700)?;
        }
        let tcpto = self.lock("tcpto");
        if !tcpto.exists() {
            std::fs::write(&tcpto, [0u8; 1024])?;
        }
        let mutex = self.lock("sendmutex");
        if !mutex.exists() {
            std::fs::write(&mutex, b"")?;
        }
        let trigger = self.lock("trigger");
        if !trigger.exists() {
            nix::unistd::mkfifo(&trigger, nix::sys::stat::Mode::from_bits_truncate(0o622))
                .map_err(std::io::Error::from)?;
            // mkfifo honours the umask; qmail-queue (another uid in
            // production) must be able to open it for writing.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&trigger, std::fs::Permissions::from_mode(0o622))?;
        }
        Ok(())
    }
}

/// Parses a pure-decimal file name as a message id.
pub fn parse_id(name: &str) -> Option<u64> {
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_paths() {
        let l = Layout::new("/q");
        assert_eq!(l.mess(457), PathBuf::from("/q/mess/20/457"));
        assert_eq!(l.todo(457), PathBuf::from("/q/todo/457"));
        assert_eq!(l.messid(457), "20/457");
        assert_eq!(parse_id("457"), Some(457));
        assert_eq!(parse_id("45a"), None);
        assert_eq!(parse_id(""), None);
    }

    #[test]
    fn create_builds_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        l.create().unwrap();
        assert!(l.dir("mess").join("22").is_dir());
        assert_eq!(std::fs::read(l.lock("tcpto")).unwrap().len(), 1024);
    }
}
