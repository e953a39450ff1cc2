//! Starting the MTA.
//!
//! - [`qmail_start`]: qmail-start's descriptor wiring (spec §1.2): pipes,
//!   the three helper daemons, then exec of qmail-send.
//! - [`init`]: creating a fresh root with the built-in default
//!   configuration (unprivileged mode) or qmail's modes and owners
//!   (production mode).
//! - [`supervise`]: the `mta` supervisor that starts the whole MTA, keeps
//!   its log, restarts qmail-send if it dies, and stops it cleanly.
pub mod init;
pub mod qmail_start;
pub mod supervise;
