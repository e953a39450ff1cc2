//! The access map (spec §4.4) → tcprules lines (`mta-tcprules` text,
//! see `mta/src/listener/rules.rs`), `control/badmailfrom` and
//! `control/rcpthosts`; everything else is reported.
//!
//! | access | qmail |
//! |---|---|
//! | `Connect:1.2.3 RELAY` | `1.2.3.:allow,RELAYCLIENT=""` |
//! | `Connect:1.2.3.4 REJECT`/`ERROR:` | `1.2.3.4:deny` (no SMTP reply at all) |
//! | `Connect:host.dom RELAY` | `=host.dom:` and `=.host.dom:` (needs `tcpserver -h`) |
//! | `To:dom RELAY` | rcpthosts `dom` and `.dom` |
//! | `From:addr REJECT` / `From:dom REJECT` | badmailfrom `addr` / `@dom` |
//! | the rest (`DISCARD`, `OK`, `TEMP:`, `QUARANTINE:`, IPv6, other tags) | reported |

use super::makemap::MapEntry;
use super::plan::Plan;
use std::borrow::Cow;

use crate::report::{Action, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Relay,
    Reject,
    Discard,
    Skip,
    Error,
    Temp,
    Quarantine,
    Other,
}

fn verdict(v: &str) -> Verdict {
    let u = v.trim().trim_matches('"').to_ascii_uppercase();
    match u.as_str() {
        "OK" => Verdict::Ok,
        "RELAY" => Verdict::Relay,
        "REJECT" => Verdict::Reject,
        "DISCARD" => Verdict::Discard,
        "SKIP" => Verdict::Skip,
        _ if u.starts_with("ERROR:") => Verdict::Error,
        _ if u.starts_with("TEMP:") => Verdict::Temp,
        _ if u.starts_with("QUARANTINE:") => Verdict::Quarantine,
        _ if u.starts_with('5') || u.starts_with('4') => Verdict::Error,
        _ => Verdict::Other,
    }
}

/// IPv4 address or leading-octets prefix → the tcprules address.
fn ipv4(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    let ok = (1..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()));
    ok.then(|| {
        if parts.len() == 4 {
            key.to_string()
        } else {
            format!("{key}.")
        }
    })
}

struct Ctx<'a> {
    file: &'a str,
    report: &'a mut Report,
}

impl Ctx<'_> {
    fn say(
        &mut self,
        e: &MapEntry,
        action: Action,
        reason: impl Into<Cow<'static, str>>,
        decide: bool,
    ) {
        self.report.push(
            self.file,
            e.line,
            format!("`{} {}`", e.key, e.value),
            action,
            reason,
            decide,
        );
    }
    fn none(&mut self, e: &MapEntry, did: &str) {
        self.say(
            e,
            Action::NotConverted,
            format!("sendmail {did}; qmail 1.03 has no equivalent"),
            true,
        );
    }
}

/// Converts every entry of the access map.
pub fn convert(file: &str, entries: &[MapEntry], plan: &mut Plan, report: &mut Report) {
    let mut cx = Ctx { file, report };
    for e in entries {
        let v = verdict(&e.value);
        let (tag, key) = match e.key.split_once(':') {
            Some((t, k)) if !t.eq_ignore_ascii_case("ipv6") => (t.to_string(), k),
            _ => (String::new(), e.key.as_str()),
        };
        match tag.as_str() {
            "connect" => connect(&mut cx, e, key, v, plan),
            "from" => from(&mut cx, e, key, v, plan),
            "to" => to(&mut cx, e, key, v, plan),
            "" => {
                // Deprecated untagged keys apply to every tag (spec §4.4).
                if ipv4(key).is_some() || key.starts_with("ipv6:") {
                    connect(&mut cx, e, key, v, plan)
                } else if key.contains('@') {
                    from(&mut cx, e, key, v, plan)
                } else if v == Verdict::Relay {
                    connect(&mut cx, e, key, v, plan);
                    to(&mut cx, e, key, v, plan);
                } else {
                    connect(&mut cx, e, key, v, plan);
                    from(&mut cx, e, key, v, plan);
                }
            }
            t => cx.none(e, &format!("applied the access rule tagged `{t}:`")),
        }
    }
}

fn connect(cx: &mut Ctx, e: &MapEntry, key: &str, v: Verdict, plan: &mut Plan) {
    if key.starts_with("ipv6:") {
        return cx.none(
            e,
            "matched an IPv6 client (IPv6 keys: none with stock ucspi-tcp)",
        );
    }
    let addrs: Vec<String> = match ipv4(key) {
        Some(a) => vec![a],
        None => vec![format!("={key}"), format!("=.{key}")],
    };
    let host = ipv4(key).is_none();
    let needs_h = if host {
        "; host names match only when tcpserver looks them up (`tcpserver -h`, better `-p`)"
    } else {
        ""
    };
    match v {
        Verdict::Relay => {
            for a in &addrs {
                plan.tcprules.add(format!("{a}:allow,RELAYCLIENT=\"\""));
            }
            cx.say(
                e,
                if host {
                    Action::ConvertedWithChange
                } else {
                    Action::Converted
                },
                format!(
                    "clients may relay → tcprules {}{needs_h}",
                    addrs
                        .iter()
                        .map(|a| format!("`{a}:allow,RELAYCLIENT=\"\"`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                host,
            );
        }
        Verdict::Reject | Verdict::Error => {
            for a in &addrs {
                plan.tcprules.add(format!("{a}:deny"));
            }
            cx.say(
                e,
                Action::ConvertedWithChange,
                format!(
                    "→ tcprules `{}`: the connection is dropped without any SMTP reply (with \
                     rblsmtpd in the chain, `:allow,RBLSMTPD=\"-text\"` gives a 553 instead); \
                     sendmail's code and text are lost{needs_h}",
                    addrs
                        .iter()
                        .map(|a| format!("{a}:deny"))
                        .collect::<Vec<_>>()
                        .join("`, `")
                ),
                true,
            );
        }
        Verdict::Ok | Verdict::Skip => cx.say(
            e,
            Action::NotConverted,
            "qmail has no later checks for OK/SKIP to skip (with rblsmtpd: set RBLSMTPD=\"\" for \
             this client)",
            false,
        ),
        Verdict::Discard => cx.none(e, "accepted this client's mail and threw it away (DISCARD)"),
        Verdict::Temp => cx.none(e, "answered this client with a temporary error (TEMP:)"),
        Verdict::Quarantine => cx.none(e, "quarantined this client's mail"),
        Verdict::Other => cx.none(e, "applied a custom Connect: value"),
    }
}

fn from(cx: &mut Ctx, e: &MapEntry, key: &str, v: Verdict, plan: &mut Plan) {
    match v {
        Verdict::Reject | Verdict::Error => {
            let lost = if v == Verdict::Error {
                "; sendmail's custom code and text are lost"
            } else {
                ""
            };
            if key.ends_with('@') {
                cx.none(e, "refused this local part at every domain (From:user@)");
            } else if key.contains('@') {
                plan.badmailfrom.add(key);
                cx.say(
                    e,
                    Action::ConvertedWithChange,
                    format!(
                        "→ control/badmailfrom `{key}`: refused at RCPT with 553 instead of 550 \
                         at MAIL{lost}"
                    ),
                    false,
                );
            } else {
                plan.badmailfrom.add(format!("@{key}"));
                cx.say(
                    e,
                    Action::ConvertedWithChange,
                    format!(
                        "→ control/badmailfrom `@{key}`: qmail matches that exact domain only, \
                         sendmail also refused its subdomains{lost}"
                    ),
                    true,
                );
            }
        }
        Verdict::Discard => cx.none(
            e,
            "accepted mail from this sender and threw it away (DISCARD)",
        ),
        Verdict::Ok | Verdict::Skip => cx.none(e, "exempted this sender from later checks"),
        Verdict::Relay => cx.none(e, "let this sender relay"),
        Verdict::Temp => cx.none(e, "answered this sender with a temporary error (TEMP:)"),
        Verdict::Quarantine => cx.none(e, "quarantined mail from this sender"),
        Verdict::Other => cx.none(e, "applied a custom From: value"),
    }
}

fn to(cx: &mut Ctx, e: &MapEntry, key: &str, v: Verdict, plan: &mut Plan) {
    if v == Verdict::Relay && !key.contains('@') {
        plan.rcpthosts.add(key);
        plan.rcpthosts.add(format!(".{key}"));
        return cx.say(
            e,
            Action::Converted,
            format!("anyone may send to it → control/rcpthosts `{key}` and `.{key}`"),
            false,
        );
    }
    cx.none(e, "applied a To: rule (not carried over)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;

    fn run(text: &str) -> (Plan, Report) {
        let mut r = Report::default();
        let entries = super::super::makemap::read("access", text.as_bytes(), &mut r).unwrap();
        let mut p = Plan::new(Target::Netqmail);
        convert("access", &entries, &mut p, &mut r);
        (p, r)
    }

    #[test]
    fn connect_relay_and_reject_become_tcprules() {
        let (p, r) = run("Connect:192.168.1 RELAY\nConnect:10.1.2.3 REJECT\n");
        assert_eq!(
            p.tcprules.0,
            vec!["192.168.1.:allow,RELAYCLIENT=\"\"", "10.1.2.3:deny"]
        );
        assert_eq!(r.findings[0].action, Action::Converted);
        assert!(r.findings[1].needs_decision);
    }

    #[test]
    fn from_and_to() {
        let (p, r) = run(
            "From:a@bad.example REJECT\nFrom:junk.example ERROR:550 no\nTo:friend.example RELAY\n\
             From:x@ REJECT\nFrom:y@z DISCARD\n",
        );
        assert_eq!(p.badmailfrom.0, vec!["a@bad.example", "@junk.example"]);
        assert_eq!(p.rcpthosts.0, vec!["friend.example", ".friend.example"]);
        assert!(r.findings[3]
            .reason
            .contains("qmail 1.03 has no equivalent"));
        assert!(r.findings[4].reason.contains("DISCARD"));
    }

    #[test]
    fn untagged_and_ipv6_and_other_tags() {
        let (p, r) = run("10.0.0 RELAY\nConnect:IPv6:2001:db8::1 RELAY\nSpam:abuse@ FRIEND\n");
        assert_eq!(p.tcprules.0, vec!["10.0.0.:allow,RELAYCLIENT=\"\""]);
        assert!(r.findings[1].reason.contains("IPv6"));
        assert!(r.findings[2].reason.contains("`spam:`"));
    }
}
