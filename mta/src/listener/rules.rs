//! The tcprules text syntax (ucspi-tcp 0.88 `tcprules.c`), parsed into
//! typed rules and the cdb records tcpserver reads.
//!
//! ```text
//! # comment
//! 127.:allow,RELAYCLIENT=""
//! 1.2.3.4:deny
//! 10.0.1-20.:allow,DATABYTES="1000000"
//! =host.example:allow
//! :allow
//! ```
//!
//! A rule is `address:instructions`. The address is the cdb key as
//! written (an IP, an IP prefix ending in `.`, `=host`, `info@ip`, or
//! empty); a range `a.b.c-d.` in the last-but-… octet expands to one key
//! per number, as tcprules does. The instructions are `allow` or `deny`
//! followed by `,VAR=<q>value<q>` settings, where `<q>` is any quoting
//! character. Where tcprules silently skips a line without a colon, we
//! report it: a typo there would otherwise leave a hole in the rules.

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based line number in the source.
    pub line: usize,
    /// The address as written (before range expansion).
    pub address: Vec<u8>,
    pub deny: bool,
    /// Variables to set, in order.
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A line tcprules would refuse (`unable to parse this line`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: unable to parse this line: {text} ({why})")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub text: String,
    pub why: &'static str,
}

impl Rule {
    /// The cdb value: `D\0` for deny, then `+VAR=value\0` per setting
    /// (byte-exact with tcprules: its `stralloc_catb(&data,"D",2)` copies
    /// the D and the terminating NUL).
    pub fn data(&self) -> Vec<u8> {
        let mut d = Vec::new();
        if self.deny {
            d.extend_from_slice(b"D\0");
        }
        for (k, v) in &self.env {
            d.push(b'+');
            d.extend_from_slice(k);
            d.push(b'=');
            d.extend_from_slice(v);
            d.push(0);
        }
        d
    }

    /// The cdb keys: the address, or one per number of a range.
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, &'static str> {
        let a = &self.address;
        let Some(dash) = a.iter().position(|&c| c == b'-') else {
            return Ok(vec![a.clone()]);
        };
        if a.contains(&b'=') || a.contains(&b'@') {
            return Ok(vec![a.clone()]);
        }
        let left = a[..dash]
            .iter()
            .rposition(|&c| c == b'.')
            .map_or(0, |i| i + 1);
        let right = a[dash + 1..]
            .iter()
            .position(|&c| c == b'.')
            .map_or(a.len(), |i| dash + 1 + i);
        let bot = number(&a[left..dash]).ok_or("bad range start")?;
        let top = number(&a[dash + 1..right]).ok_or("bad range end")?.min(255);
        Ok((bot..=top)
            .map(|n| [&a[..left], n.to_string().as_bytes(), &a[right..]].concat())
            .collect())
    }
}

/// qmail's `scan_ulong` that must consume everything (an empty string is
/// 0, as in tcprules).
fn number(s: &[u8]) -> Option<u64> {
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Parses a whole rules file; `file` names it in errors.
pub fn parse(file: &str, text: &[u8]) -> Result<Vec<Rule>, ParseError> {
    let mut rules = Vec::new();
    for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
        if raw.first() == Some(&b'#') {
            continue;
        }
        let mut end = raw.len();
        while end > 0 && matches!(raw[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        let line = &raw[..end];
        if line.is_empty() {
            continue;
        }
        let err = |why| ParseError {
            file: file.to_string(),
            line: i + 1,
            text: String::from_utf8_lossy(line).into_owned(),
            why,
        };
        let rule = parse_line(i + 1, line).map_err(err)?;
        rule.keys().map_err(err)?;
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_line(n: usize, line: &[u8]) -> Result<Rule, &'static str> {
    let colon = line
        .iter()
        .position(|&c| c == b':')
        .ok_or("no colon after the address")?;
    let address = line[..colon].to_vec();
    let mut x = &line[colon + 1..];
    let deny = if let Some(rest) = x.strip_prefix(b"deny") {
        x = rest;
        true
    } else if let Some(rest) = x.strip_prefix(b"allow") {
        x = rest;
        false
    } else {
        return Err("expected allow or deny after the colon");
    };
    let mut env = Vec::new();
    while !x.is_empty() {
        let Some(rest) = x.strip_prefix(b",") else {
            return Err("expected ,VAR=\"value\"");
        };
        let eq = rest
            .iter()
            .position(|&c| c == b'=')
            .ok_or("a setting has no =")?;
        let name = rest[..eq].to_vec();
        let after = &rest[eq + 1..];
        let (&quote, body) = after.split_first().ok_or("a value has no quotes")?;
        let close = body
            .iter()
            .position(|&c| c == quote)
            .ok_or("a value's closing quote is missing")?;
        env.push((name, body[..close].to_vec()));
        x = &body[close + 1..];
    }
    Ok(Rule {
        line: n,
        address,
        deny,
        env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Rule {
        parse("r", line.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn allow_deny_and_settings_encode_like_tcprules() {
        let r = one("127.:allow,RELAYCLIENT=\"\"");
        assert_eq!(r.address, b"127.");
        assert_eq!(r.data(), b"+RELAYCLIENT=\0");
        assert_eq!(one("1.2.3.4:deny").data(), b"D\0");
        assert_eq!(one(":allow").data(), b"");
        assert_eq!(one(":allow").address, b"");
        let r = one("=h.example:deny,A='x:y',B=/\"/");
        assert_eq!(r.data(), b"D\0+A=x:y\0+B=\"\0");
    }

    #[test]
    fn comments_blank_lines_and_trailing_space() {
        let rules = parse("r", b"# c\n\n   \n10.:allow \t\n:deny\n").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].line, 4);
        assert_eq!(rules[1].line, 5);
    }

    #[test]
    fn ranges_expand_like_tcprules() {
        let r = one("10.0.1-3.:allow");
        assert_eq!(
            r.keys().unwrap(),
            vec![
                b"10.0.1.".to_vec(),
                b"10.0.2.".to_vec(),
                b"10.0.3.".to_vec()
            ]
        );
        assert_eq!(one("1.2.3.250-300:allow").keys().unwrap().len(), 6);
        assert_eq!(one("5-4.:allow").keys().unwrap().len(), 0);
        assert_eq!(one("=a-b.example:allow").keys().unwrap().len(), 1);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("tcp.smtp", b"127.:allow\n1.2.3.4:permit\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "tcp.smtp:2: unable to parse this line: 1.2.3.4:permit \
             (expected allow or deny after the colon)"
        );
        for bad in [
            "no-colon",
            "1:allow,X",
            "1:allow,X=\"open",
            "1:allowx",
            "1.x-3.:allow",
        ] {
            assert!(parse("f", bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
