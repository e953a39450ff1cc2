//! The queue (spec §2, §1.6).
//!
//! - [`layout`]: the on-disk directories and the id = inode rule.
//! - [`enqueue`]: what qmail-queue does with one message, step by durable
//!   step; [`qq_process`]: qmail-queue's process setup (signals, alarm,
//!   fds 0 and 1).
//! - [`clean`]: qmail-clean, which removes queue files for qmail-send and
//!   sweeps stale `pid/` files.
//! - [`spare`]: finished queue files' inodes kept for the next files
//!   (ext4 makes a fresh inode expensive under churn).
//! - [`client`]: running qmail-queue (or `$QMAILQUEUE`) from an injector.
pub mod clean;
pub mod client;
pub mod enqueue;
pub mod layout;
pub mod qq_process;
pub mod spare;
