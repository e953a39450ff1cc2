//! A sendmail aliases file → the aliases sendmail actually had, with a
//! finding for every line whose meaning qmail would not reproduce.
//!
//! Steps: [`lines`] joins physical lines (spec §1.1), [`entry`] parses the
//! name (§1.2), [`crate::target`] the right-hand side (§1.3),
//! [`crate::include`] inlines `:include:` lists, and [`expand`] looks at
//! the alias graph as a whole (§1.4: loops, depth, self references, names
//! a real account takes first). Everything is linear in the input.
//!
//! Observed semantics, not intent (spec §3.4): entries sendmail dropped
//! (too long, non-local name, stray indented line, a duplicate that lost,
//! no colon, no value) are reported and left out, never switched on.

pub mod entry;
pub mod expand;
pub mod lines;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::detect::{self, Refused};
use crate::include;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::{Commas, PieceRef, Target};

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
    /// The right-hand side as written (sendmail's owner rule reads it).
    pub raw_rhs: String,
}

/// The result of reading one aliases file.
#[derive(Debug, Clone)]
pub struct Converted {
    pub file: String,
    pub aliases: Vec<Alias>,
    pub report: Report,
}

impl Converted {
    /// The alias called `name`, if sendmail had it.
    pub fn get(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }
}

/// Reads aliases `text` (from `file`, used in messages) for `site`.
pub fn convert(site: &Site, file: &str, text: &[u8]) -> Result<Converted, Refused> {
    let text = detect::utf8(file, text)?;
    // Two passes over the lines, none of them kept: refuse first, then
    // convert.
    detect::aliases_lines(file, lines::LogicalLines::new(text))?;
    let mut report = Report::default();
    // About one entry per 36 bytes in a typical file.
    let mut all: Vec<Alias> = Vec::with_capacity(text.len() / 36 + 16);
    // Reused for every entry.
    let mut scratch = Scratch::default();
    for l in lines::LogicalLines::new(text) {
        match l.kind {
            lines::Kind::Comment if l.joined > 0 => report.push(
                file,
                l.line + 1,
                "indented line after a `#` comment",
                Action::NotConverted,
                "sendmail joined it to the comment line and ignored it (fastforward does the same)",
                false,
            ),
            lines::Kind::Comment => {}
            lines::Kind::StrayIndent => report.push(
                file,
                l.line,
                format!("`{}`", l.text.trim()),
                Action::NotConverted,
                "sendmail skipped it (554 5.3.5 Non-continuation line starts with space): \
                 an empty line ended the entry before it",
                false,
            ),
            lines::Kind::TooLong => report.push(
                file,
                l.line,
                format!("entry `{}`", head(&l.text)),
                Action::NotConverted,
                format!(
                    "sendmail dropped it (554 5.3.0 alias line too long: {} bytes, limit {}), \
                     so the alias did not exist",
                    l.text.len(),
                    lines::BUFSIZ - 1
                ),
                false,
            ),
            lines::Kind::Entry => {
                if let Some(a) = read_entry(site, file, l.line, &l.text, &mut report, &mut scratch)
                {
                    all.push(a);
                }
            }
        }
    }
    // sendmail 8.17 keeps the last definition of a name: the earlier ones
    // are reported (naming the definition that replaced each) and
    // dropped. The index of names to their last definition is what the
    // analysis needs when there were no duplicates.
    let mut replaced: Vec<(usize, usize)> = Vec::new();
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    index.reserve(all.len());
    for (i, a) in all.iter().enumerate() {
        if let Some(earlier) = index.insert(a.name.as_str(), i) {
            replaced.push((earlier, i));
        }
    }
    if replaced.is_empty() {
        expand::analyse_indexed(site, file, &all, &index, &mut report);
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
        expand::analyse(site, file, &all, &mut report);
    }
    Ok(Converted {
        file: file.to_string(),
        aliases: all,
        report,
    })
}

fn head(s: &str) -> &str {
    let end = s.find(':').unwrap_or(s.len()).min(40);
    let mut end = end;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Buffers [`read_entry`] reuses from one entry to the next.
#[derive(Default)]
struct Scratch {
    /// The targets of one piece.
    got: Vec<Target>,
    /// The entry's targets so far (copied out at their exact size).
    targets: Vec<Target>,
}

fn read_entry(
    site: &Site,
    file: &str,
    line: usize,
    text: &str,
    report: &mut Report,
    scratch: &mut Scratch,
) -> Option<Alias> {
    let e = match entry::parse(site, text) {
        Ok(e) => e,
        Err(skip) => {
            let extra = match skip {
                entry::Skip::MissingColon => "; fastforward would have made it an alias",
                entry::Skip::NonLocal(_) => "; fastforward would have made it a per-domain alias",
                _ => "",
            };
            report.push(
                file,
                line,
                format!("entry `{}`", head(text)),
                Action::NotConverted,
                format!("sendmail skipped it ({}){extra}", skip.message()),
                false,
            );
            return None;
        }
    };
    if let Some(d) = &e.lhs_domain {
        report.push(
            file,
            line,
            format!("`{}@{d}`", e.name),
            Action::Converted,
            "sendmail ignores a local domain on the left-hand side: the alias applies to \
             every local domain, and so does the converted one",
            false,
        );
    }
    let Scratch { got, targets } = scratch;
    targets.clear();
    // Most lists are short: a set only once one is long, so a 10,000-name
    // list stays linear and a one-name alias costs no set.
    let mut seen: Option<FxHashSet<Target>> = None;
    for piece in Commas::new(e.rhs) {
        let p = crate::target::parse_piece_ref(site, piece);
        got.clear();
        resolve(site, file, line, &e.name, p, report, got);
        for t in got.drain(..) {
            let new = match &mut seen {
                Some(set) => set.insert(t.clone()),
                None => !targets.contains(&t),
            };
            if new {
                targets.push(t);
                if seen.is_none() && targets.len() > 16 {
                    seen = Some(targets.iter().cloned().collect());
                }
            }
        }
    }
    Some(Alias {
        name: e.name,
        line,
        targets: targets.drain(..).collect(),
        raw_rhs: e.rhs.trim().to_string(),
    })
}

/// One parsed piece → the targets it contributes (into `out`), with
/// findings.
fn resolve(
    site: &Site,
    file: &str,
    line: usize,
    name: &str,
    p: PieceRef<'_>,
    report: &mut Report,
    out: &mut Vec<Target>,
) {
    // The piece as the report shows it; built only for a finding.
    let shown = || format!("`{}`", p.piece.replace(['\t', '\r'], " "));
    match p.result {
        Err(b) if p.error_label => {
            report.push(
                file,
                line,
                shown(),
                Action::ConvertedWithChange,
                format!(
                    "`error:` is not the error mailer in an aliases file: sendmail bounced with \
                     {} and lost the custom text; converted to `bouncesaying` with qmail's \
                     wording",
                    b.why
                ),
                false,
            );
            out.push(Target::Program(format!("bouncesaying '{USER_UNKNOWN}'")));
        }
        Err(b) => {
            report.push(
                file,
                line,
                shown(),
                Action::NotConverted,
                format!(
                    "sendmail bounced this address ({}); fastforward would have split it into \
                     other recipients",
                    b.why
                ),
                true,
            );
        }
        Ok(t) => {
            if p.error_label {
                report.push(
                    file,
                    line,
                    shown(),
                    Action::Converted,
                    "`error:` is an RFC 822 group label here: sendmail delivered to the address \
                     after it, and so does the conversion",
                    false,
                );
            }
            target_findings(site, file, line, name, p.piece, &shown, t, report, out)
        }
    }
}

/// [`crate::target::blank_substituted`] of the piece as the report shows
/// it (tabs and CRs as spaces, framing backticks trimmed), without
/// building that string for every program.
fn shown_blank_substituted(piece: &str) -> bool {
    const BLANKS: [char; 4] = [' ', '\t', '\r', '\n'];
    // Tabs and CRs shown as spaces: a CR counts as a blank inside.
    match piece
        .trim_matches('`')
        .trim_matches(BLANKS)
        .strip_prefix('|')
    {
        Some(cmd) => {
            let cmd = cmd.trim_matches(BLANKS);
            !cmd.starts_with('"') && cmd.contains([' ', '\t', '\r'])
        }
        None => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn target_findings(
    site: &Site,
    file: &str,
    line: usize,
    name: &str,
    piece: &str,
    shown: &dyn Fn() -> String,
    t: Target,
    report: &mut Report,
    out: &mut Vec<Target>,
) {
    match &t {
        Target::Include(path) => {
            let mut stack = Vec::new();
            match include::expand(site, path, report, &mut stack) {
                Ok(list) => {
                    report.push(
                        file,
                        line,
                        shown(),
                        Action::ConvertedWithChange,
                        format!(
                            "sendmail read the list at delivery time; its {} target(s) were \
                             copied in now (re-run migrate after editing {path})",
                            list.len()
                        ),
                        false,
                    );
                    out.extend(list);
                }
                Err(e) => include::report_include_error(report, file, line, path, &e),
            }
            return;
        }
        Target::Program(cmd) if shown_blank_substituted(piece) => {
            report.push(
                file,
                line,
                shown(),
                Action::ConvertedWithChange,
                format!(
                    "unquoted program: sendmail replaced the blanks with `.` and ran `{cmd}`; \
                     converted as sendmail ran it, quote it to pass arguments"
                ),
                true,
            );
        }
        Target::Program(cmd) if cmd.contains("exit 67") => {
            report.push(
                file,
                line,
                shown(),
                Action::ConvertedWithChange,
                "sendmail treated exit code 67 (EX_NOUSER) as a permanent failure; qmail treats \
                 it as temporary and retries until queuelifetime",
                true,
            );
        }
        Target::Local { user, backslash } if user == name && !backslash => {
            let visible = site
                .accounts
                .qmail_owner(user)
                .is_some_and(|(_, ext)| ext.is_none());
            if !visible {
                report.push(
                    file,
                    line,
                    shown(),
                    Action::NotConverted,
                    "the alias names itself and no account qmail accepts has that name: \
                     sendmail bounced it (User unknown), qmail would loop it back to this alias",
                    true,
                );
                return;
            }
        }
        Target::Local { user, backslash } if memchr::memchr(b'+', user.as_bytes()).is_some() => {
            // sendmail's ruleset 5: `user+detail` reaches account `user`
            // with $h = detail (§5 #44); qmail has no `+` (F31).
            if let Some((base, _)) = user.split_once('+') {
                if site.accounts.sendmail_user(base) && !site.accounts.sendmail_user(user) {
                    report.push(
                        file,
                        line,
                        shown(),
                        Action::ConvertedWithChange,
                        format!(
                            "sendmail delivered `{user}` to the mailbox of `{base}` with the detail \
                             as $h; qmail 1.03 has no `+` addressing, so it goes to `{base}` and \
                             the detail is lost"
                        ),
                        false,
                    );
                    out.push(Target::Local {
                        user: base.to_string(),
                        backslash: *backslash,
                    });
                    return;
                }
            }
        }
        _ => {}
    }
    out.push(t);
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
    fn blank_substitution_is_judged_on_the_shown_piece() {
        for piece in [
            "|prog x",
            "|prog\rx",
            "|prog\tx",
            "| prog",
            "|\"prog x\"",
            "`|prog x`",
            "``",
            "|prog x`",
            "\"|prog x\"",
            "x <|prog a>",
            "|x (c)",
            "bob",
        ] {
            let shown = format!("`{}`", piece.replace(['\t', '\r'], " "));
            assert_eq!(
                shown_blank_substituted(piece),
                crate::target::blank_substituted(shown.trim_matches('`')),
                "{piece:?}"
            );
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
