//! Finishing messages (spec §3.5, §3.9, §4.2): bounce if needed, `end
//! msg`, remove info and mess; and the periodic sweep of `mess/` for
//! leftovers of crashed qmail-queue runs.

use super::scheduler::{BounceResult, Fatal, Scheduler, SLEEP_SYSFAIL};
use crate::queue::layout::parse_id;

/// `OSSIFIED`: age after which stray files are removed (36 h).
pub const OSSIFIED: i64 = 129_600;

impl Scheduler {
    /// Finishes due done messages (spec §3.5, §4.2).
    pub(super) fn process_done(&mut self, now: i64) -> Result<(), Fatal> {
        let mut finished = Vec::new();
        while let Some(&(t, id)) = self.done.first() {
            if t > now {
                break;
            }
            self.done.pop_first();
            let bounce = self.layout.bounce(id);
            if bounce.exists() {
                let sender = match std::fs::read(self.layout.info(id)) {
                    Ok(f) => f
                        .strip_prefix(b"F")
                        .map(|s| s.split(|&c| c == 0).next().unwrap_or(&[]).to_vec())
                        .unwrap_or_default(),
                    Err(_) => {
                        let rel = format!("info/{}/{id}", id % self.layout.split);
                        self.log
                            .warning(&format!("unable to open {rel}; will try again later"));
                        self.done.insert((now + SLEEP_SYSFAIL, id));
                        continue;
                    }
                };
                match self.bouncer.inject(id, &sender) {
                    BounceResult::Injected(qp) => self.log.bounce_msg(id, qp),
                    BounceResult::Discarded => self.log.triple(id),
                    BounceResult::Nothing => {}
                    BounceResult::Failed => {
                        self.log
                            .warning("trouble injecting bounce message, will try later");
                        self.done.insert((now + SLEEP_SYSFAIL, id));
                        continue;
                    }
                }
                crate::crashpoint::hit("send.bounce.injected");
                if crate::durable::unlink(&bounce, "send.bounce.unlinked").is_err() {
                    self.log.warning(&format!(
                        "unable to unlink bounce/{id}; will try again later"
                    ));
                    self.done.insert((now + SLEEP_SYSFAIL, id));
                    continue;
                }
            }
            finished.push(id);
        }
        if finished.is_empty() {
            return Ok(());
        }
        // One flush for the whole batch, on the syncer: the channel-file
        // unlinks (and the todo entries cleaned since the last flush) must be
        // durable before a message's info and mess files go, or a power cut
        // could bring one back without its body. The rest happens in
        // `done_synced`.
        self.submit_done(finished);
        Ok(())
    }

    /// The batch's flush is done: for each message `end msg`, remove info
    /// (not flushed: a resurrected info file with no channel file is only
    /// finished again), then the mess file. On a flush failure everything
    /// stays and the messages are retried later.
    pub(super) fn done_synced(
        &mut self,
        ids: Vec<u64>,
        result: Result<(), String>,
    ) -> Result<(), Fatal> {
        let now = self.clock.now();
        if let Err(file) = result {
            self.log.warning(&format!("trouble fsyncing {file}"));
            for id in ids {
                self.done.insert((now + SLEEP_SYSFAIL, id));
            }
            return Ok(());
        }
        let mut reqs = Vec::with_capacity(ids.len());
        for id in ids {
            self.log.end_msg(id);
            let info = self.layout.info(id);
            match self.retirer.retire(&info) {
                Ok(()) => {}
                Err(_) => {
                    let rel = format!("info/{}/{id}", id % self.layout.split);
                    self.log
                        .warning(&format!("unable to unlink {rel}; will try again later"));
                    self.done.insert((now + SLEEP_SYSFAIL, id));
                    continue;
                }
            }
            crate::crashpoint::hit("send.info.unlinked");
            reqs.push(format!("foop/{id}"));
        }
        // The mess files go last, all in one exchange with qmail-clean.
        let answers = self
            .cleaner
            .clean_all(&reqs)
            .map_err(|_| Fatal::LostClean)?;
        for (req, done) in reqs.iter().zip(answers) {
            if done {
                crate::crashpoint::hit("send.mess.cleaned");
            } else {
                self.log
                    .warning(&format!("qmail-clean unable to clean up {req}"));
            }
        }
        Ok(())
    }

    /// Removes messages left in `mess/` by a qmail-queue that died before
    /// its commit point (state S2/S3): atime older than 36 h, and neither
    /// `info/` nor `todo/` (spec §3.9).
    pub fn sweep_mess(&mut self, now: i64) -> Result<(), Fatal> {
        use std::os::unix::fs::MetadataExt;
        for s in 0..self.layout.split {
            let dir = self.layout.dir("mess").join(s.to_string());
            let Ok(rd) = std::fs::read_dir(&dir) else {
                self.log
                    .alert(&format!("unable to opendir mess/{s}, sleeping..."));
                continue;
            };
            for e in rd.flatten() {
                let Some(id) = e.file_name().to_str().and_then(parse_id) else {
                    continue;
                };
                let Ok(md) = e.metadata() else { continue };
                if now - md.atime() <= OSSIFIED {
                    continue;
                }
                if self.layout.info(id).exists() || self.layout.todo(id).exists() {
                    continue;
                }
                let req = format!("foop/{id}");
                match self.cleaner.clean(&req) {
                    Ok(true) => {}
                    Ok(false) => self
                        .log
                        .warning(&format!("qmail-clean unable to clean up {req}")),
                    Err(_) => return Err(Fatal::LostClean),
                }
            }
        }
        Ok(())
    }
}
