//! Running one scenario against one target: requirements (SKIP), target
//! start, the steps over raw sessions with the target's doors (SMTP, and
//! QMTP, QMQP, POP3), then the assertions.
//!
//! - [`matcher`]: one SMTP reply against an `expect`.
//! - [`netmatch`]: a POP3 response or a QMTP/QMQP netstring against its
//!   expectation.
//! - `doors`: the POP3 `expect`, the `qmtp` and `qmqp` steps.
//! - `history_steps`: `mail` and injections recorded for the crash
//!   history.
//! - [`check`]: the assertions on deliveries, bounces and files.
//! - [`crashcheck`]: the crash-history invariant and tier B.
//! - [`ops`], [`opscheck`]: signals, programs, files, the queue's clock,
//!   log waits, the scenario's network, and the `check` step.

pub mod check;
pub mod crashcheck;
mod doors;
mod history_steps;
pub mod matcher;
pub mod netmatch;
pub mod ops;
pub mod opscheck;

use std::time::{Duration, Instant};

use similar::TextDiff;

use crate::crash::history::{self, Record};
use crate::crash::{self as crashmod, sweep, Arm};
use crate::escape;
use crate::normalize;
use crate::outcome::{Outcome, Status};
use crate::scenario::step::{Crash, Nth, Repeat, Step};
use crate::scenario::{Expect, Profile, Protocol, Requirement, Scenario};
use crate::sink::Sink;
use crate::smtp::client::{render_event, Conn, ReadError, Transcript};
use crate::target::{wait_until, Instance, Target};

use matcher::MatchCtx;

const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// A step or assertion that did not hold.
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    /// (expected, actual) texts to diff.
    pub diff: Option<(String, String)>,
}

impl Failure {
    pub fn plain(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            diff: None,
        }
    }
}

/// The unified diff of two texts, headed `expected` / `actual`.
pub fn unified(expected: &str, actual: &str) -> String {
    TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(4)
        .header("expected", "actual")
        .to_string()
}

/// Why `scenario` cannot run on `target`, if it cannot.
pub fn unmet(scenario: &Scenario, target: &dyn Target) -> Option<String> {
    let missing: Vec<String> = scenario
        .requirements()
        .iter()
        .filter_map(|r| match r {
            Requirement::Capability(c) if !target.capabilities().contains(c) => {
                Some(c.name().to_string())
            }
            _ => None,
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "not supported by target `{}` yet: {}",
            target.name(),
            missing.join(", ")
        )
    })
}

/// The start of the reason a crash case fails with when its crash did
/// not happen.
pub const NEVER_FIRED: &str = "the armed crash never fired";

/// How a run treats a crash step with `nth: every`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// No sweep (or the sweep's crash steps are not armed).
    Plain,
    /// The counting run of a sweep: syscalls traced, no fault.
    Count,
    /// One case of a sweep: the fault at call N of one syscall.
    Case(String, u32),
}

/// The sweeping crash step of a scenario, if any.
fn sweep_step(steps: &[Step]) -> Option<&Crash> {
    steps.iter().find_map(|s| match s {
        Step::Crash(c) if c.nth == Nth::Every => Some(c),
        Step::Repeat(r) => sweep_step(&r.steps),
        _ => None,
    })
}

/// Runs `scenario`, expanding a sweep (conformance spec §4.4 tier A) into
/// one case per N: `(case suffix, outcome)`; the suffix is empty for an
/// ordinary scenario.
pub fn run_cases(
    scenario: &Scenario,
    target: &dyn Target,
    sink: &Sink,
    profile: Profile,
) -> Vec<(String, Outcome)> {
    if sweep_step(&scenario.steps).is_none() || unmet(scenario, target).is_some() {
        return vec![(String::new(), run(scenario, target, sink, profile))];
    }
    let (counted, counts) = run_mode(scenario, target, sink, profile, Mode::Count);
    if counted.status != Status::Pass {
        return vec![("count".into(), counted)];
    }
    if counts.is_empty() {
        let mut o = counted;
        o.status = Status::Fail;
        o.reason = "the counting run made none of the swept syscalls".into();
        return vec![("count".into(), o)];
    }
    let mut out = Vec::new();
    for (name, k) in counts {
        let ns = sweep::sample(k, sweep::budget());
        let sampled = if ns.len() < k as usize {
            format!(
                " (sampled {} of {k}: N = {}; CONFORMANCE_FULL_SWEEP=1 runs all)",
                ns.len(),
                ns.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            )
        } else {
            String::new()
        };
        for n in ns {
            let (mut o, _) = run_mode(scenario, target, sink, profile, Mode::Case(name.clone(), n));
            if o.status == Status::Fail && o.reason.starts_with(NEVER_FIRED) {
                // Counts vary a little between runs (timers, batching).
                o.status = Status::Skip;
                o.reason = format!("{name} #{n} was not reached in this run ({k} counted)");
            }
            o.note = format!("{name} #{n} of {k}{sampled}: {}", o.note);
            out.push((format!("{name}-{n}"), o));
        }
    }
    out
}

/// Runs `scenario` on `target` with `sink` as its relay, under `profile`.
pub fn run(scenario: &Scenario, target: &dyn Target, sink: &Sink, profile: Profile) -> Outcome {
    run_mode(scenario, target, sink, profile, Mode::Plain).0
}

/// One run; also returns the syscall counts of a counting run.
pub fn run_mode(
    scenario: &Scenario,
    target: &dyn Target,
    sink: &Sink,
    profile: Profile,
    mode: Mode,
) -> (Outcome, Vec<(String, u32)>) {
    let started = Instant::now();
    if let Some(reason) = unmet(scenario, target) {
        return (Outcome::skip(reason), Vec::new());
    }
    sink.reset(&scenario.setup.sink);
    let mut inst = match target.start(&scenario.setup, sink.addr()) {
        Ok(i) => i,
        // The target cannot honour this scenario's setup: a requirement
        // finer than the capabilities (e.g. a peer MTA's fixed users).
        Err(e) if e.is_permanent() => {
            let mut o = Outcome::skip(e.to_string());
            o.duration = started.elapsed();
            return (o, Vec::new());
        }
        Err(e) => {
            let mut o = Outcome::skip(format!("the target did not start: {e}"));
            o.status = Status::Fail;
            o.duration = started.elapsed();
            return (o, Vec::new());
        }
    };
    let rules = scenario.rules();
    let mut s = Session {
        inst: inst.as_mut(),
        conn: None,
        t: Transcript::default(),
        profile,
        rules: &rules,
        n: Vec::new(),
        mode: mode.clone(),
        history: Vec::new(),
        armed: false,
        fired: false,
        door: Protocol::Smtp,
        sink,
        network: None,
    };
    let mut result = s.extensions(scenario);
    if result.is_ok() {
        result = s.steps(&scenario.steps);
    }
    if let Some(c) = s.conn.as_mut() {
        c.shutdown();
    }
    // What a POP3 session left (a QUIT's renames) is part of the result.
    s.inst.wait_doors_idle();
    if s.armed {
        s.fired |= s.inst.crash_fired();
    }
    let transcript_text = s.render();
    let (records, armed, fired) = (std::mem::take(&mut s.history), s.armed, s.fired);
    let count = inst.calls_counted();
    let result = match result {
        Err(Skip::Skip(reason)) => {
            let mut o = Outcome::skip(reason);
            o.transcript = transcript_text;
            o.duration = started.elapsed();
            return (o, count);
        }
        Err(Skip::Fail(f)) => Err(f),
        Ok(()) => check::run(
            &scenario.assert,
            inst.as_ref(),
            target.capabilities(),
            sink,
            &rules,
            profile,
        ),
    };
    let mut note = String::new();
    let result = result.and_then(|()| {
        let Some(h) = &scenario.assert.history else {
            return Ok(());
        };
        let fired = (armed && mode != Mode::Count).then_some(fired);
        note = crashcheck::history(h, &records, inst.as_ref(), sink, fired)?;
        if let Some(pc) = &scenario.assert.powercut {
            let r = crashcheck::powercut(pc, h, &records, inst.as_mut(), sink, &scenario.setup)?;
            note = format!("{note}\n{r}");
        }
        Ok(())
    });
    let (status, reason, diff, diagnostics) = match result {
        Ok(()) => (Status::Pass, String::new(), None, String::new()),
        Err(f) => (
            Status::Fail,
            f.reason,
            f.diff.map(|(e, a)| unified(&e, &a)),
            inst.diagnostics(),
        ),
    };
    drop(inst);
    (
        Outcome {
            status,
            reason,
            diff,
            transcript: transcript_text,
            diagnostics,
            note,
            duration: started.elapsed(),
        },
        count,
    )
}

/// Steps end early with a failure, or with a skip (an extension the
/// server does not offer).
enum Skip {
    Skip(String),
    Fail(Failure),
}

impl From<Failure> for Skip {
    fn from(f: Failure) -> Skip {
        Skip::Fail(f)
    }
}

struct Session<'a> {
    inst: &'a mut dyn Instance,
    conn: Option<Conn>,
    t: Transcript,
    profile: Profile,
    rules: &'a [normalize::Rule],
    /// `${n}` of the enclosing repeats, innermost last.
    n: Vec<usize>,
    mode: Mode,
    /// The crash history: one record per `mail` or `inject` with an id.
    history: Vec<Record>,
    /// A crash was armed / has fired (checked before each restart).
    armed: bool,
    fired: bool,
    /// The door the connection goes to (or the next one will).
    door: Protocol,
    sink: &'a Sink,
    /// The scenario's DNS server and hosts (`network` step); they live
    /// until the assertions are done.
    network: Option<crate::network::Network>,
}

impl<'a> Session<'a> {
    fn lookup(&self) -> impl Fn(&str) -> Option<String> + use<'_, 'a> {
        move |name: &str| {
            if name == "n" {
                return self.n.last().map(|n| n.to_string());
            }
            if name == "port" {
                return self.network.as_ref().map(|n| n.port().to_string());
            }
            self.inst
                .vars()
                .lookup(name)
                .or_else(|| self.inst.var(name))
        }
    }

    fn normalize(&self) -> impl Fn(&[u8]) -> Vec<u8> + use<'_, 'a> {
        move |b: &[u8]| normalize::apply(self.rules, b)
    }

    fn render(&self) -> String {
        self.t.render(&self.normalize())
    }

    fn render_upto(&self, n: usize) -> String {
        let norm = self.normalize();
        let mut out = String::new();
        for e in &self.t.events[..n] {
            render_event(e, &norm, &mut out);
        }
        out
    }

    fn conn(&mut self) -> Result<&mut Conn, Failure> {
        if self.conn.is_none() {
            self.connect()?;
        }
        self.conn
            .as_mut()
            .ok_or_else(|| Failure::plain("no connection"))
    }

    fn connect(&mut self) -> Result<(), Failure> {
        if let Some(mut c) = self.conn.take() {
            c.shutdown();
        }
        let door = self.door;
        let addr = self
            .inst
            .door_addr(door)
            .map_err(|e| Failure::plain(format!("no {door} door: {e}")))?;
        self.t.note(match door {
            Protocol::Smtp => "connect to the target's SMTP port".to_string(),
            _ => format!(
                "connect to the target's {} door",
                door.name().to_uppercase()
            ),
        });
        let c = Conn::connect(addr, DEFAULT_WAIT)
            .map_err(|e| Failure::plain(format!("cannot connect to {addr}: {e}")))?;
        self.conn = Some(c);
        Ok(())
    }

    fn subst(&self, b: &[u8]) -> Vec<u8> {
        escape::substitute(b, &self.lookup())
    }

    fn send(&mut self, bytes: Vec<u8>) -> Result<(), Failure> {
        self.conn()?;
        let mut t = std::mem::take(&mut self.t);
        let r = self.conn()?.send(&bytes, &mut t);
        self.t = t;
        r.map_err(|e| Failure::plain(format!("sending failed: {e}")))
    }

    /// `requires: [ext:X]`: one EHLO on a separate connection.
    fn extensions(&mut self, s: &Scenario) -> Result<(), Skip> {
        let wanted: Vec<String> = s
            .requirements()
            .into_iter()
            .filter_map(|r| match r {
                Requirement::Extension(e) => Some(e),
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut t = Transcript::default();
        let mut c = Conn::connect(self.inst.smtp_addr(), DEFAULT_WAIT)
            .map_err(|e| Failure::plain(format!("cannot connect: {e}")))?;
        let probe = (|| -> Result<Vec<String>, ReadError> {
            c.reply(DEFAULT_WAIT, &mut t)?;
            c.send(b"EHLO conformance.test\r\n", &mut t)
                .map_err(ReadError::Io)?;
            let r = c.reply(DEFAULT_WAIT, &mut t)?;
            let _ = c.send(b"QUIT\r\n", &mut t);
            Ok(r.texts()
                .iter()
                .skip(1)
                .map(|l| {
                    String::from_utf8_lossy(l)
                        .split(' ')
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase()
                })
                .collect())
        })();
        let offered = probe.map_err(|e| Failure::plain(format!("EHLO probe: {e}")))?;
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|w| !offered.contains(w))
            .map(|w| w.as_str())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Skip::Skip(format!(
                "the server does not advertise {} (EHLO offered: {})",
                missing.join(", "),
                offered.join(" ")
            )))
        }
    }

    fn steps(&mut self, steps: &[Step]) -> Result<(), Skip> {
        for step in steps {
            self.step(step)?;
        }
        Ok(())
    }

    fn expect(&mut self, e: &Expect) -> Result<(), Failure> {
        if self.door == Protocol::Pop3 {
            return self.expect_pop3(e);
        }
        self.read_and_check(
            e.timeout,
            |c, wait, t| c.reply(wait, t),
            |cx| matcher::render_expected(e, cx),
            |r, cx| matcher::check(e, r, cx),
            "no reply",
        )
    }

    /// Reads one reply or response with `read` (within `timeout`, the
    /// default wait if none) and checks it; a failure shows the
    /// transcript so far against what was expected (`render`).
    fn read_and_check<R, E: std::fmt::Display>(
        &mut self,
        timeout: Option<f64>,
        read: impl FnOnce(&mut Conn, Duration, &mut Transcript) -> Result<R, E>,
        render: impl FnOnce(&MatchCtx) -> String,
        check: impl FnOnce(&R, &MatchCtx) -> Result<(), String>,
        nothing: &str,
    ) -> Result<(), Failure> {
        let wait = timeout.map_or(DEFAULT_WAIT, Duration::from_secs_f64);
        self.conn()?;
        let before = self.t.events.len();
        let mut t = std::mem::take(&mut self.t);
        let got = read(self.conn()?, wait, &mut t);
        self.t = t;
        let lookup = self.lookup();
        let norm = self.normalize();
        let cx = MatchCtx {
            profile: self.profile,
            lookup: &lookup,
            normalize: &norm,
        };
        let expected = format!("{}{}", self.render_upto(before), render(&cx));
        let fail = |reason: String| Failure {
            reason,
            diff: Some((expected.clone(), self.render())),
        };
        match got {
            Ok(r) => check(&r, &cx).map_err(fail),
            Err(err) => Err(fail(format!("{nothing}: {err}"))),
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), Skip> {
        match step {
            Step::Connect(door) => {
                self.door = *door;
                self.connect()?
            }
            Step::Close => {
                if let Some(mut c) = self.conn.take() {
                    self.t.note("client closes the connection");
                    c.shutdown();
                }
            }
            Step::Send(s) => {
                let b = self.subst(&s.bytes());
                self.send(b)?;
            }
            Step::SendMessage(m) => {
                let b = self.subst(&m.0);
                self.send(dot_stuff(&b))?;
            }
            Step::Expect(e) => self.expect(e)?,
            Step::ExpectClose(x) => {
                let wait = x.timeout.map_or(DEFAULT_WAIT, Duration::from_secs_f64);
                self.conn()?;
                let before = self.t.events.len();
                let mut t = std::mem::take(&mut self.t);
                let r = self.conn()?.closed(wait, &mut t);
                self.t = t;
                let expected = format!("{}S: <closed>\n", self.render_upto(before));
                match r {
                    Ok(extra) if extra.is_empty() => {}
                    Ok(_) => {
                        return Err(Failure {
                            reason: "the server sent more before closing".into(),
                            diff: Some((expected, self.render())),
                        }
                        .into())
                    }
                    Err(e) => {
                        return Err(Failure {
                            reason: format!("the server did not close the connection: {e}"),
                            diff: Some((expected, self.render())),
                        }
                        .into())
                    }
                }
                self.conn = None;
            }
            Step::Pipeline(p) => {
                let mut all = Vec::new();
                for s in &p.send {
                    all.extend(self.subst(&s.bytes()));
                }
                self.send(all)?;
                for e in &p.expect {
                    self.expect(e)?;
                }
            }
            Step::Repeat(Repeat { times, steps }) => {
                for i in 1..=*times {
                    self.n.push(i);
                    let r = self.steps(steps);
                    self.n.pop();
                    r?;
                }
            }
            Step::Sleep(s) => {
                self.t.note(format!("sleep {s} s"));
                std::thread::sleep(Duration::from_secs_f64(*s));
            }
            Step::Inject(i) => {
                let lookup = self.lookup();
                let sub = |s: &str| {
                    String::from_utf8_lossy(&escape::substitute(s.as_bytes(), &lookup)).into_owned()
                };
                let mut i = i.clone();
                i.from = sub(&i.from);
                i.to = i.to.iter().map(|t| sub(t)).collect();
                i.message.0 = escape::substitute(&i.message.0, &lookup);
                if let Some(id) = &i.id {
                    let id = sub(id);
                    i.message.0 = history::tagged(&id, &i.message.0);
                    i.id = Some(id);
                }
                drop(lookup);
                self.t
                    .note(format!("inject from <{}> to {:?}", i.from, i.to));
                let code = self
                    .inst
                    .inject(&i)
                    .map_err(|e| Failure::plain(format!("inject: {e}")))?;
                if let Some(id) = &i.id {
                    self.record_injection(id, &i.to, &i.message.0, code);
                }
                let want = i.exit.or(if i.id.is_some() { None } else { Some(0) });
                if let Some(want) = want.filter(|w| *w != code) {
                    return Err(Failure::plain(format!(
                        "inject: the injector exited {code}, expected {want}"
                    ))
                    .into());
                }
            }
            Step::Restart => {
                if self.armed {
                    // restart waits for an armed daemon crash itself.
                    self.fired |= self.inst.crash_fired();
                }
                self.t.note("restart the MTA");
                self.inst
                    .restart()
                    .map_err(|e| Failure::plain(format!("restart: {e}")))?;
                if self.armed {
                    self.fired |= self.inst.crash_fired();
                }
            }
            Step::WaitQueueEmpty(w) => {
                let wait = w
                    .timeout
                    .map_or(Duration::from_secs(20), Duration::from_secs_f64);
                self.t.note("wait for the queue to empty");
                let inst = &*self.inst;
                if !wait_until(wait, || inst.queue_empty().unwrap_or(false)) {
                    return Err(
                        Failure::plain(format!("the queue did not empty within {wait:?}")).into(),
                    );
                }
            }
            Step::Starttls => {
                self.t
                    .note("TLS handshake (rustls; any certificate accepted)");
                match self.conn()?.starttls(Duration::from_secs(20)) {
                    Ok(()) => self.t.note("TLS established"),
                    Err(e) => {
                        self.t.note(format!("TLS handshake failed: {e}"));
                        return Err(Failure::plain(format!(
                            "starttls: the TLS handshake failed: {e}"
                        ))
                        .into());
                    }
                }
            }
            Step::Crash(c) => {
                let arm = self.arm_for(c);
                self.t.note(format!("arm {arm:?}"));
                self.inst
                    .arm(&arm)
                    .map_err(|e| Failure::plain(format!("crash: {e}")))?;
                // A recording has nothing to fire.
                self.armed = !c.record;
                self.fired = false;
            }
            Step::Mail(m) => self.mail(m)?,
            Step::Qmtp(q) => self.qmtp(q)?,
            Step::Qmqp(q) => self.qmqp(q)?,
            Step::Op(o) => self.op(o)?,
        }
        Ok(())
    }
}

impl Session<'_> {
    fn arm_for(&self, c: &Crash) -> Arm {
        if let Some(name) = &c.point {
            let nth = match c.nth {
                Nth::N(n) => n,
                Nth::Every => 1,
            };
            return Arm::Point {
                name: name.clone(),
                nth,
            };
        }
        if c.record {
            return Arm::Record;
        }
        let calls = crashmod::expand_calls(c.syscall.as_deref().unwrap_or_default());
        let inject = match (c.nth, &self.mode) {
            (Nth::N(n), _) => Some((calls.clone(), n)),
            (Nth::Every, Mode::Case(name, n)) => Some((vec![name.clone()], *n)),
            (Nth::Every, _) => None,
        };
        Arm::Syscall {
            calls,
            place: c.place.unwrap_or(crate::scenario::step::Place::Queue),
            fault: c.fault,
            inject,
        }
    }
}

/// A message as a correct client sends it after 354: LF (or CRLF) line
/// ends as CRLF, leading dots doubled (RFC 5321 §4.5.2), then `.` CRLF.
pub fn dot_stuff(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 8);
    for line in msg.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b"a\n.b\n..\nc"), b"a\r\n..b\r\n...\r\nc\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }

    #[test]
    fn diffs_are_unified() {
        let d = unified("S: 250 ok\\r\\n\n", "S: 502 no\\r\\n\n");
        assert!(
            d.contains("--- expected") && d.contains("+++ actual"),
            "{d}"
        );
        assert!(
            d.contains("-S: 250 ok\\r\\n") && d.contains("+S: 502 no\\r\\n"),
            "{d}"
        );
    }
}
