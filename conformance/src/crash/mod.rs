//! Crash-consistency testing (conformance spec §4.4).
//!
//! - [`history`]: the client-observed history (ACKED / REJECTED /
//!   UNKNOWN per message id) and the invariant checked after a crash.
//! - [`sweep`]: tier A for any MTA: kill (or fail with EIO/ENOSPC) at the
//!   Nth fsync, rename, link or write, for N over a one-message run, via
//!   `strace -e inject=...`; the case list is made at run time.
//! - [`trace`]: parsing `strace -f -y -xx -ttt` output into file-system
//!   operations.
//! - [`powercut`]: tier B ("ALICE-lite"): from a recorded run, the state
//!   that would survive a power cut at each point (file data up to the
//!   file's last fsync, directory entries only where the parent directory
//!   was fsynced later), materialised and booted.
//!
//! Targets do the killing and the tracing; [`Arm`] is what the executor
//! asks of them.

pub mod history;
pub mod powercut;
pub mod sweep;
pub mod trace;

use crate::scenario::step::{Fault, Place};

/// A crash (or a recording) the executor asks a target to arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arm {
    /// The reference MTA's named crash point (`MTA_CRASHPOINT=name:nth`),
    /// in qmail-queue for `queue.*` names, in the daemons otherwise.
    Point { name: String, nth: u32 },
    /// strace around the injector or the daemons: trace `calls`; with
    /// `inject = (some, n)`, inject `fault` at the nth call of each of
    /// `some` (strace counts each syscall of each process on its own);
    /// without, only count.
    Syscall {
        calls: Vec<String>,
        place: Place,
        fault: Fault,
        inject: Option<(Vec<String>, u32)>,
    },
    /// Tier B: record every file-system call of the injector and the
    /// daemons, after snapshotting the state.
    Record,
}

/// The syscalls the conformance spec §4.4 names for tier A, when a
/// scenario says `syscall: [durable]`.
pub const DURABLE_CALLS: &[&str] = &[
    "fsync",
    "fdatasync",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
];

/// Expands the `durable` shorthand in a syscall list.
pub fn expand_calls(calls: &[String]) -> Vec<String> {
    let mut v = Vec::new();
    for c in calls {
        if c == "durable" {
            v.extend(DURABLE_CALLS.iter().map(|s| s.to_string()));
        } else {
            v.push(c.clone());
        }
    }
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    /// Every named crash point of the reference MTA has its tier A
    /// scenario (`scenarios/crash/a-<name with dashes>.yaml`).
    #[test]
    fn every_crash_point_has_a_scenario() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/crash");
        for p in mta::crashpoint::ALL {
            let f = dir.join(format!("a-{}.yaml", p.replace('.', "-")));
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            assert!(
                text.contains(&format!("point: {p},")),
                "{} does not crash at {p}",
                f.display()
            );
        }
    }

    #[test]
    fn durable_shorthand_expands() {
        let v = super::expand_calls(&["durable".into(), "write".into()]);
        assert!(v.contains(&"fsync".to_string()) && v.contains(&"linkat".to_string()));
        assert_eq!(v.last().map(String::as_str), Some("write"));
    }
}
