//! `migrate site`: a whole sendmail host in one run and one report: the
//! configuration and maps ([`crate::config`]), the aliases file (the
//! aliases converter, into `TO/alias/`), and every account's `.forward`
//! (the forward converter, `--home-dirs` semantics). Everything is read
//! under `--from ROOT` (`ROOT/etc/mail`, `ROOT/etc/passwd`, home
//! directories under ROOT) and written under `--to DIR`: a qmail home
//! (`control/`, `alias/`, `tcp.smtp`) plus `DIR/home/USER/.qmail` for the
//! users' files, mirroring where they go on the host.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::config::{self, ConfigError, Source, Target};
use crate::detect::Refused;
use crate::forward::ForwardError;
use crate::qmail_out::OwnerForm;
use crate::report::{Action, Report};
use crate::site::{Accounts, Site};
use crate::write::OutFile;

/// Why the host could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HostError {
    /// True when retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        match self {
            HostError::Config(c) => c.is_temporary(),
            HostError::Forward(ForwardError::Io { .. }) | HostError::Io { .. } => true,
            _ => false,
        }
    }
}

/// What `migrate site` decided about the host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub target: Target,
    pub me: Option<String>,
    /// The `.qmail` line for a user's own mailbox.
    pub mailbox: String,
    pub owner_form: OwnerForm,
}

/// passwd text with every home directory moved under `root`.
fn rooted_passwd(text: &str, root: &Path) -> String {
    text.lines()
        .map(|l| {
            let mut f: Vec<String> = l.split(':').map(str::to_string).collect();
            if f.len() >= 7 {
                f[5] = root
                    .join(f[5].trim_start_matches('/'))
                    .display()
                    .to_string();
            }
            f.join(":")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, HostError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Converts the host at `root` into files under `to`, with one report.
pub fn convert(
    root: &Path,
    to: &Path,
    o: &HostOptions,
) -> Result<(Vec<OutFile>, Report), HostError> {
    let conv = config::convert(&Source::root(root), to, o.target, o.me.as_deref())?;
    let mut report = conv.report;
    let mut files = conv.files;
    let locals: Vec<&str> = conv.class_w.iter().map(String::as_str).collect();
    let mut site = Site::new(&conv.me, &locals);
    let passwd = root.join("etc/passwd");
    if let Some(b) = read_opt(&passwd)? {
        let text = crate::detect::utf8(&passwd.display().to_string(), &b)?;
        site.accounts = Accounts::parse(&rooted_passwd(text, root));
    }
    if let Some(b) = read_opt(&root.join("etc/shells"))? {
        site.shells = String::from_utf8_lossy(&b)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
    }

    // Aliases: the AliasFile the configuration names, else the usual places.
    let named: Vec<String> = match &conv.alias_file {
        Some(a) => a
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| p.starts_with('/'))
            .collect(),
        None => vec!["/etc/mail/aliases".into(), "/etc/aliases".into()],
    };
    let mut found = false;
    for a in &named {
        let path = root.join(a.trim_start_matches('/'));
        let Some(bytes) = read_opt(&path)? else {
            continue;
        };
        found = true;
        let shown = path.display().to_string();
        let aliases = crate::aliases::convert(&site, &shown, &bytes)?;
        report
            .findings
            .extend(aliases.report.findings.iter().cloned());
        files.extend(crate::qmail_out::files(
            &site,
            &aliases,
            &to.join("alias"),
            o.owner_form,
            &mut report,
        ));
        if conv.alias_file.is_none() {
            break;
        }
    }
    if !found {
        report.push(
            &root.display().to_string(),
            0,
            "aliases",
            Action::NotConverted,
            format!("no aliases file at {}", named.join(" or ")),
            false,
        );
    }

    // Users' .forward files, written under TO at the same place.
    for f in crate::forward::home_dirs(&site, &o.mailbox, &mut report)? {
        let rel = f.path.strip_prefix(root).unwrap_or(&f.path).to_path_buf();
        files.push(OutFile {
            path: to.join(rel),
            ..f
        });
    }

    // Two sources for one file (a virtusertable file and an alias): keep
    // the first, say so.
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if seen.insert(f.path.clone()) {
            out.push(f);
        } else {
            report.push(
                &f.path.display().to_string(),
                0,
                "output file",
                Action::NotConverted,
                "two conversions produced this file; the first one (the configuration's) was kept",
                true,
            );
        }
    }
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_move_under_the_root() {
        assert_eq!(
            rooted_passwd("bob:x:1:1::/home/bob:/bin/sh\nbad", Path::new("/r")),
            "bob:x:1:1::/r/home/bob:/bin/sh\nbad"
        );
    }
}
