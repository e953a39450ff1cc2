//! `qmail-qread`: lists queued messages and their recipients (spec
//! Appendix A). Everything, warnings included, goes to stdout, as in qmail.
//!
//! Per message in `info/` (split subdirectories in order; within one, by
//! id, where qmail uses readdir order):
//!
//! ```text
//! 5 Jan 2024 03:04:05 GMT  #457  1234  <sender@example.org>  bouncing
//! \tremote\tr@example.com
//!   done\tlocal\tu@example.net
//! ```
//!
//! The first line is the info file's mtime, id, mess size, sender, one
//! trailing space, and ` bouncing` if `bounce/<id>` exists. Then the local
//! then the remote recipients, `  done` in front of delivered ones. Bytes
//! outside 32..126 print as `_`.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error_str;
use crate::queue::layout::{parse_id, Layout};

/// qmail-qread cannot run at all (exit 111 after printing the text).
#[derive(Debug, thiserror::Error)]
#[error("fatal: unable to {what}: {}", error_str(.source))]
pub struct QreadFatal {
    pub what: String,
    #[source]
    pub source: io::Error,
}

/// Appends `s` with bytes outside 32..126 replaced by `_` (qmail's `out`).
fn put_safe(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(
        s.iter()
            .map(|&c| if (32..=126).contains(&c) { c } else { b'_' }),
    );
}

fn warn(out: &mut Vec<u8>, id: u64, e: &io::Error) {
    out.extend_from_slice(format!("warning: trouble with #{id}: {}\n", error_str(e)).as_bytes());
}

/// Renders the listing of the queue at `queue` into `out`.
pub fn qread(queue: &Path, out: &mut Vec<u8>) -> Result<(), QreadFatal> {
    let layout = Layout::new(queue);
    for sub in 0..layout.split {
        let dir = layout.dir("info").join(sub.to_string());
        let entries = std::fs::read_dir(&dir).map_err(|source| QreadFatal {
            what: format!("opendir info/{sub}"),
            source,
        })?;
        let mut ids: Vec<u64> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(parse_id))
            .collect();
        ids.sort_unstable();
        for id in ids {
            message(&layout, id, out);
        }
    }
    Ok(())
}

fn message(layout: &Layout, id: u64, out: &mut Vec<u8>) {
    let size = match std::fs::metadata(layout.mess(id)) {
        Ok(m) => m.len(),
        Err(e) => return warn(out, id, &e),
    };
    let bouncing = std::fs::metadata(layout.bounce(id)).is_ok();
    let (sender, mtime) = match read_info(&layout.info(id)) {
        Ok(v) => v,
        Err(e) => return warn(out, id, &e),
    };
    let mut stats = format!("{}  #{id}  {size}  <", crate::date::qread(mtime)).into_bytes();
    stats.extend_from_slice(&sender);
    stats.extend_from_slice(b"> ");
    if bouncing {
        stats.extend_from_slice(b" bouncing");
    }
    put_safe(out, &stats);
    out.push(b'\n');

    for (name, path) in [("local", layout.local(id)), ("remote", layout.remote(id))] {
        match File::open(&path) {
            Ok(f) => recipients(BufReader::new(f), name, out),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn(out, id, &e),
        }
    }
}

/// The sender (the first record without its `F`) and the info mtime.
fn read_info(path: &Path) -> io::Result<(Vec<u8>, i64)> {
    let f = File::open(path)?;
    let mut r = BufReader::new(&f);
    let mut rec = Vec::new();
    r.read_until(0, &mut rec)?;
    if rec.last() == Some(&0) {
        rec.pop();
    }
    let sender = if rec.is_empty() {
        rec
    } else {
        rec[1..].to_vec()
    };
    Ok((sender, f.metadata()?.mtime()))
}

/// One line per complete `T`/`D` record; others are skipped.
fn recipients(mut r: impl BufRead, channel: &str, out: &mut Vec<u8>) {
    let mut rec = Vec::new();
    loop {
        rec.clear();
        match r.read_until(0, &mut rec) {
            Ok(_) if rec.last() == Some(&0) => {}
            _ => return,
        }
        let done = match rec[0] {
            b'D' => true,
            b'T' => false,
            _ => continue,
        };
        if done {
            out.extend_from_slice(b"  done");
        }
        out.push(b'\t');
        out.extend_from_slice(channel.as_bytes());
        out.push(b'\t');
        put_safe(out, &rec[1..rec.len() - 1]);
        out.push(b'\n');
    }
}

/// qmail-qread's main: prints the listing of `QMAILHOME/queue`; 0, or 111
/// on a fatal error.
pub fn main() -> i32 {
    use std::io::Write;
    let home = crate::home::Home::from_env();
    let mut out = Vec::new();
    let code = match qread(&home.queue(), &mut out) {
        Ok(()) => 0,
        Err(e) => {
            out.extend_from_slice(format!("{e}\n").as_bytes());
            111
        }
    };
    let mut stdout = io::stdout().lock();
    if stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return 111;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_lines() {
        let mut out = Vec::new();
        recipients(&b"Ta@b\0Dc@d\0Xe\0Tpartial"[..], "remote", &mut out);
        assert_eq!(out, b"\tremote\ta@b\n  done\tremote\tc@d\n");
    }

    #[test]
    fn unprintable_bytes_become_underscores() {
        let mut out = Vec::new();
        put_safe(&mut out, b"a\tb\x7f\xc3");
        assert_eq!(out, b"a_b__");
    }
}
