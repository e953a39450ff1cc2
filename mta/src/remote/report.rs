//! qmail-remote's output on fd 1 (spec §1.5, §6, Appendix C).
//!
//! Zero or more recipient reports (`r`, `h<text>`, `s<text>`) followed by
//! exactly one message report (`K`, `Z` or `D` and a text), each terminated
//! by a NUL byte. qmail-remote always exits 0; everything it has to say is
//! in these bytes.
//!
//! Every fixed text lives here, byte for byte as in netqmail's
//! `qmail-remote.c`, so the catalogue in Appendix C can be checked against
//! one file.

use std::net::Ipv4Addr;

/// The reports of one qmail-remote run, in the order they were made.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    bytes: Vec<u8>,
}

impl Output {
    pub fn new() -> Output {
        Output::default()
    }

    /// Appends one report: its letter, its text, then NUL.
    pub fn push(&mut self, letter: u8, text: &[u8]) {
        self.bytes.push(letter);
        self.bytes.extend_from_slice(text);
        self.bytes.push(0);
    }

    /// Appends the message report for a run that ended before or without an
    /// SMTP dialogue.
    pub fn fatal(&mut self, f: &Fatal) {
        let (letter, text) = f.report();
        self.push(letter, &text);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The message reports that end qmail-remote outside the SMTP dialogue,
/// one per `temp_*`/`perm_*` function of `qmail-remote.c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fatal {
    /// Fewer than three arguments.
    Usage,
    /// `chdir(QMAILHOME)` failed.
    NoHome,
    /// A control file could not be read, or neither helohost nor me exists.
    Control,
    /// Interface enumeration or socket creation failed.
    OsError,
    /// A temporary DNS failure (or soft MX targets and no address).
    DnsTemporary,
    /// The host (or relay) does not exist; the name as given.
    DnsPermanent(Vec<u8>),
    /// DNS succeeded but gave no address.
    NoMx,
    /// Every address left is ours or worse (spec §6.3 best-MX rule).
    AmbiguousMx,
    /// No address accepted a connection.
    NoConnection,
    /// The message ended without a final LF.
    PartialLine,
    /// The message could not be read.
    ReadMessage,
}

impl Fatal {
    /// The report letter and text (without the NUL).
    pub fn report(&self) -> (u8, Vec<u8>) {
        let (letter, text): (u8, &str) = match self {
            Fatal::Usage => (b'D', "I (qmail-remote) was invoked improperly. (#5.3.5)\n"),
            Fatal::NoHome => (b'Z', "Unable to switch to home directory. (#4.3.0)\n"),
            Fatal::Control => (b'Z', "Unable to read control files. (#4.3.0)\n"),
            Fatal::OsError => (b'Z', "System resources temporarily unavailable. (#4.3.0)\n"),
            Fatal::DnsTemporary => (
                b'Z',
                "Sorry, I couldn't find any host by that name. (#4.1.2)\n",
            ),
            Fatal::DnsPermanent(host) => {
                let mut t = b"Sorry, I couldn't find any host named ".to_vec();
                t.extend(safe(host));
                t.extend_from_slice(b". (#5.1.2)\n");
                return (b'D', t);
            }
            Fatal::NoMx => (
                b'D',
                "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n",
            ),
            Fatal::AmbiguousMx => (
                b'D',
                "Sorry. Although I'm listed as a best-preference MX or A for that host,\n\
                 it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n",
            ),
            Fatal::NoConnection => (
                b'Z',
                "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n",
            ),
            Fatal::PartialLine => (
                b'D',
                "SMTP cannot transfer messages with partial final lines. (#5.6.2)\n",
            ),
            Fatal::ReadMessage => (b'Z', "Unable to read message. (#4.3.0)\n"),
        };
        (letter, text.as_bytes().to_vec())
    }
}

/// qmail's `outsafe`: bytes outside 33..=126 become `?` (the host name is
/// attacker-controlled and ends up in a bounce).
pub fn safe(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
    s.iter()
        .map(|&c| if (33..=126).contains(&c) { c } else { b'?' })
}

/// `ZConnected to <ip> but connection died. [Possible duplicate! ](#4.4.2)\n`
/// (`dropped()`): the peer went away or timed out; `critical` is set
/// between sending the final dot and reading its reply.
pub fn dropped(ip: Ipv4Addr, critical: bool) -> Vec<u8> {
    let mut t = format!("Connected to {ip} but connection died. ").into_bytes();
    if critical {
        t.extend_from_slice(b"Possible duplicate! ");
    }
    t.extend_from_slice(b"(#4.4.2)\n");
    t
}

/// `Remote host said: <text>` as `outsmtptext()` writes it: NUL bytes in
/// the server's text become `?`; an empty text writes nothing.
pub fn remote_said(text: &[u8]) -> Vec<u8> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut t = b"Remote host said: ".to_vec();
    t.extend(text.iter().map(|&c| if c == 0 { b'?' } else { c }));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_nul_terminated_in_order() {
        let mut o = Output::new();
        o.push(b'r', b"");
        o.fatal(&Fatal::NoConnection);
        assert_eq!(
            o.into_bytes(),
            b"r\0ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"
        );
    }

    #[test]
    fn unknown_host_text_is_made_safe() {
        let (l, t) = Fatal::DnsPermanent(b"a b\x80.example".to_vec()).report();
        assert_eq!(l, b'D');
        assert_eq!(
            t,
            b"Sorry, I couldn't find any host named a?b?.example. (#5.1.2)\n"
        );
    }

    #[test]
    fn ambiguous_mx_text_is_two_lines() {
        let (l, t) = Fatal::AmbiguousMx.report();
        assert_eq!(l, b'D');
        assert_eq!(
            String::from_utf8(t).unwrap(),
            "Sorry. Although I'm listed as a best-preference MX or A for that host,\n\
             it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n"
        );
    }

    #[test]
    fn dropped_texts() {
        let ip = Ipv4Addr::new(1, 2, 3, 4);
        assert_eq!(
            dropped(ip, false),
            b"Connected to 1.2.3.4 but connection died. (#4.4.2)\n"
        );
        assert_eq!(
            dropped(ip, true),
            b"Connected to 1.2.3.4 but connection died. Possible duplicate! (#4.4.2)\n"
        );
    }

    #[test]
    fn remote_text_replaces_nul_and_skips_empty() {
        assert_eq!(remote_said(b""), b"");
        assert_eq!(remote_said(b"250 a\0b\n"), b"Remote host said: 250 a?b\n");
    }
}
