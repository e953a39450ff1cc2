//! The qmail-send ↔ spawn protocol (spec §1.3) and the generic spawn
//! server that qmail-lspawn and qmail-rspawn share.
//!
//! - [`protocol`]: the byte framing of commands and reports, no I/O.
//! - [`server`]: reads commands on fd 0, starts one child per command via a
//!   [`Spawner`], collects the child's output and writes one report per
//!   command on fd 1.
//!
//! The two spawns differ only in *how* a delivery child is started and how
//! its exit status and output become a report; that is the [`Spawner`]
//! trait. `local::lspawn` and `remote::rspawn` implement it.

pub mod protocol;
pub mod server;

use std::fs::File;
use std::process::{Command as ProcessCommand, ExitStatus};

pub use protocol::{Command, Report, Status};

/// How one spawn turns a validated command into a child, and the child's
/// end into a report.
pub trait Spawner: Send + Sync {
    /// Builds the child process for `cmd`. The server sets fd 0 to `msg`
    /// (the message file, offset 0) and fds 1 and 2 to one pipe whose
    /// contents it collects. Returning `Err(report)` reports without
    /// starting anything (for example `K` for an empty local part).
    fn command(&self, cmd: &Command) -> Result<ProcessCommand, Report>;

    /// Maps the child's exit and everything it wrote to the report text.
    fn report(&self, cmd: &Command, status: ExitStatus, output: Vec<u8>) -> Report;

    /// Delivers without starting a child, when the spawn can do so safely
    /// (no uid switch needed). `None`, the default, means "start a child".
    fn inline(&self, _cmd: &Command, _msg: &File) -> Option<Report> {
        None
    }

    /// The message file for `cmd`, opened read-only; default checks are the
    /// ones in spec §1.3 (regular file). Override to add the owner check.
    fn open_message(&self, queue: &std::path::Path, messid: &[u8]) -> Result<File, Report> {
        protocol::open_message(queue, messid)
    }
}
