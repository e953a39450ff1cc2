//! The SMTP dialogue of qmail-remote, once connected (spec §6.6).
//!
//! Greeting, `HELO <helohost>` (never EHLO, unless `control/remotetls`
//! turns on [`super::starttls`]), `MAIL FROM:<sender>` without
//! parameters, one `RCPT TO:<r>` per recipient each answered before the
//! next, `DATA`, the body (LF → CRLF, a leading `.` doubled, existing CR
//! bytes passed through untouched as netqmail does), `.`, the reply, then
//! `QUIT` without waiting for its answer. Every outcome becomes one report
//! in [`Output`]; nothing here returns an error to the caller.
//!
//! The session is generic over its reader and writer so the unit tests run
//! whole dialogues in memory; qmail-remote hands it the two halves of a
//! `TcpStream` with read and write timeouts set.
//!
//! ## Why only a little of lettre
//!
//! The client is meant to be built on `lettre` 0.11 (smtp-transport). We
//! checked its source (0.11.23, `transport/smtp/client/`):
//! `SmtpConnection::connect` always sends `EHLO` right after the greeting
//! and there is no other constructor; `NetworkStream` is not exported (it
//! lives in a private module), and neither is the response parser
//! (`parse_response` is `pub(crate)`; only `Response::from_str` is public)
//! nor the dot-stuffing `ClientCodec`. `Mail`/`Rcpt` need a validated
//! `lettre::Address`, which cannot carry qmail's senders such as `#@[]`,
//! an empty local part, or a quoted one. And lettre's parser is stricter
//! than qmail's reader in ways a bounce can observe: it requires UTF-8, a
//! space after the code, equal codes on every line, a first digit 2–5, and
//! it drops the codes from the text, while qmail takes the first three
//! bytes as the code whatever they are and reports the raw lines.
//!
//! So we use lettre's command types where their bytes are exactly qmail's
//! ([`Data`] and [`Quit`] render `DATA\r\n` and `QUIT\r\n`), and its
//! `Response` parser as a test oracle (the unit tests check that our codes
//! agree with lettre's on well-formed replies). The reply reader, the
//! HELO/MAIL/RCPT lines and the body encoding are hand-written because
//! they must match qmail byte for byte.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Ipv4Addr;

use lettre::transport::smtp::commands::{Data, Quit};

use super::report::{dropped, remote_said, Fatal, Output};

/// qmail's `HUGESMTPTEXT`: at most this much reply text is kept.
const MAX_TEXT: usize = 5000;
/// qmail's `smtpto` buffer size: bytes are written in chunks this big.
const WRITE_CHUNK: usize = 1024;

/// What goes into the dialogue; addresses already quoted.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub helohost: &'a [u8],
    pub sender: &'a [u8],
    pub recipients: &'a [Vec<u8>],
}

/// Why the dialogue stopped without a QUIT.
pub(super) enum Stop {
    /// The connection failed or timed out (`dropped()`).
    Dropped,
    /// The message ended in the middle of a line.
    Partial,
    /// The message could not be read.
    Read,
}

/// One SMTP client connection: reply reader, chunked writer, and the
/// state qmail-remote keeps for its reports. [`super::starttls`] drives it
/// too, over TLS.
pub(super) struct Conn<R, W> {
    rd: BufReader<R>,
    wr: W,
    wbuf: Vec<u8>,
    /// The current reply's text, CR removed (`smtptext`).
    text: Vec<u8>,
    /// Set between sending the final dot and reading its reply.
    critical: bool,
    ip: Ipv4Addr,
}

/// Runs the whole dialogue with the server at `ip` and records its reports
/// (recipient reports, then exactly one message report) in `out`.
pub fn session<R: Read, W: Write, M: Read>(
    reader: R,
    writer: W,
    ip: Ipv4Addr,
    env: &Envelope<'_>,
    message: M,
    out: &mut Output,
) {
    let mut c = Conn::new(reader, writer, ip);
    let r = c.dialogue(env, message, out);
    c.report(r, out);
}

impl<R: Read, W: Write> Conn<R, W> {
    pub(super) fn new(reader: R, writer: W, ip: Ipv4Addr) -> Conn<R, W> {
        Conn {
            rd: BufReader::new(reader),
            wr: writer,
            wbuf: Vec::with_capacity(WRITE_CHUNK),
            text: Vec::new(),
            critical: false,
            ip,
        }
    }

    /// Records how the dialogue ended as the message report.
    pub(super) fn report(&self, r: Result<(u8, Vec<u8>), Stop>, out: &mut Output) {
        match r {
            Ok((letter, text)) => out.push(letter, &text),
            Err(Stop::Dropped) => out.push(b'Z', &dropped(self.ip, self.critical)),
            Err(Stop::Partial) => out.fatal(&Fatal::PartialLine),
            Err(Stop::Read) => out.fatal(&Fatal::ReadMessage),
        }
    }

    /// The last reply's text, CR removed.
    pub(super) fn text(&self) -> &[u8] {
        &self.text
    }

    /// Reply bytes received but not read yet.
    pub(super) fn buffered(&self) -> usize {
        self.rd.buffer().len()
    }

    /// One byte of the reply (`get()`); end of stream or an error (a
    /// timeout included) drops the connection.
    fn get(&mut self) -> Result<u8, Stop> {
        let c = loop {
            match self.rd.fill_buf() {
                Ok([]) => return Err(Stop::Dropped),
                Ok(buf) => break buf[0],
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Err(Stop::Dropped),
            }
        };
        self.rd.consume(1);
        if c != b'\r' && self.text.len() < MAX_TEXT {
            self.text.push(c);
        }
        Ok(c)
    }

    /// `smtpcode()`: the first three bytes as digits (whatever they are,
    /// with C's unsigned arithmetic), then continuation lines while the
    /// fourth byte is `-`, then the rest of the last line.
    pub(super) fn code(&mut self) -> Result<u64, Stop> {
        self.text.clear();
        let digit = |c: u8| (i64::from(c) - i64::from(b'0')) as u64;
        let mut code = digit(self.get()?);
        code = code.wrapping_mul(10).wrapping_add(digit(self.get()?));
        code = code.wrapping_mul(10).wrapping_add(digit(self.get()?));
        let mut ch = self.get()?;
        while ch == b'-' {
            while ch != b'\n' {
                ch = self.get()?;
            }
            for _ in 0..3 {
                self.get()?;
            }
            ch = self.get()?;
        }
        while ch != b'\n' {
            ch = self.get()?;
        }
        Ok(code)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), Stop> {
        self.wbuf.extend_from_slice(b);
        if self.wbuf.len() >= WRITE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        let r = self.wr.write_all(&self.wbuf).and_then(|()| self.wr.flush());
        self.wbuf.clear();
        r.map_err(|_| Stop::Dropped)
    }

    /// Sends one command line made of `parts` and reads the reply code.
    pub(super) fn command(&mut self, parts: &[&[u8]]) -> Result<u64, Stop> {
        for p in parts {
            self.put(p)?;
        }
        self.flush()?;
        self.code()
    }

    /// `quit()`: send QUIT without waiting, then the message report
    /// `<prefix><ip><append>.\n` and any reply text not yet reported.
    pub(super) fn quit(&mut self, prefix: &str, append: &str) -> Result<(u8, Vec<u8>), Stop> {
        self.put(Quit.to_string().as_bytes())?;
        self.flush()?;
        let (letter, prefix) = prefix.as_bytes().split_at(1);
        let mut t = prefix.to_vec();
        t.extend_from_slice(format!("{}{append}.\n", self.ip).as_bytes());
        t.extend(remote_said(&std::mem::take(&mut self.text)));
        Ok((letter[0], t))
    }

    fn dialogue<M: Read>(
        &mut self,
        env: &Envelope<'_>,
        msg: M,
        out: &mut Output,
    ) -> Result<(u8, Vec<u8>), Stop> {
        if self.code()? != 220 {
            return self.quit("ZConnected to ", " but greeting failed");
        }
        if self.command(&[b"HELO ", env.helohost, b"\r\n"])? != 250 {
            return self.quit("ZConnected to ", " but my name was rejected");
        }
        self.transaction(env, msg, out)
    }

    /// From `MAIL FROM` to the message report.
    pub(super) fn transaction<M: Read>(
        &mut self,
        env: &Envelope<'_>,
        msg: M,
        out: &mut Output,
    ) -> Result<(u8, Vec<u8>), Stop> {
        let code = self.command(&[b"MAIL FROM:<", env.sender, b">\r\n"])?;
        if code >= 500 {
            return self.quit("DConnected to ", " but sender was rejected");
        }
        if code >= 400 {
            return self.quit("ZConnected to ", " but sender was rejected");
        }
        let mut bother = false;
        for r in env.recipients {
            let code = self.command(&[b"RCPT TO:<", r, b">\r\n"])?;
            if code >= 400 {
                let letter = if code >= 500 { b'h' } else { b's' };
                let mut t = format!("{} does not like recipient.\n", self.ip).into_bytes();
                t.extend(remote_said(&std::mem::take(&mut self.text)));
                out.push(letter, &t);
            } else {
                out.push(b'r', b"");
                bother = true;
            }
        }
        if !bother {
            return self.quit("DGiving up on ", "");
        }
        let code = self.command(&[Data.to_string().as_bytes()])?;
        if code >= 500 {
            return self.quit("D", " failed on DATA command");
        }
        if code >= 400 {
            return self.quit("Z", " failed on DATA command");
        }
        self.blast(msg)?;
        let code = self.code()?;
        self.critical = false;
        if code >= 500 {
            return self.quit("D", " failed after I sent the message");
        }
        if code >= 400 {
            return self.quit("Z", " failed after I sent the message");
        }
        self.quit("K", " accepted message")
    }

    /// `blast()`: the body, dot-stuffed, LF → CRLF, then the final dot.
    fn blast<M: Read>(&mut self, msg: M) -> Result<(), Stop> {
        let mut r = BufReader::new(msg);
        let mut at_line_start = true;
        let mut enc = Vec::with_capacity(2 * WRITE_CHUNK);
        loop {
            let chunk = match r.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Err(Stop::Read),
            };
            if chunk.is_empty() {
                break;
            }
            enc.clear();
            for &c in chunk {
                if at_line_start && c == b'.' {
                    enc.push(b'.');
                }
                if c == b'\n' {
                    enc.extend_from_slice(b"\r\n");
                    at_line_start = true;
                } else {
                    enc.push(c);
                    at_line_start = false;
                }
            }
            let n = chunk.len();
            r.consume(n);
            self.put(&enc)?;
        }
        if !at_line_start {
            // qmail just exits: nothing more is sent, not even QUIT.
            return Err(Stop::Partial);
        }
        self.critical = true;
        self.put(b".\r\n")?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// Runs a session against canned replies; returns (wire, output).
    fn run(replies: &str, recips: &[&str], msg: &[u8]) -> (String, String) {
        let recipients: Vec<Vec<u8>> = recips.iter().map(|r| r.as_bytes().to_vec()).collect();
        let env = Envelope {
            helohost: b"helo.example",
            sender: b"s@example.org",
            recipients: &recipients,
        };
        let mut wire = Vec::new();
        let mut out = Output::new();
        session(
            Cursor::new(replies.as_bytes().to_vec()),
            &mut wire,
            IP,
            &env,
            msg,
            &mut out,
        );
        (
            String::from_utf8_lossy(&wire).into_owned(),
            String::from_utf8_lossy(out.as_bytes()).into_owned(),
        )
    }

    const OK: &str =
        "220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok 1 qp 2\r\n221 bye\r\n";

    #[test]
    fn happy_dialogue_is_byte_exact() {
        let (wire, out) = run(OK, &["r@x.org"], b"Subject: t\n\n.x\nend\n");
        assert_eq!(
            wire,
            "HELO helo.example\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<r@x.org>\r\nDATA\r\n\
             Subject: t\r\n\r\n..x\r\nend\r\n.\r\nQUIT\r\n"
        );
        assert_eq!(
            out,
            "r\0K192.0.2.1 accepted message.\nRemote host said: 250 ok 1 qp 2\n\0"
        );
    }

    #[test]
    fn existing_cr_is_passed_through() {
        let (wire, _) = run(OK, &["r@x.org"], b"a\r\nb\rc\n");
        assert!(wire.contains("DATA\r\na\r\r\nb\rc\r\n.\r\n"), "{wire:?}");
    }

    #[test]
    fn greeting_failure_sends_quit_and_reports_text() {
        let (wire, out) = run("421 busy\r\n", &["r@x.org"], b"x\n");
        assert_eq!(wire, "QUIT\r\n");
        assert_eq!(
            out,
            "ZConnected to 192.0.2.1 but greeting failed.\nRemote host said: 421 busy\n\0"
        );
    }

    #[test]
    fn helo_and_mail_rejections() {
        let (_, out) = run("220 hi\r\n550 no\r\n", &["r@x.org"], b"x\n");
        assert_eq!(
            out,
            "ZConnected to 192.0.2.1 but my name was rejected.\nRemote host said: 550 no\n\0"
        );
        let (_, out) = run("220 hi\r\n250 hi\r\n553 bad\r\n", &["r@x.org"], b"x\n");
        assert!(out.starts_with("DConnected to 192.0.2.1 but sender was rejected.\n"));
        let (_, out) = run("220 hi\r\n250 hi\r\n451 later\r\n", &["r@x.org"], b"x\n");
        assert!(out.starts_with("ZConnected to 192.0.2.1 but sender was rejected.\n"));
    }

    #[test]
    fn recipient_rejections_then_giving_up() {
        let replies = "220 hi\r\n250 hi\r\n250 ok\r\n550 no such user\r\n450 try later\r\n";
        let (wire, out) = run(replies, &["a@x.org", "b@x.org"], b"x\n");
        assert!(wire.ends_with("RCPT TO:<b@x.org>\r\nQUIT\r\n"));
        assert_eq!(
            out,
            "h192.0.2.1 does not like recipient.\nRemote host said: 550 no such user\n\0\
             s192.0.2.1 does not like recipient.\nRemote host said: 450 try later\n\0\
             DGiving up on 192.0.2.1.\n\0"
        );
    }

    #[test]
    fn data_and_final_reply_codes() {
        let base = "220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n";
        let (_, out) = run(&format!("{base}554 no data\r\n"), &["r@x.org"], b"x\n");
        assert!(
            out.ends_with("D192.0.2.1 failed on DATA command.\nRemote host said: 554 no data\n\0")
        );
        let (_, out) = run(&format!("{base}451 later\r\n"), &["r@x.org"], b"x\n");
        assert!(
            out.ends_with("Z192.0.2.1 failed on DATA command.\nRemote host said: 451 later\n\0")
        );
        // Any code below 400 proceeds, not only 354.
        let (wire, _) = run(&format!("{base}250 go\r\n250 ok\r\n"), &["r@x.org"], b"x\n");
        assert!(wire.contains("DATA\r\nx\r\n.\r\n"));
        let (_, out) = run(
            &format!("{base}354 go\r\n552 too big\r\n"),
            &["r@x.org"],
            b"x\n",
        );
        assert!(out.ends_with(
            "D192.0.2.1 failed after I sent the message.\nRemote host said: 552 too big\n\0"
        ));
        let (_, out) = run(
            &format!("{base}354 go\r\n452 full\r\n"),
            &["r@x.org"],
            b"x\n",
        );
        assert!(out.ends_with(
            "Z192.0.2.1 failed after I sent the message.\nRemote host said: 452 full\n\0"
        ));
    }

    #[test]
    fn connection_died_before_and_after_the_dot() {
        let (_, out) = run("220 hi\r\n250 hi\r\n", &["r@x.org"], b"x\n");
        assert_eq!(
            out,
            "ZConnected to 192.0.2.1 but connection died. (#4.4.2)\n\0"
        );
        let (_, out) = run(
            "220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n",
            &["r@x.org"],
            b"x\n",
        );
        assert_eq!(
            out,
            "r\0ZConnected to 192.0.2.1 but connection died. Possible duplicate! (#4.4.2)\n\0"
        );
    }

    #[test]
    fn partial_final_line_stops_without_dot_or_quit() {
        let (wire, out) = run(OK, &["r@x.org"], b"line\nno newline");
        assert!(wire.ends_with("DATA\r\n"), "{wire:?}");
        assert_eq!(
            out,
            "r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0"
        );
    }

    #[test]
    fn empty_message_is_just_the_dot() {
        let (wire, _) = run(OK, &["r@x.org"], b"");
        assert!(wire.ends_with("DATA\r\n.\r\nQUIT\r\n"));
    }

    #[test]
    fn multiline_reply_text_keeps_every_line_without_cr() {
        let replies = "220-first\r\n220-second\r\n220 third\r\n250 hi\r\n550-no\r\n550 really\r\n";
        let (_, out) = run(replies, &["r@x.org"], b"x\n");
        assert!(out.starts_with(
            "DConnected to 192.0.2.1 but sender was rejected.\nRemote host said: 550-no\n550 really\n\0"
        ));
    }

    #[test]
    fn reply_text_nul_becomes_question_mark_and_is_capped() {
        let (_, out) = run("421 a\0b\r\n", &["r@x.org"], b"x\n");
        assert!(out.contains("Remote host said: 421 a?b\n"));
        let long = format!("421 {}\r\n", "x".repeat(6000));
        let (_, out) = run(&long, &["r@x.org"], b"x\n");
        let said = out.split("Remote host said: ").nth(1).unwrap();
        assert_eq!(said.len(), MAX_TEXT + 1); // the text, then the NUL
    }

    #[test]
    fn code_is_qmail_arithmetic_on_any_bytes() {
        // "2x0": ('2'*10 + ('x'-'0'))*10 + 0 — not 220, so the greeting fails.
        let (_, out) = run("2x0 hi\r\n", &["r@x.org"], b"x\n");
        assert!(out.starts_with("ZConnected to 192.0.2.1 but greeting failed."));
    }

    #[test]
    fn codes_agree_with_lettre_on_well_formed_replies() {
        use lettre::transport::smtp::response::Response;
        use std::str::FromStr;
        for reply in [
            "220 ok\r\n",
            "250-a\r\n250-b\r\n250 c\r\n",
            "354 go\r\n",
            "421 x\r\n",
            "550 5.1.1 no\r\n",
        ] {
            let lettre_code = u16::from(Response::from_str(reply).unwrap().code());
            let mut c = Conn::new(Cursor::new(reply.as_bytes().to_vec()), Vec::new(), IP);
            let ours = c.code().ok().unwrap();
            assert_eq!(ours, u64::from(lettre_code), "{reply:?}");
            assert_eq!(c.text, reply.replace('\r', "").into_bytes());
        }
    }
}
