//! The real [`Bouncer`]: bounce paragraphs in `bounce/<id>` and bounce
//! injection through [`crate::bounce::inject`].
//!
//! One strengthening of qmail (spec §4.1 calls the bounce file "the one
//! non-crashproof part of the queue"): the paragraph is fsynced (and the
//! `bounce/` directory, when the file is new) before the scheduler marks
//! the recipient done, so a power cut cannot lose both the delivery and
//! its bounce.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::scheduler::{BounceResult, Bouncer};
use crate::bounce::inject::{inject, Outcome, Request};
use crate::bounce::BounceConfig;
use crate::control::SendControls;
use crate::queue::layout::Layout;

pub struct QueueBouncer {
    home: PathBuf,
    layout: Layout,
    config: BounceConfig,
    dsn: bool,
}

impl QueueBouncer {
    pub fn new(home: PathBuf, layout: Layout, controls: &SendControls) -> QueueBouncer {
        QueueBouncer {
            home,
            layout,
            config: BounceConfig::from_controls(controls),
            dsn: controls.bounce_dsn,
        }
    }
}

impl Bouncer for QueueBouncer {
    fn record(
        &mut self,
        id: u64,
        recip: &[u8],
        vd_prepend: Option<&str>,
        text: &[u8],
    ) -> io::Result<()> {
        let path = self.layout.bounce(id);
        let existed = path.exists();
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(&crate::bounce::record::paragraph(recip, vd_prepend, text))?;
        f.sync_data()?;
        if !existed {
            crate::durable::fsync_dir(&self.layout.dir("bounce"))?;
        }
        Ok(())
    }

    fn inject(&mut self, id: u64, sender: &[u8]) -> BounceResult {
        use std::os::unix::fs::MetadataExt;
        let arrival = std::fs::metadata(self.layout.info(id))
            .ok()
            .map(|m| m.mtime());
        let req = Request {
            home: &self.home,
            config: &self.config,
            dsn: self.dsn,
            sender,
            bounce_file: &self.layout.bounce(id),
            mess_file: &self.layout.mess(id),
            arrival,
            now: crate::date::now(),
        };
        match inject(&req) {
            Ok(Outcome::Injected { qp }) => BounceResult::Injected(qp),
            Ok(Outcome::Discarded) => BounceResult::Discarded,
            Ok(Outcome::NoBounce) => BounceResult::Nothing,
            Err(_) => BounceResult::Failed,
        }
    }
}
