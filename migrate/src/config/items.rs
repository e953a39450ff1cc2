//! The item-by-item mapping of spec §4.2: each configuration construct
//! becomes part of the [`Plan`] and a line of the report. Constructs with
//! no qmail equivalent get the §4.7 wording: "`<item>`: sendmail did X;
//! qmail 1.03 has no equivalent; not converted."

use std::borrow::Cow;

use super::model::{map_path, Config, Entry, Kind};
use super::plan::{ClassFile, MapRef, Origin, Plan};
use super::Target;
use crate::report::{Action, Report};

/// Writes one finding for `e`.
pub struct Say<'a> {
    pub file: &'a str,
    pub report: &'a mut Report,
}

impl Say<'_> {
    fn at(
        &mut self,
        e: &Entry,
        action: Action,
        reason: impl Into<Cow<'static, str>>,
        decide: bool,
    ) {
        self.report.push(
            self.file,
            e.line,
            format!("`{}`", e.text),
            action,
            reason,
            decide,
        );
    }
    fn done(&mut self, e: &Entry, reason: impl Into<Cow<'static, str>>) {
        self.at(e, Action::Converted, reason, false);
    }
    fn changed(&mut self, e: &Entry, reason: impl Into<Cow<'static, str>>, decide: bool) {
        self.at(e, Action::ConvertedWithChange, reason, decide);
    }
    /// §4.7: no equivalent.
    fn none(&mut self, e: &Entry, did: &str) {
        self.at(
            e,
            Action::NotConverted,
            format!("sendmail {did}; qmail 1.03 has no equivalent"),
            true,
        );
    }
    /// Not carried over and nothing lost that qmail would need.
    fn moot(&mut self, e: &Entry, why: impl Into<Cow<'static, str>>) {
        self.at(e, Action::NotConverted, why, false);
    }
}

/// sendmail time (`5d`, `4h`, `1w2d`, `90s`, `30m`) in seconds; a bare
/// number is ambiguous (the default unit differs per option) and refused.
pub fn seconds(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'w' => 604_800,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(num.parse::<u64>().ok()?.checked_mul(unit)?)?;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

/// `TCP $h 587` → 587.
fn tcp_port(args: &str) -> Option<u16> {
    let w: Vec<&str> = args.split_whitespace().collect();
    match w.as_slice() {
        ["TCP", _, port] | ["IPC", _, port] => port.parse().ok(),
        _ => None,
    }
}

/// Options that only tune sendmail itself: nothing for qmail to carry.
const OPERATIONAL: &[&str] = &[
    "SevenBitInput",
    "AliasWait",
    "MinFreeBlocks",
    "BlankSub",
    "HoldExpensive",
    "DeliveryMode",
    "TempFileMode",
    "HelpFile",
    "SendMimeErrors",
    "ConnectionCacheSize",
    "ConnectionCacheTimeout",
    "UseErrorsTo",
    "LogLevel",
    "CheckAliases",
    "OldStyleHeaders",
    "QueueDirectory",
    "SuperSafe",
    "UnixFromLine",
    "OperatorChars",
    "Milter.macros.connect",
    "Milter.macros.helo",
    "Milter.macros.envfrom",
    "Milter.macros.envrcpt",
    "Milter.macros.eom",
    "StatusFile",
    "HostStatusDirectory",
    "PidFile",
    "QueueLA",
    "RefuseLA",
    "DeadLetterDrop",
    "SafeFileEnvironment",
    "Timeout.ident",
    "MaxDaemonChildren",
    "ControlSocketName",
    "ProcessTitlePrefix",
    "RrtImpliesDsn",
    "QueueSortOrder",
    "MinQueueAge",
    "ErrorMode",
    "SaveFromLine",
    "MatchGECOS",
    "DontBlameSendmail",
    "_USE_ETC_MAIL_",
    "confEBINDIR",
    "confCF_VERSION",
    "MAIL_SETTINGS_DIR",
    "DEBIAN_MTA",
    "confMUST_QUOTE_CHARS",
];

/// Applies every entry of `cfg` to `plan`.
pub fn apply(cfg: &Config, plan: &mut Plan, report: &mut Report) {
    let mut say = Say {
        file: &cfg.file,
        report,
    };
    for e in &cfg.entries {
        entry(e, plan, &mut say);
    }
}

fn origin(say: &Say, e: &Entry) -> Origin {
    Origin {
        file: say.file.to_string(),
        line: e.line,
    }
}

fn entry(e: &Entry, plan: &mut Plan, say: &mut Say) {
    match &e.kind {
        Kind::Macro { name, value } => macro_(e, name, value, plan, say),
        Kind::Class { name, words } => {
            for w in words {
                let w = if name == "t" || name == "E" || name == "TrustAuthMech" {
                    w.clone()
                } else {
                    w.to_ascii_lowercase()
                };
                plan.add_class(name, &w, origin(say, e));
            }
            class(e, name, words, plan, say);
        }
        Kind::ClassFile {
            name,
            path,
            optional,
        } => {
            plan.class_files.push(ClassFile {
                class: name.clone(),
                path: path.clone(),
                optional: *optional,
                origin: origin(say, e),
            });
        }
        Kind::Option { name, value } => option(e, name, value, plan, say),
        Kind::Map { name, spec } => map(e, name, spec, plan, say),
        Kind::Mailer { name, spec } => mailer(e, name, spec, plan, say),
        Kind::MailerArgs {
            macro_name,
            args,
            late,
        } => {
            if *late {
                say.moot(
                    e,
                    format!(
                        "placed after its MAILER(): m4 silently ignored it (spec §4.1), so \
                         sendmail never used `{args}`"
                    ),
                );
                return;
            }
            let mailer = macro_name
                .split('_')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if macro_name.ends_with("_MAILER_ARGS") {
                if let Some(p) = tcp_port(args) {
                    plan.ports.insert(mailer.clone(), p);
                    say.done(
                        e,
                        format!(
                            "the `{mailer}` mailer connects to port {p}: smtproutes entries \
                             through it get `:{p}`"
                        ),
                    );
                    return;
                }
            }
            mailer_param(e, &mailer, say);
        }
        Kind::Feature { name, args } => super::features::feature(e, name, args, plan, say),
        Kind::Rules {
            name,
            rules,
            last_line,
            custom,
        } => {
            if *custom {
                say.none(
                    e,
                    &format!(
                        "ran the custom rewriting rules of ruleset `{name}` (lines {}-{last_line}, \
                         {rules} rule(s))",
                        e.line
                    ),
                );
            } else {
                say.moot(
                    e,
                    format!(
                        "ruleset `{name}` ({rules} rule(s), to line {last_line}) is one m4 writes; \
                         what it does is converted item by item in this report"
                    ),
                );
            }
        }
        Kind::Other { letter, body } => other(e, *letter, body, say),
        Kind::Note {
            construct,
            reason,
            decide,
        } => say.report.push(
            say.file,
            e.line,
            construct.clone(),
            Action::NotConverted,
            reason.clone(),
            *decide,
        ),
    }
}

fn macro_(e: &Entry, name: &str, value: &str, plan: &mut Plan, say: &mut Say) {
    // An empty definition is m4's way of writing "not set".
    if value.is_empty() {
        return;
    }
    match name {
        "j" => {
            if value.contains('$') {
                say.moot(
                    e,
                    "the name is computed from other macros; give --me HOST to set control/me",
                );
            } else {
                plan.me = Some(value.to_ascii_lowercase());
                say.done(e, "official host name → control/me");
            }
        }
        "S" => {
            plan.smart_host = Some((value.to_string(), origin(say, e), e.text.clone()));
        }
        "M" => {
            plan.defaulthost = Some(value.to_ascii_lowercase());
            say.changed(
                e,
                "masquerading → control/defaulthost: qmail-inject adds it to addresses without a \
                 host; sendmail also rewrote already-qualified local host names and domains in \
                 class M, and qmail never rewrites mail arriving by SMTP",
                true,
            );
        }
        "R" => say.none(
            e,
            &format!(
                "sent unqualified local names to `{value}` (LOCAL_RELAY); the closest is \
                 forwarding unknown users with ~alias/.qmail-default"
            ),
        ),
        "H" => say.none(
            e,
            &format!(
                "sent all local mail to the hub `{value}` (MAIL_HUB); to do the same, make no \
                 domain local and route with smtproutes, keeping per-user exceptions in .qmail \
                 files"
            ),
        ),
        "Y" | "B" | "C" | "F" => say.none(
            e,
            &format!("used the UUCP/BITNET/DECnet/FAX relay `{value}`"),
        ),
        "n" | "l" | "o" | "q" | "e" | "Z" | "_" => say.moot(
            e,
            "a macro sendmail uses to format its own headers and messages",
        ),
        _ => say.moot(e, "a macro no part of the conversion uses"),
    }
}

fn class(e: &Entry, name: &str, words: &[String], plan: &mut Plan, say: &mut Say) {
    let list = words.join(" ");
    match name {
        "w" => say.done(e, "local names → control/locals and control/rcpthosts"),
        "R" => say.done(
            e,
            "relay domains: see relay-domains below (rcpthosts, tcprules)",
        ),
        "VirtHost" => say.done(e, "virtual domains for virtusertable"),
        "G" => say.moot(e, "genericstable domains: see genericstable"),
        "M" => say.none(
            e,
            &format!("masqueraded the domains `{list}` as well (MASQUERADE_DOMAIN)"),
        ),
        "E" if words.iter().all(|w| w == "root") => say.moot(
            e,
            "root is exposed by default; qmail-inject qualifies root like anyone else",
        ),
        "E" => say.none(
            e,
            &format!("did not masquerade the users `{list}` (EXPOSED_USER)"),
        ),
        "t" => {
            let extra: Vec<&String> = words
                .iter()
                .filter(|w| !matches!(w.as_str(), "root" | "daemon" | "uucp" | "-"))
                .collect();
            if extra.is_empty() {
                say.moot(e, "sendmail's default trusted users");
            } else {
                say.none(
                    e,
                    "let only trusted users set the envelope sender without an \
                     X-Authentication-Warning (any local user may use qmail-inject -f)",
                );
            }
        }
        "TrustAuthMech" => match plan.target {
            Target::Reference => say.changed(
                e,
                "clients authenticated with these mechanisms may relay: with control/smtpauth \
                 the reference MTA lets every authenticated client relay (it offers LOGIN and \
                 PLAIN only)",
                true,
            ),
            Target::Netqmail => say.none(e, "let SMTP AUTH clients relay (TRUST_AUTH_MECH)"),
        },
        "L" => say.none(e, &format!("kept the users `{list}` local under MAIL_HUB")),
        "P" | "O" | "." | "[" | "Accept" | "ResOk" | "Tls" | "TlsVerified" | "Src" => {
            say.moot(e, "a class internal to sendmail's rulesets")
        }
        _ => say.moot(e, "a class no part of the conversion uses"),
    }
}

fn option(e: &Entry, name: &str, value: &str, plan: &mut Plan, say: &mut Say) {
    let reference = plan.target == Target::Reference;
    match name {
        "MaxMessageSize" => match value.trim().parse::<u64>() {
            Ok(n) => {
                plan.databytes = Some(n);
                say.changed(
                    e,
                    format!(
                        "→ control/databytes {n}; qmail counts the bytes as stored (after CRLF → \
                         LF), so a message near the limit may pass where sendmail refused it{}",
                        if reference {
                            "; control/smtpsize makes the reference MTA announce it as SIZE, as \
                             sendmail did"
                        } else {
                            ""
                        }
                    ),
                    false,
                );
            }
            Err(_) => say.moot(e, "not a number: sendmail ignored it"),
        },
        "Timeout.queuereturn" => match seconds(value) {
            Some(s) => {
                plan.queuelifetime = Some(s);
                say.done(e, format!("→ control/queuelifetime {s} (seconds)"));
            }
            None => say.at(
                e,
                Action::NotConverted,
                "the time has no unit this converter can read; set control/queuelifetime by hand",
                true,
            ),
        },
        n if n.starts_with("Timeout.queuereturn.") || n.starts_with("Timeout.queuewarn.") => {
            say.none(e, "used a different timeout per message precedence")
        }
        "Timeout.queuewarn" => say.none(
            e,
            &format!("warned senders after {value} in the queue (qmail sends no delay warnings)"),
        ),
        "MaxRecipientsPerMessage" => say.none(
            e,
            &format!(
                "answered 452 after {value} recipients (stock qmail-smtpd accepts any number of \
                 RCPT; limit not carried over)"
            ),
        ),
        "DaemonPortOptions" => daemon_options(e, value, say),
        "ClientPortOptions" => say.none(e, "set options for outgoing connections"),
        "PrivacyOptions" => privacy(e, value, say),
        "ServerCertFile" | "ServerKeyFile" | "CACertFile" | "CACertPath" => {
            if reference {
                let what = if name == "ServerKeyFile" {
                    "the private key"
                } else if name == "ServerCertFile" {
                    "the certificate"
                } else {
                    "the CA list (clients are not verified)"
                };
                say.at(
                    e,
                    Action::NotConverted,
                    format!(
                        "STARTTLS: the reference MTA reads {what} from control/servercert.pem \
                         (certificate chain then key in one PEM file, readable by qmaild). Keys \
                         are not copied silently: run `cat CERT KEY > control/servercert.pem` \
                         and `chmod 640` it yourself (file here: `{value}`)"
                    ),
                    true,
                );
            } else {
                say.none(e, "offered STARTTLS (netqmail's qmail-smtpd speaks no TLS)");
            }
        }
        "ClientCertFile" | "ClientKeyFile" => {
            say.none(e, "used STARTTLS with a client certificate when sending")
        }
        "AuthMechanisms" => {
            if reference {
                say.at(
                    e,
                    Action::NotConverted,
                    format!(
                        "SMTP AUTH ({value}): the reference MTA offers AUTH LOGIN PLAIN when \
                         control/smtpauth names a checkpassword program, e.g. \
                         `mta-checkpassword /bin/true`; write it yourself (other mechanisms \
                         are not offered)"
                    ),
                    true,
                );
            } else {
                say.none(e, &format!("offered SMTP AUTH ({value})"));
            }
        }
        "AuthOptions" => say.none(e, "restricted SMTP AUTH with AuthOptions"),
        "DefaultUser" => say.none(
            e,
            &format!(
                "ran alias programs and files as {value} (fastforward programs run as user alias)"
            ),
        ),
        "ForwardPath" => {
            let std = value == "$z/.forward.$w:$z/.forward" || value == "$z/.forward";
            if std {
                say.moot(
                    e,
                    "each user's ~/.forward is converted by `migrate forward` / `migrate site`",
                );
            } else {
                say.none(e, &format!("looked for forward files at `{value}`"));
            }
        }
        "AliasFile" => {
            plan.alias_file = Some(value.to_string());
            let several = value.contains(',');
            say.at(
                e,
                Action::NotConverted,
                if several {
                    "several alias files: convert each with `migrate aliases` (fastforward takes \
                     several cdbs only by chained `fastforward -p` lines in .qmail-default)"
                } else {
                    "the aliases are converted by `migrate aliases` / `migrate site`"
                },
                several,
            );
        }
        "MaxHopCount" => say.moot(e, "qmail's hop limit is fixed at 100"),
        "DontProbeInterfaces" => say.moot(
            e,
            "qmail never adds the host's own names or addresses: they must be in control/locals",
        ),
        "SmtpGreetingMessage" => say.moot(
            e,
            "sendmail's greeting; qmail-smtpd greets with control/smtpgreeting (default: me)",
        ),
        "InputMailFilters" => say.none(e, &format!("passed mail through the milters `{value}`")),
        "ConnectionRateThrottle" => say.none(e, "throttled incoming connections"),
        n if OPERATIONAL.contains(&n) => say.moot(
            e,
            "tunes sendmail itself (paths, logging, queue handling); qmail has its own settings",
        ),
        _ => say.at(
            e,
            Action::NotConverted,
            "this converter does not know the option; check whether it changed mail flow",
            true,
        ),
    }
}

fn daemon_options(e: &Entry, value: &str, say: &mut Say) {
    let mut port = "smtp".to_string();
    let mut addr = "0".to_string();
    let mut lost = Vec::new();
    for kv in value.split(',') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "Port" | "P" => port = v.to_string(),
            "Addr" | "A" => addr = v.to_string(),
            "Name" | "N" => {}
            "Family" | "F" if v == "inet" => {}
            "Family" | "F" => lost.push(format!("Family={v} (IPv6 needs ucspi-tcp-ipv6)")),
            "M" | "Modifiers" if !v.is_empty() => {
                lost.push(format!("M={v} (require AUTH, no ETRN, SMTPS, ...)"))
            }
            other => lost.push(format!("{other}={v}")),
        }
    }
    if lost.is_empty() {
        say.done(
            e,
            format!(
                "listen on {addr} port {port}: the smtpd service runs `tcpserver {addr} {port}`"
            ),
        );
    } else {
        say.none(
            e,
            &format!(
                "applied the daemon modifiers {} (listening on {addr} port {port} itself is \
                 `tcpserver {addr} {port}`)",
                lost.join(", ")
            ),
        );
    }
}

fn privacy(e: &Entry, value: &str, say: &mut Say) {
    let mut lost = Vec::new();
    for f in value
        .split([',', ' '])
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        match f {
            "goaway" | "noexpn" | "novrfy" | "public" | "noverb" => {}
            _ => lost.push(f),
        }
    }
    if lost.is_empty() {
        say.moot(e, "moot: qmail-smtpd has no EXPN and answers VRFY with 252");
    } else {
        say.none(
            e,
            &format!(
                "applied the privacy flags {} (qmail needs no HELO, restricts no queue runs, adds \
                 no X-Authentication-Warning); noexpn/novrfy are moot",
                lost.join(", ")
            ),
        );
    }
}

fn map(e: &Entry, name: &str, spec: &str, plan: &mut Plan, say: &mut Say) {
    let class = spec.split_whitespace().next().unwrap_or("");
    match name {
        "access" | "virtuser" | "mailertable" | "generics" => {
            if matches!(
                class,
                "ldap" | "nis" | "nisplus" | "hesiod" | "sequence" | "userdb"
            ) {
                say.none(e, &format!("read the `{name}` map from {class}"));
                return;
            }
            let Some((path, optional)) = map_path(spec) else {
                say.moot(e, "the map names no file");
                return;
            };
            plan.maps.push(MapRef {
                name: name.to_string(),
                path,
                optional,
                origin: origin(say, e),
            });
        }
        "userdb" => say.none(e, "looked addresses up in a user database (userdb)"),
        _ if matches!(class, "ldap" | "nis" | "nisplus" | "hesiod") => {
            say.none(e, &format!("used the {class} map `{name}`"))
        }
        _ => say.moot(e, "a map internal to sendmail's rulesets"),
    }
}

fn mailer(e: &Entry, name: &str, spec: &str, plan: &mut Plan, say: &mut Say) {
    if let Some(a) = spec.split(", ").find_map(|p| p.strip_prefix("A=")) {
        if let Some(p) = tcp_port(a) {
            plan.ports.insert(name.to_string(), p);
        }
    }
    let path = spec
        .split(", ")
        .find_map(|p| p.strip_prefix("P="))
        .unwrap_or("");
    match name {
        "local" if spec.contains("procmail") => say.changed(
            e,
            "local delivery through procmail: make qmail's default delivery `|preline procmail` \
             (qmail-start argument, or control/defaultdelivery); procmail's `-a $h` detail has \
             no analogue ($EXT is available)",
            true,
        ),
        "local" if spec.contains("lmtp") || spec.contains("cyrus") => {
            say.none(e, "delivered locally by LMTP")
        }
        "local" => say.changed(
            e,
            "local delivery: qmail delivers with its default delivery (./Mailbox or ./Maildir/)",
            false,
        ),
        "prog" if path.contains("smrsh") || spec.contains("smrsh") => say.none(
            e,
            "ran programs through smrsh (qmail runs .qmail programs with /bin/sh; the smrsh \
             whitelist is not enforced)",
        ),
        "prog" => say.moot(
            e,
            "programs: qmail runs `|` lines of .qmail files with /bin/sh",
        ),
        "smtp" | "esmtp" | "smtp8" | "dsmtp" | "relay" => say.changed(
            e,
            "SMTP mailer: qmail-remote always speaks plain SMTP with HELO (no 8BITMIME, DSN or \
             client STARTTLS/AUTH)",
            false,
        ),
        "procmail" => say.none(
            e,
            "had a procmail mailer for mailertable/virtusertable routes",
        ),
        "cyrus" | "cyrusv2" | "lmtp" => {
            say.none(e, &format!("delivered with the {name} mailer (LMTP)"))
        }
        n if n.starts_with("uucp") || n == "suucp" => say.none(e, "delivered by UUCP"),
        _ => say.none(e, &format!("had the mailer `{name}`")),
    }
}

fn mailer_param(e: &Entry, mailer: &str, say: &mut Say) {
    match mailer {
        "local" | "procmail" => say.changed(
            e,
            "a local mailer parameter: qmail's default delivery replaces the local mailer",
            true,
        ),
        _ => say.none(
            e,
            &format!("changed the `{mailer}` mailer's program or flags"),
        ),
    }
}

fn other(e: &Entry, letter: char, body: &str, say: &mut Say) {
    match letter {
        'V' => say.moot(e, "the .cf format version"),
        'H' => say.moot(
            e,
            "a header sendmail adds; qmail adds its own (Received, Return-Path, Delivered-To; \
             qmail-inject adds Date, Message-ID, From)",
        ),
        'P' if matches!(
            body,
            "first-class=0" | "special-delivery=100" | "list=-30" | "bulk=-60" | "junk=-100"
        ) =>
        {
            say.moot(
                e,
                "sendmail's default precedences (queue order); qmail has none",
            )
        }
        'P' => say.none(e, &format!("gave messages the precedence `{body}`")),
        'X' => say.none(e, "passed mail through a milter"),
        'Q' => say.none(e, "used queue groups"),
        'E' => say.moot(e, "environment for sendmail's programs"),
        _ => say.none(e, "had this configuration line"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_to_seconds() {
        assert_eq!(seconds("5d"), Some(432_000));
        assert_eq!(seconds("1w2d"), Some(777_600));
        assert_eq!(seconds("4h30m"), Some(16_200));
        assert_eq!(seconds("5"), None);
        assert_eq!(seconds("5x"), None);
    }

    #[test]
    fn ports_come_from_tcp_args() {
        assert_eq!(tcp_port("TCP $h 587"), Some(587));
        assert_eq!(tcp_port("TCP $h"), None);
    }
}
