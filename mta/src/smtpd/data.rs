//! The DATA decoder: qmail-smtpd's `blast` (spec §7.6), one byte at a
//! time, resumable across reads so the message streams through.
//!
//! Hand-written to be byte-exact with qmail's state machine, including
//! its treatment of "smuggling" shapes: a bare LF anywhere is fatal, a
//! lone CR is data, a line-start `.` is always removed, and `.` CR not
//! followed by LF keeps both bytes.
//!
//! Two counters run beside the decoder:
//! * hops: header lines (raw bytes, before the first raw CRLF-only line)
//!   starting with `received` or `delivered` in any case (spec §7.6);
//! * size: decoded bytes against `databytes` (qmail's `bytestooverflow`).

/// A message with this many hops is refused as looping.
pub const MAX_HOPS: u32 = 100;

/// How a call to [`Decoder::decode`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All input consumed; the message goes on.
    More,
    /// The terminating `.` line ended after `consumed` bytes.
    End { consumed: usize },
    /// A bare LF at byte `consumed - 1`: reply 451 and close.
    BareLf { consumed: usize },
}

/// Decoder state (qmail's `state` 0–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the middle of a line.
    Mid,
    /// At the start of a line (after CR LF, or at the start of data).
    LineStart,
    /// Line start, then `.`.
    Dot,
    /// Line start, `.`, CR.
    DotCr,
    /// After a CR.
    Cr,
}

/// One message's decoding state.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    in_header: bool,
    /// Bytes since the last raw LF, stopping at 9 (netqmail's fix for the
    /// counter overflow on huge header lines, spec §12.2).
    pos: usize,
    maybe_received: bool,
    maybe_crlf: bool,
    maybe_delivered: bool,
    hops: u32,
    /// qmail's `bytestooverflow`: 0 = no limit; reaching 0 by counting
    /// down means the limit was exceeded.
    to_overflow: u64,
    overflowed: bool,
}

impl Decoder {
    /// `databytes` 0 means no limit.
    pub fn new(databytes: u64) -> Decoder {
        Decoder {
            state: State::LineStart,
            in_header: true,
            pos: 0,
            maybe_received: true,
            maybe_crlf: true,
            maybe_delivered: true,
            hops: 0,
            to_overflow: if databytes == 0 {
                0
            } else {
                databytes.saturating_add(1)
            },
            overflowed: false,
        }
    }

    pub fn hops(&self) -> u32 {
        self.hops
    }
    /// The message has reached [`MAX_HOPS`].
    pub fn looping(&self) -> bool {
        self.hops >= MAX_HOPS
    }
    /// The decoded message is larger than `databytes`.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
    /// The message will be refused whatever follows, so its bytes need
    /// not reach qmail-queue any more (qmail's `qmail_fail`).
    pub fn failed(&self) -> bool {
        self.overflowed || self.looping()
    }

    /// Decodes `input`, appending message bytes to `out` (nothing once
    /// [`failed`](Self::failed)).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Outcome {
        for (i, &ch) in input.iter().enumerate() {
            if self.in_header {
                self.count_hops(ch);
            }
            let consumed = i + 1;
            match self.state {
                State::Mid => {
                    if ch == b'\n' {
                        return Outcome::BareLf { consumed };
                    }
                    if ch == b'\r' {
                        self.state = State::Cr;
                        continue;
                    }
                }
                State::LineStart => {
                    if ch == b'\n' {
                        return Outcome::BareLf { consumed };
                    }
                    if ch == b'.' {
                        self.state = State::Dot;
                        continue;
                    }
                    if ch == b'\r' {
                        self.state = State::Cr;
                        continue;
                    }
                    self.state = State::Mid;
                }
                State::Dot => {
                    if ch == b'\n' {
                        return Outcome::BareLf { consumed };
                    }
                    if ch == b'\r' {
                        self.state = State::DotCr;
                        continue;
                    }
                    // The leading dot is dropped, whatever follows.
                    self.state = State::Mid;
                }
                State::DotCr => {
                    if ch == b'\n' {
                        return Outcome::End { consumed };
                    }
                    self.put(b'.', out);
                    self.put(b'\r', out);
                    if ch == b'\r' {
                        self.state = State::Cr;
                        continue;
                    }
                    self.state = State::Mid;
                }
                State::Cr => {
                    if ch == b'\n' {
                        // CR LF is stored as LF.
                        self.state = State::LineStart;
                    } else if ch != b'\r' {
                        self.put(b'\r', out);
                        self.state = State::Mid;
                    } else {
                        // CR CR: the first is data, the second may start
                        // a CR LF. (qmail stores this CR and stays in
                        // state 4.)
                    }
                }
            }
            self.put(ch, out);
        }
        Outcome::More
    }

    fn put(&mut self, ch: u8, out: &mut Vec<u8>) {
        if self.to_overflow > 0 {
            self.to_overflow -= 1;
            if self.to_overflow == 0 {
                self.overflowed = true;
            }
        }
        if !self.failed() {
            out.push(ch);
        }
    }

    /// qmail's hop counter, on raw bytes: a header line counts if it
    /// starts with `received` (8 letters) or `delivered` (9 letters), any
    /// case per letter; a raw CR LF line ends the header.
    fn count_hops(&mut self, ch: u8) {
        const RECEIVED: &[u8; 8] = b"received";
        const DELIVERED: &[u8; 9] = b"delivered";
        if self.pos < 9 {
            let pos = self.pos;
            if ch.to_ascii_lowercase() != DELIVERED[pos] {
                self.maybe_delivered = false;
            }
            if self.maybe_delivered && pos == 8 {
                self.hops += 1;
            }
            if pos < 8 {
                if ch.to_ascii_lowercase() != RECEIVED[pos] {
                    self.maybe_received = false;
                }
                if self.maybe_received && pos == 7 {
                    self.hops += 1;
                }
            }
            if pos < 2 && ch != b"\r\n"[pos] {
                self.maybe_crlf = false;
            }
            if self.maybe_crlf && pos == 1 {
                self.in_header = false;
            }
            self.pos += 1;
        }
        if ch == b'\n' {
            self.pos = 0;
            self.maybe_received = true;
            self.maybe_crlf = true;
            self.maybe_delivered = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], databytes: u64) -> (Vec<u8>, Outcome, Decoder) {
        let mut d = Decoder::new(databytes);
        let mut out = Vec::new();
        let o = d.decode(input, &mut out);
        (out, o, d)
    }

    fn body(input: &[u8]) -> Vec<u8> {
        let (out, o, _) = run(input, 0);
        assert!(matches!(o, Outcome::End { consumed } if consumed == input.len()));
        out
    }

    #[test]
    fn crlf_becomes_lf_and_dots_are_unstuffed() {
        assert_eq!(body(b"a\r\n..b\r\n.c\r\n.\r\n"), b"a\n.b\nc\n");
        assert_eq!(body(b".\r\n"), b"");
    }

    #[test]
    fn lone_cr_is_data_and_cr_cr_lf_keeps_one_cr() {
        assert_eq!(body(b"a\rb\r\n.\r\n"), b"a\rb\n");
        assert_eq!(body(b"a\r\r\n.\r\n"), b"a\r\n");
    }

    #[test]
    fn dot_cr_not_followed_by_lf_keeps_both() {
        assert_eq!(body(b".\rx\r\n.\r\n"), b".\rx\n");
        assert_eq!(body(b".\r\r\n.\r\n"), b".\r\n");
    }

    #[test]
    fn bare_lf_anywhere_is_fatal() {
        for input in [&b"a\nb"[..], b"\n", b".\n", b"a\r\n\n", b"a\r\n.\n"] {
            let (_, o, _) = run(input, 0);
            assert!(matches!(o, Outcome::BareLf { .. }), "{input:?}");
        }
    }

    #[test]
    fn smuggling_shapes_do_not_end_the_message() {
        // <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF>: never a terminator.
        for input in [&b"a\r\n\r.\r"[..], b"a\r.\rb"] {
            let (_, o, _) = run(input, 0);
            assert_eq!(o, Outcome::More, "{input:?}");
        }
        assert_eq!(body(b"a\r.\rb\r\n.\r\n"), b"a\r.\rb\n");
    }

    #[test]
    fn resumes_across_chunks() {
        let input = b"Subject: x\r\n\r\n..dots\r\nbody\r\n.\r\n";
        let mut d = Decoder::new(0);
        let mut out = Vec::new();
        for (i, b) in input.iter().enumerate() {
            let o = d.decode(std::slice::from_ref(b), &mut out);
            if i + 1 < input.len() {
                assert_eq!(o, Outcome::More);
            } else {
                assert_eq!(o, Outcome::End { consumed: 1 });
            }
        }
        assert_eq!(out, b"Subject: x\n\n.dots\nbody\n");
    }

    #[test]
    fn hops_count_received_and_delivered_in_header_only() {
        let (_, _, d) = run(
            b"Received: a\r\nRECEIVEDx\r\nDelivered-To: b\r\nreceive\r\n\r\nReceived: c\r\n.\r\n",
            0,
        );
        assert_eq!(d.hops(), 3);
        let many = "Received: x\r\n".repeat(100) + ".\r\n";
        let (_, _, d) = run(many.as_bytes(), 0);
        assert!(d.looping());
        let fewer = "Received: x\r\n".repeat(99) + ".\r\n";
        let (out, _, d) = run(fewer.as_bytes(), 0);
        assert!(!d.looping());
        assert_eq!(out.len(), 99 * 12);
    }

    #[test]
    fn databytes_counts_decoded_bytes() {
        // "0123456789\n" decodes to 11 bytes.
        let (_, _, d) = run(b"012345678\r\n.\r\n", 10);
        assert!(!d.overflowed());
        let (_, _, d) = run(b"0123456789\r\n.\r\n", 10);
        assert!(d.overflowed());
        let (_, _, d) = run(b"..\r\n.\r\n", 2);
        assert!(!d.overflowed());
    }
}
