//! Aliases → a fastforward-compatible aliases source plus `aliases.cdb`
//! in the exact format fastforward 0.51's `newaliases` writes (spec §3.1,
//! §6.4), so the real `fastforward -d aliases.cdb` and `printforward` read
//! it.
//!
//! Hand-written encoding (the `cdb` crate writes the container): keys are
//! `:` + lower-cased `name@`; values are NUL-terminated instructions
//! `&address` and `!program`. For an `owner-X` entry newaliases first adds
//! `?x@` → `owner-X@me`. Instruction order reproduces newaliases: it walks
//! the address list backwards and emits each address only when it meets
//! the next one, while programs go out at once (observed with the oracle).
//! A dotless host gets `.defaultdomain` appended (F11).
//!
//! Files cannot be written by fastforward (F1, fatal for the whole file):
//! `/dev/null` becomes the program `cat >/dev/null`; any other file target
//! leaves its alias out of the cdb and the report says so.

use std::borrow::Cow;
use std::io::{Read, Seek};
use std::path::Path;

use crate::aliases::Converted;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::Target;
use crate::write::OutFile;

fn push_quoted(q: &mut String, s: &str) {
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
}

/// One target in fastforward's source syntax and as a cdb instruction
/// (borrowed from the alias where no quoting is needed: 100,000 aliases
/// are built here).
enum Instr<'a> {
    Addr(Cow<'a, str>),
    Prog(&'a str),
}

fn instr<'a>(site: &Site, t: &'a Target) -> Option<Instr<'a>> {
    Some(match t {
        Target::Local { user, .. } => {
            let mut a = mta::quote::quote_str(user);
            a.push('@');
            a.push_str(&site.me);
            Instr::Addr(a.into())
        }
        Target::Remote(a) => Instr::Addr(a.as_str().into()),
        Target::Program(c) => Instr::Prog(c),
        Target::File(p) if p == "/dev/null" => Instr::Prog("cat >/dev/null"),
        Target::File(_) | Target::Include(_) => return None,
    })
}

/// Appends `addr` as newaliases stores it: the local part without RFC 822
/// quoting (`"bob smith"@x` → `bob smith@x`; fastforward quotes again
/// when it forwards), and a host without a dot qualified with
/// `.defaultdomain`.
fn push_addr(site: &Site, v: &mut Vec<u8>, addr: &str) {
    let start = v.len();
    // Byte-wise is exact for UTF-8: `"` and `\` never occur inside a
    // multi-byte character.
    if !addr.contains('"') {
        v.extend_from_slice(addr.as_bytes());
    } else {
        let (mut quoted, mut esc) = (false, false);
        for &c in addr.as_bytes() {
            if esc {
                esc = false;
            } else if quoted && c == b'\\' {
                esc = true;
                continue;
            } else if c == b'"' {
                quoted = !quoted;
                continue;
            }
            v.push(c);
        }
    }
    let raw = &v[start..];
    if let Some(i) = raw.iter().rposition(|&c| c == b'@') {
        let host = &raw[i + 1..];
        if !host.contains(&b'.') && !host.starts_with(b"[") {
            v.push(b'.');
            v.extend_from_slice(site.default_domain.as_bytes());
        }
    }
}

/// The cdb value of one alias, into `v` (cleared first).
fn cdb_value(site: &Site, list: &[Instr<'_>], v: &mut Vec<u8>) {
    v.clear();
    let mut pending: Option<&str> = None;
    for i in list.iter().rev() {
        match i {
            Instr::Prog(c) => {
                v.push(b'!');
                v.extend_from_slice(c.as_bytes());
                v.push(0);
            }
            Instr::Addr(a) => {
                if let Some(p) = pending.replace(a) {
                    v.push(b'&');
                    push_addr(site, v, p);
                    v.push(0);
                }
            }
        }
    }
    if let Some(p) = pending {
        v.push(b'&');
        push_addr(site, v, p);
        v.push(0);
    }
}

fn push_source_name(source: &mut String, name: &str) {
    if name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-_.+=!#$%&'*/?^`{|}~".contains(&c))
    {
        source.push_str(name);
    } else {
        push_quoted(source, name);
    }
}

/// The source text and the cdb bytes.
pub struct Output {
    pub source: String,
    pub cdb: Vec<u8>,
}

/// Builds both files; `qmail_too` says `.qmail` files are written as
/// well (they take precedence, so file targets are handled there).
pub fn build(
    site: &Site,
    conv: &Converted,
    qmail_too: bool,
    report: &mut Report,
) -> std::io::Result<Output> {
    let file = conv.file.as_str();
    let mut source = format!(
        "# Converted from {file} by migrate for fastforward; rebuild the cdb with newaliases.\n"
    );
    let tmp = tempfile::tempfile()?;
    let mut back = tmp.try_clone()?;
    let mut cdb = cdb::CDBMake::new(tmp)?;
    // Reused for every alias.
    let (mut list, mut key, mut value) = (Vec::new(), Vec::new(), Vec::new());
    for a in &conv.aliases {
        if a.targets
            .iter()
            .any(|t| matches!(t, Target::File(p) if p != "/dev/null"))
        {
            let (action, why) = if qmail_too {
                (
                    Action::Converted,
                    "fastforward cannot deliver to files (fatal for the whole file); \
                     left out of the cdb, its .qmail file delivers instead",
                )
            } else {
                (
                    Action::NotConverted,
                    "fastforward cannot deliver to files (fatal for the whole file); \
                     write it as a .qmail file (migrate aliases --qmail DIR)",
                )
            };
            report.push(
                file,
                a.line,
                format!("alias `{}`", a.name),
                action,
                why,
                !qmail_too,
            );
            continue;
        }
        list.clear();
        list.extend(a.targets.iter().filter_map(|t| instr(site, t)));
        if list.iter().any(|i| matches!(i, Instr::Prog(_))) {
            report.push(
                file,
                a.line,
                format!("programs of alias `{}`", a.name),
                Action::ConvertedWithChange,
                "fastforward runs programs as user alias with From_, Return-Path and \
                 Delivered-To lines prepended (`!`); sendmail ran them as DefaultUser without",
                false,
            );
        }
        if list.is_empty() {
            continue;
        }
        push_source_name(&mut source, &a.name);
        source.push_str(": ");
        for (n, i) in list.iter().enumerate() {
            if n > 0 {
                source.push_str(", ");
            }
            match i {
                Instr::Addr(a) => source.push_str(a),
                Instr::Prog(c) => push_quoted(&mut source, &format!("|{c}")),
            }
        }
        source.push('\n');
        if let Some(list_name) = a.name.strip_prefix("owner-") {
            key.clear();
            key.push(b'?');
            key.extend(list_name.bytes().map(|c| c.to_ascii_lowercase()));
            key.push(b'@');
            let owner = format!("{}@{}", a.name, site.me);
            cdb.add(&key, owner.as_bytes())?;
        }
        key.clear();
        key.push(b':');
        key.extend(a.name.bytes().map(|c| c.to_ascii_lowercase()));
        key.push(b'@');
        cdb_value(site, &list, &mut value);
        cdb.add(&key, &value)?;
    }
    cdb.finish()?;
    back.rewind()?;
    let mut bytes = Vec::new();
    back.read_to_end(&mut bytes)?;
    Ok(Output { source, cdb: bytes })
}

/// The two files at `path` and `path.cdb`.
pub fn files(out: Output, path: &Path) -> Vec<OutFile> {
    let mut cdb_path = path.as_os_str().to_owned();
    cdb_path.push(".cdb");
    vec![
        OutFile {
            path: path.to_path_buf(),
            contents: out.source.into_bytes(),
            mode: 0o644,
        },
        OutFile {
            path: cdb_path.into(),
            contents: out.cdb,
            mode: 0o644,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_order_matches_newaliases() {
        let site = Site::new("mail.example.org", &[]);
        let a = |s: &str| Instr::Addr(format!("{s}@x.y").into());
        let p = |s: &'static str| Instr::Prog(s);
        // Observed: `c: b1, "|p1", b2, "|p2", x@remote, b3`
        // → b3, p2, x, p1, b2, b1.
        let mut v = Vec::new();
        cdb_value(
            &site,
            &[a("b1"), p("p1"), a("b2"), p("p2"), a("x"), a("b3")],
            &mut v,
        );
        let parts: Vec<&[u8]> = v.split(|&c| c == 0).filter(|s| !s.is_empty()).collect();
        let want: Vec<&[u8]> = vec![
            b"&b3@x.y", b"!p2", b"&x@x.y", b"!p1", b"&b2@x.y", b"&b1@x.y",
        ];
        assert_eq!(parts, want);
        let mut q = Vec::new();
        push_addr(&site, &mut q, "z@y");
        push_addr(&site, &mut q, " \"bob \\\"s\"@[1.2.3.4]");
        assert_eq!(q, b"z@y.mail.example.org bob \"s@[1.2.3.4]");
    }
}
