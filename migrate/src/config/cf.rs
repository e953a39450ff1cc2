//! Reading `sendmail.cf` (spec §4.1): one construct per line, a line that
//! starts with white space continues the previous one, `#` lines are
//! comments. The first letter is the command: `V D C F O K M S R H P T E Q
//! X L`. Anything else is not sendmail syntax and the whole file is
//! refused at that line.
//!
//! Hand-written: the format is sendmail's own and no crate reads it.
//! m4-built files name their features in `##### $Id: NAME.m4` comments;
//! the features that leave no other trace in the `.cf` (masquerading,
//! smrsh, greet_pause, ...) are recovered from there, as spec §4.1 allows
//! (and warns those comments may be stale).

use super::model::{shorten, Config, Entry, Kind};
use crate::detect::Refused;

/// Rulesets that m4's `proto.m4` and the features write; any other name,
/// and any `Local_*` ruleset with rules in it, is local customisation.
const STANDARD_RULESETS: &[&str] = &[
    "A",
    "AddDomain",
    "BCC",
    "BadMX",
    "Basic_check_mail",
    "Basic_check_rcpt",
    "Basic_check_relay",
    "CanonAddr",
    "CanonLocal",
    "Canonify2",
    "ConnControl",
    "D",
    "DANE_disabled",
    "Delay_TLS_Clt",
    "Delay_TLS_Clt2",
    "DomainMapLookup",
    "E",
    "EnvFromL",
    "EnvFromSMTP",
    "EnvFromUD",
    "EnvFromUUD",
    "EnvToL",
    "EnvToSMTP",
    "EnvToU",
    "F",
    "FromU",
    "FullAddr",
    "HdrFromL",
    "HdrFromSMTP",
    "HdrToL",
    "HdrToU",
    "LDAPExpand",
    "LDAPMailertable",
    "Mail11From",
    "Mail11To",
    "MailerToTriple",
    "Mailertable",
    "MasqEnv",
    "MasqHdr",
    "MasqRelay",
    "MasqSMTP",
    "Parse0",
    "Parse1",
    "ParseBcc",
    "ParseLocal",
    "ParseRecipient",
    "PseudoToReal",
    "RateControl",
    "Rcpt_ok",
    "Recurse",
    "RelayTLS",
    "Relay_ok",
    "STS_Check",
    "STS_SAN",
    "STS_disabled",
    "STS_secure",
    "SearchList",
    "Set_SNI",
    "TLS_NameInList",
    "TLS_connection",
    "TLS_req",
    "U",
    "authinfo",
    "bcc",
    "canonify",
    "check_compat",
    "check_mail",
    "check_other",
    "check_rcpt",
    "check_relay",
    "clt_features",
    "final",
    "greet_pause",
    "localaddr",
    "max",
    "parse",
    "queuegroup",
    "srv_features",
    "tls_client",
    "tls_clt_feat_acc",
    "tls_clt_features",
    "tls_rcpt",
    "tls_server",
    "tls_srv_features",
    "trust_auth",
    "try_tls",
];

/// Single-letter options of pre-8.7 files (`OA/etc/aliases`) that the
/// conversion uses, renamed to their long names.
fn old_option(c: char) -> Option<&'static str> {
    Some(match c {
        'A' => "AliasFile",
        'T' => "Timeout.queuereturn",
        'w' => "DefaultUser",
        'u' => "DefaultUser",
        'h' => "MaxHopCount",
        'J' => "ForwardPath",
        'p' => "PrivacyOptions",
        'L' => "LogLevel",
        'Q' => "QueueDirectory",
        'd' => "DeliveryMode",
        'B' => "BlankSub",
        'O' => "DaemonPortOptions",
        _ => return None,
    })
}

/// `D`, `C`, `F` names: one letter, or `{long}`; returns (name, rest).
fn name_and_rest(s: &str) -> Option<(String, &str)> {
    if let Some(r) = s.strip_prefix('{') {
        let end = r.find('}')?;
        return Some((r[..end].to_string(), &r[end + 1..]));
    }
    let c = s.chars().next()?;
    Some((c.to_string(), &s[c.len_utf8()..]))
}

/// Joins continuation lines: (first line number, logical text).
fn logical(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim_end_matches('\r');
        if l.starts_with([' ', '\t']) && !l.trim().is_empty() {
            if let Some(last) = out.last_mut() {
                last.1.push('\n');
                last.1.push_str(l);
                continue;
            }
        }
        out.push((i + 1, l.to_string()));
    }
    out
}

/// Features whose only trace in a `.cf` is the `$Id` comment.
const ID_FEATURES: &[&str] = &[
    "masquerade_envelope",
    "allmasquerade",
    "masquerade_entire_domain",
    "smrsh",
    "local_procmail",
    "local_lmtp",
    "dnsbl",
    "enhdnsbl",
    "greet_pause",
    "ratecontrol",
    "conncontrol",
    "delay_checks",
    "authinfo",
    "ldap_routing",
    "relay_hosts_only",
    "blocklist_recipients",
    "blacklist_recipients",
    "promiscuous_relay",
    "relay_entire_domain",
    "relay_based_on_MX",
    "relay_local_from",
    "relay_mail_from",
    "accept_unqualified_senders",
    "accept_unresolvable_domains",
    "generics_entire_domain",
    "virtuser_entire_domain",
    "limited_masquerade",
    "always_add_domain",
    "nocanonify",
    "nullclient",
    "redirect",
    "use_ct_file",
    "no_default_msa",
    "nouucp",
    "badmx",
    "require_rdns",
    "block_bad_helo",
];

/// Reads a `.cf` file's text; `file` names it in the report.
pub fn read(file: &str, text: &str) -> Result<Config, Refused> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut ruleset: Option<usize> = None;
    let mut saw_command = false;
    for (line, l) in logical(text) {
        let trimmed = l.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(c) = l.strip_prefix('#') {
            if let Some(id) = c.trim_start_matches('#').trim().strip_prefix("$Id: ") {
                let name = id.split(".m4").next().unwrap_or("");
                if ID_FEATURES.contains(&name) && id.contains(".m4,") {
                    entries.push(Entry {
                        line,
                        text: shorten(&l),
                        kind: Kind::Feature {
                            name: name.to_string(),
                            args: Vec::new(),
                        },
                    });
                }
            }
            continue;
        }
        let letter = l.chars().next().unwrap_or(' ');
        let body = &l[letter.len_utf8()..];
        let refuse = |why: String| Refused {
            file: file.to_string(),
            line,
            why,
        };
        let kind = match letter {
            'D' => {
                let (name, value) = name_and_rest(body)
                    .ok_or_else(|| refuse("`D` line without a macro name".into()))?;
                Kind::Macro {
                    name,
                    value: value.trim().to_string(),
                }
            }
            'C' | 'T' => {
                let (name, words) = if letter == 'T' {
                    ("t".to_string(), body)
                } else {
                    name_and_rest(body)
                        .ok_or_else(|| refuse("`C` line without a class name".into()))?
                };
                Kind::Class {
                    name,
                    words: words.split_whitespace().map(str::to_string).collect(),
                }
            }
            'F' => {
                let (name, rest) = name_and_rest(body)
                    .ok_or_else(|| refuse("`F` line without a class name".into()))?;
                let rest = rest.trim();
                let (optional, path) = match rest.strip_prefix("-o") {
                    Some(p) => (true, p.trim()),
                    None => (false, rest),
                };
                // `F{x}/path %[^#]` scanf formats follow the path.
                let path = path.split_whitespace().next().unwrap_or("").to_string();
                Kind::ClassFile {
                    name,
                    path,
                    optional,
                }
            }
            'O' => {
                let (name, value) = if let Some(long) = body.strip_prefix(' ') {
                    match long.split_once('=') {
                        Some((n, v)) => (n.trim().to_string(), v.trim().to_string()),
                        None => (long.trim().to_string(), String::new()),
                    }
                } else {
                    let c = body.chars().next().unwrap_or(' ');
                    let v = body[c.len_utf8()..].trim().to_string();
                    (
                        old_option(c).map_or_else(|| format!("O{c}"), str::to_string),
                        v,
                    )
                };
                Kind::Option { name, value }
            }
            'K' => {
                let body = body.trim();
                let (name, spec) = body.split_once([' ', '\t']).unwrap_or((body, ""));
                Kind::Map {
                    name: name.to_string(),
                    spec: spec.trim().to_string(),
                }
            }
            'M' => {
                let (name, spec) = body.split_once(',').unwrap_or((body, ""));
                Kind::Mailer {
                    name: name.trim().to_string(),
                    spec: spec.split_whitespace().collect::<Vec<_>>().join(" "),
                }
            }
            'S' => {
                let name = body.split('=').next().unwrap_or("").trim().to_string();
                ruleset = Some(entries.len());
                Kind::Rules {
                    // m4 writes every `Local_*` ruleset, empty unless the
                    // .mc added rules (counted below).
                    custom: !STANDARD_RULESETS.contains(&name.as_str())
                        && !name.starts_with("Local_"),
                    name,
                    rules: 0,
                    last_line: line,
                }
            }
            'R' => {
                match ruleset.and_then(|i| entries.get_mut(i)) {
                    Some(Entry {
                        kind:
                            Kind::Rules {
                                name,
                                rules,
                                last_line,
                                custom,
                            },
                        ..
                    }) => {
                        *rules += 1;
                        *last_line = line;
                        if name.starts_with("Local_") {
                            *custom = true;
                        }
                    }
                    _ => entries.push(Entry {
                        line,
                        text: shorten(&l),
                        kind: Kind::Rules {
                            name: "(rules before any S line: ruleset 0)".into(),
                            rules: 1,
                            last_line: line,
                            custom: true,
                        },
                    }),
                }
                saw_command = true;
                continue;
            }
            'V' | 'H' | 'P' | 'E' | 'Q' | 'X' | 'L' => Kind::Other {
                letter,
                body: body.trim().to_string(),
            },
            _ => {
                return Err(refuse(format!(
                    "`{}` is not sendmail.cf syntax (a .cf line starts with one of V D C F O \
                     K M S R H P T E Q X L){}",
                    shorten(&l),
                    if saw_command {
                        ""
                    } else {
                        "; is this another MTA's configuration?"
                    }
                )))
            }
        };
        saw_command = true;
        entries.push(Entry {
            line,
            text: shorten(&l),
            kind,
        });
    }
    if !saw_command {
        return Err(Refused {
            file: file.to_string(),
            line: 1,
            why: "no sendmail.cf command in the file (only comments or nothing)".into(),
        });
    }
    Ok(Config {
        file: file.to_string(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<Kind> {
        read("cf", t)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn line_types_are_read() {
        let k = kinds(
            "V10/Berkeley\nDjmail.example.org\nD{MTAHost}[relay]\nCwlocalhost a.example\n\
             Fw-o /etc/mail/local-host-names\nO MaxMessageSize=1000\nOA/etc/aliases\n\
             Kvirtuser hash -o /etc/mail/virtusertable.db\nMesmtp,\tP=[IPC], F=mDFMuXa,\n\
             \tA=TCP $h 587\nTroot\n",
        );
        assert_eq!(
            k[1],
            Kind::Macro {
                name: "j".into(),
                value: "mail.example.org".into()
            }
        );
        assert_eq!(
            k[2],
            Kind::Macro {
                name: "MTAHost".into(),
                value: "[relay]".into()
            }
        );
        assert_eq!(
            k[4],
            Kind::ClassFile {
                name: "w".into(),
                path: "/etc/mail/local-host-names".into(),
                optional: true
            }
        );
        assert_eq!(
            k[6],
            Kind::Option {
                name: "AliasFile".into(),
                value: "/etc/aliases".into()
            }
        );
        let Kind::Mailer { name, spec } = &k[8] else {
            panic!("{k:?}")
        };
        assert_eq!(name, "esmtp");
        assert!(
            spec.ends_with("A=TCP $h 587"),
            "continuation joined: {spec}"
        );
        assert!(matches!(&k[9], Kind::Class { name, .. } if name == "t"));
    }

    #[test]
    fn rulesets_count_rules_and_know_custom_ones() {
        let c = read(
            "cf",
            "Scanonify=3\nR$- $@ $1\nR$+ $: $1\n\nSLocal_check_rcpt\nR$* $#error $: 550 no\n\
             SLocal_check_mail\nS99\n",
        )
        .unwrap();
        let r: Vec<_> = c
            .entries
            .iter()
            .map(|e| match &e.kind {
                Kind::Rules {
                    name,
                    rules,
                    last_line,
                    custom,
                } => (e.line, name.as_str(), *rules, *last_line, *custom),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            r,
            vec![
                (1, "canonify", 2, 3, false),
                (5, "Local_check_rcpt", 1, 6, true),
                (7, "Local_check_mail", 0, 7, false),
                (8, "99", 0, 8, true)
            ]
        );
    }

    #[test]
    fn features_are_recovered_from_id_comments() {
        let k = kinds(
            "#####  $Id: masquerade_envelope.m4,v 8.10 2013-11-22 ca Exp $  #####\n\
             #####  $Id: proto.m4,v 8.762 2013-11-22 ca Exp $  #####\nV10/Berkeley\n",
        );
        assert!(matches!(&k[0], Kind::Feature { name, .. } if name == "masquerade_envelope"));
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn other_mta_configs_are_refused_at_their_first_line() {
        let e = read("/etc/mail/sendmail.cf", "# postfix\nmyhostname = mail\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e
            .why
            .contains("`myhostname = mail` is not sendmail.cf syntax"));
        assert!(e.why.contains("another MTA"));
        let e = read("x.cf", "# nothing\n\n").unwrap_err();
        assert_eq!(e.line, 1);
    }
}
