//! `qmail-clean`: removes queue files on qmail-send's request (spec §1.6)
//! and sweeps stale `pid/` files left by crashed qmail-queues (spec §3.9).
//!
//! Requests arrive on fd 0 as `foop/<id>\0` (remove `intd/<id>` and
//! `mess/<id%23>/<id>`) or `todo/<id>\0` (remove `intd/<id>` and
//! `todo/<id>`); each gets one byte on fd 1: `+` done (a missing file
//! counts as done), `!` an unlink failed, `x` malformed.
//!
//! Beyond qmail: the removed files' inodes become spares for qmail-queue
//! ([`crate::queue::spare`]): a removed `intd`/`mess` name is renamed
//! into `spare/queue-wait`; once [`RELEASE_AT`] are waiting, qmail-clean
//! fsyncs the directories they left and moves them to `spare/queue`.
//!
//! Durability: apart from that release, qmail-clean fsyncs nothing.
//! qmail-send asks for a whole batch of `todo/` removals and then fsyncs the `todo` directory
//! once, so a removed todo entry cannot come back after a crash (it would
//! be preprocessed again and lose the "done" marks) without one directory
//! flush per message. `foop` removals are not fsynced: a resurrected orphan
//! mess file is swept again by qmail-send after 36 hours.

use std::io::{self, BufRead, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::home::SPLIT;
use crate::queue::spare::{Pool, Retirer};

/// pid files older than this (seconds of atime) are removed: qmail's
/// OSSIFIED, 36 hours.
pub const OSSIFIED: i64 = 129_600;
/// The sweep runs at start and then every this many requests.
pub const SWEEP_EVERY: u32 = 30;
/// Waiting spares that trigger a release. A release fsyncs up to 25
/// directories (todo, intd, the mess splits) while qmail-send waits for
/// replies, so it should not come often: two spares per message, one
/// release per 64 messages.
pub const RELEASE_AT: usize = 128;

/// The retirer of qmail-clean's pool. Spares an earlier run left
/// waiting may have come from `todo`, `intd` or any `mess` split.
pub fn retirer(queue: &Path) -> Retirer {
    let mut origins = vec![queue.join("todo"), queue.join("intd")];
    origins.extend((0..SPLIT).map(|i| queue.join("mess").join(i.to_string())));
    Retirer::new(queue, Pool::Queue, &origins)
}

/// Serves requests from `input` until EOF, replying on `output`. Paths are
/// relative to `queue` (`""` after chdir'ing into the queue).
/// Returns an error only when a reply cannot be written.
pub fn serve(queue: &Path, input: &mut dyn BufRead, output: &mut dyn Write) -> io::Result<()> {
    let mut countdown = 0u32;
    let mut req = Vec::with_capacity(200);
    let mut spares = retirer(queue);
    loop {
        if countdown == 0 {
            sweep_pids(queue, crate::date::now());
            countdown = SWEEP_EVERY;
        }
        countdown -= 1;
        req.clear();
        match input.read_until(0, &mut req) {
            Ok(_) if req.last() == Some(&0) => {}
            // EOF (or a partial request then EOF, or a read error): done.
            _ => return Ok(()),
        }
        let reply = handle(queue, &mut spares, &req);
        output.write_all(&[reply])?;
        output.flush()?;
        if spares.pending() >= RELEASE_AT {
            // An fsync failure keeps them waiting for the next try.
            let _ = spares.release();
        }
    }
}

/// Handles one request (NUL included) and returns the reply byte.
/// Removed files go to `spares`.
pub fn handle(queue: &Path, spares: &mut Retirer, req: &[u8]) -> u8 {
    if req.len() < 7 || req.len() > 100 || req.last() != Some(&0) {
        return b'x';
    }
    let digits = &req[5..req.len() - 1];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return b'x';
    }
    let id: u64 = match std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(id) => id,
        None => return b'x',
    };
    let intd = queue.join(format!("intd/{id}"));
    let r = match &req[..5] {
        b"foop/" => spares
            .retire(&intd)
            .and_then(|()| spares.retire(&queue.join(format!("mess/{}/{}", id % SPLIT, id)))),
        // The todo name goes for good; its inode (which intd/<id> also
        // names) waits for the todo directory's fsync.
        b"todo/" => spares.retire(&intd).and_then(|()| {
            spares.also_flush(&queue.join("todo"));
            remove(&queue.join(format!("todo/{id}")))
        }),
        _ => return b'x',
    };
    if r.is_ok() {
        b'+'
    } else {
        b'!'
    }
}

fn remove(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes `pid/` files whose atime is [`OSSIFIED`] seconds or more before
/// `now` (leftovers of qmail-queues that died before unlinking them).
/// Every error is ignored: the next sweep tries again.
pub fn sweep_pids(queue: &Path, now: i64) {
    let dir = queue.join("pid");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if let Ok(md) = std::fs::metadata(&p) {
            if now >= md.atime() + OSSIFIED {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// qmail-clean's main: chdir to `QMAILHOME/queue`, serve fds 0/1.
/// Returns the exit code: 111 if the queue is unreachable, 100 if a reply
/// cannot be written, 0 on EOF.
pub fn main() -> i32 {
    let home = crate::home::Home::from_env();
    if std::env::set_current_dir(home.queue()).is_err() {
        return 111;
    }
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut output = io::stdout().lock();
    match serve(Path::new(""), &mut input, &mut output) {
        Ok(()) => 0,
        Err(_) => 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::layout::Layout;

    fn queue() -> (tempfile::TempDir, Layout) {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("queue"));
        l.create().unwrap();
        (d, l)
    }

    #[test]
    fn foop_removes_intd_and_mess() {
        let (_d, l) = queue();
        std::fs::write(l.intd(457), b"").unwrap();
        std::fs::write(l.mess(457), b"").unwrap();
        assert_eq!(handle(&l.root, &mut retirer(&l.root), b"foop/457\0"), b'+');
        assert!(!l.intd(457).exists());
        assert!(!l.mess(457).exists());
        // Missing files count as done.
        assert_eq!(handle(&l.root, &mut retirer(&l.root), b"foop/457\0"), b'+');
    }

    #[test]
    fn todo_removes_intd_and_todo_only() {
        let (_d, l) = queue();
        for p in [l.intd(9), l.todo(9), l.mess(9)] {
            std::fs::write(p, b"").unwrap();
        }
        assert_eq!(handle(&l.root, &mut retirer(&l.root), b"todo/9\0"), b'+');
        assert!(!l.intd(9).exists() && !l.todo(9).exists());
        assert!(l.mess(9).exists());
    }

    #[test]
    fn malformed_requests_get_x() {
        let (_d, l) = queue();
        let long = [b"todo/".to_vec(), vec![b'1'; 95], vec![0]].concat();
        for r in [
            &b"todo/\0"[..],
            b"foo/12\0",
            b"todo/1a\0",
            b"mess/12\0",
            &long,
        ] {
            assert_eq!(handle(&l.root, &mut retirer(&l.root), r), b'x', "{r:?}");
        }
    }

    #[test]
    fn unlink_failure_gets_bang() {
        let (_d, l) = queue();
        // A directory where the file should be: unlink fails with EISDIR.
        std::fs::create_dir(l.todo(5)).unwrap();
        assert_eq!(handle(&l.root, &mut retirer(&l.root), b"todo/5\0"), b'!');
    }

    #[test]
    fn sweep_removes_only_ossified_pid_files() {
        let (_d, l) = queue();
        let p = l.dir("pid").join("1.2.1");
        std::fs::write(&p, b"").unwrap();
        let atime = std::fs::metadata(&p).unwrap().atime();
        sweep_pids(&l.root, atime + OSSIFIED - 1);
        assert!(p.exists());
        sweep_pids(&l.root, atime + OSSIFIED);
        assert!(!p.exists());
    }

    #[test]
    fn serve_answers_each_request_and_stops_at_eof() {
        let (_d, l) = queue();
        let mut out = Vec::new();
        serve(&l.root, &mut &b"todo/1\0bad\0foop/2\0todo/3"[..], &mut out).unwrap();
        assert_eq!(out, b"+x+");
    }
}
