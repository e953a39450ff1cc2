//! Delivery into a maildir (spec §5.6 "maildir delivery").
//!
//! `tmp/<time>.<pid>.<host>` is created with O_EXCL, gets RPLINE, DTLINE
//! and the message verbatim, and is fsynced and closed; then it is linked
//! to `new/<same name>` (the commit point), `new/` is fsynced, and the tmp
//! name is removed. A crash before the link leaves at most a file in
//! `tmp/` (maildir readers sweep those); `new/` never holds a partial
//! file.
//!
//! Unlike qmail we do not fork a child (so the delivery can run inside a
//! long-lived worker) and do not arm the 24-hour alarm; reading a local
//! file does not hang.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::errno;
use super::error::LocalError;
use crate::durable;

/// How many names qmail tries before giving up.
const TRIES: usize = 3;
/// Copy buffer; one write for a typical message.
const BUF: usize = 64 * 1024;

/// The host part of maildir names: `gethostname`, at most 64 bytes.
pub fn hostname() -> Vec<u8> {
    let mut h = nix::unistd::gethostname()
        .map(|h| h.as_bytes().to_vec())
        .unwrap_or_default();
    h.truncate(64);
    h
}

/// `<time>.<tag>.<host>` where `tag` is normally the pid.
pub fn unique_name(time: i64, tag: &str, host: &[u8]) -> Vec<u8> {
    let mut n = format!("{time}.{tag}.").into_bytes();
    n.extend_from_slice(host);
    n
}

enum CopyError {
    Read,
    Write,
}

/// Writes `head` and then all of `message` to `out`.
fn copy(head: &[u8], message: &mut impl Read, out: &mut File) -> Result<(), CopyError> {
    let mut buf = Vec::with_capacity(BUF.max(head.len() * 2));
    buf.extend_from_slice(head);
    loop {
        let start = buf.len();
        buf.resize(if start < BUF { BUF } else { start + BUF }, 0);
        let n = loop {
            match message.read(&mut buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(CopyError::Read),
            }
        };
        buf.truncate(start + n);
        if n == 0 || buf.len() >= BUF {
            out.write_all(&buf).map_err(|_| CopyError::Write)?;
            buf.clear();
        }
        if n == 0 {
            return Ok(());
        }
    }
}

/// Delivers `message` (read from offset 0) into the maildir `dir`
/// (relative to `home` unless absolute), with `head` = RPLINE + DTLINE.
pub fn deliver(
    home: &Path,
    dir: &[u8],
    head: &[u8],
    message: &File,
    tag: &str,
) -> Result<(), LocalError> {
    let dir = home.join(std::ffi::OsStr::from_bytes(dir));
    // qmail chdirs into the maildir; a failure there is reported apart
    // from everything else.
    match std::fs::metadata(&dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(LocalError::MaildirChdir),
        Err(e) if errno::is_temp(&e) => return Err(LocalError::MaildirTemp),
        Err(_) => return Err(LocalError::MaildirChdir),
    }
    // Reading through `&File` moves the shared offset; qmail rewinds
    // before every instruction, and so do we.
    let mut message: &File = message;
    message
        .seek(SeekFrom::Start(0))
        .map_err(|_| LocalError::Rewind)?;

    let host = hostname();
    let (name, mut file) = {
        let mut tries = 0;
        loop {
            let name = unique_name(crate::date::now(), tag, &host);
            let tmp = dir.join("tmp").join(std::ffi::OsStr::from_bytes(&name));
            match durable::create_excl(&tmp, 0o600) {
                Ok(f) => break (name, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries + 1 < TRIES => {
                    // "really should never get to this point" (qmail).
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                Err(_) => return Err(LocalError::MaildirTemp),
            }
        }
    };
    let name = std::ffi::OsStr::from_bytes(&name);
    let tmp = dir.join("tmp").join(name);
    let new = dir.join("new").join(name);
    let fail = |e: LocalError| {
        let _ = std::fs::remove_file(&tmp);
        e
    };
    match copy(head, &mut message, &mut file) {
        Ok(()) => {}
        Err(CopyError::Read) => return Err(fail(LocalError::MaildirRead)),
        Err(CopyError::Write) => return Err(fail(LocalError::MaildirTemp)),
    }
    durable::sync_file(&file, "local.maildir.tmp.synced")
        .map_err(|_| fail(LocalError::MaildirTemp))?;
    drop(file);
    durable::link(&tmp, &new, "local.maildir.new.linked")
        .map_err(|_| fail(LocalError::MaildirTemp))?;
    // The delivery is committed; a leftover tmp file is harmless.
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir(d: &Path) {
        for s in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(d.join("Maildir").join(s)).unwrap();
        }
    }

    #[test]
    fn delivers_into_new_and_leaves_tmp_empty() {
        let d = tempfile::tempdir().unwrap();
        maildir(d.path());
        let m = d.path().join("msg");
        std::fs::write(&m, b"Subject: x\n\nbody\n").unwrap();
        let f = File::open(&m).unwrap();
        deliver(d.path(), b"./Maildir/", b"RP\nDT\n", &f, "42").unwrap();
        let new: Vec<_> = std::fs::read_dir(d.path().join("Maildir/new"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(new.len(), 1);
        let n = new[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(n.contains(".42."), "{n}");
        assert_eq!(
            std::fs::read(&new[0]).unwrap(),
            b"RP\nDT\nSubject: x\n\nbody\n"
        );
        assert_eq!(
            std::fs::read_dir(d.path().join("Maildir/tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn large_message_is_copied_whole() {
        let d = tempfile::tempdir().unwrap();
        maildir(d.path());
        let m = d.path().join("msg");
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&m, &body).unwrap();
        deliver(d.path(), b"Maildir/", b"H\n", &File::open(&m).unwrap(), "1").unwrap();
        let p = std::fs::read_dir(d.path().join("Maildir/new"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let got = std::fs::read(p).unwrap();
        assert_eq!(&got[..2], b"H\n");
        assert_eq!(&got[2..], &body[..]);
    }

    #[test]
    fn missing_maildir() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("msg");
        std::fs::write(&m, b"x").unwrap();
        let r = deliver(d.path(), b"./Nope/", b"", &File::open(&m).unwrap(), "1");
        assert!(matches!(r, Err(LocalError::MaildirChdir)));
        std::fs::create_dir(d.path().join("Half")).unwrap();
        let r = deliver(d.path(), b"./Half/", b"", &File::open(&m).unwrap(), "1");
        assert!(matches!(r, Err(LocalError::MaildirTemp)));
    }
}
