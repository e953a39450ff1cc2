//! Tier B, power loss without kernel help ("ALICE-lite", conformance
//! spec §4.4). From a recorded run ([`super::trace`]) and a snapshot of
//! the state before it, [`states`] computes for each crash point the
//! pessimistic durable state:
//!
//! - a file's data is what it held at its last fsync/fdatasync (a file
//!   never synced is empty);
//! - a directory entry change (create, link, unlink, either half of a
//!   rename, mkdir) counts only once the parent directory has been
//!   fsynced after it; the two halves of a rename are separate, so a
//!   crash may leave both names or neither.
//!
//! The durable state changes only at an fsync, so the crash points are
//! "just after each fsync" (plus the start), with duplicates removed.
//! [`materialise`] writes a state into the MTA's root (the watched
//! subtrees only: directories, FIFOs and symlinks come from the
//! snapshot), and the executor boots the MTA on it and checks the
//! history invariant, counting a message ACKED only if its 250 arrived
//! before the crash point's time.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use super::trace::{Event, Op};
use crate::target::TargetError;

/// What a target offers for tier B after a recording run.
pub trait PowerCut {
    /// The MTA's root (the traced paths are under it).
    fn root(&self) -> PathBuf;
    /// The copy of the root taken when recording started.
    fn snapshot(&self) -> PathBuf;
    /// The trace files of the recording.
    fn traces(&self) -> Vec<PathBuf>;
    /// SIGKILL every MTA process and stop recording.
    fn halt(&mut self);
    /// Start the MTA on whatever the root holds.
    fn boot(&mut self) -> Result<(), TargetError>;
}

/// The subtrees of the root the model covers: what a message run writes.
pub const WATCHED: &[&str] = &["queue", "home", "alias"];

/// `cp -a src dst` (symlinks, FIFOs and modes kept).
pub fn snapshot(src: &Path, dst: &Path) -> io::Result<()> {
    if dst.exists() {
        std::fs::remove_dir_all(dst)?;
    }
    std::fs::create_dir_all(dst)?;
    for w in WATCHED {
        if src.join(w).exists() {
            copy_tree(&src.join(w), &dst.join(w))?;
        }
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()?;
    if st.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "cp -a {} {} failed",
            src.display(),
            dst.display()
        )))
    }
}

/// One crash point's durable state: relative path → file bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Index in the event list of the fsync it follows (None: the start).
    pub after: Option<usize>,
    /// Wall-clock time of that point.
    pub time: f64,
    /// What the point is, for the report (`after fsync(queue/todo)`).
    pub label: String,
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

type Inode = usize;

struct Model {
    root: PathBuf,
    live: BTreeMap<PathBuf, Inode>,
    durable: BTreeMap<PathBuf, Inode>,
    data: Vec<Vec<u8>>,
    synced: Vec<Vec<u8>>,
    /// Entry changes per directory not yet made durable:
    /// (name, Some(inode)) adds, (name, None) removes.
    pending: BTreeMap<PathBuf, Vec<(PathBuf, Option<Inode>)>>,
    /// (pid, fd) → (inode, position, append).
    fds: BTreeMap<(u32, i32), (Inode, u64, bool)>,
}

impl Model {
    fn rel(&self, p: &Path) -> Option<PathBuf> {
        let r = p.strip_prefix(&self.root).ok()?;
        let first = r.components().next()?.as_os_str().to_str()?;
        WATCHED.contains(&first).then(|| r.to_path_buf())
    }

    fn new_inode(&mut self, bytes: Vec<u8>, synced: Vec<u8>) -> Inode {
        self.data.push(bytes);
        self.synced.push(synced);
        self.data.len() - 1
    }

    fn dir_change(&mut self, path: &Path, to: Option<Inode>) {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.pending
            .entry(dir)
            .or_default()
            .push((path.to_path_buf(), to));
    }

    fn apply(&mut self, e: &Event) {
        match &e.op {
            Op::Open {
                path,
                fd,
                create,
                trunc,
                append,
            } => {
                self.fds.remove(&(e.pid, *fd));
                let Some(r) = self.rel(path) else { return };
                let ino = match self.live.get(&r) {
                    Some(&i) => i,
                    None if *create => {
                        let i = self.new_inode(Vec::new(), Vec::new());
                        self.live.insert(r.clone(), i);
                        self.dir_change(&r, Some(i));
                        i
                    }
                    // A directory (or a file the model does not know).
                    None => return,
                };
                if *trunc {
                    self.data[ino].clear();
                }
                self.fds.insert((e.pid, *fd), (ino, 0, *append));
            }
            Op::Write {
                path,
                fd,
                data,
                offset,
            } => {
                // The fd names the file even after its name is gone (qmail-
                // queue writes the message through the unlinked pid/ name).
                let (ino, pos, append) = match self.fds.get(&(e.pid, *fd)) {
                    Some(&(i, p, a)) => (i, p, a),
                    None => {
                        let Some(r) = self.rel(path) else { return };
                        let Some(&ino) = self.live.get(&r) else {
                            return;
                        };
                        (ino, self.data[ino].len() as u64, true)
                    }
                };
                let at = match offset {
                    Some(o) => *o as usize,
                    None if append => self.data[ino].len(),
                    None => pos as usize,
                };
                let buf = &mut self.data[ino];
                if buf.len() < at + data.len() {
                    buf.resize(at + data.len(), 0);
                }
                buf[at..at + data.len()].copy_from_slice(data);
                if offset.is_none() {
                    self.fds
                        .insert((e.pid, *fd), (ino, (at + data.len()) as u64, append));
                }
            }
            Op::Seek { fd, pos } => {
                if let Some(f) = self.fds.get_mut(&(e.pid, *fd)) {
                    f.1 = *pos;
                }
            }
            Op::Truncate { path, len } => {
                if let Some(&ino) = self.rel(path).and_then(|r| self.live.get(&r)) {
                    self.data[ino].resize(*len as usize, 0);
                }
            }
            Op::Fsync { path, fd } => {
                if let Some(&(ino, _, _)) = self.fds.get(&(e.pid, *fd)) {
                    self.synced[ino] = self.data[ino].clone();
                    return;
                }
                let Some(r) = self.rel(path) else { return };
                if let Some(&ino) = self.live.get(&r) {
                    self.synced[ino] = self.data[ino].clone();
                }
                if let Some(changes) = self.pending.remove(&r) {
                    for (name, to) in changes {
                        match to {
                            Some(i) => self.durable.insert(name, i),
                            None => self.durable.remove(&name),
                        };
                    }
                }
            }
            Op::Link { from, to } => {
                let (Some(f), Some(t)) = (self.rel(from), self.rel(to)) else {
                    return;
                };
                if let Some(&i) = self.live.get(&f) {
                    self.live.insert(t.clone(), i);
                    self.dir_change(&t, Some(i));
                }
            }
            Op::Rename { from, to } => {
                let (Some(f), Some(t)) = (self.rel(from), self.rel(to)) else {
                    return;
                };
                if let Some(i) = self.live.remove(&f) {
                    self.live.insert(t.clone(), i);
                    self.dir_change(&f, None);
                    self.dir_change(&t, Some(i));
                }
            }
            Op::Unlink { path } => {
                if let Some(r) = self.rel(path) {
                    if self.live.remove(&r).is_some() {
                        self.dir_change(&r, None);
                    }
                }
            }
            Op::Mkdir { .. } => {}
        }
    }

    fn state(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        self.durable
            .iter()
            .map(|(p, &i)| (p.clone(), self.synced[i].clone()))
            .collect()
    }
}

/// Regular files under the watched subtrees of `snap`, relative.
fn read_snapshot(snap: &Path) -> io::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = WATCHED.iter().map(|w| snap.join(w)).collect();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let rel = e
                    .path()
                    .strip_prefix(snap)
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                out.insert(rel, std::fs::read(e.path())?);
            }
        }
    }
    Ok(out)
}

/// The distinct durable states of a recorded run: at the start and just
/// after each fsync. `drop_fsync` removes the fsyncs of paths ending in
/// it first: paths containing it (to show the checker catches a
/// missing fsync).
pub fn states(
    root: &Path,
    snap: &Path,
    events: &[Event],
    drop_fsync: Option<&str>,
) -> io::Result<Vec<State>> {
    let mut m = Model {
        root: root.to_path_buf(),
        live: BTreeMap::new(),
        durable: BTreeMap::new(),
        data: Vec::new(),
        synced: Vec::new(),
        pending: BTreeMap::new(),
        fds: BTreeMap::new(),
    };
    for (p, b) in read_snapshot(snap)? {
        let i = m.new_inode(b.clone(), b);
        m.live.insert(p.clone(), i);
        m.durable.insert(p, i);
    }
    let start = events.first().map_or(0.0, |e| e.time);
    let mut out = vec![State {
        after: None,
        time: start,
        label: "before the run".into(),
        files: m.state(),
    }];
    let mut seen = vec![digest(&out[0].files)];
    for (i, e) in events.iter().enumerate() {
        if let (Op::Fsync { path, .. }, Some(d)) = (&e.op, drop_fsync) {
            if path.to_string_lossy().contains(d) {
                continue;
            }
        }
        m.apply(e);
        if let Op::Fsync { path, .. } = &e.op {
            let files = m.state();
            let h = digest(&files);
            if !seen.contains(&h) {
                seen.push(h);
                let shown = path.strip_prefix(root).unwrap_or(path);
                out.push(State {
                    after: Some(i),
                    time: e.time,
                    label: format!("after fsync({}) at event {i}", shown.display()),
                    files,
                });
            }
        }
    }
    Ok(out)
}

fn digest(files: &BTreeMap<PathBuf, Vec<u8>>) -> u64 {
    let mut h = DefaultHasher::new();
    files.hash(&mut h);
    h.finish()
}

/// Replaces the watched subtrees of `root` with `state`: the snapshot's
/// directories and special files, then exactly the state's regular files.
pub fn materialise(root: &Path, snap: &Path, state: &State) -> io::Result<()> {
    for w in WATCHED {
        let r = root.join(w);
        if r.exists() {
            std::fs::remove_dir_all(&r)?;
        }
        if snap.join(w).exists() {
            copy_tree(&snap.join(w), &r)?;
        }
    }
    for rel in read_snapshot(snap)?.keys() {
        if !state.files.contains_key(rel) {
            std::fs::remove_file(root.join(rel))?;
        }
    }
    for (rel, bytes) in &state.files {
        let p = root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&p, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, op: Op) -> Event {
        Event {
            time: t,
            pid: 1,
            op,
        }
    }

    fn open(p: &str) -> Op {
        Op::Open {
            path: p.into(),
            fd: 3,
            create: true,
            trunc: false,
            append: false,
        }
    }

    /// tmp file written, synced, linked into new/, new/ synced: the last
    /// state has the message; without new/'s fsync it never appears.
    #[test]
    fn directory_entries_need_the_parent_fsync() {
        let snap = tempfile::tempdir().unwrap();
        for d in ["home/a/Maildir/tmp", "home/a/Maildir/new"] {
            std::fs::create_dir_all(snap.path().join(d)).unwrap();
        }
        let r = "/R/home/a/Maildir";
        let events = vec![
            ev(1.0, open(&format!("{r}/tmp/m"))),
            ev(
                1.1,
                Op::Write {
                    path: format!("{r}/tmp/m").into(),
                    fd: 3,
                    data: b"hello".to_vec(),
                    offset: None,
                },
            ),
            ev(
                1.2,
                Op::Fsync {
                    path: format!("{r}/tmp/m").into(),
                    fd: 3,
                },
            ),
            ev(
                1.3,
                Op::Link {
                    from: format!("{r}/tmp/m").into(),
                    to: format!("{r}/new/m").into(),
                },
            ),
            ev(
                1.4,
                Op::Fsync {
                    path: format!("{r}/new").into(),
                    fd: 4,
                },
            ),
        ];
        let s = states(Path::new("/R"), snap.path(), &events, None).unwrap();
        let last = s.last().unwrap();
        assert_eq!(
            last.files
                .get(Path::new("home/a/Maildir/new/m"))
                .map(Vec::as_slice),
            Some(&b"hello"[..])
        );
        // tmp/m itself was never made durable (tmp/ not synced).
        assert!(!last.files.contains_key(Path::new("home/a/Maildir/tmp/m")));
        let broken = states(Path::new("/R"), snap.path(), &events, Some("Maildir/new")).unwrap();
        assert!(broken
            .iter()
            .all(|s| !s.files.contains_key(Path::new("home/a/Maildir/new/m"))));
    }

    #[test]
    fn unsynced_data_is_lost_and_renames_split() {
        let snap = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(snap.path().join("queue/x")).unwrap();
        std::fs::write(snap.path().join("queue/x/old"), b"keep").unwrap();
        let events = vec![
            ev(1.0, open("/R/queue/x/f")),
            ev(
                1.1,
                Op::Write {
                    path: "/R/queue/x/f".into(),
                    fd: 3,
                    data: b"data".to_vec(),
                    offset: None,
                },
            ),
            ev(
                1.2,
                Op::Rename {
                    from: "/R/queue/x/old".into(),
                    to: "/R/queue/x/new".into(),
                },
            ),
            ev(
                1.3,
                Op::Fsync {
                    path: "/R/queue/x".into(),
                    fd: 4,
                },
            ),
        ];
        let s = states(Path::new("/R"), snap.path(), &events, None).unwrap();
        let last = &s.last().unwrap().files;
        // The entry is durable, the data (never fsynced) is not.
        assert_eq!(last.get(Path::new("queue/x/f")).map(Vec::len), Some(0));
        assert_eq!(
            last.get(Path::new("queue/x/new")).map(Vec::as_slice),
            Some(&b"keep"[..])
        );
        assert!(!last.contains_key(Path::new("queue/x/old")));
        // Materialising writes exactly those files.
        let root = tempfile::tempdir().unwrap();
        materialise(root.path(), snap.path(), s.last().unwrap()).unwrap();
        assert!(!root.path().join("queue/x/old").exists());
        assert_eq!(
            std::fs::read(root.path().join("queue/x/new")).unwrap(),
            b"keep"
        );
    }
}
