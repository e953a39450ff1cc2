//! Physical lines → logical lines of an aliases file, as `newaliases`
//! (`sendmail -bi`) joins them (spec §1.1).
//!
//! A backslash right before the newline joins the next line whatever it
//! starts with; otherwise a next line starting with a space or tab is
//! appended. Joining happens before a line is classified, so an indented
//! line after a comment belongs to the comment, and an indented line after
//! an empty line is an error that sendmail skips. The CR of a CRLF line is
//! kept (the address scanner treats it as white space).

/// sendmail reads with `BUFSIZ` (8192 on glibc) buffers: a logical entry
/// that does not fit (with its terminating NUL) is dropped (spec §1.1, F32).
pub const BUFSIZ: usize = 8192;

/// What a logical line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A candidate `name: targets` entry.
    Entry,
    /// A `#` line, with `joined` indented lines swallowed into it.
    Comment,
    /// An indented line with nothing to continue (after an empty line or
    /// at the start): `554 5.3.5 Non-continuation line starts with space`.
    StrayIndent,
    /// Longer than [`BUFSIZ`]: `554 5.3.0 alias line too long`.
    TooLong,
}

/// One logical line with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logical<'a> {
    /// 1-based number of its first physical line.
    pub line: usize,
    /// Physical lines joined into it after the first.
    pub joined: usize,
    pub kind: Kind,
    /// The joined text (borrowed when nothing was joined).
    pub text: std::borrow::Cow<'a, str>,
}

fn starts_indented(s: &str) -> bool {
    s.starts_with([' ', '\t'])
}

/// Splits `text` into logical lines; empty lines are dropped.
pub fn logical_lines(text: &str) -> Vec<Logical<'_>> {
    LogicalLines::new(text).collect()
}

/// [`logical_lines`] one at a time, so a large file is read without
/// holding all of its lines.
#[derive(Debug, Clone)]
pub struct LogicalLines<'a> {
    text: &'a str,
    /// The next physical line not yet taken and where the one after it
    /// starts.
    next: Option<(&'a str, usize)>,
    /// 0-based number of that line.
    line: usize,
}

impl<'a> LogicalLines<'a> {
    pub fn new(text: &'a str) -> LogicalLines<'a> {
        LogicalLines::starting_at(text, 1)
    }

    /// The lines of `text` numbered from `first` (a later part of a
    /// file, cut where [`crate::par::split_lines`] cuts).
    pub fn starting_at(text: &'a str, first: usize) -> LogicalLines<'a> {
        let mut l = LogicalLines {
            text,
            next: None,
            line: first.saturating_sub(1),
        };
        l.next = l.physical(0);
        l
    }

    /// The physical line starting at `pos` and the start of the next. A
    /// final newline ends the last line; it does not start an empty one.
    fn physical(&self, pos: usize) -> Option<(&'a str, usize)> {
        let b = self.text.as_bytes();
        let limit = if self.text.ends_with('\n') {
            b.len()
        } else {
            b.len() + 1
        };
        if pos >= limit {
            return None;
        }
        Some(match memchr::memchr(b'\n', &b[pos..]) {
            Some(i) => (&self.text[pos..pos + i], pos + i + 1),
            None => (&self.text[pos..], b.len() + 1),
        })
    }

    fn take(&mut self) -> Option<&'a str> {
        let (line, after) = self.next?;
        self.next = self.physical(after);
        self.line += 1;
        Some(line)
    }
}

impl<'a> Iterator for LogicalLines<'a> {
    type Item = Logical<'a>;

    fn next(&mut self) -> Option<Logical<'a>> {
        loop {
            let first = self.line;
            let mut text: std::borrow::Cow<'a, str> = self.take()?.into();
            while let Some((following, _)) = self.next {
                // An empty line continues nothing (it ends the entry).
                if text.is_empty() {
                    break;
                }
                if let Some(head) = text.strip_suffix('\\') {
                    let mut s = String::with_capacity(head.len() + following.len());
                    s.push_str(head);
                    s.push_str(following);
                    text = s.into();
                } else if starts_indented(following) {
                    let mut s = text.into_owned();
                    s.push_str(following);
                    text = s.into();
                } else {
                    break;
                }
                self.take();
            }
            if text.is_empty() {
                continue;
            }
            let kind = if text.starts_with('#') {
                Kind::Comment
            } else if text.len() + 1 > BUFSIZ {
                Kind::TooLong
            } else if starts_indented(&text) {
                // Blank-only lines that continue nothing are empty lines.
                if text.trim().is_empty() {
                    continue;
                }
                Kind::StrayIndent
            } else {
                Kind::Entry
            };
            return Some(Logical {
                line: first + 1,
                joined: self.line - first - 1,
                kind,
                text,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<(usize, Kind, String)> {
        logical_lines(t)
            .into_iter()
            .map(|l| (l.line, l.kind, l.text.into_owned()))
            .collect()
    }

    #[test]
    fn whitespace_continuation_keeps_the_indent() {
        assert_eq!(
            kinds("a: bob,\n\tcarol\nb: x\n"),
            vec![
                (1, Kind::Entry, "a: bob,\tcarol".into()),
                (3, Kind::Entry, "b: x".into())
            ]
        );
    }

    #[test]
    fn backslash_joins_a_column_zero_line() {
        assert_eq!(
            kinds("a: bob, \\\ncarol\n"),
            vec![(1, Kind::Entry, "a: bob, carol".into())]
        );
    }

    #[test]
    fn empty_line_ends_the_entry_and_strands_the_indent() {
        assert_eq!(
            kinds("a: bob,\n\n\tcarol\n"),
            vec![
                (1, Kind::Entry, "a: bob,".into()),
                (3, Kind::StrayIndent, "\tcarol".into())
            ]
        );
    }

    #[test]
    fn indented_line_after_comment_is_comment() {
        let k = logical_lines("a: bob,\n# c\n\tcarol\n");
        assert_eq!(k[1].kind, Kind::Comment);
        assert_eq!(k[1].joined, 1);
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn crlf_keeps_the_cr() {
        assert_eq!(
            kinds("a: bob,\r\n\tcarol\r\n"),
            vec![(1, Kind::Entry, "a: bob,\r\tcarol\r".into())]
        );
    }

    #[test]
    fn last_line_with_or_without_newline() {
        assert_eq!(kinds(""), vec![]);
        assert_eq!(kinds("\n\n"), vec![]);
        assert_eq!(kinds("a: b\\\n"), vec![(1, Kind::Entry, "a: b\\".into())]);
        assert_eq!(
            kinds("a: b\\\n\nc: d"),
            vec![
                (1, Kind::Entry, "a: b".into()),
                (3, Kind::Entry, "c: d".into())
            ]
        );
        assert_eq!(
            kinds("a: b,\n \n\t\nc: d"),
            vec![
                (1, Kind::Entry, "a: b, \t".into()),
                (4, Kind::Entry, "c: d".into())
            ]
        );
    }

    #[test]
    fn too_long_entry_is_flagged() {
        let t = format!("a: {}\nb: x\n", "x,".repeat(5000));
        let k = logical_lines(&t);
        assert_eq!(k[0].kind, Kind::TooLong);
        assert_eq!(k[1].kind, Kind::Entry);
    }
}
