//! A fresh root for the MTA, with the built-in default configuration.
//!
//! Unprivileged mode (the README's main command and the tests): one user
//! owns everything under the root. The default configuration is:
//!
//! | file | content |
//! |---|---|
//! | `control/me` | `localhost` |
//! | `control/locals`, `control/rcpthosts` | `localhost`, `localhost.localdomain` |
//! | `control/defaultdomain` | `localdomain` (so qmail-inject turns `user@localhost` into `user@localhost.localdomain`) |
//! | `control/smtplisten` | `127.0.0.1:2525` (the supervisor runs `mta-listen` there) |
//! | `users/assign` | the default user `user` (home `ROOT/home/user`, with extensions `user-*`), and `+:` for everything else to the alias user |
//! | `alias/.qmail-postmaster`, `.qmail-mailer-daemon`, `.qmail-root` | `&user` |
//! | default delivery | `./Maildir/`, so mail for `user@localhost` lands in `ROOT/home/user/Maildir/new/` |
//! | `bin/` | links to every program of this build |
//!
//! Production mode (run as root) copies the programs into `ROOT/bin` with
//! qmail's owners and modes (only `qmail-queue` is setuid), creates qmail's
//! directories with the owners and modes of spec §1.1, and leaves the
//! accounts, `control/me` and `users/assign` to the admin.

use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::home::{Accounts, Home, Mode};
use crate::queue::layout::Layout;

/// The default local user of the built-in configuration.
pub const DEFAULT_USER: &str = "user";
/// The default delivery of the built-in configuration.
pub const DEFAULT_DELIVERY: &str = "./Maildir/";

fn mkdir(p: &Path, mode: u32) -> io::Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(p)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

fn write_new(p: &Path, content: &str, mode: u32) -> io::Result<()> {
    if p.exists() {
        return Ok(());
    }
    std::fs::write(p, content)?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// The programs of this build that belong in `ROOT/bin`: qmail's names,
/// our `mta` and `mta-*` tools (mta-listen, mta-tcprules,
/// mta-checkpassword, mta-passwd, ...), the sendmail wrapper, and the
/// helpers for `.qmail` lines. Names with a dot (cargo's `.d` files) are
/// not programs.
pub fn is_program(n: &str) -> bool {
    !n.contains('.') && is_program_name(n)
}

fn is_program_name(n: &str) -> bool {
    n.starts_with("qmail-")
        || n == "mta"
        || n.starts_with("mta-")
        || matches!(
            n,
            "sendmail"
                | "mailq"
                | "preline"
                | "bouncesaying"
                | "condredirect"
                | "except"
                | "forward"
                | "maildirmake"
        )
}

/// The directory holding this build's programs (next to the running one).
pub fn programs_dir() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| io::Error::other("cannot locate the programs"))
}

/// Links every program of `from` (files named `qmail-*`, `mta`, `sendmail`,
/// ...) into `bin`, replacing stale links.
pub fn link_programs(from: &Path, bin: &Path) -> io::Result<()> {
    mkdir(bin, 0o755)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let name = e.file_name();
        let n = name.to_string_lossy();
        if !is_program(&n) || !e.path().is_file() {
            continue;
        }
        let dst = bin.join(&name);
        if std::fs::read_link(&dst).is_ok_and(|t| t == e.path()) {
            continue;
        }
        // Replaced atomically (a new link renamed over the old one): a
        // restart must not leave a moment without `bin/qmail-queue`, or
        // qmail-smtpd answers `451 qqt failure` to mail arriving then.
        let tmp = bin.join(format!(".{n}.link"));
        let _ = std::fs::remove_file(&tmp);
        symlink(e.path(), &tmp)?;
        std::fs::rename(&tmp, &dst)?;
    }
    Ok(())
}

/// The programs the MTA cannot start without.
pub const REQUIRED: &[&str] = &[
    "qmail-start",
    "qmail-send",
    "qmail-lspawn",
    "qmail-rspawn",
    "qmail-clean",
    "qmail-queue",
    "qmail-local",
    "qmail-remote",
    "qmail-newu",
];

/// Fails with a clear message when a required program was not built.
pub fn check_programs(dir: &Path) -> io::Result<()> {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|p| !dir.join(p).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{} not found next to this program in {} (build them all with `cargo build --release -p mta`)",
        missing.join(", "),
        dir.display()
    )))
}

/// Creates (or completes) a root. Idempotent: existing files are kept.
pub fn init(home: &Home) -> io::Result<()> {
    let root = &home.root;
    let programs = programs_dir()?;
    check_programs(&programs)?;
    mkdir(root, 0o755)?;
    let acct = Accounts::resolve(home).map_err(io::Error::other)?;
    match home.mode {
        Mode::Unprivileged => link_programs(&programs, &home.bin())?,
        Mode::Production => install_programs(&programs, &home.bin(), &acct)?,
    }
    mkdir(&home.control(), 0o755)?;
    mkdir(&root.join("users"), 0o755)?;
    mkdir(&root.join("log"), 0o755)?;
    mkdir(&root.join("run"), 0o755)?;
    Layout::new(home.queue()).create()?;
    match home.mode {
        Mode::Unprivileged => init_unprivileged(home, &acct),
        Mode::Production => init_production(home, &acct),
    }
}

fn init_unprivileged(home: &Home, acct: &Accounts) -> io::Result<()> {
    let root = &home.root;
    write_new(
        &root.join(crate::home::UNPRIVILEGED_MARKER),
        "This installation runs in unprivileged mode (see README).\n",
        0o644,
    )?;
    let c = home.control();
    write_new(&c.join("me"), "localhost\n", 0o644)?;
    // qmail-inject appends defaultdomain to dotless hosts (spec §8.3), so
    // `user@localhost` injected locally becomes `user@localhost.localdomain`,
    // which must be local too.
    for f in ["locals", "rcpthosts"] {
        write_new(&c.join(f), "localhost\nlocalhost.localdomain\n", 0o644)?;
    }
    write_new(&c.join("defaultdomain"), "localdomain\n", 0o644)?;
    // The built-in listener (see start::supervise), on a port an
    // unprivileged user may bind.
    write_new(&c.join("smtplisten"), "127.0.0.1:2525\n", 0o644)?;
    let alias = &acct.alias.home;
    mkdir(alias, 0o755)?;
    for f in [".qmail-postmaster", ".qmail-mailer-daemon", ".qmail-root"] {
        write_new(&alias.join(f), &format!("&{DEFAULT_USER}\n"), 0o644)?;
    }
    let uhome = root.join("home").join(DEFAULT_USER);
    mkdir(&root.join("home"), 0o755)?;
    mkdir(&uhome, 0o700)?;
    for d in ["tmp", "new", "cur"] {
        mkdir(&uhome.join("Maildir").join(d), 0o700)?;
    }
    let (uid, gid) = (acct.alias.uid, acct.alias.gid);
    let assign = format!(
        "={u}:{u}:{uid}:{gid}:{h}:::\n+{u}-:{u}:{uid}:{gid}:{h}:-::\n+:alias:{uid}:{gid}:{a}:-::\n.\n",
        u = DEFAULT_USER,
        h = uhome.display(),
        a = alias.display(),
    );
    write_new(&root.join("users").join("assign"), &assign, 0o644)?;
    compile_users(home)
}

/// Runs `bin/qmail-newu`, as an admin would after editing users/assign.
pub fn compile_users(home: &Home) -> io::Result<()> {
    let st = std::process::Command::new(home.bin().join("qmail-newu"))
        .env("QMAILHOME", &home.root)
        .env(
            "MTA_MODE",
            if home.unprivileged() {
                "unprivileged"
            } else {
                "production"
            },
        )
        .current_dir(&home.root)
        .status()?;
    if st.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("qmail-newu failed: {st}")))
    }
}

/// Production install (qmail's `hier.c`): copies, not links, so that
/// `qmail-queue` can be setuid `qmailq` (04711) — the only setuid program —
/// and the root-only programs are 0700. Each copy is written beside its
/// target and renamed into place, so a running MTA never sees half a file.
pub fn install_programs(from: &Path, bin: &Path, a: &Accounts) -> io::Result<()> {
    mkdir(bin, 0o755)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let name = e.file_name();
        let n = name.to_string_lossy().into_owned();
        if !is_program(&n) || !e.path().is_file() {
            continue;
        }
        let (uid, mode) = match &*n {
            "qmail-queue" => (a.qmailq.uid, 0o4711),
            "qmail-lspawn" | "qmail-start" | "qmail-newu" | "qmail-newmrh" => (a.root.uid, 0o700),
            _ => (a.root.uid, 0o755),
        };
        let dst = bin.join(&name);
        let tmp = bin.join(format!(".{n}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        std::fs::copy(e.path(), &tmp)?;
        chown(&tmp, uid, a.gid_qmail)?;
        // chown clears the setuid bit, so the mode comes last.
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, &dst)?;
    }
    Ok(())
}

fn chown(p: &Path, uid: u32, gid: u32) -> io::Result<()> {
    nix::unistd::chown(
        p,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(io::Error::from)
}

/// Owners and modes of spec §1.1 (`hier.c`).
fn init_production(home: &Home, a: &Accounts) -> io::Result<()> {
    let q = home.queue();
    let l = Layout::new(&q);
    let g = a.gid_qmail;
    let set = |p: &Path, uid: u32, mode: u32| -> io::Result<()> {
        chown(p, uid, g)?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
    };
    set(&q, a.qmailq.uid, 0o750)?;
    set(&l.dir("pid"), a.qmailq.uid, 0o700)?;
    set(&l.dir("intd"), a.qmailq.uid, 0o700)?;
    set(&l.dir("todo"), a.qmailq.uid, 0o750)?;
    set(&l.dir("lock"), a.qmailq.uid, 0o750)?;
    for (d, uid, mode) in [
        ("mess", a.qmailq.uid, 0o750),
        ("info", a.qmails.uid, 0o700),
        ("local", a.qmails.uid, 0o700),
        ("remote", a.qmails.uid, 0o700),
    ] {
        set(&l.dir(d), uid, mode)?;
        for i in 0..l.split {
            set(&l.dir(d).join(i.to_string()), uid, mode)?;
        }
    }
    set(&l.dir("bounce"), a.qmails.uid, 0o700)?;
    set(&l.dir("spare"), a.qmailq.uid, 0o750)?;
    for (d, pool) in crate::queue::spare::Pool::dirs(&q) {
        let uid = match pool {
            crate::queue::spare::Pool::Queue => a.qmailq.uid,
            crate::queue::spare::Pool::Send => a.qmails.uid,
        };
        set(&d, uid, 0o700)?;
    }
    set(&l.lock("tcpto"), a.qmailr.uid, 0o644)?;
    set(&l.lock("sendmutex"), a.qmails.uid, 0o600)?;
    set(&l.lock("trigger"), a.qmails.uid, 0o622)?;
    let alias = &a.alias.home;
    mkdir(alias, 0o2755)?;
    set(alias, a.alias.uid, 0o2755)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_qmail_and_mta_program_is_linked_but_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let from = d.path().join("build");
        std::fs::create_dir(&from).unwrap();
        let progs = [
            "qmail-send",
            "mta",
            "mta-listen",
            "mta-tcprules",
            "mta-checkpassword",
            "mta-passwd",
            "sendmail",
            "mailq",
        ];
        for n in progs
            .iter()
            .chain(&["mta-listen.d", "libmta.rlib", "build-script"])
        {
            std::fs::write(from.join(n), "x").unwrap();
        }
        std::fs::create_dir(from.join("mta-dir")).unwrap();
        let bin = d.path().join("bin");
        link_programs(&from, &bin).unwrap();
        let mut linked: Vec<String> = std::fs::read_dir(&bin)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        linked.sort();
        let mut want: Vec<String> = progs.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(linked, want);
        assert_eq!(
            std::fs::read_link(bin.join("mta-passwd")).unwrap(),
            from.join("mta-passwd")
        );
    }

    use std::os::unix::fs::MetadataExt;

    /// Regression: a restart removed and re-created every `bin/` link, so
    /// mail arriving meanwhile got `451 qqt failure`. Links now stay when
    /// right and are replaced by rename when stale.
    #[test]
    fn restart_keeps_bin_links_in_place() {
        let d = tempfile::tempdir().unwrap();
        let (from, bin) = (d.path().join("from"), d.path().join("bin"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::write(from.join("qmail-queue"), b"").unwrap();
        std::fs::write(from.join("other.d"), b"").unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink("/nowhere", bin.join("qmail-queue")).unwrap();
        super::link_programs(&from, &bin).unwrap();
        let link = bin.join("qmail-queue");
        assert_eq!(std::fs::read_link(&link).unwrap(), from.join("qmail-queue"));
        let ino = std::fs::symlink_metadata(&link).unwrap().ino();
        super::link_programs(&from, &bin).unwrap();
        assert_eq!(std::fs::symlink_metadata(&link).unwrap().ino(), ino);
        let names: Vec<_> = std::fs::read_dir(&bin)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("qmail-queue")]);
    }
}
