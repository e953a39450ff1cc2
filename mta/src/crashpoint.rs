//! Named crash points.
//!
//! Every durable step of the queue is a named point. Setting
//! `MTA_CRASHPOINT=<name>` (or `<name>:<nth>`, 1-based) makes the process
//! that reaches that point for the nth time abort on the spot with
//! `SIGKILL`-like abruptness (`std::process::abort`, no destructors, no
//! buffered output flushed). The conformance suite and the crash-recovery
//! tests use this to prove that nothing accepted is lost.
//!
//! The names are listed in [`ALL`]; the README copies that list.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Every crash point, in the order a message meets them.
pub const ALL: &[&str] = &[
    // qmail-queue (spec §2.4)
    "queue.pid.created",
    "queue.mess.linked",
    "queue.pid.unlinked",
    "queue.mess.synced",
    "queue.intd.synced",
    "queue.todo.linked",
    // qmail-send preprocessing (spec §3.3)
    "send.info.synced",
    "send.channel.synced",
    "send.todo.cleaned",
    // deliveries
    "local.maildir.tmp.synced",
    "local.maildir.new.linked",
    "local.mbox.synced",
    "send.channel.marked",
    "send.channel.unlinked",
    "send.bounce.injected",
    "send.bounce.unlinked",
    "send.info.unlinked",
    "send.mess.cleaned",
];

struct Target {
    name: String,
    nth: u64,
}

fn target() -> &'static Option<Target> {
    static T: OnceLock<Option<Target>> = OnceLock::new();
    T.get_or_init(|| {
        let v = std::env::var("MTA_CRASHPOINT").ok()?;
        let (name, nth) = match v.rsplit_once(':') {
            Some((n, k)) => (n.to_string(), k.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some(Target { name, nth })
    })
}

static HITS: AtomicU64 = AtomicU64::new(0);

/// Marks that the process has just completed step `name`; aborts if this is
/// the configured crash point.
pub fn hit(name: &str) {
    if let Some(t) = target() {
        if t.name == name {
            let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
            if n == t.nth {
                std::process::abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let mut v: Vec<_> = super::ALL.to_vec();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), super::ALL.len());
    }
}
