//! Checking responses of the doors besides SMTP: a POP3 response against
//! an `expect` (`status`, `text`, `lines`, `reply`), a QMTP/QMQP
//! netstring against a [`NetExpect`]; and what was expected, rendered
//! for the diff.

use super::matcher::{expected_raw, layers, MatchCtx};
use crate::escape;
use crate::scenario::doors::NetExpect;
use crate::scenario::{Expect, Profile};
use crate::smtp::reply::Reply;

/// True when the response to read is multi-line: `multiline`, or a
/// `reply`/`lines` of more than one line, in a layer that applies.
pub fn pop3_multi(e: &Expect, p: Profile) -> bool {
    layers(e, p).iter().any(|l| {
        l.multiline || l.reply.as_ref().is_some_and(|r| r.0.len() > 1) || l.lines.unwrap_or(0) > 1
    })
}

/// Ok, or every unmet expectation, one per `; `.
pub fn check_pop3(e: &Expect, r: &Reply, cx: &MatchCtx<'_>) -> Result<(), String> {
    let mut why = Vec::new();
    if let Some(m) = crate::pop3::malformed(r, pop3_multi(e, cx.profile)) {
        why.push(m);
    }
    let first = r.raw.first().map_or(&[][..], Vec::as_slice);
    for l in layers(e, cx.profile) {
        if let Some(s) = l.status {
            let ind = s.indicator();
            let ok = first.starts_with(ind)
                && matches!(first.get(ind.len()), Some(b' ' | b'\r' | b'\n'));
            if !ok {
                why.push(format!(
                    "expected a {} response",
                    String::from_utf8_lossy(ind)
                ));
            }
        }
        if let Some(p) = &l.text {
            let text = r.lines().join(&b'\n');
            if !p.resolve(cx.lookup).is_match(&(cx.normalize)(&text)) {
                why.push(format!("text does not match /{}/", p.source));
            }
        }
        if let Some(n) = l.lines {
            if r.raw.len() != n {
                why.push(format!("expected {n} lines, got {}", r.raw.len()));
            }
        }
        if let Some(lines) = &l.reply {
            let got: Vec<Vec<u8>> = r.raw.iter().map(|l| (cx.normalize)(l)).collect();
            if expected_raw(&lines.0, cx.lookup) != got {
                why.push("response differs from the expected bytes".to_string());
            }
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// The expected side of a POP3 diff.
pub fn render_pop3(e: &Expect, cx: &MatchCtx<'_>) -> String {
    let ls = layers(e, cx.profile);
    if let Some(lines) = ls.iter().rev().find_map(|l| l.reply.as_ref()) {
        return expected_raw(&lines.0, cx.lookup)
            .iter()
            .map(|l| format!("S: {}\n", escape::visible(l)))
            .collect();
    }
    let mut parts = Vec::new();
    for l in ls {
        if let Some(s) = l.status {
            parts.push(String::from_utf8_lossy(s.indicator()).into_owned());
        }
        if let Some(t) = &l.text {
            parts.push(format!("text =~ /{}/", t.source));
        }
        if let Some(n) = l.lines {
            parts.push(format!("{n} lines"));
        }
    }
    format!("S: <a response: {}>\n", parts.join(", "))
}

/// The layers of a netstring expectation that apply under `p`.
fn net_layers(e: &NetExpect, p: Profile) -> Vec<&NetExpect> {
    let mut v = vec![e];
    let sub = match p {
        Profile::Qmail => e.qmail.as_deref(),
        Profile::Rfc => e.rfc.as_deref(),
    };
    if let Some(s) = sub {
        v.extend(net_layers(s, p));
    }
    v
}

/// Checks one netstring response (`unit`, as received) against `e`.
pub fn check_net(e: &NetExpect, unit: &[u8], cx: &MatchCtx<'_>) -> Result<(), String> {
    let content = crate::qmtp::parse(unit)?;
    let norm = (cx.normalize)(content);
    let mut why = Vec::new();
    for l in net_layers(e, cx.profile) {
        if let Some(s) = l.status {
            if content.first() != Some(&s.byte()) {
                why.push(format!("expected status {}", s.byte() as char));
            }
        }
        if let Some(p) = &l.text {
            let text = (cx.normalize)(content.get(1..).unwrap_or_default());
            if !p.resolve(cx.lookup).is_match(&text) {
                why.push(format!("text does not match /{}/", p.source));
            }
        }
        if let Some(r) = &l.reply {
            if escape::substitute(r.as_bytes(), cx.lookup) != norm {
                why.push("response differs from the expected bytes".to_string());
            }
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// The expected side of a netstring diff: the whole netstring when the
/// content is given exactly, else a description.
pub fn render_net(e: &NetExpect, cx: &MatchCtx<'_>) -> String {
    let ls = net_layers(e, cx.profile);
    if let Some(r) = ls.iter().rev().find_map(|l| l.reply.as_ref()) {
        let content = escape::substitute(r.as_bytes(), cx.lookup);
        return format!(
            "S: {}\n",
            escape::visible(&crate::qmtp::netstring(&content))
        );
    }
    let mut parts = Vec::new();
    for l in ls {
        if let Some(s) = l.status {
            parts.push(format!("status {}", s.byte() as char));
        }
        if let Some(t) = &l.text {
            parts.push(format!("text =~ /{}/", t.source));
        }
    }
    format!("S: <a netstring: {}>\n", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx_run<T>(p: Profile, f: impl FnOnce(&MatchCtx<'_>) -> T) -> T {
        let lookup = |n: &str| (n == "me").then(|| "mx.test".to_string());
        let norm = |b: &[u8]| crate::normalize::apply(crate::normalize::ALL, b);
        f(&MatchCtx {
            profile: p,
            lookup: &lookup,
            normalize: &norm,
        })
    }

    fn reply(s: &str) -> Reply {
        Reply {
            raw: s
                .split_inclusive('\n')
                .map(|l| l.as_bytes().to_vec())
                .collect(),
        }
    }

    fn pop3(e: &str, r: &str, p: Profile) -> Result<(), String> {
        let e: Expect = serde_yaml::from_str(e).unwrap();
        cx_run(p, |cx| check_pop3(&e, &reply(r), cx))
    }

    fn net(e: &str, unit: &[u8]) -> Result<(), String> {
        let e: NetExpect = serde_yaml::from_str(e).unwrap();
        cx_run(Profile::Qmail, |cx| check_net(&e, unit, cx))
    }

    #[test]
    fn pop3_status_text_and_exact_lines() {
        assert!(pop3(
            "{status: ok, qmail: {reply: '+OK '}}",
            "+OK \r\n",
            Profile::Qmail
        )
        .is_ok());
        assert!(pop3("{status: err}", "+OK \r\n", Profile::Qmail).is_err());
        // `+OKAY` is not `+OK`.
        assert!(pop3("{status: ok}", "+OKAY\r\n", Profile::Qmail).is_err());
        assert!(pop3(
            "{text: '^\\+OK <[0-9]+\\.[0-9]+@${me}>$'}",
            "+OK <12.1700000000@mx.test>\r\n",
            Profile::Qmail
        )
        .is_ok());
        let list = "+OK \r\n1 10\r\n.\r\n";
        assert!(pop3("{reply: ['+OK ', '1 10', '.']}", list, Profile::Qmail).is_ok());
        assert!(pop3("{reply: ['+OK ', '1 11', '.']}", list, Profile::Qmail).is_err());
        // The qmail layer does not apply under rfc.
        assert!(pop3(
            "{status: ok, qmail: {reply: '+OK x'}}",
            "+OK \r\n",
            Profile::Rfc
        )
        .is_ok());
        let e = pop3("{status: ok}", "+OK\n", Profile::Qmail).unwrap_err();
        assert!(e.contains("CRLF"), "{e}");
    }

    #[test]
    fn netstring_status_text_and_content() {
        let unit = b"66:Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1),";
        let exact = "{status: D, reply: \"Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\"}";
        assert!(net(exact, unit).is_ok());
        assert!(net("{status: K}", unit).is_err());
        assert!(net("{text: '^sorry'}", unit).is_ok());
        // Times and qp numbers are normalised.
        assert!(net(
            "{reply: 'Kok <TIME> qp <PID>'}",
            b"21:Kok 838640135 qp 1390,"
        )
        .is_ok());
        // A wrong length is a framing error whatever else matches.
        let e = net("{status: K}", b"22:Kok 838640135 qp 1390,").unwrap_err();
        assert!(e.contains("not a netstring"), "{e}");
    }
}
