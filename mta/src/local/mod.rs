//! Local delivery: who controls an address, and delivering to it
//! (spec §5, §1.4).
//!
//! ## Tour
//! - [`assign`]: the `users/assign` text format, parsed as qmail-newu
//!   does, with errors that name file and line.
//! - [`newu`]: `qmail-newu`, compiling users/assign into a users/cdb that
//!   real qmail can read.
//! - [`users`]: looking an address up in users/cdb with qmail's prefix
//!   rule; the six-field [`users::UserEntry`].
//! - [`getpw`]: `qmail-getpw`, the passwd fallback and the alias user.
//! - [`lspawn`]: `qmail-lspawn` as a [`crate::spawn::Spawner`], and the
//!   exit-code → report table as a pure function.
//! - qmail-local, one file per step:
//!   [`params`] (command line), [`env`] (environment and header lines),
//!   [`dotqmail`] (.qmail selection, NEWSENDER), [`instructions`] (line
//!   types), [`maildir`], [`mbox`], [`program`], [`forward`], and
//!   [`deliver`] which runs them in order. [`error`] holds every text.
//! - [`errno`]: qmail's own errno texts and temporary/permanent split.
//!
//! ## Invariants
//! - An address never becomes a program or a file name: only lines of a
//!   .qmail file (or the administrator's defaultdelivery) do, through
//!   [`instructions::parse`].
//! - A maildir's `new/` never holds a partial file: the tmp file is
//!   fsynced before the link, and `new/` is fsynced after it.
//! - [`deliver::deliver`] does not exit, chdir, or touch the process
//!   environment, so it can run inside a long-lived worker.

pub mod assign;
pub mod deliver;
pub mod dotqmail;
pub mod env;
pub mod errno;
pub mod error;
pub mod forward;
pub mod getpw;
pub mod inline;
pub mod instructions;
pub mod lspawn;
pub mod maildir;
pub mod mbox;
pub mod newu;
pub mod params;
pub mod program;
pub mod users;

pub use deliver::{deliver, Outcome};
pub use error::LocalError;
pub use params::Params;
