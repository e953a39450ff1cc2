//! qmail-pw2u: a passwd file in, a `users/assign` file out (spec §5.1).
//!
//! Hand-written to match netqmail's `qmail-pw2u.c` byte for byte. For each
//! passwd line `user:pw:uid:gid:gecos:home:shell` that survives the filters
//! (uid not 0; no uppercase unless `-u`; in `users/include` if it exists;
//! not in `users/exclude`; home present and owned by uid unless `-H`) it
//! writes, for each mail name (the user, or the names `users/mailnames`
//! lists):
//!
//! ```text
//! =name:user:uid:gid:home:::
//! +name-:user:uid:gid:home:-::        (unless -C; `-` is the BREAK, -c<c>)
//! ```
//!
//! plus `+:alias:uid:gid:home:-::` for the `alias` user, then a pair of
//! lines per `users/subusers` line `sub:user:pre:`, then `users/append`
//! verbatim, then `.`. With `-/` the dash field is `-/` instead of `-`.
//!
//! Deviations, both on purpose: a malformed passwd line is still skipped
//! as qmail does, but we also warn naming its line number; and on a fatal
//! error nothing at all is written to stdout (qmail may have written part
//! of the output before dying).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::control::{read_list, ControlError};

/// The user whose entry also becomes the catch-all `+:` line.
pub const ALIAS_USER: &[u8] = b"alias";

/// What to do about home directories (`-o`, `-h`, `-H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeStrategy {
    /// `-o` (default): skip users whose home is missing or not theirs.
    Skip,
    /// `-h`: stop if a home is missing; skip one that is not theirs.
    Stop,
    /// `-H`: don't look at homes.
    Ignore,
}

/// The command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub homes: HomeStrategy,
    /// `-u`: keep users with uppercase letters (default `-U`: skip them,
    /// since qmail-getpw lowercases and would never find them).
    pub allow_upper: bool,
    /// The BREAK character for extension lines; `None` with `-C`.
    pub break_char: Option<u8>,
    /// `-/`: dash field `-/`, so extensions live in `.qmail-/...`.
    pub slash: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            homes: HomeStrategy::Skip,
            allow_upper: false,
            break_char: Some(crate::home::BREAK),
            slash: false,
        }
    }
}

/// The optional files under `QMAILHOME/users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersFiles {
    /// `users/include`: only these users (a list file).
    pub include: Option<Vec<String>>,
    /// `users/exclude`: never these users (a list file).
    pub exclude: Option<Vec<String>>,
    /// `users/mailnames`: `user:name1:name2...` (a list file).
    pub mailnames: Option<Vec<String>>,
    /// `users/subusers`: raw lines `sub:user:pre:`.
    pub subusers: Option<Vec<u8>>,
    /// `users/append`: copied verbatim before the final `.`.
    pub append: Option<Vec<u8>>,
}

/// Why qmail-pw2u stops (all exit 111, as qmail).
#[derive(Debug, thiserror::Error)]
pub enum Pw2uError {
    #[error("unable to read controls: {0}")]
    Control(#[from] ControlError),
    #[error("unable to read controls: {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unable to stat {0}")]
    Home(String),
    #[error("unable to find alias user")]
    NoAlias,
    #[error("unable to find {0} user for subuser")]
    SubuserUser(String),
}

impl Pw2uError {
    /// qmail-pw2u exits 111 for every fatal error.
    pub fn exit_code(&self) -> i32 {
        111
    }
}

fn read_raw(path: &Path) -> Result<Option<Vec<u8>>, Pw2uError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Pw2uError::ReadFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl UsersFiles {
    /// Reads the files in `users_dir`; a missing file is simply absent.
    pub fn load(users_dir: &Path) -> Result<UsersFiles, Pw2uError> {
        Ok(UsersFiles {
            include: read_list(&users_dir.join("include"))?,
            exclude: read_list(&users_dir.join("exclude"))?,
            mailnames: read_list(&users_dir.join("mailnames"))?,
            subusers: read_raw(&users_dir.join("subusers"))?,
            append: read_raw(&users_dir.join("append"))?,
        })
    }
}

/// The result: the assign file and the warnings about skipped lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    pub assign: Vec<u8>,
    pub warnings: Vec<String>,
}

/// The owner uid of `path` (what qmail-pw2u stats a home for).
pub fn home_owner(path: &Path) -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.uid())
}

/// Splits `s` at its first `:`: (field, rest after the colon).
fn field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&c| c == b':')?;
    Some((&s[..i], &s[i + 1..]))
}

/// qmail's `scan_ulong`: the leading decimal digits (0 if none).
fn scan_ulong(s: &[u8]) -> u64 {
    s.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u64, |n, &c| {
            n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'))
        })
}

/// Lines as qmail's getln loop sees them: split at `\n`, plus the last
/// unterminated piece (possibly empty).
fn lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| c == b'\n')
}

struct Account<'a> {
    user: &'a [u8],
    /// `:user:uid:gid:home:`
    uugh: Vec<u8>,
}

/// The fields of a passwd line qmail-pw2u uses.
struct PasswdLine<'a> {
    user: &'a [u8],
    uid: &'a [u8],
    gid: &'a [u8],
    home: &'a [u8],
}

/// Parses one passwd line; `Err` carries the reason for a warning,
/// `Ok(None)` a line skipped silently (empty line).
fn parse_passwd(line: &[u8]) -> Result<Option<PasswdLine<'_>>, &'static str> {
    if line.is_empty() {
        return Ok(None);
    }
    if line.contains(&0) {
        return Err("contains a NUL byte");
    }
    let short = "has fewer than 7 colon-separated fields";
    let (user, r) = field(line).ok_or(short)?;
    let (_pw, r) = field(r).ok_or(short)?;
    let (uid, r) = field(r).ok_or(short)?;
    let (gid, r) = field(r).ok_or(short)?;
    let (_gecos, r) = field(r).ok_or(short)?;
    let (home, _shell) = field(r).ok_or(short)?;
    Ok(Some(PasswdLine {
        user,
        uid,
        gid,
        home,
    }))
}

fn in_list(list: &[String], name: &[u8]) -> bool {
    list.iter().any(|l| l.as_bytes().eq_ignore_ascii_case(name))
}

/// The names `users/mailnames` gives `user`, if it has a line. Like
/// qmail's constmap, the last line for a user wins and matching ignores
/// case; lines without `:` are ignored.
fn mailnames_for<'a>(list: &'a [String], user: &[u8]) -> Option<&'a [u8]> {
    list.iter().rev().find_map(|l| {
        let (k, v) = field(l.as_bytes())?;
        k.eq_ignore_ascii_case(user).then_some(v)
    })
}

/// Converts `passwd` to assign format. `owner_of` stats a home directory
/// (normally [`home_owner`]).
pub fn convert(
    passwd: &[u8],
    opts: &Options,
    files: &UsersFiles,
    owner_of: &dyn Fn(&Path) -> io::Result<u32>,
) -> Result<Converted, Pw2uError> {
    let mut out = Converted::default();
    let dashcolon: &[u8] = if opts.slash { b"-/:" } else { b"-:" };
    let mut accounts: Vec<Account> = Vec::new();
    let mut saw_alias = false;

    for (n, line) in lines(passwd).enumerate() {
        let PasswdLine {
            user,
            uid,
            gid,
            home,
        } = match parse_passwd(line) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(why) => {
                out.warnings.push(format!("line {}: {why}; skipped", n + 1));
                continue;
            }
        };
        if !uid.first().is_some_and(u8::is_ascii_digit) {
            out.warnings.push(format!(
                "line {}: uid {:?} is not a number; skipped",
                n + 1,
                String::from_utf8_lossy(uid)
            ));
            continue;
        }
        let uid_n = scan_ulong(uid);
        if uid_n == 0 {
            continue;
        }
        if !opts.allow_upper && user.iter().any(u8::is_ascii_uppercase) {
            continue;
        }
        if files.include.as_deref().is_some_and(|l| !in_list(l, user)) {
            continue;
        }
        if files.exclude.as_deref().is_some_and(|l| in_list(l, user)) {
            continue;
        }
        if opts.homes != HomeStrategy::Ignore {
            let home_path = Path::new(std::ffi::OsStr::from_bytes(home));
            match owner_of(home_path) {
                Ok(owner) if u64::from(owner) == uid_n => {}
                Ok(_) => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound && opts.homes == HomeStrategy::Skip =>
                {
                    continue
                }
                Err(_) => return Err(Pw2uError::Home(String::from_utf8_lossy(home).into())),
            }
        }

        let mut uugh = vec![b':'];
        for (i, f) in [user, uid, gid, home].into_iter().enumerate() {
            if i > 0 {
                uugh.push(b':');
            }
            uugh.extend_from_slice(f);
        }
        uugh.push(b':');

        let a = &mut out.assign;
        if user == ALIAS_USER {
            a.push(b'+');
            a.extend_from_slice(&uugh);
            a.extend_from_slice(dashcolon);
            a.extend_from_slice(b":\n");
            saw_alias = true;
        }
        let names = files
            .mailnames
            .as_deref()
            .and_then(|l| mailnames_for(l, user))
            .unwrap_or(user);
        for name in names.split(|&c| c == b':').filter(|x| !x.is_empty()) {
            a.push(b'=');
            a.extend_from_slice(name);
            a.extend_from_slice(&uugh);
            a.extend_from_slice(b"::\n");
            if let Some(br) = opts.break_char {
                a.push(b'+');
                a.extend_from_slice(name);
                a.push(br);
                a.extend_from_slice(&uugh);
                a.extend_from_slice(dashcolon);
                a.extend_from_slice(b":\n");
            }
        }
        accounts.push(Account { user, uugh });
    }
    if !saw_alias {
        return Err(Pw2uError::NoAlias);
    }

    if let Some(subusers) = &files.subusers {
        for line in lines(subusers) {
            subuser(line, &accounts, dashcolon, opts.break_char, &mut out.assign)?;
        }
    }
    if let Some(append) = &files.append {
        out.assign.extend_from_slice(append);
    }
    out.assign.extend_from_slice(b".\n");
    Ok(out)
}

/// One `users/subusers` line `sub:user:pre:`; lines lacking a colon are
/// skipped, as qmail does, but an unknown user is fatal.
fn subuser(
    line: &[u8],
    accounts: &[Account],
    dashcolon: &[u8],
    break_char: Option<u8>,
    a: &mut Vec<u8>,
) -> Result<(), Pw2uError> {
    let Some((sub, r)) = field(line) else {
        return Ok(());
    };
    let Some((user, r)) = field(r) else {
        return Ok(());
    };
    // constmap: case-insensitive, the last entry for a name wins.
    let uugh = accounts
        .iter()
        .rev()
        .find(|acc| acc.user.eq_ignore_ascii_case(user))
        .map(|acc| &acc.uugh)
        .ok_or_else(|| Pw2uError::SubuserUser(String::from_utf8_lossy(user).into()))?;
    let Some((pre, _)) = field(r) else {
        return Ok(());
    };
    a.push(b'=');
    a.extend_from_slice(sub);
    a.extend_from_slice(uugh);
    a.extend_from_slice(dashcolon);
    a.extend_from_slice(pre);
    a.extend_from_slice(b":\n");
    if let Some(br) = break_char {
        a.push(b'+');
        a.extend_from_slice(sub);
        a.push(br);
        a.extend_from_slice(uugh);
        a.extend_from_slice(dashcolon);
        a.extend_from_slice(pre);
        // qmail writes a literal '-' here whatever the BREAK is.
        a.extend_from_slice(b"-:\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_stat(_: &Path) -> io::Result<u32> {
        panic!("homes are not checked with -H")
    }

    fn opts_h() -> Options {
        Options {
            homes: HomeStrategy::Ignore,
            ..Options::default()
        }
    }

    const PW: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nalias:*:7790:2108::/var/qmail/alias:/bin/true\njoe:x:507:100:Joe:/home/joe:/bin/sh\n";

    #[test]
    fn manual_example() {
        let c = convert(PW, &opts_h(), &UsersFiles::default(), &no_stat).unwrap();
        assert_eq!(
            String::from_utf8(c.assign).unwrap(),
            "+:alias:7790:2108:/var/qmail/alias:-::\n=alias:alias:7790:2108:/var/qmail/alias:::\n+alias-:alias:7790:2108:/var/qmail/alias:-::\n=joe:joe:507:100:/home/joe:::\n+joe-:joe:507:100:/home/joe:-::\n.\n"
        );
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn malformed_lines_warn_with_line_numbers() {
        let pw = b"alias:*:1:1::/a:/bin/sh\nbad line\n\nshort:x:5:5:/home/s\nnum:x:abc:1::/h:/s\n";
        let c = convert(pw, &opts_h(), &UsersFiles::default(), &no_stat).unwrap();
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("line 2: "));
        assert!(c.warnings[1].starts_with("line 4: "));
        assert!(c.warnings[2].starts_with("line 5: uid \"abc\""));
    }

    #[test]
    fn no_alias_is_fatal() {
        let e = convert(
            b"joe:x:5:5::/h:/s\n",
            &opts_h(),
            &UsersFiles::default(),
            &no_stat,
        )
        .unwrap_err();
        assert!(matches!(e, Pw2uError::NoAlias));
        assert_eq!(e.to_string(), "unable to find alias user");
    }

    #[test]
    fn home_strategies() {
        let pw = b"alias:*:1:1::/a:/s\ngone:x:5:5::/missing:/s\nother:x:6:6::/b:/s\n";
        let stat = |p: &Path| -> io::Result<u32> {
            match p.to_str() {
                Some("/a") => Ok(1),
                Some("/b") => Ok(99),
                _ => Err(io::Error::from(io::ErrorKind::NotFound)),
            }
        };
        let skip = convert(pw, &Options::default(), &UsersFiles::default(), &stat).unwrap();
        let s = String::from_utf8(skip.assign).unwrap();
        assert!(!s.contains("gone") && !s.contains("other"), "{s}");
        let stop = Options {
            homes: HomeStrategy::Stop,
            ..Options::default()
        };
        let e = convert(pw, &stop, &UsersFiles::default(), &stat).unwrap_err();
        assert_eq!(e.to_string(), "unable to stat /missing");
    }
}
