//! SMTP command lines: collecting them from a byte stream and splitting
//! them into verb and argument, as qmail's `commands.c` does (spec §7.2).
//!
//! qmail has **no length limit** on a command line; it grows a buffer
//! until the newline. We must not let memory grow with input, so a line
//! keeps at most [`MAX_LINE`] bytes and the rest of it, up to the newline,
//! is consumed and dropped; the command is then run on the kept prefix.
//! Every reply qmail can give depends only on the start of a line for
//! lines far shorter than that (an address over 899 bytes is a syntax
//! error anyway), so the only visible difference is a HELO argument longer
//! than [`MAX_LINE`] being cut short in the Received line.

/// Bytes of one command line kept; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 16 * 1024;

/// Collects one command line at a time, across reads.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// The line was longer than [`MAX_LINE`]; bytes were dropped.
    overflow: bool,
    /// The last byte of the line seen so far (kept or not).
    last: Option<u8>,
}

impl LineBuffer {
    /// Takes bytes of `input` into the current line. Returns how many bytes
    /// were consumed and, if a `\n` ended the line, the complete line
    /// (without the `\n` and without one trailing `\r`).
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Vec<u8>>) {
        let (part, done) = match input.iter().position(|&c| c == b'\n') {
            Some(i) => (&input[..i], true),
            None => (input, false),
        };
        let room = MAX_LINE - self.buf.len();
        if part.len() > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&part[..part.len().min(room)]);
        if let Some(&c) = part.last() {
            self.last = Some(c);
        }
        if !done {
            return (input.len(), None);
        }
        let mut line = std::mem::take(&mut self.buf);
        // One trailing CR is removed. When the line was cut short, its real
        // last byte is not in the kept prefix, so nothing is removed.
        if !self.overflow && self.last == Some(b'\r') {
            line.pop();
        }
        self.overflow = false;
        self.last = None;
        (part.len() + 1, Some(line))
    }

    /// Bytes currently held (for tests of the memory bound).
    pub fn held(&self) -> usize {
        self.buf.len()
    }
}

/// The verbs qmail-smtpd knows; everything else is [`Verb::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Rcpt,
    Mail,
    Data,
    Quit,
    Helo,
    Ehlo,
    Rset,
    Help,
    Noop,
    Vrfy,
    /// Only known when enabled (see [`super::extensions`]); otherwise
    /// answered like an unknown verb.
    StartTls,
    Auth,
    Unknown,
}

/// Splits a command line (CR already removed) into verb and argument, as
/// [`crate::commands::split`] does; the verb is compared without regard
/// to case.
pub fn parse(line: &[u8]) -> (Verb, &[u8]) {
    let (verb, arg) = crate::commands::split(line);
    let verb = match verb.to_ascii_lowercase().as_slice() {
        b"rcpt" => Verb::Rcpt,
        b"mail" => Verb::Mail,
        b"data" => Verb::Data,
        b"quit" => Verb::Quit,
        b"helo" => Verb::Helo,
        b"ehlo" => Verb::Ehlo,
        b"rset" => Verb::Rset,
        b"help" => Verb::Help,
        b"noop" => Verb::Noop,
        b"vrfy" => Verb::Vrfy,
        b"starttls" => Verb::StartTls,
        b"auth" => Verb::Auth,
        _ => Verb::Unknown,
    };
    (verb, arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Vec<u8>> {
        let mut lb = LineBuffer::default();
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let (n, l) = lb.push(&input[i..]);
            i += n;
            out.extend(l);
        }
        out
    }

    #[test]
    fn one_trailing_cr_is_removed() {
        assert_eq!(
            lines(b"a\r\nb\r\r\nc\n"),
            vec![b"a".to_vec(), b"b\r".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn lines_span_reads() {
        let mut lb = LineBuffer::default();
        assert_eq!(lb.push(b"NO"), (2, None));
        assert_eq!(lb.push(b"OP\r"), (3, None));
        assert_eq!(lb.push(b"\nQUIT"), (1, Some(b"NOOP".to_vec())));
    }

    #[test]
    fn overlong_line_is_cut_and_consumed_to_newline() {
        let mut lb = LineBuffer::default();
        let chunk = vec![b'x'; 4096];
        for _ in 0..100 {
            assert_eq!(lb.push(&chunk), (4096, None));
            assert!(lb.held() <= MAX_LINE);
        }
        let (n, l) = lb.push(b"yy\r\nNOOP\r\n");
        assert_eq!(n, 4);
        assert_eq!(l.unwrap().len(), MAX_LINE);
        assert_eq!(lb.push(b"NOOP\r\n").1.unwrap(), b"NOOP");
    }

    #[test]
    fn verbs_are_case_insensitive_and_split_on_space_only() {
        assert_eq!(parse(b"mAiL FROM:<a@b>"), (Verb::Mail, &b"FROM:<a@b>"[..]));
        assert_eq!(parse(b"HELO    x y "), (Verb::Helo, &b"x y "[..]));
        assert_eq!(parse(b"HELO\tx").0, Verb::Unknown);
        assert_eq!(parse(b"").0, Verb::Unknown);
        assert_eq!(parse(b"QUIT"), (Verb::Quit, &b""[..]));
    }

    #[test]
    fn a_nul_ends_the_line() {
        assert_eq!(parse(b"NOOP\0junk"), (Verb::Noop, &b""[..]));
        assert_eq!(parse(b"HELO a\0b"), (Verb::Helo, &b"a"[..]));
    }
}
