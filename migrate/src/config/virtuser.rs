//! virtusertable (spec §4.5) → `control/virtualdomains` plus `.qmail`
//! files of the `alias` user.
//!
//! A domain `D` with entries gets `D:alias-D` in virtualdomains, so
//! `user@D` reaches `~alias/.qmail-D-user` (dots become `:`), and `@D`
//! catch-alls become `.qmail-D-default`. sendmail consulted the table only
//! for domains in class w or `{VirtHost}`: entries for other domains, and
//! keys without `@`, were never used and are not converted. qmail applies
//! `locals` before `virtualdomains`, so a class-w domain moves out of
//! locals; its users that the table does not name keep reaching the local
//! accounts through a catch-all `|forward "$DEFAULT@me"`.

use std::collections::BTreeSet;

use super::makemap::MapEntry;
use super::plan::Plan;
use super::Target;
use crate::qmail_out::file_name;
use crate::report::{Action, Report};

/// A shell word in single quotes.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The text of an `error:` right-hand side, without its codes
/// (`error:nouser 550 text`, `error:5.1.1:550 text`, `error:550 text`).
pub fn error_text(rhs: &str) -> String {
    let rest = rhs.get(6..).unwrap_or("").trim();
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    let is_code = |w: &str| {
        w.contains(':') && w.bytes().next().is_some_and(|c| c.is_ascii_digit())
            || (w.len() == 3 && w.bytes().all(|c| c.is_ascii_digit()))
            || (w.split('.').count() == 3 && w.bytes().all(|c| c.is_ascii_digit() || c == b'.'))
    };
    if words
        .first()
        .is_some_and(|w| w.bytes().all(|c| c.is_ascii_alphabetic()))
    {
        words.remove(0);
    }
    while words.first().is_some_and(|w| is_code(w)) {
        words.remove(0);
    }
    let text = words.join(" ");
    if text.is_empty() {
        "Sorry, no mailbox here by that name.".into()
    } else {
        text
    }
}

/// The `.qmail` line that bounces with `text` (bouncesaying is qmail's;
/// the reference MTA ships no bouncesaying, so the shell does the same:
/// print the text, exit 100 = permanent failure).
pub fn bounce_line(target: Target, text: &str) -> String {
    match target {
        Target::Netqmail => format!("|bouncesaying {}", sh_quote(text)),
        Target::Reference => format!("|echo {}; exit 100", sh_quote(text)),
    }
}

/// Starts routing domain `d` to the alias user; returns the file tag.
pub fn virtual_domain(plan: &mut Plan, d: &str) -> String {
    plan.virtualdomains.add(format!("{d}:alias-{d}"));
    d.to_string()
}

/// Converts the virtusertable.
pub fn convert(file: &str, entries: &[MapEntry], plan: &mut Plan, me: &str, report: &mut Report) {
    let mut virt: BTreeSet<String> = plan.class("w").iter().map(|(w, _)| w.clone()).collect();
    virt.extend(plan.class("VirtHost").iter().map(|(w, _)| w.clone()));
    let mut say = |e: &MapEntry, action, reason: String, decide| {
        report.push(
            file,
            e.line,
            format!("`{} {}`", e.key, e.value),
            action,
            reason,
            decide,
        )
    };
    let mut domains: Vec<(String, usize)> = Vec::new();
    let mut catch_all: BTreeSet<String> = BTreeSet::new();
    for e in entries {
        let Some((user, dom)) = e.key.rsplit_once('@') else {
            say(
                e,
                Action::NotConverted,
                "a key without `@` is never looked up by sendmail (dead entry)".into(),
                false,
            );
            continue;
        };
        if !virt.contains(dom) {
            say(
                e,
                Action::NotConverted,
                format!(
                    "`{dom}` is in neither class w nor {{VirtHost}}: sendmail never consulted \
                     the table for it, so this entry never applied"
                ),
                false,
            );
            continue;
        }
        if dom == me || dom == "localhost" {
            say(
                e,
                Action::NotConverted,
                format!(
                    "an entry for the host's own name `{dom}`: qmail cannot route it per domain \
                     while it is in control/locals; write ~alias/.qmail-{user} by hand if it \
                     should apply to every local domain"
                ),
                true,
            );
            continue;
        }
        if user.contains('+') {
            say(
                e,
                Action::NotConverted,
                "sendmail matched `+detail` addresses with this key; qmail 1.03 has no \
                 equivalent (its extension separator is `-`)"
                    .into(),
                true,
            );
            continue;
        }
        let rhs = e.value.trim();
        if rhs.contains(',') {
            say(
                e,
                Action::NotConverted,
                "sendmail refused this right-hand side (`553 5.1.3 Invalid route address`: \
                 one address only), so mail to it bounced; use an alias for lists"
                    .into(),
                true,
            );
            continue;
        }
        if !domains.iter().any(|(d, _)| d == dom) {
            domains.push((dom.to_string(), e.line));
        }
        let tag = virtual_domain(plan, dom);
        let fname = if user.is_empty() {
            catch_all.insert(dom.to_string());
            file_name(&format!("{tag}-default"))
        } else {
            file_name(&format!("{tag}-{user}"))
        };
        let (line, action, reason, decide) = rhs_line(plan.target, rhs, user, me);
        plan.alias_files.entry(fname.clone()).or_default().add(line);
        say(e, action, format!("{reason} (~alias/{fname})"), decide);
    }
    for (dom, line) in domains {
        plan.rcpthosts.add(dom.clone());
        let local = plan.locals.contains(&dom);
        plan.locals.remove(&dom);
        let mut why = format!(
            "virtusertable domain → control/virtualdomains `{dom}:alias-{dom}` and rcpthosts"
        );
        if local {
            why.push_str("; moved out of control/locals (qmail applies locals first)");
            if !catch_all.contains(&dom) {
                let f = file_name(&format!("{dom}-default"));
                plan.alias_files
                    .entry(f.clone())
                    .or_default()
                    .add(format!("|forward \"$DEFAULT@{me}\""));
                why.push_str(&format!(
                    "; other users of it still reach the local accounts through ~alias/{f}"
                ));
            }
        }
        let decide = plan.target == Target::Reference && local;
        if decide {
            why.push_str(
                "; the reference MTA does not ship qmail's `forward` program: install it or \
                 replace the line",
            );
        }
        report.push(
            file,
            line,
            format!("domain `{dom}`"),
            Action::Converted,
            why,
            decide,
        );
    }
}

/// The `.qmail` line for a right-hand side, and how to report it.
fn rhs_line(target: Target, rhs: &str, user: &str, me: &str) -> (String, Action, String, bool) {
    if rhs.len() >= 6 && rhs[..6].eq_ignore_ascii_case("error:") {
        let text = error_text(rhs);
        return (
            bounce_line(target, &text),
            Action::ConvertedWithChange,
            "sendmail refused the address at RCPT; qmail accepts the message and then bounces \
             it with the same text (the code is lost)"
                .into(),
            true,
        );
    }
    let detail = rhs.contains("%2") || rhs.contains("%3");
    let rhs = rhs.replace("%2", "").replace("%3", "");
    let note_detail = if detail {
        "; `%2`/`%3` (+detail) are empty: qmail 1.03 has no +detail"
    } else {
        ""
    };
    if rhs.contains("%1") {
        if user.is_empty() {
            let addr = rhs.replace("%1", "$DEFAULT");
            let reference = if target == Target::Reference {
                "; the reference MTA does not ship qmail's `forward` program"
            } else {
                ""
            };
            return (
                format!("|forward \"{addr}\""),
                if detail || target == Target::Reference {
                    Action::ConvertedWithChange
                } else {
                    Action::Converted
                },
                format!("catch-all keeping the user part → `forward`{note_detail}{reference}"),
                detail || target == Target::Reference,
            );
        }
        let addr = rhs.replace("%1", user);
        return (
            format!("&{addr}"),
            Action::Converted,
            format!("forward to `{addr}`{note_detail}"),
            detail,
        );
    }
    if rhs.contains('@') {
        return (
            format!("&{rhs}"),
            Action::Converted,
            format!("forward to `{rhs}`{note_detail}"),
            detail,
        );
    }
    let local = rhs.trim_start_matches('\\').to_ascii_lowercase();
    (
        format!("&{local}@{me}"),
        Action::Converted,
        format!(
            "to local `{local}` (re-injected as {local}@{me}, so its aliases apply as they did)"
        ),
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_lose_their_codes() {
        assert_eq!(error_text("error:nouser 550 No such user"), "No such user");
        assert_eq!(error_text("error:5.1.1:550 Gone away"), "Gone away");
        assert_eq!(error_text("error:550 5.1.1 Gone"), "Gone");
        assert_eq!(
            error_text("error:nouser"),
            "Sorry, no mailbox here by that name."
        );
    }

    #[test]
    fn bounce_lines_per_target() {
        assert_eq!(
            bounce_line(Target::Netqmail, "it's gone"),
            "|bouncesaying 'it'\\''s gone'"
        );
        assert_eq!(
            bounce_line(Target::Reference, "gone"),
            "|echo 'gone'; exit 100"
        );
    }
}
