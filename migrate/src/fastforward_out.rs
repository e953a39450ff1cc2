//! Aliases → a fastforward-compatible aliases source plus `aliases.cdb`
//! in the exact format fastforward 0.51's `newaliases` writes (spec §3.1,
//! §6.4), so the real `fastforward -d aliases.cdb` and `printforward` read
//! it.
//!
//! Hand-written encoding ([`crate::cdbmake`] builds the container): keys are
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

use std::path::Path;

use crate::aliases::{Alias, Converted};
use crate::cdbmake::CdbMake;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::Target;
use crate::write::OutFile;

fn push_quoted(q: &mut String, prefix: &str, s: &str) {
    q.push('"');
    for c in prefix.chars().chain(s.chars()) {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
}

/// One target in fastforward's source syntax and as a cdb instruction,
/// borrowed from the alias: 100,000 aliases are built here, and a local
/// name is only quoted and qualified (`user@me`) where it is written.
#[derive(Clone, Copy)]
enum Instr<'a> {
    /// A local name: `quote(user)@me`.
    Local(&'a str),
    /// An address as written.
    Addr(&'a str),
    Prog(&'a str),
}

fn instr(t: &Target) -> Option<Instr<'_>> {
    Some(match t {
        Target::Local { user, .. } => Instr::Local(user),
        Target::Remote(a) => Instr::Addr(a),
        Target::Program(c) => Instr::Prog(c),
        Target::File(p) if p == "/dev/null" => Instr::Prog("cat >/dev/null"),
        Target::File(_) | Target::Include(_) => return None,
    })
}

/// The address of `i` as the source shows it (`Local` and `Addr` only).
fn push_source_addr(site: &Site, out: &mut String, i: Instr<'_>) {
    match i {
        Instr::Local(user) => {
            mta::quote::push_quoted_str(out, user);
            out.push('@');
            out.push_str(&site.me);
        }
        Instr::Addr(a) => out.push_str(a),
        Instr::Prog(_) => {}
    }
}

/// Appends `addr` as newaliases stores it: the local part without RFC 822
/// quoting (`"bob smith"@x` → `bob smith@x`; fastforward quotes again
/// when it forwards), and a host without a dot qualified with
/// `.defaultdomain`.
fn push_addr(site: &Site, v: &mut Vec<u8>, addr: &str) {
    let b = addr.as_bytes();
    // One pass: a quote sends it the long way; else note the last `@`.
    let mut at = None;
    let mut quoted = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'"' => {
                quoted = true;
                break;
            }
            b'@' => at = Some(i),
            _ => {}
        }
    }
    let start = v.len();
    if quoted {
        // Byte-wise is exact for UTF-8: `"` and `\` never occur inside a
        // multi-byte character.
        let (mut quoted, mut esc) = (false, false);
        for &c in b {
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
        at = v[start..].iter().rposition(|&c| c == b'@');
    } else {
        v.extend_from_slice(b);
    }
    if let Some(i) = at {
        let host = &v[start + i + 1..];
        if !host.contains(&b'.') && !host.starts_with(b"[") {
            v.push(b'.');
            v.extend_from_slice(site.default_domain.as_bytes());
        }
    }
}

/// One `&address` instruction; `buf` is scratch space for a local name.
fn push_addr_instr(site: &Site, v: &mut Vec<u8>, i: Instr<'_>, buf: &mut String) {
    v.push(b'&');
    match i {
        Instr::Addr(a) => push_addr(site, v, a),
        _ => {
            buf.clear();
            push_source_addr(site, buf, i);
            push_addr(site, v, buf);
        }
    }
    v.push(0);
}

/// The cdb value of one alias, into `v` (cleared first).
fn cdb_value(site: &Site, list: &[Instr<'_>], v: &mut Vec<u8>, buf: &mut String) {
    v.clear();
    let mut pending: Option<Instr<'_>> = None;
    for &i in list.iter().rev() {
        match i {
            Instr::Prog(c) => {
                v.push(b'!');
                v.extend_from_slice(c.as_bytes());
                v.push(0);
            }
            Instr::Addr(_) | Instr::Local(_) => {
                if let Some(p) = pending.replace(i) {
                    push_addr_instr(site, v, p, buf);
                }
            }
        }
    }
    if let Some(p) = pending {
        push_addr_instr(site, v, p, buf);
    }
}

fn push_source_name(source: &mut String, name: &str) {
    if name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-_.+=!#$%&'*/?^`{|}~".contains(&c))
    {
        source.push_str(name);
    } else {
        push_quoted(source, "", name);
    }
}

/// The source text and the cdb bytes.
pub struct Output {
    pub source: String,
    pub cdb: Vec<u8>,
}

/// Builds both files; `qmail_too` says `.qmail` files are written as
/// well (they take precedence, so file targets are handled there). For a
/// large table the source and the cdb are built at once.
pub fn build(
    site: &Site,
    conv: &Converted,
    qmail_too: bool,
    report: &mut Report,
) -> std::io::Result<Output> {
    build_in(site, conv, qmail_too, report, Vec::new())
}

/// [`build`] writing the source text into `spare`'s memory (cleared): a
/// buffer the caller no longer needs, such as the input file's. Memory
/// the process already touched costs no page faults, and for 100,000
/// aliases those were a large part of the run time.
pub fn build_in(
    site: &Site,
    conv: &Converted,
    qmail_too: bool,
    report: &mut Report,
    mut spare: Vec<u8>,
) -> std::io::Result<Output> {
    spare.clear();
    let spare = String::from_utf8(spare).unwrap_or_default();
    let parallel = conv.aliases.len() >= PAR_ALIASES;
    let (out, found) = build_parts(site, conv, qmail_too, spare, parallel);
    report.findings.extend(found.findings);
    out
}

/// The source (with its findings) and the cdb, at once when `parallel`.
fn build_parts(
    site: &Site,
    conv: &Converted,
    qmail_too: bool,
    spare: String,
    parallel: bool,
) -> (std::io::Result<Output>, Report) {
    let ((source, found), cdb) = if parallel {
        crate::par::join(
            || source_text(site, conv, qmail_too, spare),
            || cdb_bytes(site, conv),
        )
    } else {
        (
            source_text(site, conv, qmail_too, spare),
            cdb_bytes(site, conv),
        )
    };
    (cdb.map(|cdb| Output { source, cdb }), found)
}

/// From this many aliases on, [`build`] uses two threads.
const PAR_ALIASES: usize = 8192;

/// fastforward cannot deliver to files; `/dev/null` is a program here.
fn has_file_target(a: &Alias) -> bool {
    a.targets
        .iter()
        .any(|t| matches!(t, Target::File(p) if p != "/dev/null"))
}

/// The source text, and the findings about what it leaves out or changes.
fn source_text(
    site: &Site,
    conv: &Converted,
    qmail_too: bool,
    mut source: String,
) -> (String, Report) {
    let file = conv.file.as_str();
    let mut report = Report::default();
    source.reserve(conv.aliases.len() * 48 + 128);
    source.push_str("# Converted from ");
    source.push_str(file);
    source.push_str(" by migrate for fastforward; rebuild the cdb with newaliases.\n");
    // Reused for every alias.
    let mut list = Vec::new();
    for a in &conv.aliases {
        if has_file_target(a) {
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
        list.extend(a.targets.iter().filter_map(instr));
        if list.iter().any(|i| matches!(i, Instr::Prog(_))) {
            report.push(
                file,
                a.line,
                ["programs of alias `", &a.name, "`"].concat(),
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
        for (n, &i) in list.iter().enumerate() {
            if n > 0 {
                source.push_str(", ");
            }
            match i {
                Instr::Prog(c) => push_quoted(&mut source, "|", c),
                _ => push_source_addr(site, &mut source, i),
            }
        }
        source.push('\n');
    }
    (source, report)
}

/// `aliases.cdb`: the same aliases as [`source_text`] writes.
fn cdb_bytes(site: &Site, conv: &Converted) -> std::io::Result<Vec<u8>> {
    let n = conv.aliases.len();
    let mut cdb = CdbMake::with_capacity(n, n * 56);
    // Reused for every alias.
    let (mut list, mut key, mut value) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = String::new();
    for a in &conv.aliases {
        if has_file_target(a) {
            continue;
        }
        list.clear();
        list.extend(a.targets.iter().filter_map(instr));
        if list.is_empty() {
            continue;
        }
        if let Some(list_name) = a.name.strip_prefix("owner-") {
            key.clear();
            key.push(b'?');
            key.extend(list_name.bytes().map(|c| c.to_ascii_lowercase()));
            key.push(b'@');
            let owner = format!("{}@{}", a.name, site.me);
            cdb.add(&key, owner.as_bytes()).map_err(too_big)?;
        }
        key.clear();
        key.push(b':');
        key.extend_from_slice(a.name.as_bytes());
        key.make_ascii_lowercase();
        key.push(b'@');
        cdb_value(site, &list, &mut value, &mut buf);
        cdb.add(&key, &value).map_err(too_big)?;
    }
    cdb.finish().map_err(too_big)
}

fn too_big(e: crate::cdbmake::TooBig) -> std::io::Error {
    std::io::Error::other(e)
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
        let a = |s: &'static str| Instr::Addr(s);
        let p = |s: &'static str| Instr::Prog(s);
        // Observed: `c: b1, "|p1", b2, "|p2", x@remote, b3`
        // → b3, p2, x, p1, b2, b1.
        let mut v = Vec::new();
        cdb_value(
            &site,
            &[
                a("b1@x.y"),
                p("p1"),
                a("b2@x.y"),
                p("p2"),
                a("x@x.y"),
                a("b3@x.y"),
            ],
            &mut v,
            &mut String::new(),
        );
        let parts: Vec<&[u8]> = v.split(|&c| c == 0).filter(|s| !s.is_empty()).collect();
        let want: Vec<&[u8]> = vec![
            b"&b3@x.y", b"!p2", b"&x@x.y", b"!p1", b"&b2@x.y", b"&b1@x.y",
        ];
        assert_eq!(parts, want);
        // A local name is quoted in the source, stored unquoted.
        let mut src = String::new();
        push_source_addr(&site, &mut src, Instr::Local("bob smith"));
        assert_eq!(src, "\"bob smith\"@mail.example.org");
        cdb_value(&site, &[Instr::Local("bob smith")], &mut v, &mut src);
        assert_eq!(v, b"&bob smith@mail.example.org\0");
        let mut q = Vec::new();
        push_addr(&site, &mut q, "z@y");
        push_addr(&site, &mut q, " \"bob \\\"s\"@[1.2.3.4]");
        assert_eq!(q, b"z@y.mail.example.org bob \"s@[1.2.3.4]");
    }

    #[test]
    fn built_at_once_or_in_turn_the_same() {
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!(
                "a{i}: b{i}, \"|prog {i}\", x@y{i}\nowner-a{i}: c{i}\nf{i}: /tmp/f{i}\n"
            ));
        }
        let site = Site::new("mail.example.org", &[]);
        let conv = crate::aliases::convert(&site, "aliases", text.as_bytes()).unwrap();
        let (one, r1) = build_parts(&site, &conv, false, String::new(), false);
        let (two, r2) = build_parts(&site, &conv, false, String::with_capacity(64), true);
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.source, two.source);
        assert_eq!(one.cdb, two.cdb);
        assert_eq!(r1.findings, r2.findings);
        assert!(!r1.findings.is_empty());
        assert!(two.source.starts_with("# Converted from aliases"));
    }
}
