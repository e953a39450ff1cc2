//! Who controls a local address, according to `users/cdb` (spec §5.1),
//! read exactly as qmail-lspawn's `nughde_get` reads it.
//!
//! Lookup: the exact key `!`+lowercase(local)+`\0`; then successively
//! shorter prefixes `!`+lowercase(local)[..n] (longest first, down to the
//! empty prefix `!`), trying a non-empty prefix only when its last byte is
//! in the set stored under the empty key. A wildcard hit appends the rest
//! of the address (original case) to the stored `ext`.

use std::path::Path;

use super::lspawn::Qlx;

/// The six fields that drive one qmail-local run
/// (`user uid gid homedir dash ext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub user: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub home: Vec<u8>,
    pub dash: Vec<u8>,
    pub ext: Vec<u8>,
}

/// qmail's `scan_ulong`: leading decimal digits, anything else stops; no
/// digits gives 0.
fn scan_ulong(s: &[u8]) -> u32 {
    let mut v: u64 = 0;
    for &c in s.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    // qmail assigns the unsigned long to an int; keep the low 32 bits.
    v as u32
}

impl UserEntry {
    /// Parses the NUL-separated, NUL-terminated six fields (the cdb value
    /// plus its completion, or qmail-getpw's output). A missing field is
    /// qmail-lspawn's "internal bug" (112).
    pub fn parse(nughde: &[u8]) -> Result<UserEntry, Qlx> {
        let mut fields = Vec::with_capacity(6);
        let mut rest = nughde;
        for _ in 0..6 {
            let i = rest.iter().position(|&c| c == 0).ok_or(Qlx::Usage)?;
            fields.push(&rest[..i]);
            rest = &rest[i + 1..];
        }
        Ok(UserEntry {
            user: fields[0].to_vec(),
            uid: scan_ulong(fields[1]),
            gid: scan_ulong(fields[2]),
            home: fields[3].to_vec(),
            dash: fields[4].to_vec(),
            ext: fields[5].to_vec(),
        })
    }

    /// qmail-getpw's output format: six NUL-terminated fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for f in [
            &self.user[..],
            self.uid.to_string().as_bytes(),
            self.gid.to_string().as_bytes(),
            &self.home,
            &self.dash,
            &self.ext,
        ] {
            v.extend_from_slice(f);
            v.push(0);
        }
        v
    }
}

/// Looks `local` up in the cdb at `path`. `Ok(None)` when the file does
/// not exist or has no matching key (the caller then asks qmail-getpw);
/// any other trouble is [`Qlx::Cdb`].
pub fn lookup(path: &Path, local: &[u8]) -> Result<Option<UserEntry>, Qlx> {
    let db = match cdb::CDB::open(path) {
        Ok(db) => db,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(Qlx::Cdb),
    };
    let get = |key: &[u8]| -> Result<Option<Vec<u8>>, Qlx> {
        match db.get(key) {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            Some(Err(_)) => Err(Qlx::Cdb),
        }
    };
    let wildchars = get(b"")?.ok_or(Qlx::Cdb)?;
    let mut lower = Vec::with_capacity(local.len() + 2);
    lower.push(b'!');
    lower.extend(local.iter().map(u8::to_ascii_lowercase));
    lower.push(0);

    let mut i = lower.len();
    let mut wild = false;
    while i > 0 {
        if !wild || i == 1 || wildchars.contains(&lower[i - 1]) {
            if let Some(mut v) = get(&lower[..i])? {
                if wild {
                    // The rest of the address after the prefix, original case.
                    v.extend_from_slice(&local[i - 1..]);
                }
                v.push(0);
                return UserEntry::parse(&v).map(Some);
            }
        }
        i -= 1;
        wild = true;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::{assign, newu};

    fn cdb_of(text: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cdb");
        newu::write_cdb(&p, &assign::parse("f", text).unwrap()).unwrap();
        (d, p)
    }

    #[test]
    fn manual_example_precedence() {
        let (_d, p) = cdb_of(
            b"+:alias:7790:2108:/var/qmail/alias:-::\n\
              +joe-:joe:507:100:/home/joe:-::\n\
              =joe:joe:507:100:/home/joe:::\n.\n",
        );
        let joe = lookup(&p, b"joe").unwrap().unwrap();
        assert_eq!(
            (joe.dash.as_slice(), joe.ext.as_slice()),
            (&b""[..], &b""[..])
        );
        let direct = lookup(&p, b"Joe-Direct").unwrap().unwrap();
        assert_eq!(direct.user, b"joe");
        assert_eq!(direct.dash, b"-");
        assert_eq!(direct.ext, b"Direct");
        let bill = lookup(&p, b"bill").unwrap().unwrap();
        assert_eq!(bill.user, b"alias");
        assert_eq!(bill.uid, 7790);
        assert_eq!(bill.home, b"/var/qmail/alias");
        assert_eq!(bill.ext, b"bill");
    }

    #[test]
    fn longer_prefix_wins_and_pre_is_kept() {
        let (_d, p) = cdb_of(b"+a-:a:1:1:/a:-:x-:\n+a-b-:ab:2:2:/ab:-:y-:\n.\n");
        let e = lookup(&p, b"a-b-c").unwrap().unwrap();
        assert_eq!(
            (e.user.as_slice(), e.ext.as_slice()),
            (&b"ab"[..], &b"y-c"[..])
        );
        let e = lookup(&p, b"a-c").unwrap().unwrap();
        assert_eq!(
            (e.user.as_slice(), e.ext.as_slice()),
            (&b"a"[..], &b"x-c"[..])
        );
        assert_eq!(lookup(&p, b"zz").unwrap(), None);
    }

    #[test]
    fn missing_cdb_is_no_match_and_garbage_is_trouble() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(lookup(&d.path().join("none"), b"x").unwrap(), None);
        std::fs::write(d.path().join("bad"), b"short").unwrap();
        assert_eq!(lookup(&d.path().join("bad"), b"x"), Err(Qlx::Cdb));
    }

    #[test]
    fn entry_roundtrip_and_short_entry() {
        let e = UserEntry::parse(b"u\x0012\x0034\x00/h\x00-\x00x\x00").unwrap();
        assert_eq!((e.uid, e.gid), (12, 34));
        assert_eq!(UserEntry::parse(&e.encode()).unwrap(), e);
        assert_eq!(UserEntry::parse(b"u\x001\x00"), Err(Qlx::Usage));
    }
}
