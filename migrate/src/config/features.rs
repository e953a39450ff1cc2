//! `FEATURE(...)` lines that are not maps (those are read with the maps):
//! what each did and what qmail does instead (spec §4.2, §4.7).

use super::items::Say;
use super::model::Entry;
use super::plan::Plan;
use crate::report::Action;

/// Reports one feature, and records the few that change the conversion.
pub fn feature(e: &Entry, name: &str, args: &[String], plan: &mut Plan, say: &mut Say) {
    let none = |say: &mut Say, did: &str| {
        say.report.push(
            say.file,
            e.line,
            format!("`{}`", e.text),
            Action::NotConverted,
            format!("sendmail {did}; qmail 1.03 has no equivalent"),
            true,
        )
    };
    let moot = |say: &mut Say, why: &str| {
        say.report.push(
            say.file,
            e.line,
            format!("`{}`", e.text),
            Action::NotConverted,
            why.to_string(),
            false,
        )
    };
    match name {
        "masquerade_envelope" => say.report.push(
            say.file,
            e.line,
            format!("`{}`", e.text),
            Action::ConvertedWithChange,
            "partial: qmail-inject builds the envelope sender from control/defaulthost \
             (QMAILSHOST overrides); messages arriving by SMTP are never rewritten by qmail",
            true,
        ),
        "allmasquerade" => none(
            say,
            "masqueraded recipient headers too (recipient header masquerading is not done by \
             qmail)",
        ),
        "masquerade_entire_domain" => {
            none(say, "masqueraded every subdomain of the masquerade domains")
        }
        "limited_masquerade" => none(say, "masqueraded only the domains of class M"),
        "generics_entire_domain" => none(say, "applied genericstable to subdomains"),
        "smrsh" => none(
            say,
            "ran programs through smrsh (qmail runs .qmail programs with /bin/sh; the smrsh \
             whitelist is not enforced)",
        ),
        "local_procmail" => say.report.push(
            say.file,
            e.line,
            format!("`{}`", e.text),
            Action::ConvertedWithChange,
            "local delivery through procmail: make qmail's default delivery `|preline procmail` \
             (qmail-start argument, or control/defaultdelivery)",
            true,
        ),
        "local_lmtp" => none(say, "delivered locally by LMTP"),
        "dnsbl" | "enhdnsbl" => none(
            say,
            &format!(
                "refused clients listed in the DNS blocklist {} (rblsmtpd from ucspi-tcp covers \
                 IP DNSBLs: `rblsmtpd -r ZONE` in front of qmail-smtpd)",
                args.first().map_or("(default)", String::as_str)
            ),
        ),
        "greet_pause" => none(
            say,
            "waited before greeting to catch early talkers (greet_pause)",
        ),
        "ratecontrol" => none(say, "limited the connection rate per client (ratecontrol)"),
        "conncontrol" => none(
            say,
            "limited concurrent connections per client (conncontrol)",
        ),
        "delay_checks" => moot(
            say,
            "sendmail moved its checks to RCPT time; qmail-smtpd checks badmailfrom at MAIL and \
             rcpthosts at RCPT",
        ),
        "authinfo" => none(
            say,
            "authenticated to remote servers (qmail-remote speaks no AUTH)",
        ),
        "ldap_routing" => none(say, "routed mail with LDAP"),
        "relay_hosts_only" => {
            plan.relay_hosts_only = true;
            moot(
                say,
                "relay-domains names hosts exactly: no `.domain` lines are written",
            )
        }
        "blocklist_recipients" | "blacklist_recipients" => moot(
            say,
            "To: entries of the access map are reported one by one below",
        ),
        "promiscuous_relay" => none(
            say,
            "relayed for everyone (an open relay); qmail relays only for RELAYCLIENT clients and \
             rcpthosts",
        ),
        "relay_entire_domain" | "relay_based_on_MX" | "relay_local_from" | "relay_mail_from" => {
            none(say, &format!("decided relaying with {name}"))
        }
        "accept_unqualified_senders" | "accept_unresolvable_domains" => {
            moot(say, "qmail-smtpd does not check sender domains at all")
        }
        "nocanonify" | "always_add_domain" | "no_default_msa" | "nouucp" | "use_ct_file"
        | "redirect" => moot(say, "changes nothing qmail needs"),
        "nullclient" => none(
            say,
            "sent everything to one hub (nullclient); qmail: no locals and `:hub` in smtproutes",
        ),
        "milter" => none(
            say,
            &format!(
                "passed mail through the milter `{}`",
                args.first().map_or("", String::as_str)
            ),
        ),
        "virtuser_entire_domain" => none(say, "applied virtusertable to subdomains"),
        "require_rdns" | "block_bad_helo" | "badmx" => {
            none(say, &format!("checked clients with {name}"))
        }
        _ => say.report.push(
            say.file,
            e.line,
            format!("`{}`", e.text),
            Action::NotConverted,
            format!("FEATURE(`{name}') is not one this converter knows; check what it did"),
            true,
        ),
    }
}
