//! Reading one sendmail queue control file (`qfID`, format version 8 as
//! written by sendmail 8.12–8.17's `queueup()`). No I/O.
//!
//! Hand-written: the format is sendmail's internal one and no crate reads
//! it. Each line starts with a code letter; a line starting with a space
//! or tab continues the previous one (headers); `.` alone ends the file.
//! The letters used here (others are kept only for the report):
//! `V` version, `T` creation time, `S` envelope sender, `r` the
//! recipient's original address (ORCPT, before alias expansion), `C` the
//! controlling user of the following recipients, `R<flags>:<address>` a
//! recipient, `H[?flags?]Name: value` a header.
//!
//! Done or undone: `queueup()` writes only recipients still undelivered
//! (`QS_IS_UNDELIVERED`); delivered and bounced ones are left out when the
//! file is rewritten after a queue run. So every `R` line is undone, and a
//! recipient is done exactly when it is absent. Recipient flags (`P`
//! primary, `N`, `S`, `F`, `D` notify, `A` came from an alias, `B` ...)
//! are kept verbatim for the report.

/// One undelivered recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub flags: String,
    /// The `r` line before it (`RFC822; a1@host`), without the type.
    pub original: Option<String>,
    /// The `C` line in force (`user:uid:gid:alias`), if any.
    pub controller: Option<String>,
    /// 1-based line in the qf file.
    pub line: usize,
}

/// What kind of address a recipient is, for the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An address qmail-queue can take (local or remote).
    Address(String),
    /// `\user`: sendmail's mailbox-only form.
    Mailbox(String),
    /// A program (`|cmd`) or file (`/path`) that the alias expansion
    /// produced: qmail cannot queue it.
    ProgramOrFile,
}

impl Recipient {
    /// Classifies the address.
    pub fn kind(&self) -> Kind {
        let a = self.address.trim();
        let a = a
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(a);
        if a.starts_with('|') || a.starts_with('/') {
            return Kind::ProgramOrFile;
        }
        if let Some(u) = a.strip_prefix('\\') {
            return Kind::Mailbox(u.to_string());
        }
        let a = a
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .unwrap_or(a);
        Kind::Address(a.to_string())
    }
}

/// A parsed control file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueFile {
    pub version: Option<u32>,
    /// `T`: seconds since the epoch when the message was queued.
    pub created: Option<i64>,
    /// `S`: the envelope sender (`<>` and empty mean a bounce).
    pub sender: Option<String>,
    pub recipients: Vec<Recipient>,
    /// Headers in order, `Name: value` with continuation lines joined by
    /// `\n`; delivery-time headers are left out (see [`parse`]).
    pub headers: Vec<String>,
}

/// What is wrong with a qf file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct QfError {
    pub line: usize,
    pub problem: String,
}

fn err(line: usize, problem: impl Into<String>) -> QfError {
    QfError {
        line,
        problem: problem.into(),
    }
}

/// Parses a qf file. Headers with a `?flags?` condition that sendmail
/// adds per delivery (`Return-Path`) are dropped: qmail writes its own
/// when it delivers. Missing `S`, no `.` terminator, an unknown version,
/// or a recipient without `:` are errors (the file is then left alone).
pub fn parse(text: &[u8]) -> Result<QueueFile, QfError> {
    let text = String::from_utf8_lossy(text);
    let mut q = QueueFile::default();
    let mut original: Option<String> = None;
    let mut controller: Option<String> = None;
    let mut ended = false;
    // The last header pushed, so continuation lines can join it; None when
    // the previous line was not a (kept) header.
    let mut in_header: Option<bool> = None;
    let pieces: Vec<&str> = text.split('\n').collect();
    for (i, raw) in pieces.iter().copied().enumerate() {
        let n = i + 1;
        if i + 1 == pieces.len() && raw.is_empty() {
            break; // after the final newline
        }
        if ended {
            if !raw.is_empty() {
                return Err(err(n, "text after the `.` line"));
            }
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            match in_header {
                Some(true) => {
                    if let Some(h) = q.headers.last_mut() {
                        h.push('\n');
                        h.push_str(raw);
                    }
                }
                Some(false) => {}
                None => return Err(err(n, "continuation line after a non-header line")),
            }
            continue;
        }
        in_header = None;
        let Some(code) = raw.chars().next() else {
            if n == 1 {
                return Err(err(n, "empty file"));
            }
            return Err(err(n, "empty line (truncated file?)"));
        };
        let rest = &raw[code.len_utf8()..];
        match code {
            '.' if rest.is_empty() => ended = true,
            'V' => {
                let v: u32 = rest
                    .trim()
                    .parse()
                    .map_err(|_| err(n, format!("bad version `{rest}`")))?;
                if !(4..=8).contains(&v) {
                    return Err(err(n, format!("queue file version {v} is not supported")));
                }
                q.version = Some(v);
            }
            'T' => q.created = rest.trim().parse().ok(),
            'S' => q.sender = Some(rest.to_string()),
            'r' => {
                let o = rest.split_once(';').map_or(rest, |(_, a)| a).trim();
                original = Some(o.to_string());
            }
            'C' => controller = (!rest.is_empty()).then(|| rest.to_string()),
            'R' => {
                let (flags, address) = match rest.split_once(':') {
                    Some((f, a)) if f.chars().all(|c| c.is_ascii_uppercase()) => (f, a),
                    // Before version 4 there were no flags.
                    _ if q.version.is_none_or(|v| v < 4) => ("", rest),
                    _ => return Err(err(n, format!("recipient `{rest}` has no flags field"))),
                };
                if address.trim().is_empty() {
                    return Err(err(n, "empty recipient"));
                }
                q.recipients.push(Recipient {
                    address: address.to_string(),
                    flags: flags.to_string(),
                    original: original.take(),
                    controller: controller.clone(),
                    line: n,
                });
            }
            'H' => {
                let (cond, h) = match rest.strip_prefix('?') {
                    Some(r) => match r.split_once('?') {
                        Some((c, h)) => (Some(c), h),
                        None => return Err(err(n, "header with an unterminated `?flags?`")),
                    },
                    None => (None, rest),
                };
                let name = h.split(':').next().unwrap_or("").trim();
                let keep = !(cond.is_some_and(|c| !c.is_empty())
                    && name.eq_ignore_ascii_case("Return-Path"));
                if keep {
                    q.headers.push(h.to_string());
                }
                in_header = Some(keep);
            }
            // Known letters that do not change what is imported.
            'K' | 'N' | 'P' | 'F' | 'I' | '$' | 'A' | 'Z' | 'B' | 'M' | 'E' | 'Q' | 'd' | 'q'
            | 'G' | 'Y' | 'X' | 'D' | 'L' => {}
            c => return Err(err(n, format!("unknown line type `{c}`"))),
        }
    }
    if !ended {
        return Err(err(
            text.split('\n').count(),
            "no `.` line: the file is incomplete",
        ));
    }
    if q.sender.is_none() {
        return Err(err(0, "no `S` (sender) line"));
    }
    Ok(q)
}

impl QueueFile {
    /// The envelope sender for qmail: `<>` and empty become empty.
    pub fn envelope_sender(&self) -> String {
        let s = self.sender.as_deref().unwrap_or("").trim();
        let s = s
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .unwrap_or(s);
        s.to_string()
    }

    /// The message qmail gets: the headers, an empty line, the df body.
    pub fn message(&self, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(body.len() + 1024);
        for h in &self.headers {
            m.extend_from_slice(h.as_bytes());
            m.push(b'\n');
        }
        m.push(b'\n');
        m.extend_from_slice(body);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by sendmail 8.17.1.9 with `-odq` (spec §6.3 set-up).
    pub const OBSERVED: &[u8] = b"V8\nT1795225786\nK0\nN0\nP120045\nFs\n$_root@localhost\n\
${daemon_flags}c u\nSsender@example.net\nAsender@example.net\nCcarol:2003:2003:a1\n\
rRFC822; a1@mail.example.org\nRNSFA:carol\nCbob:2002:2002:bob\nrRFC822; a1@mail.example.org\n\
RNSF:\\bob\nC\nrRFC822; bob@example.net\nRPNSF:bob@example.net\nH?P?Return-Path: <\x81g>\n\
H??Received: (from root@localhost)\n\tby mail.example.org (8.17.1.9/8.17.1.9) id 6AL1nkJh022515;\n\
\tSat, 21 Nov 2026 01:49:46 GMT\nH?D?Date: Sat, 21 Nov 2026 01:49:46 GMT\nH??Subject: t\n.\n";

    #[test]
    fn observed_file() {
        let q = parse(OBSERVED).unwrap();
        assert_eq!(q.version, Some(8));
        assert_eq!(q.envelope_sender(), "sender@example.net");
        let r: Vec<(&str, &str)> = q
            .recipients
            .iter()
            .map(|r| (r.flags.as_str(), r.address.as_str()))
            .collect();
        assert_eq!(
            r,
            vec![
                ("NSFA", "carol"),
                ("NSF", "\\bob"),
                ("PNSF", "bob@example.net")
            ]
        );
        assert_eq!(
            q.recipients[0].original.as_deref(),
            Some("a1@mail.example.org")
        );
        assert_eq!(q.recipients[2].controller, None);
        assert_eq!(q.recipients[1].kind(), Kind::Mailbox("bob".into()));
        assert_eq!(q.headers.len(), 3, "{:?}", q.headers);
        assert!(q.headers[0].starts_with("Received: (from root@localhost)\n\tby"));
        let m = q.message(b"body\n");
        assert!(m.ends_with(b"Subject: t\n\nbody\n"));
    }

    #[test]
    fn broken_files_say_where() {
        assert_eq!(parse(b"V8\nSa@b\nRPcarol\n.\n").unwrap_err().line, 3);
        assert!(parse(b"V8\nSa@b\nRP:carol\n")
            .unwrap_err()
            .problem
            .contains("incomplete"));
        assert_eq!(parse(b"V8\nRP:carol\n.\n").unwrap_err().line, 0);
        assert_eq!(parse(b"V9\n").unwrap_err().line, 1);
        assert_eq!(parse(b"V8\nSa@b\n%x\n.\n").unwrap_err().line, 3);
        assert_eq!(
            parse(b"V8\nS<>\nR:\"|/bin/prog x\"\n.\n")
                .unwrap()
                .recipients[0]
                .kind(),
            Kind::ProgramOrFile
        );
        assert_eq!(parse(b"V8\nS<>\n.\n").unwrap().envelope_sender(), "");
    }
}
