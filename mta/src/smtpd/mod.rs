//! qmail-smtpd: the SMTP front door (spec §7), plus the opt-in extensions
//! STARTTLS, AUTH and SIZE.
//!
//! ## Tour
//! - [`session`]: the protocol core, a state machine with no I/O
//!   (bytes in, [`session::Action`]s out), driven by tests, the fd 0/1
//!   loop, and later a built-in listener alike.
//! - [`command`]: command lines (verb, argument; bounded buffering).
//! - [`address`]: MAIL/RCPT address parsing (spec §7.4).
//! - [`relay`]: rcpthosts, morercpthosts.cdb, badmailfrom (spec §7.5).
//! - [`data`]: the DATA decoder, hop counting and databytes (spec §7.6).
//! - [`extensions`]: which extensions the controls enable (all off in a
//!   stock configuration), SIZE parsing, the checkpassword runner.
//! - [`auth`]: the AUTH PLAIN/LOGIN exchange (RFC 4954), no I/O.
//! - [`received`]: the `Received: from ...` line (spec §7.7).
//! - [`controls`]: the control snapshot and the per-connection
//!   environment (spec §7.1, §9).
//! - [`io`]: runs a session over fd 0/1 with `timeoutsmtpd`, streaming the
//!   message into qmail-queue.
//! - [`newmrh`]: qmail-newmrh, which compiles `morercpthosts.cdb`.
//! - [`sample`]: a session chosen by flag bits, for the fuzz target and
//!   the property tests.
//!
//! ## Invariants
//! - Every reply is byte-exact with netqmail 1.06 (Appendix C).
//! - Nothing is queued unless the client sent the terminating `.` line
//!   and the message passed the hop and size checks.
//! - Memory per connection does not grow with the size of a command line
//!   or of the message (the recipient list, like qmail's, is unbounded).

pub mod address;
pub mod auth;
pub mod command;
pub mod controls;
pub mod data;
pub mod extensions;
pub mod io;
pub mod newmrh;
pub mod received;
pub mod relay;
pub mod sample;
pub mod session;

#[cfg(test)]
mod session_ext_tests;
#[cfg(test)]
mod session_proptests;
#[cfg(test)]
mod session_tests;
