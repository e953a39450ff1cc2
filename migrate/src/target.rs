//! One right-hand side of an alias, an `:include:` line or a `.forward`
//! line, read the way sendmail 8.17 reads it (spec §1.3).
//!
//! Hand-written because it must reproduce sendmail's observed parse, which
//! no RFC 822 crate does: addresses are split on commas only (quotes,
//! `<...>` and `(...)` protect them, a backslash does not), white space
//! inside one unquoted address makes it one bogus address, an unquoted
//! `|prog arg` becomes `prog.arg` (BlankSub), and `error:` is an RFC 822
//! group label, not the error mailer.

use std::borrow::Cow;

use crate::site::Site;

/// Where one address of a right-hand side delivers, in sendmail's terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A local name (lower-cased); aliased again unless `backslash`.
    Local { user: String, backslash: bool },
    /// A remote address; the local part keeps its case and quotes.
    Remote(String),
    /// The program mailer: `sh -c CMD`.
    Program(String),
    /// The file mailer: append to PATH (`/dev/null` discards).
    File(String),
    /// `:include:PATH`, read at delivery time.
    Include(String),
}

/// A piece sendmail cannot deliver to (it bounces or rejects it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bogus {
    pub text: String,
    /// sendmail's verdict, e.g. `550 5.1.1 User unknown`.
    pub why: &'static str,
}

/// One piece after parsing, with the notes the report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub piece: String,
    pub result: Result<Target, Bogus>,
    /// The piece was `error:...` (group label stripped, spec §1.3).
    pub error_label: bool,
}

/// Splits `text` on commas that are outside quotes, `<>` and `()`.
/// Empty pieces (a trailing comma) are dropped.
pub fn split_commas(text: &str) -> Vec<&str> {
    Commas::new(text).collect()
}

/// [`split_commas`] as an iterator (nothing collected: the aliases reader
/// splits 100,000 right-hand sides).
#[derive(Debug, Clone)]
pub struct Commas<'a> {
    text: &'a str,
    /// Where the next piece starts; `None` once the last one was given.
    pos: Option<usize>,
}

impl<'a> Commas<'a> {
    pub fn new(text: &'a str) -> Commas<'a> {
        Commas { text, pos: Some(0) }
    }
}

impl<'a> Iterator for Commas<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        while let Some(start) = self.pos {
            // Quotes, brackets and parentheses are all closed at a split
            // comma, so each piece starts with a fresh state.
            let (mut quoted, mut angle, mut paren) = (false, 0u32, 0u32);
            let mut i = start;
            let mut end = None;
            while i < b.len() {
                match b[i] {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    b'<' if !quoted => angle += 1,
                    b'>' if !quoted => angle = angle.saturating_sub(1),
                    b'(' if !quoted => paren += 1,
                    b')' if !quoted => paren = paren.saturating_sub(1),
                    b',' if !quoted && angle == 0 && paren == 0 => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            let piece = match end {
                Some(e) => {
                    self.pos = Some(e + 1);
                    &self.text[start..e]
                }
                None => {
                    self.pos = None;
                    &self.text[start..]
                }
            };
            // Blank pieces (a trailing comma) are skipped; a piece is
            // rarely blank past its first byte or two.
            if !piece
                .bytes()
                .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            {
                return Some(piece);
            }
        }
        None
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Drops `(comments)` outside quotes.
fn strip_comments(s: &str) -> Cow<'_, str> {
    if memchr::memchr(b'(', s.as_bytes()).is_none() {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let (mut quoted, mut depth) = (false, 0u32);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
                continue;
            }
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                continue;
            }
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            out.push(c);
        }
    }
    out.into()
}

/// `Name <addr>` → `addr` (outside quotes).
fn angle_addr(s: &str) -> Option<&str> {
    // Without a `>` there is no route address (the common case).
    memchr::memchr(b'>', s.as_bytes())?;
    let mut quoted = false;
    let mut open = None;
    // Byte-wise: the delimiters are ASCII and never inside a UTF-8
    // multi-byte character.
    for (i, &c) in s.as_bytes().iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'<' if !quoted => open = Some(i),
            b'>' if !quoted => return open.map(|o| &s[o + 1..i]),
            _ => {}
        }
    }
    None
}

/// The content of a fully quoted string, unescaped, if `s` is one.
fn unquote_whole(s: &str) -> Option<Cow<'_, str>> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if memchr::memchr2(b'\\', b'"', inner.as_bytes()).is_none() {
        return Some(inner.into());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            _ => out.push(c),
        }
    }
    Some(out.into())
}

/// True when `s` has white space outside quotes.
fn has_unquoted_space(s: &str) -> bool {
    let mut quoted = false;
    for &c in s.as_bytes() {
        match c {
            b'"' => quoted = !quoted,
            b' ' | b'\t' | b'\r' | b'\n' if !quoted => return true,
            _ => {}
        }
    }
    false
}

/// sendmail's BlankSub for an unquoted program: the space right after the
/// bar vanishes, every other run of white space becomes one `.`.
fn blanksub(cmd: &str) -> String {
    cmd.split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// True when `piece` is an unquoted program whose blanks sendmail turned
/// into `.` (spec §1.3, F9): `|prog arg`, not `| prog` nor `"|prog arg"`.
pub fn blank_substituted(piece: &str) -> bool {
    match trim(piece).strip_prefix('|') {
        Some(cmd) => {
            let cmd = trim(cmd);
            !cmd.starts_with('"') && cmd.contains([' ', '\t'])
        }
        None => false,
    }
}

fn include_path(rest: &str) -> Target {
    Target::Include(trim(rest).to_string())
}

/// Parses one comma-separated piece (spec §1.3 and the §5 table).
pub fn parse_piece(site: &Site, raw: &str) -> Parsed {
    let p = parse_piece_ref(site, raw);
    Parsed {
        piece: p.piece.to_string(),
        result: p.result,
        error_label: p.error_label,
    }
}

/// [`Parsed`] borrowing its piece from the right-hand side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceRef<'a> {
    pub piece: &'a str,
    pub result: Result<Target, Bogus>,
    pub error_label: bool,
}

/// [`parse_piece`] without copying the piece.
pub fn parse_piece_ref<'a>(site: &Site, raw: &'a str) -> PieceRef<'a> {
    let piece = trim(raw);
    if let Some(at) = plain(piece) {
        // What every step below would leave as it is.
        return PieceRef {
            piece,
            result: local_or_remote_at(site, piece, piece, at),
            error_label: false,
        };
    }
    let mut error_label = false;
    let stripped = strip_comments(piece);
    let mut s = trim(&stripped);
    if let Some(a) = angle_addr(s) {
        s = trim(a);
    }
    // `error:` is an RFC 822 group label in an m4-built cf (spec §1.3).
    if s.len() > 6 && s.get(..6).is_some_and(|h| h.eq_ignore_ascii_case("error:")) {
        error_label = true;
        s = trim(&s[6..]);
    }
    // A backslash before a comma does not protect it (§5 #40): the comma
    // split already happened and the stray backslash quotes nothing.
    if s.ends_with('\\') && !s.ends_with("\\\\") && s.len() > 1 {
        s = &s[..s.len() - 1];
    }
    let result = classify(site, s);
    PieceRef {
        piece,
        result,
        error_label,
    }
}

/// A bare `user` or `user@host`: no comment, route, quote, program, file,
/// include, `error:` label, backslash or blank, so nothing for the
/// general path to strip or classify (most pieces of a large file).
/// `Some` with the position of the last `@` when it is one.
fn plain(s: &str) -> Option<Option<usize>> {
    if s.is_empty() || s.starts_with('/') {
        return None;
    }
    let mut at = None;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        match c {
            b'@' => at = Some(i),
            b'(' | b')' | b'<' | b'>' | b'"' | b'\\' | b'|' | b':' | b' ' | b'\t' | b'\r'
            | b'\n' => return None,
            _ => {}
        }
    }
    Some(at)
}

fn classify(site: &Site, s: &str) -> Result<Target, Bogus> {
    let bogus = |why| {
        Err(Bogus {
            text: s.to_string(),
            why,
        })
    };
    if let Some(rest) = s.strip_prefix(":include:") {
        return Ok(include_path(rest));
    }
    if let Some(inner) = unquote_whole(s) {
        if let Some(cmd) = inner.strip_prefix('|') {
            return Ok(Target::Program(trim(cmd).to_string()));
        }
        if inner.starts_with('/') {
            return Ok(Target::File(inner.into_owned()));
        }
        if let Some(rest) = inner.strip_prefix(":include:") {
            return Ok(include_path(rest));
        }
        // `"bob"` is the local user bob (§5 #43).
        return local_or_remote(site, &inner, s);
    }
    if let Some(cmd) = s.strip_prefix('|') {
        let cmd = trim(cmd);
        // `|"prog x"`: the bar before the quote still means a program.
        if let Some(inner) = unquote_whole(cmd) {
            return Ok(Target::Program(inner.into_owned()));
        }
        return Ok(Target::Program(blanksub(cmd)));
    }
    if s.starts_with('/') {
        if has_unquoted_space(s) {
            return Ok(Target::File(blanksub(s)));
        }
        return Ok(Target::File(s.to_string()));
    }
    if let Some(user) = s.strip_prefix('\\') {
        if user.is_empty() || has_unquoted_space(user) {
            return bogus("550 5.1.1 User unknown");
        }
        return Ok(Target::Local {
            user: user.to_ascii_lowercase(),
            backslash: true,
        });
    }
    if s.is_empty() {
        return bogus("553 5.1.3 empty address");
    }
    if has_unquoted_space(s) {
        return bogus("550 5.1.1 User unknown (white space makes it one address)");
    }
    local_or_remote(site, s, s)
}

fn local_or_remote(site: &Site, addr: &str, shown: &str) -> Result<Target, Bogus> {
    local_or_remote_at(site, addr, shown, last_unquoted_at(addr))
}

/// [`local_or_remote`] with the last unquoted `@` of `addr` found.
fn local_or_remote_at(
    site: &Site,
    addr: &str,
    shown: &str,
    at: Option<usize>,
) -> Result<Target, Bogus> {
    match at {
        None => Ok(Target::Local {
            user: addr.to_ascii_lowercase(),
            backslash: false,
        }),
        Some(i) => {
            let (local, host) = (&addr[..i], &addr[i + 1..]);
            if host.is_empty() {
                return Err(Bogus {
                    text: shown.to_string(),
                    why: "553 5.1.3 Hostname required",
                });
            }
            if site.is_local(host) {
                let user = local.trim_matches('"');
                return Ok(Target::Local {
                    user: user.to_ascii_lowercase(),
                    backslash: false,
                });
            }
            let mut a = String::with_capacity(addr.len());
            a.push_str(local);
            a.push('@');
            let h = a.len();
            a.push_str(host);
            a[h..].make_ascii_lowercase();
            Ok(Target::Remote(a))
        }
    }
}

fn last_unquoted_at(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut at = None;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'@' if !quoted => at = Some(i),
            _ => {}
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new("mail.example.org", &["example.org"])
    }
    fn one(s: &str) -> Result<Target, Bogus> {
        parse_piece(&site(), s).result
    }
    fn local(u: &str) -> Result<Target, Bogus> {
        Ok(Target::Local {
            user: u.into(),
            backslash: false,
        })
    }

    #[test]
    fn commas_split_outside_quotes_only() {
        assert_eq!(split_commas("bob, carol,"), vec!["bob", " carol"]);
        assert_eq!(
            split_commas("\"|prog a,b\", x"),
            vec!["\"|prog a,b\"", " x"]
        );
        assert_eq!(split_commas("bob\\,carol"), vec!["bob\\", "carol"]);
        assert_eq!(
            split_commas("A <a@b>, (x, y) c"),
            vec!["A <a@b>", " (x, y) c"]
        );
    }

    #[test]
    fn pieces_parse_as_sendmail_does() {
        assert_eq!(one("Bob"), local("bob"));
        assert_eq!(one("\"bob\""), local("bob"));
        assert_eq!(one("carol@localhost"), local("carol"));
        assert_eq!(one("bob@Example.ORG"), local("bob"));
        assert_eq!(
            one("Bob Smith <Bob@example.net>"),
            Ok(Target::Remote("Bob@example.net".into()))
        );
        assert_eq!(
            one("bob@example.net (Bob)"),
            Ok(Target::Remote("bob@example.net".into()))
        );
        assert_eq!(
            one("\"bob smith\"@example.net"),
            Ok(Target::Remote("\"bob smith\"@example.net".into()))
        );
        assert_eq!(
            one("|/usr/bin/prog x"),
            Ok(Target::Program("/usr/bin/prog.x".into()))
        );
        assert_eq!(
            one("| /usr/bin/foo"),
            Ok(Target::Program("/usr/bin/foo".into()))
        );
        assert_eq!(
            one("|\"/usr/bin/prog x\""),
            Ok(Target::Program("/usr/bin/prog x".into()))
        );
        assert_eq!(
            one("\"| /usr/bin/msgs -s\""),
            Ok(Target::Program("/usr/bin/msgs -s".into()))
        );
        assert_eq!(
            one("\"/var/tmp/with space\""),
            Ok(Target::File("/var/tmp/with space".into()))
        );
        assert_eq!(one(":include: /f"), Ok(Target::Include("/f".into())));
        assert_eq!(one("\":include:/f\""), Ok(Target::Include("/f".into())));
        assert_eq!(
            one("\\Alice"),
            Ok(Target::Local {
                user: "alice".into(),
                backslash: true
            })
        );
        assert!(one("bob carol").is_err());
        assert!(one("bob # note").is_err());
        assert_eq!(one("bob@").unwrap_err().why, "553 5.1.3 Hostname required");
        let e = parse_piece(&site(), "error:alice");
        assert!(e.error_label);
        assert_eq!(e.result, local("alice"));
        assert!(parse_piece(&site(), "error:5.1.1:550 No such user")
            .result
            .is_err());
    }

    #[test]
    fn plain_pieces_parse_as_the_general_path_does() {
        for p in [
            "bob",
            "Bob@Example.NET",
            "a@b@c",
            "x@",
            "\u{e9}t\u{e9}@h\u{e9}.org",
            "a.b",
        ] {
            assert_eq!(plain(p), Some(last_unquoted_at(p)), "{p}");
            assert_eq!(local_or_remote(&site(), p, p), classify(&site(), p), "{p}");
        }
        for p in [
            "/f",
            "|p",
            "a b",
            "\"q\"",
            "error:x",
            ":include:/f",
            "a(b)",
            "<a>",
            "\\a",
            "",
        ] {
            assert_eq!(plain(p), None, "{p}");
        }
    }

    #[test]
    fn a_multibyte_character_across_the_error_label_is_an_address() {
        // Byte 6 falls inside `é`: no label, and no panic slicing there.
        let e = parse_piece(&site(), "errorébob");
        assert!(!e.error_label);
        assert_eq!(e.result, local("errorébob"));
    }
}
