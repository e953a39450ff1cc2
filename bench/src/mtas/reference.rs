//! The reference MTA: `mta init --unprivileged --root DIR/mta`, then
//! `control/smtplisten` = `127.0.0.1:PORT` (the supervisor runs the
//! built-in listener there), `control/concurrencyincoming`, and for the
//! relay workload `control/smtproutes` = `:127.0.0.1:SINK` with the relay
//! domain in `control/rcpthosts`. `mta start --quiet` roots the tree.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{
    io_err, log_file, write, Env, Injector, Instance, Kind, Setup, StartError, RELAY_DOMAIN,
};

pub fn start(env: &Env, setup: &Setup, dir: &Path) -> Result<Instance, StartError> {
    let mta = env.bin.join("mta");
    let root = dir.join("mta");
    let st = Command::new(&mta)
        .args(["init", "--unprivileged", "--root"])
        .arg(&root)
        .stdout(Stdio::null())
        .status()
        .map_err(io_err(format!("run {}", mta.display())))?;
    if !st.success() {
        return Err(StartError::Unavailable(
            "reference",
            format!("mta init failed: {st}"),
        ));
    }
    let c = root.join("control");
    write(
        &c.join("smtplisten"),
        &format!("127.0.0.1:{}\n", setup.port),
    )?;
    write(
        &c.join("concurrencyincoming"),
        &format!("{}\n", setup.conns.max(40)),
    )?;
    if let Some(sink) = setup.sink {
        let mut hosts = std::fs::read_to_string(c.join("rcpthosts")).unwrap_or_default();
        hosts.push_str(RELAY_DOMAIN);
        hosts.push('\n');
        write(&c.join("rcpthosts"), &hosts)?;
        write(&c.join("smtproutes"), &format!(":127.0.0.1:{sink}\n"))?;
    }
    let log = log_file(dir)?;
    let child = Command::new(&mta)
        .args(["start", "--unprivileged", "--quiet", "--root"])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io_err("log"))?)
        .stderr(log)
        .spawn()
        .map_err(io_err(format!("run {} start", mta.display())))?;
    Ok(Instance {
        kind: Kind::Reference,
        child,
        port: setup.port,
        maildir_new: root.join("home/user/Maildir/new"),
        dir: dir.to_path_buf(),
        injector: Some(Injector {
            qmail_queue: true,
            program: root.join("bin/qmail-queue"),
            env: vec![
                ("QMAILHOME".into(), root.display().to_string()),
                ("MTA_MODE".into(), "unprivileged".into()),
            ],
        }),
    })
}
