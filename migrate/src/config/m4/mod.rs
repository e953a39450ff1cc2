//! Reading `sendmail.mc` without m4 (spec §4.1).
//!
//! m4 is a general macro language and no crate evaluates it the way
//! sendmail's `cf.m4` does, so this is a small hand-written reader for
//! what `.mc` files actually contain: `dnl` and `#` comments, `` `quoted'
//! `` strings (nested), `divert(n)`, and calls of the sendmail macros
//! (`define`, `FEATURE`, `MAILER`, `DOMAIN`, `OSTYPE`, `DAEMON_OPTIONS`,
//! `MASQUERADE_AS`, `LOCAL_CONFIG` with raw `.cf` lines after it, ...).
//! Each call becomes the [`Entry`] its `.cf` form would be, so the
//! mapping is written once. Where m4 would do something surprising the
//! reader says so: straight quotes define another macro, mailer
//! arguments after `MAILER()` are ignored, `include` and `OSTYPE`/`DOMAIN`
//! pull in files this reader does not evaluate. Running m4 with the
//! sendmail-cf macros and migrating the `.cf` is always the exact way.
//!
//! Text outside macro calls while m4 is writing output (after
//! `divert(0)`) is not `.mc` syntax: the file is refused at that line.

mod calls;

use super::model::{shorten, Config, Entry, Kind};
use crate::detect::Refused;

/// Bare words that start raw `.cf` text (until the next such word).
const RAW_SECTIONS: &[&str] = &[
    "LOCAL_CONFIG",
    "LOCAL_RULESETS",
    "LOCAL_NET_CONFIG",
    "LOCAL_RULE_0",
    "LOCAL_RULE_1",
    "LOCAL_RULE_2",
    "LOCAL_RULE_3",
];

/// Words that end a raw section without starting one.
const RAW_ENDS: &[&str] = &[
    "MAILER_DEFINITIONS",
    "divert(",
    "MAILER(",
    "FEATURE(",
    "define(",
];

struct Reader<'a> {
    file: &'a str,
    b: &'a [u8],
    text: &'a str,
    pos: usize,
    line: usize,
    divert: i64,
    entries: Vec<Entry>,
    mailers: Vec<String>,
    sendmail_macro_seen: bool,
    /// Raw `.cf` lines (line number, text) from LOCAL_CONFIG and friends.
    raw: Vec<(usize, String)>,
    cw_file: Option<(usize, String)>,
    cr_file: Option<(usize, String)>,
    ct_file: Option<(usize, String)>,
    use_cw: Option<usize>,
    use_ct: Option<usize>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Reader<'a> {
    fn refuse(&self, line: usize, why: String) -> Refused {
        Refused {
            file: self.file.to_string(),
            line,
            why,
        }
    }

    fn push(&mut self, line: usize, text: &str, kind: Kind) {
        self.entries.push(Entry {
            line,
            text: shorten(text),
            kind,
        });
    }

    fn note(&mut self, line: usize, text: &str, reason: String, decide: bool) {
        self.push(
            line,
            text,
            Kind::Note {
                construct: format!("`{}`", shorten(text)),
                reason,
                decide,
            },
        );
    }

    fn bump(&mut self) -> Option<u8> {
        let c = *self.b.get(self.pos)?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == b'\n' {
                break;
            }
        }
    }

    /// Reads a `` `quoted' `` string (the opening quote already taken),
    /// keeping inner quotes.
    fn quoted(&mut self, out: &mut String, opened: usize) -> Result<(), Refused> {
        let mut depth = 1;
        let start = self.pos;
        loop {
            match self.bump() {
                None => {
                    return Err(self.refuse(
                        opened,
                        "unterminated `quoted' string (m4 would swallow the rest of the file)"
                            .into(),
                    ))
                }
                Some(b'`') => depth += 1,
                Some(b'\'') => {
                    depth -= 1;
                    if depth == 0 {
                        out.push_str(&self.text[start..self.pos - 1]);
                        return Ok(());
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Reads the arguments of a call (after its `(`), as m4 collects them:
    /// leading white space dropped, one level of quotes removed.
    fn args(&mut self, name: &str, opened: usize) -> Result<Vec<String>, Refused> {
        let mut args = Vec::new();
        let mut cur = String::new();
        let (mut depth, mut at_start) = (0u32, true);
        loop {
            let Some(c) = self.bump() else {
                return Err(self.refuse(
                    opened,
                    format!("unterminated macro call `{name}(` (no closing parenthesis)"),
                ));
            };
            if at_start && matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                continue;
            }
            at_start = false;
            match c {
                b'`' => {
                    let l = self.line;
                    self.quoted(&mut cur, l)?;
                }
                b'(' => {
                    depth += 1;
                    cur.push('(');
                }
                b')' if depth == 0 => {
                    args.push(cur.trim_end().to_string());
                    return Ok(args);
                }
                b')' => {
                    depth -= 1;
                    cur.push(')');
                }
                b',' if depth == 0 => {
                    args.push(std::mem::take(&mut cur).trim_end().to_string());
                    at_start = true;
                }
                _ => {
                    // Copy the whole UTF-8 character.
                    let s = self.pos - 1;
                    let mut e = self.pos;
                    while e < self.b.len() && !self.text.is_char_boundary(e) {
                        e += 1;
                    }
                    cur.push_str(&self.text[s..e]);
                    while self.pos < e {
                        self.bump();
                    }
                }
            }
        }
    }

    /// Raw `.cf` lines after `LOCAL_CONFIG` etc., up to the next section.
    fn raw_section(&mut self, section: &str, line: usize) {
        if section.starts_with("LOCAL_RULE_") || section == "LOCAL_NET_CONFIG" {
            self.raw.push((line, format!("S{section}")));
        }
        self.skip_line();
        while self.pos < self.b.len() {
            let rest = &self.text[self.pos..];
            let l = rest.split('\n').next().unwrap_or("");
            let t = l.trim_start();
            if RAW_SECTIONS.iter().any(|s| t.starts_with(s))
                || RAW_ENDS.iter().any(|s| t.starts_with(s))
            {
                return;
            }
            let text = l.split("dnl").next().unwrap_or("").trim_end();
            let n = self.line;
            if !text.trim().is_empty() {
                self.raw.push((n, text.to_string()));
            }
            self.skip_line();
        }
    }

    fn run(&mut self) -> Result<(), Refused> {
        while let Some(&c) = self.b.get(self.pos) {
            let line = self.line;
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.bump();
                continue;
            }
            if c == b'#' {
                self.skip_line();
                continue;
            }
            if is_ident_start(c) {
                let start = self.pos;
                while self.b.get(self.pos).is_some_and(|&c| is_ident(c)) {
                    self.pos += 1;
                }
                let name = &self.text[start..self.pos];
                if name == "dnl" {
                    self.skip_line();
                    continue;
                }
                if self.b.get(self.pos) == Some(&b'(') && self.known_call(name) {
                    self.pos += 1;
                    let args = self.args(name, line)?;
                    let shown = &self.text[start..self.pos];
                    self.call(name, &args, line, shown)?;
                    continue;
                }
                if RAW_SECTIONS.contains(&name) {
                    self.sendmail_macro_seen = true;
                    self.raw_section(name, line);
                    continue;
                }
                if name == "MAILER_DEFINITIONS" {
                    continue;
                }
                if self.divert < 0 {
                    continue;
                }
                let l = self.text[start..].lines().next().unwrap_or("");
                return Err(self.refuse(
                    line,
                    format!(
                        "`{}` is not sendmail .mc syntax (m4 would copy it into the .cf as is)",
                        shorten(l)
                    ),
                ));
            }
            if c == b'`' {
                self.bump();
                let mut s = String::new();
                self.quoted(&mut s, line)?;
                if self.divert >= 0 && !s.trim().is_empty() {
                    return Err(self.refuse(
                        line,
                        format!("quoted text `{}' outside any macro call", shorten(&s)),
                    ));
                }
                continue;
            }
            if self.divert < 0 {
                self.bump();
                continue;
            }
            let l = self.text[self.pos..].lines().next().unwrap_or("");
            return Err(self.refuse(
                line,
                format!(
                    "`{}` is not sendmail .mc syntax (m4 would copy it into the .cf as is)",
                    shorten(l)
                ),
            ));
        }
        Ok(())
    }

    /// True when `NAME(` is a call this reader handles or reports; an
    /// unknown lower-case name followed by `(` is plain text to m4.
    fn known_call(&self, name: &str) -> bool {
        name.bytes().any(|c| c.is_ascii_uppercase())
            || matches!(
                name,
                "define" | "undefine" | "divert" | "include" | "ifdef" | "ifelse" | "changequote"
            )
    }
}

/// Reads an `.mc` file's text; `file` names it in the report.
pub fn read(file: &str, text: &str) -> Result<Config, Refused> {
    let mut r = Reader {
        file,
        b: text.as_bytes(),
        text,
        pos: 0,
        line: 1,
        divert: 0,
        entries: Vec::new(),
        mailers: Vec::new(),
        sendmail_macro_seen: false,
        raw: Vec::new(),
        cw_file: None,
        cr_file: None,
        ct_file: None,
        use_cw: None,
        use_ct: None,
    };
    r.run()?;
    if !r.sendmail_macro_seen {
        return Err(r.refuse(
            1,
            "no sendmail m4 macro (include of cf.m4, OSTYPE, FEATURE, MAILER, define) in the file"
                .into(),
        ));
    }
    r.finish();
    let mut entries = std::mem::take(&mut r.entries);
    if !r.raw.is_empty() {
        // Same line numbers as the .mc: blank lines elsewhere.
        let last = r.raw.iter().map(|(n, _)| *n).max().unwrap_or(0);
        let mut lines = vec![String::new(); last];
        for (n, t) in &r.raw {
            lines[n - 1] = t.clone();
        }
        let cf = super::cf::read(file, &lines.join("\n"))?;
        entries.extend(cf.entries);
    }
    entries.sort_by_key(|e| e.line);
    Ok(Config {
        file: file.to_string(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<(usize, Kind)> {
        read("mc", t)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| (e.line, e.kind))
            .collect()
    }

    #[test]
    fn defines_features_and_quotes() {
        let k = kinds(
            "divert(-1)dnl\nThis text (don't mind it) is discarded\ndivert(0)dnl\n\
             include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\n\
             define(`confDOMAIN_NAME', `mail.example.org')dnl\n\
             define(`SMART_HOST',\n   `esmtp:[relay.example]')dnl # a comment\n\
             FEATURE(`virtusertable')dnl\nFEATURE(`access_db', , `skip')\n\
             define(`confMAX_MESSAGE_SIZE', `10485760')\n",
        );
        assert!(k.contains(&(
            5,
            Kind::Macro {
                name: "j".into(),
                value: "mail.example.org".into()
            }
        )));
        assert!(k.contains(&(
            6,
            Kind::Macro {
                name: "S".into(),
                value: "esmtp:[relay.example]".into()
            }
        )));
        assert!(k.contains(&(
            8,
            Kind::Map {
                name: "virtuser".into(),
                spec: "hash -o /etc/mail/virtusertable".into()
            }
        )));
        assert!(k.contains(&(
            9,
            Kind::Map {
                name: "access".into(),
                spec: "hash -T<TMPF> -o /etc/mail/access".into()
            }
        )));
        assert!(k.contains(&(
            10,
            Kind::Option {
                name: "MaxMessageSize".into(),
                value: "10485760".into()
            }
        )));
        assert!(k.contains(&(
            0,
            Kind::ClassFile {
                name: "R".into(),
                path: "/etc/mail/relay-domains".into(),
                optional: true
            }
        )));
    }

    #[test]
    fn local_config_lines_are_cf() {
        let k = kinds(
            "OSTYPE(`linux')\nMAILER(`smtp')\nLOCAL_CONFIG\n# ours\nCwlists.example.org\n\
             LOCAL_RULESETS\nSLocal_check_rcpt\nR$* $#error $: 550 no\n",
        );
        assert!(k.contains(&(
            5,
            Kind::Class {
                name: "w".into(),
                words: vec!["lists.example.org".into()]
            }
        )));
        assert!(k
            .iter()
            .any(|(l, k)| *l == 7 && matches!(k, Kind::Rules { custom: true, .. })));
    }

    #[test]
    fn mailer_args_after_mailer_are_late() {
        let k = kinds(
            "define(`RELAY_MAILER_ARGS', `TCP $h 587')\nMAILER(`smtp')\n\
             define(`ESMTP_MAILER_ARGS', `TCP $h 2525')\n",
        );
        let at = |n: usize| k.iter().find(|(l, _)| *l == n).map(|(_, k)| k.clone());
        assert!(matches!(at(1), Some(Kind::MailerArgs { late: false, .. })));
        assert!(matches!(at(3), Some(Kind::MailerArgs { late: true, .. })));
    }

    #[test]
    fn straight_quotes_are_reported() {
        let k = kinds("define('ALIAS_FILE','/etc/aliases')\nMAILER(`local')\n");
        let k: Vec<_> = k.into_iter().filter(|(l, _)| *l == 1).collect();
        assert!(
            matches!(&k[0].1, Kind::Note { decide: true, reason, .. } if reason.contains("straight quotes"))
        );
    }

    #[test]
    fn non_mc_input_is_refused_at_its_line() {
        let e = read(
            "/etc/mail/sendmail.mc",
            "# main.cf\nmyhostname = mail.example.org\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e
            .why
            .contains("`myhostname = mail.example.org` is not sendmail .mc syntax"));
        let e = read("m", "dnl nothing\n").unwrap_err();
        assert!(e.why.contains("no sendmail m4 macro"));
        let e = read("m", "FEATURE(`x'\n").unwrap_err();
        assert!(e.why.contains("unterminated"), "{e}");
    }
}
