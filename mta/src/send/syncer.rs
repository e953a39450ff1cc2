//! Flushing off the scheduler's thread.
//!
//! Preprocessing and finishing messages end in fsyncs (files, then the
//! directories that changed). Done on qmail-send's own thread, each flush
//! would stall everything else — reports would wait, free delivery slots
//! would stay idle — for the length of a journal commit. So the scheduler
//! hands each batch to a [`Syncer`] and carries on; when the flush is done
//! it takes the next step (cleaning todo files, removing mess files) for
//! that batch. While one batch is being flushed the next one gathers, so
//! the flushes of many messages share journal commits (group commit).
//!
//! [`ThreadSyncer`] runs the flushes on a thread of its own, and flushes
//! every job submitted while the previous flush ran as one group;
//! [`InlineSyncer`] runs them on the spot (tests, and the fallback when no
//! thread can be started). Both report in the order of submission. Within
//! a flush the fsyncs run side by side ([`durable::flush_all`]), since the
//! kernel merges the device flushes of fsyncs that wait together.

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::durable;

/// One flush: fsync every file, then every directory. `point` is fired
/// (see [`crate::crashpoint`]) after the files and `dir_point` after the
/// directories.
pub struct SyncJob {
    pub token: u64,
    pub files: Vec<(File, PathBuf)>,
    pub dirs: BTreeSet<PathBuf>,
    pub point: Option<&'static str>,
    pub dir_point: Option<&'static str>,
}

/// The end of a flush: `Err` names the file or directory (relative to the
/// queue) that could not be flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDone {
    pub token: u64,
    pub result: Result<(), String>,
}

/// Where flushes go.
pub trait Syncer: Send {
    fn submit(&mut self, job: SyncJob);
    /// Flushes finished since the last call, in submission order.
    fn poll(&mut self) -> Vec<SyncDone>;
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Performs one job; `root` only shortens names in errors.
pub fn run(root: &Path, job: &mut SyncJob) -> Result<(), String> {
    run_group(root, std::slice::from_mut(job))
}

/// Performs several jobs as one flush: every file of every job side by
/// side ([`durable::flush_all`]), then every directory likewise. The files
/// are closed once flushed. Crash points fire per job, in order. An error
/// counts for every job of the group (each is then redone or retried,
/// which is always safe).
pub fn run_group(root: &Path, jobs: &mut [SyncJob]) -> Result<(), String> {
    let (files, names): (Vec<durable::Target>, Vec<PathBuf>) = jobs
        .iter_mut()
        .flat_map(|j| std::mem::take(&mut j.files))
        .map(|(f, p)| (durable::Target::File(f), p))
        .unzip();
    first_failure(root, &names, durable::flush_all(files))?;
    for p in jobs.iter().filter_map(|j| j.point) {
        crate::crashpoint::hit(p);
    }
    let dirs: BTreeSet<&PathBuf> = jobs.iter().flat_map(|j| &j.dirs).collect();
    let dirs: Vec<PathBuf> = dirs.into_iter().cloned().collect();
    let targets = dirs.iter().cloned().map(durable::Target::Dir).collect();
    first_failure(root, &dirs, durable::flush_all(targets))?;
    for p in jobs.iter().filter_map(|j| j.dir_point) {
        crate::crashpoint::hit(p);
    }
    Ok(())
}

/// The name (relative to `root`) of the first target that failed.
fn first_failure(
    root: &Path,
    names: &[PathBuf],
    results: Vec<std::io::Result<()>>,
) -> Result<(), String> {
    match results.iter().position(Result::is_err) {
        Some(i) => Err(rel(root, &names[i])),
        None => Ok(()),
    }
}

/// Flushes at once, on the caller's thread.
pub struct InlineSyncer {
    root: PathBuf,
    done: VecDeque<SyncDone>,
}

impl InlineSyncer {
    pub fn new(root: impl Into<PathBuf>) -> InlineSyncer {
        InlineSyncer {
            root: root.into(),
            done: VecDeque::new(),
        }
    }
}

impl Syncer for InlineSyncer {
    fn submit(&mut self, mut job: SyncJob) {
        let result = run(&self.root, &mut job);
        self.done.push_back(SyncDone {
            token: job.token,
            result,
        });
    }
    fn poll(&mut self) -> Vec<SyncDone> {
        self.done.drain(..).collect()
    }
}

/// Flushes on a thread; `wake` is called once per finished job so that
/// the scheduler's event loop notices.
pub struct ThreadSyncer {
    root: PathBuf,
    jobs: mpsc::Sender<SyncJob>,
    done: mpsc::Receiver<SyncDone>,
    /// Flushes done here because the thread was gone.
    fallback: VecDeque<SyncDone>,
}

impl ThreadSyncer {
    pub fn start(root: PathBuf, wake: impl Fn() + Send + 'static) -> std::io::Result<ThreadSyncer> {
        let (jtx, jrx) = mpsc::channel::<SyncJob>();
        let (dtx, drx) = mpsc::channel();
        let thread_root = root.clone();
        std::thread::Builder::new()
            .name("qmail-send-sync".into())
            .spawn(move || {
                while let Ok(first) = jrx.recv() {
                    // Everything submitted while the last flush ran is
                    // flushed together: one group commit.
                    let mut group = vec![first];
                    group.extend(jrx.try_iter());
                    let result = run_group(&thread_root, &mut group);
                    for token in group.iter().map(|j| j.token) {
                        let result = result.clone();
                        if dtx.send(SyncDone { token, result }).is_err() {
                            return;
                        }
                        wake();
                    }
                }
            })?;
        Ok(ThreadSyncer {
            root,
            jobs: jtx,
            done: drx,
            fallback: VecDeque::new(),
        })
    }
}

impl Syncer for ThreadSyncer {
    fn submit(&mut self, job: SyncJob) {
        if let Err(mpsc::SendError(mut job)) = self.jobs.send(job) {
            // The thread is gone (it only ends with the process); flush here.
            let result = run(&self.root, &mut job);
            self.fallback.push_back(SyncDone {
                token: job.token,
                result,
            });
        }
    }
    fn poll(&mut self) -> Vec<SyncDone> {
        let mut v: Vec<SyncDone> = self.fallback.drain(..).collect();
        v.extend(self.done.try_iter());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(token: u64, dir: &Path) -> SyncJob {
        let p = dir.join(format!("f{token}"));
        let f = File::create(&p).unwrap();
        SyncJob {
            token,
            files: vec![(f, p)],
            dirs: [dir.to_path_buf()].into_iter().collect(),
            point: None,
            dir_point: None,
        }
    }

    #[test]
    fn thread_syncer_reports_in_order_and_wakes() {
        let d = tempfile::tempdir().unwrap();
        let (wtx, wrx) = mpsc::channel();
        let mut s = ThreadSyncer::start(d.path().to_path_buf(), move || {
            let _ = wtx.send(());
        })
        .unwrap();
        s.submit(job(1, d.path()));
        s.submit(job(2, d.path()));
        wrx.recv().unwrap();
        wrx.recv().unwrap();
        let got: Vec<u64> = s.poll().into_iter().map(|x| x.token).collect();
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let d = tempfile::tempdir().unwrap();
        let mut s = InlineSyncer::new(d.path());
        let mut j = job(3, d.path());
        j.dirs.insert(d.path().join("gone"));
        s.submit(j);
        assert_eq!(s.poll()[0].result, Err("gone".to_string()));
    }
}
