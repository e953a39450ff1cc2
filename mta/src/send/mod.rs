//! qmail-send: the scheduler (spec §3).
pub mod bouncer;
pub mod channel;
pub mod daemon;
pub mod finish;
pub mod log;
pub mod preprocess;
pub mod retry;
pub mod rewrite;
pub mod scheduler;
pub mod syncer;
