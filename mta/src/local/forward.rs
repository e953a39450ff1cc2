//! Forwarding (spec §5.6 "Forwarding"): every address collected from the
//! .qmail file goes out in one qmail-queue run. The new message is DTLINE
//! followed by the original message from offset 0 (no new Return-Path);
//! the envelope sender is NEWSENDER.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::error::LocalError;
use crate::queue::client::{Injection, QqError};

const BUF: usize = 64 * 1024;

/// Injects the forwarded copy; returns the qp (pid of qmail-queue).
pub fn forward(
    qmailhome: &Path,
    dtline: &[u8],
    message: &File,
    sender: &[u8],
    recipients: &[Vec<u8>],
) -> Result<u32, LocalError> {
    let mut m: &File = message;
    m.seek(SeekFrom::Start(0)).map_err(|_| LocalError::Rewind)?;
    let mut inj = Injection::start(qmailhome, None).map_err(LocalError::Forward)?;
    // A write error means qmail-queue went away; its exit code (read by
    // finish) then says why, so writing just stops.
    let mut writing = inj.write_all(dtline).is_ok();
    let mut buf = vec![0u8; BUF];
    while writing {
        let n = match m.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // Dropping the injection closes both pipes before any
                // envelope is written, so qmail-queue queues nothing
                // (qmail itself would queue the truncated copy).
                inj.abort();
                return Err(LocalError::Forward(QqError {
                    permanent: false,
                    text: "qq write error or disk full (#4.3.0)".to_string(),
                }));
            }
        };
        writing = inj.write_all(&buf[..n]).is_ok();
    }
    inj.finish(sender, recipients).map_err(LocalError::Forward)
}
