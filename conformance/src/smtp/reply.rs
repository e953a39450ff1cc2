//! SMTP replies (RFC 5321 §4.2): lines `DDD-text` then `DDD text`, each
//! ending in CRLF. The parser keeps the raw lines so byte-exact checks and
//! transcripts see what the server sent; malformed lines are kept too and
//! make the reply [`Reply::malformed`].

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// Each line as received, including its line end.
    pub raw: Vec<Vec<u8>>,
}

impl Reply {
    /// The code of the first line, if it starts with three digits.
    pub fn code(&self) -> Option<u16> {
        let l = self.raw.first()?;
        if l.len() >= 3 && l[..3].iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(&l[..3]).ok()?.parse().ok()
        } else {
            None
        }
    }

    /// True if a line lacks a code, the codes differ, a separator is
    /// wrong, or a line does not end in CRLF (RFC 5321 §4.2.1).
    pub fn malformed(&self) -> bool {
        let Some(code) = self.code() else { return true };
        let code = code.to_string();
        let n = self.raw.len();
        self.raw.iter().enumerate().any(|(i, l)| {
            let sep = if i + 1 == n {
                [b' ', b'\r']
            } else {
                [b'-', b'-']
            };
            !l.starts_with(code.as_bytes())
                || !l.ends_with(b"\r\n")
                || !(l.get(3) == Some(&sep[0]) || (i + 1 == n && l.len() == 5 && l[3] == sep[1]))
        })
    }

    /// Each line without code, separator and line end.
    pub fn texts(&self) -> Vec<Vec<u8>> {
        self.raw.iter().map(|l| text_of(l).to_vec()).collect()
    }

    /// Each line without its line end.
    pub fn lines(&self) -> Vec<Vec<u8>> {
        self.raw.iter().map(|l| strip_eol(l).to_vec()).collect()
    }

    /// The enhanced status code: RFC 2034 style at the start of the last
    /// line's text, else qmail's `(#c.s.d)` anywhere in it.
    pub fn enhanced(&self) -> Option<String> {
        let text = self.texts().pop()?;
        let t = String::from_utf8_lossy(&text);
        let first = t.split(' ').next().unwrap_or("");
        if is_enhanced(first) {
            return Some(first.to_string());
        }
        let i = t.find("(#")?;
        let rest = &t[i + 2..];
        let end = rest.find(')')?;
        is_enhanced(&rest[..end]).then(|| rest[..end].to_string())
    }
}

fn strip_eol(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn text_of(l: &[u8]) -> &[u8] {
    let l = strip_eol(l);
    if l.len() >= 4 {
        &l[4..]
    } else {
        &[]
    }
}

/// `c.s.d` with c in 2/4/5 and 1-3 digit subject and detail (RFC 3463).
pub fn is_enhanced(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// True if `line` (with its line end) ends a reply: not `DDD-`.
pub fn is_last_line(line: &[u8]) -> bool {
    !(line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) && line[3] == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(lines: &[&str]) -> Reply {
        Reply {
            raw: lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
        }
    }

    #[test]
    fn parses_codes_texts_and_enhanced_codes() {
        let r = reply(&["250-mx\r\n", "250-PIPELINING\r\n", "250 8BITMIME\r\n"]);
        assert_eq!(r.code(), Some(250));
        assert!(!r.malformed());
        assert_eq!(r.texts()[1], b"PIPELINING");
        let r = reply(&["502 unimplemented (#5.5.1)\r\n"]);
        assert_eq!(r.enhanced().as_deref(), Some("5.5.1"));
        let r = reply(&["550 5.1.1 no such user\r\n"]);
        assert_eq!(r.enhanced().as_deref(), Some("5.1.1"));
        assert_eq!(reply(&["250 ok\r\n"]).enhanced(), None);
    }

    #[test]
    fn flags_malformed_replies() {
        assert!(reply(&["250 ok\n"]).malformed());
        assert!(reply(&["25 ok\r\n"]).malformed());
        assert!(reply(&["250-a\r\n", "251 b\r\n"]).malformed());
        assert!(!reply(&["250\r\n"]).malformed());
        assert!(is_last_line(b"250 x\r\n") && !is_last_line(b"250-x\r\n"));
    }
}
