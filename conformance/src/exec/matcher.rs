//! Checking a reply against an [`Expect`] under a profile, and rendering
//! what was expected for the diff.

use crate::escape;
use crate::scenario::{Expect, Profile};
use crate::smtp::reply::Reply;

/// What the checks need besides the reply.
pub struct MatchCtx<'a> {
    pub profile: Profile,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub normalize: &'a dyn Fn(&[u8]) -> Vec<u8>,
}

/// The expectations that apply under the profile: the common one, then
/// the profile's own.
pub(crate) fn layers(e: &Expect, p: Profile) -> Vec<&Expect> {
    let mut v = vec![e];
    if let Some(sub) = e.for_profile(p) {
        v.extend(layers(sub, p));
    }
    v
}

/// Ok, or every unmet expectation, one per line.
pub fn check(e: &Expect, r: &Reply, cx: &MatchCtx<'_>) -> Result<(), String> {
    let mut why = Vec::new();
    if r.malformed() {
        why.push(
            "the reply is malformed (RFC 5321 §4.2: `DDD-` lines then `DDD `, CRLF)".to_string(),
        );
    }
    for l in layers(e, cx.profile) {
        check_one(l, r, cx, &mut why);
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

fn check_one(e: &Expect, r: &Reply, cx: &MatchCtx<'_>, why: &mut Vec<String>) {
    let code = r.code();
    if let Some(c) = &e.code {
        if !code.is_some_and(|x| c.0.contains(&x)) {
            why.push(format!("expected code {:?}, got {code:?}", c.0));
        }
    }
    if let Some(c) = e.class {
        if code.is_none_or(|x| x / 100 != u16::from(c.0)) {
            why.push(format!("expected class {}xx, got {code:?}", c.0));
        }
    }
    if let Some(want) = &e.enhanced {
        let got = r.enhanced();
        if got.as_deref() != Some(want.as_str()) {
            why.push(format!("expected enhanced code {want}, got {got:?}"));
        }
    }
    if let Some(p) = &e.text {
        let text = r.texts().join(&b'\n');
        let re = p.resolve(cx.lookup);
        if !re.is_match(&(cx.normalize)(&text)) {
            why.push(format!("text does not match /{}/", p.source));
        }
    }
    if let Some(n) = e.lines {
        if r.raw.len() != n {
            why.push(format!("expected {n} lines, got {}", r.raw.len()));
        }
    }
    if let Some(lines) = &e.reply {
        let want = expected_raw(&lines.0, cx.lookup);
        let got: Vec<Vec<u8>> = r.raw.iter().map(|l| (cx.normalize)(l)).collect();
        if want != got {
            why.push("reply differs from the expected bytes".to_string());
        }
    }
}

/// The exact lines of a `reply:` expectation, with CRLF.
pub(crate) fn expected_raw(
    lines: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<Vec<u8>> {
    lines
        .iter()
        .map(|l| {
            let mut b = escape::substitute(l.as_bytes(), lookup);
            b.extend_from_slice(b"\r\n");
            b
        })
        .collect()
}

/// The expected side of a diff: the exact lines when the profile gives
/// them, else a one-line description of the constraints.
pub fn render_expected(e: &Expect, cx: &MatchCtx<'_>) -> String {
    let ls = layers(e, cx.profile);
    if let Some(lines) = ls.iter().rev().find_map(|l| l.reply.as_ref()) {
        return expected_raw(&lines.0, cx.lookup)
            .iter()
            .map(|l| format!("S: {}\n", escape::visible(l)))
            .collect();
    }
    let mut parts = Vec::new();
    for l in ls {
        if let Some(c) = &l.code {
            parts.push(format!("code in {:?}", c.0));
        }
        if let Some(c) = l.class {
            parts.push(format!("class {}xx", c.0));
        }
        if let Some(x) = &l.enhanced {
            parts.push(format!("enhanced {x}"));
        }
        if let Some(t) = &l.text {
            parts.push(format!("text =~ /{}/", t.source));
        }
        if let Some(n) = l.lines {
            parts.push(format!("{n} lines"));
        }
    }
    format!("S: <a reply: {}>\n", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(s: &str) -> Reply {
        Reply {
            raw: s
                .split_inclusive('\n')
                .map(|l| l.as_bytes().to_vec())
                .collect(),
        }
    }

    fn expect(y: &str) -> Expect {
        serde_yaml::from_str(y).unwrap()
    }

    fn run(e: &str, r: &str, p: Profile) -> Result<(), String> {
        let lookup = |n: &str| (n == "me").then(|| "mx.test".to_string());
        let norm = |b: &[u8]| crate::normalize::apply(crate::normalize::ALL, b);
        check(
            &expect(e),
            &reply(r),
            &MatchCtx {
                profile: p,
                lookup: &lookup,
                normalize: &norm,
            },
        )
    }

    #[test]
    fn profiles_add_constraints() {
        let e = "{class: 5xx, qmail: {reply: '502 unimplemented (#5.5.1)'}, rfc: {code: 500}}";
        let r = "502 unimplemented (#5.5.1)\r\n";
        assert!(run(e, r, Profile::Qmail).is_ok());
        let err = run(e, r, Profile::Rfc).unwrap_err();
        assert!(err.contains("expected code [500]"), "{err}");
    }

    #[test]
    fn exact_replies_use_variables_and_normalisation() {
        assert!(run(
            "{reply: '220 ${me} ESMTP'}",
            "220 mx.test ESMTP\r\n",
            Profile::Qmail
        )
        .is_ok());
        assert!(run(
            "{reply: '250 ok <TIME> qp <PID>'}",
            "250 ok 1700000000 qp 12\r\n",
            Profile::Qmail
        )
        .is_ok());
        // A bare LF is not the CRLF the expectation names.
        assert!(run("{reply: '250 ok'}", "250 ok\n", Profile::Qmail).is_err());
    }

    #[test]
    fn multi_line_text_and_enhanced() {
        let r = "250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
        assert!(run(
            "{code: 250, lines: 3, text: '(?m)^PIPELINING$'}",
            r,
            Profile::Rfc
        )
        .is_ok());
        assert!(run("{lines: 2}", r, Profile::Rfc).is_err());
        assert!(run(
            "{enhanced: 5.5.1}",
            "502 unimplemented (#5.5.1)\r\n",
            Profile::Rfc
        )
        .is_ok());
        assert!(run("{code: 250}", "250-a\r\n251 b\r\n", Profile::Rfc).is_err());
    }
}
