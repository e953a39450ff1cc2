//! The `mta-bench` command line (ci/bench passes the paths), then the run:
//! machine facts, the disk's limit, the workloads, the report files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::mtas::{Env, Kind};
use crate::report::{self, DiskLimit, Machine, Report};
use crate::workloads::{self, Plan};

#[derive(Parser, Debug)]
#[command(
    name = "mta-bench",
    about = "The reference MTA against Postfix, Exim and OpenSMTPD"
)]
pub struct Cli {
    /// The prefix the Debian packages were unpacked into.
    #[arg(long)]
    pub peers: PathBuf,
    /// LD_LIBRARY_PATH for the unpacked programs.
    #[arg(long)]
    pub lib_path: String,
    /// The release build directory (mta, migrate).
    #[arg(long)]
    pub bin: PathBuf,
    /// Scratch directory on the disk under test (default: target/bench-work).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Where bench.json and bench.svg go (default: target/bench-out).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// One short run per MTA, to check that everything works.
    #[arg(long)]
    pub quick: bool,
    /// Runs per MTA and workload (default 3; 1 with --quick).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Messages per SMTP run (default 20000; 1000 with --quick).
    #[arg(long)]
    pub messages: Option<usize>,
    /// Messages per SMTP run for OpenSMTPD (default 500; 100 with --quick).
    #[arg(long)]
    pub slow_messages: Option<usize>,
    /// Messages per SMTP run for Exim (default 2000; 500 with --quick):
    /// at about 80 messages/s here, 20,000 would take four minutes a run.
    #[arg(long)]
    pub exim_messages: Option<usize>,
    /// Idle connections for the memory workload (default 5000; 500 with --quick).
    #[arg(long)]
    pub conns: Option<usize>,
    /// Only these workloads (repeatable): smtp-maildir-1k, smtp-maildir-10k,
    /// smtp-relay-1k, inject-maildir-1k, idle-conns, aliases-100k.
    #[arg(long)]
    pub only: Vec<String>,
    /// Only these MTAs (repeatable): reference, postfix, exim, opensmtpd,
    /// opensmtpd-backlog1024.
    #[arg(long)]
    pub mta: Vec<String>,
    /// The LD_PRELOAD shim raising listen() backlogs (ci/bench builds it).
    #[arg(long)]
    pub backlog_shim: Option<PathBuf>,
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn machine(work: &std::path::Path, command: String) -> Machine {
    let mem_kib: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    // The mount holding the work directory: the longest matching prefix.
    let mounts = read("/proc/mounts");
    let disk = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && work.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} ({}) on {}", f[0], f[2], f[1])))
        })
        .max()
        .map(|(_, d)| d)
        .unwrap_or_else(|| "unknown".into());
    let size = nix::sys::statvfs::statvfs(work)
        .map(|s| s.blocks() as f64 * s.fragment_size() as f64 / (1u64 << 30) as f64)
        .unwrap_or(0.0);
    Machine {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        mem_gib: mem_kib / (1u64 << 20) as f64,
        disk: format!("{disk}, {size:.0} GiB"),
        kernel: format!("Linux {}", read("/proc/sys/kernel/osrelease").trim()),
        load_before: read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_after: String::new(),
        command,
    }
}

fn kinds(names: &[String]) -> anyhow::Result<Vec<Kind>> {
    if names.is_empty() {
        return Ok(Kind::all().to_vec());
    }
    names
        .iter()
        .map(|n| {
            Kind::all()
                .into_iter()
                .find(|k| k.name() == n)
                .ok_or_else(|| anyhow::anyhow!("unknown MTA {n:?} (reference, postfix, exim, opensmtpd, opensmtpd-backlog1024)"))
        })
        .collect()
}

pub fn run(cli: Cli, command: String) -> anyhow::Result<Report> {
    let work = cli
        .work
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench-work"));
    // A previous bench's leftovers are set aside and deleted at the end:
    // deleted now, they would bill this bench's runs (see `crate::scratch`).
    let old = crate::scratch::set_aside(&work);
    std::fs::create_dir_all(&work)?;
    let work = work.canonicalize()?;
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench-out"));
    std::fs::create_dir_all(&out)?;
    crate::load::raise_fd_limit();
    let q = cli.quick;
    let plan = Plan {
        runs: cli.runs.unwrap_or(if q { 1 } else { 3 }).max(1),
        messages: cli.messages.unwrap_or(if q { 1000 } else { 20_000 }),
        slow_messages: cli.slow_messages.unwrap_or(if q { 100 } else { 500 }),
        exim_messages: cli.exim_messages.unwrap_or(if q { 500 } else { 2000 }),
        sessions: 20,
        inject_messages: if q { 500 } else { 5000 },
        injectors: 20,
        conns: cli.conns.unwrap_or(if q { 500 } else { 5000 }),
        kinds: kinds(&cli.mta)?,
        only: cli.only.clone(),
    };
    let env = Env {
        peers: cli.peers.clone(),
        lib_path: cli.lib_path.clone(),
        bin: cli.bin.clone(),
        work: work.clone(),
        backlog_shim: cli.backlog_shim.clone(),
    };
    let mut machine = machine(&work, command);
    eprintln!("mta-bench: disk limit");
    let per = if q { 200 } else { 2000 };
    let d1 = crate::disk::durable_ops_per_s(&workloads::disk_dir(&env), 1, per)?;
    let d8 = crate::disk::durable_ops_per_s(&workloads::disk_dir(&env), 8, per / 4)?;
    eprintln!("mta-bench: durable operations per message of the reference MTA (strace)");
    let fsyncs = match workloads::reference_fsyncs_per_msg(&env, &plan, 200) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mta-bench: could not count the reference MTA's fsyncs: {e:#}");
            0.0
        }
    };
    let raw = workloads::run_all(&env, &plan);
    machine.load_after = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let summaries: Vec<_> = raw.iter().map(report::summarize).collect();
    let ref_e2e = summaries
        .iter()
        .find(|w| w.name == "smtp-maildir-1k")
        .and_then(|w| w.summaries.get("reference"))
        .and_then(|s| s.get("e2e_per_s"))
        .map(|s| s.median);
    let disk = DiskLimit {
        ops_per_s_1: d1,
        ops_per_s_8: d8,
        reference_fsyncs_per_msg: fsyncs,
        reference_fraction_of_8: ref_e2e
            .filter(|_| fsyncs > 0.0 && d8 > 0.0)
            .map(|e| e * fsyncs / d8),
    };
    let report = Report {
        machine,
        plan,
        disk,
        bars: report::bars(&summaries),
        workloads: summaries,
        raw,
    };
    std::fs::write(
        out.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(out.join("bench.svg"), report::svg(&report))?;
    std::fs::write(out.join("bench.md"), report::table(&report))?;
    let _ = std::fs::remove_dir_all(&work);
    if let Some(old) = old {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(report)
}

/// Parses the arguments and runs; the binary's whole `main`.
pub fn main() -> ExitCode {
    let command = std::env::var("MTA_BENCH_COMMAND")
        .unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" "));
    let cli = Cli::parse();
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench-out"));
    match run(cli, command) {
        Ok(r) => {
            println!("{}", report::table(&r));
            println!(
                "Written: {0}/bench.json, {0}/bench.svg, {0}/bench.md",
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mta-bench: {e:#}");
            ExitCode::from(111)
        }
    }
}
