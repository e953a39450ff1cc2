//! Scheduler tests with a manual clock and fake spawns: no sleeps.

use super::*;
use crate::send::retry::ManualClock;
use std::sync::Mutex;

#[derive(Default)]
struct Shared<T>(Arc<Mutex<T>>);
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}
impl<T> Shared<T> {
    fn get(&self) -> std::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

struct FakeSpawn(Shared<Vec<Command>>);
impl Spawn for FakeSpawn {
    fn send(&mut self, cmd: &Command) -> io::Result<()> {
        self.0.get().push(cmd.clone());
        Ok(())
    }
}

struct FakeClean(Layout, Shared<Vec<String>>);
impl Cleaner for FakeClean {
    fn clean(&mut self, req: &str) -> io::Result<bool> {
        self.1.get().push(req.to_string());
        let (kind, id) = req.split_once('/').unwrap();
        let id: u64 = id.parse().unwrap();
        let _ = std::fs::remove_file(self.0.intd(id));
        if kind == "todo" {
            std::fs::remove_file(self.0.todo(id))?;
        } else {
            std::fs::remove_file(self.0.mess(id))?;
        }
        Ok(true)
    }
}

/// (id, recipient, virtualdomain prefix, text)
type Paragraph = (u64, Vec<u8>, Option<String>, Vec<u8>);

#[derive(Default)]
struct Bounces {
    paragraphs: Vec<Paragraph>,
    injected: Vec<(u64, Vec<u8>)>,
}
struct FakeBounce(Layout, Shared<Bounces>);
impl Bouncer for FakeBounce {
    fn record(&mut self, id: u64, r: &[u8], vd: Option<&str>, t: &[u8]) -> io::Result<()> {
        std::fs::write(self.0.bounce(id), b"x")?;
        self.1
            .get()
            .paragraphs
            .push((id, r.to_vec(), vd.map(String::from), t.to_vec()));
        Ok(())
    }
    fn inject(&mut self, id: u64, sender: &[u8]) -> BounceResult {
        self.1.get().injected.push((id, sender.to_vec()));
        BounceResult::Injected(999)
    }
}

struct LogBuf(Shared<Vec<u8>>);
impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.get().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct World {
    _dir: tempfile::TempDir,
    layout: Layout,
    clock: Arc<ManualClock>,
    local: Shared<Vec<Command>>,
    remote: Shared<Vec<Command>>,
    cleans: Shared<Vec<String>>,
    bounces: Shared<Bounces>,
    log: Shared<Vec<u8>>,
    s: Scheduler,
}

fn world(controls: &[(&str, &str)]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path().join("queue"));
    layout.create().unwrap();
    let cdir = dir.path().join("control");
    std::fs::create_dir(&cdir).unwrap();
    std::fs::write(cdir.join("me"), "me.example\n").unwrap();
    for (n, v) in controls {
        std::fs::write(cdir.join(n), v).unwrap();
    }
    let control = ControlDir::new(&cdir);
    let controls = SendControls::load(&control).unwrap();
    let clock = Arc::new(ManualClock::new(crate::date::now()));
    let (local, remote, cleans, bounces, log) = Default::default();
    let s = Scheduler::new(Parts {
        layout: layout.clone(),
        control,
        controls,
        log: Log::new(Box::new(LogBuf(Shared::clone(&log)))),
        clock: clock.clone(),
        spawns: [
            Box::new(FakeSpawn(Shared::clone(&local))),
            Box::new(FakeSpawn(Shared::clone(&remote))),
        ],
        spawn_limits: [120, 120],
        cleaner: Box::new(FakeClean(layout.clone(), Shared::clone(&cleans))),
        bouncer: Box::new(FakeBounce(layout.clone(), Shared::clone(&bounces))),
        syncer: Box::new(crate::send::syncer::InlineSyncer::new(layout.root.clone())),
    });
    World {
        _dir: dir,
        layout,
        clock,
        local,
        remote,
        cleans,
        bounces,
        log,
        s,
    }
}

impl World {
    fn queue(&self, id: u64, env: &[u8]) {
        std::fs::write(self.layout.mess(id), b"Received: x\n\nbody\n").unwrap();
        std::fs::write(self.layout.todo(id), env).unwrap();
    }
    fn log_text(&self) -> String {
        String::from_utf8(self.log.get().clone()).unwrap()
    }
    fn birth(&self, id: u64) -> i64 {
        mtime(&self.layout.info(id)).unwrap()
    }
}

#[test]
fn one_local_delivery_logs_like_qmail() {
    let mut w = world(&[]);
    w.queue(30, b"u1000\0p42\0Fs@x\0Tbob@me.example\0");
    w.s.status();
    w.s.scan_todo();
    w.s.run_once().unwrap();
    let cmds = w.local.get().clone();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].messid, b"7/30");
    assert_eq!(cmds[0].recipient, b"bob@me.example");
    w.s.report(LOCAL, cmds[0].slot, b'K', b"did 1+0+0\n");
    w.s.run_once().unwrap();
    assert_eq!(
        w.log_text(),
        "status: local 0/10 remote 0/20\n\
         new msg 30\n\
         info msg 30: bytes 18 from <s@x> qp 42 uid 1000\n\
         starting delivery 1: msg 30 to local bob@me.example\n\
         status: local 1/10 remote 0/20\n\
         delivery 1: success: did_1+0+0/\n\
         status: local 0/10 remote 0/20\n\
         end msg 30\n"
    );
    assert_eq!(*w.cleans.get(), vec!["todo/30", "foop/30"]);
    assert!(!w.layout.info(30).exists());
    assert!(!w.layout.local(30).exists());
    assert!(!w.layout.mess(30).exists());
}

#[test]
fn deferred_local_recipient_retries_on_the_formula() {
    let mut w = world(&[]);
    w.queue(31, b"Fs@x\0Ta@me.example\0Tb@me.example\0");
    w.s.scan_todo();
    w.s.run_once().unwrap();
    let birth = w.birth(31);
    w.clock.set(birth);
    let cmds = w.local.get().clone();
    assert_eq!(cmds.len(), 2);
    w.s.report(LOCAL, cmds[0].slot, b'K', b"did 1+0+0\n");
    w.s.report(LOCAL, cmds[1].slot, b'Z', b"try later\n");
    // The done record of a is persisted; b stays T.
    assert_eq!(
        std::fs::read(w.layout.local(31)).unwrap(),
        b"Da@me.example\0Tb@me.example\0"
    );
    // Pass started at (or just after) birth: next attempt at birth + 100.
    assert_eq!(w.s.next_due(birth), Some(100));
    w.clock.set(birth + 99);
    w.s.run_once().unwrap();
    assert_eq!(w.local.get().len(), 2);
    w.clock.set(birth + 100);
    w.s.run_once().unwrap();
    let cmds = w.local.get().clone();
    assert_eq!(cmds.len(), 3);
    assert_eq!(cmds[2].recipient, b"b@me.example");
    // Deferred again at 100: next at birth + 400.
    w.s.report(LOCAL, cmds[2].slot, b'Z', b"try later\n");
    assert_eq!(w.s.next_due(birth + 100), Some(300));
}

#[test]
fn remote_schedule_and_alarm() {
    let mut w = world(&[]);
    w.queue(32, b"Fs@x\0Tz@far.example\0");
    w.s.scan_todo();
    w.s.run_once().unwrap();
    let birth = w.birth(32);
    w.clock.set(birth);
    let c = w.remote.get()[0].clone();
    w.s.report(REMOTE, c.slot, b'Z', b"no\n");
    assert_eq!(w.s.next_due(birth), Some(400));
    // SIGALRM: due now.
    w.s.alarm();
    assert_eq!(w.s.next_due(birth), Some(0));
    w.s.run_once().unwrap();
    assert_eq!(w.remote.get().len(), 2);
}

#[test]
fn queuelifetime_turns_the_last_deferral_into_a_bounce() {
    let mut w = world(&[("queuelifetime", "10")]);
    w.queue(33, b"Fs@x\0Tz@far.example\0");
    w.s.scan_todo();
    w.s.run_once().unwrap();
    let birth = w.birth(33);
    let c = w.remote.get()[0].clone();
    w.clock.set(birth + 1);
    w.s.report(REMOTE, c.slot, b'Z', b"Sorry, try later. (#4.4.1)\n");
    assert!(w.bounces.get().paragraphs.is_empty());
    // Next pass at birth + 400 is past the lifetime: one last try.
    w.clock.set(birth + 400);
    w.s.run_once().unwrap();
    let c = w.remote.get()[1].clone();
    w.s.report(REMOTE, c.slot, b'Z', b"Sorry, try later. (#4.4.1)\n");
    let b = w.bounces.get();
    assert_eq!(b.paragraphs.len(), 1);
    assert_eq!(
        b.paragraphs[0].3,
        b"Sorry, try later. (#4.4.1)\nI'm not going to try again; this message has been in the queue too long.\n"
    );
    drop(b);
    w.s.run_once().unwrap();
    assert_eq!(w.bounces.get().injected, vec![(33, b"s@x".to_vec())]);
    let log = w.log_text();
    assert!(log.contains("delivery 2: failure: Sorry,_try_later._(#4.4.1)/I'm_not_going_to_try_again;_this_message_has_been_in_the_queue_too_long./\n"), "{log}");
    assert!(log.contains("bounce msg 33 qp 999\nend msg 33\n"), "{log}");
}

#[test]
fn bounce_waits_for_every_recipient() {
    let mut w = world(&[("virtualdomains", "virt.example:joe\n")]);
    w.queue(
        34,
        b"Fs@x\0Tinfo@virt.example\0Tz@far.example\0Tok@me.example\0",
    );
    w.s.scan_todo();
    w.s.run_once().unwrap();
    let l = w.local.get().clone();
    let r = w.remote.get().clone();
    assert_eq!(l[0].recipient, b"joe-info@virt.example");
    w.s.report(
        LOCAL,
        l[0].slot,
        b'D',
        b"Sorry, no mailbox here by that name. (#5.1.1)\n",
    );
    w.s.report(LOCAL, l[1].slot, b'K', b"did 1+0+0\n");
    w.s.run_once().unwrap();
    // The remote recipient is still out: no bounce yet.
    assert!(w.bounces.get().injected.is_empty());
    assert!(w.layout.info(34).exists());
    w.s.report(REMOTE, r[0].slot, b'D', b"no such user\n");
    w.s.run_once().unwrap();
    let b = w.bounces.get();
    assert_eq!(b.paragraphs.len(), 2);
    assert_eq!(b.paragraphs[0].2.as_deref(), Some("joe"));
    assert_eq!(b.injected.len(), 1);
}

#[test]
fn no_recipients_is_done_at_once() {
    let mut w = world(&[]);
    w.queue(35, b"Fs@x\0");
    w.s.scan_todo();
    w.s.run_once().unwrap();
    assert!(w.log_text().ends_with("end msg 35\n"));
    assert!(!w.layout.mess(35).exists());
}

#[test]
fn mangled_and_out_of_range_reports() {
    let mut w = world(&[]);
    w.queue(36, b"Fs@x\0Ta@me.example\0");
    w.s.scan_todo();
    w.s.run_once().unwrap();
    w.s.report(LOCAL, 77, b'K', b"");
    let c = w.local.get()[0].clone();
    w.s.report(LOCAL, c.slot, b'Q', b"?");
    let log = w.log_text();
    assert!(log.contains("warning: internal error: delivery report out of range\n"));
    assert!(log.contains("delivery 1: report mangled, will defer\n"));
    assert!(w.layout.local(36).exists());
}

#[test]
fn recovery_schedules_by_channel_mtime() {
    let mut w = world(&[]);
    w.queue(37, b"Fs@x\0Ta@me.example\0");
    w.s.scan_todo();
    w.s.run_once().unwrap();
    // Simulate a stop: save the schedule with a deferral pending.
    let c = w.local.get()[0].clone();
    let birth = w.birth(37);
    w.clock.set(birth);
    w.s.report(LOCAL, c.slot, b'Z', b"later\n");
    w.s.save_schedule();
    assert_eq!(mtime(&w.layout.local(37)).unwrap(), birth + 100);
    // A fresh scheduler picks it up from the mtime.
    let mut w2 = world(&[]);
    let _ = std::fs::remove_dir_all(&w2.layout.root);
    copy_tree(&w.layout.root, &w2.layout.root);
    let t = mtime(&w.layout.local(37)).unwrap();
    std::fs::File::open(w2.layout.local(37))
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64))
        .unwrap();
    w2.s.recover();
    w2.clock.set(birth + 50);
    assert_eq!(w2.s.next_due(birth + 50), Some(50));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let q = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&p, &q);
        } else if ft.is_file() {
            std::fs::copy(&p, &q).unwrap();
        }
    }
}

#[test]
fn verp_sender_expansion() {
    assert_eq!(
        senderadd(b"list-owner-@example.org-@[]", b"joe@b.com"),
        b"list-owner-joe=b.com@example.org"
    );
    assert_eq!(senderadd(b"a@b", b"joe@b.com"), b"a@b");
    assert_eq!(senderadd(b"", b"joe@b.com"), b"");
}
