//! Channel files `local/<s>/<id>` and `remote/<s>/<id>` (spec §3.5): a
//! sequence of `T<addr>\0` records; a finished recipient's `T` is
//! overwritten in place with `D` (one byte, no fsync: a crash just after a
//! delivery may cause a duplicate, which qmail accepts by design).

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// One record of a channel file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Byte offset of the record's type byte.
    pub offset: u64,
    pub done: bool,
    pub addr: Vec<u8>,
}

/// A record with a type other than `T`/`D`, or a missing final NUL.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("trouble reading {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("unknown record type in {path}")]
    Format { path: String },
}

/// Parses channel-file bytes.
pub fn parse(bytes: &[u8]) -> Option<Vec<Record>> {
    let mut v = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let end = pos + bytes[pos..].iter().position(|&c| c == 0)?;
        let done = match bytes[pos] {
            b'T' => false,
            b'D' => true,
            _ => return None,
        };
        v.push(Record {
            offset: pos as u64,
            done,
            addr: bytes[pos + 1..end].to_vec(),
        });
        pos = end + 1;
    }
    Some(v)
}

/// Reads and parses a channel file.
pub fn read(path: &Path) -> Result<Vec<Record>, ChannelError> {
    let bytes = std::fs::read(path).map_err(|source| ChannelError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes).ok_or_else(|| ChannelError::Format {
        path: path.display().to_string(),
    })
}

/// Marks the record at `offset` done: one `D` byte, in place.
pub fn mark_done(path: &Path, offset: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.write_all_at(b"D", offset)?;
    crate::crashpoint::hit("send.channel.marked");
    Ok(())
}

/// Encodes recipients as `T<addr>\0` records.
pub fn encode(addrs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::with_capacity(addrs.iter().map(|a| a.len() + 2).sum());
    for a in addrs {
        v.push(b'T');
        v.extend_from_slice(a);
        v.push(0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_mark() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c");
        std::fs::write(&p, encode(&[b"a@x".to_vec(), b"bb@y".to_vec()])).unwrap();
        let r = read(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].offset, 5);
        mark_done(&p, 5).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"Ta@x\0Dbb@y\0");
        let r = read(&p).unwrap();
        assert!(!r[0].done && r[1].done);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(parse(b"Xa\0").is_none());
        assert!(parse(b"Ta").is_none());
        assert_eq!(parse(b"").unwrap(), vec![]);
    }
}
