//! The TCP timeout table `queue/lock/tcpto` (spec §6.5, Appendix A), as
//! qmail's `tcpto.c`, `tcpto_clean.c`, `qmail-tcpto.c`, `qmail-tcpok.c`.
//!
//! 1024 bytes = 64 records of 16 bytes: bytes 0–3 the IPv4 address,
//! byte 4 the recent-timeout count (≤ 10), bytes 8–11 the time of the last
//! counted timeout (little-endian seconds, low 32 bits). The other bytes
//! are never looked at.
//!
//! The rules ([`check`], [`update`]) are pure functions of the table bytes
//! and a clock, so the tests drive them with any time they like; the
//! [`Table`] wrapper does the file I/O under an exclusive `flock` the way
//! qmail does (read under the lock, write the one changed record, unlock).
//! As in qmail, the table is advisory: if it cannot be opened, read or
//! locked, qmail-remote just connects.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Table size in bytes (`tcpto_buf`).
pub const SIZE: usize = 1024;
const RECORD: usize = 16;

fn when(rec: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes([rec[8], rec[9], rec[10], rec[11]]))
}

fn set_when(rec: &mut [u8], now: u64) {
    rec[8..12].copy_from_slice(&(now as u32).to_le_bytes());
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Do not even try this address now.
    pub skip: bool,
    /// The address has a record (so a success must reset it).
    pub was_there: bool,
}

/// `tcpto()`: skip an address whose count is ≥ 2 and whose last counted
/// timeout is less than `(60 + pid % 32) * 64` seconds old. Only the first
/// record for the address counts.
pub fn check(table: &[u8], ip: Ipv4Addr, now: u64, pid: u32) -> Check {
    for rec in table.chunks_exact(RECORD) {
        if rec[..4] == ip.octets() {
            let skip =
                rec[4] as i8 >= 2 && now.wrapping_sub(when(rec)) < (60 + u64::from(pid & 31)) << 6;
            return Check {
                skip,
                was_there: true,
            };
        }
    }
    Check {
        skip: false,
        was_there: false,
    }
}

/// `tcpto_err()` on the table bytes: records the outcome of one connect
/// attempt and returns the index of the record to write back, if any.
///
/// - Not a timeout: an existing record's count becomes 0.
/// - A timeout on a known address: count + 1 (max 10) and the time, unless
///   the previous counted timeout is less than 120 s old.
/// - A timeout on a new address: the first record with count 0, else the
///   one with the smallest `time + count × 1024`, gets the address, the
///   time, and count 1.
pub fn update(table: &mut [u8], ip: Ipv4Addr, timed_out: bool, now: u64) -> Option<usize> {
    let n = table.len() / RECORD;
    for i in 0..n {
        let rec = &mut table[i * RECORD..(i + 1) * RECORD];
        if rec[..4] == ip.octets() {
            if !timed_out {
                rec[4] = 0;
            } else {
                if rec[4] != 0 && now < 120 + when(rec) {
                    return None;
                }
                rec[4] = rec[4].saturating_add(1).min(10);
                set_when(rec, now);
            }
            return Some(i);
        }
    }
    if !timed_out {
        return None;
    }
    let i = match (0..n).find(|&i| table[i * RECORD + 4] == 0) {
        Some(i) => i,
        None => {
            let score = |i: usize| {
                let rec = &table[i * RECORD..(i + 1) * RECORD];
                when(rec) + (u64::from(rec[4]) << 10)
            };
            // The first record with the smallest score wins ties.
            (0..n).min_by_key(|&i| (score(i), i))?
        }
    };
    let rec = &mut table[i * RECORD..(i + 1) * RECORD];
    rec[..4].copy_from_slice(&ip.octets());
    set_when(rec, now);
    rec[4] = 1;
    Some(i)
}

/// The table file, for qmail-remote's consult-then-record cycle.
#[derive(Debug)]
pub struct Table {
    path: PathBuf,
    was_there: bool,
}

impl Table {
    /// `queue` is `QMAILHOME/queue`.
    pub fn new(queue: &Path) -> Table {
        Table {
            path: queue.join("lock").join("tcpto"),
            was_there: false,
        }
    }

    /// Opens and locks the table and reads it whole. `None` on any error
    /// (qmail's `getbuf` returning 0).
    fn read_locked(&self) -> Option<(Flock<File>, Vec<u8>)> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .ok()?;
        let f = Flock::lock(f, FlockArg::LockExclusive).ok()?;
        let mut buf = Vec::with_capacity(SIZE);
        (&*f).take(SIZE as u64).read_to_end(&mut buf).ok()?;
        buf.truncate(buf.len() / RECORD * RECORD);
        Some((f, buf))
    }

    /// Should the connect to `ip` be skipped?
    pub fn skip(&mut self, ip: Ipv4Addr, now: u64, pid: u32) -> bool {
        self.was_there = false;
        let Some((_lock, buf)) = self.read_locked() else {
            return false;
        };
        let c = check(&buf, ip, now, pid);
        self.was_there = c.was_there;
        c.skip
    }

    /// Records the result of the connect attempt that followed [`skip`].
    pub fn record(&mut self, ip: Ipv4Addr, timed_out: bool, now: u64) {
        if !timed_out && !self.was_there {
            return; // could have been added since, but not worth the effort
        }
        let Some((lock, mut buf)) = self.read_locked() else {
            return;
        };
        if let Some(i) = update(&mut buf, ip, timed_out, now) {
            // A failed write loses one observation; qmail ignores it too.
            let _ = lock.write_all_at(&buf[i * RECORD..(i + 1) * RECORD], (i * RECORD) as u64);
        }
    }
}

/// `tcpto_clean()` at qmail-rspawn start: 1024 NUL bytes over the table,
/// no lock, no create; errors ignored.
pub fn clean(queue: &Path) {
    let path = queue.join("lock").join("tcpto");
    if let Ok(f) = OpenOptions::new().write(true).open(path) {
        let _ = f.write_all_at(&[0u8; SIZE], 0);
    }
}

/// qmail-tcpto's lines: `<ip> timed out <n> seconds ago; # recent
/// timeouts: <count>` for every record with count ≥ 1.
pub fn format_table(table: &[u8], now: u64) -> String {
    let mut out = String::new();
    for rec in table.chunks_exact(RECORD) {
        // qmail's record[4] is a (signed) char
        if rec[4] as i8 >= 1 {
            let ip = Ipv4Addr::new(rec[0], rec[1], rec[2], rec[3]);
            out.push_str(&format!(
                "{ip} timed out {} seconds ago; # recent timeouts: {}\n",
                now.wrapping_sub(when(rec)),
                rec[4]
            ));
        }
    }
    out
}

/// djb's `error_str` for the errors these tools can meet.
pub fn error_str(e: &io::Error) -> String {
    use nix::errno::Errno;
    let text = match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOENT) => "file does not exist",
        Some(Errno::EACCES) => "access denied",
        Some(Errno::EPERM) => "permission denied",
        Some(Errno::ENOTDIR) => "not a directory",
        Some(Errno::EISDIR) => "is a directory",
        Some(Errno::EROFS) => "read-only file system",
        Some(Errno::EIO) => "input/output error",
        Some(Errno::EAGAIN) => "temporary failure",
        Some(Errno::EINTR) => "interrupted system call",
        Some(Errno::ENOMEM) => "out of memory",
        Some(Errno::ENOSPC) => "out of disk space",
        Some(Errno::ELOOP) => "symbolic link loop",
        Some(Errno::ENAMETOOLONG) => "file name too long",
        _ => return e.to_string(),
    };
    text.to_string()
}

/// `qmail-tcpto`: the listing on success; on failure the text qmail prints
/// on fd 1 before exiting 111.
pub fn tcpto_main(home: &Path, now: u64) -> Result<String, String> {
    let fail = |what: &str, e: io::Error| format!("fatal: unable to {what}: {}\n", error_str(&e));
    std::env::set_current_dir(home).map_err(|e| fail("chdir", e))?;
    std::env::set_current_dir("queue/lock").map_err(|e| fail("chdir", e))?;
    let f = OpenOptions::new()
        .write(true)
        .open("tcpto")
        .map_err(|e| fail("open tcpto", e))?;
    let mut r = File::open("tcpto").map_err(|e| fail("open tcpto", e))?;
    let lock =
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| fail("lock tcpto", e.into()))?;
    let mut buf = Vec::with_capacity(SIZE);
    let read = (&mut r).take(SIZE as u64).read_to_end(&mut buf);
    drop(lock);
    read.map_err(|e| fail("read tcpto", e))?;
    buf.truncate(buf.len() / RECORD * RECORD);
    Ok(format_table(&buf, now))
}

/// `qmail-tcpok`: zero the table under its lock. The error is the whole
/// line qmail writes on fd 2 before exiting 111.
pub fn tcpok_main(home: &Path) -> Result<(), String> {
    let h = home.display();
    let fail = |what: String, e: io::Error| {
        format!("qmail-tcpok: fatal: unable to {what}: {}\n", error_str(&e))
    };
    std::env::set_current_dir(home).map_err(|e| fail(format!("chdir to {h}"), e))?;
    std::env::set_current_dir("queue/lock")
        .map_err(|e| fail(format!("chdir to {h}/queue/lock"), e))?;
    let f = OpenOptions::new()
        .write(true)
        .open("tcpto")
        .map_err(|e| fail(format!("write {h}/queue/lock/tcpto"), e))?;
    let lock = Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| fail(format!("lock {h}/queue/lock/tcpto"), e.into()))?;
    lock.write_all_at(&[0u8; SIZE], 0)
        .map_err(|e| fail(format!("clear {h}/queue/lock/tcpto"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
    const PID: u32 = 32; // (60 + 0) * 64 = 3840 s

    fn empty() -> Vec<u8> {
        vec![0u8; SIZE]
    }

    #[test]
    fn one_timeout_records_count_one_but_does_not_skip() {
        let mut t = empty();
        assert_eq!(update(&mut t, IP, true, 1000), Some(0));
        assert_eq!(&t[..5], &[192, 0, 2, 7, 1]);
        assert_eq!(&t[8..12], &1000u32.to_le_bytes());
        assert_eq!(
            check(&t, IP, 1001, PID),
            Check {
                skip: false,
                was_there: true
            }
        );
    }

    #[test]
    fn second_timeout_within_120s_is_not_counted() {
        let mut t = empty();
        update(&mut t, IP, true, 1000);
        assert_eq!(update(&mut t, IP, true, 1119), None);
        assert_eq!(t[4], 1);
        assert_eq!(update(&mut t, IP, true, 1120), Some(0));
        assert_eq!(t[4], 2);
        assert_eq!(when(&t[..16]), 1120);
    }

    #[test]
    fn two_timeouts_skip_for_an_hour_depending_on_pid() {
        let mut t = empty();
        update(&mut t, IP, true, 1000);
        update(&mut t, IP, true, 2000);
        assert!(check(&t, IP, 2000 + 3839, PID).skip);
        assert!(!check(&t, IP, 2000 + 3840, PID).skip);
        // pid % 32 == 31: (60 + 31) * 64 = 5824
        assert!(check(&t, IP, 2000 + 5823, 31).skip);
        assert!(!check(&t, IP, 2000 + 5824, 31).skip);
    }

    #[test]
    fn count_is_capped_at_ten() {
        let mut t = empty();
        for k in 0..15 {
            update(&mut t, IP, true, 1000 + 200 * k);
        }
        assert_eq!(t[4], 10);
    }

    #[test]
    fn success_resets_only_known_addresses() {
        let mut t = empty();
        assert_eq!(update(&mut t, IP, false, 5), None);
        assert_eq!(t, empty());
        update(&mut t, IP, true, 1000);
        update(&mut t, IP, true, 2000);
        assert_eq!(update(&mut t, IP, false, 2001), Some(0));
        assert_eq!(t[4], 0);
        assert!(!check(&t, IP, 2002, PID).skip);
    }

    #[test]
    fn new_address_takes_a_free_record_else_evicts_the_oldest_score() {
        let mut t = empty();
        for k in 0..64u8 {
            update(
                &mut t,
                Ipv4Addr::new(10, 0, 0, k),
                true,
                10_000 + u64::from(k),
            );
        }
        // Record 5 is counted twice, pushing its score up by 1024.
        update(&mut t, Ipv4Addr::new(10, 0, 0, 0), true, 10_000 + 200);
        // Scores: rec0 = 10200 + 2048, rec k = 10000 + k + 1024 → rec 1 is lowest.
        assert_eq!(update(&mut t, IP, true, 20_000), Some(1));
        assert_eq!(&t[16..21], &[192, 0, 2, 7, 1]);
        // A zeroed record is reused before anything is evicted.
        update(&mut t, Ipv4Addr::new(10, 0, 0, 9), false, 20_001);
        assert_eq!(
            update(&mut t, Ipv4Addr::new(10, 9, 9, 9), true, 20_002),
            Some(9)
        );
    }

    #[test]
    fn listing_format() {
        let mut t = empty();
        update(&mut t, IP, true, 1000);
        update(&mut t, Ipv4Addr::new(10, 0, 0, 1), true, 1500);
        update(&mut t, Ipv4Addr::new(10, 0, 0, 1), true, 1700);
        assert_eq!(
            format_table(&t, 1800),
            "192.0.2.7 timed out 800 seconds ago; # recent timeouts: 1\n\
             10.0.0.1 timed out 100 seconds ago; # recent timeouts: 2\n"
        );
    }

    #[test]
    fn table_file_roundtrip_and_clean() {
        let d = tempfile::tempdir().unwrap();
        let queue = d.path();
        std::fs::create_dir_all(queue.join("lock")).unwrap();
        std::fs::write(queue.join("lock/tcpto"), [0u8; SIZE]).unwrap();
        let mut tab = Table::new(queue);
        assert!(!tab.skip(IP, 1000, PID));
        tab.record(IP, true, 1000);
        assert!(!tab.skip(IP, 1200, PID));
        tab.record(IP, true, 1200);
        assert!(tab.skip(IP, 1300, PID));
        let bytes = std::fs::read(queue.join("lock/tcpto")).unwrap();
        assert_eq!(bytes.len(), SIZE);
        assert_eq!(&bytes[..5], &[192, 0, 2, 7, 2]);
        clean(queue);
        assert_eq!(
            std::fs::read(queue.join("lock/tcpto")).unwrap(),
            vec![0u8; SIZE]
        );
        assert!(!tab.skip(IP, 1300, PID));
    }

    #[test]
    fn missing_table_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let mut tab = Table::new(d.path());
        assert!(!tab.skip(IP, 1, PID));
        tab.record(IP, true, 1);
        clean(d.path());
        assert!(!d.path().join("lock/tcpto").exists());
    }
}
