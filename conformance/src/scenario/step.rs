//! Scenario steps (conformance spec §8.2 `steps`). A step is a YAML map
//! with exactly one key naming its kind; the loader checks that, so a
//! step with two kinds or none is a schema error at its line.

use serde::Deserialize;

use super::doors::{ConnectArg, Protocol, Qmqp, Qmtp, Tracker};
use super::expect::Expect;
use super::ops::{self, Op};
use super::Capability;
use crate::escape::Text;

/// One step of a scenario.
#[derive(Debug, Clone)]
pub enum Step {
    /// Open a (new) connection to one of the target's doors (`connect:
    /// true` is SMTP); the first protocol step connects on its own.
    Connect(Protocol),
    /// Close our side of the connection.
    Close,
    Send(Send),
    /// A message body: LF line ends become CRLF, leading dots are doubled,
    /// and `.` CRLF is appended (what a correct client sends after 354).
    SendMessage(Text),
    Expect(Expect),
    /// The server must close the connection (after any data it still sends
    /// has been read and must match `expect`, if given).
    ExpectClose(ExpectClose),
    Pipeline(Pipeline),
    Repeat(Repeat),
    /// Seconds to wait.
    Sleep(f64),
    Starttls,
    Inject(Inject),
    Crash(Crash),
    /// One whole SMTP transaction on a fresh connection whose outcome goes
    /// into the crash history (conformance spec §4.4).
    Mail(Mail),
    Restart,
    WaitQueueEmpty(WaitQueueEmpty),
    /// QMTP packages and their per-recipient responses (§10.2).
    Qmtp(Qmtp),
    /// A QMQP package and its response (§10.3).
    Qmqp(Qmqp),
    /// The steps of [`ops`]: signals, stop/start, files, programs, the
    /// queue's clock, log waits, checks, the scenario's network.
    Op(Op),
}

/// Bytes to send.
#[derive(Debug, Clone)]
pub struct Send {
    pub text: Text,
    /// When false (the default) CRLF is appended.
    pub raw: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullSend {
    text: Text,
    #[serde(default)]
    raw: bool,
}

/// A string (one line, CRLF appended) or `{text, raw}`; written as a
/// visitor rather than an untagged enum so errors inside keep their text.
impl<'de> Deserialize<'de> for Send {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Send, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Send;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a map with `text` and `raw`")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Send, E> {
                let text = crate::escape::decode(s).map_err(E::custom)?;
                Ok(Send {
                    text: Text(text),
                    raw: false,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Send, A::Error> {
                let f = FullSend::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Ok(Send {
                    text: f.text,
                    raw: f.raw,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Send {
    /// The bytes on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.text.0.clone();
        if !self.raw {
            b.extend_from_slice(b"\r\n");
        }
        b
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectClose {
    /// Seconds to wait for the close (default 10).
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// Several commands in one write, then their replies in order (RFC 2920).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub send: Vec<Send>,
    #[serde(default)]
    pub expect: Vec<Expect>,
}

/// `times` runs of `steps`; `${n}` in sent text is the run number (1..).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    pub times: usize,
    pub steps: Vec<Step>,
}

/// A message given to the target's local injection path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inject {
    #[serde(default)]
    pub via: Via,
    /// Envelope sender (empty for `<>`).
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    /// The message; LF line ends, as qmail-queue expects.
    pub message: Text,
    /// The injector's expected exit code (default 0; not checked when
    /// `id` is given and `exit` is not).
    #[serde(default)]
    pub exit: Option<i32>,
    /// sendmail only: the exact arguments (instead of `-f from to...`).
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// sendmail only: extra environment (`QMAILUSER`, `MAILHOST`, ...).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Record this injection in the crash history under this id (an
    /// `X-Conformance-Id` header is prepended to the message).
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    #[default]
    QmailQueue,
    Sendmail,
    /// qmail-qmqpc, the qmail-queue look-alike that hands the message to
    /// the QMQP servers in `control/qmqpservers` (by default the
    /// target's own QMQP door).
    Qmqpc,
}

/// Arm a crash (conformance spec §4.4 tier A): a named crash point of the
/// reference MTA, or a fault injected (strace) at the nth call of one of
/// some syscalls, in the injector (`where: queue`) or in the daemons
/// (`where: daemons`). `nth: every` makes the scenario a sweep: a first
/// run counts the calls, then one case runs per N (sampled when there are
/// many; `CONFORMANCE_FULL_SWEEP=1` runs them all).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    #[serde(default)]
    pub point: Option<String>,
    #[serde(default)]
    pub syscall: Option<Vec<String>>,
    #[serde(default)]
    pub nth: Nth,
    #[serde(default, rename = "where")]
    pub place: Option<Place>,
    /// What the injected syscall does (default: kill the process).
    #[serde(default)]
    pub fault: Fault,
    /// Tier B: record the run's file-system calls instead (the
    /// `powercut` assertion then replays them).
    #[serde(default)]
    pub record: bool,
}

/// Which call of the crash point or syscalls fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nth {
    N(u32),
    /// Every N in turn (a sweep).
    Every,
}

impl Default for Nth {
    fn default() -> Nth {
        Nth::N(1)
    }
}

impl<'de> Deserialize<'de> for Nth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Nth, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(serde::de::Error::custom("nth counts from 1")),
            Raw::N(n) => Ok(Nth::N(n)),
            Raw::S(s) if s == "every" => Ok(Nth::Every),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "nth must be a number or `every`, not {s:?}"
            ))),
        }
    }
}

/// Which processes a syscall fault is injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    /// The queue injector (qmail-queue, run by qmail-smtpd or `inject`).
    Queue,
    /// The MTA's daemons (the supervisor and everything it starts).
    Daemons,
}

/// What an injected syscall does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// SIGKILL on syscall entry (the call does not run).
    #[default]
    Kill,
    /// The call fails with EIO.
    Eio,
    /// The call fails with ENOSPC.
    Enospc,
}

/// An SMTP transaction whose outcome the crash history records: HELO,
/// MAIL, each RCPT, DATA, the message (with an `X-Conformance-Id: <id>`
/// header prepended) and the final reply. Never fails on the server's
/// answers: a 2xx after the dot is ACKED, 4xx/5xx REJECTED, no reply
/// UNKNOWN (conformance spec §4.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    pub id: String,
    #[serde(default)]
    pub from: String,
    pub to: Vec<String>,
    /// The message (LF line ends); default a short one naming the id.
    #[serde(default)]
    pub message: Option<Text>,
    /// SIGKILL the whole MTA right after the final dot is sent, or right
    /// after the reply to it arrives.
    #[serde(default)]
    pub kill: Option<KillAt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillAt {
    AfterDot,
    AfterReply,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQueueEmpty {
    /// Seconds (default 20).
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// The on-disk form: every kind optional, exactly one required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    connect: Option<ConnectArg>,
    #[serde(default)]
    close: Option<Flag>,
    #[serde(default)]
    send: Option<Send>,
    #[serde(default)]
    send_message: Option<Text>,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    expect_close: Option<FlagOr<ExpectClose>>,
    #[serde(default)]
    pipeline: Option<Pipeline>,
    #[serde(default)]
    repeat: Option<Repeat>,
    #[serde(default)]
    sleep: Option<f64>,
    #[serde(default)]
    starttls: Option<Flag>,
    #[serde(default)]
    inject: Option<Inject>,
    #[serde(default)]
    crash: Option<Crash>,
    #[serde(default)]
    mail: Option<Mail>,
    #[serde(default)]
    restart: Option<Flag>,
    #[serde(default)]
    wait_queue_empty: Option<FlagOr<WaitQueueEmpty>>,
    #[serde(default)]
    qmtp: Option<Qmtp>,
    #[serde(default)]
    qmqp: Option<Qmqp>,
    // The kinds of [`ops`].
    #[serde(default)]
    signal: Option<ops::SendSignal>,
    #[serde(default)]
    stop: Option<Flag>,
    #[serde(default)]
    start: Option<Flag>,
    #[serde(default)]
    write: Option<ops::Write>,
    #[serde(default)]
    run: Option<ops::Run>,
    #[serde(default)]
    age: Option<u64>,
    #[serde(default)]
    wait_log: Option<ops::WaitLog>,
    #[serde(default)]
    check: Option<Box<ops::Check>>,
    #[serde(default)]
    network: Option<ops::NetworkSpec>,
    #[serde(default)]
    host: Option<ops::HostChange>,
}

/// `true` (or an empty value) for steps that take no arguments.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // the values only select the variant
enum Flag {
    Bool(bool),
    Null(()),
}

/// `true` or a map of options.
#[allow(dead_code)] // the flag value only selects the variant
#[derive(Deserialize)]
#[serde(untagged)]
enum FlagOr<T> {
    Flag(Flag),
    Full(T),
}

impl<T: Default> FlagOr<T> {
    fn get(self) -> T {
        match self {
            FlagOr::Flag(_) => T::default(),
            FlagOr::Full(t) => t,
        }
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        // Validating inside visit_map makes serde_yaml mark the error with
        // the step's own line.
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Step;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a step: a map with one key naming its kind")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Step, A::Error> {
                let r = RawStep::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Step::from_raw(r).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl Step {
    fn from_raw(r: RawStep) -> Result<Step, String> {
        let mut v: Vec<Step> = Vec::new();
        if let Some(ConnectArg(p)) = r.connect {
            v.push(Step::Connect(p));
        }
        if r.close.is_some() {
            v.push(Step::Close);
        }
        if let Some(s) = r.send {
            v.push(Step::Send(s));
        }
        if let Some(s) = r.send_message {
            v.push(Step::SendMessage(s));
        }
        if let Some(s) = r.expect {
            v.push(Step::Expect(s));
        }
        if let Some(s) = r.expect_close {
            v.push(Step::ExpectClose(s.get()));
        }
        if let Some(s) = r.pipeline {
            v.push(Step::Pipeline(s));
        }
        if let Some(s) = r.repeat {
            v.push(Step::Repeat(s));
        }
        if let Some(s) = r.sleep {
            if !(0.0..=600.0).contains(&s) {
                return Err("sleep must be 0..600 seconds".into());
            }
            v.push(Step::Sleep(s));
        }
        if r.starttls.is_some() {
            v.push(Step::Starttls);
        }
        if let Some(s) = r.inject {
            v.push(Step::Inject(s));
        }
        if let Some(s) = r.crash {
            let kinds = [s.point.is_some(), s.syscall.is_some(), s.record];
            if kinds.iter().filter(|k| **k).count() != 1 {
                return Err("crash needs exactly one of `point`, `syscall` and `record`".into());
            }
            if s.syscall.is_some() && s.place.is_none() {
                return Err("a syscall crash needs `where: queue` or `where: daemons`".into());
            }
            if s.point.is_some() && (s.nth == Nth::Every || s.fault != Fault::Kill) {
                return Err("a named crash point takes a number `nth` and no `fault`".into());
            }
            v.push(Step::Crash(s));
        }
        if let Some(m) = r.mail {
            if m.to.is_empty() {
                return Err("mail needs at least one recipient in `to`".into());
            }
            v.push(Step::Mail(m));
        }
        if r.restart.is_some() {
            v.push(Step::Restart);
        }
        if let Some(s) = r.wait_queue_empty {
            v.push(Step::WaitQueueEmpty(s.get()));
        }
        if let Some(s) = r.qmtp {
            v.push(Step::Qmtp(s));
        }
        if let Some(s) = r.qmqp {
            v.push(Step::Qmqp(s));
        }
        let ops = [
            r.signal.map(Op::Signal),
            r.stop.map(|_| Op::Stop),
            r.start.map(|_| Op::Start),
            r.write.map(Op::Write),
            r.run.map(Op::Run),
            r.age.map(Op::Age),
            r.wait_log.map(Op::WaitLog),
            r.check.map(Op::Check),
            r.network.map(Op::Network),
            r.host.map(Op::Host),
        ];
        for op in ops.into_iter().flatten() {
            op.validate()?;
            v.push(Step::Op(op));
        }
        if v.len() != 1 {
            return Err(format!(
                "a step needs exactly one kind (connect, close, send, send_message, expect, \
                 expect_close, pipeline, repeat, sleep, starttls, inject, crash, mail, \
                 restart, wait_queue_empty, qmtp, qmqp, signal, stop, start, write, run, age, \
                 wait_log, check, network, host); found {}",
                v.len()
            ));
        }
        let step = v.remove(0);
        step.track()?;
        Ok(step)
    }

    /// Follows the door the connection goes to, and checks the step's
    /// expectations fit it (see [`Tracker`]).
    fn track(&self) -> Result<(), String> {
        match self {
            Step::Connect(p) => Tracker::switch(*p),
            Step::Mail(_) => Tracker::switch(Protocol::Smtp),
            Step::Qmtp(_) => Tracker::switch(Protocol::Qmtp),
            Step::Qmqp(_) => Tracker::switch(Protocol::Qmqp),
            Step::Expect(e) => Tracker::check_expect(e)?,
            Step::Pipeline(p) => p.expect.iter().try_for_each(Tracker::check_expect)?,
            _ => {}
        }
        Ok(())
    }
}

impl Step {
    /// Adds the capabilities this step needs.
    pub fn requirements(&self, need: &mut dyn FnMut(Capability)) {
        match self {
            Step::Starttls => need(Capability::Starttls),
            Step::Crash(_) => need(Capability::Crash),
            Step::Restart => need(Capability::Restart),
            Step::WaitQueueEmpty(_) => need(Capability::Queue),
            Step::Inject(i) => {
                need(Capability::Inject);
                match i.via {
                    Via::QmailQueue => {}
                    Via::Sendmail => need(Capability::Sendmail),
                    Via::Qmqpc => {
                        need(Capability::Qmqpc);
                        need(Capability::Qmqp);
                    }
                }
            }
            Step::Connect(p) => p.capability().into_iter().for_each(&mut *need),
            Step::Qmtp(_) => need(Capability::Qmtp),
            Step::Qmqp(_) => need(Capability::Qmqp),
            Step::Repeat(r) => r.steps.iter().for_each(|s| s.requirements(need)),
            Step::Op(o) => o.requirements(need),
            _ => {}
        }
    }
}
