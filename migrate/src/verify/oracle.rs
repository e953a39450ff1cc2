//! Running the real sendmail 8.17 offline and isolated (spec §6.2, §6.3).
//!
//! Every call runs inside `unshare -m -n -u`: a private network namespace
//! with only loopback (sendmail's start-up DNS query for its own name
//! cannot leave the machine, and fails at once instead of sleeping 60 s),
//! a private host name, and private `/etc/hosts`, `/etc/nsswitch.conf`
//! (`files` only) and `/etc/resolv.conf` bind-mounted over the real ones
//! in a private mount namespace, so nothing outside changes. A passwd and
//! shells file other than the system's are bind-mounted too, so the
//! oracle sees the accounts the conversion was told about.
//!
//! The aliases text is compiled into a scratch directory with `-bi`, and
//! `-bv` reads that copy (`-OAliasFile=`), so a stale `aliases.db` of the
//! old site cannot make the comparison lie. The scratch directory is
//! bind-mounted at `/mnt` inside the namespace: sendmail refuses files
//! under a world-writable directory such as `/tmp` (spec §6.3).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::delivery::Delivery;
use super::sendmail_bv;

/// Where the scratch directory appears inside the namespace.
const MOUNT_POINT: &str = "/mnt";

/// Why the oracle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{0}: not sendmail 8 (sendmail -d0.1 printed no `Version 8.` line)")]
    NotSendmail(PathBuf),
    #[error("scratch directory: {0}")]
    Scratch(std::io::Error),
    #[error("sendmail -bi failed (exit {code}): {text}")]
    Newaliases { code: i32, text: String },
}

/// The places a real sendmail is looked for, best first: the unpacked
/// test oracle (`ci/setup`), Debian's and other systems' real binaries,
/// then `/usr/sbin/sendmail` (which may be another MTA's wrapper, hence
/// the version check in [`Oracle::new`]).
pub fn candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let root = std::env::var_os("SENDMAIL_ORACLE").unwrap_or_else(|| "/opt/sendmail-oracle".into());
    v.push(Path::new(&root).join("usr/libexec/sendmail/sendmail"));
    for p in [
        "/usr/lib/sm.bin/sendmail",
        "/usr/libexec/sendmail/sendmail",
        "/usr/sbin/sendmail",
    ] {
        v.push(PathBuf::from(p));
    }
    v
}

/// A configured, isolated sendmail.
#[derive(Debug)]
pub struct Oracle {
    sendmail: PathBuf,
    cf: PathBuf,
    hostname: String,
    passwd: Option<PathBuf>,
    shells: Option<PathBuf>,
    scratch: tempfile::TempDir,
    /// The `Version` line sendmail printed, for the report.
    pub version: String,
}

impl Oracle {
    /// Prepares `sendmail` with configuration `cf` for host `hostname`;
    /// `passwd`/`shells` replace the system's files when given. Fails when
    /// the binary is not sendmail 8.
    pub fn new(
        sendmail: &Path,
        cf: &Path,
        hostname: &str,
        passwd: Option<&Path>,
        shells: Option<&Path>,
    ) -> Result<Oracle, OracleError> {
        let scratch = tempfile::Builder::new()
            .prefix("migrate-verify.")
            .tempdir()
            .map_err(OracleError::Scratch)?;
        let etc = scratch.path().join("etc");
        let write = |name: &str, text: String| std::fs::write(etc.join(name), text);
        let setup = || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            // The DefaultUser must traverse it to read include files.
            std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755))?;
            std::fs::create_dir(&etc)?;
            std::fs::create_dir(scratch.path().join("mqueue"))?;
            write(
                "hosts",
                format!("127.0.0.1 {hostname} localhost\n::1 {hostname} localhost ip6-localhost\n"),
            )?;
            write(
                "nsswitch.conf",
                "passwd: files\ngroup: files\nshadow: files\nhosts: files\naliases: files\n".into(),
            )?;
            write("resolv.conf", "nameserver 127.0.0.1\n".into())
        };
        setup().map_err(OracleError::Scratch)?;
        let mut o = Oracle {
            sendmail: sendmail.to_path_buf(),
            cf: cf.to_path_buf(),
            hostname: hostname.to_string(),
            passwd: passwd.map(Path::to_path_buf),
            shells: shells.map(Path::to_path_buf),
            scratch,
            version: String::new(),
        };
        let out = o.run(&["-d0.1", "-bt"], Some(b""))?;
        let text = String::from_utf8_lossy(&out.stdout);
        o.version = text
            .lines()
            .find(|l| l.starts_with("Version 8."))
            .ok_or_else(|| OracleError::NotSendmail(sendmail.to_path_buf()))?
            .to_string();
        Ok(o)
    }

    /// The first candidate that is a working sendmail 8, if any.
    pub fn find(
        cf: &Path,
        hostname: &str,
        passwd: Option<&Path>,
        shells: Option<&Path>,
    ) -> Option<Oracle> {
        candidates()
            .iter()
            .filter(|p| p.is_file())
            .find_map(|p| Oracle::new(p, cf, hostname, passwd, shells).ok())
    }

    /// The sendmail binary in use.
    pub fn binary(&self) -> &Path {
        &self.sendmail
    }

    fn options(&self) -> Vec<String> {
        let m = MOUNT_POINT;
        vec![
            "-C".into(),
            self.cf.display().to_string(),
            format!("-OAliasFile={m}/aliases"),
            format!("-OQueueDirectory={m}/mqueue"),
            format!("-OStatusFile={m}/statistics"),
            "-ODontProbeInterfaces=True".into(),
        ]
    }

    /// Runs sendmail with `args` (after `-C` and the overrides) inside
    /// the private namespaces.
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, OracleError> {
        let mut binds: Vec<(PathBuf, &str)> = vec![
            (self.scratch.path().join("etc/hosts"), "/etc/hosts"),
            (
                self.scratch.path().join("etc/nsswitch.conf"),
                "/etc/nsswitch.conf",
            ),
            (
                self.scratch.path().join("etc/resolv.conf"),
                "/etc/resolv.conf",
            ),
        ];
        if let Some(p) = &self.passwd {
            binds.push((p.clone(), "/etc/passwd"));
        }
        if let Some(p) = &self.shells {
            binds.push((p.clone(), "/etc/shells"));
        }
        let mut script = String::from("set -e\nhostname \"$1\"\nmount --bind \"$2\" /mnt\n");
        let mut argv: Vec<String> = vec![
            self.hostname.clone(),
            self.scratch.path().display().to_string(),
        ];
        for (i, (from, to)) in binds.iter().enumerate() {
            script.push_str(&format!("mount --bind \"${}\" {to}\n", i + 3));
            argv.push(from.display().to_string());
        }
        let first = argv.len() + 1;
        script.push_str("ip link set lo up 2>/dev/null || true\n");
        script.push_str(&format!("shift {}\nexec \"$@\"\n", first - 1));
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "-n", "-u", "sh", "-c", &script, "sh"])
            .args(&argv)
            .arg(&self.sendmail)
            .args(self.options())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn = |source| OracleError::Spawn {
            program: "unshare".into(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn)?;
        if let Some(mut w) = child.stdin.take() {
            use std::io::Write;
            // sendmail may exit before reading; a broken pipe is harmless.
            let _ = w.write_all(stdin.unwrap_or(b""));
        }
        child.wait_with_output().map_err(spawn)
    }

    /// Compiles `aliases` (the text) with `sendmail -bi`. Exit 70 means
    /// some entries were rejected, which is what the comparison is about;
    /// anything else non-zero is an error.
    pub fn newaliases(&self, aliases: &[u8]) -> Result<String, OracleError> {
        std::fs::write(self.scratch.path().join("aliases"), aliases)
            .map_err(OracleError::Scratch)?;
        let out = self.run(&["-bi"], None)?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        match out.status.code() {
            Some(0 | 70) => Ok(text),
            c => Err(OracleError::Newaliases {
                code: c.unwrap_or(-1),
                text,
            }),
        }
    }

    /// `sendmail -bv ADDRESS`: the deliveries, and the lines that were
    /// not about a recipient.
    pub fn verify(&self, address: &str) -> Result<(Vec<Delivery>, Vec<String>), OracleError> {
        let out = self.run(&["-bv", "--", address], None)?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        let (d, unread) = sendmail_bv::parse(&text);
        Ok((d, unread.into_iter().map(|u| u.0).collect()))
    }
}
