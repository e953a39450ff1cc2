//! The compiled rules: a cdb byte-compatible with ucspi-tcp's, written
//! as `tcprules rules.cdb rules.tmp` writes it and read back as
//! tcpserver's `rules.c` looks connections up.
//!
//! The cdb itself comes from the `cdb` crate, whose writer lays records
//! and hash tables out exactly as djb's `cdb_make` (records in insertion
//! order, then 256 tables of twice their entry count, linear probing), so
//! tcpserver can read our file and we can read tcprules'.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::rules::Rule;

/// An empty cdb is just its 2048-byte header; the `cdb` crate refuses to
/// open one, but tcprules writes it for an empty rules file.
const CDB_EMPTY_LEN: u64 = 2048;

/// Writes `rules` to `tmp`, fsyncs it, and renames it over `cdb`
/// (atomic for a running listener, as tcprules).
pub fn compile(rules: &[Rule], cdb: &Path, tmp: &Path) -> io::Result<()> {
    let file = std::fs::File::create(tmp)?;
    let mut make = cdb::CDBMake::new(file.try_clone()?)?;
    for r in rules {
        let data = r.data();
        for key in r.keys().map_err(io::Error::other)? {
            make.add(&key, &data)?;
        }
    }
    make.finish()?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, cdb)
}

/// A rules cdb loaded in memory (rules files are small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesDb {
    /// Key → value of the *first* record with that key, as `cdb_find`.
    map: HashMap<Vec<u8>, Vec<u8>>,
}

/// What the rules say about a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub deny: bool,
    /// Variables to set, in order (later ones win).
    pub env: Vec<(String, Vec<u8>)>,
}

impl RulesDb {
    pub fn open(path: &Path) -> io::Result<RulesDb> {
        let meta = std::fs::metadata(path)?;
        let mut map = HashMap::new();
        if meta.len() == CDB_EMPTY_LEN {
            return Ok(RulesDb { map });
        }
        let db = cdb::CDB::open(path)?;
        for kv in db.iter() {
            let (k, v) = kv?;
            map.entry(k).or_insert(v);
        }
        Ok(RulesDb { map })
    }

    /// tcpserver's lookup order (ucspi-tcp 0.88 `rules.c`), first match
    /// wins: `info@ip`, `info@=host`, `ip`, `=host`, the ip's prefixes
    /// ending in `.` (longest first), `=.suffix`es of the host, `=`, and
    /// the empty key. No match means allow with nothing set.
    pub fn lookup(&self, ip: &str, host: Option<&str>, info: Option<&str>) -> Decision {
        let mut keys: Vec<String> = Vec::new();
        if let Some(info) = info {
            keys.push(format!("{info}@{ip}"));
            if let Some(h) = host {
                keys.push(format!("{info}@={h}"));
            }
        }
        keys.push(ip.to_string());
        if let Some(h) = host {
            keys.push(format!("={h}"));
        }
        for (i, _) in ip.match_indices('.').collect::<Vec<_>>().into_iter().rev() {
            keys.push(ip[..=i].to_string());
        }
        if let Some(h) = host {
            for (i, _) in h.match_indices('.') {
                keys.push(format!("={}", &h[i..]));
            }
            keys.push("=".to_string());
        }
        keys.push(String::new());
        keys.iter()
            .find_map(|k| self.map.get(k.as_bytes()))
            .map(|d| decode(d))
            .unwrap_or_default()
    }
}

/// tcpserver's `found()`: NUL-terminated records, `D` = deny,
/// `+VAR=value` = set; anything else (or an unterminated tail) ignored.
fn decode(data: &[u8]) -> Decision {
    let mut d = Decision::default();
    let mut rest = data;
    while let Some(nul) = rest.iter().position(|&c| c == 0) {
        let rec = &rest[..nul];
        match rec.first() {
            Some(b'D') => d.deny = true,
            Some(b'+') => {
                if let Some(eq) = rec.iter().position(|&c| c == b'=') {
                    let name = String::from_utf8_lossy(&rec[1..eq]).into_owned();
                    d.env.push((name, rec[eq + 1..].to_vec()));
                }
            }
            _ => {}
        }
        rest = &rest[nul + 1..];
    }
    d
}

/// Identifies a version of the rules file, so the listener reloads it
/// when tcprules renames a new one into place (or it is edited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    len: u64,
}

impl Stamp {
    pub fn of(path: &Path) -> io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            len: m.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::parse;
    use super::*;

    fn db(text: &str) -> (tempfile::TempDir, RulesDb) {
        let d = tempfile::tempdir().unwrap();
        let rules = parse("t", text.as_bytes()).unwrap();
        let cdb = d.path().join("r.cdb");
        compile(&rules, &cdb, &d.path().join("r.tmp")).unwrap();
        assert!(!d.path().join("r.tmp").exists());
        let db = RulesDb::open(&cdb).unwrap();
        (d, db)
    }

    #[test]
    fn lookup_order_and_first_record_wins() {
        let (_d, db) = db("127.0.0.1:deny\n127.:allow,RELAYCLIENT=\"\"\n\
             10.1.:allow,A=\"1\"\n10.1.:deny\n=h.example:allow,H=\"x\"\n:deny\n");
        assert!(db.lookup("127.0.0.1", None, None).deny);
        let d = db.lookup("127.0.0.2", None, None);
        assert!(!d.deny);
        assert_eq!(d.env, vec![("RELAYCLIENT".to_string(), Vec::new())]);
        assert_eq!(db.lookup("10.1.2.3", None, None).env[0].1, b"1");
        assert!(db.lookup("192.0.2.1", None, None).deny);
        assert!(!db.lookup("192.0.2.1", Some("h.example"), None).deny);
    }

    #[test]
    fn empty_rules_and_no_match_allow() {
        let (_d, db) = db("# nothing\n");
        assert_eq!(db.lookup("1.2.3.4", None, None), Decision::default());
    }

    /// The bytes of a cdb as tcprules 0.88 writes it for
    /// `1.2.3.4:deny`: one record, then 256 tables (one of size 2).
    #[test]
    fn layout_is_djbs_cdb_make() {
        let d = tempfile::tempdir().unwrap();
        let cdb = d.path().join("r.cdb");
        compile(
            &parse("t", b"1.2.3.4:deny\n").unwrap(),
            &cdb,
            &d.path().join("t"),
        )
        .unwrap();
        let b = std::fs::read(&cdb).unwrap();
        // Record at 2048: klen 7, dlen 2, key, data.
        assert_eq!(&b[2048..2056], &[7, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&b[2056..2065], b"1.2.3.4D\0");
        // cdb hash of the key (h = ((h << 5) + h) ^ c from 5381).
        let h = b"1.2.3.4"
            .iter()
            .fold(5381u32, |h, &c| (h << 5).wrapping_add(h) ^ u32::from(c));
        let slot = (h & 255) as usize * 8;
        let pos = u32::from_le_bytes(b[slot..slot + 4].try_into().unwrap()) as usize;
        let len = u32::from_le_bytes(b[slot + 4..slot + 8].try_into().unwrap());
        assert_eq!(len, 2);
        assert_eq!(pos, 2065);
        let idx = pos + ((h >> 8) % 2) as usize * 8;
        assert_eq!(u32::from_le_bytes(b[idx..idx + 4].try_into().unwrap()), h);
        assert_eq!(
            u32::from_le_bytes(b[idx + 4..idx + 8].try_into().unwrap()),
            2048
        );
        assert_eq!(b.len(), 2065 + 16);
    }

    #[test]
    fn decode_ignores_unknown_and_unterminated_records() {
        let d = decode(b"Xjunk\0+A=1\0+NOEQ\0D\0+B=2");
        assert!(d.deny);
        assert_eq!(d.env, vec![("A".to_string(), b"1".to_vec())]);
    }
}
