//! Aliases → `.qmail-NAME` files for qmail's `alias` user (spec §3.1,
//! §3.4): dots in names become `:` (qmail-local's file name rule), names
//! are lower-cased, every target is one delivery line.
//!
//! Lines: `&user@me` for local names (qualified so qmail-send routes them
//! like sendmail did), `&addr` for remote ones, `|cmd` for programs (qmail
//! runs them with `sh -c` and no From_ line, as sendmail did), `/path` for
//! files (mbox append, as sendmail's file mailer), and `|cat >/dev/null`
//! for `/dev/null`.
//!
//! `owner-X` lists: qmail's own convention is the suffix `X-owner`
//! (`.qmail-X-owner` makes qmail-local set the envelope sender of X's
//! forwards to `X-owner@host`); [`OwnerForm::Prefix`] keeps fastforward's
//! `owner-X` name only. The report states which.

use std::collections::hash_map::Entry;
use std::path::Path;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::aliases::{Alias, Converted};
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::Target;
use crate::write::OutFile;

/// How `owner-X` aliases are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OwnerForm {
    /// `.qmail-X-owner` as well as `.qmail-owner-X` (qmail's convention).
    #[default]
    Suffix,
    /// Only `.qmail-owner-X` (fastforward's form).
    Prefix,
}

/// The `.qmail` file name for a local name.
pub fn file_name(name: &str) -> String {
    let mut f = String::with_capacity(7 + name.len());
    f.push_str(".qmail-");
    f.extend(name.chars().map(|c| match c.to_ascii_lowercase() {
        '.' => ':',
        c => c,
    }));
    f
}

/// The `.qmail` line for one target, or why there is none.
pub fn line(site: &Site, t: &Target) -> Result<String, &'static str> {
    let mut l = String::new();
    push_line(site, t, &mut l)?;
    Ok(l)
}

/// [`line`] appended to `out` (without its newline).
fn push_line(site: &Site, t: &Target, out: &mut String) -> Result<(), &'static str> {
    match t {
        Target::Local { user, .. } => {
            out.push('&');
            mta::quote::push_quoted_str(out, user);
            out.push('@');
            out.push_str(&site.me);
        }
        Target::Remote(a) => {
            out.push('&');
            out.push_str(a);
        }
        Target::Program(cmd) => {
            out.push('|');
            out.push_str(cmd);
        }
        Target::File(p) if p == "/dev/null" => out.push_str("|cat >/dev/null"),
        Target::File(p) if p.ends_with('/') => {
            return Err("a path ending in `/` is a Maildir to qmail but was a file to sendmail")
        }
        Target::File(p) => out.push_str(p),
        Target::Include(_) => return Err("includes are inlined before output"),
    }
    Ok(())
}

/// sendmail's envelope sender for list `X` with owner alias `o` (§1.4):
/// the owner's text (`raw_rhs`, see [`Converted::raw_rhs`]) when it is one
/// plain address, else `owner-X`.
pub fn sendmail_owner_sender(owner: &Alias, raw_rhs: &str) -> String {
    let raw = raw_rhs.trim();
    if raw.contains([',', ':', '/', '|', '"']) {
        owner.name.clone()
    } else {
        raw.to_string()
    }
}

fn body(site: &Site, file: &str, a: &Alias, report: &mut Report) -> Option<String> {
    let mut text = String::new();
    for t in &a.targets {
        let start = text.len();
        match push_line(site, t, &mut text) {
            Ok(()) => text.push('\n'),
            Err(why) => {
                text.truncate(start);
                report.push(
                    file,
                    a.line,
                    format!("target of alias `{}`", a.name),
                    Action::NotConverted,
                    why,
                    true,
                )
            }
        }
    }
    (!text.is_empty()).then_some(text)
}

/// The `.qmail` files for `conv` under `dir` (the alias user's home).
pub fn files(
    site: &Site,
    conv: &Converted,
    dir: &Path,
    form: OwnerForm,
    report: &mut Report,
) -> Vec<OutFile> {
    let file = conv.file.as_str();
    let names: HashSet<&str> = conv.aliases.iter().map(|a| a.name.as_str()).collect();
    let mut out = Vec::with_capacity(conv.aliases.len());
    let mut taken: HashMap<String, usize> = HashMap::default();
    taken.reserve(conv.aliases.len());
    let mut emit =
        |report: &mut Report, fname: String, line: usize, text: Vec<u8>| match taken.entry(fname) {
            Entry::Occupied(prev) => report.push(
                file,
                line,
                format!("`{}`", prev.key()),
                Action::NotConverted,
                format!(
                    "the alias on line {} already maps to this file name",
                    prev.get()
                ),
                true,
            ),
            Entry::Vacant(v) => {
                out.push(OutFile {
                    path: dir.join(v.key()),
                    contents: text,
                    mode: 0o644,
                });
                v.insert(line);
            }
        };
    for a in &conv.aliases {
        if a.name.contains('/') || a.name.starts_with('.') {
            report.push(
                file,
                a.line,
                format!("alias `{}`", a.name),
                Action::NotConverted,
                "a name with `/` or a leading `.` cannot be a .qmail file name",
                true,
            );
            continue;
        }
        let Some(text) = body(site, file, a, report) else {
            report.push(
                file,
                a.line,
                format!("alias `{}`", a.name),
                Action::NotConverted,
                "no target is left: sendmail bounced every one, qmail bounces the name as unknown",
                false,
            );
            continue;
        };
        let Some(list) = a.name.strip_prefix("owner-").filter(|l| names.contains(l)) else {
            emit(report, file_name(&a.name), a.line, text.into_bytes());
            continue;
        };
        emit(
            report,
            file_name(&a.name),
            a.line,
            text.clone().into_bytes(),
        );
        let sender = sendmail_owner_sender(a, conv.raw_rhs(a));
        match form {
            OwnerForm::Suffix if names.contains(format!("{list}-owner").as_str()) => {}
            OwnerForm::Suffix => {
                emit(
                    report,
                    file_name(&format!("{list}-owner")),
                    a.line,
                    text.into_bytes(),
                );
                report.push(
                    file,
                    a.line,
                    format!("`owner-{list}`"),
                    Action::ConvertedWithChange,
                    format!(
                        "sendmail sent list `{list}` with envelope sender `{sender}`; qmail uses \
                         `{list}-owner@{}` (.qmail-{list}-owner, same targets) — suffix form",
                        site.me
                    ),
                    false,
                );
            }
            OwnerForm::Prefix => report.push(
                file,
                a.line,
                format!("`owner-{list}`"),
                Action::ConvertedWithChange,
                format!(
                    "kept in fastforward's prefix form `.qmail-owner-{list}`: sendmail sent list \
                     `{list}` with envelope sender `{sender}`, qmail keeps the original sender"
                ),
                false,
            ),
        }
    }
    out
}
