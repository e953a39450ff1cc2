//! How qmail's line-based servers (qmail-smtpd, qmail-popup, qmail-pop3d)
//! cut a command line, as qmail's one shared `commands.c` does: the line
//! is a C string, so it ends at its first NUL; the verb is everything
//! before the first space; the argument is the rest after skipping
//! spaces (only the space character separates; a tab does not). Callers
//! compare the verb without regard to case.

/// Splits a command line (CR already removed) into verb and argument.
pub fn split(line: &[u8]) -> (&[u8], &[u8]) {
    let line = match line.iter().position(|&c| c == 0) {
        Some(i) => &line[..i],
        None => line,
    };
    let (verb, mut arg) = match line.iter().position(|&c| c == b' ') {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, &line[line.len()..]),
    };
    while let [b' ', rest @ ..] = arg {
        arg = rest;
    }
    (verb, arg)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn nul_ends_the_line_spaces_separate_tabs_do_not() {
        assert_eq!(split(b"MAIL  FROM:<a>"), (&b"MAIL"[..], &b"FROM:<a>"[..]));
        assert_eq!(split(b"USER\tjoe"), (&b"USER\tjoe"[..], &b""[..]));
        assert_eq!(split(b"QUIT\0 x"), (&b"QUIT"[..], &b""[..]));
        assert_eq!(split(b"NOOP   "), (&b"NOOP"[..], &b""[..]));
        assert_eq!(split(b""), (&b""[..], &b""[..]));
    }
}
