//! qmail-pw2u [-/ohHuUC] [-c<char>] < passwd > assign (spec §5.1).
//!
//! Reads `QMAILHOME/users/{include,exclude,mailnames,subusers,append}`.
//! Exit 0 on success, 111 on trouble, 100 on a bad option.

use std::io::{Read, Write};

use clap::Parser;
use mta::users::pw2u::{self, HomeStrategy, Options, UsersFiles};

/// Options as qmail's getopt string `/ohHuUc:C`; of conflicting options
/// the last one given wins.
#[derive(Parser, Debug)]
#[command(
    name = "qmail-pw2u",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Args {
    /// Skip users whose home directory is missing or not theirs (default).
    #[arg(short = 'o', overrides_with_all = ["stop", "ignore", "skip"])]
    skip: bool,
    /// Stop if a home directory is missing.
    #[arg(short = 'h', overrides_with_all = ["skip", "ignore", "stop"])]
    stop: bool,
    /// Do not check home directories.
    #[arg(short = 'H', overrides_with_all = ["skip", "stop", "ignore"])]
    ignore: bool,
    /// Allow user names with uppercase letters.
    #[arg(short = 'u', overrides_with_all = ["no_upper", "upper"])]
    upper: bool,
    /// Skip user names with uppercase letters (default).
    #[arg(short = 'U', overrides_with_all = ["upper", "no_upper"])]
    no_upper: bool,
    /// Use this BREAK character for extensions (default `-`).
    #[arg(short = 'c', allow_hyphen_values = true, overrides_with_all = ["no_break", "break_char"])]
    break_char: Option<String>,
    /// No extension lines at all.
    #[arg(short = 'C', overrides_with_all = ["break_char", "no_break"])]
    no_break: bool,
    /// Extensions in `.qmail-/...` (dash field `-/`).
    #[arg(short = '/')]
    slash: bool,
}

impl Args {
    fn options(&self) -> Options {
        let homes = if self.stop {
            HomeStrategy::Stop
        } else if self.ignore {
            HomeStrategy::Ignore
        } else {
            HomeStrategy::Skip
        };
        let break_char = match (&self.break_char, self.no_break) {
            (_, true) => None,
            // qmail: *auto_break = *optarg — an empty argument means none.
            (Some(c), false) => c.bytes().next(),
            (None, false) => Some(mta::home::BREAK),
        };
        Options {
            homes,
            allow_upper: self.upper,
            break_char,
            slash: self.slash,
        }
    }
}

fn fatal(msg: &str, code: i32) -> ! {
    eprintln!("qmail-pw2u: fatal: {msg}");
    std::process::exit(code);
}

fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            eprint!("{e}");
            std::process::exit(100);
        }
    };
    let home = mta::home::Home::from_env();
    let files =
        UsersFiles::load(&home.path("users")).unwrap_or_else(|e| fatal(&e.to_string(), 111));
    let mut passwd = Vec::new();
    if std::io::stdin().read_to_end(&mut passwd).is_err() {
        fatal("unable to read input", 111);
    }
    let out = pw2u::convert(&passwd, &args.options(), &files, &pw2u::home_owner)
        .unwrap_or_else(|e| fatal(&e.to_string(), e.exit_code()));
    for w in &out.warnings {
        eprintln!("qmail-pw2u: warning: {w}");
    }
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&out.assign)
        .and_then(|_| stdout.flush())
        .is_err()
    {
        fatal("unable to write output", 111);
    }
}
