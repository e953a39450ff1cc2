//! Steps that drive and inspect a qmail-style MTA from outside the SMTP
//! session (qmail-behaviour.md's black-box lists of §1–§9): signals to
//! qmail-send, stopping and starting it, writing files into the qmail
//! home or a user's home, running the home's programs (`qmail-newu`,
//! `qmail-queue`, `qmail-tcpto`, ...), ageing the queue, waiting for log
//! lines, checking queue files, processes and the connections other
//! hosts received, and a small network of its own (a DNS server and SMTP
//! hosts on other loopback addresses) for qmail-remote's MX handling.
//!
//! Each kind is one key of a step ([`super::step`]); [`Op::requirements`]
//! names the capabilities it needs, so targets without them SKIP.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Deserializer};

use super::expect::Pattern;
use super::{Capability, SinkSetup};
use crate::escape::Text;

/// One of the steps of this module.
#[derive(Debug, Clone)]
pub enum Op {
    /// `signal: HUP|ALRM|TERM` to qmail-send; returns once it is delivered.
    Signal(SendSignal),
    /// `stop: true`: stop the MTA cleanly (qmail-send saves its schedule).
    Stop,
    /// `start: true`: start it again on the same root.
    Start,
    Write(Write),
    Run(Run),
    /// `age: N`: the queue's clocks move N seconds into the past (message
    /// birth times, channel-file schedules, timeout-table entries), as if
    /// N seconds had passed.
    Age(u64),
    WaitLog(WaitLog),
    Check(Box<Check>),
    Network(NetworkSpec),
    Host(HostChange),
}

/// The signals qmail-send handles (qmail-behaviour §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendSignal {
    Hup,
    Alrm,
    Term,
}

impl SendSignal {
    pub fn name(self) -> &'static str {
        match self {
            SendSignal::Hup => "HUP",
            SendSignal::Alrm => "ALRM",
            SendSignal::Term => "TERM",
        }
    }
}

impl<'de> Deserialize<'de> for SendSignal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SendSignal, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim_start_matches("SIG") {
            "HUP" => Ok(SendSignal::Hup),
            "ALRM" => Ok(SendSignal::Alrm),
            "TERM" => Ok(SendSignal::Term),
            _ => Err(serde::de::Error::custom(format!(
                "signal {s:?} must be HUP, ALRM or TERM"
            ))),
        }
    }
}

/// Writes (or removes) a file: relative to the qmail home (`control/x`,
/// `users/assign`, `bin/stub`), or to `user`'s home. `${...}` variables
/// in the text are substituted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Write {
    pub path: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub text: Option<Text>,
    /// Remove the file instead.
    #[serde(default)]
    pub remove: bool,
    /// Octal, e.g. `"755"` for a stub program (default 644).
    #[serde(default)]
    pub mode: Option<String>,
}

/// Runs one of the programs in the qmail home's `bin/` (with `QMAILHOME`
/// set, the home as working directory).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub stdin: Option<Text>,
    /// Bytes the program reads on fd 1 (qmail-queue's envelope); its
    /// standard output is then not captured.
    #[serde(default)]
    pub fd1: Option<Text>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The allowed exit codes (default 0).
    #[serde(default)]
    pub exit: Option<ExitCodes>,
    /// Regexes that must each match a line of the output (stdout, then
    /// stderr).
    #[serde(default)]
    pub output: Vec<Pattern>,
    /// Regexes that must match the lines of stdout one to one, in order.
    #[serde(default)]
    pub stdout_lines: Option<Vec<Pattern>>,
    /// Seconds before the program is killed (default 30).
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// One exit code or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitCodes(pub Vec<i32>);

impl<'de> Deserialize<'de> for ExitCodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ExitCodes, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(i32),
            Many(Vec<i32>),
        }
        let v = match Raw::deserialize(d)? {
            Raw::One(c) => vec![c],
            Raw::Many(v) => v,
        };
        if v.is_empty() {
            return Err(serde::de::Error::custom("`exit` needs at least one code"));
        }
        Ok(ExitCodes(v))
    }
}

/// Waits until at least `count` lines of the activity log match.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitLog {
    pub pattern: Pattern,
    #[serde(default = "one")]
    pub count: usize,
    /// Seconds (default 20).
    #[serde(default)]
    pub timeout: Option<f64>,
}

fn one() -> usize {
    1
}

/// Checks made at this point of the scenario (not after settling, as
/// `assert` is); a failing check is retried for up to 3 s, since what it
/// looks at may be a moment behind the log line the scenario waited for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    #[serde(default)]
    pub queue: Option<QueueCheck>,
    /// Each regex matches a log line, each line after the previous one.
    #[serde(default)]
    pub log_order: Vec<Pattern>,
    /// Exactly `count` log lines match `pattern`.
    #[serde(default)]
    pub log_count: Vec<LogCount>,
    /// SMTP connections a host received (the harness sink by default).
    #[serde(default)]
    pub connections: Vec<ConnCheck>,
    /// The MTA's processes by program name.
    #[serde(default)]
    pub processes: BTreeMap<String, ProcCheck>,
    /// Directories in a user's home (file count, file names).
    #[serde(default)]
    pub dirs: Vec<DirCheck>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCount {
    pub pattern: Pattern,
    pub count: usize,
}

/// The queue's files (qmail-behaviour §2.5 layout).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueCheck {
    /// Number of files in each of `todo`, `intd`, `mess`, `info`, `local`,
    /// `remote`, `bounce` (split subdirectories summed).
    #[serde(default)]
    pub files: BTreeMap<String, usize>,
    /// Every `mess/<d>/<n>` has inode number `n` and `d = n mod split`.
    #[serde(default)]
    pub inode_ids: bool,
    /// A regex the first line of every mess file matches.
    #[serde(default)]
    pub mess_starts: Option<Pattern>,
    /// The records of the only message's `local`/`remote` file, e.g.
    /// `["Dalice@mx.test", "Tbob@mx.test"]`.
    #[serde(default)]
    pub channel: BTreeMap<String, Vec<String>>,
    /// The only message's next attempt, as stored by a stopped qmail-send
    /// (channel-file mtime), in seconds after its birth (info mtime): one
    /// of these values.
    #[serde(default)]
    pub retry: BTreeMap<String, Vec<i64>>,
}

pub const QUEUE_DIRS: [&str; 7] = ["todo", "intd", "mess", "info", "local", "remote", "bounce"];
pub const CHANNELS: [&str; 2] = ["local", "remote"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnCheck {
    /// A host of the scenario's `network` (default: the harness sink).
    #[serde(default)]
    pub host: Option<Ipv4Addr>,
    /// Number of connections.
    #[serde(default)]
    pub count: Option<usize>,
    /// Regexes matching each connection's command lines one to one.
    #[serde(default)]
    pub commands: Option<Vec<Pattern>>,
    /// Number of messages received (DATA completed), accepted or not.
    #[serde(default)]
    pub messages: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcCheck {
    pub count: usize,
    /// The account the processes run as (qmail-behaviour §1.1: `qmails`,
    /// `qmailr`, `qmailq`, `root`, ...); the target maps it to a uid.
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirCheck {
    pub user: String,
    pub path: String,
    #[serde(default)]
    pub count: Option<usize>,
    /// A regex every file name matches.
    #[serde(default)]
    pub names: Option<Pattern>,
}

/// The scenario's own network: a DNS server the target is pointed at, and
/// SMTP hosts on loopback addresses other than 127.0.0.1, all on one port
/// the target uses for unrouted deliveries. Mail for `${remote}` still
/// goes to the harness sink.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    #[serde(default)]
    pub dns: BTreeMap<String, DnsRecords>,
    #[serde(default)]
    pub hosts: BTreeMap<Ipv4Addr, HostSetup>,
}

/// The records of one name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecords {
    /// `"<preference> <exchange>"`, answered in this order.
    #[serde(default)]
    pub mx: Vec<MxRecord>,
    #[serde(default)]
    pub a: Vec<Ipv4Addr>,
    /// Every query for the name fails temporarily.
    #[serde(default)]
    pub servfail: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    pub pref: u16,
    pub host: String,
}

impl<'de> Deserialize<'de> for MxRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MxRecord, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || serde::de::Error::custom(format!("MX {s:?} must be `<preference> <host>`"));
        let (p, h) = s.trim().split_once(' ').ok_or_else(bad)?;
        let pref = p.parse::<u16>().map_err(|_| bad())?;
        let host = h.trim();
        if host.is_empty() || host.contains(' ') {
            return Err(bad());
        }
        Ok(MxRecord {
            pref,
            host: host.to_string(),
        })
    }
}

/// How a host behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostMode {
    /// An SMTP server answering as `sink` says.
    #[default]
    Accept,
    /// Connections time out (a listener whose accept queue is full).
    Blackhole,
    /// Nothing listens: connections are refused.
    Refuse,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSetup {
    #[serde(default)]
    pub mode: HostMode,
    #[serde(default)]
    pub sink: SinkSetup,
}

/// `host:` changes one host of the network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostChange {
    pub ip: Ipv4Addr,
    #[serde(default)]
    pub mode: HostMode,
    #[serde(default)]
    pub sink: SinkSetup,
}

/// A host address the harness may use: loopback, not 127.0.0.1 (the
/// target's own address).
pub fn host_ok(ip: Ipv4Addr) -> Result<(), String> {
    if ip.is_loopback() && ip != Ipv4Addr::LOCALHOST {
        Ok(())
    } else {
        Err(format!(
            "host {ip} must be a loopback address other than 127.0.0.1"
        ))
    }
}

/// A path inside a home: relative, without `..`.
fn rel_path_ok(p: &str) -> Result<(), String> {
    if p.is_empty() || p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(format!(
            "path {p:?} must be relative, without `.` or `..` parts"
        ));
    }
    Ok(())
}

impl Op {
    /// Checks serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Op::Write(w) => {
                rel_path_ok(&w.path)?;
                if w.text.is_some() == w.remove {
                    return Err("write needs exactly one of `text` and `remove: true`".into());
                }
                if let Some(m) = &w.mode {
                    u32::from_str_radix(m, 8).map_err(|_| format!("mode {m:?} is not octal"))?;
                }
                Ok(())
            }
            Op::Run(r) => {
                if r.program.is_empty() || r.program.contains('/') || r.program.starts_with('.') {
                    return Err(format!(
                        "program {:?} must be a plain name in the home's bin/",
                        r.program
                    ));
                }
                if r.fd1.is_some() && r.stdout_lines.is_some() {
                    return Err("`stdout_lines` cannot be checked when `fd1` is given".into());
                }
                Ok(())
            }
            Op::Check(c) => {
                if let Some(q) = &c.queue {
                    for d in q.files.keys() {
                        if !QUEUE_DIRS.contains(&d.as_str()) {
                            return Err(format!(
                                "queue directory {d:?} must be one of {}",
                                QUEUE_DIRS.join(", ")
                            ));
                        }
                    }
                    for ch in q.channel.keys().chain(q.retry.keys()) {
                        if !CHANNELS.contains(&ch.as_str()) {
                            return Err(format!("channel {ch:?} must be local or remote"));
                        }
                    }
                }
                for d in &c.dirs {
                    rel_path_ok(&d.path)?;
                }
                for h in c.connections.iter().filter_map(|c| c.host) {
                    host_ok(h)?;
                }
                Ok(())
            }
            Op::Network(n) => {
                for ip in n.hosts.keys() {
                    host_ok(*ip)?;
                }
                Ok(())
            }
            Op::Host(h) => host_ok(h.ip),
            Op::Signal(_) | Op::Stop | Op::Start | Op::Age(_) | Op::WaitLog(_) => Ok(()),
        }
    }

    /// Adds the capabilities this step needs.
    pub fn requirements(&self, need: &mut dyn FnMut(Capability)) {
        match self {
            Op::Signal(_) => need(Capability::Signals),
            Op::Stop | Op::Start => need(Capability::Restart),
            Op::Write(w) => need(if w.user.is_some() {
                Capability::Filesystem
            } else {
                Capability::QmailHome
            }),
            Op::Run(_) | Op::Age(_) => need(Capability::QmailHome),
            Op::WaitLog(_) => need(Capability::Log),
            Op::Check(c) => {
                if c.queue.is_some() {
                    need(Capability::QmailHome);
                }
                if !c.log_order.is_empty() || !c.log_count.is_empty() {
                    need(Capability::Log);
                }
                for conn in &c.connections {
                    need(if conn.host.is_some() {
                        Capability::Dns
                    } else {
                        Capability::Sink
                    });
                }
                if !c.processes.is_empty() {
                    need(Capability::Processes);
                }
                if !c.dirs.is_empty() {
                    need(Capability::Filesystem);
                }
            }
            Op::Network(_) | Op::Host(_) => need(Capability::Dns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_must_be_other_loopback_addresses() {
        assert!(host_ok(Ipv4Addr::new(127, 0, 0, 2)).is_ok());
        assert!(host_ok(Ipv4Addr::LOCALHOST).is_err());
        assert!(host_ok(Ipv4Addr::new(10, 0, 0, 1)).is_err());
    }

    #[test]
    fn paths_stay_inside_the_home() {
        assert!(rel_path_ok("control/locals").is_ok());
        assert!(rel_path_ok("../x").is_err());
        assert!(rel_path_ok("/etc/passwd").is_err());
        assert!(rel_path_ok("a/./b").is_err());
    }

    #[test]
    fn mx_records_parse() {
        let m: MxRecord = serde_yaml::from_str("'10 mx.a.test'").unwrap();
        assert_eq!((m.pref, m.host.as_str()), (10, "mx.a.test"));
        assert!(serde_yaml::from_str::<MxRecord>("'mx.a.test'").is_err());
    }
}
