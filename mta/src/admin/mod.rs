//! The administrator's tools: `qmail-qread`, `qmail-qstat` (spec
//! Appendix A) and `qmail-showctl` (spec §9.3).
//!
//! Each tool renders into a byte buffer that its thin binary prints, so
//! the formats are unit-testable without a process.

pub mod qread;
pub mod qstat;
pub mod showctl;

use std::io;

/// qmail's `error_str()` wording for the errors an admin tool can meet
/// (qmail prints its own texts, not strerror's). Anything else falls back
/// to the OS text.
pub fn error_str(e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(libc::EINTR) => "interrupted system call",
        Some(libc::ENOMEM) => "out of memory",
        Some(libc::ENOENT) => "file does not exist",
        Some(libc::EIO) => "input/output error",
        Some(libc::EEXIST) => "file already exists",
        Some(libc::EAGAIN) => "temporary failure",
        Some(libc::EPERM) => "permission denied",
        Some(libc::EACCES) => "access denied",
        Some(libc::ENXIO) => "device not configured",
        Some(libc::EBADF) => "file descriptor not open",
        Some(libc::EBUSY) => "device busy",
        Some(libc::EXDEV) => "cross-device link",
        Some(libc::ENOTDIR) => "not a directory",
        Some(libc::EISDIR) => "is a directory",
        Some(libc::EINVAL) => "invalid argument",
        Some(libc::ENFILE) => "system cannot open more files",
        Some(libc::EMFILE) => "process cannot open more files",
        Some(libc::EFBIG) => "file too big",
        Some(libc::ENOSPC) => "out of disk space",
        Some(libc::EROFS) => "read-only file system",
        Some(libc::ELOOP) => "symbolic link loop",
        Some(libc::ENAMETOOLONG) => "file name too long",
        Some(libc::ENOTEMPTY) => "directory not empty",
        Some(libc::EDQUOT) => "disk quota exceeded",
        Some(libc::ESTALE) => "stale NFS file handle",
        _ => return e.to_string(),
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_texts_are_qmails() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(super::error_str(&e), "file does not exist");
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(super::error_str(&e), "access denied");
    }
}
