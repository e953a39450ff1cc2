//! The world of the crash-recovery tests (`crash_recovery.rs`): one MTA
//! whose user reaches every local delivery kind (maildir, two maildirs in
//! one qmail-local run, mbox, bounce) plus a remote route to a loopback
//! SMTP sink; messages with a unique `X-Id`; a tally of what was delivered
//! where that panics on any partial file; and the recovery check.
//!
//! Used as `mod crash_world;` next to `mod common;` and `mod support;`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{wait_for, Mta};
use crate::support::smtp_sink::{Script, SmtpSink};

/// Where one recipient's copy lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// `user@localhost`: `~user/Maildir`.
    User,
    /// `user-two@localhost`: `.qmail-two` delivers to `./Maildir/` ...
    Two1,
    /// ... and to `./Maildir2/`, in one qmail-local run.
    Two2,
    /// `user-box@localhost`: the mbox `~user/Mailbox`.
    Box,
    /// The bounce for `nobody@localhost`, in `~user/Maildir`.
    Bounce,
    /// `r@remote.test`: the SMTP sink (via smtproutes).
    Remote,
}

/// What kind of message to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Local,
    Two,
    Box,
    /// To user and to nobody: one delivery and one bounce.
    Bounce,
    /// To user and to a remote recipient.
    Mixed,
}

impl Kind {
    pub fn envelope(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::Local => ("alice@example.org", &["user@localhost"]),
            Kind::Two => ("alice@example.org", &["user-two@localhost"]),
            Kind::Box => ("alice@example.org", &["user-box@localhost"]),
            Kind::Bounce => ("user@localhost", &["user@localhost", "nobody@localhost"]),
            Kind::Mixed => ("user@localhost", &["user@localhost", "r@remote.test"]),
        }
    }
}

pub fn places(rcpt: &str) -> &'static [Place] {
    match rcpt {
        "user@localhost" => &[Place::User],
        "user-two@localhost" => &[Place::Two1, Place::Two2],
        "user-box@localhost" => &[Place::Box],
        "nobody@localhost" => &[Place::Bounce],
        "r@remote.test" => &[Place::Remote],
        _ => panic!("no place for {rcpt}"),
    }
}

#[derive(Debug, Clone)]
pub struct Msg {
    pub id: String,
    pub from: String,
    pub rcpts: Vec<String>,
    pub body: String,
}

pub fn make_msg(id: String, kind: Kind, n: usize) -> Msg {
    let (from, rcpts) = kind.envelope();
    let mut body = format!("X-Id: {id}\nSubject: crash test {n}\n\nbody of {id}\n");
    // Every fourth message is bigger than the 64 KiB copy buffers, so it
    // takes several writes everywhere.
    if n % 4 == 3 {
        for i in 0..2000 {
            body.push_str(&format!("line {i} of {id}: the quick brown fox\n"));
        }
    }
    Msg {
        id,
        from: from.to_string(),
        rcpts: rcpts.iter().map(|r| r.to_string()).collect(),
        body,
    }
}

/// Injects through the root's qmail-queue; true when it acknowledged.
pub fn inject_raw(root: &Path, m: &Msg) -> bool {
    let rcpts: Vec<Vec<u8>> = m.rcpts.iter().map(|r| r.as_bytes().to_vec()).collect();
    mta::queue::client::inject(root, None, m.body.as_bytes(), m.from.as_bytes(), &rcpts).is_ok()
}

/// Reads an mbox as a mail reader must: under a shared `flock`, so a
/// delivery still appending (under its exclusive lock) is not mistaken
/// for a partial message. A crashed writer's lock is gone with it, so
/// what it left is seen as it is.
pub fn read_mbox(path: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut l = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockShared).ok()?;
    let mut s = String::new();
    l.read_to_string(&mut s).ok()?;
    Some(s)
}

/// An aborting process must not litter the queue with core files.
pub fn no_core_dumps() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain rlimit syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_CORE, &mut r) == 0 {
            r.rlim_cur = 0;
            libc::setrlimit(libc::RLIMIT_CORE, &r);
        }
    }
}

/// What may legitimately remain in the queue after recovery: only what
/// qmail itself leaves for its 36-hour sweeps (spec §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftovers {
    /// Nothing.
    None,
    /// What a qmail-queue that died before its commit point leaves
    /// (`pid/`, `mess/`, `intd/`); `queue_point` checks the exact set.
    DeadQueue,
    /// `mess/<s>/<id>` of a message whose `end msg` was logged: qmail-send
    /// died after unlinking `info/<id>` and before qmail-clean removed the
    /// message, as qmail's own order (info first, then mess) allows. No
    /// file names the message any more; the sweep removes it.
    EndedMess,
}

pub fn crash_env(point: &str, nth: u32) -> Vec<(String, String)> {
    vec![("MTA_CRASHPOINT".to_string(), format!("{point}:{nth}"))]
}

/// One MTA with a user whose `.qmail` files reach every local delivery
/// kind, a remote route to a loopback SMTP sink, and the messages
/// injected so far.
pub struct World {
    pub m: Mta,
    pub sink: Option<SmtpSink>,
    pub tag: String,
    pub all: BTreeMap<String, Msg>,
    pub acked: BTreeSet<String>,
    pub n: usize,
}

impl World {
    pub fn new(tag: &str) -> World {
        no_core_dumps();
        let m = Mta::init();
        m.dot_qmail(".qmail-two", "./Maildir/\n./Maildir2/\n");
        m.dot_qmail(".qmail-box", "./Mailbox\n");
        for d in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(m.user_home().join("Maildir2").join(d)).unwrap();
        }
        let sink = SmtpSink::start("127.0.0.1", Script::default());
        m.control(
            "smtproutes",
            &format!("remote.test:127.0.0.1:{}\n", sink.port()),
        );
        World {
            m,
            sink: Some(sink),
            tag: tag.to_string(),
            all: BTreeMap::new(),
            acked: BTreeSet::new(),
            n: 0,
        }
    }

    pub fn next_msg(&mut self, kind: Kind) -> Msg {
        let n = self.n;
        self.n += 1;
        let m = make_msg(format!("{}-{n}", self.tag), kind, n);
        self.all.insert(m.id.clone(), m.clone());
        m
    }

    /// Injects one message that must be acknowledged.
    pub fn inject(&mut self, kind: Kind) {
        let m = self.next_msg(kind);
        assert!(inject_raw(&self.m.root, &m), "qmail-queue failed");
        self.acked.insert(m.id);
    }

    /// Every (id, place) that must end up delivered.
    pub fn expected(&self) -> BTreeSet<(String, Place)> {
        let mut v = BTreeSet::new();
        for id in &self.acked {
            for r in &self.all[id].rcpts {
                for &p in places(r) {
                    v.insert((id.clone(), p));
                }
            }
        }
        v
    }

    pub fn home(&self) -> PathBuf {
        self.m.user_home()
    }

    /// Counts every delivery on disk, panicking on any partial or foreign
    /// file. Remote deliveries are not included (see [`World::remote`]).
    pub fn tally(&self) -> BTreeMap<(String, Place), usize> {
        let mut t = BTreeMap::new();
        for (dir, second) in [("Maildir", false), ("Maildir2", true)] {
            let new = self.home().join(dir).join("new");
            for e in std::fs::read_dir(&new).into_iter().flatten().flatten() {
                let Ok(bytes) = std::fs::read(e.path()) else {
                    continue; // renamed away meanwhile: nobody reads new/ here
                };
                let text = String::from_utf8(bytes).unwrap_or_else(|_| {
                    panic!(
                        "non-UTF-8 file in {}: {}",
                        new.display(),
                        e.path().display()
                    )
                });
                let key = self
                    .parse_maildir_file(&text, second)
                    .unwrap_or_else(|why| {
                        panic!(
                            "partial or corrupt file in {}: {} ({why}):\n{text}",
                            new.display(),
                            e.path().display()
                        )
                    });
                *t.entry(key).or_insert(0) += 1;
            }
        }
        if let Some(mbox) = read_mbox(&self.home().join("Mailbox")) {
            for id in self.parse_mbox(&mbox) {
                *t.entry((id, Place::Box)).or_insert(0) += 1;
            }
        }
        t
    }

    fn find_id<'a>(&self, text: &'a str) -> Result<&'a str, String> {
        let start = text.find("\nX-Id: ").ok_or("no X-Id")? + 7;
        let end = text[start..].find('\n').ok_or("X-Id line cut")? + start;
        let id = &text[start..end];
        if self.all.contains_key(id) {
            Ok(id)
        } else {
            Err(format!("unknown X-Id {id}"))
        }
    }

    /// A maildir file must be exactly Return-Path + Delivered-To + the
    /// queued message; a bounce must end with the whole original message.
    pub fn parse_maildir_file(&self, text: &str, second: bool) -> Result<(String, Place), String> {
        let id = self.find_id(text)?;
        let msg = &self.all[id];
        if let Some(rest) = text.strip_prefix("Return-Path: <>\nDelivered-To: user@localhost\n") {
            if second {
                return Err("bounce in Maildir2".into());
            }
            if !rest.contains("\nSorry, no mailbox here by that name. (#5.1.1)\n") {
                return Err("bounce without the failure paragraph".into());
            }
            if !rest.ends_with(&format!("\n{}", msg.body)) {
                return Err("bounce does not end with the whole message".into());
            }
            return Ok((id.to_string(), Place::Bounce));
        }
        let rp = format!("Return-Path: <{}>\n", msg.from);
        let rest = text.strip_prefix(&rp).ok_or("bad Return-Path")?;
        let (place, rest) = if let Some(r) = rest.strip_prefix("Delivered-To: user@localhost\n") {
            (Place::User, r)
        } else if let Some(r) = rest.strip_prefix("Delivered-To: user-two@localhost\n") {
            (if second { Place::Two2 } else { Place::Two1 }, r)
        } else {
            return Err("bad Delivered-To".into());
        };
        if place == Place::User && second {
            return Err("user@localhost in Maildir2".into());
        }
        let rest = rest
            .strip_prefix("Received: (qmail ")
            .ok_or("no Received")?;
        let nl = rest.find(" -0000\n").ok_or("Received line cut")?;
        if rest[nl + 7..] != msg.body {
            return Err("message body differs from what was queued".into());
        }
        Ok((id.to_string(), place))
    }

    /// Splits the mbox into messages (no body line starts with "From ")
    /// and checks each is complete: From_ line, Return-Path, Delivered-To,
    /// Received, the message, one empty line.
    pub fn parse_mbox(&self, mbox: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut blocks: Vec<&str> = Vec::new();
        let mut start = 0;
        for (i, _) in mbox.match_indices("\nFrom ") {
            blocks.push(&mbox[start..=i]);
            start = i + 1;
        }
        blocks.push(&mbox[start..]);
        for b in blocks.into_iter().filter(|b| !b.is_empty()) {
            let check = || -> Result<String, String> {
                let id = self.find_id(b)?.to_string();
                let msg = &self.all[&id];
                let first_nl = b.find('\n').ok_or("no From_ line")?;
                if !b.starts_with(&format!("From {} ", msg.from)) {
                    return Err("bad From_ line".into());
                }
                let rest = &b[first_nl + 1..];
                let head = format!(
                    "Return-Path: <{}>\nDelivered-To: user-box@localhost\nReceived: (qmail ",
                    msg.from
                );
                if !rest.starts_with(&head) {
                    return Err("bad header lines".into());
                }
                if !rest.ends_with(&format!(" -0000\n{}\n", msg.body)) {
                    return Err("message cut".into());
                }
                Ok(id)
            };
            match check() {
                Ok(id) => ids.push(id),
                Err(why) => panic!("partial or corrupt message in Mailbox ({why}):\n{mbox}"),
            }
        }
        ids
    }

    /// The expected non-remote deliveries not seen yet.
    pub fn missing(&self) -> Vec<(String, Place)> {
        let t = self.tally();
        self.expected()
            .into_iter()
            .filter(|k| k.1 != Place::Remote && !t.contains_key(k))
            .collect()
    }

    /// Nothing in flight: no todo or info entry (hence no channel or
    /// bounce file either); only leftovers of dead qmail-queues, if any.
    pub fn settled(&self) -> bool {
        self.m
            .queue_files()
            .iter()
            .all(|f| f.starts_with("mess/") || f.starts_with("intd/") || f.starts_with("pid/"))
    }

    /// Checks what is on disk against what may be there: every delivered
    /// id was acknowledged (or committed), at a place it was sent to.
    pub fn check_only_expected(&self) -> BTreeMap<(String, Place), usize> {
        let t = self.tally();
        let exp = self.expected();
        for k in t.keys() {
            assert!(
                exp.contains(k),
                "delivery that should not exist: {k:?}; log:\n{}",
                self.m.log()
            );
        }
        t
    }

    /// Restarts (without any crash point), retries deferred mail with
    /// SIGALRM, and waits until everything expected is delivered and the
    /// queue has settled; then stops cleanly and checks the result,
    /// including leftovers of dead qmail-queues (aged and swept) when
    /// `leftovers_ok`.
    pub fn recover(&mut self, what: &str, leftovers: Leftovers) {
        self.m.env.clear();
        self.m.start();
        let mut tick = 0u32;
        let ok = wait_for(Duration::from_secs(60), || {
            tick += 1;
            if tick.is_multiple_of(25) {
                self.m.alarm();
            }
            self.missing().is_empty() && self.settled()
        });
        assert!(
            ok,
            "{what}: not recovered; missing {:?}; queue {:?}; log:\n{}",
            self.missing(),
            self.m.queue_files(),
            self.m.log()
        );
        assert_eq!(self.m.stop(), Some(0), "{what}: unclean stop");
        let left = self.m.queue_files();
        if !left.is_empty() {
            let log = self.m.log();
            let allowed = |f: &String| match leftovers {
                Leftovers::None => false,
                Leftovers::DeadQueue => ["pid/", "mess/", "intd/"].iter().any(|d| f.starts_with(d)),
                Leftovers::EndedMess => {
                    f.starts_with("mess/")
                        && log.contains(&format!("\nend msg {}\n", f.rsplit('/').next().unwrap()))
                }
            };
            assert!(
                left.iter().all(allowed),
                "{what}: queue not empty after recovery: {left:?} ({leftovers:?} allowed); log:\n{log}"
            );
            eprintln!("{what}: left for the 36-hour sweep: {left:?}");
            self.sweep_leftovers(what, &left);
        }
        self.final_check(what);
    }

    /// The 36-hour sweeps (qmail-clean for `pid/`, qmail-send for `mess/`
    /// and `intd/`, spec §3.9) run at start: make the leftovers 37 hours
    /// old, restart, and wait for them to go.
    pub fn sweep_leftovers(&mut self, what: &str, left: &[String]) {
        let old = std::time::SystemTime::now() - Duration::from_secs(37 * 3600);
        for f in left {
            let p = self.m.root.join("queue").join(f);
            let file = std::fs::File::open(&p).unwrap();
            file.set_times(
                std::fs::FileTimes::new()
                    .set_accessed(old)
                    .set_modified(old),
            )
            .unwrap();
        }
        self.m.start();
        let ok = wait_for(Duration::from_secs(20), || self.m.queue_files().is_empty());
        assert!(
            ok,
            "{what}: leftovers {:?} not swept; log:\n{}",
            self.m.queue_files(),
            self.m.log()
        );
        assert_eq!(self.m.stop(), Some(0));
    }

    /// Every expected delivery happened at least once (remote ones
    /// included), nothing unexpected did; prints the duplicate count.
    pub fn final_check(&mut self, what: &str) {
        let mut t = self.check_only_expected();
        if let Some(sink) = self.sink.take() {
            for s in sink.finish_text() {
                if !s.contains("\r\n.\r\n") {
                    continue; // no complete DATA: not a delivery
                }
                for id in self.all.keys() {
                    let n = s.matches(&format!("\r\nX-Id: {id}\r\n")).count();
                    if n > 0 {
                        *t.entry((id.clone(), Place::Remote)).or_insert(0) += n;
                    }
                }
            }
        }
        let exp = self.expected();
        let missing: Vec<_> = exp.iter().filter(|k| !t.contains_key(*k)).collect();
        assert!(
            missing.is_empty(),
            "{what}: LOST {missing:?}; log:\n{}",
            self.m.log()
        );
        for k in t.keys() {
            assert!(exp.contains(k), "{what}: unexpected delivery {k:?}");
        }
        let dups: usize = t.values().map(|&n| n - 1).sum();
        eprintln!(
            "{what}: {} messages acknowledged, {} deliveries expected, all delivered, {dups} duplicate(s)",
            self.acked.len(),
            exp.len()
        );
    }
}
