//! Spawn command and report framing (spec §1.3). No I/O beyond opening the
//! message file.
//!
//! Command: `<slot byte><messid>\0<sender>\0<recipient>\0`.
//! Report:  `<slot byte><K|Z|D><text>\0`.

use std::fs::File;

/// One delivery request from qmail-send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub slot: u8,
    pub messid: Vec<u8>,
    pub sender: Vec<u8>,
    pub recipient: Vec<u8>,
}

/// K success, Z temporary failure, D permanent failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Deferral,
    Failure,
}

impl Status {
    pub fn letter(self) -> u8 {
        match self {
            Status::Success => b'K',
            Status::Deferral => b'Z',
            Status::Failure => b'D',
        }
    }
    pub fn from_letter(c: u8) -> Option<Status> {
        match c {
            b'K' => Some(Status::Success),
            b'Z' => Some(Status::Deferral),
            b'D' => Some(Status::Failure),
            _ => None,
        }
    }
}

/// One delivery result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub status: Status,
    pub text: Vec<u8>,
}

impl Report {
    pub fn new(status: Status, text: impl Into<Vec<u8>>) -> Report {
        Report {
            status,
            text: text.into(),
        }
    }
    pub fn deferral(text: &str) -> Report {
        Report::new(Status::Deferral, text)
    }
    pub fn failure(text: &str) -> Report {
        Report::new(Status::Failure, text)
    }
    /// Encodes for the wire: slot, letter, text (cut at its first NUL), NUL.
    pub fn encode(&self, slot: u8) -> Vec<u8> {
        let text = match self.text.iter().position(|&c| c == 0) {
            Some(i) => &self.text[..i],
            None => &self.text[..],
        };
        let mut v = Vec::with_capacity(text.len() + 3);
        v.push(slot);
        v.push(self.status.letter());
        v.extend_from_slice(text);
        v.push(0);
        v
    }
}

/// Incremental parser for a stream of NUL-framed records with a leading
/// binary slot byte (used for both directions).
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Next complete command (three NUL-terminated fields after the slot).
    pub fn next_command(&mut self) -> Option<Command> {
        if self.buf.is_empty() {
            return None;
        }
        let mut fields = Vec::with_capacity(3);
        let mut start = 1;
        for _ in 0..3 {
            let rel = self.buf.get(start..)?.iter().position(|&c| c == 0)?;
            fields.push(self.buf[start..start + rel].to_vec());
            start += rel + 1;
        }
        let slot = self.buf[0];
        self.buf.drain(..start);
        let recipient = fields.pop()?;
        let sender = fields.pop()?;
        let messid = fields.pop()?;
        Some(Command {
            slot,
            messid,
            sender,
            recipient,
        })
    }

    /// Next complete report: (slot, letter, text). The letter is raw so the
    /// caller can log `report mangled`.
    pub fn next_report(&mut self) -> Option<(u8, u8, Vec<u8>)> {
        if self.buf.len() < 2 {
            return None;
        }
        let rel = self.buf[1..].iter().position(|&c| c == 0)?;
        let slot = self.buf[0];
        let rec = self.buf[1..1 + rel].to_vec();
        self.buf.drain(..rel + 2);
        let letter = rec.first().copied().unwrap_or(0);
        let text = if rec.is_empty() {
            Vec::new()
        } else {
            rec[1..].to_vec()
        };
        Some((slot, letter, text))
    }
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        let mut v =
            Vec::with_capacity(self.messid.len() + self.sender.len() + self.recipient.len() + 4);
        v.push(self.slot);
        for f in [&self.messid, &self.sender, &self.recipient] {
            v.extend_from_slice(f);
            v.push(0);
        }
        v
    }

    /// The checks every spawn makes before starting a child (spec §1.3).
    pub fn validate(&self) -> Result<(), Report> {
        if self.messid.is_empty() {
            return Err(Report::failure(
                "Internal error: messid too short. (#5.3.5)\n",
            ));
        }
        if self.messid.len() > 100 {
            return Err(Report::failure(
                "Internal error: messid too long. (#5.3.5)\n",
            ));
        }
        let ok = self
            .messid
            .iter()
            .enumerate()
            .all(|(i, &c)| c.is_ascii_digit() || (c == b'/' && i > 0));
        if !ok {
            return Err(Report::failure(
                "Internal error: messid has nonnumerics. (#5.3.5)\n",
            ));
        }
        if !self.recipient.contains(&b'@') {
            return Err(Report::failure(
                "Sorry, address must include host name. (#5.1.3)\n",
            ));
        }
        Ok(())
    }

    /// Splits the recipient at its last `@`: (local, domain).
    pub fn split_recipient(&self) -> (&[u8], &[u8]) {
        match self.recipient.iter().rposition(|&c| c == b'@') {
            Some(i) => (&self.recipient[..i], &self.recipient[i + 1..]),
            None => (&self.recipient[..], &b""[..]),
        }
    }
}

/// Opens `<queue>/mess/<messid>` and checks it is a regular file.
pub fn open_message(queue: &std::path::Path, messid: &[u8]) -> Result<File, Report> {
    let rel = String::from_utf8_lossy(messid);
    let f = File::open(queue.join("mess").join(&*rel))
        .map_err(|_| Report::deferral("qmail-spawn unable to open message. (#4.3.0)\n"))?;
    let md = f
        .metadata()
        .map_err(|_| Report::deferral("qmail-spawn unable to fstat message. (#4.3.0)\n"))?;
    if !md.file_type().is_file() {
        return Err(Report::deferral(
            "Sorry, message has wrong type. (#4.3.5)\n",
        ));
    }
    Ok(f)
}

/// Cuts collected child output as the spawns do (spec §1.4): at the first
/// NUL; beyond 3000 bytes, to 2966 bytes plus a fixed note.
pub fn cut_output(mut out: Vec<u8>) -> Vec<u8> {
    if let Some(i) = out.iter().position(|&c| c == 0) {
        out.truncate(i);
    }
    if out.len() > 3000 {
        out.truncate(2966);
        out.extend_from_slice(b"\nError report too long, sorry.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_roundtrip() {
        let c = Command {
            slot: 7,
            messid: b"5/457".to_vec(),
            sender: b"a@b".to_vec(),
            recipient: b"c@d".to_vec(),
        };
        let mut f = Framer::default();
        let enc = c.encode();
        f.push(&enc[..4]);
        assert_eq!(f.next_command(), None);
        f.push(&enc[4..]);
        assert_eq!(f.next_command(), Some(c));
        assert_eq!(f.next_command(), None);
    }

    #[test]
    fn report_roundtrip() {
        let r = Report::new(Status::Deferral, b"x\0y".to_vec());
        let mut f = Framer::default();
        f.push(&r.encode(3));
        assert_eq!(f.next_report(), Some((3, b'Z', b"x".to_vec())));
    }

    #[test]
    fn validation_texts() {
        let mut c = Command {
            slot: 0,
            messid: b"/5".to_vec(),
            sender: vec![],
            recipient: b"x@y".to_vec(),
        };
        assert_eq!(
            c.validate().unwrap_err().text,
            b"Internal error: messid has nonnumerics. (#5.3.5)\n"
        );
        c.messid = b"5/45".to_vec();
        c.recipient = b"xy".to_vec();
        assert_eq!(c.validate().unwrap_err().status, Status::Failure);
    }

    #[test]
    fn long_output_is_cut() {
        let out = cut_output(vec![b'a'; 4000]);
        assert_eq!(out.len(), 2966 + 31);
        assert!(out.ends_with(b"Error report too long, sorry.\n"));
    }
}
