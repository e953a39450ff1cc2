//! Reading the output of `sendmail -bv ADDRESS` (spec §6.3) into
//! deliveries. No I/O.
//!
//! Hand-written because the format is sendmail's own: one line per final
//! recipient, in reverse order, each `ADDR... deliverable: mailer M, host
//! H, user U` (the host part only for mailers that have one), or
//! `ADDR... <failure text>`, or a bare failure text such as
//! `aliasing/forwarding loop broken`; `.forward` lines may be prefixed
//! with `FILE: line N: `.

use super::delivery::{code_of, Delivery};

/// One line sendmail printed that is not a delivery or a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread(pub String);

/// Parses `-bv` output; returns the deliveries and the lines that said
/// nothing about a recipient (warnings), which the caller reports.
pub fn parse(output: &str) -> (Vec<Delivery>, Vec<Unread>) {
    let mut out = Vec::new();
    let mut unread = Vec::new();
    for line in output.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(d) => out.push(d),
            None => unread.push(Unread(line.to_string())),
        }
    }
    (out, unread)
}

fn parse_line(line: &str) -> Option<Delivery> {
    if let Some(i) = line.find("... deliverable: ") {
        return deliverable(&line[i + "... deliverable: ".len()..]);
    }
    if let Some(i) = line.rfind("... ") {
        return Some(Delivery::bounce(&code_of(&line[i + 4..])));
    }
    if line.contains("loop broken") || line.contains("User unknown") {
        return Some(Delivery::bounce(&code_of(line)));
    }
    None
}

/// `mailer M, host H, user U` → a delivery. The user is the rest of the
/// line: it may contain commas (quoted programs).
fn deliverable(rest: &str) -> Option<Delivery> {
    let rest = rest.strip_prefix("mailer ")?;
    let (mailer, mut rest) = rest.split_once(", ")?;
    let mut host = None;
    if let Some(r) = rest.strip_prefix("host ") {
        let (h, r) = r.split_once(", ")?;
        host = Some(h);
        rest = r;
    }
    let user = rest.strip_prefix("user ")?;
    Some(match mailer {
        "local" => Delivery::mailbox(user),
        "prog" => {
            let u = unquote(user);
            let cmd = u.strip_prefix('|').unwrap_or(&u);
            Delivery::Program {
                command: cmd.trim_start().to_string(),
            }
        }
        "*file*" => Delivery::File {
            path: unquote(user),
        },
        "*include*" => return None,
        _ => Delivery::forward(user, host),
    })
}

/// sendmail prints quoted users as `"..."` with `\` escapes.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output captured from sendmail 8.17.1.9 with the spec §6.3 set-up.
    const OBSERVED: &str = "\
carol... deliverable: mailer local, user carol
\\bob... deliverable: mailer local, user \\bob
carol@example.net... deliverable: mailer esmtp, host example.net., user carol@example.net
\"|/usr/bin/prog x y\"... deliverable: mailer prog, user \"|/usr/bin/prog x y\"
/dev/null... deliverable: mailer *file*, user /dev/null
a5... User unknown
aliasing/forwarding loop broken
x@relay.example... deliverable: mailer relay, host [10.1.2.3], user x@relay.example
WARNING: something odd
";

    #[test]
    fn every_observed_line_form() {
        let (d, unread) = parse(OBSERVED);
        assert_eq!(
            d,
            vec![
                Delivery::mailbox("carol"),
                Delivery::mailbox("bob"),
                Delivery::forward("carol@example.net", None),
                Delivery::Program {
                    command: "/usr/bin/prog x y".into()
                },
                Delivery::File {
                    path: "/dev/null".into()
                },
                Delivery::bounce("5.1.1"),
                Delivery::bounce("5.4.6"),
                Delivery::forward("x@relay.example", Some("10.1.2.3")),
            ]
        );
        assert_eq!(unread, vec![Unread("WARNING: something odd".into())]);
    }
}
