//! The root directory the reference image runs on: a host directory the
//! harness fills before the container starts and bind-mounts at `/mta`
//! (see `ci/images/reference/build` for the image's side). `mta start`
//! in the container keeps every file already there and only creates what
//! is missing (`mta::start::init`), then compiles `users/assign`.
//!
//! What the harness writes: the controls the reference target writes
//! (`me`, `locals`, `rcpthosts`, `smtproutes` to the sink) plus
//! `smtplisten` (the listener on the port the harness picked), the
//! scenario's controls, the SMTP server's environment as tcpserver rules
//! in `control/tcp.smtp` (the entrypoint compiles them with
//! `mta-tcprules`), alias files, users and their homes. Paths inside
//! `users/assign` are the container's (`/mta/home/NAME`).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::super::TargetError;
use crate::scenario::Setup;

/// Where the root is mounted inside the container.
pub const IN_CONTAINER: &str = "/mta";
/// The host name the target gives itself (as the `reference` target).
pub const ME: &str = "mx.test";
/// The uid and gid the MTA runs as inside the image (root: the image has
/// no other user; unprivileged mode runs everything as that one user).
const IDS: &str = "0:0";

fn write(p: &Path, bytes: &[u8]) -> Result<(), TargetError> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(TargetError::io(format!("creating {}", d.display())))?;
    }
    std::fs::write(p, bytes).map_err(TargetError::io(format!("writing {}", p.display())))
}

fn set_mode(p: &Path, mode: u32) -> Result<(), TargetError> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(TargetError::io(format!("chmod {}", p.display())))
}

fn with_newline(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    if !v.is_empty() && !v.ends_with(b"\n") {
        v.push(b'\n');
    }
    v
}

/// Fills `root` (the host side of `/mta`) for `setup`; returns the
/// controls the scenario removes, which the caller deletes after each
/// start (`mta start` re-creates missing default controls).
pub fn prepare(
    root: &Path,
    setup: &Setup,
    listen: SocketAddr,
    sink: SocketAddr,
) -> Result<Vec<PathBuf>, TargetError> {
    let c = root.join("control");
    let both = format!("{ME}\nlocalhost\n");
    write(&c.join("me"), format!("{ME}\n").as_bytes())?;
    write(&c.join("locals"), both.as_bytes())?;
    write(&c.join("rcpthosts"), both.as_bytes())?;
    write(&c.join("smtplisten"), format!("{listen}\n").as_bytes())?;
    write(
        &c.join("smtproutes"),
        format!(":{}:{}\n", sink.ip(), sink.port()).as_bytes(),
    )?;
    let mut removed = Vec::new();
    for (name, value) in &setup.controls {
        match value {
            Some(v) => write(&c.join(name), &with_newline(&v.0))?,
            None => removed.push(c.join(name)),
        }
    }
    if !setup.env.is_empty() {
        write(&c.join("tcp.smtp"), tcp_rules(&setup.env)?.as_bytes())?;
    }
    let alias = root.join("alias");
    for (name, text) in &setup.alias {
        write(&alias.join(name), &text.0)?;
        set_mode(&alias.join(name), 0o644)?;
    }
    if setup.users.is_empty() {
        return Ok(removed);
    }
    let mut names = Vec::new();
    for u in &setup.users {
        let home = root.join("home").join(&u.name);
        std::fs::create_dir_all(&home)
            .map_err(TargetError::io(format!("creating {}", home.display())))?;
        set_mode(&home, 0o700)?;
        if u.maildir {
            for d in ["tmp", "new", "cur"] {
                let p = home.join("Maildir").join(d);
                std::fs::create_dir_all(&p)
                    .map_err(TargetError::io(format!("creating {}", p.display())))?;
            }
        }
        for (name, text) in &u.files {
            let p = home.join(name);
            write(&p, &text.0)?;
            set_mode(&p, 0o644)?;
        }
        for (name, mode) in &u.modes {
            let m = u32::from_str_radix(mode, 8)
                .map_err(|_| TargetError::Failed(format!("mode {mode:?} is not octal")))?;
            set_mode(&home.join(name), m)?;
        }
        names.push(u.name.as_str());
    }
    write(&root.join("users/assign"), assign(&names).as_bytes())?;
    Ok(removed)
}

/// `users/assign`: the scenario's users first (the first match wins, as
/// in the `reference` target, which prepends them), then what `mta init`
/// would write: the default user and `+:` to the alias user.
pub fn assign(users: &[&str]) -> String {
    let mut s = String::new();
    let line = |s: &mut String, n: &str| {
        let h = format!("{IN_CONTAINER}/home/{n}");
        s.push_str(&format!("={n}:{n}:{IDS}:{h}:::\n+{n}-:{n}:{IDS}:{h}:-::\n"));
    };
    for u in users {
        line(&mut s, u);
    }
    line(&mut s, mta::start::init::DEFAULT_USER);
    s.push_str(&format!("+:alias:{IDS}:{IN_CONTAINER}/alias:-::\n.\n"));
    s
}

/// The SMTP server's environment as one tcpserver rule for every client:
/// `:allow,NAME="value",...`. tcprules takes any character as the quote,
/// so each value gets one it does not contain.
pub fn tcp_rules(env: &std::collections::BTreeMap<String, String>) -> Result<String, TargetError> {
    let mut line = String::from(":allow");
    for (k, v) in env {
        if k.is_empty() || k.contains(['=', ',', '\n']) || v.contains('\n') {
            return Err(TargetError::Failed(format!(
                "environment {k:?}={v:?} cannot be written as a tcprules setting"
            )));
        }
        let q = ['"', '\'', '|', '/', '#', '%', '!']
            .into_iter()
            .find(|q| !v.contains(*q))
            .ok_or_else(|| TargetError::Failed(format!("no quote character left for {k}={v:?}")))?;
        line.push_str(&format!(",{k}={q}{v}{q}"));
    }
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_quote_each_value_with_a_character_it_lacks() {
        let mut env = std::collections::BTreeMap::new();
        env.insert("RELAYCLIENT".to_string(), String::new());
        env.insert("X".to_string(), "a\"b".to_string());
        let text = tcp_rules(&env).unwrap();
        assert_eq!(text, ":allow,RELAYCLIENT=\"\",X='a\"b'\n");
        // What mta-tcprules will read back.
        let rules = mta::listener::rules::parse("t", text.as_bytes()).unwrap();
        assert_eq!(
            rules[0].env,
            vec![
                (b"RELAYCLIENT".to_vec(), b"".to_vec()),
                (b"X".to_vec(), b"a\"b".to_vec())
            ]
        );
        env.insert("BAD".into(), "two\nlines".into());
        assert!(tcp_rules(&env).is_err());
    }

    #[test]
    fn assign_puts_scenario_users_first_with_container_paths() {
        assert_eq!(
            assign(&["joe"]),
            "=joe:joe:0:0:/mta/home/joe:::\n+joe-:joe:0:0:/mta/home/joe:-::\n\
             =user:user:0:0:/mta/home/user:::\n+user-:user:0:0:/mta/home/user:-::\n\
             +:alias:0:0:/mta/alias:-::\n.\n"
        );
    }

    #[test]
    fn prepare_writes_controls_users_and_removals() {
        let d = tempfile::tempdir().unwrap();
        let yaml = "controls: {databytes: '100', badmailfrom: null}\n\
                    env: {RELAYCLIENT: ''}\n\
                    users: [{name: joe, files: {.qmail: \"./Maildir/\\n\"}}]\n\
                    alias: {.qmail-x: \"&joe\\n\"}\n";
        let setup: Setup = serde_yaml::from_str(yaml).unwrap();
        let listen: SocketAddr = "127.0.0.1:2600".parse().unwrap();
        let sink: SocketAddr = "127.0.0.1:2700".parse().unwrap();
        let removed = prepare(d.path(), &setup, listen, sink).unwrap();
        let read = |p: &str| std::fs::read_to_string(d.path().join(p)).unwrap();
        assert_eq!(read("control/smtplisten"), "127.0.0.1:2600\n");
        assert_eq!(read("control/smtproutes"), ":127.0.0.1:2700\n");
        assert_eq!(read("control/databytes"), "100\n");
        assert_eq!(read("control/tcp.smtp"), ":allow,RELAYCLIENT=\"\"\n");
        assert_eq!(read("alias/.qmail-x"), "&joe\n");
        assert_eq!(read("home/joe/.qmail"), "./Maildir/\n");
        assert!(d.path().join("home/joe/Maildir/new").is_dir());
        assert!(read("users/assign").starts_with("=joe:joe:0:0:/mta/home/joe:::\n"));
        assert_eq!(removed, [d.path().join("control/badmailfrom")]);
    }
}
