//! The crash assertions (conformance spec §4.4): gathering every copy of
//! the history's messages (users' Maildirs and mboxes, the sink, bounces
//! in either), checking the invariant ([`crate::crash::history::check`]),
//! and tier B: the invariant at each power-cut state of a recorded run.

use std::fmt::Write as _;
use std::time::Duration;

use super::check::{maildir_messages, mbox_messages};
use super::Failure;
use crate::crash::history::{self, Copy, CopyKind, Outcome, Record};
use crate::crash::{powercut, trace};
use crate::scenario::assertions::{History, PowerCutCheck, TempFail};
use crate::scenario::Setup;
use crate::sink::Sink;
use crate::target::{wait_until, Instance};

const DRAIN: Duration = Duration::from_secs(30);

fn lf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if !(b[i] == b'\r' && b.get(i + 1) == Some(&b'\n')) {
            out.push(b[i]);
        }
        i += 1;
    }
    out
}

fn header(msg: &[u8], name: &str) -> Option<String> {
    for line in msg.split(|&b| b == b'\n') {
        if line.is_empty() {
            return None;
        }
        let l = String::from_utf8_lossy(line);
        if let Some((n, v)) = l.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

/// A bounce's copies: one per failed recipient, if it returns an id.
fn bounce_copies(msg: &[u8], place: &str, out: &mut Vec<Copy>) -> bool {
    let Ok(b) = mta::bounce::parse::parse(msg) else {
        return false;
    };
    let Some(id) = history::id_inside(msg) else {
        return true;
    };
    for r in &b.recipients {
        out.push(Copy {
            id: id.clone(),
            rcpt: r.address.clone(),
            kind: CopyKind::Bounce,
            place: place.to_string(),
            bytes: msg.to_vec(),
        });
    }
    true
}

/// Every copy of a tagged message in `users`' mailboxes and at the sink.
pub fn gather(inst: &dyn Instance, users: &[String], sink: &Sink) -> Vec<Copy> {
    let mut out = Vec::new();
    for u in users {
        let Ok(home) = inst.home(u) else { continue };
        let boxes = [
            (maildir_messages(&home.join("Maildir")), "Maildir", false),
            (
                mbox_messages(&std::fs::read(home.join("Mailbox")).unwrap_or_default()),
                "Mailbox",
                true,
            ),
        ];
        for (msgs, what, mbox) in boxes {
            for m in msgs {
                let place = format!("{u}'s {what}");
                if bounce_copies(&m, &place, &mut out) {
                    continue;
                }
                let Some(id) = history::id_of(&m) else {
                    continue;
                };
                // qmail-local ends each mbox message with an empty line.
                let bytes = if mbox {
                    m.strip_suffix(b"\n").unwrap_or(&m).to_vec()
                } else {
                    m.clone()
                };
                out.push(Copy {
                    id,
                    rcpt: header(&m, "Delivered-To").unwrap_or_default(),
                    kind: CopyKind::Delivery,
                    place,
                    bytes,
                });
            }
        }
    }
    for t in sink.transactions().into_iter().filter(|t| t.accepted) {
        let m = lf(&t.message);
        let place = format!("the sink (from <{}>)", t.from);
        if (t.from.is_empty() || t.from == "#@[]") && bounce_copies(&m, &place, &mut out) {
            continue;
        }
        let Some(id) = history::id_of(&m) else {
            continue;
        };
        for r in &t.rcpts {
            out.push(Copy {
                id: id.clone(),
                rcpt: r.clone(),
                kind: CopyKind::Delivery,
                place: place.clone(),
                bytes: m.clone(),
            });
        }
    }
    out
}

/// The `history` assertion on the live run. `fired`: whether the armed
/// crash happened (None: nothing was armed to fire, as in a counting run).
pub fn history(
    h: &History,
    records: &[Record],
    inst: &dyn Instance,
    sink: &Sink,
    fired: Option<bool>,
) -> Result<String, Failure> {
    if h.fired.unwrap_or(true) && fired == Some(false) {
        return Err(Failure::plain(format!(
            "{} (the steps did not reach it), so the case proves nothing",
            super::NEVER_FIRED
        )));
    }
    // Leftovers of a killed qmail-queue stay for the 36-hour sweep; only
    // pending work has to finish.
    let drained = wait_until(DRAIN, || inst.nothing_pending().unwrap_or(false));
    let v = verdict(h, records, inst, sink);
    let mut note = v.summary();
    if !drained {
        note.push_str(", queue not drained");
    }
    if !v.ok() {
        return Err(Failure::plain(format!("crash invariant violated: {note}")));
    }
    for id in &h.acked {
        let r = records.iter().find(|r| &r.id == id);
        if r.is_none_or(|r| r.outcome != Outcome::Acked) {
            return Err(Failure::plain(format!(
                "message {id} is {}, expected ACKED",
                r.map_or("missing".to_string(), |r| r.outcome.to_string())
            )));
        }
    }
    // A counting run injects no fault.
    for id in h.not_acked.iter().filter(|_| fired.is_some()) {
        if records
            .iter()
            .any(|r| &r.id == id && r.outcome == Outcome::Acked)
        {
            return Err(Failure::plain(format!(
                "message {id} was ACKED (a 250) although the fault should have prevented it"
            )));
        }
    }
    Ok(note)
}

fn verdict(h: &History, records: &[Record], inst: &dyn Instance, sink: &Sink) -> history::Verdict {
    let copies = gather(inst, &h.users, sink);
    history::check(
        records,
        &copies,
        h.max_duplicates.unwrap_or(1),
        h.tempfail == TempFail::Unknown,
    )
}

/// Tier B: every power-cut state of the recorded run, booted and checked.
/// Returns the per-state report; fails when a state loses a message (or,
/// with `expect_loss`, when none does).
pub fn powercut(
    pc: &PowerCutCheck,
    h: &History,
    records: &[Record],
    inst: &mut dyn Instance,
    sink: &Sink,
    setup: &Setup,
) -> Result<String, Failure> {
    let fail = |m: String| Failure::plain(m);
    let (root, snap, files) = {
        let Some(p) = inst.power_cut() else {
            return Err(fail("powercut needs `crash: {record: true}` first".into()));
        };
        p.halt();
        (p.root(), p.snapshot(), p.traces())
    };
    let mut traces = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| fail(format!("reading trace {}: {e}", f.display())))?;
        traces.push(trace::parse(&text));
    }
    if std::env::var_os("CONFORMANCE_KEEP_TRACES").is_some() {
        for f in &files {
            let _ = std::fs::copy(
                f,
                format!(
                    "/tmp/ct-dbg-{}",
                    f.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            );
        }
    }
    let events = trace::merge(traces);
    let states = powercut::states(&root, &snap, &events, pc.drop_fsync.as_deref())
        .map_err(|e| fail(format!("building the power-cut states: {e}")))?;
    let mut report = format!(
        "{} events, {} distinct power-cut states{}\n",
        events.len(),
        states.len(),
        pc.drop_fsync
            .as_deref()
            .map_or(String::new(), |d| format!(" (fsyncs of *{d}* dropped)"))
    );
    let mut losses = 0usize;
    for (k, st) in states.iter().enumerate() {
        powercut::materialise(&root, &snap, st)
            .map_err(|e| fail(format!("materialising state {k}: {e}")))?;
        sink.reset(&setup.sink);
        inst.power_cut()
            .ok_or_else(|| fail("the target lost its recording".into()))?
            .boot()
            .map_err(|e| fail(format!("booting state {k}: {e}")))?;
        let drained = wait_until(DRAIN, || inst.nothing_pending().unwrap_or(false));
        // Only answers the client had before the cut count as ACKED.
        let seen: Vec<Record> = records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if r.at > st.time && r.outcome == Outcome::Acked {
                    r.outcome = Outcome::Unknown;
                }
                r
            })
            .collect();
        let v = verdict(h, &seen, inst, sink);
        let _ = writeln!(
            report,
            "  state {k} ({}): {}{}",
            st.label,
            if v.ok() { "ok" } else { "VIOLATION" },
            format_args!(
                ", {}{}",
                v.summary(),
                if drained { "" } else { ", queue not drained" }
            )
        );
        if !v.ok() {
            losses += 1;
        }
        if let Some(p) = inst.power_cut() {
            p.halt();
        }
    }
    match (pc.expect_loss, losses) {
        (false, 0) | (true, 1..) => Ok(report),
        (false, n) => Err(fail(format!(
            "{n} power-cut state(s) violate the invariant:\n{report}"
        ))),
        (true, 0) => Err(fail(format!(
            "the checker found no loss although fsyncs were dropped:\n{report}"
        ))),
    }
}
