//! `migrate config`: sendmail's configuration and maps → qmail's
//! `control/*` files, `.qmail` files of the `alias` user and a tcprules
//! source (spec §4).
//!
//! A tour: [`cf`] reads a `sendmail.cf`, [`m4`] reads a `sendmail.mc`
//! without m4; both give the same [`model::Entry`] list. [`items`] and
//! [`features`] map each construct (spec §4.2) into a [`plan::Plan`] and
//! the report. The maps are read in their makemap text form
//! ([`makemap`], spec §4.3) and converted by [`access`] (§4.4),
//! [`virtuser`] (§4.5) and [`mailertable`] (§4.6). [`convert`] runs it
//! all; [`plan::Plan::files`] says what gets written.
//!
//! The `.cf` is what sendmail ran, so it wins when both files exist.
//! Every construct ends up in the report: converted, converted with a
//! change, or not converted with the reason (spec §4.7 wording for the
//! ones qmail 1.03 cannot do).

pub mod access;
pub mod cf;
pub mod features;
pub mod items;
pub mod m4;
pub mod mailertable;
pub mod makemap;
pub mod model;
pub mod plan;
pub mod virtuser;

use std::path::{Path, PathBuf};

use crate::detect::{self, Refused};
use crate::report::{Action, Report};
use crate::write::OutFile;
use plan::{Origin, Plan};

/// Which qmail the output is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Target {
    /// Stock qmail 1.03 / netqmail 1.06 only.
    #[default]
    Netqmail,
    /// This project's MTA: also STARTTLS, AUTH and SIZE.
    Reference,
}

/// Where the sendmail files are, and how absolute paths in them resolve.
#[derive(Debug, Clone)]
pub struct Source {
    /// The directory holding `sendmail.cf` / `sendmail.mc`.
    pub dir: PathBuf,
    /// For `migrate site`: every absolute path lives under this root.
    pub root: Option<PathBuf>,
}

impl Source {
    /// `--from DIR` of `migrate config`: `/etc/mail/X` in the
    /// configuration means `DIR/X`; other paths are taken as they are.
    pub fn etc_mail(dir: &Path) -> Source {
        Source {
            dir: dir.to_path_buf(),
            root: None,
        }
    }

    /// `--from ROOT` of `migrate site`: the configuration is in
    /// `ROOT/etc/mail` and every absolute path is under ROOT.
    pub fn root(root: &Path) -> Source {
        Source {
            dir: root.join("etc/mail"),
            root: Some(root.to_path_buf()),
        }
    }

    /// Where a path named in the configuration is on this machine.
    pub fn resolve(&self, path: &str) -> PathBuf {
        match &self.root {
            Some(r) => r.join(path.trim_start_matches('/')),
            None => match path.strip_prefix("/etc/mail/") {
                Some(rest) => self.dir.join(rest),
                None => PathBuf::from(path),
            },
        }
    }
}

/// Why the configuration could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: neither sendmail.cf nor sendmail.mc is here")]
    NoConfig(PathBuf),
    #[error(
        "{0}: the configuration does not name the host (no Dj / confDOMAIN_NAME): give --me HOST"
    )]
    NoHostName(String),
}

impl ConfigError {
    /// True when retrying later may succeed (I/O); the rest need a person.
    pub fn is_temporary(&self) -> bool {
        matches!(self, ConfigError::Io { .. })
    }
}

/// The result of converting a configuration.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub files: Vec<OutFile>,
    pub report: Report,
    /// `control/me`.
    pub me: String,
    /// sendmail's class w: every name it treated as local.
    pub class_w: Vec<String>,
    /// `O AliasFile=` as written (paths are not resolved).
    pub alias_file: Option<String>,
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Reads `sendmail.cf`, else `sendmail.mc`, from `src.dir`.
pub fn read_config(src: &Source, report: &mut Report) -> Result<model::Config, ConfigError> {
    let cf = src.dir.join("sendmail.cf");
    let mc = src.dir.join("sendmail.mc");
    if let Some(bytes) = read_file(&cf)? {
        let name = cf.display().to_string();
        if mc.exists() {
            let newer = matches!((mtime(&mc), mtime(&cf)), (Some(m), Some(c)) if m > c);
            report.push(
                &mc.display().to_string(),
                0,
                "sendmail.mc",
                Action::NotConverted,
                if newer {
                    "newer than sendmail.cf, but sendmail ran the .cf: the .cf was converted; \
                     rebuild it (m4) and run again if the .mc is what you meant"
                } else {
                    "sendmail ran sendmail.cf, so the .cf was converted instead"
                },
                newer,
            );
        }
        let text = detect::utf8(&name, &bytes)?;
        return Ok(cf::read(&name, text)?);
    }
    if let Some(bytes) = read_file(&mc)? {
        let name = mc.display().to_string();
        let text = detect::utf8(&name, &bytes)?;
        return Ok(m4::read(&name, text)?);
    }
    Err(ConfigError::NoConfig(src.dir.clone()))
}

/// Reads the class files (`F` lines) into the plan's classes.
fn class_files(src: &Source, plan: &mut Plan, report: &mut Report) -> Result<(), ConfigError> {
    for cf in plan.class_files.clone() {
        let path = src.resolve(&cf.path);
        let shown = path.display().to_string();
        let Some(bytes) = read_file(&path)? else {
            report.push(
                &cf.origin.file,
                cf.origin.line,
                format!("class {} file `{}`", cf.class, cf.path),
                Action::NotConverted,
                if cf.optional {
                    format!("{shown} does not exist (optional for sendmail): nothing to convert")
                } else {
                    format!("{shown} does not exist: sendmail complained and went on without it")
                },
                !cf.optional,
            );
            continue;
        };
        let text = detect::utf8(&shown, &bytes)?;
        let mut n = 0;
        for (i, l) in text.lines().enumerate() {
            let l = l.split('#').next().unwrap_or("");
            for w in l.split_whitespace() {
                let w = if matches!(cf.class.as_str(), "t" | "E") {
                    w.to_string()
                } else {
                    w.to_ascii_lowercase()
                };
                plan.add_class(
                    &cf.class,
                    &w,
                    Origin {
                        file: shown.clone(),
                        line: i + 1,
                    },
                );
                n += 1;
            }
        }
        let what = match cf.class.as_str() {
            "w" => "local names → control/locals and control/rcpthosts",
            "R" => "relay domains (see each one below)",
            "VirtHost" => "virtual domains for virtusertable",
            "t" => "trusted users (qmail has none: any user may set the sender)",
            "G" => "genericstable domains",
            "M" => "masquerade domains (qmail 1.03 has no equivalent)",
            _ => "class words no part of the conversion uses",
        };
        report.push(
            &cf.origin.file,
            cf.origin.line,
            format!("class {} file `{}`", cf.class, cf.path),
            if matches!(cf.class.as_str(), "w" | "R" | "VirtHost") {
                Action::Converted
            } else {
                Action::NotConverted
            },
            format!("{n} word(s) read from {shown}: {what}"),
            matches!(cf.class.as_str(), "t" | "M") && n > 0,
        );
    }
    Ok(())
}

/// Class w → locals and rcpthosts (with `me` and `localhost`).
fn locals(plan: &mut Plan, me: &str) {
    plan.locals.add(me);
    plan.rcpthosts.add(me);
    plan.locals.add("localhost");
    for (w, _) in plan.class("w").into_iter().cloned().collect::<Vec<_>>() {
        if w.starts_with('[') {
            continue;
        }
        plan.locals.add(w.clone());
        plan.rcpthosts.add(w);
    }
}

/// Class R (relay-domains) → rcpthosts (destinations) and tcprules
/// (clients), as spec §4.2 says: qmail separates the two directions.
fn relay_domains(plan: &mut Plan, report: &mut Report) {
    for (w, o) in plan.class("R").into_iter().cloned().collect::<Vec<_>>() {
        let ip = w
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        if ip {
            let a = if w.split('.').count() == 4 {
                w.clone()
            } else {
                format!("{w}.")
            };
            plan.tcprules.add(format!("{a}:allow,RELAYCLIENT=\"\""));
            report.push(
                &o.file,
                o.line,
                format!("`{w}`"),
                Action::Converted,
                format!("clients in {w} may relay → tcprules `{a}:allow,RELAYCLIENT=\"\"`"),
                false,
            );
            continue;
        }
        plan.rcpthosts.add(w.clone());
        plan.tcprules.add(format!("={w}:allow,RELAYCLIENT=\"\""));
        let mut written = format!("rcpthosts `{w}`");
        if !plan.relay_hosts_only {
            plan.rcpthosts.add(format!(".{w}"));
            plan.tcprules.add(format!("=.{w}:allow,RELAYCLIENT=\"\""));
            written.push_str(&format!(" and `.{w}`; tcprules `={w}` and `=.{w}`"));
        } else {
            written.push_str(&format!("; tcprules `={w}`"));
        }
        report.push(
            &o.file,
            o.line,
            format!("`{w}`"),
            Action::ConvertedWithChange,
            format!(
                "class R let mail to it and clients named in it relay → {written}: the client \
                 side needs tcpserver to look names up (`-h`, better `-p`)"
            ),
            true,
        );
    }
}

/// Reads one map's text source, or reports why there is none.
fn map_text(
    src: &Source,
    m: &plan::MapRef,
    report: &mut Report,
) -> Result<Option<(String, Vec<u8>)>, ConfigError> {
    let path = src.resolve(&m.path);
    let shown = path.display().to_string();
    if let Some(b) = read_file(&path)? {
        return Ok(Some((shown, b)));
    }
    let db = PathBuf::from(format!("{shown}.db"));
    let construct = format!("map `{}` ({})", m.name, m.path);
    if db.exists() {
        report.push(
            &m.origin.file,
            m.origin.line,
            construct,
            Action::NotConverted,
            format!(
                "only the compiled map {} is here and the converter reads the text form: dump \
                 it with `makemap -u hash {shown} > {shown}` (`btree` for a btree map; \
                 `praliases` does not read it) and run again",
                db.display()
            ),
            true,
        );
    } else {
        report.push(
            &m.origin.file,
            m.origin.line,
            construct,
            Action::NotConverted,
            if m.optional {
                format!("{shown} does not exist (optional for sendmail, -o): nothing to convert")
            } else {
                format!("{shown} does not exist: sendmail could not open the map")
            },
            !m.optional,
        );
    }
    Ok(None)
}

fn generics(file: &str, entries: &[makemap::MapEntry], m: &plan::MapRef, report: &mut Report) {
    report.push(
        &m.origin.file,
        m.origin.line,
        format!("genericstable `{}`", m.path),
        Action::NotConverted,
        "genericstable rewrites outgoing sender addresses; qmail-remote does not rewrite. Only \
         qmail-inject's QMAILUSER/QMAILHOST/QMAILSUSER/QMAILSHOST environment can approximate it \
         per user",
        true,
    );
    for e in entries {
        let hint = match e.value.rsplit_once('@') {
            Some((u, h)) => format!("QMAILUSER={u} QMAILHOST={h}"),
            None => format!("QMAILUSER={}", e.value),
        };
        report.push(
            file,
            e.line,
            format!("`{} {}`", e.key, e.value),
            Action::NotConverted,
            format!(
                "sendmail rewrote the sender `{}` as `{}`; qmail 1.03 has no equivalent \
                 (approximation for mail injected by that user: {hint})",
                e.key, e.value
            ),
            true,
        );
    }
}

/// Converts the sendmail configuration found at `src` into files under
/// `to` (a qmail home: `control/`, `alias/`, `tcp.smtp`).
pub fn convert(
    src: &Source,
    to: &Path,
    target: Target,
    me: Option<&str>,
) -> Result<Conversion, ConfigError> {
    let mut report = Report::default();
    let cfg = read_config(src, &mut report)?;
    let mut plan = Plan::new(target);
    items::apply(&cfg, &mut plan, &mut report);
    class_files(src, &mut plan, &mut report)?;
    let me = match (me, &plan.me) {
        (Some(m), _) => m.to_ascii_lowercase(),
        (None, Some(m)) => m.clone(),
        (None, None) => return Err(ConfigError::NoHostName(cfg.file.clone())),
    };
    let class_w: Vec<String> = plan.class("w").iter().map(|(w, _)| w.clone()).collect();
    locals(&mut plan, &me);
    report.push(
        &cfg.file,
        0,
        "class w",
        Action::ConvertedWithChange,
        format!(
            "sendmail added its own names and addresses to class w by itself; qmail needs them \
             listed: control/locals has `{me}` and `localhost` plus the names above; add any \
             other name this host answers to"
        ),
        false,
    );
    relay_domains(&mut plan, &mut report);
    let mut order = plan.maps.clone();
    // mailertable before virtusertable: the latter moves domains out of locals.
    order.sort_by_key(|m| match m.name.as_str() {
        "access" => 0,
        "mailertable" => 1,
        "virtuser" => 2,
        _ => 3,
    });
    for m in &order {
        let Some((file, bytes)) = map_text(src, m, &mut report)? else {
            continue;
        };
        let entries = makemap::read(&file, &bytes, &mut report)?;
        match m.name.as_str() {
            "access" => access::convert(&file, &entries, &mut plan, &mut report),
            "mailertable" => mailertable::convert(&file, &entries, &mut plan, &me, &mut report),
            "virtuser" => virtuser::convert(&file, &entries, &mut plan, &me, &mut report),
            _ => generics(&file, &entries, m, &mut report),
        }
    }
    mailertable::smart_host(&mut plan, &mut report);
    Ok(Conversion {
        files: plan.files(to, &me),
        report,
        me,
        class_w,
        alias_file: plan.alias_file.clone(),
    })
}
