//! A sendmail aliases file → the aliases sendmail actually had, with a
//! finding for every line whose meaning qmail would not reproduce.
//!
//! Steps: [`lines`] joins physical lines (spec §1.1), [`entry`] parses the
//! name (§1.2), [`crate::target`] the right-hand side (§1.3),
//! [`crate::include`] inlines `:include:` lists (the `read` module runs
//! these over a part of the file), [`index`] finds the last definition of
//! each name, and [`expand`] looks at the alias graph as a whole (§1.4:
//! loops, depth, self references, names a real account takes first).
//! Everything is linear in the input; a large file is read in two halves
//! at once ([`crate::par`]), with the same result as in one piece.
//!
//! Observed semantics, not intent (spec §3.4): entries sendmail dropped
//! (too long, non-local name, stray indented line, a duplicate that lost,
//! no colon, no value) are reported and left out, never switched on.

use std::ops::Range;

pub mod entry;
pub mod expand;
pub mod index;
pub mod lines;
mod read;

use crate::detect::{self, Refused};
use crate::par;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::Target;
use index::NameIndex;

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
    /// not 100,000), in the pieces the file was read in: an alias's `rhs`
    /// counts from the start of the first.
    rhs_text: Vec<String>,
}

impl Converted {
    /// The alias called `name`, if sendmail had it.
    pub fn get(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }

    /// The right-hand side of `a` (one of this file's aliases) as written,
    /// trimmed; sendmail's owner rule and the verifier read it.
    pub fn raw_rhs(&self, a: &Alias) -> &str {
        let mut base = 0;
        for piece in &self.rhs_text {
            if a.rhs.start < base + piece.len() || a.rhs.is_empty() {
                return piece
                    .get(a.rhs.start - base..a.rhs.end - base)
                    .unwrap_or("");
            }
            base += piece.len();
        }
        ""
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
/// A file read into aliases, with what the reading found.
struct Read {
    aliases: Vec<Alias>,
    report: Report,
    rhs_text: Vec<String>,
    /// The aliases-file check of the lines, when read with `check`.
    scan: Option<detect::AliasesScan>,
    include_met: bool,
}

/// Reads `text` whole (see [`read::part`] for `check`).
fn read_whole(site: &Site, file: &str, text: &str, check: bool) -> Read {
    // About one entry per 36 bytes in a typical file.
    let mut out = read::Out {
        slots: &mut [],
        used: 0,
        extra: Vec::with_capacity(text.len() / 36 + 16),
    };
    let p = read::part(site, file, text, 1, &mut out, check);
    Read {
        aliases: out.extra,
        report: p.report,
        rhs_text: vec![p.rhs_text],
        scan: p.scan,
        include_met: p.include_met,
    }
}

/// The two halves of a file read at once into one list: each half has
/// `na`, `nb` slots prepared (at least its entries, so the second half's
/// aliases are not copied after the first's), and the unused slots are
/// closed up.
fn read_halves(
    site: &Site,
    file: &str,
    (a, na): (&str, usize),
    (b, first_b, nb): (&str, usize, usize),
    check: bool,
) -> Read {
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
        || read::part(site, file, b, first_b, &mut out_b, check),
        || read::part(site, file, a, 1, &mut out_a, check),
    );
    let mut report = first.report;
    out_b.shift_rhs(first.rhs_text.len());
    // Kept apart, not copied together.
    let rhs_text = vec![first.rhs_text, later.rhs_text];
    report.findings.append(&mut later.report.findings);
    let (used_a, extra_a, used_b, extra_b) = (out_a.used, out_a.extra, out_b.used, out_b.extra);
    all.drain(used_a..na);
    all.truncate(used_a + used_b);
    all.splice(used_a..used_a, extra_a);
    all.extend(extra_b);
    Read {
        aliases: all,
        report,
        rhs_text,
        scan: first.scan.zip(later.scan).map(|(sa, sb)| sa.merge(sb)),
        include_met: first.include_met || later.include_met,
    }
}

fn convert_split(
    site: &Site,
    file: &str,
    text: &[u8],
    min_split: usize,
) -> Result<Converted, Refused> {
    convert_with(site, file, text, min_split, true)
}

/// [`convert_split`]; `one_pass` tries checking and reading in one pass
/// (the tests compare it with two).
fn convert_with(
    site: &Site,
    file: &str,
    text: &[u8],
    min_split: usize,
    one_pass: bool,
) -> Result<Converted, Refused> {
    let text = detect::utf8(file, text)?;
    let halves = par::split_lines(text, min_split).map(|p| {
        let before = memchr::memchr_iter(b'\n', &text.as_bytes()[..p]).count();
        (&text[..p], &text[p..], before + 1)
    });
    // One pass checks that this is an aliases file and reads it. A file
    // with an `:include:` is checked whole before any list is read, in
    // two passes over the lines (none of them kept).
    let once = one_pass.then(|| match halves {
        None => read_whole(site, file, text, true),
        Some((a, b, first_b)) => {
            // A physical line per entry at most.
            let physical_lines = |t: &str| memchr::memchr_iter(b'\n', t.as_bytes()).count() + 1;
            read_halves(
                site,
                file,
                (a, physical_lines(a)),
                (b, first_b, physical_lines(b)),
                true,
            )
        }
    });
    let read = match once {
        Some(mut r) if !r.include_met => {
            r.scan.take().unwrap_or_default().verdict(file)?;
            r
        }
        _ => {
            let scan = |t, first| {
                detect::AliasesScan::of(file, lines::LogicalLines::starting_at(t, first))
            };
            match halves {
                None => {
                    scan(text, 1).verdict(file)?;
                    read_whole(site, file, text, false)
                }
                Some((a, b, first_b)) => {
                    let (sa, sb) = par::join(|| scan(a, 1), || scan(b, first_b));
                    let (na, nb) = (sa.entries(), sb.entries());
                    sa.merge(sb).verdict(file)?;
                    read_halves(site, file, (a, na), (b, first_b, nb), false)
                }
            }
        }
    };
    let Read {
        aliases: mut all,
        mut report,
        rhs_text,
        ..
    } = read;
    // sendmail 8.17 keeps the last definition of a name: the earlier ones
    // are reported (naming the definition that replaced each) and
    // dropped. The index of names to their last definition is what the
    // analysis needs when there were no duplicates.
    let parallel = halves.is_some();
    let (index, mut replaced) = NameIndex::last_definitions(&all);
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
        let index = NameIndex::new(&all);
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

    /// Every kind of line, repeated so that both halves hold each, with
    /// loops, chains and duplicates that cross the cut.
    fn mixed_file(include: &std::path::Path, n: usize) -> String {
        let mut t = String::from("# start\n\tjoined to the comment\n");
        for i in 0..n {
            let j = (i + n / 2) % n;
            t.push_str(&match i % 16 {
                0 => format!("list{i}: u{i}, \"|/bin/prog {i}\", x{i}@Example.NET\n"),
                1 => format!("wrap{i}: a{i},\n\tb{i}@example.com, \\\ncont{i}\n"),
                2 => format!("loop{i}: loop{j}\nloop{j}: loop{i}\n"),
                3 => format!("chain{i}: chain{}\n", i + 16),
                4 => format!("dup{}: first{i}\n", i % 7),
                5 => format!("bad line {i} without colon\n"),
                6 => format!("far{i}@elsewhere.example: z\n"),
                7 => format!("prog{i}: |/usr/bin/unquoted arg{i}\n"),
                8 => format!("inc{i}: :include:{}\n", include.display()),
                9 => format!("err{i}: error:5.1.1:550 no, error:ok{i}\n"),
                10 => format!("self{i}: self{i}, \\root, plus+tag{i}\n"),
                11 => "\n\tstray after an empty line\n".to_string(),
                12 => format!("long{i}: {}\n", "x,".repeat(4200)),
                13 => format!("\"Quoted {i}\"@mail.example.org: Bob <bob{i}@h.example> (c)\n"),
                14 => format!("file{i}: /var/mail/f{i}, /dev/null\n"),
                _ => format!("user{i}: person{i}@example.org\n"),
            });
        }
        t
    }

    #[test]
    fn a_file_read_in_halves_converts_as_in_one_piece() {
        let d = tempfile::tempdir().unwrap();
        let inc = d.path().join("list");
        std::fs::write(&inc, "m1, m2@example.net\n").unwrap();
        let text = mixed_file(&inc, 1200);
        let site = Site::new("mail.example.org", &[]);
        let one = convert_split(&site, "aliases", text.as_bytes(), usize::MAX).unwrap();
        let two = convert_split(&site, "aliases", text.as_bytes(), 0).unwrap();
        assert!(par::split_lines(&text, 0).is_some());
        assert_eq!(one.aliases, two.aliases);
        assert_eq!(one.report.findings, two.report.findings);
        for (a, b) in one.aliases.iter().zip(&two.aliases) {
            assert_eq!(one.raw_rhs(a), two.raw_rhs(b));
        }
        // The file exercised what it is meant to.
        assert!(one.aliases.len() > 900);
        for needle in [
            "form a loop",
            "used the last definition",
            "missing colon",
            "too long",
        ] {
            assert!(
                one.report
                    .findings
                    .iter()
                    .any(|f| f.reason.contains(needle)),
                "{needle}"
            );
        }
        assert_eq!(
            one.raw_rhs(one.get("wrap1").unwrap()),
            "a1,\tb1@example.com, cont1"
        );
    }

    #[test]
    fn one_pass_and_two_read_the_same() {
        let d = tempfile::tempdir().unwrap();
        // No include: one pass reads it.
        let text: String = mixed_file(&d.path().join("none"), 1200)
            .lines()
            .filter(|l| !l.contains(":include:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let site = Site::new("mail.example.org", &[]);
        for min_split in [0, usize::MAX] {
            let one = convert_with(&site, "a", text.as_bytes(), min_split, true).unwrap();
            let two = convert_with(&site, "a", text.as_bytes(), min_split, false).unwrap();
            assert_eq!(one.aliases, two.aliases);
            assert_eq!(one.report.findings, two.report.findings);
            assert!(one.aliases.len() > 800);
        }
        // Refused, early (a shell alias) or by count (no colons), in either
        // half: the same line either way.
        let early = format!("{text}ll='ls -l'\n{text}");
        let colons: String = (0..3000).map(|i| format!("k{i} v{i}\n")).collect();
        let counted = format!("{colons}a: b\n");
        for refused in [early, counted] {
            for min_split in [0, usize::MAX] {
                let one = convert_with(&site, "a", refused.as_bytes(), min_split, true);
                let two = convert_with(&site, "a", refused.as_bytes(), min_split, false);
                assert_eq!(one.unwrap_err(), two.unwrap_err());
            }
        }
    }

    #[test]
    fn a_refused_file_is_refused_at_the_same_line_in_halves() {
        let d = tempfile::tempdir().unwrap();
        let mut text = mixed_file(&d.path().join("none"), 600);
        let at = text.lines().count() + 1;
        text.push_str("ll='ls -l'\n");
        text.push_str(&mixed_file(&d.path().join("none"), 600));
        let site = Site::new("mail.example.org", &[]);
        let one = convert_split(&site, "aliases", text.as_bytes(), usize::MAX).unwrap_err();
        let two = convert_split(&site, "aliases", text.as_bytes(), 0).unwrap_err();
        assert_eq!(one, two);
        assert_eq!(one.line, at);
    }
}
