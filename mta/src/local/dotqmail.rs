//! Finding the .qmail file that controls a delivery (spec §5.4) and the
//! owner files that set NEWSENDER (spec §5.7).
//!
//! With `safeext` = lowercase(ext) with `.` → `:`, the candidates are
//! `.qmail<dash><safeext>`, then `.qmail<dash><safeext[..i]>default` for
//! each `i` from the end down to 0 where `i` is 0 or follows a `-`. For
//! the plain user address (dash and ext empty) that gives `.qmail` and
//! then `.qmaildefault` — a quirk of qmail's loop that we keep.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::errno;
use super::error::{show, LocalError};
use crate::home::PATRN;

/// lowercase(ext) with every `.` replaced by `:`.
pub fn safeext(ext: &[u8]) -> Vec<u8> {
    ext.iter()
        .map(|&c| match c.to_ascii_lowercase() {
            b'.' => b':',
            c => c,
        })
        .collect()
}

/// The chosen .qmail file.
#[derive(Debug)]
pub struct Found {
    /// Its name relative to the home directory, e.g. `.qmail-foo`.
    pub name: Vec<u8>,
    pub file: File,
    /// The user-execute bit is set: only forwards are allowed.
    pub forward_only: bool,
    /// The part of the original `ext` that `default` stands for.
    pub default: Option<Vec<u8>>,
}

fn name(dash: &[u8], middle: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut n = b".qmail".to_vec();
    n.extend_from_slice(dash);
    n.extend_from_slice(middle);
    n.extend_from_slice(suffix);
    n
}

fn open_error(name: &[u8], e: &io::Error) -> LocalError {
    LocalError::OpenQmail {
        file: show(name),
        err: errno::text(e),
    }
}

/// qmail's `qmeexists`: opens `name` if it is a regular file. Temporary
/// errors, EPERM and EACCES defer; other errors mean "absent".
fn open_regular(home: &Path, name: &[u8]) -> Result<Option<(File, bool)>, LocalError> {
    use std::os::unix::ffi::OsStrExt;
    // O_NONBLOCK as qmail's open_read: a FIFO named .qmail must not hang us.
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(home.join(std::ffi::OsStr::from_bytes(name)))
    {
        Ok(f) => f,
        Err(e) => {
            let n = e.raw_os_error().unwrap_or(0);
            if errno::is_temp(&e) || n == libc::EPERM || n == libc::EACCES {
                return Err(open_error(name, &e));
            }
            return Ok(None);
        }
    };
    let md = f.metadata().map_err(|e| open_error(name, &e))?;
    if !md.file_type().is_file() {
        return Ok(None);
    }
    if md.mode() & PATRN != 0 {
        return Err(LocalError::QmailWritable);
    }
    Ok(Some((f, md.mode() & 0o100 != 0)))
}

/// qmail's `qmesearch`: the first candidate that is a regular file.
pub fn search(home: &Path, dash: &[u8], ext: &[u8]) -> Result<Option<Found>, LocalError> {
    let safe = safeext(ext);
    let exact = name(dash, &safe, b"");
    if let Some((file, forward_only)) = open_regular(home, &exact)? {
        // An exactly-named file that happens to end in "default" also
        // sets DEFAULT (qmail does the same).
        let default = safe
            .strip_suffix(b"default")
            .map(|pre| ext[pre.len()..].to_vec());
        return Ok(Some(Found {
            name: exact,
            file,
            forward_only,
            default,
        }));
    }
    for i in (0..=safe.len()).rev() {
        if i != 0 && safe[i - 1] != b'-' {
            continue;
        }
        let n = name(dash, &safe[..i], b"default");
        if let Some((file, forward_only)) = open_regular(home, &n)? {
            return Ok(Some(Found {
                name: n,
                file,
                forward_only,
                default: Some(ext[i..].to_vec()),
            }));
        }
    }
    Ok(None)
}

/// qmail's `qmeox`: does `.qmail<dash><safeext><suffix>` exist (stat)?
fn exists(home: &Path, dash: &[u8], safe: &[u8], suffix: &[u8]) -> Result<bool, LocalError> {
    use std::os::unix::ffi::OsStrExt;
    let n = name(dash, safe, suffix);
    match std::fs::metadata(home.join(std::ffi::OsStr::from_bytes(&n))) {
        Ok(_) => Ok(true),
        Err(e) if errno::is_temp(&e) => Err(open_error(&n, &e)),
        Err(_) => Ok(false),
    }
}

/// NEWSENDER (spec §5.7): the owner address, the owner VERP request, or
/// the original sender.
pub fn newsender(
    home: &Path,
    dash: &[u8],
    ext: &[u8],
    local: &[u8],
    host: &[u8],
    sender: &[u8],
) -> Result<Vec<u8>, LocalError> {
    if sender.is_empty() || sender == b"#@[]" {
        return Ok(sender.to_vec());
    }
    let safe = safeext(ext);
    if !exists(home, dash, &safe, b"-owner")? {
        return Ok(sender.to_vec());
    }
    let mut ueo = local.to_vec();
    if exists(home, dash, &safe, b"-owner-default")? {
        ueo.extend_from_slice(b"-owner-@");
        ueo.extend_from_slice(host);
        ueo.extend_from_slice(b"-@[]");
    } else {
        ueo.extend_from_slice(b"-owner@");
        ueo.extend_from_slice(host);
    }
    Ok(ueo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn touch(d: &Path, n: &str, mode: u32) {
        let p = d.join(n);
        std::fs::write(&p, b"#\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn found(d: &Path, dash: &str, ext: &str) -> Option<(String, Option<String>)> {
        search(d, dash.as_bytes(), ext.as_bytes())
            .unwrap()
            .map(|f| {
                (
                    String::from_utf8(f.name).unwrap(),
                    f.default.map(|x| String::from_utf8(x).unwrap()),
                )
            })
    }

    #[test]
    fn search_order_and_default() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        assert_eq!(found(h, "-", "a-b-c"), None);
        touch(h, ".qmail-default", 0o600);
        assert_eq!(
            found(h, "-", "A-b-C"),
            Some((".qmail-default".into(), Some("A-b-C".into())))
        );
        touch(h, ".qmail-a-default", 0o600);
        assert_eq!(
            found(h, "-", "A-b-C"),
            Some((".qmail-a-default".into(), Some("b-C".into())))
        );
        touch(h, ".qmail-a-b-c", 0o600);
        assert_eq!(found(h, "-", "A-b-C"), Some((".qmail-a-b-c".into(), None)));
        touch(h, ".qmail-p:d:q", 0o600);
        assert_eq!(found(h, "-", "P.D.Q"), Some((".qmail-p:d:q".into(), None)));
        // Exact name ending in "default" sets DEFAULT too.
        assert_eq!(
            found(h, "-", "a-Default"),
            Some((".qmail-a-default".into(), Some("Default".into())))
        );
    }

    #[test]
    fn plain_user_quirk_qmaildefault() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(found(d.path(), "", ""), None);
        touch(d.path(), ".qmaildefault", 0o600);
        assert_eq!(
            found(d.path(), "", ""),
            Some((".qmaildefault".into(), Some("".into())))
        );
    }

    /// Spec §5.4: only temporary errnos, EPERM and EACCES defer; ELOOP,
    /// ENOTDIR, ENAMETOOLONG and the like mean "does not exist", so the
    /// search goes on to the `default` files. (EACCES itself cannot be
    /// produced as root; `tests/faults_dotqmail.rs` covers it end to end
    /// by running the MTA as `nobody`.)
    #[test]
    fn permanent_open_errors_mean_absent() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        std::os::unix::fs::symlink(".qmail-loop", h.join(".qmail-loop")).unwrap();
        touch(h, ".qmail-a", 0o600);
        touch(h, ".qmail-default", 0o600);
        for ext in ["loop", "a/b", &"x".repeat(300)] {
            assert_eq!(
                found(h, "-", ext),
                Some((".qmail-default".into(), Some(ext.to_string()))),
                "{ext}"
            );
        }
        let eacces = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(
            open_error(b".qmail-x", &eacces).to_string(),
            "Unable to open .qmail-x: access denied. (#4.3.0)"
        );
    }

    #[test]
    fn writable_file_and_directories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".qmail-x")).unwrap();
        assert_eq!(found(d.path(), "-", "x"), None);
        touch(d.path(), ".qmail-y", 0o602);
        assert!(matches!(
            search(d.path(), b"-", b"y"),
            Err(LocalError::QmailWritable)
        ));
        touch(d.path(), ".qmail-z", 0o700);
        assert!(search(d.path(), b"-", b"z").unwrap().unwrap().forward_only);
    }

    #[test]
    fn newsender_rules() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        let ns = |s: &[u8]| newsender(h, b"-", b"List", b"u-List", b"d", s).unwrap();
        assert_eq!(ns(b"a@b"), b"a@b");
        touch(h, ".qmail-list-owner", 0o600);
        assert_eq!(ns(b"a@b"), b"u-List-owner@d");
        touch(h, ".qmail-list-owner-default", 0o600);
        assert_eq!(ns(b"a@b"), b"u-List-owner-@d-@[]");
        assert_eq!(ns(b""), b"");
        assert_eq!(ns(b"#@[]"), b"#@[]");
    }
}
