//! The message encoder of qmail-pop3d's RETR and TOP (spec §11.3,
//! qmail-pop3d.c `blast`), as a streaming state machine without I/O.
//!
//! * Each LF becomes CRLF (a CR already before the LF stays, giving
//!   CR CR LF, as in qmail: the maildir file is supposed to have LF ends).
//! * A line starting with `.` gets another `.` in front, in the header too.
//! * With a limit of `k` body lines (TOP), the output stops after the
//!   header, the empty line and `k` lines.
//! * A last line without LF is ended with CRLF.
//! * The end is `\r\n.\r\n`: an **extra empty line** before the dot, a
//!   netqmail quirk clients live with.
//!
//! Memory does not grow with line length: only "am I at the start of a
//! line" is remembered between pieces.

/// Encodes one message.
#[derive(Debug)]
pub struct Blast {
    /// qmail's `limit`: 0 = everything, else body lines + 1.
    limit: u64,
    in_header: bool,
    at_line_start: bool,
    done: bool,
}

impl Blast {
    /// `body_lines`: `None` for the whole message (RETR), `Some(k)` for
    /// the header and `k` body lines (TOP).
    pub fn new(body_lines: Option<u64>) -> Blast {
        Blast {
            limit: body_lines.map_or(0, |k| k.saturating_add(1)),
            in_header: true,
            at_line_start: true,
            done: false,
        }
    }

    /// True once the limit is reached: the rest of the file is not needed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Encodes a piece of the file into `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() && !self.done {
            if self.at_line_start {
                // A line begins: count it against the limit (body lines
                // only; the empty line ending the header still counts as
                // header here, exactly as qmail's order of tests does).
                if self.limit > 0 && !self.in_header {
                    self.limit -= 1;
                    if self.limit == 0 {
                        self.done = true;
                        return;
                    }
                }
                match input[0] {
                    b'\n' => {
                        self.in_header = false;
                        out.extend_from_slice(b"\r\n");
                        input = &input[1..];
                        continue;
                    }
                    b'.' => out.push(b'.'),
                    _ => {}
                }
                self.at_line_start = false;
            }
            match input.iter().position(|&c| c == b'\n') {
                Some(i) => {
                    out.extend_from_slice(&input[..i]);
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                    input = &input[i + 1..];
                }
                None => {
                    out.extend_from_slice(input);
                    input = &[];
                }
            }
        }
    }

    /// Ends the message: closes a last line without LF, then `\r\n.\r\n`.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start && !self.done {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n.\r\n");
    }
}

/// Encodes a whole message in memory (tests, small messages).
pub fn encode(message: &[u8], body_lines: Option<u64>) -> Vec<u8> {
    let mut b = Blast::new(body_lines);
    let mut out = Vec::new();
    b.feed(message, &mut out);
    b.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Subject: x\n.hidden: h\n\nline 1\n.dot\n..two\nline 4\n";

    #[test]
    fn retr_converts_lf_stuffs_dots_and_adds_an_empty_line() {
        assert_eq!(
            encode(MSG, None),
            b"Subject: x\r\n..hidden: h\r\n\r\nline 1\r\n..dot\r\n...two\r\nline 4\r\n\r\n.\r\n"
        );
    }

    #[test]
    fn top_limits_body_lines() {
        assert_eq!(
            encode(MSG, Some(0)),
            b"Subject: x\r\n..hidden: h\r\n\r\n\r\n.\r\n"
        );
        assert_eq!(
            encode(MSG, Some(2)),
            b"Subject: x\r\n..hidden: h\r\n\r\nline 1\r\n..dot\r\n\r\n.\r\n"
        );
        assert_eq!(encode(MSG, Some(100)), encode(MSG, None));
    }

    #[test]
    fn piecewise_feeding_gives_the_same_bytes() {
        for limit in [None, Some(0), Some(1), Some(3)] {
            let whole = encode(MSG, limit);
            let mut b = Blast::new(limit);
            let mut out = Vec::new();
            for byte in MSG {
                b.feed(std::slice::from_ref(byte), &mut out);
            }
            b.finish(&mut out);
            assert_eq!(out, whole, "limit {limit:?}");
        }
    }

    #[test]
    fn last_line_without_lf_and_empty_file() {
        assert_eq!(encode(b"a\n\nb", None), b"a\r\n\r\nb\r\n\r\n.\r\n");
        assert_eq!(encode(b"", None), b"\r\n.\r\n");
        assert_eq!(encode(b".", None), b"..\r\n\r\n.\r\n");
    }

    #[test]
    fn crlf_in_the_file_becomes_cr_cr_lf() {
        assert_eq!(encode(b"a\r\n", None), b"a\r\r\n\r\n.\r\n");
    }

    #[test]
    fn done_after_the_limit() {
        let mut b = Blast::new(Some(1));
        let mut out = Vec::new();
        b.feed(b"h: 1\n\nb1\n", &mut out);
        assert!(!b.is_done());
        b.feed(b"b2\n", &mut out);
        assert!(b.is_done());
    }
}
