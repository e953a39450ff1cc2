//! mta-tcprules: compile tcprules text (stdin) into a cdb tcpserver and
//! mta-listen read, as ucspi-tcp's `tcprules rules.cdb rules.tmp`.
//! Exit 100 on a bad line (the cdb is left alone), 111 on I/O trouble.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Compile rules from stdin into RULES.cdb, atomically through TMP.
#[derive(Parser)]
#[command(name = "mta-tcprules")]
struct Args {
    /// The compiled rules (replaced atomically).
    cdb: PathBuf,
    /// A temporary file on the same filesystem.
    tmp: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut text = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut text) {
        eprintln!("mta-tcprules: fatal: unable to read input: {e}");
        return ExitCode::from(111);
    }
    let rules = match mta::listener::rules::parse("stdin", &text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mta-tcprules: fatal: {e}");
            return ExitCode::from(100);
        }
    };
    if let Err(e) = mta::listener::rulescdb::compile(&rules, &args.cdb, &args.tmp) {
        eprintln!(
            "mta-tcprules: fatal: unable to write {} then move it to {}: {e}",
            args.tmp.display(),
            args.cdb.display()
        );
        return ExitCode::from(111);
    }
    ExitCode::SUCCESS
}
