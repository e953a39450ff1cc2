//! POP3 command lines, split as qmail's `commands.c` splits them (spec
//! §11.1, §11.3): the verb is everything before the first space, compared
//! without regard to case; the argument is the rest after the spaces. The
//! line ends at its first NUL (qmail works on C strings) and one trailing
//! CR is removed (done by [`crate::smtpd::command::LineBuffer`], which we
//! share with qmail-smtpd; it also bounds the memory a line can take).

use std::time::Duration;

pub use crate::smtpd::command::LineBuffer;

/// qmail-popup's and qmail-pop3d's idle timeout on reads and writes
/// (spec §11.1, §11.3: 1200 s, compiled in).
pub const TIMEOUT_SECS: u64 = 1200;

/// The idle timeout. qmail's is compiled in; we read `MTA_POP3_TIMEOUT`
/// (seconds, > 0) so that tests can see a timeout without waiting 20
/// minutes. Unset or invalid: 1200 s.
pub fn timeout() -> Duration {
    let secs = std::env::var("MTA_POP3_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(TIMEOUT_SECS);
    Duration::from_secs(secs)
}

/// Splits a line (CR already removed) into the lower-cased verb and the
/// argument.
pub fn split(line: &[u8]) -> (Vec<u8>, &[u8]) {
    let (verb, arg) = crate::commands::split(line);
    (verb.to_ascii_lowercase(), arg)
}

/// qmail's `scan_ulong`: the value of the leading decimal digits and how
/// many there were. qmail's value wraps on overflow; ours saturates, which
/// only matters for numbers beyond 2^64 (they are "too big" either way).
pub fn scan_ulong(s: &[u8]) -> (u64, usize) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let v = s[..n].iter().fold(0u64, |acc, &c| {
        acc.saturating_mul(10).saturating_add(u64::from(c - b'0'))
    });
    (v, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verb_is_lowercased_and_argument_follows_spaces() {
        assert_eq!(split(b"uSeR   joe x"), (b"user".to_vec(), &b"joe x"[..]));
        assert_eq!(split(b"STAT"), (b"stat".to_vec(), &b""[..]));
        assert_eq!(split(b"LIST \0 3"), (b"list".to_vec(), &b""[..]));
        assert_eq!(split(b"RETR\t1").0, b"retr\t1".to_vec());
    }

    #[test]
    fn scan_ulong_reads_leading_digits() {
        assert_eq!(scan_ulong(b"12ab"), (12, 2));
        assert_eq!(scan_ulong(b"x1"), (0, 0));
        assert_eq!(scan_ulong(b""), (0, 0));
        assert_eq!(scan_ulong(b"99999999999999999999999").0, u64::MAX);
    }
}
