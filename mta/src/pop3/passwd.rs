//! The password file of `mta-checkpassword` and `mta-passwd`.
//!
//! qmail has no password file of its own: the POP3 login goes through any
//! checkpassword program (spec §11.2). Ours reads one file, by default
//! `QMAILHOME/users/pop3passwd` (`MTA_POP3_PASSWD` overrides), mode 0600:
//!
//! ```text
//! # comments and empty lines are ignored
//! user:$6$salt$hash:uid:gid:/home/dir
//! ```
//!
//! * `user`: the POP3 login name (no `:`; any other byte but NUL and LF).
//! * the hash: SHA-512-crypt (`$6$`, as `mkpasswd -m sha-512` or
//!   `openssl passwd -6` make) or SHA-256-crypt (`$5$`), via the RustCrypto
//!   `sha-crypt` crate. Anything else (`*`, `!`, empty) locks the account.
//! * `uid`, `gid`: whom the POP3 server runs as (production mode, as root).
//! * `home`: an absolute path; the server runs there (the rest of the line,
//!   so it may contain `:`).
//!
//! A user may appear only once. Errors name the file and the line.

use std::io;
use std::path::{Path, PathBuf};

use sha_crypt::{PasswordHasher, PasswordVerifier, ShaCrypt};

use crate::home::Home;

/// The file's name under `QMAILHOME`.
pub const DEFAULT_FILE: &str = "users/pop3passwd";

/// The password file for `home`: `$MTA_POP3_PASSWD`, else
/// `QMAILHOME/users/pop3passwd`.
pub fn path(home: &Home) -> PathBuf {
    match std::env::var_os("MTA_POP3_PASSWD").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => home.path(DEFAULT_FILE),
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub user: String,
    pub hash: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl Entry {
    fn render(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.user,
            self.hash,
            self.uid,
            self.gid,
            self.home.display()
        )
    }
}

/// Why the password file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PasswdError {
    /// Reading or writing failed: temporary (checkpassword exits 111).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is malformed: the administrator must fix it.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A name, home or password given to `set` is unusable.
    #[error("{0}")]
    Invalid(String),
}

impl PasswdError {
    /// Reading problems may go away; a malformed file or bad input will
    /// not without a person.
    pub fn is_temporary(&self) -> bool {
        matches!(self, PasswdError::Io { .. })
    }
}

#[derive(Debug, Clone)]
enum Line {
    Other(String),
    Entry(Entry),
}

/// The file, comments kept, so that `mta-passwd` rewrites only its line.
#[derive(Debug, Clone, Default)]
pub struct PasswdFile {
    lines: Vec<Line>,
}

/// Checks a login name: non-empty, no `:`, NUL or line end.
pub fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("empty user name".into());
    }
    if user.contains([':', '\0', '\n', '\r']) {
        return Err(format!(
            "user name {user:?} contains ':', NUL or a line end"
        ));
    }
    Ok(())
}

fn parse_entry(line: &str) -> Result<Entry, String> {
    let mut f = line.splitn(5, ':');
    let (Some(user), Some(hash), Some(uid), Some(gid), Some(home)) =
        (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Err("expected user:hash:uid:gid:home".into());
    };
    check_user(user)?;
    let num = |what: &str, s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{what} {s:?} of user {user} is not a number"))
    };
    let home = PathBuf::from(home);
    if !home.is_absolute() {
        return Err(format!("home {home:?} of user {user} is not absolute"));
    }
    Ok(Entry {
        user: user.to_string(),
        hash: hash.to_string(),
        uid: num("uid", uid)?,
        gid: num("gid", gid)?,
        home,
    })
}

impl PasswdFile {
    /// Parses the text of `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<PasswdFile, PasswdError> {
        let mut lines = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for (i, raw) in text.lines().enumerate() {
            let syntax = |reason: String| PasswdError::Syntax {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            };
            if raw.trim().is_empty() || raw.starts_with('#') {
                lines.push(Line::Other(raw.to_string()));
                continue;
            }
            let e = parse_entry(raw).map_err(syntax)?;
            if let Some(first) = seen.insert(e.user.clone(), i + 1) {
                return Err(syntax(format!(
                    "user {} appears twice (first on line {first})",
                    e.user
                )));
            }
            lines.push(Line::Entry(e));
        }
        Ok(PasswdFile { lines })
    }

    /// Reads `path`; a missing file is an empty one only if `missing_ok`.
    pub fn load(path: &Path, missing_ok: bool) -> Result<PasswdFile, PasswdError> {
        let io = |source| PasswdError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| PasswdError::Syntax {
                    path: path.to_path_buf(),
                    line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                        .iter()
                        .filter(|&&c| c == b'\n')
                        .count(),
                    reason: "not UTF-8".into(),
                })?;
                PasswdFile::parse(&text, path)
            }
            Err(e) if missing_ok && e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(io(e)),
        }
    }

    /// The entry of `user`.
    pub fn get(&self, user: &str) -> Option<&Entry> {
        self.lines.iter().find_map(|l| match l {
            Line::Entry(e) if e.user == user => Some(e),
            _ => None,
        })
    }

    /// Adds `entry`, or replaces the line of its user in place.
    pub fn set(&mut self, entry: Entry) {
        for l in &mut self.lines {
            if let Line::Entry(e) = l {
                if e.user == entry.user {
                    *e = entry;
                    return;
                }
            }
        }
        self.lines.push(Line::Entry(entry));
    }

    /// Removes `user`; false if absent.
    pub fn remove(&mut self, user: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::Entry(e) if e.user == user));
        self.lines.len() != before
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            match l {
                Line::Other(t) => s.push_str(t),
                Line::Entry(e) => s.push_str(&e.render()),
            }
            s.push('\n');
        }
        s
    }

    /// Writes the file atomically with mode 0600 (it holds hashes).
    pub fn save(&self, path: &Path) -> Result<(), PasswdError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| PasswdError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        crate::durable::write_atomic(path, self.render().as_bytes(), 0o600).map_err(|source| {
            PasswdError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
    }
}

/// A new SHA-512-crypt hash of `password` with a random salt.
pub fn hash(password: &[u8]) -> Result<String, PasswdError> {
    if password.is_empty() {
        return Err(PasswdError::Invalid("empty password".into()));
    }
    ShaCrypt::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| PasswdError::Invalid(format!("unable to hash the password: {e}")))
}

/// Whether `password` matches `hash`. A hash we do not know (a locked
/// account) matches nothing.
pub fn verify(password: &[u8], hash: &str) -> bool {
    if !(hash.starts_with("$5$") || hash.starts_with("$6$")) {
        return false;
    }
    ShaCrypt::default().verify_password(password, hash).is_ok()
}

/// Spends about the time of a [`verify`], so that an unknown user cannot
/// be told from a wrong password by the answer's delay.
pub fn verify_nobody(password: &[u8]) {
    let _ = ShaCrypt::default().hash_password_with_salt(password, b"nobodyhere");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<PasswdFile, PasswdError> {
        PasswdFile::parse(text, Path::new("pw"))
    }

    #[test]
    fn hash_then_verify() {
        let h = hash(b"s3cret").unwrap();
        assert!(h.starts_with("$6$"), "{h}");
        assert!(!h.contains(':'));
        assert!(verify(b"s3cret", &h));
        assert!(!verify(b"s3cret!", &h));
        assert_ne!(hash(b"s3cret").unwrap(), h, "salts differ");
    }

    #[test]
    fn verifies_hashes_made_by_other_tools() {
        // `openssl passwd -6 -salt saltsalt password`.
        let h = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
        assert!(verify(b"password", h));
        assert!(!verify(b"Password", h));
    }

    #[test]
    fn locked_and_unknown_hashes_match_nothing() {
        for h in ["", "*", "!", "plain", "$1$abc$def", "$6$"] {
            assert!(!verify(b"", h), "{h}");
            assert!(!verify(b"plain", h), "{h}");
        }
    }

    #[test]
    fn parse_get_set_remove_render() {
        let mut f = file("# users\n\njoe:$6$a$b:1000:100:/home/joe\n").unwrap();
        let joe = f.get("joe").unwrap().clone();
        assert_eq!((joe.uid, joe.gid), (1000, 100));
        assert_eq!(joe.home, PathBuf::from("/home/joe"));
        assert!(f.get("ann").is_none());
        f.set(Entry {
            user: "ann".into(),
            hash: "$6$c$d".into(),
            uid: 1,
            gid: 2,
            home: "/srv/a:b".into(),
        });
        f.set(Entry {
            hash: "$6$x$y".into(),
            ..joe
        });
        assert_eq!(
            f.render(),
            "# users\n\njoe:$6$x$y:1000:100:/home/joe\nann:$6$c$d:1:2:/srv/a:b\n"
        );
        assert_eq!(
            file(&f.render()).unwrap().get("ann").unwrap().home,
            PathBuf::from("/srv/a:b")
        );
        assert!(f.remove("joe"));
        assert!(!f.remove("joe"));
        assert_eq!(f.render(), "# users\n\nann:$6$c$d:1:2:/srv/a:b\n");
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let cases = [
            (
                "ok:h:1:2:/h\njoe:h:1:2\n",
                "pw:2: expected user:hash:uid:gid:home",
            ),
            (
                "joe:h:x:2:/h\n",
                "pw:1: uid \"x\" of user joe is not a number",
            ),
            (
                "joe:h:1:-2:/h\n",
                "pw:1: gid \"-2\" of user joe is not a number",
            ),
            (
                "joe:h:1:2:rel\n",
                "pw:1: home \"rel\" of user joe is not absolute",
            ),
            (":h:1:2:/h\n", "pw:1: empty user name"),
            (
                "a:h:1:2:/h\n#\na:h:1:2:/h\n",
                "pw:3: user a appears twice (first on line 1)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(file(text).unwrap_err().to_string(), want, "{text}");
        }
    }

    #[test]
    fn load_and_save() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("users/pop3passwd");
        assert!(PasswdFile::load(&p, false).unwrap_err().is_temporary());
        let mut f = PasswdFile::load(&p, true).unwrap();
        f.set(parse_entry("joe:$6$a$b:1:2:/h").unwrap());
        f.save(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            PasswdFile::load(&p, false).unwrap().get("joe").unwrap().uid,
            1
        );
        std::fs::write(&p, b"# ok\nj\xffoe:h:1:2:/h\n").unwrap();
        let e = PasswdFile::load(&p, false).unwrap_err();
        assert!(!e.is_temporary());
        assert!(e.to_string().ends_with("pop3passwd:2: not UTF-8"), "{e}");
    }

    #[test]
    fn bad_user_names_and_empty_passwords_are_refused() {
        assert!(check_user("a:b").is_err());
        assert!(check_user("a\nb").is_err());
        assert!(check_user("joe@example.com").is_ok());
        assert!(hash(b"").is_err());
    }
}
