//! `ci/bench`'s harness: the reference MTA against Postfix, Exim and
//! OpenSMTPD on the same machine in the same run (README "Benchmarks").
//!
//! ## Tour
//! - [`mtas`]: start each MTA in a private directory on a loopback port
//!   (the peers from Debian packages unpacked by ci/bench), stop it by pid.
//! - [`load`]: Postfix's `smtp-source` and `smtp-sink`, counting
//!   deliveries in `Maildir/new`, holding idle connections.
//! - [`procs`]: CPU and PSS of an MTA's process tree from /proc.
//! - [`disk`]: the disk's own limit for durable create/fsync/rename steps.
//! - [`workloads`]: the workloads, interleaved across MTAs, run after run.
//! - [`aliases`]: `migrate aliases` against fastforward's newaliases.
//! - [`scratch`]: finished runs' directories are set aside until the end,
//!   so no run pays for another's deletions.
//! - [`stats`], [`report`]: min/median/max, ratios, the bars; the
//!   table, JSON and SVG chart.
//! - [`cli`]: the `mta-bench` command line.
//!
//! ## Invariants
//! - Every MTA runs with its shipped durability (fsync before 250).
//! - Runs alternate between MTAs, so drift on the shared machine hits all.
//! - A peer that cannot run is reported with the reason; the rest go on.
//! - Nothing is installed system-wide: the peers' compiled-in paths are
//!   met inside private mount namespaces.

pub mod aliases;
pub mod cli;
pub mod disk;
pub mod load;
pub mod mtas;
pub mod procs;
pub mod report;
pub mod scratch;
pub mod stats;
pub mod workloads;
