//! The sendmail configuration as the converter sees it: one [`Entry`] per
//! construct, in file order, whether it came from a `.cf` line or an `.mc`
//! macro call. Both readers ([`super::cf`], [`super::m4`]) produce this,
//! so the mapping of spec §4.2 is written once.

/// One construct of `sendmail.cf` / `sendmail.mc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line of the construct in its file.
    pub line: usize,
    /// The construct as written (shortened), for the report.
    pub text: String,
    pub kind: Kind,
}

/// What a construct is, in `.cf` terms (spec §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `Dx value` / `D{name}value`.
    Macro { name: String, value: String },
    /// `Cx word ...`.
    Class { name: String, words: Vec<String> },
    /// `Fx path` / `Fx-o path` (`-o`: the file may be missing).
    ClassFile {
        name: String,
        path: String,
        optional: bool,
    },
    /// `O Name=value` (old single-letter options are renamed on reading).
    Option { name: String, value: String },
    /// `Kname class flags path` (the spec after the name).
    Map { name: String, spec: String },
    /// `Mname, P=..., A=...` (an `.mc` `MAILER(name)` has an empty spec).
    Mailer { name: String, spec: String },
    /// `RELAY_MAILER_ARGS` and friends (`.mc` only); `late` when it came
    /// after the matching `MAILER()`, where m4 ignores it (spec §4.1).
    MailerArgs {
        macro_name: String,
        args: String,
        late: bool,
    },
    /// `FEATURE(name, args)` (`.mc`), or recovered from a cf's
    /// `##### $Id: name.m4` comment.
    Feature { name: String, args: Vec<String> },
    /// A ruleset: `S` line and its `R` lines (`custom`: not one m4 writes).
    Rules {
        name: String,
        rules: usize,
        last_line: usize,
        custom: bool,
    },
    /// `H`, `P`, `V`, `T`, `E`, `Q`, `X`, `L` lines: kept for the report.
    Other { letter: char, body: String },
    /// Something the reader itself must report (m4 mechanics: straight
    /// quotes, `include`, `OSTYPE`, unknown macros).
    Note {
        construct: String,
        reason: String,
        decide: bool,
    },
}

/// A whole configuration file, read.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file as named in the report.
    pub file: String,
    pub entries: Vec<Entry>,
}

/// Shortens a construct for the report (long `.cf` lines).
pub fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= 80 {
        return s.to_string();
    }
    let cut: String = s.chars().take(77).collect();
    format!("{cut}...")
}

/// The path of a map spec (`hash -T<TMPF> -o /etc/mail/access.db`): the
/// last word not starting with `-`, without the `.db` suffix, and whether
/// `-o` (optional) was given.
pub fn map_path(spec: &str) -> Option<(String, bool)> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let optional = words.iter().skip(1).any(|w| *w == "-o");
    let path = words.iter().skip(1).rev().find(|w| !w.starts_with('-'))?;
    let path = path.strip_suffix(".db").unwrap_or(path);
    Some((path.to_string(), optional))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_path_takes_the_last_plain_word() {
        assert_eq!(
            map_path("hash -T<TMPF> -o /etc/mail/access.db"),
            Some(("/etc/mail/access".into(), true))
        );
        assert_eq!(
            map_path("hash /etc/mail/virtusertable"),
            Some(("/etc/mail/virtusertable".into(), false))
        );
        assert_eq!(map_path("dequote"), None);
    }

    #[test]
    fn long_constructs_are_shortened() {
        assert_eq!(shorten(&"x".repeat(100)).chars().count(), 80);
        assert_eq!(shorten(" Cw a "), "Cw a");
    }
}
