//! The qmail-send process (spec §3.1, §3.2, §3.8): descriptors from
//! qmail-start, start-up checks, signals, the trigger, and the event loop
//! around [`Scheduler`].
//!
//! Descriptors (spec §1.2): 0 log (write), 1/2 qmail-lspawn command/report,
//! 3/4 qmail-rspawn command/report, 5/6 qmail-clean request/reply.
//!
//! Instead of qmail's single `select`, small threads turn each input (two
//! report pipes, the trigger FIFO, signals) into events on one channel; the
//! scheduler itself runs on one thread, so its state needs no locks.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::log::Log;
use super::retry::{Clock, SystemClock};
use super::scheduler::{Bouncer, Cleaner, Parts, Scheduler, Spawn, LOCAL, REMOTE};
use crate::control::{ControlDir, SendControlError, SendControls};
use crate::home::Home;
use crate::queue::layout::Layout;
use crate::spawn::protocol::{Command, Framer};

/// `SLEEP_TODO`: rescan `todo/` at least this often.
pub const SLEEP_TODO: i64 = 1500;
/// `SLEEP_CLEANUP`: interval between sweeps of `mess/`.
pub const SLEEP_CLEANUP: i64 = 76431;

enum Event {
    Report(usize, u8, u8, Vec<u8>),
    /// A flush finished (see super::syncer).
    Synced,
    Lost,
    Trigger,
    Signal(i32),
}

struct PipeSpawn(File);
impl Spawn for PipeSpawn {
    fn send(&mut self, cmd: &Command) -> io::Result<()> {
        self.0.write_all(&cmd.encode())
    }
}

struct PipeClean {
    req: File,
    rep: File,
}
impl Cleaner for PipeClean {
    fn clean(&mut self, req: &str) -> io::Result<bool> {
        let mut v = req.as_bytes().to_vec();
        v.push(0);
        self.req.write_all(&v)?;
        let mut b = [0u8; 1];
        self.rep.read_exact(&mut b)?;
        Ok(b[0] == b'+')
    }
    fn clean_all(&mut self, reqs: &[String]) -> io::Result<Vec<bool>> {
        let mut answers = Vec::with_capacity(reqs.len());
        // Chunks keep the replies far below a pipe's capacity, so
        // qmail-clean can never block on a reply while we write.
        for chunk in reqs.chunks(CLEAN_CHUNK) {
            let mut v = Vec::with_capacity(chunk.len() * 24);
            for r in chunk {
                v.extend_from_slice(r.as_bytes());
                v.push(0);
            }
            self.req.write_all(&v)?;
            let mut b = vec![0u8; chunk.len()];
            self.rep.read_exact(&mut b)?;
            answers.extend(b.iter().map(|&c| c == b'+'));
        }
        Ok(answers)
    }
}

/// qmail-clean requests sent before their replies are read.
const CLEAN_CHUNK: usize = 256;

fn fd(n: i32) -> File {
    // SAFETY: qmail-start hands qmail-send exactly these descriptors open
    // (spec §1.2); each is taken once, here, and owned from then on.
    File::from(unsafe { OwnedFd::from_raw_fd(n) })
}

/// Reads the spawn's slot byte (spec §1.3).
fn read_limit(f: &mut File) -> Option<u32> {
    let mut b = [0u8; 1];
    f.read_exact(&mut b).ok().map(|_| b[0] as u32)
}

fn reader(ch: usize, mut f: File, tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        let mut framer = Framer::default();
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Event::Lost);
                    return;
                }
                Ok(n) => {
                    framer.push(&buf[..n]);
                    while let Some((slot, letter, mut text)) = framer.next_report() {
                        // qmail-send caps a report at 10000 bytes.
                        text.truncate(10_000);
                        if tx.send(Event::Report(ch, slot, letter, text)).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
}

/// The trigger: holding the FIFO open read-write means writers can always
/// open it and reads block until a byte arrives (spec §1.7).
/// The FIFO is opened here, before qmail-send announces itself, so that no
/// trigger pulled after start-up can be missed.
fn trigger(path: std::path::PathBuf, tx: mpsc::Sender<Event>) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok(n) = f.read(&mut buf) {
            if n > 0 && tx.send(Event::Trigger).is_err() {
                return;
            }
        }
    });
    Ok(())
}

fn signals(tx: mpsc::Sender<Event>) -> io::Result<()> {
    use signal_hook::consts::{SIGALRM, SIGHUP, SIGTERM};
    let mut s = signal_hook::iterator::Signals::new([SIGTERM, SIGALRM, SIGHUP])?;
    std::thread::spawn(move || {
        for sig in s.forever() {
            if tx.send(Event::Signal(sig)).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// What was wrong with the controls, with the file named relative to the
/// root (`control/locals`), for the log.
fn control_trouble(home: &Home, e: &SendControlError) -> String {
    match e {
        SendControlError::Read(c) => {
            let p = c.path.strip_prefix(&home.root).unwrap_or(&c.path);
            format!("unable to read {}: {}", p.display(), c.source)
        }
        other => other.to_string(),
    }
}

/// Runs qmail-send on the descriptors qmail-start set up. Returns the exit
/// code (0 after TERM, 111 on a start-up failure).
pub fn main(home: &Home, bouncer: impl FnOnce(&Layout, &SendControls) -> Box<dyn Bouncer>) -> i32 {
    let mut log = Log::new(Box::new(fd(0)));
    if std::env::set_current_dir(&home.root).is_err() {
        log.alert("cannot start: unable to switch to home directory");
        return 111;
    }
    let control = ControlDir::new(home.control());
    let controls = match SendControls::load(&control) {
        Ok(c) => c,
        Err(e) => {
            // Beyond qmail: first a line naming the file and the reason
            // (qmail's alert names neither), then qmail's alert unchanged.
            log.warning(&control_trouble(home, &e));
            log.alert("cannot start: unable to read controls");
            return 111;
        }
    };
    if std::env::set_current_dir(home.queue()).is_err() {
        log.alert("cannot start: unable to switch to queue directory");
        return 111;
    }
    let (tx, rx) = mpsc::channel();
    if signals(tx.clone()).is_err() {
        log.alert("cannot start: unable to read controls");
        return 111;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let layout = Layout::new(home.queue());
    let Ok(mutex) = File::options().write(true).open(layout.lock("sendmutex")) else {
        log.alert("cannot start: unable to open mutex");
        return 111;
    };
    let _lock = match nix::fcntl::Flock::lock(mutex, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err(_) => {
            log.alert("cannot start: qmail-send is already running");
            return 111;
        }
    };
    let (mut lrep, mut rrep) = (fd(2), fd(4));
    let (Some(ll), Some(rl)) = (read_limit(&mut lrep), read_limit(&mut rrep)) else {
        log.alert("cannot start: hath the daemon spawn no fire?");
        return 111;
    };
    reader(LOCAL, lrep, tx.clone());
    reader(REMOTE, rrep, tx.clone());
    if trigger(layout.lock("trigger"), tx.clone()).is_err() {
        // qmail carries on without the trigger (todo/ is rescanned every
        // SLEEP_TODO seconds); say why mail may be slow.
        log.warning("unable to open lock/trigger");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let b = bouncer(&layout, &controls);
    let wake = tx.clone();
    let syncer: Box<dyn super::syncer::Syncer> =
        match super::syncer::ThreadSyncer::start(layout.root.clone(), move || {
            let _ = wake.send(Event::Synced);
        }) {
            Ok(t) => Box::new(t),
            Err(_) => Box::new(super::syncer::InlineSyncer::new(layout.root.clone())),
        };
    let mut s = Scheduler::new(Parts {
        layout: layout.clone(),
        control,
        controls,
        log,
        clock: clock.clone(),
        spawns: [Box::new(PipeSpawn(fd(1))), Box::new(PipeSpawn(fd(3)))],
        spawn_limits: [ll, rl],
        cleaner: Box::new(PipeClean {
            req: fd(5),
            rep: fd(6),
        }),
        bouncer: b,
        syncer,
    });
    run(&mut s, clock.as_ref(), rx)
}

fn run(s: &mut Scheduler, clock: &dyn Clock, rx: mpsc::Receiver<Event>) -> i32 {
    s.status();
    s.recover();
    let mut next_todo = 0i64;
    let mut next_sweep = 0i64;
    loop {
        let now = clock.now();
        // Beyond qmail: while entries found by the last scan are still
        // waiting, a trigger does not rescan todo/ (a full directory read
        // per injected message under load); the scan happens once they
        // are taken, so nothing waits longer than the work ahead of it.
        if !s.exiting() && now >= next_todo && !s.has_todo() {
            s.scan_todo();
            next_todo = now + SLEEP_TODO;
        }
        if !s.exiting() && now >= next_sweep {
            if let Err(e) = s.sweep_mess(now) {
                s.log.alert(&e.to_string());
                return 111;
            }
            next_sweep = now + SLEEP_CLEANUP;
        }
        if let Err(e) = s.run_once() {
            s.log.alert(&e.to_string());
            return 111;
        }
        if s.exiting() && s.idle() {
            s.save_schedule();
            return 0;
        }
        let mut wait = s.next_due(now).unwrap_or(i64::MAX).min(next_todo - now);
        if s.has_todo() {
            wait = 0;
        }
        // SLEEP_FUZZ: one extra second, as qmail, so a job due "now" is due.
        let timeout = Duration::from_millis(if wait <= 0 {
            0
        } else {
            (wait as u64) * 1000 + 1000
        });
        let first = match rx.recv_timeout(timeout) {
            Ok(e) => Some(e),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return 111,
        };
        // Handle everything already waiting before the next scheduler turn.
        for ev in first.into_iter().chain(rx.try_iter()) {
            match ev {
                Event::Report(ch, slot, letter, text) => s.report(ch, slot, letter, &text),
                Event::Lost => {
                    s.log.alert("oh no! lost spawn connection! dying...");
                    return 111;
                }
                Event::Trigger => next_todo = 0,
                Event::Synced => {}
                Event::Signal(signal_hook::consts::SIGTERM) => s.exit_asap(),
                Event::Signal(signal_hook::consts::SIGALRM) => s.alarm(),
                Event::Signal(signal_hook::consts::SIGHUP) => s.hup(),
                Event::Signal(_) => {}
            }
        }
    }
}
