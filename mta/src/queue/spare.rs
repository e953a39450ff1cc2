//! Spare inodes: queue files are recycled instead of freed.
//!
//! Why (beyond qmail): on ext4 without a journal, creating a file after
//! many files were deleted is expensive. The inode allocator skips every
//! inode of the group freed in the last 60 seconds, or 300 while the
//! inode-table block is dirty (`recently_deleted()` in the kernel), so
//! under a mail queue's create-and-delete churn each new file
//! costs a scan over thousands of freed inodes: measured here at about a
//! third of the whole MTA's CPU at 600 messages/s. A message used to
//! create and free four queue inodes (`pid`→`mess`, `intd`→`todo`,
//! `info`, `local`/`remote`). Now a finished file's inode is renamed into
//! a spare directory and the next queue file is that spare renamed into
//! place, so a steady queue allocates no inodes at all.
//!
//! The on-disk queue stays qmail's: every file still appears under the
//! same name, with the same contents, in the same order of steps (and the
//! same crash points); only where its inode comes from differs. The spare
//! directories are extra:
//!
//! | directory | owner (production) | holds |
//! |---|---|---|
//! | `spare/queue` | qmailq | spares for `pid`→`mess` and `intd`→`todo` (qmail-queue takes them) |
//! | `spare/queue-wait` | qmailq | retired by qmail-clean, not yet reusable |
//! | `spare/send` | qmails | spares for `info`, `local`, `remote` (qmail-send takes them) |
//! | `spare/send-wait` | qmails | retired by qmail-send, not yet reusable |
//!
//! Spares are named by their inode number, which is unique among live
//! inodes.
//!
//! ## The safety rule
//! An inode becomes reusable only once the removal of its old name is
//! durable. Otherwise a power cut could bring the old name back pointing at
//! new contents: a resurrected `todo/N` holding another message's
//! envelope would send message N to that message's recipients. So a
//! retired file first goes to `*-wait`; [`Retirer::release`] fsyncs the
//! directories it was removed from and only then moves it to the ready
//! directory. A taker also checks that the spare has exactly one link
//! before using it (a name brought back some other way keeps its inode).
//!
//! Without spares (an empty pool, a queue made before this existed, a
//! filesystem without `renameat2`), files are created as qmail creates
//! them. The pool is capped at [`CAP`] spares; beyond that, retired files
//! are unlinked as before.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use nix::errno::Errno;
use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};

use crate::durable;

/// At most this many spares wait in one pool.
pub const CAP: usize = 8192;
/// A retired file larger than this is truncated before it becomes a
/// spare, so the pool never holds much disk space.
const KEEP_BYTES: u64 = 64 * 1024;
/// Spares a taker reads from the directory at once.
const BATCH: usize = 64;
/// Tries before falling back to creating the file.
const TRIES: usize = 4;
/// After finding the pool empty, this many creates skip looking again.
const EMPTY_SKIP: u32 = 32;

/// The pools of one queue directory.
pub fn ready_dir(queue: &Path, pool: Pool) -> PathBuf {
    queue.join("spare").join(pool.name())
}

fn wait_dir(queue: &Path, pool: Pool) -> PathBuf {
    queue.join("spare").join(format!("{}-wait", pool.name()))
}

/// Which pool: each belongs to one account in production mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// qmailq's: `pid`/`mess`, `intd`/`todo`.
    Queue,
    /// qmails's: `info`, `local`, `remote`.
    Send,
}

impl Pool {
    pub fn name(self) -> &'static str {
        match self {
            Pool::Queue => "queue",
            Pool::Send => "send",
        }
    }

    /// The spare directories to create, with their owner pool.
    pub fn dirs(queue: &Path) -> [(PathBuf, Pool); 4] {
        [
            (ready_dir(queue, Pool::Queue), Pool::Queue),
            (wait_dir(queue, Pool::Queue), Pool::Queue),
            (ready_dir(queue, Pool::Send), Pool::Send),
            (wait_dir(queue, Pool::Send), Pool::Send),
        ]
    }
}

/// A file made by [`Spares::create`]: `stale` bytes of a spare's old
/// contents may follow whatever is written (0 for a new file).
#[derive(Debug)]
pub struct Created {
    pub file: File,
    pub stale: u64,
    /// The file's inode number.
    pub ino: u64,
}

impl Created {
    /// Cuts the stale tail beyond the `written` bytes (the file was
    /// written from the start). No system call unless the old contents
    /// were longer, so no blocks are freed when the new contents are as
    /// long as the old.
    pub fn fit(&self, written: u64) -> io::Result<()> {
        fit(&self.file, self.stale, written)
    }
}

/// [`Created::fit`] for a caller that keeps the file and its `stale`
/// length apart.
pub fn fit(file: &File, stale: u64, written: u64) -> io::Result<()> {
    if stale > written {
        file.set_len(written)?;
    }
    Ok(())
}

/// The taking side: creates queue files from spares.
#[derive(Debug)]
pub struct Spares {
    ready: PathBuf,
    /// Set a taken spare's times to now: the queue pool's files are
    /// judged by their atime (the 36-hour sweeps); qmail-send's are
    /// written at once, which sets the mtime its schedule reads.
    touch: bool,
    state: Mutex<TakerState>,
}

#[derive(Debug, Default)]
struct TakerState {
    names: Vec<OsString>,
    skip: u32,
    disabled: bool,
}

impl Spares {
    /// A taker for `pool` of the queue at `queue` (`""` after a chdir).
    pub fn new(queue: &Path, pool: Pool) -> Spares {
        Spares {
            ready: ready_dir(queue, pool),
            touch: pool == Pool::Queue,
            state: Mutex::new(TakerState::default()),
        }
    }

    /// One taker per pool directory for the whole process, so that the
    /// threads of a long-lived process share one listing.
    pub fn shared(queue: &Path, pool: Pool) -> Arc<Spares> {
        static ALL: OnceLock<Mutex<BTreeMap<PathBuf, Arc<Spares>>>> = OnceLock::new();
        let key = ready_dir(queue, pool);
        let mut all = ALL
            .get_or_init(|| Mutex::new(BTreeMap::new()))
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        all.entry(key)
            .or_insert_with(|| Arc::new(Spares::new(queue, pool)))
            .clone()
    }

    /// A taker that never finds a spare: every file is created.
    pub fn none() -> Spares {
        Spares {
            ready: PathBuf::new(),
            touch: false,
            state: Mutex::new(TakerState {
                disabled: true,
                ..TakerState::default()
            }),
        }
    }

    fn next(&self) -> Option<OsString> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.disabled {
            return None;
        }
        if let Some(n) = st.names.pop() {
            return Some(n);
        }
        if st.skip > 0 {
            st.skip -= 1;
            return None;
        }
        if let Ok(rd) = std::fs::read_dir(&self.ready) {
            st.names = rd.flatten().take(BATCH).map(|e| e.file_name()).collect();
        }
        // Concurrent processes read the same listing: start at a
        // different place in it to collide less.
        let n = st.names.len();
        if n > 1 {
            st.names.rotate_left(std::process::id() as usize % n);
        }
        match st.names.pop() {
            Some(x) => Some(x),
            None => {
                st.skip = EMPTY_SKIP;
                None
            }
        }
    }

    fn disable(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.disabled = true;
        st.names.clear();
    }

    /// Creates `path` exclusively, like [`durable::create_excl`]: from a
    /// spare when one is there (with its times set to now, so age rules
    /// see a new file), otherwise a new file with `mode`. Fails with
    /// `AlreadyExists` when `path` exists. A spare may hold stale bytes:
    /// write from the start, then call [`Created::fit`] before the fsync.
    pub fn create(&self, path: &Path, mode: u32) -> io::Result<Created> {
        for _ in 0..TRIES {
            let Some(name) = self.next() else { break };
            let from = self.ready.join(&name);
            match renameat2(
                AT_FDCWD,
                &from,
                AT_FDCWD,
                path,
                RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => {}
                // Another taker was first.
                Err(Errno::ENOENT) => continue,
                Err(Errno::EEXIST) => return Err(io::ErrorKind::AlreadyExists.into()),
                Err(Errno::EINVAL) | Err(Errno::ENOSYS) => {
                    self.disable();
                    break;
                }
                Err(_) => break,
            }
            match adopt(path, self.touch) {
                Ok(Some(c)) => return Ok(c),
                // Not a lone regular file: leave its inode to its other
                // names and create instead.
                Ok(None) | Err(_) => {
                    let _ = std::fs::remove_file(path);
                    continue;
                }
            }
        }
        let file = durable::create_excl(path, mode)?;
        let ino = file.metadata()?.ino();
        Ok(Created {
            file,
            stale: 0,
            ino,
        })
    }
}

/// Opens a spare just renamed to `path`; `None` if it is not a regular
/// file with exactly one link.
fn adopt(path: &Path, touch: bool) -> io::Result<Option<Created>> {
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let md = file.metadata()?;
    if !md.file_type().is_file() || md.nlink() != 1 {
        return Ok(None);
    }
    // Not emptied here: freeing its blocks costs a synchronous discard on
    // a filesystem mounted with `discard`. The writer overwrites from the
    // start and cuts any stale tail ([`Created::fit`]).
    if touch {
        let now = nix::sys::time::TimeSpec::UTIME_NOW;
        nix::sys::stat::futimens(&file, &now, &now).map_err(io::Error::from)?;
    }
    Ok(Some(Created {
        file,
        stale: md.len(),
        ino: md.ino(),
    }))
}

/// The retiring side: moves finished queue files into the pool. One per
/// long-lived process (qmail-clean, qmail-send); not shared.
#[derive(Debug)]
pub struct Retirer {
    ready: PathBuf,
    wait: PathBuf,
    /// Retired inodes by generation (see [`Retirer::seal`]).
    waiting: BTreeMap<u64, Vec<u64>>,
    /// Directories that lost a name in the current generation.
    dirs: BTreeSet<PathBuf>,
    generation: u64,
    /// What the ready directory is believed to hold (re-counted now and
    /// then: takers remove spares without telling us).
    ready_count: usize,
    releases: u32,
    usable: bool,
}

impl Retirer {
    /// A retirer for `pool` of the queue at `queue`. Spares left waiting
    /// by an earlier run are picked up: the next [`Retirer::release`]
    /// fsyncs every directory in `origins` before freeing them.
    pub fn new(queue: &Path, pool: Pool, origins: &[PathBuf]) -> Retirer {
        let ready = ready_dir(queue, pool);
        let wait = wait_dir(queue, pool);
        let usable = ready.is_dir() && wait.is_dir();
        let mut r = Retirer {
            ready,
            wait,
            waiting: BTreeMap::new(),
            dirs: BTreeSet::new(),
            generation: 0,
            ready_count: 0,
            releases: 0,
            usable,
        };
        if usable {
            r.ready_count = count(&r.ready);
            let left: Vec<u64> = std::fs::read_dir(&r.wait)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect();
            if !left.is_empty() {
                r.waiting.insert(0, left);
                r.dirs.extend(origins.iter().cloned());
            }
        }
        r
    }

    /// Spares retired and not yet released.
    pub fn pending(&self) -> usize {
        self.waiting.values().map(Vec::len).sum()
    }

    /// Removes `path` like `unlink` (a missing file counts as removed),
    /// keeping its inode as a future spare when the pool has room.
    pub fn retire(&mut self, path: &Path) -> io::Result<()> {
        if self.usable && self.ready_count + self.pending() < CAP {
            match std::fs::symlink_metadata(path) {
                Ok(md) if md.file_type().is_file() && md.nlink() <= 2 => {
                    let to = self.wait.join(md.ino().to_string());
                    match renameat2(AT_FDCWD, path, AT_FDCWD, &to, RenameFlags::RENAME_NOREPLACE) {
                        Ok(()) => {
                            self.waiting
                                .entry(self.generation)
                                .or_default()
                                .push(md.ino());
                            if let Some(d) = path.parent() {
                                self.dirs.insert(d.to_path_buf());
                            }
                            return Ok(());
                        }
                        Err(Errno::ENOENT) if !path.exists() => return Ok(()),
                        Err(Errno::EINVAL) | Err(Errno::ENOSYS) => self.usable = false,
                        Err(_) => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                _ => {}
            }
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Adds a directory that must be fsynced before the current
    /// generation's spares are reusable (one that lost another name of a
    /// retired inode).
    pub fn also_flush(&mut self, dir: &Path) {
        self.dirs.insert(dir.to_path_buf());
    }

    /// Ends the current generation: its spares become reusable once the
    /// caller has made the removals durable itself (it fsyncs the returned
    /// directories) and calls [`Retirer::release_sealed`] with the token.
    pub fn seal(&mut self) -> (u64, BTreeSet<PathBuf>) {
        let g = self.generation;
        self.generation += 1;
        (g, std::mem::take(&mut self.dirs))
    }

    /// The directories of generation `token` have been fsynced: its spares
    /// move to the ready directory.
    pub fn release_sealed(&mut self, token: u64) {
        // Spares picked up at startup are generation 0, sealed with the
        // first token together with their origin directories.
        if let Some(inos) = self.waiting.remove(&token) {
            self.free(inos);
        }
    }

    /// Makes every removal so far durable (fsyncs the directories, side
    /// by side: [`durable::flush_all`]) and moves all waiting spares to
    /// the ready directory. On an fsync failure nothing moves; the next
    /// call tries again.
    pub fn release(&mut self) -> io::Result<()> {
        let dirs: Vec<durable::Target> = self
            .dirs
            .iter()
            .cloned()
            .map(durable::Target::Dir)
            .collect();
        if let Some(e) = durable::flush_all(dirs).into_iter().find_map(Result::err) {
            return Err(e);
        }
        self.dirs.clear();
        let all: Vec<u64> = std::mem::take(&mut self.waiting)
            .into_values()
            .flatten()
            .collect();
        self.free(all);
        Ok(())
    }

    fn free(&mut self, inos: Vec<u64>) {
        self.releases += 1;
        if self.releases.is_multiple_of(16) {
            self.ready_count = count(&self.ready);
        }
        for ino in inos {
            let name = ino.to_string();
            let from = self.wait.join(&name);
            let keep = match std::fs::symlink_metadata(&from) {
                Ok(md) => {
                    md.nlink() == 1
                        && self.ready_count < CAP
                        && (md.len() <= KEEP_BYTES || truncate(&from).is_ok())
                }
                Err(_) => continue,
            };
            if keep && std::fs::rename(&from, self.ready.join(&name)).is_ok() {
                self.ready_count += 1;
            } else {
                let _ = std::fs::remove_file(&from);
            }
        }
    }
}

fn truncate(p: &Path) -> io::Result<()> {
    OpenOptions::new().write(true).open(p)?.set_len(0)
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
