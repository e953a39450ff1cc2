//! qmail-inject, the sendmail wrapper and mailq: the local front doors
//! (spec §8, §7.8, Appendix A).
//!
//! ## Tour
//! - [`env`]: the environment variables of spec §8.2, read once from a
//!   [`env::Vars`] snapshot (which the sendmail wrapper may adjust).
//! - [`token`]: RFC 822 tokens, address lists and qmail's re-serialisation.
//! - [`address`]: the address rewriting of spec §8.3 (defaulthost,
//!   defaultdomain, plusdomain).
//! - [`fields`]: where the header ends and which fields qmail knows.
//! - [`header`]: header processing and the added fields (spec §8.4, §8.5).
//! - [`newfield`]: the exact `Date:` and `Message-ID:` formats.
//! - [`options`]: qmail's getopt, and the options of qmail-inject and
//!   sendmail (spec §8.1, §8.6).
//! - [`run`]: qmail-inject's main: options, header, queue (through
//!   [`crate::queue::client`], so `QMAILQUEUE` is honoured) or `-n` print.
//! - [`sendmail`]: the wrapper: `-t`, `-f`, `-F`, `-bp` (qmail-qread),
//!   `-bs` (qmail-smtpd on stdio, in this process), ignored flags.
//!
//! ## Invariants
//! - Nothing is queued unless the whole header was processed without a
//!   fatal error and the whole input was read.
//! - Every fatal error names what was wrong and exits 100 (permanent:
//!   usage, syntax, permanent qq failure) or 111 (temporary).

pub mod address;
pub mod env;
pub mod fields;
pub mod header;
pub mod newfield;
pub mod options;
pub mod run;
pub mod sendmail;
pub mod token;

use crate::control::ControlError;
use crate::queue::client::QqError;

/// Why qmail-inject gave up. [`InjectError::stderr`] is qmail's text.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// An unknown option or a missing option argument; getopt's line.
    #[error("{0}")]
    Usage(String),
    /// A header field (or `-f` address, or control value) that is not RFC
    /// 822 as qmail reads it.
    #[error("unable to parse this line: {}", String::from_utf8_lossy(.0).trim_end())]
    ParseLine(Vec<u8>),
    #[error("invalid header field: {}", String::from_utf8_lossy(.0).trim_end())]
    InvalidField(Vec<u8>),
    /// A command-line recipient that does not parse.
    #[error("unable to parse address: {}", String::from_utf8_lossy(.0))]
    ParseAddress(Vec<u8>),
    #[error("read error: {0}")]
    Read(#[source] std::io::Error),
    #[error("read error: {0}")]
    Control(#[from] ControlError),
    /// `-n` output could not be written.
    #[error("write error: {0}")]
    Write(#[source] std::io::Error),
    #[error("unable to run qmail-queue")]
    QueueStart,
    /// qmail-queue (or `QMAILQUEUE`) refused the message.
    #[error("{0}")]
    Queue(QqError),
}

impl InjectError {
    pub fn is_permanent(&self) -> bool {
        match self {
            InjectError::Usage(_)
            | InjectError::ParseLine(_)
            | InjectError::InvalidField(_)
            | InjectError::ParseAddress(_) => true,
            InjectError::Queue(e) => e.permanent,
            _ => false,
        }
    }

    /// qmail's exit codes: 100 permanent, 111 temporary.
    pub fn exit_code(&self) -> i32 {
        if self.is_permanent() {
            100
        } else {
            111
        }
    }

    /// The bytes qmail-inject writes to stderr.
    pub fn stderr(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let line = |v: &mut Vec<u8>, s: &[u8]| {
            v.extend_from_slice(s);
            if s.last() != Some(&b'\n') {
                v.push(b'\n');
            }
        };
        match self {
            InjectError::Usage(s) => line(&mut v, s.as_bytes()),
            InjectError::ParseLine(l) => {
                v.extend_from_slice(b"qmail-inject: fatal: unable to parse this line:\n");
                line(&mut v, l);
            }
            InjectError::InvalidField(l) => {
                v.extend_from_slice(b"qmail-inject: fatal: invalid header field: ");
                line(&mut v, l);
            }
            InjectError::ParseAddress(a) => {
                v.extend_from_slice(b"qmail-inject: fatal: unable to parse address: ");
                line(&mut v, a);
            }
            other => line(&mut v, format!("qmail-inject: fatal: {other}").as_bytes()),
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_exit_codes() {
        let e = InjectError::ParseLine(b"To: (x\n".to_vec());
        assert_eq!(
            e.stderr(),
            b"qmail-inject: fatal: unable to parse this line:\nTo: (x\n"
        );
        assert_eq!(e.exit_code(), 100);
        let e = InjectError::QueueStart;
        assert_eq!(
            e.stderr(),
            b"qmail-inject: fatal: unable to run qmail-queue\n"
        );
        assert_eq!(e.exit_code(), 111);
        let e = InjectError::Queue(QqError {
            permanent: true,
            text: "mail server permanently rejected message (#5.3.0)".into(),
        });
        assert_eq!(
            e.stderr(),
            b"qmail-inject: fatal: mail server permanently rejected message (#5.3.0)\n"
        );
        assert_eq!(e.exit_code(), 100);
    }
}
