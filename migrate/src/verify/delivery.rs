//! The common language of both sides of `migrate verify`: what one
//! address finally becomes (spec §1.4, §2 for sendmail; qmail-local's
//! instructions for qmail), normalised so that equal behaviour compares
//! equal.
//!
//! Normalisation, and why:
//! * a local mailbox is named by its account, lower-cased, without
//!   sendmail's `\` quoting and without a `+detail` (the same mailbox
//!   receives it; the converter reports the lost detail);
//! * a remote forward keeps the local part's case and lower-cases the
//!   domain; the relay is only shown when it is not the domain's own MX
//!   (mailertable / smart host in sendmail, smtproutes in qmail);
//! * a bounce is its enhanced status code only: sendmail's and qmail's
//!   texts never match, and the code is what the sender's software sees.

use serde::Serialize;

/// One final delivery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    /// The local mailbox of an account.
    Mailbox { user: String },
    /// A program run with the message on stdin.
    Program { command: String },
    /// A file the message is appended to (mbox style).
    File { path: String },
    /// Sent on to a remote address, through `relay` when one is set.
    Forward {
        address: String,
        relay: Option<String>,
    },
    /// A permanent failure with its enhanced status code.
    Bounce { code: String },
    /// A temporary failure (the mail would wait in the queue).
    Defer { reason: String },
}

impl Delivery {
    /// A mailbox delivery for `user`, normalised.
    pub fn mailbox(user: &str) -> Delivery {
        let u = user.trim_start_matches('\\').to_ascii_lowercase();
        let u = match u.split_once('+') {
            Some((base, _)) if !base.is_empty() => base.to_string(),
            _ => u,
        };
        Delivery::Mailbox { user: u }
    }

    /// A forward to `address` (domain lower-cased) via `relay`; a relay
    /// equal to the address's own domain means plain MX routing.
    pub fn forward(address: &str, relay: Option<&str>) -> Delivery {
        let address = match address.rfind('@') {
            Some(i) => format!(
                "{}@{}",
                &address[..i],
                address[i + 1..].to_ascii_lowercase()
            ),
            None => address.to_string(),
        };
        let domain = address.rsplit_once('@').map(|(_, d)| d.to_string());
        let relay = relay
            .map(|r| {
                r.trim_end_matches('.')
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase()
            })
            .filter(|r| !r.is_empty() && Some(r) != domain.as_ref());
        Delivery::Forward { address, relay }
    }

    /// A bounce with `code` (`5.1.1`).
    pub fn bounce(code: &str) -> Delivery {
        Delivery::Bounce {
            code: code.to_string(),
        }
    }

    /// One line for the side-by-side view.
    pub fn text(&self) -> String {
        match self {
            Delivery::Mailbox { user } => format!("mailbox {user}"),
            Delivery::Program { command } => format!("program {command}"),
            Delivery::File { path } => format!("file {path}"),
            Delivery::Forward {
                address,
                relay: None,
            } => format!("forward {address}"),
            Delivery::Forward {
                address,
                relay: Some(r),
            } => format!("forward {address} via {r}"),
            Delivery::Bounce { code } => format!("bounce {code}"),
            Delivery::Defer { reason } => format!("defer ({reason})"),
        }
    }
}

/// The enhanced status code in a bounce text: `(#5.1.1)` as qmail writes
/// it, a bare `5.1.1`, or sendmail's fixed phrases that -bv prints without
/// a code. Unknown text gives `5.0.0`.
pub fn code_of(text: &str) -> String {
    const PHRASES: &[(&str, &str)] = &[
        ("User unknown", "5.1.1"),
        ("loop broken", "5.4.6"),
        ("Cannot open", "5.2.4"),
        ("Hostname required", "5.1.3"),
        ("Invalid route address", "5.1.3"),
        ("valid shell", "5.7.1"),
        ("Too many hops", "5.4.6"),
    ];
    if let Some(c) = find_dsn(text) {
        return c;
    }
    PHRASES
        .iter()
        .find(|(p, _)| text.contains(p))
        .map_or_else(|| "5.0.0".to_string(), |(_, c)| c.to_string())
}

/// The first `D.DDD.DDD` with D in 2, 4, 5 that stands alone in `text`.
fn find_dsn(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for i in 0..b.len() {
        if !matches!(b[i], b'2' | b'4' | b'5') || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            continue;
        }
        if b.get(i + 1) != Some(&b'.') {
            continue;
        }
        let mut j = i + 2;
        let n1 = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n1 == 0 || n1 > 3 || b.get(j + n1) != Some(&b'.') {
            continue;
        }
        j += n1 + 1;
        let n2 = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n2 == 0 || n2 > 3 || b.get(j + n2).is_some_and(u8::is_ascii_digit) {
            continue;
        }
        return Some(text[i..j + n2].to_string());
    }
    None
}

/// Sorts and removes duplicates: both sides are compared as sets, since
/// sendmail suppresses duplicates and qmail's per-list copies are already
/// reported by the converter (F24).
pub fn normalise(mut v: Vec<Delivery>) -> Vec<Delivery> {
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_from_qmail_and_sendmail_texts() {
        assert_eq!(
            code_of("Sorry, no mailbox here by that name. (#5.1.1)"),
            "5.1.1"
        );
        assert_eq!(code_of("bob... User unknown"), "5.1.1");
        assert_eq!(code_of("aliasing/forwarding loop broken"), "5.4.6");
        assert_eq!(code_of("553 5.1.3 Hostname required"), "5.1.3");
        assert_eq!(code_of("version 8.17.1"), "5.0.0");
        assert_eq!(code_of("something else"), "5.0.0");
    }

    #[test]
    fn normalised_forms() {
        assert_eq!(Delivery::mailbox("\\Bob+ext"), Delivery::mailbox("bob"));
        assert_eq!(
            Delivery::forward("Bob@Example.NET", Some("example.net.")),
            Delivery::Forward {
                address: "Bob@example.net".into(),
                relay: None
            }
        );
        assert_eq!(
            Delivery::forward("x@a.example", Some("[10.0.0.1]")).text(),
            "forward x@a.example via 10.0.0.1"
        );
    }
}
