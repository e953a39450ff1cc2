//! One part of an aliases file → its aliases and findings, in line order:
//! each logical line is classified, each entry's name parsed
//! ([`super::entry`]) and each piece of its right-hand side resolved to
//! targets ([`crate::target`], [`crate::include`]), with sendmail's
//! verdict on the pieces it could not deliver to.

use rustc_hash::FxHashSet;

use super::{entry, lines, Alias, USER_UNKNOWN};
use crate::detect::AliasesScan;
use crate::include;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::{Commas, PieceRef, Target};

/// Where [`part`] puts the aliases it reads: into `slots` prepared for
/// them (the entries of the part, counted beforehand), and any beyond
/// those into `extra`. With no slots, `extra` is simply the list.
pub(super) struct Out<'s> {
    pub slots: &'s mut [Alias],
    pub used: usize,
    pub extra: Vec<Alias>,
}

impl Out<'_> {
    fn push(&mut self, a: Alias) {
        match self.slots.get_mut(self.used) {
            Some(slot) => {
                *slot = a;
                self.used += 1;
            }
            None => self.extra.push(a),
        }
    }

    /// Shifts the right-hand side ranges of the aliases put here.
    pub fn shift_rhs(&mut self, by: usize) {
        for a in self.slots[..self.used]
            .iter_mut()
            .chain(self.extra.iter_mut())
        {
            a.rhs = a.rhs.start + by..a.rhs.end + by;
        }
    }
}

/// The findings of one part of a file and its aliases' right-hand sides,
/// which their `rhs` ranges point into.
pub(super) struct Part {
    pub report: Report,
    pub rhs_text: String,
    /// The checks of [`AliasesScan`] on these lines, when asked.
    pub scan: Option<AliasesScan>,
    /// Reading stopped at an `:include:` (see [`part`]).
    pub include_met: bool,
}

/// Reads `text`, whose first line is line `first` of `file`, into `out`.
///
/// With `check`, the lines are also checked for being an aliases file
/// ([`AliasesScan`]) in the same pass, and reading stops at the
/// first line that refuses the file or at the first `:include:`: an
/// include list is read only once the whole file is known to be one.
pub(super) fn part(
    site: &Site,
    file: &str,
    text: &str,
    first: usize,
    out: &mut Out,
    check: bool,
) -> Part {
    let mut report = Report::default();
    let mut rhs_text = String::with_capacity(text.len() / 2);
    let mut scan = check.then(AliasesScan::default);
    // Reused for every entry.
    let mut scratch = Scratch {
        hold_includes: check,
        ..Scratch::default()
    };
    for l in lines::LogicalLines::starting_at(text, first) {
        if let Some(s) = &mut scan {
            if s.feed(file, &l) {
                break;
            }
        }
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
                let r = read_entry(site, file, l.line, &l.text, &mut report, &mut scratch);
                if let Some((a, rhs)) = r {
                    let start = rhs_text.len();
                    rhs_text.push_str(rhs);
                    out.push(Alias {
                        rhs: start..rhs_text.len(),
                        ..a
                    });
                }
                if scratch.include_met {
                    break;
                }
            }
        }
    }
    Part {
        report,
        rhs_text,
        scan,
        include_met: scratch.include_met,
    }
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
    /// Stop at an `:include:` instead of reading it...
    hold_includes: bool,
    /// ... and say so here.
    include_met: bool,
}

/// One entry → its alias (right-hand side not yet placed) and the
/// right-hand side as written, trimmed.
fn read_entry<'t>(
    site: &Site,
    file: &str,
    line: usize,
    text: &'t str,
    report: &mut Report,
    scratch: &mut Scratch,
) -> Option<(Alias, &'t str)> {
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
    let Scratch {
        got,
        targets,
        hold_includes,
        include_met,
    } = scratch;
    targets.clear();
    // Most lists are short: a set only once one is long, so a 10,000-name
    // list stays linear and a one-name alias costs no set.
    let mut seen: Option<FxHashSet<Target>> = None;
    for piece in Commas::new(e.rhs) {
        let p = crate::target::parse_piece_ref(site, piece);
        if *hold_includes && matches!(p.result, Ok(Target::Include(_))) {
            *include_met = true;
            return None;
        }
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
    Some((
        Alias {
            name: e.name,
            line,
            targets: {
                // At their exact size; the scratch list keeps its room.
                let mut exact = Vec::with_capacity(targets.len());
                exact.append(targets);
                exact
            },
            rhs: 0..0,
        },
        e.rhs.trim(),
    ))
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
}
