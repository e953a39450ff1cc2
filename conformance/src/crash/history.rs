//! The client-observed history and its invariant (conformance spec §4.4,
//! Jepsen style). Each message the harness sends carries a unique id in an
//! `X-Conformance-Id` header; its outcome is what the client saw:
//!
//! - ACKED: a 2xx after the final dot (or the injector exited 0);
//! - REJECTED: 4xx/5xx (or the injector exited non-zero);
//! - UNKNOWN: no reply (the connection died after the dot, or the
//!   injector was killed).
//!
//! After the fault, restart and drain, [`check`] compares the history with
//! every copy found (mailboxes, the sink, bounces): ACKED delivered to
//! each accepted recipient at least once or bounced, REJECTED never
//! delivered, duplicates counted (more than `max_duplicates` extra copies
//! fail), and no partial copy visible anywhere. The checker does no I/O,
//! so its tests feed it histories and copies directly.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The header that carries a message's id.
pub const ID_HEADER: &str = "X-Conformance-Id";

/// What the client saw for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Acked,
    Rejected,
    Unknown,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Acked => "ACKED",
            Outcome::Rejected => "REJECTED",
            Outcome::Unknown => "UNKNOWN",
        })
    }
}

/// One message of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub outcome: Outcome,
    /// A 4xx (or a temporary injector failure): REJECTED or UNKNOWN per
    /// the scenario's `tempfail`.
    pub temporary: bool,
    /// Recipients the server accepted (lower-cased).
    pub rcpts: Vec<String>,
    /// The body as sent (after the header block), LF line ends.
    pub body: Vec<u8>,
    /// Wall-clock seconds when the client learnt the outcome (tier B
    /// counts a message ACKED only at crash points after this).
    pub at: f64,
}

/// What kind of copy was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    /// Delivered to `rcpt`.
    Delivery,
    /// A bounce naming `rcpt` as failed, returning the message.
    Bounce,
}

/// A copy of a message found after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub id: String,
    pub rcpt: String,
    pub kind: CopyKind,
    /// Where it was found (for the report).
    pub place: String,
    /// The whole copy (LF line ends).
    pub bytes: Vec<u8>,
}

/// The verdict: losses, forbidden deliveries, partial copies, duplicate
/// counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// ACKED ids missing for some recipient: (id, rcpt).
    pub lost: Vec<(String, String)>,
    /// REJECTED ids that were delivered: (id, place).
    pub rejected_delivered: Vec<(String, String)>,
    /// Partial or altered copies: (id, place).
    pub partial: Vec<(String, String)>,
    /// Extra copies per (id, rcpt), when more than one copy arrived.
    pub duplicates: BTreeMap<(String, String), usize>,
    /// Over the allowed number of extra copies.
    pub too_many: Vec<(String, String, usize)>,
    pub counts: BTreeMap<Outcome, usize>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.rejected_delivered.is_empty()
            && self.partial.is_empty()
            && self.too_many.is_empty()
    }

    /// One line: outcomes, duplicates and the ids of lost messages.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (o, n) in &self.counts {
            let _ = write!(s, "{o} {n}, ");
        }
        let dups: usize = self.duplicates.values().sum();
        let _ = write!(s, "duplicates {dups}");
        if !self.lost.is_empty() {
            let ids: Vec<String> = self.lost.iter().map(|(i, r)| format!("{i}→{r}")).collect();
            let _ = write!(s, ", LOST {}", ids.join(" "));
        }
        if !self.rejected_delivered.is_empty() {
            let ids: Vec<&str> = self
                .rejected_delivered
                .iter()
                .map(|(i, _)| i.as_str())
                .collect();
            let _ = write!(s, ", REJECTED but delivered {}", ids.join(" "));
        }
        if !self.partial.is_empty() {
            let ids: Vec<String> = self
                .partial
                .iter()
                .map(|(i, p)| format!("{i} in {p}"))
                .collect();
            let _ = write!(s, ", PARTIAL {}", ids.join(" "));
        }
        if !self.too_many.is_empty() {
            let ids: Vec<String> = self
                .too_many
                .iter()
                .map(|(i, r, n)| format!("{i}→{r} ×{n}"))
                .collect();
            let _ = write!(s, ", too many copies {}", ids.join(" "));
        }
        s
    }
}

/// Checks the invariant. `tempfail_unknown` makes temporary failures
/// UNKNOWN instead of REJECTED.
pub fn check(
    history: &[Record],
    copies: &[Copy],
    max_duplicates: usize,
    tempfail_unknown: bool,
) -> Verdict {
    let mut v = Verdict::default();
    let outcome = |r: &Record| {
        if r.outcome == Outcome::Rejected && r.temporary && tempfail_unknown {
            Outcome::Unknown
        } else {
            r.outcome
        }
    };
    for r in history {
        *v.counts.entry(outcome(r)).or_default() += 1;
    }
    let by_id: BTreeMap<&str, &Record> = history.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut delivered: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut bounced: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in copies {
        let Some(r) = by_id.get(c.id.as_str()) else {
            continue;
        };
        // A bounce's returned copy may be cut or wrapped (DSN); only
        // deliveries must be whole.
        if c.kind == CopyKind::Delivery && !ends_with(&c.bytes, &r.body) {
            v.partial.push((c.id.clone(), c.place.clone()));
        }
        let key = (c.id.clone(), c.rcpt.to_ascii_lowercase());
        match c.kind {
            CopyKind::Delivery => {
                if outcome(r) == Outcome::Rejected {
                    v.rejected_delivered.push((c.id.clone(), c.place.clone()));
                }
                *delivered.entry(key).or_default() += 1;
            }
            CopyKind::Bounce => *bounced.entry(key).or_default() += 1,
        }
    }
    for r in history.iter().filter(|r| outcome(r) == Outcome::Acked) {
        for rcpt in &r.rcpts {
            let key = (r.id.clone(), rcpt.to_ascii_lowercase());
            if !delivered.contains_key(&key) && !bounced.contains_key(&key) {
                v.lost.push(key);
            }
        }
    }
    for (key, n) in delivered.into_iter().chain(bounced) {
        if n > 1 {
            if n - 1 > max_duplicates {
                v.too_many.push((key.0.clone(), key.1.clone(), n));
            }
            *v.duplicates.entry(key).or_default() += n - 1;
        }
    }
    v
}

fn ends_with(hay: &[u8], needle: &[u8]) -> bool {
    hay.ends_with(needle)
}

/// The id in a message's header block (the first `X-Conformance-Id:`).
pub fn id_of(msg: &[u8]) -> Option<String> {
    for line in msg.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        let l = String::from_utf8_lossy(line);
        if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case(ID_HEADER) {
                return Some(value.trim().to_string());
            }
        }
    }
    None
}

/// The id anywhere in a message (a bounce returns the original below its
/// own headers).
pub fn id_inside(msg: &[u8]) -> Option<String> {
    let needle = format!("\n{ID_HEADER}: ");
    let pos = msg
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))?;
    let rest = &msg[pos + needle.len()..];
    let end = rest.iter().position(|&b| b == b'\n' || b == b'\r')?;
    Some(String::from_utf8_lossy(&rest[..end]).trim().to_string())
}

/// The message as sent: the id header, then the scenario's text (LF).
pub fn tagged(id: &str, message: &[u8]) -> Vec<u8> {
    let mut m = format!("{ID_HEADER}: {id}\n").into_bytes();
    m.extend_from_slice(message);
    m
}

/// The body of a message: what follows the first empty line.
pub fn body_of(msg: &[u8]) -> Vec<u8> {
    let mut pos = 0;
    for line in msg.split_inclusive(|&b| b == b'\n') {
        pos += line.len();
        if line == b"\n" || line == b"\r\n" {
            return msg[pos..].to_vec();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, o: Outcome, rcpts: &[&str]) -> Record {
        Record {
            id: id.into(),
            outcome: o,
            temporary: false,
            rcpts: rcpts.iter().map(|s| s.to_string()).collect(),
            body: b"body\n".to_vec(),
            at: 0.0,
        }
    }

    fn copy(id: &str, rcpt: &str, kind: CopyKind, bytes: &[u8]) -> Copy {
        Copy {
            id: id.into(),
            rcpt: rcpt.into(),
            kind,
            place: "x".into(),
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn acked_must_arrive_for_every_recipient() {
        let h = [rec("m1", Outcome::Acked, &["a@x", "b@y"])];
        let c = [copy("m1", "A@x", CopyKind::Delivery, b"H: 1\n\nbody\n")];
        let v = check(&h, &c, 1, false);
        assert_eq!(v.lost, vec![("m1".to_string(), "b@y".to_string())]);
        assert!(!v.ok());
        assert!(v.summary().contains("LOST m1→b@y"), "{}", v.summary());
        // A bounce for b@y settles it.
        let c2 = [
            c[0].clone(),
            copy("m1", "b@y", CopyKind::Bounce, b"x\nbody\n"),
        ];
        assert!(check(&h, &c2, 1, false).ok());
    }

    #[test]
    fn rejected_must_not_arrive_unknown_may() {
        let mut r = rec("m2", Outcome::Rejected, &["a@x"]);
        let c = [copy("m2", "a@x", CopyKind::Delivery, b"\nbody\n")];
        assert_eq!(
            check(std::slice::from_ref(&r), &c, 1, false)
                .rejected_delivered
                .len(),
            1
        );
        r.temporary = true;
        assert!(check(std::slice::from_ref(&r), &c, 1, true).ok());
        assert!(check(&[rec("m3", Outcome::Unknown, &["a@x"])], &[], 1, false).ok());
    }

    #[test]
    fn partial_copies_and_duplicates() {
        let h = [rec("m1", Outcome::Acked, &["a@x"])];
        let c = [copy("m1", "a@x", CopyKind::Delivery, b"\nbod")];
        assert_eq!(check(&h, &c, 1, false).partial.len(), 1);
        let d = copy("m1", "a@x", CopyKind::Delivery, b"\nbody\n");
        let v = check(&h, &[d.clone(), d.clone()], 1, false);
        assert!(v.ok());
        assert_eq!(v.duplicates.values().sum::<usize>(), 1);
        let v = check(&h, &[d.clone(), d.clone(), d], 1, false);
        assert!(!v.ok() && v.too_many.len() == 1);
    }

    #[test]
    fn ids_in_headers_and_inside_bounces() {
        let m = tagged("m7", b"Subject: s\n\nbody\n");
        assert_eq!(id_of(&m).as_deref(), Some("m7"));
        assert_eq!(id_of(b"A: b\n\nX-Conformance-Id: no\n"), None);
        assert_eq!(
            id_inside(b"bounce\n\n--- copy\nX-Conformance-Id: m8\nS: x\n").as_deref(),
            Some("m8")
        );
        assert_eq!(body_of(&m), b"body\n");
    }
}
