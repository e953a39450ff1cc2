//! qmail-local without the exec: the delivery qmail-lspawn runs on its own
//! thread in unprivileged mode, where no uid switch separates the spawn
//! from the recipient.
//!
//! It is the same code as the `qmail-local` binary ([`super::deliver`]),
//! with the same report: everything qmail-local would have printed (its
//! notes, the output of `|program` lines, then `did ...` or the error
//! text), mapped through qmail-lspawn's exit-code table. The output of
//! programs is collected in a memory file, so a chatty program can never
//! block on a full pipe. A panic in the delivery code is reported as
//! `qmail-local crashed.` instead of taking qmail-lspawn down.
//!
//! Why: a fork and exec per delivery costs about 0.7 ms of CPU here, a
//! large share of the per-message budget. Production mode keeps qmail's
//! separate qmail-local process per delivery, running as the recipient.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::lspawn::report_for;
use super::{deliver as run_delivery, Params};
use crate::home::Home;
use crate::spawn::protocol::{cut_output, Report};

fn memfile() -> Option<File> {
    nix::sys::memfd::memfd_create(
        c"qmail-local-output",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )
    .ok()
    .map(File::from)
}

/// Delivers `msg` with qmail-local's arguments `args` (starting with `--`).
pub fn deliver(home: &Home, args: Vec<Vec<u8>>, msg: &File) -> Report {
    let args: Vec<OsString> = args.into_iter().map(OsString::from_vec).collect();
    let mut params = match Params::parse(args, home.root.clone()) {
        Ok(p) => p,
        Err(e) => return exit_report(e.exit_code(), format!("{e}\n").into_bytes()),
    };
    let Some(out) = memfile() else {
        return Report::deferral("qmail-spawn unable to create pipe. (#4.3.0)\n");
    };
    let Ok(prog_out) = out.try_clone() else {
        return Report::deferral("qmail-spawn unable to create pipe. (#4.3.0)\n");
    };
    params.program_output = Some(prog_out);
    params.maildir_thread = true;
    let mut notes = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_delivery(&params, msg, &mut notes)
    }));
    drop(params);
    let mut text = notes;
    let mut out = out;
    if out.seek(SeekFrom::Start(0)).is_ok() {
        let _ = out.read_to_end(&mut text);
    }
    match result {
        Err(_) => Report::deferral("qmail-local crashed.\n"),
        Ok(Ok(outcome)) => {
            text.extend_from_slice(&outcome.did_text());
            exit_report(0, text)
        }
        Ok(Err(e)) => {
            let t = e.to_string();
            if !t.is_empty() {
                text.extend_from_slice(t.as_bytes());
                text.push(b'\n');
            }
            exit_report(e.exit_code(), text)
        }
    }
}

fn exit_report(code: i32, output: Vec<u8>) -> Report {
    report_for(ExitStatus::from_raw((code & 0xff) << 8), cut_output(output))
}
