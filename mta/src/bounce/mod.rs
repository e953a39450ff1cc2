//! Bounces: recording failures, building QSBMF or RFC 3464 bounce
//! messages, and reading bounces back (spec §4, §3.5, §3.7).
//!
//! ## Tour
//! - [`record`]: one recipient paragraph per permanent failure, appended
//!   to `bounce/<id>` (spec §4.1), byte-exact with qmail-send.
//! - [`envelope`]: who the bounce goes to — normal, double (`#@[]` →
//!   doublebounceto) or triple (discarded) — after VERP reduction, and the
//!   header lines and wording both formats share (spec §4.2).
//! - [`qsbmf`]: the netqmail bounce, byte for byte (the default).
//! - [`dsn`]: an RFC 3464 `multipart/report` keeping qmail's wording; used
//!   when `control/bounceformat` contains `dsn` (`SendControls::bounce_dsn`).
//! - [`diagnose`]: status code, diagnostic and remote MTA read out of
//!   qmail's failure texts.
//! - [`parse`]: QSBMF and DSN bounces read into one model ([`Report`]);
//!   the conformance suite uses it too.
//! - [`inject`]: the scheduler's entry point when a message is done.
//!
//! ## How the scheduler uses it
//! On a `D` report: `record::append(bounce_path, &record::paragraph(recip,
//! record::prepend_for(&vd, recip), text))`. When the message is done:
//! `inject::inject(&Request { .. })`, then log and unlink per its
//! [`Outcome`](inject::Outcome).
//!
//! ## Invariants
//! - Nothing here holds the original message in memory: it is streamed.
//! - The QSBMF output is exactly netqmail's; everything this crate adds
//!   (the DSN format) is opt-in.

pub mod diagnose;
pub mod dsn;
pub mod envelope;
pub mod inject;
pub mod parse;
pub mod qsbmf;
pub mod record;

pub use envelope::{plan, Bounce, BounceConfig, Kind, Plan};
pub use parse::{parse, Format, Recipient, Report};
