//! A constant database built in memory, byte for byte as D. J. Bernstein's
//! `cdb_make` (and so fastforward's `newaliases`) lays it out.
//!
//! The `cdb` crate writes the same bytes, but through a file it then has to
//! be read back from, 8 KiB at a time; for `aliases.cdb` of 100,000 aliases
//! (6.6 MB) that round trip cost more than building the records.
//!
//! Layout: a 2048-byte header of 256 (position, slot count) pairs; the
//! records (`klen`, `dlen` as little-endian u32, key, data) in insertion
//! order; then the 256 hash tables, table `i` holding the records whose
//! hash ends in byte `i`, each in twice as many slots as records, placed
//! at `(hash >> 8) % slots` with linear probing, in insertion order.

/// The cdb hash: `h = ((h << 5) + h) ^ c` from 5381.
pub fn hash(key: &[u8]) -> u32 {
    key.iter()
        .fold(5381u32, |h, &c| (h << 5).wrapping_add(h) ^ u32::from(c))
}

/// Why a database could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cdb would exceed 4 GB")]
pub struct TooBig;

/// A database being built; [`CdbMake::finish`] returns its bytes.
pub struct CdbMake {
    out: Vec<u8>,
    /// (hash, record position) per record, by table, in insertion order.
    tables: Vec<Vec<(u32, u32)>>,
}

impl Default for CdbMake {
    fn default() -> Self {
        CdbMake::with_capacity(0, 0)
    }
}

impl CdbMake {
    /// An empty database with room for `records` records of `bytes` bytes
    /// in all (hints only).
    pub fn with_capacity(records: usize, bytes: usize) -> CdbMake {
        let mut out = Vec::with_capacity(2048 + bytes + records * 8 + records * 16);
        out.resize(2048, 0);
        CdbMake {
            out,
            tables: (0..256)
                .map(|_| Vec::with_capacity(records / 256))
                .collect(),
        }
    }

    fn pos(&self) -> Result<u32, TooBig> {
        u32::try_from(self.out.len()).map_err(|_| TooBig)
    }

    /// Appends the record `key` → `data`.
    pub fn add(&mut self, key: &[u8], data: &[u8]) -> Result<(), TooBig> {
        let pos = self.pos()?;
        let klen = u32::try_from(key.len()).map_err(|_| TooBig)?;
        let dlen = u32::try_from(data.len()).map_err(|_| TooBig)?;
        self.out.extend_from_slice(&klen.to_le_bytes());
        self.out.extend_from_slice(&dlen.to_le_bytes());
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(data);
        self.pos()?;
        let h = hash(key);
        self.tables[(h & 0xff) as usize].push((h, pos));
        Ok(())
    }

    /// Writes the hash tables and the header; the finished file.
    pub fn finish(self) -> Result<Vec<u8>, TooBig> {
        let CdbMake { mut out, tables } = self;
        out.reserve(tables.iter().map(|t| t.len() * 16).sum());
        let mut table: Vec<(u32, u32)> = Vec::new();
        for (i, group) in tables.iter().enumerate() {
            let len = group.len() * 2;
            let pos = u32::try_from(out.len()).map_err(|_| TooBig)?;
            let slots = u32::try_from(len).map_err(|_| TooBig)?;
            out[i * 8..i * 8 + 4].copy_from_slice(&pos.to_le_bytes());
            out[i * 8 + 4..i * 8 + 8].copy_from_slice(&slots.to_le_bytes());
            table.clear();
            table.resize(len, (0, 0));
            for &(h, p) in group {
                let mut w = (h as usize >> 8) % len;
                while table[w].1 != 0 {
                    w += 1;
                    if w == len {
                        w = 0;
                    }
                }
                table[w] = (h, p);
            }
            for &(h, p) in &table {
                out.extend_from_slice(&h.to_le_bytes());
                out.extend_from_slice(&p.to_le_bytes());
            }
        }
        u32::try_from(out.len()).map_err(|_| TooBig)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    fn with_crate(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let f = tempfile::tempfile().unwrap();
        let mut back = f.try_clone().unwrap();
        let mut m = cdb::CDBMake::new(f).unwrap();
        for (k, v) in records {
            m.add(k, v).unwrap();
        }
        m.finish().unwrap();
        back.rewind().unwrap();
        let mut b = Vec::new();
        back.read_to_end(&mut b).unwrap();
        b
    }

    #[test]
    fn same_bytes_as_the_cdb_crate_and_readable() {
        // Many keys share a table and collide in it; a key repeats.
        let mut records: Vec<(Vec<u8>, Vec<u8>)> = (0..3000)
            .map(|i| {
                (
                    format!(":user{i}@").into_bytes(),
                    format!("&u{i}@x.y\0").into_bytes(),
                )
            })
            .collect();
        records.push((b":user7@".to_vec(), b"second\0".to_vec()));
        records.push((Vec::new(), Vec::new()));
        let mut m = CdbMake::default();
        for (k, v) in &records {
            m.add(k, v).unwrap();
        }
        let ours = m.finish().unwrap();
        assert_eq!(ours, with_crate(&records));
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.cdb");
        std::fs::write(&p, &ours).unwrap();
        let db = cdb::CDB::open(&p).unwrap();
        assert_eq!(
            db.find(b":user2999@").next().unwrap().unwrap(),
            b"&u2999@x.y\0"
        );
        let all: Vec<Vec<u8>> = db.find(b":user7@").map(|r| r.unwrap()).collect();
        assert_eq!(all, vec![b"&u7@x.y\0".to_vec(), b"second\0".to_vec()]);
    }

    #[test]
    fn empty_database_is_header_only() {
        let ours = CdbMake::default().finish().unwrap();
        assert_eq!(ours, with_crate(&[]));
        assert_eq!(ours.len(), 2048);
    }
}
