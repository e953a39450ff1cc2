//! The scenario schema (conformance spec §8.2): what a YAML file under
//! `scenarios/` may contain. Every struct denies unknown fields, so a typo
//! is a schema error naming the file, line and field ([`load`]).
//!
//! - [`Scenario`]: header (id, title, refs, tags, requires), [`Setup`],
//!   steps ([`step`]; those driving the MTA outside SMTP — signals,
//!   files, programs, the queue's clock, checks, a network — in [`ops`]),
//!   assertions ([`assertions`]) and the normalisation rules that apply.
//! - [`Requirement`]: a target capability or an SMTP extension the
//!   scenario needs; an unmet one makes the result SKIP with the reason.

pub mod assertions;
pub mod doors;
pub mod expect;
pub mod load;
pub mod ops;
pub mod step;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::escape::Text;
use crate::normalize::Rule;

pub use assertions::Assertions;
pub use doors::Protocol;
pub use expect::{Expect, Profile};
pub use step::Step;

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique across the suite; used by `--filter`, `show` and the
    /// deviation lists.
    pub id: String,
    pub title: String,
    /// Where the expected behaviour is written down ("RFC5321 4.5.2",
    /// "qmail-behaviour §7.3", "conformance §2.7 S01").
    #[serde(default)]
    pub refs: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Needed beyond what the steps and assertions imply on their own.
    #[serde(default)]
    pub requires: Vec<Requirement>,
    #[serde(default)]
    pub setup: Setup,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub assert: Assertions,
    /// Normalisation rules applied to replies and delivered files before
    /// comparison; default: all of them ([`crate::normalize::ALL`]).
    #[serde(default)]
    pub normalize: Option<Vec<Rule>>,
    /// The file it was read from (set by the loader).
    #[serde(skip)]
    pub file: PathBuf,
}

/// What the target must be configured with before the first step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Control files, written verbatim (a missing trailing newline is
    /// added); `null` removes the file.
    #[serde(default)]
    pub controls: BTreeMap<String, Option<Text>>,
    /// Environment for the SMTP server, as tcpserver would set it
    /// (`RELAYCLIENT`, `DATABYTES`, `TCPREMOTEIP`, ...); also for the
    /// QMTP server (as rules in `tcp.qmtp`, unless the scenario writes
    /// that control) and the POP3 programs.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Local users (each gets `name` and `name-*` addresses).
    #[serde(default)]
    pub users: Vec<User>,
    /// Files in the alias user's home (`.qmail-<local>`).
    #[serde(default)]
    pub alias: BTreeMap<String, Text>,
    /// How the harness sink answers.
    #[serde(default)]
    pub sink: SinkSetup,
    /// A sendmail aliases file, converted with `migrate aliases --qmail`
    /// into the alias user's home before the MTA starts (migration
    /// scenarios: sendmail-migration spec, run through the reference MTA).
    #[serde(default)]
    pub migrate_aliases: Option<Text>,
    /// POP3 settings (qmail-behaviour §11).
    #[serde(default)]
    pub pop3: Option<doors::Pop3Setup>,
    /// Filled by the loader: every capability the scenario needs, so a
    /// target starts only the doors (QMTP, QMQP, POP3) it uses.
    #[serde(skip)]
    pub needs: Vec<Capability>,
}

impl Setup {
    /// True when the scenario changes the target's configuration.
    pub fn configures(&self) -> bool {
        !self.controls.is_empty()
            || !self.env.is_empty()
            || !self.alias.is_empty()
            || self.migrate_aliases.is_some()
    }
}

/// A local user and the files in their home directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// Files relative to the home directory (`.qmail`, `.qmail-ext`, ...).
    #[serde(default)]
    pub files: BTreeMap<String, Text>,
    /// Octal modes for some of those files, e.g. `{".qmail": "700"}`.
    #[serde(default)]
    pub modes: BTreeMap<String, String>,
    /// Create `Maildir/{tmp,new,cur}` (default true).
    #[serde(default = "yes")]
    pub maildir: bool,
    /// A POP3 login with this password (capability `pop3`).
    #[serde(default)]
    pub password: Option<String>,
}

fn yes() -> bool {
    true
}

/// The sink's behaviour for this scenario (conformance spec §8.1: an
/// smtp-sink-like next hop that answers per recipient).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSetup {
    /// The greeting (default `220 sink.test ESMTP ...`); a non-2xx
    /// greeting is also the answer to every later command but QUIT.
    #[serde(default)]
    pub greeting: Option<SinkReply>,
    /// Answer to MAIL (default `250 ok`).
    #[serde(default)]
    pub mail: Option<SinkReply>,
    /// Answer per recipient address (case-insensitive); others get
    /// `rcpt_default` (default `250 ok`).
    #[serde(default)]
    pub rcpt: BTreeMap<String, SinkReply>,
    #[serde(default)]
    pub rcpt_default: Option<SinkReply>,
    /// Answer after the final dot (default `250 ok queued`).
    #[serde(default)]
    pub data: Option<SinkReply>,
}

/// One sink answer: an SMTP reply line, or `drop` to close the connection
/// without answering.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SinkReply {
    Reply(String),
    Drop,
}

impl TryFrom<String> for SinkReply {
    type Error = String;
    fn try_from(s: String) -> Result<SinkReply, String> {
        if s == "drop" {
            return Ok(SinkReply::Drop);
        }
        let b = s.as_bytes();
        if b.len() >= 3
            && b[..3].iter().all(u8::is_ascii_digit)
            && b.get(3).is_none_or(|&c| c == b' ')
        {
            Ok(SinkReply::Reply(s))
        } else {
            Err(format!(
                "sink reply {s:?} must be `drop` or start with a 3-digit code"
            ))
        }
    }
}

/// Something a target must offer for a scenario to run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub enum Requirement {
    Capability(Capability),
    /// An EHLO keyword the server must advertise (`ext:SIZE`).
    Extension(String),
}

/// What a target can do beyond speaking SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Control files and the SMTP server's environment can be set.
    Controls,
    /// Users, their `.qmail` files and mailboxes can be written and read.
    Filesystem,
    /// The queue can be watched (wait_queue_empty, settling before checks).
    Queue,
    /// Messages can be injected locally (qmail-queue).
    Inject,
    /// The sendmail wrapper exists.
    Sendmail,
    /// The MTA can be stopped and started again.
    Restart,
    /// Non-local mail and bounces go to the harness sink.
    Sink,
    /// Crash points / syscall kills.
    Crash,
    Starttls,
    /// The MTA's activity log can be read (`assert.log`).
    Log,
    /// `migrate` output can be installed into the MTA (`setup.migrate_aliases`).
    Migrate,
    /// A QMTP door (`connect: qmtp`, the `qmtp` step).
    Qmtp,
    /// A QMQP door (`connect: qmqp`, the `qmqp` step).
    Qmqp,
    /// qmail-qmqpc can inject (`inject: {via: qmqpc}`).
    Qmqpc,
    /// A POP3 door with users' logins (`connect: pop3`, `password:`).
    Pop3,
    /// The POP3 server's checkpassword program can be replaced
    /// (`setup.pop3.checkpassword`).
    Checkpassword,
    /// The qmail home can be read and written: files (`write`), its
    /// programs (`run`), the queue's files (`age`, `check.queue`).
    QmailHome,
    /// HUP, ALRM and TERM can be sent to qmail-send (`signal`).
    Signals,
    /// The MTA's processes can be listed (`check.processes`).
    Processes,
    /// qmail-remote can be pointed at the harness' DNS server and hosts
    /// (`network`, `host`).
    Dns,
}

impl Capability {
    pub const ALL: &'static [(&'static str, Capability)] = &[
        ("controls", Capability::Controls),
        ("filesystem", Capability::Filesystem),
        ("queue", Capability::Queue),
        ("inject", Capability::Inject),
        ("sendmail", Capability::Sendmail),
        ("restart", Capability::Restart),
        ("sink", Capability::Sink),
        ("crash", Capability::Crash),
        ("starttls", Capability::Starttls),
        ("log", Capability::Log),
        ("migrate", Capability::Migrate),
        ("qmtp", Capability::Qmtp),
        ("qmqp", Capability::Qmqp),
        ("qmqpc", Capability::Qmqpc),
        ("pop3", Capability::Pop3),
        ("checkpassword", Capability::Checkpassword),
        ("qmailhome", Capability::QmailHome),
        ("signals", Capability::Signals),
        ("processes", Capability::Processes),
        ("dns", Capability::Dns),
    ];

    pub fn name(self) -> &'static str {
        Capability::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("?", |(n, _)| n)
    }
}

impl TryFrom<String> for Requirement {
    type Error = String;
    fn try_from(s: String) -> Result<Requirement, String> {
        if let Some(ext) = s.strip_prefix("ext:") {
            if ext.is_empty() {
                return Err("`ext:` needs an EHLO keyword".into());
            }
            return Ok(Requirement::Extension(ext.to_ascii_uppercase()));
        }
        Capability::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, c)| Requirement::Capability(*c))
            .ok_or_else(|| {
                let names: Vec<&str> = Capability::ALL.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown requirement {s:?} (one of {}, or ext:KEYWORD)",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Capability(c) => f.write_str(c.name()),
            Requirement::Extension(e) => write!(f, "ext:{e}"),
        }
    }
}

impl Scenario {
    /// Every requirement: the declared ones plus those the setup, steps
    /// and assertions imply.
    pub fn requirements(&self) -> Vec<Requirement> {
        let mut r = self.requires.clone();
        let mut need = |c: Capability| r.push(Requirement::Capability(c));
        if self.setup.configures() {
            need(Capability::Controls);
        }
        if !self.setup.users.is_empty() {
            need(Capability::Filesystem);
        }
        if self.setup.migrate_aliases.is_some() {
            need(Capability::Migrate);
        }
        if self.setup.users.iter().any(|u| u.password.is_some()) {
            need(Capability::Pop3);
        }
        if let Some(p) = &self.setup.pop3 {
            need(Capability::Pop3);
            if p.checkpassword.is_some() {
                need(Capability::Checkpassword);
            }
        }
        for s in &self.steps {
            s.requirements(&mut need);
        }
        self.assert.requirements(&mut need);
        r.sort();
        r.dedup();
        r
    }

    /// The normalisation rules in force.
    pub fn rules(&self) -> Vec<Rule> {
        self.normalize
            .clone()
            .unwrap_or_else(|| crate::normalize::ALL.to_vec())
    }
}
