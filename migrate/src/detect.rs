//! Refusing input that is not sendmail syntax, loudly, naming the file and
//! the first line that gave it away (spec §3.2 F37, §3.3 D13).
//!
//! sendmail itself would load such a file with one error per line and no
//! aliases at all, while fastforward would switch on catch-alls and
//! nonsense recipients; converting either way would be wrong, so the
//! converter stops and asks.

use std::borrow::Borrow;

use crate::aliases::lines::Logical;

/// Input the converter will not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: refused: {why}")]
pub struct Refused {
    pub file: String,
    pub line: usize,
    pub why: String,
}

impl Refused {
    fn new(file: &str, line: usize, why: impl Into<String>) -> Refused {
        Refused {
            file: file.to_string(),
            line,
            why: why.into(),
        }
    }
}

/// Text of a file, or the line of its first byte that is not UTF-8.
pub fn utf8<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, Refused> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Refused::new(
            file,
            line,
            "not UTF-8 text (convert the file's encoding first)",
        )
    })
}

fn is_shell_alias(line: &str) -> bool {
    let rest = line
        .strip_prefix("alias")
        .filter(|r| r.starts_with([' ', '\t']))
        .map(str::trim_start)
        .unwrap_or(line);
    let Some(eq) = memchr::memchr(b'=', rest.as_bytes()) else {
        return false;
    };
    let (name, value) = (&rest[..eq], &rest[eq + 1..]);
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        && (value.starts_with(['\'', '"']) || rest.len() != line.len())
}

/// Checks that `bytes` is a sendmail aliases file and returns its text.
pub fn aliases<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, Refused> {
    let text = utf8(file, bytes)?;
    aliases_lines(file, crate::aliases::lines::logical_lines(text))?;
    Ok(text)
}

/// [`aliases`] on a file split into logical lines (a slice or the
/// [`LogicalLines`](crate::aliases::lines::LogicalLines) iterator).
pub fn aliases_lines<'a, L: Borrow<Logical<'a>>>(
    file: &str,
    lines: impl IntoIterator<Item = L>,
) -> Result<(), Refused> {
    AliasesScan::of(file, lines).verdict(file)
}

/// What [`aliases_lines`] found in some lines; the scans of consecutive
/// parts of a file [`merge`](AliasesScan::merge) into the scan of the
/// whole.
#[derive(Debug, Clone, Default)]
pub struct AliasesScan {
    /// The first line that alone refuses the file.
    refused: Option<Refused>,
    with_colon: usize,
    count_without: usize,
    /// The first entry without a colon.
    without: Option<usize>,
}

impl AliasesScan {
    pub fn of<'a, L: Borrow<Logical<'a>>>(
        file: &str,
        lines: impl IntoIterator<Item = L>,
    ) -> AliasesScan {
        let mut s = AliasesScan::default();
        for l in lines {
            if s.feed(file, l.borrow()) {
                break;
            }
        }
        s
    }

    /// Takes in one more line; true once the file is refused.
    pub fn feed(&mut self, file: &str, l: &Logical<'_>) -> bool {
        if l.kind != crate::aliases::lines::Kind::Entry {
            return false;
        }
        let t = l.text.trim_end_matches('\r');
        if is_shell_alias(t) {
            self.refused = Some(Refused::new(
                file,
                l.line,
                format!("`{t}` is a shell alias (NAME='command'), not a sendmail alias"),
            ));
            return true;
        }
        if memchr::memchr(b':', t.as_bytes()).is_some() {
            self.with_colon += 1;
            return false;
        }
        self.count_without += 1;
        let key = t.split([' ', '\t']).next().unwrap_or("");
        if key.contains('@') {
            self.refused = Some(Refused::new(
                file,
                l.line,
                format!(
                    "`{t}` is a virtusertable line (KEY VALUE with an address key), not a \
                     sendmail alias; convert it as a virtusertable"
                ),
            ));
            return true;
        }
        self.without.get_or_insert(l.line);
        false
    }

    /// The entries seen (each gives at most one alias).
    pub fn entries(&self) -> usize {
        self.with_colon + self.count_without
    }

    /// This scan followed by the scan of the lines after it.
    pub fn merge(self, later: AliasesScan) -> AliasesScan {
        if self.refused.is_some() {
            return self;
        }
        AliasesScan {
            refused: later.refused,
            with_colon: self.with_colon + later.with_colon,
            count_without: self.count_without + later.count_without,
            without: self.without.or(later.without),
        }
    }

    pub fn verdict(self, file: &str) -> Result<(), Refused> {
        if let Some(r) = self.refused {
            return Err(r);
        }
        if let Some(line) = self.without {
            if self.count_without >= self.with_colon.max(1) {
                return Err(Refused::new(
                    file,
                    line,
                    format!(
                        "{} of {} entries have no colon: this is not a sendmail aliases \
                         file (a map source or a list?)",
                        self.count_without,
                        self.count_without + self.with_colon
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Checks that a `.forward` file is a sendmail address list, not a mail
/// filter (Exim, Sieve) that sendmail would have mangled (D13).
pub fn forward<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, Refused> {
    let text = utf8(file, bytes)?;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim().to_ascii_lowercase();
        let filter = if n == 0 && t.starts_with("# exim filter") {
            Some("an Exim filter (`# Exim filter` first line)")
        } else if n == 0 && t.starts_with("# sieve filter") {
            Some("a Sieve filter (`# Sieve filter` first line)")
        } else if t.starts_with("require [") || t.starts_with("require \"") {
            Some("a Sieve script (`require`)")
        } else {
            None
        };
        if let Some(what) = filter {
            return Err(Refused::new(
                file,
                n + 1,
                format!(
                    "this .forward is {what}, not a sendmail address list; sendmail read every \
                     rule line as an unknown user. Convert the filter by hand"
                ),
            ));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_aliases_are_refused_at_their_line() {
        let e = aliases("a", b"# mine\nta='tmux a'\n").unwrap_err();
        assert_eq!((e.line, e.file.as_str()), (2, "a"));
        let e = aliases("a", b"root: bob\nalias ll='ls -l'\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e
            .to_string()
            .starts_with("a:2: refused: `alias ll='ls -l'` is a shell alias"));
    }

    #[test]
    fn virtusertable_named_aliases_is_refused() {
        let e = aliases("/etc/aliases", b"# v\n@example.com user@example.com\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.why.contains("virtusertable"));
        let e = aliases("x", b"a b\nc d\ne: f\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn one_missing_colon_is_sendmail_syntax() {
        assert!(aliases("x", b"a: b\nc d\ne: f\n").is_ok());
        assert!(aliases("x", b"a: \"|x='y'\"\n").is_ok());
    }

    #[test]
    fn exim_filter_forward_is_refused() {
        let e = forward(
            "/home/a/.forward",
            b"# Exim filter\nif $h_subject: contains x then\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 1);
        assert!(forward("f", b"bob, carol\n").is_ok());
    }

    #[test]
    fn non_utf8_names_the_line() {
        assert_eq!(aliases("x", b"a: b\nc: \xff\n").unwrap_err().line, 2);
    }
}
