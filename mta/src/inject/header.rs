//! qmail-inject's header processing (qmail's `doheaderfield` and
//! `finishheader`, spec §8.4, §8.5): rewrite the address fields, collect
//! the header recipients, take the envelope sender from `Return-Path:`,
//! drop `Bcc:`, `Resent-Bcc:`, `Return-Path:` and `Content-Length:`, and
//! put the missing `Date:`, `Message-ID:`, `From:` and `Cc:` (or their
//! `Resent-` forms) in front of the original fields.
//!
//! No I/O: fields go in one by one, the finished header and envelope
//! sender come out.

use std::collections::HashSet;

use super::address::{needs_quote, Rewriter};
use super::env::InjectEnv;
use super::fields::{known, valid, Field};
use super::newfield;
use super::token::{self, Token};
use super::InjectError;

/// qmail-inject folds address lists at 80 columns.
pub const LINELEN: usize = 80;

/// When and by whom: for Date, Message-ID and the `m` VERP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds since the epoch when qmail-inject started.
    pub now: i64,
    pub pid: u32,
    /// `QMAILIDHOST`, else `control/idhost`, else me, else `idhost`.
    pub idhost: Vec<u8>,
}

/// What a recipient-bearing field feeds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Rewritten only.
    Sender,
    /// Rewritten; first address may become the envelope sender.
    ReturnPath,
    /// To, Cc: header recipients and Mail-Followup-To candidates.
    ToCc,
    /// Bcc, Apparently-To.
    Recipient,
    /// Resent-To, Resent-Cc, Resent-Bcc.
    Resent,
}

fn role(f: Field) -> Option<Role> {
    use Field::*;
    Some(match f {
        To | Cc => Role::ToCc,
        Bcc | ApparentlyTo => Role::Recipient,
        ResentTo | ResentCc | ResentBcc => Role::Resent,
        ReturnPath => Role::ReturnPath,
        Sender | From | ReplyTo | ReturnReceiptTo | ErrorsTo | ResentSender | ResentFrom
        | ResentReplyTo => Role::Sender,
        _ => return None,
    })
}

/// The finished header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The envelope sender (`-f`, else `Return-Path:`, else the default).
    pub sender: Vec<u8>,
    /// Added fields then the kept original fields (no Return-Path line).
    pub header: Vec<u8>,
    /// Recipients from the header: the Resent- ones for a resent message.
    pub header_recipients: Vec<Vec<u8>>,
}

/// Header processing in progress.
pub struct Composer<'a> {
    rw: &'a Rewriter,
    env: &'a InjectEnv,
    seen: HashSet<Field>,
    kept: Vec<Vec<u8>>,
    sender: Option<Vec<u8>>,
    recipients: Vec<Vec<u8>>,
    resent_recipients: Vec<Vec<u8>>,
    to_cc: Vec<Vec<u8>>,
}

/// Sets the envelope sender from a rewritten address unless one is set
/// (qmail's `setreturn`); the `r` flag asks for per-recipient VERP.
fn set_return(sender: &mut Option<Vec<u8>>, addr: &[Token], verp: bool) {
    if sender.is_none() {
        let mut s = token::unquote(addr);
        if verp {
            s.extend_from_slice(b"-@[]");
        }
        *sender = Some(s);
    }
}

impl<'a> Composer<'a> {
    /// `sender` is the rewritten `-f` address, if one was given.
    pub fn new(rw: &'a Rewriter, env: &'a InjectEnv, sender: Option<Vec<u8>>) -> Composer<'a> {
        Composer {
            rw,
            env,
            seen: HashSet::new(),
            kept: Vec::new(),
            sender,
            recipients: Vec::new(),
            resent_recipients: Vec::new(),
            to_cc: Vec::new(),
        }
    }

    /// Rewrites an address field with `each` run on every (rewritten)
    /// address; an unparsable field is fatal (netqmail; notqmail keeps
    /// recipient fields it cannot parse).
    fn rewrite_field(
        rw: &Rewriter,
        h: &[u8],
        each: &mut dyn FnMut(&[Token]),
    ) -> Result<Vec<u8>, InjectError> {
        let bad = || InjectError::ParseLine(h.to_vec());
        let tokens = token::parse(h).map_err(|_| bad())?;
        let out = token::addrlist(&tokens, &mut |a| {
            rw.rewrite(a);
            each(a);
        })
        .map_err(|_| bad())?;
        Ok(token::unparse(&out, LINELEN))
    }

    /// Processes one field (with its continuation lines and newline).
    pub fn field(&mut self, mut h: Vec<u8>) -> Result<(), InjectError> {
        let kind = known(&h);
        let flags = self.env.flags;
        match kind {
            Some(Field::From) if flags.delete_from => return Ok(()),
            Some(Field::MessageId) if flags.delete_message_id => return Ok(()),
            Some(Field::ReturnPath) if flags.delete_sender => return Ok(()),
            Some(k) => {
                self.seen.insert(k);
            }
            None if !valid(&h) => return Err(InjectError::InvalidField(h)),
            None => {}
        }
        if let Some(role) = kind.and_then(role) {
            let rw = self.rw;
            let Composer {
                sender,
                recipients,
                resent_recipients,
                to_cc,
                ..
            } = self;
            h = Self::rewrite_field(rw, &h, &mut |a| match role {
                Role::Sender => {}
                Role::ReturnPath => set_return(sender, a, flags.verp_recipient),
                Role::ToCc => {
                    recipients.push(token::unquote(a));
                    to_cc.push(token::unquote(a));
                }
                Role::Recipient => recipients.push(token::unquote(a)),
                Role::Resent => resent_recipients.push(token::unquote(a)),
            })?;
        }
        if !matches!(
            kind,
            Some(Field::Bcc | Field::ResentBcc | Field::ReturnPath | Field::ContentLength)
        ) {
            self.kept.push(h);
        }
        Ok(())
    }

    /// The default From field (without `Resent-`), spec §8.5.
    fn default_from(&self) -> Result<Vec<u8>, InjectError> {
        let e = self.env;
        let mut t = vec![Token::Atom(b"From".to_vec()), Token::Colon];
        let comment = e.flags.name_comment;
        if let (Some(name), false) = (&e.name, comment) {
            t.push(Token::Quote(name.clone()));
            t.push(Token::Left);
        }
        t.push(if needs_quote(&e.user) {
            Token::Quote(e.user.clone())
        } else {
            Token::Atom(e.user.clone())
        });
        if let Some(host) = &e.host {
            t.push(Token::At);
            t.push(Token::Atom(host.clone()));
        }
        match (&e.name, comment) {
            (Some(_), false) => t.push(Token::Right),
            (Some(name), true) => t.push(Token::Comment(name.clone())),
            (None, _) => {}
        }
        // Printed and parsed again, as qmail does, so the environment's
        // values are lexed like any header text.
        Self::rewrite_field(self.rw, &token::unparse(&t, LINELEN), &mut |_| {})
    }

    /// The default envelope sender, spec §8.5.
    fn default_sender(&self, stamp: &Stamp) -> Result<Vec<u8>, InjectError> {
        let e = self.env;
        let mut user = e.suser.clone();
        if e.flags.verp_message {
            user.extend_from_slice(format!("-{}.{}", stamp.now, stamp.pid).as_bytes());
        }
        if e.flags.verp_recipient {
            user.push(b'-');
        }
        let mut t = vec![
            Token::Atom(b"Return-Path".to_vec()),
            Token::Colon,
            Token::Quote(user),
        ];
        if let Some(host) = &e.shost {
            t.push(Token::At);
            t.push(Token::Atom(host.clone()));
        }
        let mut sender = None;
        let verp = e.flags.verp_recipient;
        Self::rewrite_field(self.rw, &token::unparse(&t, LINELEN), &mut |a| {
            set_return(&mut sender, a, verp)
        })?;
        // A Return-Path with no address at all leaves the sender empty.
        Ok(sender.unwrap_or_default())
    }

    /// Mail-Followup-To (spec §8.4 item 5), if a To/Cc address is one of
    /// the `lists` and the message has none.
    fn followup_to(&self, lists: &[String]) -> Option<Vec<u8>> {
        if self.seen.contains(&Field::MailFollowupTo) {
            return None;
        }
        let listed = self
            .to_cc
            .iter()
            .any(|a| lists.iter().any(|l| l.as_bytes().eq_ignore_ascii_case(a)));
        if !listed {
            return None;
        }
        let mut v = b"Mail-Followup-To: ".to_vec();
        for (i, a) in self.to_cc.iter().enumerate().rev() {
            v.extend_from_slice(&crate::quote::quote(a));
            if i > 0 {
                v.extend_from_slice(b",\n  ");
            }
        }
        v.push(b'\n');
        Some(v)
    }

    /// Ends the header: the envelope sender, the added fields, the kept
    /// fields, and the header recipients. `lists` is `QMAILMFTFILE`'s.
    pub fn finish(self, stamp: &Stamp, lists: Option<&[String]>) -> Result<Composed, InjectError> {
        use Field::*;
        let seen = |f: Field| self.seen.contains(&f);
        let resent = [
            ResentSender,
            ResentFrom,
            ResentReplyTo,
            ResentTo,
            ResentCc,
            ResentBcc,
            ResentDate,
            ResentMessageId,
        ]
        .into_iter()
        .any(seen);
        let sender = match &self.sender {
            Some(s) => s.clone(),
            None => self.default_sender(stamp)?,
        };
        let mut out = Vec::new();
        let prefix: &[u8] = if resent { b"Resent-" } else { b"" };
        let (date, id, from, to, cc) = if resent {
            (ResentDate, ResentMessageId, ResentFrom, ResentTo, ResentCc)
        } else {
            (Date, MessageId, From, To, Cc)
        };
        if !seen(date) {
            out.extend_from_slice(prefix);
            out.extend_from_slice(&newfield::date(stamp.now));
        }
        if !seen(id) {
            out.extend_from_slice(prefix);
            out.extend_from_slice(&newfield::message_id(stamp.now, stamp.pid, &stamp.idhost));
        }
        if !seen(from) {
            out.extend_from_slice(prefix);
            out.extend_from_slice(&self.default_from()?);
        }
        if !seen(to) && !seen(cc) {
            out.extend_from_slice(prefix);
            out.extend_from_slice(b"Cc: recipient list not shown: ;\n");
        }
        if !resent {
            if let Some(f) = lists.and_then(|l| self.followup_to(l)) {
                out.extend_from_slice(&f);
            }
        }
        for h in &self.kept {
            out.extend_from_slice(h);
        }
        Ok(Composed {
            sender,
            header: out,
            header_recipients: if resent {
                self.resent_recipients
            } else {
                self.recipients
            },
        })
    }
}

#[cfg(test)]
#[path = "header_tests.rs"]
mod tests;
