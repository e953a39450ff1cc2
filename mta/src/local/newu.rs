//! qmail-newu: compile `users/assign` into `users/cdb` (spec §5.1).
//!
//! The cdb is byte-compatible with qmail's: real qmail-lspawn can read
//! ours and we can read its. Keys are `!`+lowercase(local)+`\0` for `=`
//! lines and `!`+lowercase(prefix) for `+` lines; values are
//! `user\0uid\0gid\0homedir\0dash\0ext` (no final NUL — qmail-newu stops
//! at the sixth colon; spec §5.1's trailing `\0` is what qmail-lspawn adds
//! after reading). The empty key holds the distinct last characters of all
//! non-empty wildcard prefixes, *as written* (not lowercased), which is
//! what qmail-newu stores and qmail-lspawn compares against.
//!
//! The new cdb is written to `users/cdb.tmp`, fsynced, renamed over
//! `users/cdb`, and the directory fsynced; on any error users/cdb is left
//! alone.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::assign::{self, Assignment, FormatError};
use crate::durable;

/// qmail-newu's failures; every one is temporary (exit 111). The display
/// text is qmail's, byte for byte.
#[derive(Debug, thiserror::Error)]
pub enum NewuError {
    #[error("qmail-newu: fatal: unable to chdir")]
    Chdir,
    #[error("qmail-newu: fatal: unable to open users/assign")]
    OpenAssign(#[source] std::io::Error),
    #[error("qmail-newu: fatal: unable to read users/assign")]
    ReadAssign(#[source] std::io::Error),
    #[error("qmail-newu: fatal: bad format in users/assign")]
    Format(#[source] FormatError),
    #[error("qmail-newu: fatal: unable to open users/cdb.tmp")]
    OpenTmp(#[source] std::io::Error),
    #[error("qmail-newu: fatal: unable to write users/cdb.tmp")]
    WriteTmp(#[source] std::io::Error),
    #[error("qmail-newu: fatal: unable to move users/cdb.tmp to users/cdb")]
    Rename(#[source] std::io::Error),
}

impl NewuError {
    /// qmail-newu always exits 111 on failure.
    pub fn exit_code(&self) -> i32 {
        111
    }
    /// A second, more precise line (file and line number for format
    /// errors), printed after qmail's own text.
    pub fn detail(&self) -> Option<String> {
        match self {
            NewuError::Chdir => None,
            NewuError::Format(f) => Some(format!("qmail-newu: {f}")),
            NewuError::OpenAssign(e)
            | NewuError::ReadAssign(e)
            | NewuError::OpenTmp(e)
            | NewuError::WriteTmp(e)
            | NewuError::Rename(e) => Some(format!("qmail-newu: {e}")),
        }
    }
}

/// The value of the special empty key: distinct last bytes of non-empty
/// wildcard prefixes, in first-seen order.
pub fn wildchars(assignments: &[Assignment]) -> Vec<u8> {
    let mut w = Vec::new();
    for a in assignments.iter().filter(|a| a.wildcard) {
        if let Some(&c) = a.local.last() {
            if !w.contains(&c) {
                w.push(c);
            }
        }
    }
    w
}

/// Writes the cdb for `assignments` to `path` (truncating it), fsynced.
pub fn write_cdb(path: &Path, assignments: &[Assignment]) -> Result<(), NewuError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(NewuError::OpenTmp)?;
    let sync = file.try_clone().map_err(NewuError::WriteTmp)?;
    let mut cdb = cdb::CDBMake::new(file).map_err(NewuError::WriteTmp)?;
    for a in assignments {
        cdb.add(&a.key(), &a.value).map_err(NewuError::WriteTmp)?;
    }
    cdb.add(b"", &wildchars(assignments))
        .map_err(NewuError::WriteTmp)?;
    cdb.finish().map_err(NewuError::WriteTmp)?;
    sync.sync_all().map_err(NewuError::WriteTmp)
}

/// Compiles `<qmailhome>/users/assign` into `<qmailhome>/users/cdb`.
pub fn compile(qmailhome: &Path) -> Result<(), NewuError> {
    if !qmailhome.is_dir() {
        return Err(NewuError::Chdir);
    }
    let users = qmailhome.join("users");
    let text = match std::fs::read(users.join("assign")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(NewuError::OpenAssign(e)),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => return Err(NewuError::ReadAssign(e)),
        Err(e) => return Err(NewuError::OpenAssign(e)),
    };
    let assignments = assign::parse("users/assign", &text).map_err(NewuError::Format)?;
    let tmp = users.join("cdb.tmp");
    write_cdb(&tmp, &assignments)?;
    std::fs::rename(&tmp, users.join("cdb")).map_err(NewuError::Rename)?;
    // Make the rename durable before reporting success.
    durable::fsync_dir(&users).map_err(NewuError::Rename)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildchars_are_last_characters_as_written() {
        let a = assign::parse(
            "f",
            b"+:alias:1:1:/a:-::\n+joe-:j:1:1:/h:-::\n+bob-:b:1:1:/h:-::\n+X:x:1:1:/h:-::\n.\n",
        )
        .unwrap();
        assert_eq!(wildchars(&a), b"-X");
    }

    #[test]
    fn bad_format_leaves_cdb_alone() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("users")).unwrap();
        std::fs::write(d.path().join("users/cdb"), b"old").unwrap();
        std::fs::write(d.path().join("users/assign"), b"=x\n.\n").unwrap();
        let e = compile(d.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "qmail-newu: fatal: bad format in users/assign"
        );
        assert_eq!(
            e.detail().unwrap(),
            "qmail-newu: users/assign:1: no \":\" after the address"
        );
        assert_eq!(std::fs::read(d.path().join("users/cdb")).unwrap(), b"old");
    }
}
