//! mta-listen: the built-in listener (tcpserver + qmail-smtpd in one
//! process). See `mta::listener`.
//!
//! `mta-listen [-c LIMIT] [-i PER_IP] [-x RULES.cdb [-X]] [-l NAME] smtp|qmtp|qmqp ADDR:PORT...`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mta::listener::{privileges, server};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Service {
    /// qmail-smtpd's protocol core on a task per connection.
    Smtp,
    /// `ROOT/bin/qmail-qmtpd` per connection (as tcpserver would).
    Qmtp,
    /// `ROOT/bin/qmail-qmqpd` per connection (as tcpserver would).
    Qmqp,
}

/// Accept SMTP connections and run a qmail-smtpd session on each.
#[derive(Parser)]
#[command(name = "mta-listen")]
struct Args {
    /// Connections served at once; further ones wait (tcpserver -c).
    #[arg(short = 'c', default_value_t = 40)]
    limit: usize,
    /// Connections at once from one address; further ones are refused
    /// (0 = no limit).
    #[arg(short = 'i', long = "per-ip", default_value_t = 0)]
    per_ip: usize,
    /// Rules compiled by mta-tcprules or tcprules (tcpserver -x).
    #[arg(short = 'x')]
    rules: Option<PathBuf>,
    /// A missing rules file allows every connection (tcpserver -X).
    #[arg(short = 'X')]
    allow_no_rules: bool,
    /// TCPLOCALHOST (tcpserver -l).
    #[arg(short = 'l')]
    local_name: Option<String>,
    /// Print each bound address on stdout (for port 0).
    #[arg(long)]
    print_addrs: bool,
    /// The service: smtp, qmtp or qmqp.
    service: Service,
    /// ip:port to listen on (port 0: any free port).
    #[arg(required = true)]
    addrs: Vec<SocketAddr>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let home = mta::home::Home::from_env();
    raise_fd_limit();
    let listeners = match server::bind(&args.addrs) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mta-listen: fatal: {e}");
            return ExitCode::from(111);
        }
    };
    if let Err(e) = privileges::drop_privileges(&home) {
        eprintln!("mta-listen: fatal: {e}");
        return ExitCode::from(111);
    }
    if args.print_addrs {
        for l in &listeners {
            if let Ok(a) = l.local_addr() {
                println!("{a}");
            }
        }
    }
    let service = match args.service {
        Service::Smtp => server::Service::Smtp,
        Service::Qmtp => server::Service::Program(home.bin().join("qmail-qmtpd")),
        Service::Qmqp => server::Service::Program(home.bin().join("qmail-qmqpd")),
    };
    let config = server::Config {
        service,
        root: home.root.clone(),
        rules: args.rules,
        allow_no_rules: args.allow_no_rules,
        limit: args.limit,
        per_ip: args.per_ip,
        local_name: args.local_name,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mta-listen: fatal: unable to start the runtime: {e}");
            return ExitCode::from(111);
        }
    };
    match rt.block_on(server::serve(listeners, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mta-listen: fatal: {e}");
            ExitCode::from(111)
        }
    }
}

/// Thousands of connections need thousands of descriptors: lift the soft
/// limit to the hard one.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
