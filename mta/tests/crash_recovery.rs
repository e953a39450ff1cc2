//! Crash recovery through the supervisor: for every named crash point
//! (`mta::crashpoint::ALL`), abort there, restart, and check that every
//! message qmail-queue acknowledged is delivered (duplicates allowed, and
//! counted), that no partial file ever appears in `Maildir/new` (or a
//! partial message in an mbox), and that the queue ends empty.
//!
//! * `queue.*` points fire in qmail-queue: the crashed injection was never
//!   acknowledged. Before `queue.todo.linked` it is not committed and must
//!   never be delivered; at `queue.todo.linked` it is committed and must
//!   be. What a dead qmail-queue leaves (`pid/`, `mess/`, `intd/`) is
//!   swept after 36 hours (spec §3.9); the tests age it and check that
//!   the sweeps remove it.
//! * `send.*` points fire in qmail-send; with `--once` the supervisor
//!   exits when it dies, and is restarted without the crash point.
//! * `local.*` points fire in qmail-local; qmail-send logs a deferral
//!   (`qmail-local crashed.`), is stopped, restarted without the crash
//!   point, and SIGALRM makes it retry at once. With inline delivery (the
//!   unprivileged default, where qmail-lspawn runs qmail-local's code on
//!   its threads) the same points take qmail-lspawn down, and with it
//!   qmail-send (`lost spawn connection`): those runs recover like the
//!   `send.*` ones.
//!
//! Every message carries a unique `X-Id` header; deliveries are counted
//! per id and per destination. A delivered maildir file must be exactly
//! `Return-Path` + `Delivered-To` + the queued message (qmail-queue's
//! Received line + what was injected), byte for byte.

mod common;
mod crash_world;
mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::wait_for;
use crash_world::{crash_env, inject_raw, places, Kind, Leftovers, Msg, World};
// ---------------------------------------------------------------------
// queue.* : qmail-queue dies at the point.

fn queue_point(point: &str) {
    let what = point.to_string();
    let mut w = World::new("q");
    w.m.start();
    for k in [Kind::Local, Kind::Bounce, Kind::Mixed] {
        w.inject(k);
    }
    let crashed = w.next_msg(Kind::Local);
    let rcpts: Vec<&str> = crashed.rcpts.iter().map(String::as_str).collect();
    let st = w.m.inject_with_env(
        &crashed.from,
        &rcpts,
        &crashed.body,
        &[("MTA_CRASHPOINT", point)],
    );
    assert_eq!(
        st.signal(),
        Some(libc::SIGABRT),
        "{what}: qmail-queue did not abort: {st:?}"
    );
    // Only the todo link commits a message (spec §2.4 step 9).
    let committed = point == "queue.todo.linked";
    if committed {
        w.acked.insert(crashed.id.clone());
    }
    for k in [Kind::Two, Kind::Local, Kind::Box] {
        w.inject(k);
    }
    // The later injections pull the trigger, so even the committed
    // message (whose qmail-queue died before pulling it) is seen now.
    let ok = wait_for(Duration::from_secs(30), || {
        w.missing().is_empty() && w.settled()
    });
    assert!(ok, "{what}: missing {:?}; log:\n{}", w.missing(), w.m.log());
    // Stopped, qmail-send has finished every message it was cleaning up
    // (a message between `end msg` and its mess removal is only mess/).
    assert_eq!(w.m.stop(), Some(0));
    let left = w.m.queue_files();
    // What a dead qmail-queue leaves, by point (spec §2.4 table in
    // queue/enqueue.rs).
    let expect: &[&str] = match point {
        "queue.pid.created" => &["pid/"],
        "queue.mess.linked" => &["mess/", "pid/"],
        "queue.pid.unlinked" | "queue.mess.synced" => &["mess/"],
        "queue.intd.synced" => &["intd/", "mess/"],
        _ => &[],
    };
    let dirs: Vec<&str> = left
        .iter()
        .map(|f| &f[..f.find('/').unwrap() + 1])
        .collect();
    assert_eq!(dirs, expect, "{what}: leftovers {left:?}");
    w.recover(&what, Leftovers::DeadQueue);
}

#[test]
fn queue_pid_created() {
    queue_point("queue.pid.created");
}
#[test]
fn queue_mess_linked() {
    queue_point("queue.mess.linked");
}
#[test]
fn queue_pid_unlinked() {
    queue_point("queue.pid.unlinked");
}
#[test]
fn queue_mess_synced() {
    queue_point("queue.mess.synced");
}
#[test]
fn queue_intd_synced() {
    queue_point("queue.intd.synced");
}
#[test]
fn queue_todo_linked() {
    queue_point("queue.todo.linked");
}

// ---------------------------------------------------------------------
// send.* : qmail-send dies at the point; the supervisor (--once) exits.

/// Injects waves of three messages (kinds in rotation) until qmail-send
/// has died at `point:nth`; two more are accepted while it is down; then
/// recovery.
fn send_point(point: &str, nth: u32, kinds: &[Kind]) {
    daemon_point(point, nth, kinds, None, &[]);
}

/// [`send_point`] for any crash that takes qmail-send down: `alert` is the
/// one alert qmail-send may log on its way (when a spawn died under it),
/// `env` extra environment for the MTA.
fn daemon_point(point: &str, nth: u32, kinds: &[Kind], alert: Option<&str>, env: &[(&str, &str)]) {
    let what = format!("{point}:{nth}");
    let mut w = World::new("s");
    w.m.env = crash_env(point, nth);
    for (k, v) in env {
        w.m.env.push((k.to_string(), v.to_string()));
    }
    w.m.start();
    let mut k = 0;
    for _wave in 0..6 {
        for _ in 0..3 {
            w.inject(kinds[k % kinds.len()]);
            k += 1;
        }
        // Either the crash, or the wave is fully done.
        let ok = wait_for(Duration::from_secs(30), || {
            !w.m.running() || w.m.queue_files().is_empty()
        });
        assert!(
            ok,
            "{what}: stuck; queue {:?}; log:\n{}",
            w.m.queue_files(),
            w.m.log()
        );
        if !w.m.running() {
            break;
        }
    }
    assert!(!w.m.running(), "{what} never fired; log:\n{}", w.m.log());
    // qmail-send died by a signal (the supervisor's 111), not through one
    // of its own fatal errors (which log an alert first).
    let code = w.m.exit_code();
    assert_eq!(code, Some(111), "{what}: supervisor exit");
    let log = w.m.log();
    let alerts: Vec<&str> = log.lines().filter(|l| l.starts_with("alert:")).collect();
    match alert {
        None => assert!(alerts.is_empty(), "{what}: {log}"),
        Some(a) => assert!(alerts.iter().all(|l| *l == a), "{what}: {log}"),
    }
    // No partial file even right after the crash.
    w.check_only_expected();
    for _ in 0..2 {
        w.inject(kinds[k % kinds.len()]);
        k += 1;
    }
    // qmail-send logs `end msg` once `info/<id>` is gone and leaves
    // `mess/<id>` to qmail-clean; a death in between, at whichever point,
    // strands that file for the 36-hour sweep, as in qmail (spec §3.9).
    w.recover(&what, Leftovers::EndedMess);
}

#[test]
fn send_info_synced() {
    send_point("send.info.synced", 3, &[Kind::Local, Kind::Mixed]);
}
#[test]
fn send_channel_synced() {
    send_point("send.channel.synced", 2, &[Kind::Mixed, Kind::Bounce]);
}
#[test]
fn send_todo_cleaned() {
    send_point(
        "send.todo.cleaned",
        2,
        &[Kind::Local, Kind::Two, Kind::Mixed],
    );
}
#[test]
fn send_channel_marked_local() {
    send_point(
        "send.channel.marked",
        3,
        &[Kind::Local, Kind::Two, Kind::Box],
    );
}
#[test]
fn send_channel_marked_remote() {
    send_point("send.channel.marked", 2, &[Kind::Mixed]);
}
/// With failures in the stream: a failed recipient is marked done only
/// after its bounce paragraph is fsynced, so a crash between the two
/// repeats the failure (a second paragraph) but cannot lose the bounce.
#[test]
fn send_channel_marked_bounce() {
    send_point(
        "send.channel.marked",
        4,
        &[Kind::Bounce, Kind::Bounce, Kind::Local],
    );
}
#[test]
fn send_channel_unlinked() {
    send_point("send.channel.unlinked", 2, &[Kind::Mixed, Kind::Local]);
}
#[test]
fn send_bounce_injected_first() {
    send_point("send.bounce.injected", 1, &[Kind::Bounce, Kind::Local]);
}
#[test]
fn send_bounce_injected_second() {
    send_point("send.bounce.injected", 2, &[Kind::Bounce]);
}
#[test]
fn send_bounce_unlinked() {
    send_point("send.bounce.unlinked", 2, &[Kind::Bounce, Kind::Mixed]);
}
/// qmail removes `info/<id>` and then asks qmail-clean to remove the
/// message; dying in between leaves `mess/<id>` (and nothing that names
/// it) for the 36-hour sweep, exactly as qmail does.
#[test]
fn send_info_unlinked() {
    send_point("send.info.unlinked", 2, &[Kind::Local, Kind::Bounce]);
}
#[test]
fn send_mess_cleaned() {
    send_point(
        "send.mess.cleaned",
        3,
        &[Kind::Local, Kind::Box, Kind::Mixed],
    );
}

// ---------------------------------------------------------------------
// local.* : qmail-local dies at the point; qmail-send defers.

/// `crashing` says which kinds reach `point:nth` within one qmail-local
/// run (each delivery is its own process, so the count restarts).
fn local_point(point: &str, nth: u32, kinds: &[Kind], crashing: &[Kind]) {
    let what = format!("{point}:{nth}");
    let mut w = World::new("l");
    w.m.env = crash_env(point, nth);
    // One qmail-local process per delivery, as in production mode.
    w.m.env.push(("MTA_LOCAL_EXEC".into(), "1".into()));
    w.m.start();
    let mut crashes = 0;
    for i in 0..8 {
        let k = kinds[i % kinds.len()];
        if crashing.contains(&k) {
            crashes += 1;
        }
        w.inject(k);
    }
    assert!(crashes > 0);
    let needle = "deferral: qmail-local_crashed./";
    let ok = wait_for(Duration::from_secs(30), || {
        w.m.log().matches(needle).count() >= crashes
    });
    assert!(
        ok,
        "{what}: expected {crashes} crashes; log:\n{}",
        w.m.log()
    );
    // The kinds that do not reach the point were delivered first time.
    let t = w.check_only_expected();
    for id in &w.acked {
        let m = &w.all[id];
        let k = kinds[id[2..].parse::<usize>().unwrap() % kinds.len()];
        if !crashing.contains(&k) {
            for r in &m.rcpts {
                for &p in places(r) {
                    let key = (id.clone(), p);
                    let ok = wait_for(Duration::from_secs(20), || w.tally().contains_key(&key));
                    assert!(ok, "{what}: {key:?} not delivered; {t:?}");
                }
            }
        }
    }
    assert_eq!(w.m.stop(), Some(0), "{what}: qmail-send must survive");
    assert_eq!(w.m.log().matches(needle).count(), crashes, "{what}");
    w.check_only_expected();
    w.recover(&what, Leftovers::None);
}

#[test]
fn local_maildir_tmp_synced() {
    local_point(
        "local.maildir.tmp.synced",
        1,
        &[Kind::Local, Kind::Box, Kind::Two],
        &[Kind::Local, Kind::Two],
    );
}
/// The second maildir of `.qmail-two`: the first copy is complete in
/// `Maildir/new`, the second only in `Maildir2/tmp`.
#[test]
fn local_maildir_tmp_synced_second() {
    local_point(
        "local.maildir.tmp.synced",
        2,
        &[Kind::Two, Kind::Local],
        &[Kind::Two],
    );
}
#[test]
fn local_maildir_new_linked() {
    local_point(
        "local.maildir.new.linked",
        1,
        &[Kind::Local, Kind::Box],
        &[Kind::Local],
    );
}
#[test]
fn local_maildir_new_linked_second() {
    local_point(
        "local.maildir.new.linked",
        2,
        &[Kind::Local, Kind::Two, Kind::Box],
        &[Kind::Two],
    );
}
#[test]
fn local_mbox_synced() {
    local_point(
        "local.mbox.synced",
        1,
        &[Kind::Box, Kind::Local],
        &[Kind::Box],
    );
}

/// Every crash point has a test above; a new point must get one.
// local.* with inline delivery: the point aborts qmail-lspawn itself.
const LOST_SPAWN: &str = "alert: oh no! lost spawn connection! dying...";

#[test]
fn inline_local_maildir_tmp_synced() {
    let k = &[Kind::Local, Kind::Box, Kind::Two];
    daemon_point("local.maildir.tmp.synced", 2, k, Some(LOST_SPAWN), &[]);
}
#[test]
fn inline_local_maildir_new_linked() {
    let k = &[Kind::Local, Kind::Two, Kind::Mixed];
    daemon_point("local.maildir.new.linked", 3, k, Some(LOST_SPAWN), &[]);
}
#[test]
fn inline_local_mbox_synced() {
    let k = &[Kind::Box, Kind::Local];
    daemon_point("local.mbox.synced", 2, k, Some(LOST_SPAWN), &[]);
}

#[test]
fn every_crash_point_is_covered() {
    let src = include_str!("crash_recovery.rs");
    for p in mta::crashpoint::ALL {
        assert!(
            src.contains(&format!("_point(\"{p}\""))
                || src.contains(&format!("\n        \"{p}\",")),
            "crash point {p} has no recovery test"
        );
    }
}

// ---------------------------------------------------------------------
// SIGKILL of qmail-send while four injectors queue 50 messages.

#[test]
fn sigkill_qmail_send_during_concurrent_injection() {
    let mut w = World::new("k");
    w.m.start();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let kill_after = 3 + seed % 30;
    eprintln!("sigkill: killing qmail-send after {kill_after} successful deliveries (seed {seed})");
    let kinds = [Kind::Local, Kind::Bounce, Kind::Mixed, Kind::Two, Kind::Box];
    let msgs: Vec<Msg> = (0..50)
        .map(|i| w.next_msg(kinds[i % kinds.len()]))
        .collect();
    let mut injectors = Vec::new();
    for t in 0..4 {
        let mine: Vec<Msg> = msgs.iter().skip(t).step_by(4).cloned().collect();
        let root = w.m.root.clone();
        injectors.push(std::thread::spawn(move || {
            mine.into_iter()
                .filter(|m| inject_raw(&root, m))
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }));
    }
    let started = Instant::now();
    let ok = wait_for(Duration::from_secs(60), || {
        w.m.log().matches(": success: ").count() >= kill_after
    });
    assert!(ok, "sigkill: deliveries never started; log:\n{}", w.m.log());
    let pid = w.m.send_pid().expect("qmail-send pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let code = w.m.wait_exit(Duration::from_secs(20));
    assert!(
        code.is_some_and(|c| c != 0),
        "sigkill: supervisor exit {code:?}"
    );
    let log = w.m.log();
    let started_n = log.matches("\nstarting delivery ").count();
    let ended_n = log.lines().filter(|l| l.starts_with("delivery ")).count();
    eprintln!(
        "sigkill: killed {:?} after start, {} deliveries in flight (each may be repeated)",
        started.elapsed(),
        started_n - ended_n
    );
    for h in injectors {
        for id in h.join().unwrap() {
            w.acked.insert(id);
        }
    }
    assert_eq!(
        w.acked.len(),
        50,
        "qmail-queue must not depend on qmail-send"
    );
    w.check_only_expected();
    // The kill may land between `end msg` (info unlinked) and the mess
    // removal, as `send.info.unlinked` does.
    w.recover("sigkill", Leftovers::EndedMess);
}

// ---------------------------------------------------------------------
// The supervisor's own restart path.

/// Without `--once`, with the crash point left in its environment: every
/// qmail-send life that preprocesses a second batch dies right after
/// cleaning its todo entries, and the supervisor restarts it. Each life
/// makes progress, so the queue still drains. (`send.todo.cleaned` always
/// leaves the message just cleaned in `info/`, so an empty queue means no
/// life is about to crash, and the final stop is a clean one.)
#[test]
fn supervisor_restarts_crashing_qmail_send() {
    let mut w = World::new("r");
    w.m.env = crash_env("send.todo.cleaned", 2);
    w.m.start_restarting();
    let first = w.m.send_pid();
    w.inject(Kind::Local);
    let ok = wait_for(Duration::from_secs(20), || w.missing().is_empty());
    assert!(ok, "first message not delivered; log:\n{}", w.m.log());
    for k in [Kind::Bounce, Kind::Two, Kind::Box, Kind::Local, Kind::Mixed] {
        w.inject(k);
    }
    let ok = wait_for(Duration::from_secs(20), || w.m.send_pid() != first);
    assert!(ok, "qmail-send never crashed; log:\n{}", w.m.log());
    let ok = wait_for(Duration::from_secs(60), || {
        w.missing().is_empty() && w.m.queue_files().is_empty() && w.m.send_ready()
    });
    assert!(
        ok,
        "not drained: missing {:?}, queue {:?}; log:\n{}",
        w.missing(),
        w.m.queue_files(),
        w.m.log()
    );
    assert!(w.m.running(), "the supervisor must not exit");
    assert_eq!(w.m.stop(), Some(0));
    w.final_check("supervisor restarts");
}
