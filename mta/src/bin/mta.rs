//! `mta`: the supervisor that starts the whole reference MTA, plus the
//! small admin commands around it (init, stop, inject).
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mta::home::{Home, Mode};

#[derive(Parser)]
#[command(name = "mta", version, about = "The reference qmail-compatible MTA")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct RootArgs {
    /// The MTA's root directory (QMAILHOME). Default: $QMAILHOME, else /var/qmail.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Run everything as the current user, with the built-in default
    /// configuration (default when --root is given and you are not using
    /// production accounts).
    #[arg(long)]
    unprivileged: bool,
    /// Production mode: qmail's accounts and uids (run as root).
    #[arg(long, conflicts_with = "unprivileged")]
    production: bool,
}

impl RootArgs {
    fn home(&self) -> Home {
        let env = Home::from_env();
        let root = self.root.clone().unwrap_or(env.root.clone());
        let mode = if self.production {
            Mode::Production
        } else if self.unprivileged || root.join(mta::home::UNPRIVILEGED_MARKER).exists() {
            Mode::Unprivileged
        } else {
            env.mode
        };
        Home::new(absolute(root), mode)
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a root with the built-in default configuration.
    Init {
        #[command(flatten)]
        root: RootArgs,
    },
    /// Start the whole MTA (creating the root first if needed) and supervise it.
    Start {
        #[command(flatten)]
        root: RootArgs,
        /// The default delivery instruction (qmail-start's argument).
        #[arg(long, default_value = mta::start::init::DEFAULT_DELIVERY)]
        delivery: String,
        /// Exit when qmail-send exits instead of restarting it.
        #[arg(long)]
        once: bool,
        /// Don't copy the activity log to stdout.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Stop a running MTA and wait for it.
    Stop {
        #[command(flatten)]
        root: RootArgs,
    },
    /// Queue a message read from stdin (through qmail-queue, no header rewriting).
    Inject {
        #[command(flatten)]
        root: RootArgs,
        /// Envelope sender.
        #[arg(short = 'f', long = "from", default_value = "")]
        from: String,
        /// Envelope recipients.
        #[arg(required = true)]
        to: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mta: {e:#}");
            ExitCode::from(111)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::Init { root } => {
            let home = root.home();
            mta::start::init::init(&home)?;
            println!("mta: initialised {}", home.root.display());
            Ok(0)
        }
        Cmd::Start {
            root,
            delivery,
            once,
            quiet,
        } => {
            let home = root.home();
            mta::start::init::init(&home)?;
            if !quiet {
                print!("{}", mta::start::supervise::banner(&home));
            }
            let opts = mta::start::supervise::Options {
                delivery,
                once,
                quiet,
            };
            let code = mta::start::supervise::run(&home, &opts)?;
            Ok(code.clamp(0, 255) as u8)
        }
        Cmd::Stop { root } => {
            let home = root.home();
            mta::start::supervise::stop(&home.root, std::time::Duration::from_secs(120))?;
            Ok(0)
        }
        Cmd::Inject { root, from, to } => {
            let home = root.home();
            let mut msg = Vec::new();
            std::io::stdin().read_to_end(&mut msg)?;
            let rcpts: Vec<Vec<u8>> = to.into_iter().map(String::into_bytes).collect();
            std::env::set_var("QMAILHOME", &home.root);
            if home.unprivileged() {
                std::env::set_var("MTA_MODE", "unprivileged");
            }
            match mta::queue::client::inject(&home.root, None, &msg, from.as_bytes(), &rcpts) {
                Ok(qp) => {
                    println!("mta: queued (qp {qp})");
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("mta: {}", e.text);
                    Ok(if e.permanent { 100 } else { 111 })
                }
            }
        }
    }
}
