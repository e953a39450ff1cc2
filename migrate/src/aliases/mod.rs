//! A sendmail aliases file → the aliases sendmail actually had, with a
//! finding for every line whose meaning qmail would not reproduce.
//!
//! Steps: [`lines`] joins physical lines (spec §1.1), [`entry`] parses the
//! name (§1.2), [`crate::target`] the right-hand side (§1.3),
//! [`crate::include`] inlines `:include:` lists (the `read` module runs
//! these over a part of the file), and [`expand`] looks at the alias graph
//! as a whole (§1.4: loops, depth, self references, names a real account
//! takes first). Everything is linear in the input; a large file is read
//! in two halves at once.
//!
//! Observed semantics, not intent (spec §3.4): entries sendmail dropped
//! (too long, non-local name, stray indented line, a duplicate that lost,
//! no colon, no value) are reported and left out, never switched on.

use std::ops::Range;

pub mod entry;
pub mod expand;
pub mod lines;
mod read;

use rustc_hash::FxHashMap;

use crate::detect::{self, Refused};
use crate::par;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::Target;

/// sendmail's answer when a target cannot be delivered; reused verbatim in
/// the `bouncesaying` line that replaces an `error:` target.
pub const USER_UNKNOWN: &str = "Sorry, no mailbox here by that name. (#5.1.1)";

/// One alias as sendmail had it, ready to be written for qmail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// Lower-cased local name.
    pub name: String,
    /// Line of the entry in the source file.
    pub line: usize,
    /// Targets in order, includes inlined, duplicates removed.
    pub targets: Vec<Target>,
    /// Where [`Converted::raw_rhs`] finds the right-hand side as written.
    rhs: Range<usize>,
}

/// The result of reading one aliases file.
#[derive(Debug, Clone)]
pub struct Converted {
    pub file: String,
    pub aliases: Vec<Alias>,
    pub report: Report,
    /// Every alias's right-hand side, one after the other (one string,
    /// not 100,000).
    rhs_text: String,
}

impl Converted {
    /// The alias called `name`, if sendmail had it.
    pub fn get(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }

    /// The right-hand side of `a` (one of this file's aliases) as written,
    /// trimmed; sendmail's owner rule and the verifier read it.
    pub fn raw_rhs(&self, a: &Alias) -> &str {
        self.rhs_text.get(a.rhs.clone()).unwrap_or("")
    }
}

/// Reads aliases `text` (from `file`, used in messages) for `site`.
///
/// A large file is read in two halves at once ([`crate::par`]); the
/// result is the same as reading it in one piece.
pub fn convert(site: &Site, file: &str, text: &[u8]) -> Result<Converted, Refused> {
    convert_split(site, file, text, par::MIN_SPLIT)
}

/// [`convert`], splitting files of at least `min_split` bytes.
/// The two halves of a file read at once into one list: each entry has a
/// slot prepared (so the second half's aliases are not copied after the
/// first's), and the unused slots are closed up.
fn read_halves(
    site: &Site,
    file: &str,
    (a, na): (&str, usize),
    (b, first_b, nb): (&str, usize, usize),
) -> (Vec<Alias>, Report, String) {
    let empty = || Alias {
        name: String::new(),
        line: 0,
        targets: Vec::new(),
        rhs: 0..0,
    };
    let mut all: Vec<Alias> = Vec::with_capacity(na + nb);
    all.resize_with(na + nb, empty);
    let (slots_a, slots_b) = all.split_at_mut(na);
    let mut out_a = read::Out {
        slots: slots_a,
        used: 0,
        extra: Vec::new(),
    };
    let mut out_b = read::Out {
        slots: slots_b,
        used: 0,
        extra: Vec::new(),
    };
    let (mut later, first) = par::join(
        || read::part(site, file, b, first_b, &mut out_b),
        || read::part(site, file, a, 1, &mut out_a),
    );
    let (mut rhs_text, mut report) = (first.rhs_text, first.report);
    out_b.shift_rhs(rhs_text.len());
    rhs_text.push_str(&later.rhs_text);
    report.findings.append(&mut later.report.findings);
    let (used_a, extra_a, used_b, extra_b) = (out_a.used, out_a.extra, out_b.used, out_b.extra);
    all.drain(used_a..na);
    all.truncate(used_a + used_b);
    all.splice(used_a..used_a, extra_a);
    all.extend(extra_b);
    (all, report, rhs_text)
}

fn convert_split(
    site: &Site,
    file: &str,
    text: &[u8],
    min_split: usize,
) -> Result<Converted, Refused> {
    let text = detect::utf8(file, text)?;
    let halves = par::split_lines(text, min_split).map(|p| {
        let before = memchr::memchr_iter(b'\n', &text.as_bytes()[..p]).count();
        (&text[..p], &text[p..], before + 1)
    });
    // Two passes over the lines, none of them kept: refuse first, then
    // convert.
    let scan = |t, first| detect::AliasesScan::of(file, lines::LogicalLines::starting_at(t, first));
    let (mut all, mut report, rhs_text) = match halves {
        None => {
            scan(text, 1).verdict(file)?;
            // About one entry per 36 bytes in a typical file.
            let mut out = read::Out {
                slots: &mut [],
                used: 0,
                extra: Vec::with_capacity(text.len() / 36 + 16),
            };
            let p = read::part(site, file, text, 1, &mut out);
            (out.extra, p.report, p.rhs_text)
        }
        Some((a, b, first_b)) => {
            let (sa, sb) = par::join(|| scan(a, 1), || scan(b, first_b));
            let (na, nb) = (sa.entries(), sb.entries());
            sa.merge(sb).verdict(file)?;
            read_halves(site, file, (a, na), (b, first_b, nb))
        }
    };
    // sendmail 8.17 keeps the last definition of a name: the earlier ones
    // are reported (naming the definition that replaced each) and
    // dropped. The index of names to their last definition is what the
    // analysis needs when there were no duplicates.
    let parallel = halves.is_some();
    let mut replaced: Vec<(usize, usize)> = Vec::new();
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    index.reserve(all.len());
    for (i, a) in all.iter().enumerate() {
        if let Some(earlier) = index.insert(a.name.as_str(), i) {
            replaced.push((earlier, i));
        }
    }
    if replaced.is_empty() {
        expand::analyse_indexed(site, file, &all, &index, parallel, &mut report);
        drop(index);
    } else {
        drop(index);
        replaced.sort_unstable();
        let mut keep = vec![true; all.len()];
        for &(earlier, later) in &replaced {
            keep[earlier] = false;
            report.push(
                file,
                all[earlier].line,
                format!("duplicate alias `{}`", all[earlier].name),
                Action::NotConverted,
                format!(
                    "sendmail 8.17 used the last definition (line {}); \
                     fastforward would have used this first one",
                    all[later].line
                ),
                false,
            );
        }
        let mut keep = keep.into_iter();
        all.retain(|_| keep.next().unwrap_or(true));
        let index = expand::name_index(&all);
        expand::analyse_indexed(site, file, &all, &index, parallel, &mut report);
    }
    Ok(Converted {
        file: file.to_string(),
        aliases: all,
        report,
        rhs_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(rhs: &str) -> Vec<Target> {
        let site = Site::new("mail.example.org", &[]);
        let c = convert(&site, "aliases", format!("list: {rhs}\n").as_bytes()).unwrap();
        c.get("list").unwrap().targets.clone()
    }

    fn local(u: &str) -> Target {
        Target::Local {
            user: u.into(),
            backslash: false,
        }
    }

    #[test]
    fn duplicates_go_in_short_and_long_lists() {
        assert_eq!(
            targets("b, a, B, b@mail.example.org"),
            vec![local("b"), local("a")]
        );
        // Past 16 targets the set takes over; order and first occurrence stay.
        let names: Vec<String> = (1..=20).map(|i| format!("t{i}")).collect();
        let rhs = format!("{}, t3, T18, t20, t21, t1", names.join(", "));
        let mut want: Vec<Target> = names.iter().map(|n| local(n)).collect();
        want.push(local("t21"));
        assert_eq!(targets(&rhs), want);
    }
}
