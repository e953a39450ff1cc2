//! Named normalisation rules (Exim's "munging", conformance spec §1.2 and
//! §7): volatile text such as dates, queue ids and pids is replaced by a
//! fixed token (e.g. `<DATE>`) in replies and delivered files before they are
//! compared, so expectations can be byte-exact everywhere else.

use std::sync::OnceLock;

use regex::bytes::Regex;
use serde::Deserialize;

/// One rule. Scenarios list the rules they want (`normalize: [date]`);
/// by default all apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// RFC 5322 / qmail dates (`5 Jan 2024 03:04:05 -0000`, optionally with
    /// a weekday) -> `<DATE>`.
    Date,
    /// qmail-smtpd's `250 ok 1700000000 qp 1234` -> `250 ok <TIME> qp <PID>`,
    /// and QMTP/QMQP's `Kok 1700000000 qp 1234` -> `Kok <TIME> qp <PID>`.
    Qp,
    /// qmail-queue's `(qmail 1234 invoked` -> `(qmail <PID> invoked`.
    QmailPid,
    /// `Message-ID: <...>` -> `Message-ID: <MSGID>`.
    MessageId,
    /// MIME boundaries (`boundary="..."` and the `--...` lines using them
    /// are left to `content` checks; the parameter itself) -> `<BOUNDARY>`.
    Boundary,
    /// mbox `From ` lines' date (`From s Mon Jan  5 03:04:05 2024`) ->
    /// `From s <CTIME>`.
    Ctime,
}

/// Every rule, in the order they are applied.
pub const ALL: &[Rule] = &[
    Rule::Date,
    Rule::Qp,
    Rule::QmailPid,
    Rule::MessageId,
    Rule::Boundary,
    Rule::Ctime,
];

struct Compiled {
    date: Regex,
    qp: Regex,
    qmail_pid: Regex,
    message_id: Regex,
    boundary: Regex,
    ctime: Regex,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        // These literals are fixed and tested below; a failure is a bug
        // in this file, not input.
        let r = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("rule regex {s}: {e}"));
        Compiled {
            date: r(r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}(?: \([A-Z]+\))?"),
            qp: r(r"\b(K?)ok \d+ qp \d+"),
            qmail_pid: r(r"\(qmail \d+ invoked"),
            message_id: r(r"(?im)^(Message-ID:\s*)<[^>\r\n]*>"),
            boundary: r(r#"(?i)boundary="?[^";\r\n]+"?"#),
            ctime: r(r"(?m)^From (\S*) (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \d{4}"),
        }
    })
}

/// `bytes` with `rules` applied.
pub fn apply(rules: &[Rule], bytes: &[u8]) -> Vec<u8> {
    let c = compiled();
    let mut v = bytes.to_vec();
    for rule in rules {
        v = match rule {
            Rule::Date => c.date.replace_all(&v, &b"<DATE>"[..]).into_owned(),
            Rule::Qp => {
                c.qp.replace_all(&v, &b"${1}ok <TIME> qp <PID>"[..])
                    .into_owned()
            }
            Rule::QmailPid => c
                .qmail_pid
                .replace_all(&v, &b"(qmail <PID> invoked"[..])
                .into_owned(),
            Rule::MessageId => c
                .message_id
                .replace_all(&v, &b"${1}<MSGID>"[..])
                .into_owned(),
            Rule::Boundary => c
                .boundary
                .replace_all(&v, &b"boundary=\"<BOUNDARY>\""[..])
                .into_owned(),
            Rule::Ctime => c
                .ctime
                .replace_all(&v, &b"From ${1} <CTIME>"[..])
                .into_owned(),
        };
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &str) -> String {
        String::from_utf8(apply(ALL, s.as_bytes())).unwrap()
    }

    #[test]
    fn masks_qmail_volatile_text() {
        assert_eq!(
            all("250 ok 1700000000 qp 4242\r\n"),
            "250 ok <TIME> qp <PID>\r\n"
        );
        assert_eq!(all("Kok 838640135 qp 1390"), "Kok <TIME> qp <PID>");
        assert_eq!(all("Xok 838640135 qp 1390"), "Xok 838640135 qp 1390");
        assert_eq!(
            all("Received: (qmail 77 invoked from network); 5 Jan 2024 03:04:05 -0000\n"),
            "Received: (qmail <PID> invoked from network); <DATE>\n"
        );
        assert_eq!(
            all("Date: Fri, 05 Jan 2024 03:04:05 +0100\n"),
            "Date: <DATE>\n"
        );
        assert_eq!(all("Message-ID: <a.b@c>\n"), "Message-ID: <MSGID>\n");
        assert_eq!(
            all("From a@b Fri Jan  5 03:04:05 2024\n"),
            "From a@b <CTIME>\n"
        );
        assert_eq!(all("x; boundary=\"abc\"\n"), "x; boundary=\"<BOUNDARY>\"\n");
    }

    #[test]
    fn only_listed_rules_apply() {
        let s = b"250 ok 1700000000 qp 4242; 5 Jan 2024 03:04:05 -0000";
        assert_eq!(
            apply(&[Rule::Date], s),
            b"250 ok 1700000000 qp 4242; <DATE>".to_vec()
        );
        assert_eq!(apply(&[], s), s.to_vec());
    }
}
