//! qmail-smtpd's controls, read once and kept until `control/` changes.
//!
//! qmail-smtpd reads its controls at every start, that is for every
//! connection; a change applies to the next connection. Reading them (a
//! dozen files, the interface list, the STARTTLS certificate) cost the
//! listener about thirty system calls and a netlink dump per message. So
//! the snapshot is kept, and an inotify watch on `control/` says when a
//! file in it was written, created, removed, renamed or changed mode: the
//! next connection then reads everything afresh. The kernel queues the
//! event before the writer's call returns, so a connection accepted after
//! a change always sees it. A snapshot is also read afresh after [`TTL`]
//! (the interface list has no event), and every time when inotify is not
//! available.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio_rustls::TlsAcceptor;

use crate::control::ControlDir;
use crate::smtpd::controls::{SmtpdControls, StartupError};

/// Longest a snapshot is used.
pub const TTL: Duration = Duration::from_secs(10);

/// One reading of the controls.
#[derive(Clone)]
pub struct Snapshot {
    pub controls: Arc<SmtpdControls>,
    pub tls: Option<TlsAcceptor>,
}

pub struct ControlsCache {
    dir: PathBuf,
    watch: Option<Inotify>,
    kept: Mutex<Option<(Snapshot, Instant)>>,
}

/// Reads the controls as qmail-smtpd does at start-up, with the STARTTLS
/// acceptor (a bad certificate turns STARTTLS off rather than refusing
/// mail).
pub fn read(dir: &Path) -> Result<Snapshot, StartupError> {
    let mut c = SmtpdControls::load(&ControlDir::new(dir))?;
    let tls = match &c.extensions.servercert {
        Some(pem) => match super::session_task::acceptor(pem) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("mta-listen: warning: STARTTLS off: {e}");
                c.extensions.servercert = None;
                None
            }
        },
        None => None,
    };
    Ok(Snapshot {
        controls: Arc::new(c),
        tls,
    })
}

impl ControlsCache {
    /// Watches `dir`; without a watch nothing is kept.
    pub fn new(dir: PathBuf) -> ControlsCache {
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|i| {
                let what = AddWatchFlags::IN_MODIFY
                    | AddWatchFlags::IN_ATTRIB
                    | AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF;
                i.add_watch(&dir, what).is_ok()
            });
        ControlsCache {
            dir,
            watch,
            kept: Mutex::new(None),
        }
    }

    /// The kept snapshot, if `control/` has not changed since it was read
    /// and it is younger than [`TTL`].
    pub fn current(&self) -> Option<Snapshot> {
        let w = self.watch.as_ref()?;
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        // Any event (or a full event queue, or an error) means: read again.
        let changed = !matches!(w.read_events(), Err(nix::errno::Errno::EAGAIN));
        if changed {
            while w.read_events().is_ok_and(|e| !e.is_empty()) {}
            *kept = None;
        }
        match kept.as_ref() {
            Some((s, at)) if at.elapsed() < TTL => Some(s.clone()),
            _ => None,
        }
    }

    /// Keeps `s`, read at `at` (before the reading began, so that a change
    /// during the reading is seen by the next [`ControlsCache::current`]).
    pub fn keep(&self, s: &Snapshot, at: Instant) {
        if self.watch.is_some() {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            *kept = Some((s.clone(), at));
        }
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("control");
        std::fs::create_dir(&c).unwrap();
        std::fs::write(c.join("me"), "one.example\n").unwrap();
        std::fs::write(c.join("rcpthosts"), "one.example\n").unwrap();
        (d, c)
    }

    fn greeting(s: &Snapshot) -> String {
        String::from_utf8(s.controls.greeting.clone()).unwrap()
    }

    #[test]
    fn kept_until_a_file_changes() {
        let (_d, c) = control();
        let cache = ControlsCache::new(c.clone());
        assert!(cache.current().is_none());
        let at = Instant::now();
        let s = read(&c).unwrap();
        cache.keep(&s, at);
        assert_eq!(greeting(&cache.current().unwrap()), "one.example");
        // Rewritten in place: no rename, no new entry.
        std::fs::write(c.join("me"), "two.example\n").unwrap();
        assert!(cache.current().is_none());
        let s = read(&c).unwrap();
        cache.keep(&s, Instant::now());
        assert_eq!(greeting(&cache.current().unwrap()), "two.example");
        // A new file counts too.
        std::fs::write(c.join("smtpgreeting"), "hello there\n").unwrap();
        assert!(cache.current().is_none());
    }

    #[test]
    fn a_snapshot_read_during_a_change_is_not_kept_past_it() {
        let (_d, c) = control();
        let cache = ControlsCache::new(c.clone());
        let at = Instant::now();
        let s = read(&c).unwrap();
        // The change lands after the reading began.
        std::fs::write(c.join("me"), "two.example\n").unwrap();
        cache.keep(&s, at);
        assert!(cache.current().is_none());
    }

    #[test]
    fn old_snapshots_are_read_again() {
        let (_d, c) = control();
        let cache = ControlsCache::new(c.clone());
        let s = read(&c).unwrap();
        cache.keep(&s, Instant::now() - TTL);
        assert!(cache.current().is_none());
    }
}
