//! Reading machine facts out of qmail's human failure texts.
//!
//! qmail's reports are prose (spec Appendix C); RFC 3464 wants a status
//! code, a diagnostic and the remote MTA. The rules follow the mapping in
//! `conformance.md` §3.4: status from the last `(#c.s.d)`, else the
//! enhanced code of the remote reply, else none; diagnostic `smtp; <reply>`
//! when the text holds `Remote host said:`, else `x-qmail; <text>`;
//! remote MTA from the IP address qmail-remote names.

use std::net::IpAddr;

/// A `c.s.d` enhanced status code (RFC 3463): class 2, 4 or 5, subject and
/// detail one to three digits.
pub fn is_status(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
}

/// The last `(#c.s.d)` in `text` (qmail's own codes), else the enhanced
/// code at the start of the remote reply after `Remote host said:`.
pub fn status(text: &str) -> Option<String> {
    let mut found = None;
    let mut rest = text;
    while let Some(i) = rest.find("(#") {
        let after = &rest[i + 2..];
        if let Some(j) = after.find(')') {
            if is_status(&after[..j]) {
                found = Some(after[..j].to_string());
            }
        }
        rest = after;
    }
    found.or_else(|| {
        let reply = remote_reply(text)?;
        // "550 5.1.1 ..." or "550-5.1.1 ...": the token after the code.
        let code = reply.get(4..)?.split_whitespace().next()?;
        is_status(code).then(|| code.to_string())
    })
}

/// The text after `Remote host said: `, its continuation lines (further
/// lines of a multi-line SMTP reply) joined with spaces.
pub fn remote_reply(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let first = lines.find_map(|l| l.split_once("Remote host said: ").map(|(_, r)| r))?;
    let mut reply = first.trim_end().to_string();
    for l in lines {
        let b = l.as_bytes();
        let continues =
            b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && matches!(b[3], b' ' | b'-');
        if !continues {
            break;
        }
        reply.push(' ');
        reply.push_str(l.trim_end());
    }
    Some(reply)
}

/// The diagnostic as `(type, text)`: `smtp` with the remote reply, or
/// `x-qmail` with the whole text on one line.
pub fn diagnostic(text: &str) -> (&'static str, String) {
    match remote_reply(text) {
        Some(r) => ("smtp", r),
        None => (
            "x-qmail",
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// The IP address qmail-remote names in its texts (spec Appendix C):
/// `<ip> does not like recipient.`, `<ip> failed ...`, `<ip> accepted
/// message.`, `Giving up on <ip>.`, `Connected to <ip> but ...`.
pub fn remote_mta(text: &str) -> Option<IpAddr> {
    for l in text.lines() {
        let candidate = if let Some(r) = l.strip_prefix("Connected to ") {
            r.split(" but ").next()
        } else if let Some(r) = l.strip_prefix("Giving up on ") {
            Some(r.strip_suffix('.').unwrap_or(r))
        } else if l.ends_with(" does not like recipient.")
            || l.ends_with(" accepted message.")
            || l.contains(" failed on DATA command.")
            || l.contains(" failed after I sent the message.")
        {
            l.split(' ').next()
        } else {
            None
        };
        if let Some(ip) = candidate.and_then(|c| c.parse::<IpAddr>().ok()) {
            return Some(ip);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_from_qmail_code() {
        assert_eq!(
            status("Sorry, no mailbox here by that name. (#5.1.1)\n").as_deref(),
            Some("5.1.1")
        );
        // The last one wins.
        assert_eq!(status("a (#4.4.1)\nb (#5.4.4)\n").as_deref(), Some("5.4.4"));
        assert_eq!(status("not a code (#5.x.1)\n"), None);
        assert_eq!(status("no code at all\n"), None);
    }

    #[test]
    fn status_from_remote_reply() {
        let t = "192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 <x@y>... User unknown\nGiving up on 192.0.2.1.\n";
        assert_eq!(status(t).as_deref(), Some("5.1.1"));
        assert_eq!(
            status("Remote host said: 550 no such user\n"),
            None,
            "no enhanced code in the reply"
        );
    }

    #[test]
    fn diagnostic_types() {
        let t = "192.0.2.1 does not like recipient.\nRemote host said: 550-first line\n550 second line\nGiving up on 192.0.2.1.\n";
        assert_eq!(
            diagnostic(t),
            ("smtp", "550-first line 550 second line".to_string())
        );
        assert_eq!(
            diagnostic("Sorry, no mailbox here by that name. (#5.1.1)\n"),
            (
                "x-qmail",
                "Sorry, no mailbox here by that name. (#5.1.1)".to_string()
            )
        );
    }

    #[test]
    fn remote_mta_from_each_wording() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for t in [
            "192.0.2.7 does not like recipient.\nRemote host said: 550 x\n",
            "Connected to 192.0.2.7 but sender was rejected.\n",
            "Giving up on 192.0.2.7.\n",
            "192.0.2.7 failed after I sent the message.\nRemote host said: 554 no\n",
            "192.0.2.7 failed on DATA command.\n",
        ] {
            assert_eq!(remote_mta(t), Some(ip), "{t}");
        }
        assert_eq!(
            remote_mta("Sorry, no mailbox here by that name. (#5.1.1)\n"),
            None
        );
    }
}
