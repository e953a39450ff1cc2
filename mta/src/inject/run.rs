//! qmail-inject's main (spec §8.1): controls, options, command-line
//! recipients, the header, then either print the message (`-n`) or stream
//! it into qmail-queue (or `$QMAILQUEUE`, spec §2.3) with the envelope.
//!
//! The header is held in memory (the added fields go in front of it); the
//! body is streamed, so a message of any size needs constant memory.

use std::io::{BufRead, Write};

use super::address::Rewriter;
use super::env::{InjectEnv, Vars};
use super::fields::read_header;
use super::header::{Composer, Stamp};
use super::options::{self, Recipients};
use super::InjectError;
use crate::control::{read_list, ControlDir};
use crate::home::Home;
use crate::queue::client::Injection;

/// Everything qmail-inject needs besides its input and output.
#[derive(Debug, Clone)]
pub struct Inject<'a> {
    /// Arguments without argv\[0\].
    pub args: &'a [Vec<u8>],
    pub vars: &'a Vars,
    pub home: &'a Home,
    /// Seconds since the epoch at start (Date, Message-ID, `m` VERP).
    pub now: i64,
    /// The pid in Message-ID and the `m` VERP.
    pub pid: u32,
}

impl<'a> Inject<'a> {
    /// Now, and this process's pid.
    pub fn new(args: &'a [Vec<u8>], vars: &'a Vars, home: &'a Home) -> Inject<'a> {
        Inject {
            args,
            vars,
            home,
            now: crate::date::now(),
            pid: std::process::id(),
        }
    }
}

/// The message as it will be queued or printed, before the body.
struct Prepared {
    sender: Vec<u8>,
    recipients: Vec<Vec<u8>>,
    /// Header (added and kept fields) and the start of the body.
    head: Vec<u8>,
    queue: bool,
}

fn prepare(inv: &Inject<'_>, input: &mut dyn BufRead) -> Result<Prepared, InjectError> {
    let env = InjectEnv::from_vars(inv.vars);
    // QMAILMFTFILE is read first (relative to the current directory).
    let lists = match &env.mftfile {
        Some(p) => read_list(p)?,
        None => None,
    };
    let controls = ControlDir::new(inv.home.control());
    let rw = Rewriter::load(&controls, &env)?;
    let idhost = match &env.idhost {
        Some(v) => v.clone(),
        None => controls.line_or_me("idhost", "idhost")?.into_bytes(),
    };
    let opts = options::inject(inv.args)?;
    let mut sender = None;
    for f in &opts.senders {
        sender = Some(rw.sender_arg(f)?);
    }
    let mut recipients = Vec::new();
    if opts.recipients != Recipients::Header {
        for a in &opts.args {
            recipients.push(rw.recipient_arg(a)?);
        }
    }
    let header = read_header(&mut *input).map_err(InjectError::Read)?;
    let mut c = Composer::new(&rw, &env, sender);
    for f in header.fields {
        c.field(f)?;
    }
    let stamp = Stamp {
        now: inv.now,
        pid: inv.pid,
        idhost,
    };
    let done = c.finish(&stamp, lists.as_deref())?;
    if opts.recipients != Recipients::Args {
        recipients.extend(done.header_recipients);
    }
    let mut head = done.header;
    head.extend_from_slice(&header.body_start);
    Ok(Prepared {
        sender: done.sender,
        recipients,
        head,
        queue: opts.queue,
    })
}

/// Why copying the body stopped.
enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies the rest of the input; a last line without a newline gets one.
fn copy_body(r: &mut dyn BufRead, w: &mut dyn Write) -> Result<(), CopyError> {
    let mut last = b'\n';
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        if buf.is_empty() {
            break;
        }
        last = buf[buf.len() - 1];
        w.write_all(buf).map_err(CopyError::Write)?;
        let n = buf.len();
        r.consume(n);
    }
    if last != b'\n' {
        w.write_all(b"\n").map_err(CopyError::Write)?;
    }
    Ok(())
}

/// Runs qmail-inject. On success the message was queued (returns the qp)
/// or printed to `output` (returns `None`).
pub fn run(
    inv: &Inject<'_>,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<Option<u32>, InjectError> {
    let p = prepare(inv, input)?;
    if !p.queue {
        let mut rp = b"Return-Path: <".to_vec();
        rp.extend_from_slice(&crate::quote::quote(&p.sender));
        rp.extend_from_slice(b">\n");
        let res = output
            .write_all(&rp)
            .and_then(|()| output.write_all(&p.head))
            .map_err(InjectError::Write);
        res?;
        match copy_body(input, output) {
            Ok(()) => {}
            Err(CopyError::Read(e)) => return Err(InjectError::Read(e)),
            Err(CopyError::Write(e)) => return Err(InjectError::Write(e)),
        }
        output.flush().map_err(InjectError::Write)?;
        return Ok(None);
    }
    let mut inj = Injection::start(&inv.home.root, None).map_err(|_| InjectError::QueueStart)?;
    // A write error is remembered by the Injection and reported by
    // finish() as qmail-queue's exit status says.
    let copied = match inj.write_all(&p.head) {
        Ok(()) => copy_body(input, &mut inj),
        Err(e) => Err(CopyError::Write(e)),
    };
    if let Err(CopyError::Read(e)) = copied {
        // Never queue a truncated message.
        inj.abort();
        return Err(InjectError::Read(e));
    }
    inj.finish(&p.sender, &p.recipients)
        .map(Some)
        .map_err(InjectError::Queue)
}

/// qmail-inject's process: runs on stdin/stdout, prints a fatal error to
/// stderr, returns the exit code.
pub fn main(args: &[Vec<u8>], vars: &Vars, home: &Home) -> i32 {
    let inv = Inject::new(args, vars, home);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = stdout.lock();
    match run(&inv, &mut input, &mut output) {
        Ok(_) => 0,
        Err(e) => {
            let _ = std::io::stderr().write_all(&e.stderr());
            e.exit_code()
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
