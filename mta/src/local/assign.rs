//! The `users/assign` text format (spec §5.1), parsed exactly as
//! qmail-newu reads it.
//!
//! Hand-written rather than built on a parser crate because qmail-newu's
//! acceptance rules are quirky and must be matched byte for byte: the
//! first byte of a line is `+` (wildcard) or anything else (simple); the
//! address runs to the first `:`; the six fields after it end at the sixth
//! `:` and anything after that is ignored; a line starting with `.` ends
//! the file, and end of file before it is an error.

use std::fmt;

/// One parsed line of `users/assign`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// `+` line (prefix match) rather than `=` line (exact match).
    pub wildcard: bool,
    /// The address or prefix, as written (not yet lowercased).
    pub local: Vec<u8>,
    /// The six fields `user uid gid homedir dash ext`, each followed by
    /// NUL except the last — exactly the cdb value qmail-newu stores.
    pub value: Vec<u8>,
    /// 1-based line number, for messages.
    pub line: usize,
}

impl Assignment {
    /// The users/cdb key: `!` + lowercase(local), plus NUL for `=` lines.
    pub fn key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.local.len() + 2);
        k.push(b'!');
        k.extend(self.local.iter().map(u8::to_ascii_lowercase));
        if !self.wildcard {
            k.push(0);
        }
        k
    }
}

/// Why a line of users/assign was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatProblem {
    MissingDot,
    Nul,
    NoColon,
    EmptyAddress,
    TooFewFields,
}

impl fmt::Display for FormatProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormatProblem::MissingDot => "end of file before the final \".\" line",
            FormatProblem::Nul => "line contains a NUL byte",
            FormatProblem::NoColon => "no \":\" after the address",
            FormatProblem::EmptyAddress => "line starts with \":\"",
            FormatProblem::TooFewFields => "fewer than six \":\"-terminated fields",
        })
    }
}

/// A format error, naming the file and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct FormatError {
    pub file: String,
    pub line: usize,
    pub problem: FormatProblem,
}

/// Parses the contents of a users/assign file. `file` is only used in
/// error messages.
pub fn parse(file: &str, text: &[u8]) -> Result<Vec<Assignment>, FormatError> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut lineno = 0;
    loop {
        lineno += 1;
        let err = |problem| FormatError {
            file: file.to_string(),
            line: lineno,
            problem,
        };
        // qmail's getln: the line with its newline, or a partial last line.
        let (line, matched) = match rest.iter().position(|&c| c == b'\n') {
            Some(i) => {
                let l = &rest[..=i];
                rest = &rest[i + 1..];
                (l, true)
            }
            None => {
                let l = rest;
                rest = &[];
                (l, false)
            }
        };
        if line.first() == Some(&b'.') {
            return Ok(out);
        }
        if !matched {
            return Err(err(FormatProblem::MissingDot));
        }
        if line.contains(&0) {
            return Err(err(FormatProblem::Nul));
        }
        let colon = line
            .iter()
            .position(|&c| c == b':')
            .ok_or(err(FormatProblem::NoColon))?;
        if colon == 0 {
            return Err(err(FormatProblem::EmptyAddress));
        }
        let mut value = line[colon + 1..].to_vec();
        let mut colons = 0;
        let mut end = None;
        for (i, c) in value.iter_mut().enumerate() {
            if *c == b':' {
                *c = 0;
                colons += 1;
                if colons == 6 {
                    end = Some(i);
                    break;
                }
            }
        }
        // The sixth colon itself is not stored: the value is
        // `user\0uid\0gid\0home\0dash\0ext` and qmail-lspawn appends the
        // rest of the address and the final NUL itself.
        let end = end.ok_or(err(FormatProblem::TooFewFields))?;
        value.truncate(end);
        out.push(Assignment {
            wildcard: line[0] == b'+',
            local: line[1..colon].to_vec(),
            value,
            line: lineno,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_and_wildcard_lines() {
        let a = parse(
            "users/assign",
            b"+joe-:joe:507:100:/home/joe:-::\n=Joe:joe:507:100:/home/joe:::extra\n.\n",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        assert!(a[0].wildcard);
        assert_eq!(a[0].key(), b"!joe-");
        assert_eq!(a[0].value, b"joe\x00507\x00100\x00/home/joe\x00-\x00");
        assert!(!a[1].wildcard);
        assert_eq!(a[1].key(), b"!joe\0");
        assert_eq!(a[1].value, b"joe\x00507\x00100\x00/home/joe\x00\x00");
        assert_eq!(a[1].line, 2);
    }

    #[test]
    fn any_first_character_but_plus_is_simple() {
        let a = parse("f", b"xbob:b:1:1:/h:::\n.").unwrap();
        assert!(!a[0].wildcard);
        assert_eq!(a[0].local, b"bob");
    }

    #[test]
    fn format_errors_name_the_line() {
        let e = parse("users/assign", b"=a:b:1:1:/h:::\n=nocolon\n.\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.problem, FormatProblem::NoColon);
        assert_eq!(e.to_string(), "users/assign:2: no \":\" after the address");
        let cases: &[(&[u8], FormatProblem)] = &[
            (b"=a:b:1:1:/h:::\n", FormatProblem::MissingDot),
            (b"=a:b:1:1:/h:::\n=x", FormatProblem::MissingDot),
            (b":a:b:1:1:/h:::\n.\n", FormatProblem::EmptyAddress),
            (b"=a:b:1:1:/h::\n.\n", FormatProblem::TooFewFields),
            (b"=a\0:b:1:1:/h:::\n.\n", FormatProblem::Nul),
        ];
        for (text, p) in cases {
            assert_eq!(parse("f", text).unwrap_err().problem, *p);
        }
    }

    #[test]
    fn dot_line_may_lack_newline_and_ends_parsing() {
        assert_eq!(parse("f", b".").unwrap(), vec![]);
        assert_eq!(parse("f", b".\ngarbage").unwrap(), vec![]);
    }
}
