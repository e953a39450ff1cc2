//! The built-in listener: tcpserver and qmail-smtpd in one process, for
//! thousands of connections without a process or thread each.
//!
//! ## Tour
//! - [`rules`]: the tcprules text syntax (`127.:allow,RELAYCLIENT=""`)
//!   into typed rules; errors name file and line.
//! - [`rulescdb`]: compiles rules into a cdb byte-compatible with
//!   ucspi-tcp's (`mta-tcprules`), reads it back, and looks connections up
//!   in tcpserver's order.
//! - [`server`]: the tokio accept loop: tcpserver's environment, the
//!   connection limits, the rules (reloaded when the file changes).
//! - [`session_task`]: drives [`crate::smtpd::session::Session`] on a
//!   tokio task, with STARTTLS (rustls) and checkpassword, streaming the
//!   message into qmail-queue from the blocking pool.
//! - [`inline_queue`]: in unprivileged mode, qmail-queue's core on a
//!   thread instead of a fork and exec per message.
//! - [`controls_cache`]: qmail-smtpd's controls, read once and kept until
//!   a file in `control/` changes (inotify).
//! - [`privileges`]: bind as root, then become qmaild/nofiles.
//!
//! ## Invariants
//! - A stock configuration answers byte for byte as qmail-smtpd under
//!   tcpserver does (spec §7): the session is the same code.
//! - An idle connection costs a task, a socket and the session state: no
//!   read buffer, no thread, no process.
//! - Rules and controls changes apply to the next connection without a
//!   restart (the controls are kept only while `control/` is unchanged).

pub mod controls_cache;
pub mod inline_queue;
pub mod privileges;
pub mod rules;
pub mod rulescdb;
pub mod server;
pub mod session_task;
