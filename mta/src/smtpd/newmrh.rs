//! qmail-newmrh: compiles `control/morercpthosts` into
//! `control/morercpthosts.cdb` (spec §7.5, Appendix A).
//!
//! Each line is lowercased and loses trailing spaces, tabs and its
//! newline; empty lines and lines starting with `#` are skipped; the rest
//! become keys with empty values. The cdb is written to
//! `morercpthosts.tmp`, fsynced, and renamed over `morercpthosts.cdb`
//! (the directory is fsynced too), so a reader sees the old or the new
//! file, never a partial one.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why the rebuild failed; always temporary (exit 111), with qmail's text.
#[derive(Debug, thiserror::Error)]
pub enum NewmrhError {
    #[error("unable to read control/morercpthosts: {0}")]
    Read(#[source] io::Error),
    #[error("unable to write to control/morercpthosts.tmp: {0}")]
    Write(#[source] io::Error),
    #[error("unable to move control/morercpthosts.tmp to control/morercpthosts.cdb: {0}")]
    Move(#[source] io::Error),
}

/// The keys qmail-newmrh stores for the text of `morercpthosts`.
pub fn keys(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|&c| c == b'\n')
        .filter_map(|line| {
            let mut l = line.to_ascii_lowercase();
            while matches!(l.last(), Some(b' ' | b'\t')) {
                l.pop();
            }
            (!l.is_empty() && l[0] != b'#').then_some(l)
        })
        .collect()
}

/// Rebuilds `control_dir/morercpthosts.cdb` from `control_dir/morercpthosts`.
pub fn rebuild(control_dir: &Path) -> Result<(), NewmrhError> {
    let text = std::fs::read(control_dir.join("morercpthosts")).map_err(NewmrhError::Read)?;
    let tmp = control_dir.join("morercpthosts.tmp");
    // qmail-newmrh runs with umask 033: the cdb is mode 644.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(NewmrhError::Write)?;
    let mut make = cdb::CDBMake::new(file.try_clone().map_err(NewmrhError::Write)?)
        .map_err(NewmrhError::Write)?;
    for k in keys(&text) {
        make.add(&k, b"").map_err(NewmrhError::Write)?;
    }
    make.finish().map_err(NewmrhError::Write)?;
    file.sync_all().map_err(NewmrhError::Write)?;
    drop(file);
    std::fs::rename(&tmp, control_dir.join("morercpthosts.cdb")).map_err(NewmrhError::Move)?;
    crate::durable::fsync_dir(control_dir).map_err(NewmrhError::Move)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControlDir;
    use crate::smtpd::relay::RcptHosts;

    #[test]
    fn keys_follow_qmail_newmrh() {
        assert_eq!(
            keys(b"Example.COM \t\n#comment\n\n   \n.Sub.Example.org\nlast"),
            vec![
                b"example.com".to_vec(),
                b".sub.example.org".to_vec(),
                b"last".to_vec()
            ]
        );
    }

    #[test]
    fn rebuilt_cdb_is_consulted_only_with_rcpthosts() {
        let d = tempfile::tempdir().unwrap();
        let c = ControlDir::new(d.path());
        std::fs::write(
            d.path().join("morercpthosts"),
            "More.example\n.wild.example\n",
        )
        .unwrap();
        rebuild(d.path()).unwrap();
        assert!(!d.path().join("morercpthosts.tmp").exists());
        let none = RcptHosts::load(&c).unwrap();
        assert!(none.allows(b"a@elsewhere").unwrap());
        std::fs::write(d.path().join("rcpthosts"), "example.com\n").unwrap();
        let r = RcptHosts::load(&c).unwrap();
        assert!(r.allows(b"a@example.com").unwrap());
        assert!(r.allows(b"a@MORE.example").unwrap());
        assert!(r.allows(b"a@x.wild.example").unwrap());
        assert!(!r.allows(b"a@elsewhere").unwrap());
    }

    #[test]
    fn empty_morercpthosts_gives_a_readable_empty_cdb() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("morercpthosts"), "# nothing\n").unwrap();
        std::fs::write(d.path().join("rcpthosts"), "example.com\n").unwrap();
        rebuild(d.path()).unwrap();
        let r = RcptHosts::load(&ControlDir::new(d.path())).unwrap();
        assert!(!r.allows(b"a@more.example").unwrap());
    }

    #[test]
    fn missing_source_is_a_read_error() {
        let d = tempfile::tempdir().unwrap();
        let e = rebuild(d.path()).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unable to read control/morercpthosts: "));
    }
}
