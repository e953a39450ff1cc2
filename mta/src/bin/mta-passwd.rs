//! mta-passwd: adds, changes and removes users of the POP3 password file
//! read by mta-checkpassword (`QMAILHOME/users/pop3passwd`, or
//! `MTA_POP3_PASSWD`; format in `mta::pop3::passwd`).

use std::io::BufRead;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use mta::pop3::passwd::{self, Entry, PasswdFile};

#[derive(Parser)]
#[command(
    name = "mta-passwd",
    about = "Manage the POP3 users of mta-checkpassword"
)]
struct Cli {
    /// The password file (default: $MTA_POP3_PASSWD, else
    /// QMAILHOME/users/pop3passwd).
    #[arg(long, short)]
    file: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Adds USER or changes their entry; the password is the first line
    /// of standard input.
    Set {
        user: String,
        /// The home directory: qmail-pop3d's maildir is relative to it.
        #[arg(long)]
        home: PathBuf,
        /// The uid to serve the user as (default: the owner of HOME).
        #[arg(long)]
        uid: Option<u32>,
        /// The gid to serve the user as (default: the group of HOME).
        #[arg(long)]
        gid: Option<u32>,
    },
    /// Removes USER.
    Del { user: String },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let path = cli
        .file
        .unwrap_or_else(|| passwd::path(&mta::home::Home::from_env()));
    let mut file = PasswdFile::load(&path, true)?;
    match cli.command {
        Cmd::Set {
            user,
            home,
            uid,
            gid,
        } => {
            passwd::check_user(&user).map_err(anyhow::Error::msg)?;
            if !home.is_absolute() {
                bail!("home {} is not an absolute path", home.display());
            }
            let (uid, gid) = match (uid, gid) {
                (Some(u), Some(g)) => (u, g),
                _ => {
                    let md = std::fs::metadata(&home).with_context(|| {
                        format!("home {} (or give --uid and --gid)", home.display())
                    })?;
                    (uid.unwrap_or(md.uid()), gid.unwrap_or(md.gid()))
                }
            };
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']);
            let hash = passwd::hash(password.as_bytes())?;
            file.set(Entry {
                user,
                hash,
                uid,
                gid,
                home,
            });
        }
        Cmd::Del { user } => {
            if !file.remove(&user) {
                bail!("{}: no user {user}", path.display());
            }
        }
    }
    file.save(&path)?;
    Ok(())
}
