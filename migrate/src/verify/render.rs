//! The text form of a [`Verification`]: which oracle was used, one line
//! per address that behaves the same, the two delivery lists side by side
//! (aligned with `similar`'s line diff) for every address that does not,
//! with the findings that explain it, then the summary.

use std::io::{self, Write};

use similar::{ChangeTag, TextDiff};

use super::{AddressResult, Verdict, Verification};

const COLUMN: usize = 44;

fn lines(v: &[super::Delivery]) -> String {
    let mut s: String = v.iter().map(|d| d.text() + "\n").collect();
    if s.is_empty() {
        s.push_str("(nothing)\n");
    }
    s
}

/// The side-by-side rows for one address: `(marker, old, new)`.
pub fn side_by_side(r: &AddressResult) -> Vec<(char, String, String)> {
    let (old, new) = (lines(&r.old), lines(&r.new));
    let diff = TextDiff::from_lines(&old, &new);
    let mut rows: Vec<(char, String, String)> = Vec::new();
    // Deletions since the last equal line, which insertions pair with.
    let mut pending = std::collections::VecDeque::new();
    for c in diff.iter_all_changes() {
        let t = c.value().trim_end_matches('\n').to_string();
        match c.tag() {
            ChangeTag::Equal => {
                pending.clear();
                rows.push((' ', t.clone(), t));
            }
            ChangeTag::Delete => {
                pending.push_back(rows.len());
                rows.push(('<', t, String::new()));
            }
            ChangeTag::Insert => match pending.pop_front() {
                Some(i) => {
                    rows[i].0 = '|';
                    rows[i].2 = t;
                }
                None => rows.push(('>', String::new(), t)),
            },
        }
    }
    rows
}

/// Writes the report.
pub fn write_text(v: &Verification, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", v.old_side.describe())?;
    writeln!(
        w,
        "new side: the reference MTA's routing (rewrite, users, .qmail, smtproutes)"
    )?;
    for r in &v.results {
        if r.verdict == Verdict::Same {
            let what: Vec<String> = r.old.iter().map(|d| d.text()).collect();
            writeln!(w, "= {} ({}): {}", r.address, r.origin, what.join(", "))?;
            continue;
        }
        let word = match r.verdict {
            Verdict::Flagged => "DIFFERENT, flagged by the converter",
            _ => "DIFFERENT, UNEXPLAINED",
        };
        writeln!(w, "! {} ({}): {word}", r.address, r.origin)?;
        writeln!(w, "    {:<COLUMN$}   qmail", "sendmail")?;
        for (m, o, n) in side_by_side(r) {
            writeln!(w, "  {m} {o:<COLUMN$}   {n}")?;
        }
        for f in &r.explained_by {
            writeln!(w, "    because {}", f.text())?;
        }
        for note in &r.notes {
            writeln!(w, "    sendmail said: {note}")?;
        }
    }
    let (same, flagged, unexplained) = v.counts();
    writeln!(
        w,
        "{} addresses: {same} same, {flagged} different and flagged by the converter, \
         {unexplained} different and unexplained",
        v.results.len()
    )
}

#[cfg(test)]
mod tests {
    use super::super::{compare, Delivery, OldSide};
    use super::*;
    use crate::report::Report;

    #[test]
    fn text_shows_sides_and_summary() {
        let r = compare(
            "a1",
            "alias",
            vec![Delivery::mailbox("bob"), Delivery::mailbox("carol")],
            vec![Delivery::mailbox("bob"), Delivery::bounce("5.1.1")],
            &Report::default(),
            &[],
            vec![],
        );
        let rows = side_by_side(&r);
        assert!(rows.contains(&(' ', "mailbox bob".into(), "mailbox bob".into())));
        assert!(rows
            .iter()
            .any(|(_, o, n)| o == "mailbox carol" || n == "bounce 5.1.1"));
        let v = Verification {
            old_side: OldSide::Model { why: "test".into() },
            results: vec![r],
            newaliases: None,
        };
        let mut out = Vec::new();
        write_text(&v, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("old side: migrate's model"), "{s}");
        assert!(s.contains("! a1 (alias): DIFFERENT, UNEXPLAINED"), "{s}");
        assert!(s.contains("1 addresses: 0 same, 0 different and flagged by the converter, 1 different and unexplained"), "{s}");
        assert_eq!(v.exit_code(), 2);
    }
}
