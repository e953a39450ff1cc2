//! Splitting .qmail contents into instructions (spec §5.6). No I/O.
//!
//! Lines are split at `\n` (a missing final newline is supplied), trailing
//! spaces and tabs are removed, leading whitespace is kept, and the first
//! byte decides the type. An empty *first* line is an error; other empty
//! lines and `#` lines are ignored. Since qmail handles each line as a C
//! string, everything from a NUL byte on is ignored.
//!
//! Security: this is the only place where text becomes a program or a
//! file name, and the text always comes from a .qmail file (or the
//! administrator's defaultdelivery), never from an address.

use super::error::LocalError;

/// One line that does something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `|cmd`: run `/bin/sh -c cmd`.
    Program(Vec<u8>),
    /// `/path` or `./path` not ending in `/`.
    Mbox(Vec<u8>),
    /// `/path/` or `./path/`.
    Maildir(Vec<u8>),
    /// `&addr` or a bare address.
    Forward(Vec<u8>),
    /// `+list`: from here on only forwards are allowed.
    ForwardOnly,
}

fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Parses the contents of a .qmail file (or defaultdelivery).
pub fn parse(contents: &[u8]) -> Result<Vec<Instruction>, LocalError> {
    let mut out = Vec::new();
    let body = contents.strip_suffix(b"\n").unwrap_or(contents);
    for (n, raw) in body.split(|&c| c == b'\n').enumerate() {
        let mut line = raw;
        while let Some((&last, rest)) = line.split_last() {
            if last != b' ' && last != b'\t' {
                break;
            }
            line = rest;
        }
        let Some(&first) = line.first() else {
            if n == 0 {
                return Err(LocalError::BlankFirstLine);
            }
            continue;
        };
        let ins = match first {
            0 if n == 0 => return Err(LocalError::BlankFirstLine),
            0 | b'#' => continue,
            b'.' | b'/' => {
                let path = cstr(line).to_vec();
                if line.ends_with(b"/") {
                    Instruction::Maildir(path)
                } else {
                    Instruction::Mbox(path)
                }
            }
            b'|' => Instruction::Program(cstr(&line[1..]).to_vec()),
            b'+' => {
                if cstr(&line[1..]) == b"list" {
                    Instruction::ForwardOnly
                } else {
                    continue;
                }
            }
            b'&' => Instruction::Forward(cstr(&line[1..]).to_vec()),
            _ => Instruction::Forward(cstr(line).to_vec()),
        };
        out.push(ins);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Instruction::*;

    #[test]
    fn every_line_type() {
        let v = parse(
            b"# comment\n|echo hi  \n./Maildir/\n/var/mail/u\t\n&a@b\nc@d\n\n+list\n+other\n  x@y",
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                Program(b"echo hi".to_vec()),
                Maildir(b"./Maildir/".to_vec()),
                Mbox(b"/var/mail/u".to_vec()),
                Forward(b"a@b".to_vec()),
                Forward(b"c@d".to_vec()),
                ForwardOnly,
                Forward(b"  x@y".to_vec()),
            ]
        );
    }

    #[test]
    fn blank_first_line() {
        assert!(matches!(
            parse(b"\n./Mailbox\n"),
            Err(LocalError::BlankFirstLine)
        ));
        assert!(matches!(parse(b"  \n"), Err(LocalError::BlankFirstLine)));
        assert!(matches!(parse(b""), Err(LocalError::BlankFirstLine)));
        assert_eq!(parse(b"#x\n\n\n").unwrap(), vec![]);
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(parse(b"|a\0b\n").unwrap(), vec![Program(b"a".to_vec())]);
    }
}
