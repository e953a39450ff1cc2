//! What must be true once the steps have run (conformance spec §8.2
//! `assert`): deliveries to Maildirs, mboxes, files written by programs
//! and the sink; bounces; recipients that must get nothing.

use serde::Deserialize;

use super::expect::Pattern;
use super::Capability;
use crate::escape::Text;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assertions {
    /// Wait for the queue to empty before checking (default true when the
    /// target can watch its queue).
    #[serde(default)]
    pub settle: Option<bool>,
    #[serde(default)]
    pub maildir: Vec<MailboxCheck>,
    #[serde(default)]
    pub mbox: Vec<MailboxCheck>,
    /// A file a delivery program wrote (or any file in a user's home).
    #[serde(default)]
    pub file: Vec<FileCheck>,
    #[serde(default)]
    pub sink: Vec<SinkCheck>,
    #[serde(default)]
    pub bounces: Vec<BounceCheck>,
    #[serde(default)]
    pub no_delivery: Vec<NoDelivery>,
    /// The crash-history invariant (conformance spec §4.4).
    #[serde(default)]
    pub history: Option<History>,
    /// Regexes that must each come to match a line of the MTA's activity
    /// log within 20 s (deferrals, program output, alerts).
    #[serde(default)]
    pub log: Vec<Pattern>,
    /// Tier B: the invariant at every power-cut state of the recorded run
    /// (needs `crash: {record: true}` and `history`).
    #[serde(default)]
    pub powercut: Option<PowerCutCheck>,
}

/// Tier B options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerCutCheck {
    /// Drop the recorded fsyncs of paths containing this before rebuilding
    /// (a deliberately broken MTA, to show the checker catches it).
    #[serde(default)]
    pub drop_fsync: Option<String>,
    /// The checker must report a loss at some crash point (with
    /// `drop_fsync`); default false: no loss anywhere.
    #[serde(default)]
    pub expect_loss: bool,
}

impl Assertions {
    pub fn requirements(&self, need: &mut dyn FnMut(Capability)) {
        if !self.maildir.is_empty()
            || !self.mbox.is_empty()
            || !self.file.is_empty()
            || !self.log.is_empty()
        {
            need(Capability::Filesystem);
        }
        if !self.sink.is_empty() {
            need(Capability::Sink);
        }
        if !self.log.is_empty() {
            need(Capability::Log);
        }
        for b in &self.bounces {
            need(if b.user.is_some() {
                Capability::Filesystem
            } else {
                Capability::Sink
            });
        }
        for n in &self.no_delivery {
            need(if n.user.is_some() {
                Capability::Filesystem
            } else {
                Capability::Sink
            });
        }
        if self.history.is_some() || self.powercut.is_some() {
            need(Capability::Crash);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.maildir.is_empty()
            && self.mbox.is_empty()
            && self.file.is_empty()
            && self.sink.is_empty()
            && self.bounces.is_empty()
            && self.no_delivery.is_empty()
            && self.history.is_none()
            && self.powercut.is_none()
            && self.log.is_empty()
    }
}

/// Checks on the messages of one message list (a Maildir's `new/`, an
/// mbox's messages, the sink's transactions for one recipient).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageChecks {
    /// How many messages (default: at least one).
    #[serde(default)]
    pub count: Option<usize>,
    /// Regexes that must each match some header line of every message.
    #[serde(default)]
    pub headers: Vec<Pattern>,
    /// Regexes no header line of any message may match.
    #[serde(default)]
    pub no_headers: Vec<Pattern>,
    /// The exact body (after the first empty line) of every message, after
    /// normalisation. Compared with LF line ends.
    #[serde(default)]
    pub body: Option<Text>,
    /// The exact whole message after normalisation (LF line ends).
    #[serde(default)]
    pub content: Option<Text>,
    /// Byte strings every message must contain.
    #[serde(default)]
    pub contains: Vec<Text>,
    /// Byte strings no message may contain.
    #[serde(default)]
    pub not_contains: Vec<Text>,
}

/// A local mailbox: a Maildir (`folder` ends in `/` implicitly) or an mbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxCheck {
    pub user: String,
    /// Relative to the user's home; default `Maildir` (maildir) or
    /// `Mailbox` (mbox).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub headers: Vec<Pattern>,
    #[serde(default)]
    pub no_headers: Vec<Pattern>,
    #[serde(default)]
    pub body: Option<Text>,
    #[serde(default)]
    pub content: Option<Text>,
    #[serde(default)]
    pub contains: Vec<Text>,
    #[serde(default)]
    pub not_contains: Vec<Text>,
}

impl MailboxCheck {
    pub fn checks(&self) -> MessageChecks {
        MessageChecks {
            count: self.count,
            headers: self.headers.clone(),
            no_headers: self.no_headers.clone(),
            body: self.body.clone(),
            content: self.content.clone(),
            contains: self.contains.clone(),
            not_contains: self.not_contains.clone(),
        }
    }
}

/// A file in a user's home.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    pub user: String,
    pub path: String,
    /// Exact content after normalisation.
    #[serde(default)]
    pub content: Option<Text>,
    #[serde(default)]
    pub contains: Vec<Text>,
    /// False: the file must not exist.
    #[serde(default = "yes")]
    pub exists: bool,
}

fn yes() -> bool {
    true
}

/// Transactions the sink received for one recipient.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkCheck {
    pub rcpt: String,
    /// The envelope sender every transaction must have (`""` for `<>`).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub headers: Vec<Pattern>,
    #[serde(default)]
    pub no_headers: Vec<Pattern>,
    #[serde(default)]
    pub body: Option<Text>,
    #[serde(default)]
    pub content: Option<Text>,
    #[serde(default)]
    pub contains: Vec<Text>,
    #[serde(default)]
    pub not_contains: Vec<Text>,
    /// The exact bytes after DATA's 354, up to and including `.` CRLF
    /// (dot-stuffing and line ends as sent).
    #[serde(default)]
    pub raw: Option<Text>,
    /// Regexes the raw bytes must not match (e.g. a bare LF: `[^\r]\n`).
    #[serde(default)]
    pub raw_not_matching: Vec<Pattern>,
}

impl SinkCheck {
    pub fn checks(&self) -> MessageChecks {
        MessageChecks {
            count: self.count,
            headers: self.headers.clone(),
            no_headers: self.no_headers.clone(),
            body: self.body.clone(),
            content: self.content.clone(),
            contains: self.contains.clone(),
            not_contains: self.not_contains.clone(),
        }
    }
}

/// Bounce formats a check accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BounceFormat {
    Qsbmf,
    Dsn,
    #[default]
    Either,
}

/// Bounces sent to one address: at the sink (`to`) or in a local user's
/// Maildir (`user`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceCheck {
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub format: BounceFormat,
    /// Number of bounces (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// The bounce's envelope sender (default `""`, i.e. `<>`).
    #[serde(default)]
    pub from: Option<String>,
    /// True for a double bounce.
    #[serde(default)]
    pub double: Option<bool>,
    /// The failed recipients, in order, exactly these.
    #[serde(default)]
    pub recipients: Vec<BounceRecipient>,
    /// Byte strings the bounce must contain.
    #[serde(default)]
    pub contains: Vec<Text>,
    /// A regex the returned original message must match.
    #[serde(default)]
    pub original: Option<Pattern>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceRecipient {
    pub address: String,
    /// Enhanced status code, e.g. `5.1.1`.
    #[serde(default)]
    pub status: Option<String>,
    /// DSN action (QSBMF: always `failed`).
    #[serde(default)]
    pub action: Option<String>,
    /// Regex on the explanation text.
    #[serde(default)]
    pub text: Option<Pattern>,
}

/// Nothing delivered: to a sink recipient, or into a user's Maildir.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoDelivery {
    #[serde(default)]
    pub rcpt: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
}

/// The crash-history invariant (conformance spec §4.4): every ACKED
/// message delivered to each accepted recipient (or bounced), nothing
/// REJECTED delivered, duplicates counted, no partial message visible.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Local users whose `Maildir/` (new and cur) and `Mailbox` hold
    /// deliveries; the sink is always searched.
    #[serde(default)]
    pub users: Vec<String>,
    /// Allowed extra copies per message and recipient (default 1).
    #[serde(default)]
    pub max_duplicates: Option<usize>,
    /// What a 4xx (or a failed injector) means: `rejected` (default) or
    /// `unknown` (qmail-smtpd answers `451 qq crashed` when qmail-queue
    /// dies, even after its commit point; RFC 5321 §6.1 at-least-once).
    #[serde(default)]
    pub tempfail: TempFail,
    /// The armed crash must have fired (default true): a crash scenario
    /// whose crash never happened proves nothing.
    #[serde(default)]
    pub fired: Option<bool>,
    /// Ids that must end ACKED.
    #[serde(default)]
    pub acked: Vec<String>,
    /// Ids that must not end ACKED (a failed fsync or a full disk must
    /// never be followed by a 250).
    #[serde(default)]
    pub not_acked: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TempFail {
    #[default]
    Rejected,
    Unknown,
}
