//! POP3: qmail-popup, the checkpassword interface, qmail-pop3d (spec §11).
//!
//! ## Tour
//! - [`command`]: POP3 command lines (verb, argument), shared by both
//!   servers, and their idle timeout.
//! - [`popup`]: qmail-popup's protocol core, no I/O (spec §11.1).
//! - [`popup_exec`]: qmail-popup's driver: fd 0/1, and running the
//!   checkpassword program with the fd 3 data (spec §11.2).
//! - [`pop3d`]: qmail-pop3d's protocol core, no I/O (spec §11.3).
//! - [`blast`]: the message encoder for RETR and TOP (LF → CRLF, dot
//!   stuffing, the line limit, the trailing empty line).
//! - [`maildir`]: the maildir side of qmail-pop3d: cleaning `tmp/`, the
//!   message list, and the QUIT commit.
//! - [`pop3d_io`]: qmail-pop3d's driver over fd 0/1.
//! - [`passwd`]: our password file (`user:$6$salt$hash:uid:gid:home`).
//! - [`checkpassword`]: `mta-checkpassword`, a checkpassword-compatible
//!   program over that file.
//!
//! ## Invariants
//! - Every reply is byte-exact with netqmail 1.06 (spec §11).
//! - qmail-pop3d changes the maildir only at QUIT: a dropped connection or
//!   a timeout leaves every message where it was (spec §11.3).
//! - The three programs only talk through the standard checkpassword
//!   interface, so each works with any other checkpassword-compatible
//!   program (djb's checkpassword, vchkpw, ...).

pub mod blast;
pub mod checkpassword;
pub mod command;
pub mod maildir;
pub mod passwd;
pub mod pop3d;
pub mod pop3d_io;
pub mod popup;
pub mod popup_exec;
