//! The scheduler core of qmail-send (spec §3.2–3.9), free of process and
//! pipe plumbing so that tests drive it with a fake clock and fake spawns.
//!
//! State, per channel (local, remote): a fixed number of delivery slots,
//! a FIFO of jobs whose pass is under way, and a time-ordered set of jobs
//! waiting for their next pass. A *job* is one message on one channel; a
//! *pass* reads the channel file and starts one delivery per `T` record.
//! When every delivery of a pass has reported, the channel file is
//! removed if every record ended in success or permanent failure, or the
//! job waits for its retry time (spec §3.6). A message whose channel files
//! are all gone is *done*: bounce if needed, `end msg`, remove info and
//! mess.
//!
//! Durability beyond qmail: a permanent failure's bounce paragraph is
//! fsynced before the recipient is marked done (else a power cut could
//! lose both the delivery and the bounce), and removing a channel file or
//! the info file fsyncs the directory before the next step.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::channel;
use super::log::Log;
use super::preprocess;
use super::retry::{self, Clock};
use super::rewrite::Rewriter;
use super::syncer::{SyncJob, Syncer};
use crate::control::{ControlDir, SendControls};
use crate::queue::layout::{parse_id, Layout};
use crate::queue::spare::{Pool, Retirer, Spares};
use crate::spawn::protocol::Command;

/// `SLEEP_SYSFAIL`: retry delay after a filesystem error.
pub const SLEEP_SYSFAIL: i64 = 123;
/// How many todo entries are preprocessed per turn of the loop. Small,
/// so that reports and free delivery slots are seen between batches (as
/// qmail, which preprocesses one entry per turn); the syncer still flushes
/// whatever batches gathered meanwhile together.
pub const TODO_BATCH: usize = 8;

/// The two delivery channels.
pub const LOCAL: usize = 0;
pub const REMOTE: usize = 1;

/// The command pipe of one channel's spawn.
pub trait Spawn {
    fn send(&mut self, cmd: &Command) -> io::Result<()>;
}

/// qmail-clean's request/reply (spec §1.6).
pub trait Cleaner {
    /// `req` is `foop/<id>` or `todo/<id>`; Ok when qmail-clean said `+`.
    fn clean(&mut self, req: &str) -> io::Result<bool>;
    /// Several requests; one answer each, in order. A pipe sends every
    /// request before reading the first reply, so a batch costs one round
    /// trip instead of one per message (qmail-clean serves its requests
    /// in order either way).
    fn clean_all(&mut self, reqs: &[String]) -> io::Result<Vec<bool>> {
        reqs.iter().map(|r| self.clean(r)).collect()
    }
}

/// What happened to a bounce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BounceResult {
    /// Injected; the qp of the queue run.
    Injected(u32),
    /// A triple bounce: nothing sent.
    Discarded,
    /// Could not inject now; try later.
    Failed,
    /// There was no bounce file after all.
    Nothing,
}

/// Bounce recording and injection (spec §4), behind a trait so the
/// scheduler does not care about the format (QSBMF or DSN).
pub trait Bouncer {
    /// Appends (durably) the paragraph for `recip` to `bounce/<id>`.
    fn record(
        &mut self,
        id: u64,
        recip: &[u8],
        vd_prepend: Option<&str>,
        text: &[u8],
    ) -> io::Result<()>;
    /// Builds and injects the bounce for message `id`.
    fn inject(&mut self, id: u64, sender: &[u8]) -> BounceResult;
}

pub(super) struct InFlight {
    id: u64,
    offset: u64,
    recip: Vec<u8>,
    delnum: u64,
}

pub(super) struct ChanState {
    limit: u32,
    used: u32,
    slots: Vec<Option<InFlight>>,
    ready: VecDeque<u64>,
}

pub(super) struct Job {
    sender: Vec<u8>,
    retry: i64,
    dying: bool,
    pending: VecDeque<(u64, Vec<u8>)>,
    outstanding: u32,
    all_final: bool,
}

/// Everything the scheduler needs from outside.
pub struct Parts {
    pub layout: Layout,
    pub control: ControlDir,
    pub controls: SendControls,
    pub log: Log,
    pub clock: Arc<dyn Clock>,
    pub spawns: [Box<dyn Spawn>; 2],
    /// The slot byte each spawn announced.
    pub spawn_limits: [u32; 2],
    pub cleaner: Box<dyn Cleaner>,
    pub bouncer: Box<dyn Bouncer>,
    /// Where flushes run (see [`super::syncer`]).
    pub syncer: Box<dyn Syncer>,
}

/// What a flush in flight was for.
pub(super) enum Pending {
    /// A preprocessed todo batch: once flushed, clean the todo files.
    Todo(Vec<preprocess::Preprocessed>),
    /// Finished messages: once flushed, remove their mess files (and
    /// free the spares of the retirer's generation).
    Done(Vec<u64>, u64),
}

/// A fatal condition: qmail-send logs an alert and exits.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error("oh no! lost spawn connection! dying...")]
    LostSpawn,
    #[error("oh no! lost qmail-clean connection! dying...")]
    LostClean,
}

pub struct Scheduler {
    pub(super) layout: Layout,
    pub(super) control: ControlDir,
    pub(super) ctl: SendControls,
    pub(super) rw: Rewriter,
    pub log: Log,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) spawns: [Box<dyn Spawn>; 2],
    pub(super) cleaner: Box<dyn Cleaner>,
    pub(super) bouncer: Box<dyn Bouncer>,
    pub(super) chans: [ChanState; 2],
    pub(super) jobs: HashMap<(u64, usize), Job>,
    pub(super) waiting: BTreeSet<(i64, u64, usize)>,
    pub(super) done: BTreeSet<(i64, u64)>,
    pub(super) todo: VecDeque<u64>,
    pub(super) todo_known: HashSet<u64>,
    pub(super) delnum: u64,
    pub(super) exitasap: bool,
    /// Directories with unlinks not yet flushed (see `finish_pass`).
    pub(super) unflushed: BTreeSet<std::path::PathBuf>,
    pub(super) syncer: Box<dyn Syncer>,
    pub(super) pending: HashMap<u64, Pending>,
    pub(super) next_token: u64,
    /// Todo entries whose preprocessing is being flushed: not rescanned.
    pub(super) inflight_todo: HashSet<u64>,
    /// qmail-send's spare pool ([`crate::queue::spare`]): taken by
    /// preprocessing, refilled by finished info and channel files.
    pub(super) spares: Spares,
    pub(super) retirer: Retirer,
}

fn mtime(p: &Path) -> io::Result<i64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(p)?.mtime())
}

/// VERP expansion of the sender (spec §3.7).
pub fn senderadd(sender: &[u8], recip: &[u8]) -> Vec<u8> {
    let Some(base) = sender.strip_suffix(b"-@[]") else {
        return sender.to_vec();
    };
    let (Some(sat), Some(rat)) = (
        base.iter().rposition(|&c| c == b'@'),
        recip.iter().rposition(|&c| c == b'@'),
    ) else {
        return sender.to_vec();
    };
    let mut v = Vec::with_capacity(sender.len() + recip.len());
    v.extend_from_slice(&base[..sat]);
    v.extend_from_slice(&recip[..rat]);
    v.push(b'=');
    v.extend_from_slice(&recip[rat + 1..]);
    v.extend_from_slice(&base[sat..]);
    v
}

impl Scheduler {
    pub fn new(p: Parts) -> Scheduler {
        let limits = [
            p.controls.concurrencylocal.min(p.spawn_limits[LOCAL]),
            p.controls.concurrencyremote.min(p.spawn_limits[REMOTE]),
        ];
        let chan = |limit: u32| ChanState {
            limit,
            used: 0,
            slots: (0..limit).map(|_| None).collect(),
            ready: VecDeque::new(),
        };
        let rw = Rewriter {
            envnoathost: p.controls.envnoathost.clone(),
            percenthack: p.controls.percenthack.clone(),
            locals: p.controls.locals.clone(),
            virtualdomains: p.controls.virtualdomains.clone(),
        };
        let origins: Vec<std::path::PathBuf> = ["info", "local", "remote"]
            .iter()
            .flat_map(|d| (0..p.layout.split).map(move |i| (d, i)))
            .map(|(d, i)| p.layout.dir(d).join(i.to_string()))
            .collect();
        let spares = Spares::new(&p.layout.root, Pool::Send);
        let retirer = Retirer::new(&p.layout.root, Pool::Send, &origins);
        Scheduler {
            spares,
            retirer,
            layout: p.layout,
            control: p.control,
            ctl: p.controls,
            rw,
            log: p.log,
            clock: p.clock,
            spawns: p.spawns,
            cleaner: p.cleaner,
            bouncer: p.bouncer,
            chans: [chan(limits[0]), chan(limits[1])],
            jobs: HashMap::new(),
            waiting: BTreeSet::new(),
            done: BTreeSet::new(),
            todo: VecDeque::new(),
            todo_known: HashSet::new(),
            delnum: 0,
            exitasap: false,
            unflushed: BTreeSet::new(),
            syncer: p.syncer,
            pending: HashMap::new(),
            next_token: 0,
            inflight_todo: HashSet::new(),
        }
    }

    fn chan_path(&self, id: u64, ch: usize) -> std::path::PathBuf {
        if ch == LOCAL {
            self.layout.local(id)
        } else {
            self.layout.remote(id)
        }
    }

    pub fn status(&mut self) {
        let (l, r) = (&self.chans[LOCAL], &self.chans[REMOTE]);
        let (lu, ll, ru, rl) = (l.used, l.limit, r.used, r.limit);
        let x = self.exitasap;
        self.log.status(lu, ll, ru, rl, x);
    }

    /// Start-up recovery (spec §3.1 step 5): every message in `info/`
    /// whose todo file is gone is scheduled per channel file at the
    /// file's mtime; one with no channel file is done.
    pub fn recover(&mut self) {
        for s in 0..self.layout.split {
            let dir = self.layout.dir("info").join(s.to_string());
            let rd = match std::fs::read_dir(&dir) {
                Ok(r) => r,
                Err(_) => {
                    let d = format!("info/{s}");
                    self.log
                        .alert(&format!("unable to opendir {d}, sleeping..."));
                    continue;
                }
            };
            for e in rd.flatten() {
                let Some(id) = e.file_name().to_str().and_then(parse_id) else {
                    continue;
                };
                if self.layout.todo(id).exists() {
                    continue;
                }
                let mut any = false;
                for ch in [LOCAL, REMOTE] {
                    let p = self.chan_path(id, ch);
                    if let Ok(t) = mtime(&p) {
                        self.waiting.insert((t, id, ch));
                        any = true;
                    }
                }
                if !any {
                    self.done.insert((0, id));
                }
            }
        }
    }

    /// Rescans `todo/` (on the trigger, at start, and every SLEEP_TODO).
    pub fn scan_todo(&mut self) {
        let rd = match std::fs::read_dir(self.layout.dir("todo")) {
            Ok(r) => r,
            Err(_) => {
                self.log.alert("unable to opendir todo, sleeping...");
                return;
            }
        };
        let mut ids: Vec<u64> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(parse_id))
            .collect();
        ids.sort_unstable();
        for id in ids {
            if !self.inflight_todo.contains(&id) && self.todo_known.insert(id) {
                self.todo.push_back(id);
            }
        }
    }

    pub fn has_todo(&self) -> bool {
        !self.todo.is_empty()
    }

    /// Preprocesses up to [`TODO_BATCH`] todo entries and submits their
    /// flush; once it is done they are cleaned and scheduled.
    pub fn process_todo(&mut self) -> Result<(), Fatal> {
        if self.exitasap {
            return Ok(());
        }
        let mut batch = preprocess::Batch::default();
        let mut ok = Vec::new();
        while ok.len() < TODO_BATCH {
            let Some(id) = self.todo.pop_front() else {
                break;
            };
            self.todo_known.remove(&id);
            match preprocess::preprocess(&self.layout, &self.rw, &self.spares, id, &mut batch) {
                Ok(p) => ok.push(p),
                Err(e) => self.log.warning(&e.to_string()),
            }
        }
        if ok.is_empty() {
            return Ok(());
        }
        let token = self.token();
        self.inflight_todo.extend(ok.iter().map(|p| p.id));
        self.syncer.submit(batch.into_job(token));
        self.pending.insert(token, Pending::Todo(ok));
        Ok(())
    }

    pub(super) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Takes the next step for every flush that has finished.
    pub(super) fn synced(&mut self) -> Result<(), Fatal> {
        for d in self.syncer.poll() {
            match self.pending.remove(&d.token) {
                Some(Pending::Todo(ok)) => self.todo_synced(ok, d.result)?,
                Some(Pending::Done(ids, generation)) => {
                    if d.result.is_ok() {
                        self.retirer.release_sealed(generation);
                    }
                    self.done_synced(ids, d.result)?
                }
                None => {}
            }
        }
        Ok(())
    }

    /// A preprocessed batch is durable: log it, clean its todo files and
    /// schedule its deliveries. On a flush failure the todo files stay and
    /// the next scan redoes the batch.
    fn todo_synced(
        &mut self,
        ok: Vec<preprocess::Preprocessed>,
        result: Result<(), String>,
    ) -> Result<(), Fatal> {
        for p in &ok {
            self.inflight_todo.remove(&p.id);
        }
        if let Err(file) = result {
            self.log.warning(&format!("trouble fsyncing {file}"));
            return Ok(());
        }
        let now = self.clock.now();
        for p in &ok {
            self.log.new_msg(p.id);
            self.log.info_msg(p.id, p.size, &p.sender, &p.qp, &p.uid);
        }
        let reqs: Vec<String> = ok.iter().map(|p| format!("todo/{}", p.id)).collect();
        let answers = self
            .cleaner
            .clean_all(&reqs)
            .map_err(|_| Fatal::LostClean)?;
        for (req, done) in reqs.iter().zip(answers) {
            if !done {
                self.log
                    .warning(&format!("qmail-clean unable to clean up {req}"));
            }
        }
        // The todo entries are gone. The todo directory is flushed with the
        // next batch of finished messages, before any mess file goes, so a
        // power cut cannot resurrect a todo entry whose message is gone.
        self.unflushed.insert(self.layout.dir("todo"));
        crate::crashpoint::hit("send.todo.cleaned");
        for p in ok {
            if p.has_local {
                self.waiting.insert((now, p.id, LOCAL));
            }
            if p.has_remote {
                self.waiting.insert((now, p.id, REMOTE));
            }
            if !p.has_local && !p.has_remote {
                self.done.insert((now, p.id));
            }
        }
        Ok(())
    }

    /// Starts the flush that must precede removing `ids`' mess files.
    pub(super) fn submit_done(&mut self, ids: Vec<u64>) {
        let token = self.token();
        let (generation, retired) = self.retirer.seal();
        let mut dirs = std::mem::take(&mut self.unflushed);
        dirs.extend(retired);
        self.syncer.submit(SyncJob {
            token,
            files: Vec::new(),
            dirs,
            point: None,
            dir_point: None,
        });
        self.pending.insert(token, Pending::Done(ids, generation));
    }

    /// Starts passes that are due.
    fn start_passes(&mut self, now: i64) {
        if self.exitasap {
            return;
        }
        while let Some(&(t, id, ch)) = self.waiting.first() {
            if t > now {
                break;
            }
            self.waiting.pop_first();
            if self.jobs.contains_key(&(id, ch)) {
                continue;
            }
            let info = self.layout.info(id);
            let cpath = self.chan_path(id, ch);
            let loaded = (|| -> Result<(Vec<u8>, i64, Vec<channel::Record>), String> {
                let rel = |p: &Path| {
                    p.strip_prefix(&self.layout.root)
                        .unwrap_or(p)
                        .display()
                        .to_string()
                };
                let birth = mtime(&info).map_err(|_| rel(&info))?;
                let f = std::fs::read(&info).map_err(|_| rel(&info))?;
                let sender = match f.strip_prefix(b"F") {
                    Some(s) => s.split(|&c| c == 0).next().unwrap_or(&[]).to_vec(),
                    None => return Err(rel(&info)),
                };
                let recs = channel::read(&cpath).map_err(|_| rel(&cpath))?;
                Ok((sender, birth, recs))
            })();
            let (sender, birth, recs) = match loaded {
                Ok(v) => v,
                Err(file) => {
                    self.log
                        .warning(&format!("trouble reading {file}; will try again later"));
                    self.waiting.insert((now + SLEEP_SYSFAIL, id, ch));
                    continue;
                }
            };
            let job = Job {
                sender,
                retry: retry::next_retry(birth, now, ch == REMOTE),
                dying: retry::dying(birth, now, self.ctl.queuelifetime),
                pending: recs
                    .into_iter()
                    .filter(|r| !r.done)
                    .map(|r| (r.offset, r.addr))
                    .collect(),
                outstanding: 0,
                all_final: true,
            };
            self.jobs.insert((id, ch), job);
            self.chans[ch].ready.push_back(id);
            if self
                .jobs
                .get(&(id, ch))
                .is_some_and(|j| j.pending.is_empty())
            {
                self.chans[ch].ready.retain(|&x| x != id);
                self.finish_pass(id, ch, now);
            }
        }
    }

    /// Starts as many deliveries as free slots allow.
    fn fill_slots(&mut self) -> Result<(), Fatal> {
        if self.exitasap {
            return Ok(());
        }
        for ch in [LOCAL, REMOTE] {
            while self.chans[ch].used < self.chans[ch].limit {
                let Some(&id) = self.chans[ch].ready.front() else {
                    break;
                };
                let Some(job) = self.jobs.get_mut(&(id, ch)) else {
                    self.chans[ch].ready.pop_front();
                    continue;
                };
                let Some(slot) = self.chans[ch].slots.iter().position(|s| s.is_none()) else {
                    break;
                };
                let Some((offset, recip)) = job.pending.pop_front() else {
                    self.chans[ch].ready.pop_front();
                    continue;
                };
                if job.pending.is_empty() {
                    self.chans[ch].ready.pop_front();
                }
                job.outstanding += 1;
                let sender = senderadd(&job.sender, &recip);
                self.delnum += 1;
                let cmd = Command {
                    slot: slot as u8,
                    messid: self.layout.messid(id).into_bytes(),
                    sender,
                    recipient: recip.clone(),
                };
                if self.spawns[ch].send(&cmd).is_err() {
                    return Err(Fatal::LostSpawn);
                }
                self.chans[ch].slots[slot] = Some(InFlight {
                    id,
                    offset,
                    recip,
                    delnum: self.delnum,
                });
                self.chans[ch].used += 1;
                let d = self.delnum;
                let r = self.chans[ch].slots[slot]
                    .as_ref()
                    .map(|f| f.recip.clone())
                    .unwrap_or_default();
                self.log.starting(d, id, ch == REMOTE, &r);
                self.status();
            }
        }
        Ok(())
    }

    /// Handles one report from a spawn (spec §1.3, §3.5, §3.6, §4.1).
    pub fn report(&mut self, ch: usize, slot: u8, letter: u8, text: &[u8]) {
        let now = self.clock.now();
        let Some(fl) = self.chans[ch]
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.take())
        else {
            self.log
                .warning("internal error: delivery report out of range");
            return;
        };
        self.chans[ch].used -= 1;
        let dying = self
            .jobs
            .get(&(fl.id, ch))
            .map(|j| j.dying)
            .unwrap_or(false);
        let cpath = self.chan_path(fl.id, ch);
        let mut final_ = true;
        match letter {
            b'K' => {
                self.log.result(fl.delnum, "success", text);
                self.mark(&cpath, fl.offset);
            }
            b'D' | b'Z' if letter == b'D' || dying => {
                let mut t = text.to_vec();
                if letter == b'Z' {
                    if !t.is_empty() && !t.ends_with(b"\n") {
                        t.push(b'\n');
                    }
                    t.extend_from_slice(retry::TOO_LONG.as_bytes());
                }
                self.log.result(fl.delnum, "failure", &t);
                // Only local addresses can carry a virtualdomains prefix.
                let vd = if ch == LOCAL {
                    crate::bounce::record::prepend_for(&self.rw.virtualdomains, &fl.recip)
                        .map(str::to_string)
                } else {
                    None
                };
                match self.bouncer.record(fl.id, &fl.recip, vd.as_deref(), &t) {
                    Ok(()) => self.mark(&cpath, fl.offset),
                    Err(_) => {
                        // qmail sleeps and retries; we leave the T in place so
                        // the recipient is retried, and nothing is lost.
                        self.log
                            .alert("unable to append to bounce message; HELP! sleeping...");
                        final_ = false;
                    }
                }
            }
            b'Z' => {
                self.log.result(fl.delnum, "deferral", text);
                final_ = false;
            }
            _ => {
                self.log.mangled(fl.delnum);
                final_ = false;
            }
        }
        self.status();
        let Some(job) = self.jobs.get_mut(&(fl.id, ch)) else {
            return;
        };
        job.outstanding -= 1;
        if !final_ {
            job.all_final = false;
        }
        if job.outstanding == 0 && job.pending.is_empty() {
            self.finish_pass(fl.id, ch, now);
        }
    }

    fn mark(&mut self, cpath: &Path, offset: u64) {
        if channel::mark_done(cpath, offset).is_err() {
            let rel = cpath
                .strip_prefix(&self.layout.root)
                .unwrap_or(cpath)
                .display()
                .to_string();
            self.log.warning(&format!(
                "trouble marking {rel}; message will be delivered twice!"
            ));
        }
    }

    fn finish_pass(&mut self, id: u64, ch: usize, now: i64) {
        let Some(job) = self.jobs.remove(&(id, ch)) else {
            return;
        };
        if !job.all_final {
            self.waiting.insert((job.retry.max(now), id, ch));
            return;
        }
        // Not flushed here: process_done flushes the directory together with
        // the info unlinks of its batch, before the mess file goes. Until
        // then a power cut can only bring the channel file back, which means
        // a duplicate delivery at worst.
        let cpath = self.chan_path(id, ch);
        let unlinked = self.retirer.retire(&cpath).is_ok();
        if unlinked {
            crate::crashpoint::hit("send.channel.unlinked");
            if let Some(d) = cpath.parent() {
                self.unflushed.insert(d.to_path_buf());
            }
        }
        if !unlinked {
            let rel = cpath
                .strip_prefix(&self.layout.root)
                .unwrap_or(&cpath)
                .display()
                .to_string();
            self.log
                .warning(&format!("unable to unlink {rel}; will try again later"));
            self.waiting.insert((now + SLEEP_SYSFAIL, id, ch));
            return;
        }
        let other = self.chan_path(id, 1 - ch);
        if !other.exists() {
            self.done.insert((now, id));
        }
    }

    /// One turn of the loop: finished flushes, due passes and deliveries,
    /// then todo, then done messages.
    pub fn run_once(&mut self) -> Result<(), Fatal> {
        // Free delivery slots first, then new work; then the slots again,
        // for what the new work made ready.
        self.synced()?;
        let now = self.clock.now();
        self.start_passes(now);
        self.fill_slots()?;
        self.process_todo()?;
        self.synced()?;
        self.start_passes(now);
        self.fill_slots()?;
        self.process_done(now)?;
        self.synced()?;
        Ok(())
    }

    /// Seconds until something is due (None: nothing scheduled).
    pub fn next_due(&self, now: i64) -> Option<i64> {
        if !self.todo.is_empty() {
            return Some(0);
        }
        let w = if self.exitasap {
            None
        } else {
            self.waiting.first().map(|&(t, _, _)| t)
        };
        let d = self.done.first().map(|&(t, _)| t);
        [w, d].into_iter().flatten().min().map(|t| (t - now).max(0))
    }

    /// SIGALRM: every waiting job is due now (spec §3.8).
    pub fn alarm(&mut self) {
        let now = self.clock.now();
        let all: Vec<_> = std::mem::take(&mut self.waiting).into_iter().collect();
        for (t, id, ch) in all {
            self.waiting.insert((t.min(now), id, ch));
        }
    }

    /// SIGHUP: reread `locals` and `virtualdomains` only (spec §3.8).
    pub fn hup(&mut self) {
        match SendControls::load_hup(&self.control) {
            Ok((locals, vd)) => {
                self.rw.locals = locals;
                self.rw.virtualdomains = vd;
            }
            Err(crate::control::SendControlError::Read(e))
                if e.path.ends_with("virtualdomains") =>
            {
                self.log.alert("unable to reread control/virtualdomains")
            }
            Err(_) => self.log.alert("unable to reread control/locals"),
        }
    }

    /// SIGTERM: stop starting work.
    pub fn exit_asap(&mut self) {
        self.exitasap = true;
    }
    pub fn exiting(&self) -> bool {
        self.exitasap
    }

    /// True when no delivery and no flush is running.
    pub fn idle(&self) -> bool {
        self.chans.iter().all(|c| c.used == 0) && self.pending.is_empty()
    }

    /// On clean exit, store each job's next attempt in its channel file's
    /// mtime (spec §3.6), then log `status: exiting`.
    pub fn save_schedule(&mut self) {
        let now = self.clock.now();
        let mut times: Vec<(i64, u64, usize)> = self.waiting.iter().copied().collect();
        times.extend(self.jobs.keys().map(|&(id, ch)| (now, id, ch)));
        for (t, id, ch) in times {
            let p = self.chan_path(id, ch);
            let ft = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
            let r = std::fs::File::open(&p).and_then(|f| {
                f.set_times(std::fs::FileTimes::new().set_accessed(ft).set_modified(ft))
            });
            if r.is_err() && p.exists() {
                let rel = p
                    .strip_prefix(&self.layout.root)
                    .unwrap_or(&p)
                    .display()
                    .to_string();
                self.log.warning(&format!(
                    "unable to utime {rel}; message will be retried too soon"
                ));
            }
        }
        self.log.line("status: exiting");
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
