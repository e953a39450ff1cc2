//! `~/.forward` → `~/.qmail`, keeping what sendmail did (spec §2, §3.3).
//!
//! sendmail reads a `.forward` like an include file. If it yields
//! addresses, the mailbox gets nothing unless one of them refers back to
//! the user (`user`, `\user`, `user@<local name>`), which becomes the
//! mailbox line (`./Maildir/` unless told otherwise). A group- or
//! world-writable file, or one owned by neither the user nor root, was
//! ignored, so no `.qmail` is written (dot-forward would obey it, D8).
//! Programs and files need a login shell listed in `/etc/shells` (D9).
//! Files become mbox lines and `:include:` lists are inlined, where
//! dot-forward would have failed (D1, D2).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::detect::{self, Refused};
use crate::include;
use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::Target;
use crate::write::OutFile;

/// Why a `.forward` could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no owner: the file's uid is not in the passwd file (use --user)")]
    NoUser(PathBuf),
}

/// Converts the `.forward` at `path` for `user` (default: the file's
/// home directory's owner, else the file's); the `.qmail` goes next to it. `None` means normal delivery.
pub fn convert(
    site: &Site,
    path: &Path,
    user: Option<&str>,
    mailbox: &str,
    report: &mut Report,
) -> Result<Option<OutFile>, ForwardError> {
    let io = |source| ForwardError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = path.display().to_string();
    let md = std::fs::metadata(path).map_err(io)?;
    let bytes = std::fs::read(path).map_err(io)?;
    let text = detect::forward(&file, &bytes)?;
    let owner = site.accounts.name_of(md.uid()).map(str::to_string);
    // Whose file it is: the owner of the home directory holding it.
    let home_owner = path
        .parent()
        .and_then(|d| std::fs::metadata(d).ok())
        .and_then(|m| site.accounts.name_of(m.uid()))
        .map(str::to_string);
    let user = match (user, home_owner.or(owner.clone())) {
        (Some(u), _) => u.to_ascii_lowercase(),
        (None, Some(o)) => o.to_ascii_lowercase(),
        (None, None) => return Err(ForwardError::NoUser(path.to_path_buf())),
    };
    if md.mode() & 0o022 != 0 {
        report.push(
            &file,
            0,
            ".forward",
            Action::NotConverted,
            "group- or world-writable: sendmail ignored it and delivered normally (dot-forward \
             would obey it), so no .qmail is written",
            false,
        );
        return Ok(None);
    }
    if md.uid() != 0 && owner.as_deref().map(str::to_ascii_lowercase) != Some(user.clone()) {
        report.push(
            &file,
            0,
            ".forward",
            Action::NotConverted,
            format!(
                "owned by {} rather than {user} or root: sendmail ignored it and delivered \
                 normally, so no .qmail is written",
                owner.as_deref().unwrap_or("an unknown uid")
            ),
            false,
        );
        return Ok(None);
    }
    let shell_ok = site
        .accounts
        .get(&user)
        .is_some_and(|a| site.shells.contains(&a.shell));
    let mut lines: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |l: String| {
        if seen.insert(l.clone()) {
            lines.push(l);
        }
    };
    for item in include::parse_list(site, text) {
        let shown = format!("`{}`", item.parsed.piece);
        let targets = match item.parsed.result {
            Err(b) => {
                report.push(
                    &file,
                    item.line,
                    shown,
                    Action::NotConverted,
                    format!(
                        "sendmail bounced this address ({}); dot-forward would have split it",
                        b.why
                    ),
                    true,
                );
                continue;
            }
            Ok(Target::Include(p)) => match include::expand(site, &p, report, &mut Vec::new()) {
                Ok(t) => {
                    report.push(
                        &file,
                        item.line,
                        shown.clone(),
                        Action::ConvertedWithChange,
                        format!(
                            "sendmail read the list at delivery time (dot-forward fails on it); \
                             its {} target(s) were copied in now",
                            t.len()
                        ),
                        false,
                    );
                    t
                }
                Err(e) => {
                    include::report_include_error(report, &file, item.line, &p, &e);
                    continue;
                }
            },
            Ok(t) => vec![t],
        };
        for t in targets {
            match &t {
                Target::Local { user: u, .. } if *u == user => push(mailbox.to_string()),
                Target::Program(_) | Target::File(_) if !shell_ok => report.push(
                    &file,
                    item.line,
                    shown.clone(),
                    Action::NotConverted,
                    format!(
                        "{user}'s login shell is not in /etc/shells: sendmail refused programs \
                         and files (\"doesn't have a valid shell\"); dot-forward would run them"
                    ),
                    false,
                ),
                _ => match crate::qmail_out::line(site, &t) {
                    Ok(l) => push(l),
                    Err(why) => report.push(
                        &file,
                        item.line,
                        shown.clone(),
                        Action::NotConverted,
                        why,
                        true,
                    ),
                },
            }
        }
    }
    if lines.is_empty() {
        report.push(
            &file,
            0,
            ".forward",
            Action::NotConverted,
            "no address in it: sendmail delivered normally, and so does qmail without a .qmail",
            false,
        );
        return Ok(None);
    }
    let mut contents = lines.join("\n");
    contents.push('\n');
    Ok(Some(OutFile {
        path: path.with_file_name(".qmail"),
        contents: contents.into_bytes(),
        mode: 0o644,
    }))
}

/// Every account's `~/.forward` (accounts with uid 0 are skipped: qmail
/// never delivers to root).
pub fn home_dirs(
    site: &Site,
    mailbox: &str,
    report: &mut Report,
) -> Result<Vec<OutFile>, ForwardError> {
    let mut out = Vec::new();
    for a in site.accounts.all() {
        let path = Path::new(&a.home).join(".forward");
        if !path.exists() {
            continue;
        }
        if a.uid == 0 {
            report.push(
                &path.display().to_string(),
                0,
                ".forward",
                Action::NotConverted,
                "the account has uid 0: qmail never delivers to root; forward root's mail \
                 with ~alias/.qmail-root",
                true,
            );
            continue;
        }
        if let Some(f) = convert(site, &path, Some(&a.name), mailbox, report)? {
            out.push(f);
        }
    }
    Ok(out)
}
