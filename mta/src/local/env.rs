//! The environment qmail-local gives delivery programs, and the three
//! header lines it writes (spec §5.5).
//!
//! Built as a list rather than set on the process, so a long-lived worker
//! can deliver in-process: program lines get these variables on top of
//! the inherited environment.

use super::params::Params;
use crate::{date, quote};

/// The three prepended lines, each ending in `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines {
    /// `Delivered-To: <local>@<domain>\n`, newlines in the address as `_`.
    pub dtline: Vec<u8>,
    /// `Return-Path: <quoted sender>\n`, newlines as `_`.
    pub rpline: Vec<u8>,
    /// `From <sender> <ctime>\n` for mbox files.
    pub ufline: Vec<u8>,
}

fn newlines_to_underscores(v: &mut [u8]) {
    for c in v.iter_mut().filter(|c| **c == b'\n') {
        *c = b'_';
    }
}

impl Lines {
    /// The lines for `p`, dated `now` (seconds since the epoch).
    pub fn new(p: &Params, now: i64) -> Lines {
        let mut dtline = b"Delivered-To: ".to_vec();
        dtline.extend_from_slice(&p.recipient());
        newlines_to_underscores(&mut dtline);
        dtline.push(b'\n');

        let mut rpline = b"Return-Path: <".to_vec();
        rpline.extend_from_slice(&quote::quote(&p.sender));
        newlines_to_underscores(&mut rpline);
        rpline.extend_from_slice(b">\n");

        let mut ufline = b"From ".to_vec();
        if p.sender.is_empty() {
            ufline.extend_from_slice(b"MAILER-DAEMON");
        } else {
            ufline.extend(p.sender.iter().map(|&c| match c {
                b' ' | b'\t' | b'\n' => b'-',
                c => c,
            }));
        }
        ufline.push(b' ');
        ufline.extend_from_slice(date::ctime(now).as_bytes());
        ufline.push(b'\n');
        Lines {
            dtline,
            rpline,
            ufline,
        }
    }
}

/// EXT2..EXT4: the part after the first, second, third `-`.
fn ext_parts(ext: &[u8]) -> [&[u8]; 3] {
    let next = |x: &[u8]| -> usize {
        match x.iter().position(|&c| c == b'-') {
            Some(i) => i + 1,
            None => x.len(),
        }
    };
    let e2 = &ext[next(ext)..];
    let e3 = &e2[next(e2)..];
    let e4 = &e3[next(e3)..];
    [e2, e3, e4]
}

/// HOST2..HOST4: each the previous one up to its last `.`.
fn host_parts(host: &[u8]) -> [&[u8]; 3] {
    let cut = |h: &[u8]| -> usize { h.iter().rposition(|&c| c == b'.').unwrap_or(h.len()) };
    let h2 = &host[..cut(host)];
    let h3 = &h2[..cut(h2)];
    let h4 = &h3[..cut(h3)];
    [h2, h3, h4]
}

/// Every variable of spec §5.5 except DEFAULT and NEWSENDER, which
/// depend on the .qmail search.
pub fn variables(p: &Params, lines: &Lines) -> Vec<(&'static str, Vec<u8>)> {
    let [e2, e3, e4] = ext_parts(&p.ext);
    let [h2, h3, h4] = host_parts(&p.host);
    use std::os::unix::ffi::OsStrExt;
    vec![
        ("HOST", p.host.clone()),
        ("HOME", p.homedir.as_os_str().as_bytes().to_vec()),
        ("USER", p.user.clone()),
        ("LOCAL", p.local.clone()),
        ("RECIPIENT", p.recipient()),
        ("DTLINE", lines.dtline.clone()),
        ("SENDER", p.sender.clone()),
        ("RPLINE", lines.rpline.clone()),
        ("UFLINE", lines.ufline.clone()),
        ("EXT", p.ext.clone()),
        ("EXT2", e2.to_vec()),
        ("EXT3", e3.to_vec()),
        ("EXT4", e4.to_vec()),
        ("HOST2", h2.to_vec()),
        ("HOST3", h3.to_vec()),
        ("HOST4", h4.to_vec()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(local: &str, ext: &str, host: &str, sender: &[u8]) -> Params {
        let mut p = Params::parse(
            ["u", "/h", local, "-", ext, host, "s", "./Mailbox"]
                .iter()
                .map(std::ffi::OsString::from)
                .collect(),
            "/q".into(),
        )
        .unwrap();
        p.sender = sender.to_vec();
        p
    }

    #[test]
    fn ext_and_host_parts() {
        assert_eq!(ext_parts(b"x-y-z"), [&b"y-z"[..], b"z", b""]);
        assert_eq!(ext_parts(b"x"), [&b""[..], b"", b""]);
        assert_eq!(host_parts(b"a.b.c.d"), [&b"a.b.c"[..], b"a.b", b"a"]);
        assert_eq!(
            host_parts(b"localhost"),
            [&b"localhost"[..], b"localhost", b"localhost"]
        );
    }

    #[test]
    fn lines_match_qmail() {
        let t = 1704423845; // Fri Jan 05 03:04:05 2024
        let l = Lines::new(&params("u-x", "x", "d.example", b"a b@c"), t);
        assert_eq!(l.dtline, b"Delivered-To: u-x@d.example\n");
        assert_eq!(l.rpline, b"Return-Path: <\"a b\"@c>\n");
        assert_eq!(l.ufline, b"From a-b@c Fri Jan 05 03:04:05 2024\n");
        let l = Lines::new(&params("u\nv", "", "d", b""), t);
        assert_eq!(l.dtline, b"Delivered-To: u_v@d\n");
        assert_eq!(l.rpline, b"Return-Path: <>\n");
        assert_eq!(l.ufline, b"From MAILER-DAEMON Fri Jan 05 03:04:05 2024\n");
    }

    #[test]
    fn variables_include_recipient_and_exts() {
        let p = params("u-x-y", "x-y", "a.b", b"s@t");
        let l = Lines::new(&p, 0);
        let v = variables(&p, &l);
        let get = |k: &str| v.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("RECIPIENT"), b"u-x-y@a.b");
        assert_eq!(get("EXT2"), b"y");
        assert_eq!(get("HOST2"), b"a");
        assert_eq!(get("SENDER"), b"s@t");
    }
}
