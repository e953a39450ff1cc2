//! Moving an undrained sendmail queue into the reference MTA's queue.
//!
//! For each `qfID` with its `dfID`: parse ([`super::qf`]), then inject the
//! headers and body with the undelivered recipients through the MTA's
//! own `qmail-queue` ([`mta::queue::client::inject`]), which is
//! crash-safe by construction: the message exists in the new queue only
//! once qmail-queue has committed it.
//!
//! Idempotence and crash safety on the sendmail side, in three steps:
//! 1. `qfID` is renamed to `imported/qfID.importing` (so a sendmail queue
//!    runner no longer sees it, and a re-run knows an import started);
//! 2. the message is injected;
//! 3. `imported/qfID.importing` becomes `imported/qfID`, and `dfID`
//!    follows it into `imported/`.
//!
//! A failed injection renames the file back. A `.importing` file found at
//! start means a run died between steps 1 and 3: the message may or may
//! not be in the new queue, so it is reported and left for a person
//! (never imported twice). Unparsable pairs stay where they are.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::qf::{self, Kind};

/// What happened to one queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Injected (or, with `--dry-run`, would be).
    Imported {
        sender: String,
        kept: Vec<String>,
        /// Recipients changed on the way, with the reason.
        notes: Vec<String>,
        /// qmail-queue's pid ("qp"); none for a dry run.
        qp: Option<u32>,
    },
    /// Left in the sendmail queue: it cannot be moved as it is.
    Left { why: String },
    /// The files are damaged; left in place.
    Malformed {
        file: String,
        line: usize,
        problem: String,
    },
    /// An earlier run stopped in the middle of this one.
    Interrupted { file: String },
    /// Already imported by an earlier run.
    AlreadyImported,
}

/// One line of the import report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why the import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: no bin/qmail-queue: not an MTA home (run `mta init` first)")]
    NotAHome(PathBuf),
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |e| ImportError::Io(p.to_path_buf(), e)
}

/// Imports every message of the sendmail queue `from` into the MTA home
/// `to`. Returns one entry per queue id, sorted.
pub fn import(from: &Path, to: &Path, dry_run: bool) -> Result<Vec<Imported>, ImportError> {
    if !mta::queue::client::program(to).exists() {
        return Err(ImportError::NotAHome(to.to_path_buf()));
    }
    let done_dir = from.join("imported");
    let mut ids: Vec<String> = Vec::new();
    for e in std::fs::read_dir(from).map_err(io(from))? {
        let name = e
            .map_err(io(from))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(id) = name.strip_prefix("qf") {
            ids.push(id.to_string());
        }
    }
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&done_dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name
                .strip_prefix("qf")
                .and_then(|n| n.strip_suffix(".importing"))
            {
                out.push(Imported {
                    id: id.to_string(),
                    outcome: Outcome::Interrupted {
                        file: e.path().display().to_string(),
                    },
                });
            }
        }
    }
    ids.sort();
    for id in ids {
        let outcome = if done_dir.join(format!("qf{id}")).exists() {
            Outcome::AlreadyImported
        } else {
            one(from, &done_dir, to, &id, dry_run)?
        };
        out.push(Imported { id, outcome });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn one(
    from: &Path,
    done: &Path,
    to: &Path,
    id: &str,
    dry_run: bool,
) -> Result<Outcome, ImportError> {
    let qf_path = from.join(format!("qf{id}"));
    let df_path = from.join(format!("df{id}"));
    let text = std::fs::read(&qf_path).map_err(io(&qf_path))?;
    let q = match qf::parse(&text) {
        Ok(q) => q,
        Err(e) => {
            return Ok(Outcome::Malformed {
                file: qf_path.display().to_string(),
                line: e.line,
                problem: e.problem,
            })
        }
    };
    let body = match std::fs::read(&df_path) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Outcome::Malformed {
                file: df_path.display().to_string(),
                line: 0,
                problem: format!("cannot read the body: {e}"),
            })
        }
    };
    let mut kept = Vec::new();
    let mut notes = Vec::new();
    let mut refused = Vec::new();
    for r in &q.recipients {
        match r.kind() {
            Kind::Address(a) => kept.push(a),
            Kind::Mailbox(u) => {
                notes.push(format!(
                    "`\\{u}` (line {}): sendmail was to deliver to the mailbox only; qmail applies \
                     {u}'s .qmail",
                    r.line
                ));
                kept.push(u);
            }
            Kind::ProgramOrFile => refused.push(format!("{} (line {})", r.address, r.line)),
        }
    }
    if !refused.is_empty() {
        return Ok(Outcome::Left {
            why: format!(
                "program or file recipients from an alias expansion cannot be queued in qmail: {}; \
                 let sendmail deliver this message (sendmail -qI{id})",
                refused.join(", ")
            ),
        });
    }
    if kept.is_empty() {
        return Ok(Outcome::Left {
            why: "no undelivered recipient is left; sendmail will remove it on its next run".into(),
        });
    }
    let sender = q.envelope_sender();
    if dry_run {
        return Ok(Outcome::Imported {
            sender,
            kept,
            notes,
            qp: None,
        });
    }
    std::fs::create_dir_all(done).map_err(io(done))?;
    let pending = done.join(format!("qf{id}.importing"));
    std::fs::rename(&qf_path, &pending).map_err(io(&qf_path))?;
    let rcpts: Vec<Vec<u8>> = kept.iter().map(|a| a.as_bytes().to_vec()).collect();
    match mta::queue::client::inject(to, None, &q.message(&body), sender.as_bytes(), &rcpts) {
        Ok(qp) => {
            std::fs::rename(&df_path, done.join(format!("df{id}"))).map_err(io(&df_path))?;
            std::fs::rename(&pending, done.join(format!("qf{id}"))).map_err(io(&pending))?;
            Ok(Outcome::Imported {
                sender,
                kept,
                notes,
                qp: Some(qp),
            })
        }
        Err(e) => {
            std::fs::rename(&pending, &qf_path).map_err(io(&pending))?;
            Ok(Outcome::Left {
                why: format!("qmail-queue refused it: {}", e.lettered()),
            })
        }
    }
}
