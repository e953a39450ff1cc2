//! Control files, read exactly as qmail reads them (spec §9.1).
//!
//! Two stages, as ripgrep does with its flags: the functions here read raw
//! files with qmail's rules (first line or every line, trailing whitespace
//! stripped, `#` and blank lines skipped in lists, a missing file means
//! "default"), and each component builds one immutable snapshot from them
//! (for example [`SendControls`]). Nothing else in the MTA reads `control/`.
//!
//! Any error other than "file does not exist" is a [`ControlError`], which
//! is always temporary: qmail defers rather than guess.

use std::io;
use std::path::{Path, PathBuf};

/// A control file exists but could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unable to read {path}: {source}")]
pub struct ControlError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl ControlError {
    /// Control-file trouble is always temporary in qmail.
    pub fn is_permanent(&self) -> bool {
        false
    }
}

fn read_raw(path: &Path) -> Result<Option<Vec<u8>>, ControlError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ControlError {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 0 && matches!(s[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    &s[..end]
}

/// The first line of `path`, trailing spaces/tabs stripped; `None` if the
/// file does not exist. An existing empty file yields `Some("")`.
pub fn read_line(path: &Path) -> Result<Option<String>, ControlError> {
    Ok(read_raw(path)?.map(|b| {
        let first = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
        String::from_utf8_lossy(trim_end(first)).into_owned()
    }))
}

/// A number file: the first line's leading decimal digits. If the file is
/// missing or its first line does not start with a digit, `default`.
pub fn read_number(path: &Path, default: u64) -> Result<u64, ControlError> {
    Ok(match read_line(path)? {
        Some(line) => {
            let digits: String = line.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                default
            } else {
                digits.parse().unwrap_or(u64::MAX)
            }
        }
        None => default,
    })
}

/// A list file: every line, trailing whitespace stripped, blank and `#`
/// lines dropped; `None` if the file does not exist (an empty file is an
/// empty list, which is not the same thing).
pub fn read_list(path: &Path) -> Result<Option<Vec<String>>, ControlError> {
    Ok(read_raw(path)?.map(|b| {
        b.split(|&c| c == b'\n')
            .map(trim_end)
            .filter(|l| !l.is_empty() && l[0] != b'#')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }))
}

/// The control directory of a home, with qmail's "Default: me" rule.
#[derive(Debug, Clone)]
pub struct ControlDir {
    pub dir: PathBuf,
}

impl ControlDir {
    pub fn new(dir: impl Into<PathBuf>) -> ControlDir {
        ControlDir { dir: dir.into() }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    pub fn line(&self, name: &str) -> Result<Option<String>, ControlError> {
        read_line(&self.path(name))
    }
    pub fn number(&self, name: &str, default: u64) -> Result<u64, ControlError> {
        read_number(&self.path(name), default)
    }
    pub fn list(&self, name: &str) -> Result<Option<Vec<String>>, ControlError> {
        read_list(&self.path(name))
    }
    /// `control/me`, if present.
    pub fn me(&self) -> Result<Option<String>, ControlError> {
        self.line("me")
    }
    /// A line file whose default is `me`, else the literal `fallback`.
    pub fn line_or_me(&self, name: &str, fallback: &str) -> Result<String, ControlError> {
        if let Some(v) = self.line(name)? {
            return Ok(v);
        }
        Ok(self.me()?.unwrap_or_else(|| fallback.to_string()))
    }
}

/// `virtualdomains` entries, matched as spec §3.4 says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualDomains {
    /// (lowercased key, prepend), in file order; the first line for a key wins.
    entries: Vec<(String, String)>,
}

impl VirtualDomains {
    pub fn from_lines(lines: &[String]) -> VirtualDomains {
        let mut entries: Vec<(String, String)> = Vec::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let k = k.to_ascii_lowercase();
                if !entries.iter().any(|(e, _)| *e == k) {
                    entries.push((k, v.to_string()));
                }
            }
        }
        VirtualDomains { entries }
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// The prepend for `addr`: the whole address, the domain, each dot
    /// suffix longest first, then the empty key. `Some("")` is an exception
    /// (the address stays remote); `None` means no entry matched.
    pub fn lookup(&self, addr: &str) -> Option<&str> {
        let lower = addr.to_ascii_lowercase();
        if let Some(v) = self.get(&lower) {
            return Some(v);
        }
        let domain = match lower.rfind('@') {
            Some(i) => &lower[i + 1..],
            None => "",
        };
        if let Some(v) = self.get(domain) {
            return Some(v);
        }
        for (i, c) in domain.char_indices() {
            if c == '.' {
                if let Some(v) = self.get(&domain[i..]) {
                    return Some(v);
                }
            }
        }
        self.get("")
    }
    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A case-insensitive set of domains (`locals`, `percenthack`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainSet(Vec<String>);

impl DomainSet {
    pub fn from_lines(lines: &[String]) -> DomainSet {
        DomainSet(lines.iter().map(|l| l.to_ascii_lowercase()).collect())
    }
    pub fn contains(&self, domain: &str) -> bool {
        let d = domain.to_ascii_lowercase();
        self.0.contains(&d)
    }
}

/// Everything qmail-send reads at start-up (spec §3.1), validated.
#[derive(Debug, Clone)]
pub struct SendControls {
    pub me: Option<String>,
    pub queuelifetime: u64,
    pub concurrencylocal: u32,
    pub concurrencyremote: u32,
    pub envnoathost: String,
    pub bouncefrom: String,
    pub bouncehost: String,
    pub doublebouncehost: String,
    pub doublebounceto: String,
    pub locals: DomainSet,
    pub percenthack: DomainSet,
    pub virtualdomains: VirtualDomains,
    /// Our own extension: `control/bounceformat` = `dsn` selects RFC 3464
    /// bounces; anything else (or no file) keeps QSBMF.
    pub bounce_dsn: bool,
}

/// Why qmail-send cannot start with these controls.
#[derive(Debug, thiserror::Error)]
pub enum SendControlError {
    #[error(transparent)]
    Read(#[from] ControlError),
    #[error("neither control/locals nor control/me exists")]
    NoLocals,
}

impl SendControls {
    pub fn load(c: &ControlDir) -> Result<SendControls, SendControlError> {
        let me = c.me()?;
        let cap = |v: u64| v.min(crate::home::SPAWN_LIMIT as u64) as u32;
        let (locals, virtualdomains) = Self::load_hup(c)?;
        Ok(SendControls {
            queuelifetime: c.number("queuelifetime", 604800)?,
            concurrencylocal: cap(c.number("concurrencylocal", 10)?),
            concurrencyremote: cap(c.number("concurrencyremote", 20)?),
            envnoathost: c.line_or_me("envnoathost", "envnoathost")?,
            bouncefrom: c
                .line("bouncefrom")?
                .unwrap_or_else(|| "MAILER-DAEMON".to_string()),
            bouncehost: c.line_or_me("bouncehost", "bouncehost")?,
            doublebouncehost: c.line_or_me("doublebouncehost", "doublebouncehost")?,
            doublebounceto: c
                .line("doublebounceto")?
                .unwrap_or_else(|| "postmaster".to_string()),
            percenthack: DomainSet::from_lines(&c.list("percenthack")?.unwrap_or_default()),
            bounce_dsn: c.line("bounceformat")?.as_deref() == Some("dsn"),
            locals,
            virtualdomains,
            me,
        })
    }

    /// The two files HUP rereads (spec §3.8): `locals` (default `me`) and
    /// `virtualdomains`.
    pub fn load_hup(c: &ControlDir) -> Result<(DomainSet, VirtualDomains), SendControlError> {
        let locals = match c.list("locals")? {
            Some(l) => DomainSet::from_lines(&l),
            None => match c.me()? {
                Some(me) => DomainSet::from_lines(&[me]),
                None => return Err(SendControlError::NoLocals),
            },
        };
        let vd = VirtualDomains::from_lines(&c.list("virtualdomains")?.unwrap_or_default());
        Ok((locals, vd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> (tempfile::TempDir, ControlDir) {
        let d = tempfile::tempdir().unwrap();
        for (n, c) in files {
            std::fs::write(d.path().join(n), c).unwrap();
        }
        let c = ControlDir::new(d.path());
        (d, c)
    }

    #[test]
    fn line_files_take_the_first_line_trimmed() {
        let (_d, c) = dir_with(&[("me", "mx.example.com \t\nsecond\n"), ("empty", "")]);
        assert_eq!(c.me().unwrap().as_deref(), Some("mx.example.com"));
        assert_eq!(c.line("empty").unwrap().as_deref(), Some(""));
        assert_eq!(c.line("missing").unwrap(), None);
    }

    #[test]
    fn number_files_keep_the_default_on_garbage() {
        let (_d, c) = dir_with(&[("a", "abc\n"), ("b", "500\n"), ("c", "12x")]);
        assert_eq!(c.number("a", 20).unwrap(), 20);
        assert_eq!(c.number("b", 20).unwrap(), 500);
        assert_eq!(c.number("c", 20).unwrap(), 12);
        assert_eq!(c.number("none", 7).unwrap(), 7);
    }

    #[test]
    fn list_files_skip_comments_and_blanks() {
        let (_d, c) = dir_with(&[("rcpthosts", "a.example  \n\n# c\nB.example\n")]);
        assert_eq!(
            c.list("rcpthosts").unwrap().unwrap(),
            vec!["a.example", "B.example"]
        );
    }

    #[test]
    fn concurrency_is_capped_and_locals_default_to_me() {
        let (_d, c) = dir_with(&[("me", "h.example"), ("concurrencyremote", "500")]);
        let s = SendControls::load(&c).unwrap();
        assert_eq!(s.concurrencyremote, 120);
        assert_eq!(s.concurrencylocal, 10);
        assert!(s.locals.contains("H.EXAMPLE"));
        assert_eq!(s.bouncehost, "h.example");
        assert_eq!(s.bouncefrom, "MAILER-DAEMON");
    }

    #[test]
    fn no_locals_and_no_me_refuses() {
        let (_d, c) = dir_with(&[]);
        assert!(matches!(
            SendControls::load(&c),
            Err(SendControlError::NoLocals)
        ));
    }

    #[test]
    fn virtualdomains_lookup_order() {
        let vd = VirtualDomains::from_lines(&[
            ".example.com:joe".into(),
            "sub.example.com:".into(),
            "u@x.org:user".into(),
            ":catch".into(),
        ]);
        assert_eq!(vd.lookup("a@example.com"), Some("catch"));
        assert_eq!(vd.lookup("a@b.example.com"), Some("joe"));
        assert_eq!(vd.lookup("a@sub.example.com"), Some(""));
        assert_eq!(vd.lookup("U@X.org"), Some("user"));
        assert_eq!(vd.lookup("v@x.org"), Some("catch"));
    }
}
