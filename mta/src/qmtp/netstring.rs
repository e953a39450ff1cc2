//! Netstrings (spec §10.1): `<decimal length>:<bytes>,`, decoded
//! incrementally and without I/O.
//!
//! Hand-written rather than taken from a crate because the QMTP/QMQP
//! servers must fail exactly where qmail does: qmail's `getlen` gives up
//! with "resources" (exit 111) once the length passes 200000000 and another
//! byte arrives, notqmail rejects any non-digit before `:` (exit 100), and
//! a missing `,` is a protocol error (exit 100). Leading zeros are
//! accepted, as qmail accepts them.
//!
//! The [`Decoder`] never buffers: it hands out the payload as borrowed
//! slices of the input ([`Event::Data`]), so its memory is a few counters
//! however long the netstring is. [`Capture`] collects a short payload (an
//! address) up to a bound and only remembers that the rest was too long.

/// qmail's `getlen` refuses to go on once the value exceeds this.
pub const LEN_LIMIT: u64 = 200_000_000;

/// Why a byte stream is not a netstring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NetstringError {
    #[error("netstring length contains the non-digit byte {0:#04x}")]
    NotDigit(u8),
    #[error("netstring length exceeds {LEN_LIMIT}")]
    TooLong,
    #[error("netstring ends with byte {0:#04x} instead of ','")]
    MissingComma(u8),
}

impl NetstringError {
    /// qmail's exit code: an absurd length is a resource problem (111),
    /// bad syntax a protocol error (100).
    pub fn exit_code(&self) -> i32 {
        match self {
            NetstringError::TooLong => 111,
            _ => 100,
        }
    }
}

/// Reads the decimal length up to and including its `:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Length {
    value: u64,
    /// Bytes consumed so far (digits), to tell "nothing read" apart.
    seen: u64,
}

impl Length {
    pub fn new() -> Length {
        Length::default()
    }

    /// Takes one byte; `Some(len)` once the `:` arrives. The limit test
    /// comes first, as in notqmail's `getlen` (`if (len > 200000000)
    /// resources()`), so a too-long length fails even when the next byte
    /// is the `:`.
    pub fn push(&mut self, b: u8) -> Result<Option<u64>, NetstringError> {
        if self.value > LEN_LIMIT {
            return Err(NetstringError::TooLong);
        }
        if b == b':' {
            return Ok(Some(self.value));
        }
        if !b.is_ascii_digit() {
            return Err(NetstringError::NotDigit(b));
        }
        self.value = self.value * 10 + u64::from(b - b'0');
        self.seen += 1;
        Ok(None)
    }

    /// No byte consumed yet.
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }
}

/// What [`Decoder::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The length was read; the payload has this many bytes.
    Start(u64),
    /// The next piece of the payload (never empty).
    Data(&'a [u8]),
    /// The closing `,` was read; the decoder is back at its start.
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Len(Length),
    Body(u64),
    Comma,
}

/// Decodes one netstring after another from a stream given in pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            state: State::Len(Length::new()),
        }
    }

    /// A decoder that has already read `<len>:` (for a caller that parsed
    /// the length itself).
    pub fn with_length(len: u64) -> Decoder {
        Decoder {
            state: if len == 0 {
                State::Comma
            } else {
                State::Body(len)
            },
        }
    }

    /// Decodes from the front of `input`. Returns how many bytes were
    /// used and the event they completed, if any; `(n, None)` means all
    /// `n == input.len()` bytes were absorbed into the length.
    pub fn next<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Event<'a>>), NetstringError> {
        match &mut self.state {
            State::Len(len) => {
                for (i, &b) in input.iter().enumerate() {
                    if let Some(n) = len.push(b)? {
                        self.state = if n == 0 { State::Comma } else { State::Body(n) };
                        return Ok((i + 1, Some(Event::Start(n))));
                    }
                }
                Ok((input.len(), None))
            }
            State::Body(left) => {
                if input.is_empty() {
                    return Ok((0, None));
                }
                let take = usize::try_from(*left).map_or(input.len(), |l| l.min(input.len()));
                *left -= take as u64;
                if *left == 0 {
                    self.state = State::Comma;
                }
                Ok((take, Some(Event::Data(&input[..take]))))
            }
            State::Comma => match input.first() {
                None => Ok((0, None)),
                Some(b',') => {
                    self.state = State::Len(Length::new());
                    Ok((1, Some(Event::End)))
                }
                Some(&b) => Err(NetstringError::MissingComma(b)),
            },
        }
    }

    /// Between netstrings, with no byte of the next length read.
    pub fn is_idle(&self) -> bool {
        matches!(&self.state, State::Len(l) if l.is_empty())
    }

    /// Payload bytes still to come in the current netstring (0 outside a
    /// payload).
    pub fn remaining(&self) -> u64 {
        match self.state {
            State::Body(n) => n,
            _ => 0,
        }
    }
}

/// Collects a payload of at most `max` bytes; a longer one is skipped and
/// only remembered as too long (qmail reads such addresses into nowhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    buf: Vec<u8>,
    max: usize,
    too_long: bool,
}

impl Capture {
    /// For a payload of `len` bytes, keeping at most `max`.
    pub fn new(len: u64, max: usize) -> Capture {
        let too_long = len > max as u64;
        let cap = if too_long { 0 } else { len as usize };
        Capture {
            buf: Vec::with_capacity(cap),
            max,
            too_long,
        }
    }

    /// Marks the payload as unwanted whatever its length (qmail skips a
    /// recipient that would be too long with RELAYCLIENT appended).
    pub fn skip(mut self) -> Capture {
        self.too_long = true;
        self.buf = Vec::new();
        self
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.too_long || self.buf.len() + data.len() > self.max {
            self.too_long = true;
            self.buf.clear();
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes of memory held (never more than the bound).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// The bytes, or `None` if the payload exceeded the bound.
    pub fn finish(self) -> Option<Vec<u8>> {
        (!self.too_long).then_some(self.buf)
    }
}

/// Appends the netstring of `s` to `out`.
pub fn encode_into(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(s);
    out.push(b',');
}

/// The netstring of `s`.
pub fn encode(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 12);
    encode_into(&mut v, s);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes all netstrings in `input` given in pieces of `step` bytes.
    fn decode_all(input: &[u8], step: usize) -> Result<Vec<Vec<u8>>, NetstringError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut cur = Vec::new();
        for piece in input.chunks(step) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (n, ev) = d.next(rest)?;
                rest = &rest[n..];
                match ev {
                    Some(Event::Start(_)) => cur.clear(),
                    Some(Event::Data(b)) => cur.extend_from_slice(b),
                    Some(Event::End) => out.push(std::mem::take(&mut cur)),
                    None => {}
                }
            }
        }
        assert!(d.is_idle(), "input ended inside a netstring");
        Ok(out)
    }

    #[test]
    fn encodes_like_the_spec() {
        assert_eq!(encode(b""), b"0:,");
        assert_eq!(encode(b"hello world!"), b"12:hello world!,");
    }

    #[test]
    fn decodes_in_any_piece_size() {
        let mut input = Vec::new();
        for s in [&b"a"[..], b"", b"hello, world", &[b'x'; 300]] {
            encode_into(&mut input, s);
        }
        for step in [1, 2, 3, 7, 1000] {
            let got = decode_all(&input, step).unwrap();
            assert_eq!(got.len(), 4);
            assert_eq!(got[2], b"hello, world");
            assert_eq!(got[3].len(), 300);
        }
        // Leading zeros are accepted, as by qmail.
        assert_eq!(decode_all(b"003:abc,", 1).unwrap(), [b"abc"]);
    }

    #[test]
    fn rejects_bad_framing() {
        assert_eq!(
            decode_all(b"3:abc;", 4),
            Err(NetstringError::MissingComma(b';'))
        );
        assert_eq!(
            decode_all(b"3x:abc,", 4),
            Err(NetstringError::NotDigit(b'x'))
        );
        assert_eq!(decode_all(b"-1:", 4), Err(NetstringError::NotDigit(b'-')));
        assert_eq!(NetstringError::NotDigit(b'x').exit_code(), 100);
    }

    #[test]
    fn length_limit_is_qmails() {
        // 200000000 itself and 2000000009 (one digit after reaching the
        // limit) are accepted as lengths; one more byte of either kind fails.
        let mut l = Length::new();
        for &b in b"200000000" {
            assert_eq!(l.push(b), Ok(None));
        }
        assert_eq!(l.push(b':'), Ok(Some(200_000_000)));
        let mut l = Length::new();
        for &b in b"2000000009" {
            assert_eq!(l.push(b), Ok(None));
        }
        assert_eq!(l.push(b':'), Err(NetstringError::TooLong));
        assert_eq!(NetstringError::TooLong.exit_code(), 111);
        // Never overflows, whatever the number of digits.
        let mut l = Length::new();
        let r: Result<Vec<_>, _> = std::iter::repeat_n(b'9', 40).map(|b| l.push(b)).collect();
        assert_eq!(r, Err(NetstringError::TooLong));
    }

    #[test]
    fn data_never_exceeds_the_declared_length() {
        let mut d = Decoder::new();
        assert_eq!(d.next(b"2:abcd"), Ok((2, Some(Event::Start(2)))));
        assert_eq!(d.remaining(), 2);
        assert_eq!(d.next(b"abcd"), Ok((2, Some(Event::Data(b"ab")))));
        assert!(!d.is_idle());
        assert_eq!(d.next(b","), Ok((1, Some(Event::End))));
        assert!(d.is_idle());
        assert_eq!(d.next(b"1"), Ok((1, None)));
        assert!(!d.is_idle());
    }

    #[test]
    fn capture_is_bounded() {
        let mut c = Capture::new(3, 5);
        c.push(b"abc");
        assert_eq!(c.finish(), Some(b"abc".to_vec()));
        let mut c = Capture::new(6, 5);
        c.push(b"abcdef");
        assert_eq!(c.finish(), None);
        // A wrong declared length cannot make it grow past the bound.
        let mut c = Capture::new(1, 2);
        c.push(b"ab");
        c.push(b"c");
        assert_eq!(c.finish(), None);
    }
}
