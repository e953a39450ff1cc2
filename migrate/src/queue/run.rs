//! The `migrate queue` command and its clap declaration.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::import::{self, Outcome};

#[derive(Args, Debug)]
pub struct QueueArgs {
    /// The sendmail queue directory.
    #[arg(long, default_value = "/var/spool/mqueue", value_name = "DIR")]
    pub from: PathBuf,
    /// The MTA's home (QMAILHOME, holding bin/qmail-queue).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Say what would be imported; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `migrate queue`: 0 everything imported, 1 something was left
/// behind or needs a person.
pub fn run(a: QueueArgs) -> anyhow::Result<u8> {
    let list = match import::import(&a.from, &a.to, a.dry_run) {
        Ok(l) => l,
        // I/O trouble is temporary (exit 111): keep the io::Error visible.
        Err(import::ImportError::Io(p, e)) => {
            return Err(anyhow::Error::from(e).context(p.display().to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    let left = list.iter().any(|m| {
        !matches!(
            m.outcome,
            Outcome::Imported { .. } | Outcome::AlreadyImported
        )
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(u8::from(left));
    }
    let mut w = anstream::stdout();
    let verb = if a.dry_run {
        "would import"
    } else {
        "imported"
    };
    for m in &list {
        match &m.outcome {
            Outcome::Imported {
                sender,
                kept,
                notes,
                qp,
            } => {
                let qp = qp.map(|q| format!(" (qp {q})")).unwrap_or_default();
                writeln!(
                    w,
                    "{}: {verb} from <{sender}> to {}{qp}",
                    m.id,
                    kept.join(", ")
                )?;
                for n in notes {
                    writeln!(w, "    note: {n}")?;
                }
            }
            Outcome::Left { why } => writeln!(w, "{}: left in the sendmail queue: {why}", m.id)?,
            Outcome::Malformed {
                file,
                line,
                problem,
            } => writeln!(
                w,
                "{}: malformed, left in place: {file}:{line}: {problem}",
                m.id
            )?,
            Outcome::Interrupted { file } => writeln!(
                w,
                "{}: an earlier import stopped half-way ({file}): check the MTA's queue \
                 (qmail-qread) for it, then move the file back to qf{} or rename it to qf{}",
                m.id, m.id, m.id
            )?,
            Outcome::AlreadyImported => writeln!(w, "{}: already imported", m.id)?,
        }
    }
    let n = |f: fn(&Outcome) -> bool| list.iter().filter(|m| f(&m.outcome)).count();
    writeln!(
        w,
        "{} messages: {} {verb}, {} already imported, {} left behind",
        list.len(),
        n(|o| matches!(o, Outcome::Imported { .. })),
        n(|o| matches!(o, Outcome::AlreadyImported)),
        n(|o| !matches!(o, Outcome::Imported { .. } | Outcome::AlreadyImported)),
    )?;
    Ok(u8::from(left))
}
