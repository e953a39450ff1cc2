//! The `migrate` command line: one clap derive declaration per subcommand,
//! then the run. Exit codes: 0 nothing needs a decision, 1 some finding
//! needs a person's decision, 100 input refused or output not written
//! (permanent), 111 temporary failure (I/O).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Target;
use crate::qmail_out::OwnerForm;
use crate::report::Report;
use crate::site::{Accounts, Site};
use crate::write::{self, OutFile};

#[derive(Parser, Debug)]
#[command(
    name = "migrate",
    about = "Migrate a sendmail site to qmail, reporting every difference"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Convert one sendmail aliases file to .qmail files and/or a fastforward cdb.
    Aliases(AliasesArgs),
    /// Convert .forward files into .qmail files.
    Forward(ForwardArgs),
    /// Replay every address through the old and the new configuration and compare.
    Verify(crate::verify::run::VerifyArgs),
    /// Import an undrained sendmail queue (qf/df files) into the reference MTA's queue.
    Queue(crate::queue::run::QueueArgs),
    /// Convert sendmail.cf (or sendmail.mc) and its maps into qmail control files.
    Config(ConfigArgs),
    /// Convert a whole host: configuration, maps, aliases and every .forward.
    Site(HostArgs),
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// The directory holding sendmail.cf / sendmail.mc and the maps' text sources.
    #[arg(long, value_name = "DIR", default_value = "/etc/mail")]
    pub from: PathBuf,
    /// Where to write control/*, alias/.qmail-* and tcp.smtp (a qmail home).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// `netqmail`: stock qmail 1.03 only; `reference`: this project's MTA (STARTTLS, AUTH, SIZE).
    #[arg(long, value_enum, default_value_t = Target::Netqmail)]
    pub target: Target,
    /// control/me, when the configuration does not name the host.
    #[arg(long)]
    pub me: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct HostArgs {
    /// The host's root directory (etc/mail, etc/aliases, etc/passwd, home directories).
    #[arg(long, value_name = "ROOT", default_value = "/")]
    pub from: PathBuf,
    /// Where to write control/*, alias/*, tcp.smtp and home/USER/.qmail.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    #[arg(long, value_enum, default_value_t = Target::Netqmail)]
    pub target: Target,
    /// control/me, when the configuration does not name the host.
    #[arg(long)]
    pub me: Option<String>,
    /// The .qmail line for a user's own mailbox.
    #[arg(long, default_value = "./Maildir/")]
    pub mailbox: String,
    /// owner-X lists: `suffix` writes .qmail-X-owner (qmail), `prefix` keeps owner-X.
    #[arg(long, value_enum, default_value_t = OwnerForm::Suffix)]
    pub owner_form: OwnerForm,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What the conversion needs to know about the host.
#[derive(Args, Debug, Clone)]
pub struct SiteArgs {
    /// qmail's control/me (default: QMAILHOME/control/me, then /etc/mailname).
    #[arg(long)]
    pub me: Option<String>,
    /// A name sendmail treated as local (class w); repeatable.
    #[arg(long = "local-domain", value_name = "DOMAIN")]
    pub local_domains: Vec<String>,
    /// Domain newaliases appends to dotless hosts (default: --me).
    #[arg(long)]
    pub default_domain: Option<String>,
    /// passwd file that decides which names are accounts.
    #[arg(long, default_value = "/etc/passwd")]
    pub passwd: PathBuf,
    /// Login shells that may run programs from a .forward.
    #[arg(long, default_value = "/etc/shells")]
    pub shells: PathBuf,
}

/// How results are written and reported.
#[derive(Args, Debug)]
pub struct OutputArgs {
    /// Replace existing files that differ.
    #[arg(long)]
    pub force: bool,
    /// Print a unified diff of what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("out").required(true).multiple(true).args(["qmail", "fastforward"])))]
pub struct AliasesArgs {
    /// The aliases file (default /etc/aliases, else /etc/mail/aliases); `-` reads stdin.
    pub file: Option<String>,
    /// Write .qmail-NAME files into DIR (the alias user's home).
    #[arg(long, value_name = "DIR")]
    pub qmail: Option<PathBuf>,
    /// Write a fastforward aliases source to FILE and its cdb to FILE.cdb.
    #[arg(long, value_name = "FILE")]
    pub fastforward: Option<PathBuf>,
    /// owner-X lists: `suffix` writes .qmail-X-owner (qmail), `prefix` keeps owner-X.
    #[arg(long, value_enum, default_value_t = OwnerForm::Suffix)]
    pub owner_form: OwnerForm,
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["file", "home_dirs"])))]
pub struct ForwardArgs {
    /// One .forward file; the .qmail is written next to it.
    pub file: Option<PathBuf>,
    /// Every account's ~/.forward from the passwd file.
    #[arg(long)]
    pub home_dirs: bool,
    /// Whose file it is (default: the file's owner).
    #[arg(long)]
    pub user: Option<String>,
    /// The .qmail line for the user's own mailbox.
    #[arg(long, default_value = "./Maildir/")]
    pub mailbox: String,
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn read_first_line(p: &Path) -> Option<String> {
    let t = std::fs::read_to_string(p).ok()?;
    let l = t.lines().next()?.trim().to_string();
    (!l.is_empty()).then_some(l)
}

pub(crate) fn site(args: &SiteArgs) -> anyhow::Result<Site> {
    let qhome = std::env::var_os("QMAILHOME").unwrap_or_else(|| "/var/qmail".into());
    let control = Path::new(&qhome).join("control");
    let me = args
        .me
        .clone()
        .or_else(|| read_first_line(&control.join("me")))
        .or_else(|| read_first_line(Path::new("/etc/mailname")))
        .ok_or_else(|| anyhow::anyhow!("cannot tell this host's name: give --me HOST"))?;
    let mut locals: Vec<String> = args.local_domains.clone();
    if let Ok(t) = std::fs::read_to_string(control.join("locals")) {
        locals.extend(
            t.lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty()),
        );
    }
    let refs: Vec<&str> = locals.iter().map(String::as_str).collect();
    let mut s = Site::new(&me, &refs);
    if let Some(d) = &args.default_domain {
        s.default_domain = d.to_ascii_lowercase();
    }
    s.accounts = Accounts::load(&args.passwd)?;
    if let Ok(t) = std::fs::read_to_string(&args.shells) {
        s.shells = t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
    }
    Ok(s)
}

pub(crate) fn default_aliases() -> String {
    if Path::new("/etc/aliases").exists() || !Path::new("/etc/mail/aliases").exists() {
        "/etc/aliases".into()
    } else {
        "/etc/mail/aliases".into()
    }
}

/// Parses the arguments and runs; the binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(anstream::stderr(), "migrate: {e:#}");
            let temp = e
                .downcast_ref::<write::WriteError>()
                .is_some_and(|w| w.is_temporary())
                || e.downcast_ref::<std::io::Error>().is_some()
                || e.downcast_ref::<crate::config::ConfigError>()
                    .is_some_and(|c| c.is_temporary())
                || e.downcast_ref::<crate::host::HostError>()
                    .is_some_and(|h| h.is_temporary());
            ExitCode::from(if temp { 111 } else { 100 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Aliases(a) => {
            let site = site(&a.site)?;
            let name = a.file.clone().unwrap_or_else(default_aliases);
            let mut bytes = if name == "-" {
                let mut b = Vec::new();
                std::io::stdin().read_to_end(&mut b)?;
                b
            } else {
                std::fs::read(&name).map_err(|e| anyhow::anyhow!("{name}: {e}"))?
            };
            let shown = if name == "-" {
                "(stdin)"
            } else {
                name.as_str()
            };
            let mut conv = crate::aliases::convert(&site, shown, &bytes)?;
            let mut report = std::mem::take(&mut conv.report);
            let mut files = Vec::new();
            if let Some(dir) = &a.qmail {
                files.extend(crate::qmail_out::files(
                    &site,
                    &conv,
                    dir,
                    a.owner_form,
                    &mut report,
                ));
            }
            if let Some(ff) = &a.fastforward {
                // The input's memory holds the source text next.
                let spare = std::mem::take(&mut bytes);
                let out = crate::fastforward_out::build_in(
                    &site,
                    &conv,
                    a.qmail.is_some(),
                    &mut report,
                    spare,
                )?;
                files.extend(crate::fastforward_out::files(out, ff));
            }
            let code = finish(&files, report, &a.output);
            // The process ends right after: freeing 100,000 aliases and
            // their output one allocation at a time took longer than
            // writing them. The kernel takes the memory back at once.
            std::mem::forget((conv, files, site));
            code
        }
        Command::Forward(f) => {
            let site = site(&f.site)?;
            let mut report = Report::default();
            let files = match &f.file {
                Some(p) => {
                    crate::forward::convert(&site, p, f.user.as_deref(), &f.mailbox, &mut report)?
                        .into_iter()
                        .collect()
                }
                None => crate::forward::home_dirs(&site, &f.mailbox, &mut report)?,
            };
            finish(&files, report, &f.output)
        }
        Command::Verify(v) => crate::verify::run::run(v),
        Command::Queue(q) => crate::queue::run::run(q),
        Command::Config(c) => {
            let conv = crate::config::convert(
                &crate::config::Source::etc_mail(&c.from),
                &c.to,
                c.target,
                c.me.as_deref(),
            )?;
            finish(&conv.files, conv.report, &c.output)
        }
        Command::Site(h) => {
            let o = crate::host::HostOptions {
                target: h.target,
                me: h.me.clone(),
                mailbox: h.mailbox.clone(),
                owner_form: h.owner_form,
            };
            let (files, report) = crate::host::convert(&h.from, &h.to, &o)?;
            finish(&files, report, &h.output)
        }
    }
}

fn finish(files: &[OutFile], mut report: Report, o: &OutputArgs) -> anyhow::Result<u8> {
    if !o.dry_run && !o.json {
        // Writing waits for the disk: order the report meanwhile.
        let (applied, ()) = crate::par::join(|| write::apply(files, o.force), || report.sort());
        applied?;
        write_stderr(&report)?;
        let code = u8::from(report.needs_decision());
        // The process ends right after; ~40,000 findings need no freeing.
        std::mem::forget(report);
        return Ok(code);
    }
    report.sort();
    let diff = if o.dry_run {
        Some(write::dry_run(files)?)
    } else {
        write::apply(files, o.force)?;
        None
    };
    if o.json {
        let mut v: serde_json::Value = serde_json::from_str(&report.to_json())?;
        if let Some(d) = &diff {
            v["diff"] = serde_json::Value::String(d.clone());
        }
        v["files"] = files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if let Some(d) = &diff {
            print!("{d}");
        }
        write_stderr(&report)?;
    }
    Ok(u8::from(report.needs_decision()))
}

/// The text report on stderr, coloured only on a terminal, in 64 KiB
/// pieces: stderr is unbuffered, and a 100,000-line aliases file has
/// ~40,000 findings (written piece by piece through the colour stripper
/// it took ~480,000 `write(2)`s).
fn write_stderr(report: &Report) -> std::io::Result<()> {
    let stderr = std::io::stderr();
    let colour = anstream::AutoStream::choice(&stderr) != anstream::ColorChoice::Never;
    report.write_rendered(colour, &mut stderr.lock())
}
