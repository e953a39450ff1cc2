//! qmail's own errno texts and its temporary/permanent split
//! (`error_str.c`, `error_temp.c`).
//!
//! Hand-written because qmail-local's messages quote these texts
//! byte for byte (spec Appendix C: `Unable to open <file>: <error>.`), and
//! they differ from the C library's `strerror` ("file does not exist", not
//! "No such file or directory").

use std::io;

/// qmail's `error_str` for an I/O error (by its errno).
pub fn text(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(n) => text_of(n),
        None => "unknown error",
    }
}

/// qmail's `error_str` for a raw errno.
pub fn text_of(n: i32) -> &'static str {
    use libc::*;
    match n {
        0 => "no error",
        EINTR => "interrupted system call",
        ENOMEM => "out of memory",
        ENOENT => "file does not exist",
        ETXTBSY => "text busy",
        EIO => "input/output error",
        EEXIST => "file already exists",
        ETIMEDOUT => "timed out",
        EINPROGRESS => "operation in progress",
        // EAGAIN == EWOULDBLOCK on Linux; qmail lists EAGAIN first.
        EAGAIN => "temporary failure",
        EPIPE => "broken pipe",
        EPERM => "permission denied",
        EACCES => "access denied",
        ESRCH => "no such process",
        ENXIO => "device not configured",
        E2BIG => "argument list too long",
        ENOEXEC => "exec format error",
        EBADF => "file descriptor not open",
        ECHILD => "no child processes",
        EDEADLK => "operation would cause deadlock",
        EFAULT => "bad address",
        ENOTBLK => "not a block device",
        EBUSY => "device busy",
        EXDEV => "cross-device link",
        ENODEV => "device does not support operation",
        ENOTDIR => "not a directory",
        EISDIR => "is a directory",
        EINVAL => "invalid argument",
        ENFILE => "system cannot open more files",
        EMFILE => "process cannot open more files",
        ENOTTY => "not a tty",
        EFBIG => "file too big",
        ENOSPC => "out of disk space",
        ESPIPE => "unseekable descriptor",
        EROFS => "read-only file system",
        EMLINK => "too many links",
        EDOM => "input out of range",
        ERANGE => "output out of range",
        EALREADY => "operation already in progress",
        ENOTSOCK => "not a socket",
        EDESTADDRREQ => "destination address required",
        EMSGSIZE => "message too long",
        EPROTOTYPE => "incorrect protocol type",
        ENOPROTOOPT => "protocol not available",
        EPROTONOSUPPORT => "protocol not supported",
        ESOCKTNOSUPPORT => "socket type not supported",
        EOPNOTSUPP => "operation not supported",
        EPFNOSUPPORT => "protocol family not supported",
        EAFNOSUPPORT => "address family not supported",
        EADDRINUSE => "address already used",
        EADDRNOTAVAIL => "address not available",
        ENETDOWN => "network down",
        ENETUNREACH => "network unreachable",
        ENETRESET => "network reset",
        ECONNABORTED => "connection aborted",
        ECONNRESET => "connection reset",
        ENOBUFS => "out of buffer space",
        EISCONN => "already connected",
        ENOTCONN => "not connected",
        ESHUTDOWN => "socket shut down",
        ETOOMANYREFS => "too many references",
        ECONNREFUSED => "connection refused",
        ELOOP => "symbolic link loop",
        ENAMETOOLONG => "file name too long",
        EHOSTDOWN => "host down",
        EHOSTUNREACH => "host unreachable",
        ENOTEMPTY => "directory not empty",
        EUSERS => "too many users",
        EDQUOT => "disk quota exceeded",
        ESTALE => "stale NFS file handle",
        EREMOTE => "too many levels of remote in path",
        ENOLCK => "no locks available",
        ENOSYS => "system call not available",
        ENOSTR => "not a stream device",
        ETIME => "timer expired",
        ENOSR => "out of stream resources",
        ENOMSG => "no message of desired type",
        EBADMSG => "bad message type",
        EIDRM => "identifier removed",
        ENONET => "machine not on network",
        ENOLINK => "link severed",
        EADV => "advertise error",
        ESRMNT => "srmount error",
        ECOMM => "communication error",
        EPROTO => "protocol error",
        EMULTIHOP => "multihop attempted",
        EREMCHG => "remote address changed",
        _ => "unknown error",
    }
}

/// qmail's `error_temp`: is this errno worth retrying later?
pub fn is_temp(e: &io::Error) -> bool {
    e.raw_os_error().is_some_and(is_temp_of)
}

/// [`is_temp`] for a raw errno.
pub fn is_temp_of(n: i32) -> bool {
    use libc::*;
    matches!(
        n,
        EINTR
            | ENOMEM
            | ETXTBSY
            | EIO
            | ETIMEDOUT
            | EAGAIN
            | EDEADLK
            | EBUSY
            | ENFILE
            | EMFILE
            | EFBIG
            | ENOSPC
            | ENETDOWN
            | ENETUNREACH
            | ENETRESET
            | ECONNABORTED
            | ECONNRESET
            | ENOBUFS
            | ETOOMANYREFS
            | ECONNREFUSED
            | EHOSTDOWN
            | EHOSTUNREACH
            | EUSERS
            | EDQUOT
            | ESTALE
            | ENOLCK
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_qmails() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(text(&e), "file does not exist");
        assert!(!is_temp(&e));
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(text(&e), "access denied");
        assert!(is_temp_of(libc::ENOSPC));
        assert_eq!(text(&io::Error::other("x")), "unknown error");
    }
}
