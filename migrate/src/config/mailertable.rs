//! mailertable (spec §4.6) → `control/smtproutes`, and the smart host.
//!
//! `host`, `.domain` and `.` keys map one to one onto smtproutes (qmail
//! looks routes up in the same order: exact, longer suffixes, then `:`).
//! `[host]` is exact (no MX lookup in either); an unbracketed relay is
//! looked up by MX in sendmail but by A record in qmail-remote. `local:`
//! makes the domain local; `local:user` and `error:` go through
//! virtualdomains. Mailertable never let anyone *send* to a domain, so no
//! route adds it to rcpthosts. Domains in class w were never looked up.

use super::makemap::MapEntry;
use super::plan::{DefaultRoute, Origin, Plan};
use super::virtuser::{bounce_line, error_text, virtual_domain};
use crate::qmail_out::file_name;
use crate::report::{Action, Report};

const SMTP_MAILERS: &[&str] = &["smtp", "esmtp", "smtp8", "dsmtp", "relay"];

/// `[host]` → (host, exact).
fn relay_host(h: &str) -> (String, bool) {
    match h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => (inner.to_string(), true),
        None => (h.to_string(), false),
    }
}

/// The smtproutes relay text (`host` or `host:port`) for `mailer:host`.
fn relay(plan: &Plan, mailer: &str, host: &str) -> (String, bool) {
    let (h, exact) = relay_host(host);
    let port = plan
        .ports
        .get(mailer)
        .filter(|p| **p != 25)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    (format!("{h}{port}"), exact)
}

const MX_NOTE: &str = "; sendmail looked up the relay's MX records, qmail-remote connects to its \
                       A record (same only if it has no MX: write `[host]` to be sure)";

/// Converts the mailertable.
pub fn convert(file: &str, entries: &[MapEntry], plan: &mut Plan, me: &str, report: &mut Report) {
    let locals: Vec<String> = plan.class("w").iter().map(|(w, _)| w.clone()).collect();
    for e in entries {
        let mut say = |action, reason: String, decide| {
            report.push(
                file,
                e.line,
                format!("`{} {}`", e.key, e.value),
                action,
                reason,
                decide,
            )
        };
        let key = e.key.as_str();
        if locals.iter().any(|l| l == key) {
            say(
                Action::NotConverted,
                format!("`{key}` is in class w: sendmail never looked it up (dead entry)"),
                false,
            );
            continue;
        }
        let Some((mailer, rest)) = e.value.split_once(':') else {
            say(
                Action::NotConverted,
                "not `mailer:host`: sendmail could not use this entry".into(),
                true,
            );
            continue;
        };
        let mailer = mailer.trim().to_ascii_lowercase();
        let rest = rest.trim();
        let route_key = if key == "." { "" } else { key };
        if SMTP_MAILERS.contains(&mailer.as_str()) {
            if rest.contains('@') {
                say(
                    Action::NotConverted,
                    "sendmail sent to a fixed user at the relay (`mailer:user@host`); qmail 1.03 \
                     has no equivalent"
                        .into(),
                    true,
                );
                continue;
            }
            let (r, exact) = relay(plan, &mailer, rest);
            let note = if exact { "" } else { MX_NOTE };
            if key == "." {
                plan.default_route = Some(DefaultRoute {
                    relay: r.clone(),
                    origin: Origin {
                        file: file.to_string(),
                        line: e.line,
                    },
                    construct: format!("{} {}", e.key, e.value),
                });
            } else {
                plan.smtproutes.add(format!("{route_key}:{r}"));
            }
            say(
                if exact {
                    Action::Converted
                } else {
                    Action::ConvertedWithChange
                },
                format!("→ control/smtproutes `{route_key}:{r}`{note}"),
                false,
            );
            continue;
        }
        match mailer.as_str() {
            "local" if key == "." || (key.starts_with('.') && rest.is_empty()) => say(
                Action::NotConverted,
                "sendmail delivered a whole wildcard locally; qmail 1.03 has no equivalent \
                 (control/locals names exact domains)"
                    .into(),
                true,
            ),
            "local" if rest.is_empty() => {
                plan.locals.add(key);
                say(
                    Action::Converted,
                    format!("delivered locally → control/locals `{key}`"),
                    false,
                );
            }
            "local" => {
                let tag = virtual_domain(plan, key);
                let f = file_name(&format!("{tag}-default"));
                let user = rest.to_ascii_lowercase();
                plan.alias_files
                    .entry(f.clone())
                    .or_default()
                    .add(format!("&{user}@{me}"));
                say(
                    Action::Converted,
                    format!(
                        "all of it to local `{user}` → control/virtualdomains `{key}:alias-{tag}` \
                         and ~alias/{f}"
                    ),
                    false,
                );
            }
            "error" => {
                let tag = virtual_domain(plan, key);
                let f = file_name(&format!("{tag}-default"));
                let line = bounce_line(plan.target, &error_text(&e.value));
                plan.alias_files.entry(f.clone()).or_default().add(line);
                say(
                    Action::ConvertedWithChange,
                    format!(
                        "sendmail refused the domain with an error; qmail has none at routing \
                         level: control/virtualdomains `{key}:alias-{tag}` and ~alias/{f} bounce \
                         after accepting (the code is lost)"
                    ),
                    true,
                );
            }
            m => say(
                Action::NotConverted,
                format!(
                    "sendmail delivered with the `{m}` mailer; qmail 1.03 has no equivalent \
                     (qmail-remote speaks plain SMTP only)"
                ),
                true,
            ),
        }
    }
}

/// The smart host (`DS` / `SMART_HOST`), unless mailertable's `.` won.
pub fn smart_host(plan: &mut Plan, report: &mut Report) {
    let Some((value, origin, text)) = plan.smart_host.clone() else {
        return;
    };
    let construct = format!("`{text}`");
    if let Some(d) = &plan.default_route {
        report.push(
            &origin.file,
            origin.line,
            construct,
            Action::NotConverted,
            format!(
                "mailertable's `.` entry ({}:{}) took precedence in sendmail, so the smart host \
                 was never used",
                d.origin.file, d.origin.line
            ),
            false,
        );
        return;
    }
    let (mailer, host) = match value.split_once(':') {
        Some((m, h)) if !m.starts_with('[') => (m.to_ascii_lowercase(), h.to_string()),
        _ => ("relay".to_string(), value.clone()),
    };
    let (r, exact) = relay(plan, &mailer, &host);
    report.push(
        &origin.file,
        origin.line,
        construct.clone(),
        if exact {
            Action::Converted
        } else {
            Action::ConvertedWithChange
        },
        format!(
            "smart host → control/smtproutes `:{r}`{}",
            if exact { "" } else { MX_NOTE }
        ),
        false,
    );
    plan.default_route = Some(DefaultRoute {
        relay: r,
        origin,
        construct: text,
    });
}
