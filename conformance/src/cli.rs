//! The `conformance` command line (clap derive: each flag declared once).
//! The binary only calls [`main`].

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::outcome::{Deviations, Status};
use crate::report;
use crate::runner::{self, Shard};
use crate::scenario::{load, Profile, Scenario};
use crate::target::container::{ContainerTarget, Flavour};
use crate::target::reference::Reference;
use crate::target::remote::Remote;
use crate::target::Target;

#[derive(Parser)]
#[command(
    name = "conformance",
    version,
    about = "Black-box SMTP/MTA conformance suite"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Select {
    /// Scenario files or directories (default: ./scenarios, else the
    /// workspace's scenarios/).
    paths: Vec<PathBuf>,
    /// Only scenarios whose id, title or a tag matches this regex.
    #[arg(long)]
    filter: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run scenarios and report.
    Run {
        #[command(flatten)]
        select: Select,
        /// `reference` (the workspace's MTA in a temporary root),
        /// `container:reference|postfix|opensmtpd` (an image built by
        /// `ci/images/`, one container per scenario) or `remote:HOST:PORT`
        /// (protocol checks only).
        #[arg(long, default_value = "reference")]
        target: String,
        /// Expectation profile: byte-exact netqmail, or what the RFCs allow.
        #[arg(long, value_enum, default_value_t = Profile::Qmail)]
        profile: Profile,
        /// Parallel workers (default: the number of CPUs).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Run only shard i of n (`--shard 1/4`).
        #[arg(long)]
        shard: Option<Shard>,
        /// Where the reference target finds `mta` and its programs.
        #[arg(long)]
        mta_bin: Option<PathBuf>,
        /// The target's deviation list (default: targets/<target>.yaml
        /// next to the scenarios).
        #[arg(long)]
        deviations: Option<PathBuf>,
        /// The container target's image (NAME:TAG; default: the one
        /// `ci/images/` builds for it).
        #[arg(long)]
        image: Option<String>,
        /// The remote target's own name (`${me}`; default: from its greeting).
        #[arg(long)]
        me: Option<String>,
        /// Where junit.xml and report.json go.
        #[arg(long, default_value = "target/conformance")]
        out: PathBuf,
    },
    /// List scenarios: id, requirements, title.
    List {
        #[command(flatten)]
        select: Select,
    },
    /// Print one scenario's file.
    Show { id: String, paths: Vec<PathBuf> },
    /// Remove containers that runs which are gone left behind (every
    /// container the suite starts carries the label org.mta.conformance=1).
    Cleanup,
    /// Print the pass/fail/deviation/skip table of several runs, as
    /// Markdown, from `TARGET=path/to/report.json` arguments.
    Summary {
        #[arg(required = true)]
        reports: Vec<String>,
    },
    /// Write a new scenario from a live session: client lines from stdin
    /// (typed or scripted), the target's replies become the expectations.
    Record {
        /// The new scenario's id.
        id: String,
        /// `reference` (a fresh root, default setup) or `remote:HOST:PORT`.
        #[arg(long, default_value = "reference")]
        target: String,
        /// Where the YAML goes (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        mta_bin: Option<PathBuf>,
        #[arg(long)]
        me: Option<String>,
    },
}

/// One Markdown table row per `TARGET=report.json`.
fn summary_table(reports: &[String]) -> anyhow::Result<String> {
    let mut out = String::from(
        "| target | pass | fail | deviation | skip | total |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let Some((name, file)) = r.split_once('=') else {
            bail!("{r:?}: expected TARGET=path/to/report.json");
        };
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{file}: not JSON"))?;
        let n = |k: &str| v["counts"][k].as_u64().unwrap_or(0);
        let (p, f, d, s) = (n("pass"), n("fail"), n("deviation"), n("skip"));
        out.push_str(&format!(
            "| {name} | {p} | {f} | {d} | {s} | {} |\n",
            p + f + d + s
        ));
    }
    Ok(out)
}

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if !paths.is_empty() {
        return paths;
    }
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        return vec![here];
    }
    vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")]
}

fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<Scenario>> {
    load::load_all(paths).map_err(|errs| {
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("{} scenario error(s):\n{}", errs.len(), text.join("\n"))
    })
}

fn filter(f: &Option<String>) -> anyhow::Result<Option<regex::Regex>> {
    f.as_deref()
        .map(regex::Regex::new)
        .transpose()
        .context("--filter is not a valid regex")
}

/// `targets/<name>.yaml` in a scenario path or one of its ancestors.
fn find_deviations(paths: &[PathBuf], name: &str) -> Option<PathBuf> {
    for p in paths {
        let abs = std::fs::canonicalize(p).ok()?;
        for dir in abs.ancestors() {
            let f = dir.join("targets").join(format!("{name}.yaml"));
            if f.is_file() {
                return Some(f);
            }
        }
    }
    None
}

fn make_target(
    spec: &str,
    mta_bin: Option<PathBuf>,
    me: Option<String>,
    image: Option<String>,
) -> anyhow::Result<Box<dyn Target>> {
    if spec == "reference" {
        return Ok(Box::new(Reference::new(mta_bin)?));
    }
    if let Some(name) = spec.strip_prefix("container:") {
        let Some(flavour) = Flavour::parse(name) else {
            bail!("unknown container target {name:?} (use reference, postfix or opensmtpd)");
        };
        return Ok(Box::new(ContainerTarget::new(flavour, image)?));
    }
    if let Some(hp) = spec.strip_prefix("remote:") {
        return Ok(Box::new(Remote::new(hp, me, None)?));
    }
    bail!("unknown target {spec:?} (use `reference`, `container:NAME` or `remote:HOST:PORT`)")
}

/// Runs the CLI; returns the process exit code (0 all passed, 1 a
/// scenario failed, 2 the run itself could not happen).
pub fn main() -> u8 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("conformance: {e:#}");
            2
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::List { select } => {
            let paths = default_paths(select.paths);
            let all = load(&paths)?;
            for s in runner::select(&all, filter(&select.filter)?.as_ref(), None) {
                let req: Vec<String> = s.requirements().iter().map(|r| r.to_string()).collect();
                println!("{:<40} {:<28} {}", s.id, req.join(","), s.title);
            }
            Ok(0)
        }
        Cmd::Cleanup => {
            let n = crate::target::container::docker::remove_labelled(None)?;
            println!("conformance: removed {n} leftover container(s)");
            Ok(0)
        }
        Cmd::Summary { reports } => {
            print!("{}", summary_table(&reports)?);
            Ok(0)
        }
        Cmd::Record {
            id,
            target,
            out,
            mta_bin,
            me,
        } => {
            let name = target.clone();
            let target = make_target(&target, mta_bin, me, None)?;
            let sink = crate::sink::Sink::start()?;
            let inst = target
                .start(&crate::scenario::Setup::default(), sink.addr())
                .map_err(|e| anyhow::anyhow!("starting {name}: {e}"))?;
            let me = inst.vars().me.clone();
            let stdin = std::io::stdin();
            let steps = crate::record::session(inst.smtp_addr(), &mut stdin.lock(), &me)?;
            drop(inst);
            let yaml = crate::record::to_yaml(&id, &name, &steps)?;
            match out {
                Some(f) => {
                    std::fs::write(&f, yaml).with_context(|| format!("writing {}", f.display()))?;
                    eprintln!("wrote {}", f.display());
                }
                None => print!("{yaml}"),
            }
            Ok(0)
        }
        Cmd::Show { id, paths } => {
            let all = load(&default_paths(paths))?;
            let Some(s) = all.iter().find(|s| s.id == id) else {
                bail!("no scenario with id {id:?}");
            };
            println!("# {}", s.file.display());
            print!("{}", std::fs::read_to_string(&s.file)?);
            Ok(0)
        }
        Cmd::Run {
            select,
            target,
            profile,
            jobs,
            shard,
            mta_bin,
            deviations,
            me,
            image,
            out,
        } => {
            let paths = default_paths(select.paths);
            let all = load(&paths)?;
            let chosen = runner::select(&all, filter(&select.filter)?.as_ref(), shard);
            let target = make_target(&target, mta_bin, me, image)?;
            let dev_file = deviations.or_else(|| find_deviations(&paths, target.name()));
            let devs = match &dev_file {
                Some(f) => Deviations::load(f).map_err(|e| anyhow::anyhow!("{e}"))?,
                None => Deviations::default(),
            };
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let bar = if std::io::stderr().is_terminal() {
                let b = indicatif::ProgressBar::new(chosen.len() as u64);
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {msg}")
                {
                    b.set_style(style);
                }
                b
            } else {
                indicatif::ProgressBar::hidden()
            };
            let started = Instant::now();
            let results = runner::run(&chosen, target.as_ref(), &devs, profile, jobs, &|r| {
                if r.outcome.status == Status::Fail {
                    bar.println(format!("FAIL {}", r.id));
                }
                bar.set_message(r.id.clone());
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            let elapsed = started.elapsed();
            print!("{}", report::failures(&results));
            print!("{}", report::summary(&results, elapsed));
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            std::fs::write(out.join("junit.xml"), report::junit(&results, elapsed)?)?;
            std::fs::write(out.join("report.json"), report::json(&results, elapsed)?)?;
            std::fs::write(out.join("crash.txt"), report::crash(&results))?;
            println!(
                "reports: {}, {}, {}",
                out.join("junit.xml").display(),
                out.join("report.json").display(),
                out.join("crash.txt").display()
            );
            Ok(u8::from(report::counts(&results).fail > 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_table_counts_each_report() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("report.json");
        std::fs::write(
            &f,
            r#"{"counts": {"pass": 5, "fail": 1, "skip": 2, "deviation": 3}, "results": []}"#,
        )
        .unwrap();
        let t = summary_table(&[format!("postfix={}", f.display())]).unwrap();
        assert_eq!(
            t,
            "| target | pass | fail | deviation | skip | total |\n|---|---:|---:|---:|---:|---:|\n| postfix | 5 | 1 | 3 | 2 | 11 |\n"
        );
        assert!(summary_table(&["no-equals".into()]).is_err());
    }
}
