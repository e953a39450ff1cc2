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
    let phys: Vec<&str> = text.split('\n').collect();
    // A final newline leaves one empty piece that is not a line.
    let n = if text.ends_with('\n') {
        phys.len() - 1
    } else {
        phys.len()
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let first = i;
        let mut text: std::borrow::Cow<'_, str> = phys[i].into();
        loop {
            // An empty line continues nothing (it ends the entry).
            if i + 1 >= n || text.is_empty() {
                break;
            }
            if let Some(head) = text.strip_suffix('\\') {
                let mut s = head.to_string();
                s.push_str(phys[i + 1]);
                text = s.into();
            } else if starts_indented(phys[i + 1]) {
                let mut s = text.into_owned();
                s.push_str(phys[i + 1]);
                text = s.into();
            } else {
                break;
            }
            i += 1;
        }
        i += 1;
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
        out.push(Logical {
            line: first + 1,
            joined: i - first - 1,
            kind,
            text,
        });
    }
    out
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
    fn too_long_entry_is_flagged() {
        let t = format!("a: {}\nb: x\n", "x,".repeat(5000));
        let k = logical_lines(&t);
        assert_eq!(k[0].kind, Kind::TooLong);
        assert_eq!(k[1].kind, Kind::Entry);
    }
}
