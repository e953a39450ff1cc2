//! RFC 822 tokens as qmail-inject sees them (qmail's `token822.c`): the
//! lexer, the address-list walker that finds each address in a header
//! field, and the printer that re-serialises a field, folding long lists
//! (spec §8.3, last paragraph).
//!
//! Hand-written because the output must be byte-exact with qmail's: which
//! spaces are re-inserted, where comments move to, when a list is folded
//! onto continuation lines, and which syntax errors are fatal. mail-parser
//! and friends normalise differently and cannot reproduce any of that.

/// One lexical token. Words carry their bytes without quotes, brackets,
/// parentheses or backslashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Atom(Vec<u8>),
    Quote(Vec<u8>),
    Literal(Vec<u8>),
    Comment(Vec<u8>),
    Comma,
    At,
    Dot,
    Left,
    Right,
    Semi,
    Colon,
}

/// The text is not RFC 822 as qmail reads it: an unbalanced `)` or `]`,
/// an unterminated comment, quote or literal, or a group that does not
/// nest (`a;b;`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError;

/// Bytes that end an atom (qmail's `atomok`). `)`, `]` and `\` do not:
/// they make the atom a quoted string instead (see [`parse`]).
fn atom_ok(c: u8) -> bool {
    !matches!(
        c,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'('
            | b'['
            | b'"'
            | b'<'
            | b'>'
            | b';'
            | b':'
            | b'@'
            | b','
            | b'.'
    )
}

/// Reads a bracketed run starting after its opening byte; `nests` is true
/// for comments. Returns the content and the index after the close.
fn bracketed(
    s: &[u8],
    mut i: usize,
    close: u8,
    nests: bool,
) -> Result<(Vec<u8>, usize), SyntaxError> {
    let mut out = Vec::new();
    let mut level = 1;
    loop {
        let c = *s.get(i).ok_or(SyntaxError)?;
        i += 1;
        if nests && c == b'(' {
            level += 1;
        } else if c == close {
            level -= 1;
            if level == 0 {
                return Ok((out, i));
            }
        } else if c == b'\\' {
            out.push(*s.get(i).ok_or(SyntaxError)?);
            i += 1;
        } else {
            out.push(c);
        }
    }
}

/// Splits `s` into tokens. Whitespace (including newlines of folded
/// fields) separates tokens and is dropped. An atom holding a control
/// byte, a byte above 126, `)`, `]` or `\` becomes a quoted string.
pub fn parse(s: &[u8]) -> Result<Vec<Token>, SyntaxError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        let t = match c {
            b'.' => Token::Dot,
            b',' => Token::Comma,
            b'@' => Token::At,
            b'<' => Token::Left,
            b'>' => Token::Right,
            b':' => Token::Colon,
            b';' => Token::Semi,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b')' | b']' => return Err(SyntaxError),
            b'(' | b'"' | b'[' => {
                let (close, nests) = match c {
                    b'(' => (b')', true),
                    b'"' => (b'"', false),
                    _ => (b']', false),
                };
                let (body, next) = bracketed(s, i, close, nests)?;
                i = next;
                match c {
                    b'(' => Token::Comment(body),
                    b'"' => Token::Quote(body),
                    _ => Token::Literal(body),
                }
            }
            _ => {
                // An atom; a backslash escapes the next byte, and one at
                // the very end of the text is dropped.
                let mut a = Vec::new();
                let mut j = i - 1;
                loop {
                    if s[j] == b'\\' {
                        j += 1;
                        if j >= s.len() {
                            break;
                        }
                    }
                    a.push(s[j]);
                    j += 1;
                    if j >= s.len() || !atom_ok(s[j]) {
                        break;
                    }
                }
                i = j;
                let odd = a
                    .iter()
                    .any(|&b| !(32..=126).contains(&b) || matches!(b, b')' | b']' | b'\\'));
                if odd {
                    Token::Quote(a)
                } else {
                    Token::Atom(a)
                }
            }
        };
        out.push(t);
    }
    Ok(out)
}

fn is_word(t: &Token) -> bool {
    matches!(
        t,
        Token::Atom(_) | Token::Quote(_) | Token::Literal(_) | Token::Comment(_)
    )
}

/// qmail's `needspace`: where the printer puts a space between tokens.
fn need_space(prev: Option<&Token>, next: &Token) -> bool {
    match prev {
        None => false,
        Some(Token::Colon | Token::Comma) => true,
        Some(_) if *next == Token::Left => true,
        Some(p) => is_word(p) && is_word(next),
    }
}

fn put_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        if matches!(c, b'"' | b'[' | b']' | b'(' | b')' | b'\\' | b'\r' | b'\n') {
            out.push(b'\\');
        }
        out.push(c);
    }
}

/// Folding state of [`unparse`]: after each comma a tentative line break
/// `\n ` is written; when the next comma (or the end) shows that the line
/// still fits in `linelen` columns, the previous tentative break is taken
/// out again (qmail's `NSUW` macro, reproduced step for step).
struct Folder {
    linelen: usize,
    line_start: usize,
    last_break: Option<usize>,
}

impl Folder {
    fn tentative_break(&mut self, out: &mut Vec<u8>) {
        let s = out.len();
        out.extend_from_slice(b"\n ");
        match self.last_break {
            Some(e) if self.linelen == 0 || s - self.line_start <= self.linelen => {
                out.drain(e..e + 2);
                self.last_break = Some(s - 2);
            }
            prev => {
                if let Some(e) = prev {
                    self.line_start = e + 1;
                }
                self.last_break = Some(s);
            }
        }
    }
}

/// Prints tokens as a header field, folding address lists at `linelen`
/// columns (0 = never). The result ends with a newline.
pub fn unparse(tokens: &[Token], linelen: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut fold = Folder {
        linelen,
        line_start: 0,
        last_break: None,
    };
    let mut prev: Option<&Token> = None;
    for t in tokens {
        if need_space(prev, t) {
            out.push(b' ');
        }
        prev = Some(t);
        match t {
            Token::Comma => {
                out.push(b',');
                fold.tentative_break(&mut out);
            }
            Token::At => out.push(b'@'),
            Token::Dot => out.push(b'.'),
            Token::Left => out.push(b'<'),
            Token::Right => out.push(b'>'),
            Token::Semi => out.push(b';'),
            Token::Colon => out.push(b':'),
            Token::Atom(s) => put_escaped(&mut out, s),
            Token::Quote(s) | Token::Literal(s) | Token::Comment(s) => {
                let (open, close) = match t {
                    Token::Quote(_) => (b'"', b'"'),
                    Token::Literal(_) => (b'[', b']'),
                    _ => (b'(', b')'),
                };
                out.push(open);
                put_escaped(&mut out, s);
                out.push(close);
            }
        }
    }
    fold.tentative_break(&mut out);
    out.pop();
    out
}

/// The address as an envelope wants it: quotes and backslashes gone,
/// literals keep their brackets, comments dropped.
pub fn unquote(tokens: &[Token]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            Token::Comma => out.push(b','),
            Token::At => out.push(b'@'),
            Token::Dot => out.push(b'.'),
            Token::Left => out.push(b'<'),
            Token::Right => out.push(b'>'),
            Token::Semi => out.push(b';'),
            Token::Colon => out.push(b':'),
            Token::Literal(s) => {
                out.push(b'[');
                out.extend_from_slice(s);
                out.push(b']');
            }
            Token::Atom(s) | Token::Quote(s) => out.extend_from_slice(s),
            Token::Comment(_) => {}
        }
    }
    out
}

/// Walks the address list of a header field (`tokens` starts with the
/// field name and its colon), calls `each` on every address (in natural
/// order, possibly empty for `<>`, which `each` may rewrite in place), and
/// returns the field's tokens with the rewritten addresses.
///
/// Like qmail, it walks from right to left, which makes RFC 822 lists easy:
/// a `>` closes a route address whose phrase is everything back to the
/// previous separator; two words with no separator between them are two
/// addresses (a comma is inserted, spec §8.3 step 6); comments stay
/// outside the address and end up after it.
pub fn addrlist(
    tokens: &[Token],
    each: &mut dyn FnMut(&mut Vec<Token>),
) -> Result<Vec<Token>, SyntaxError> {
    // `out` and `addr` are built in reverse and turned round at the end.
    let mut out: Vec<Token> = Vec::new();
    let mut addr: Vec<Token> = Vec::new();
    let got =
        |out: &mut Vec<Token>, addr: &mut Vec<Token>, each: &mut dyn FnMut(&mut Vec<Token>)| {
            addr.reverse();
            each(addr);
            addr.reverse();
            out.append(addr);
        };
    let flush_comma =
        |out: &mut Vec<Token>, addr: &mut Vec<Token>, each: &mut dyn FnMut(&mut Vec<Token>)| {
            if !addr.is_empty() {
                got(out, addr, each);
                out.push(Token::Comma);
            }
        };
    let begin: isize = 2;
    let mut t: isize = tokens.len() as isize - 1;
    let at = |i: isize| &tokens[i as usize];
    let mut in_group = false;
    let mut word_ok = true;
    while t >= begin {
        match at(t) {
            Token::Semi => {
                flush_comma(&mut out, &mut addr, each);
                if in_group {
                    return Err(SyntaxError);
                }
                in_group = true;
                word_ok = true;
            }
            Token::Colon => {
                if !addr.is_empty() {
                    got(&mut out, &mut addr, each);
                }
                if !in_group {
                    return Err(SyntaxError);
                }
                in_group = false;
                while t >= begin && *at(t) != Token::Comma {
                    out.push(at(t).clone());
                    t -= 1;
                }
                if t >= begin {
                    out.push(at(t).clone());
                    t -= 1;
                }
                word_ok = true;
                continue;
            }
            Token::Right => {
                flush_comma(&mut out, &mut addr, each);
                out.push(Token::Right);
                t -= 1;
                while t >= begin && *at(t) != Token::Left {
                    addr.push(at(t).clone());
                    t -= 1;
                }
                // Even an empty address is one: `<>`.
                got(&mut out, &mut addr, each);
                if t < begin {
                    return Err(SyntaxError);
                }
                out.push(Token::Left);
                t -= 1;
                while t >= begin
                    && matches!(
                        at(t),
                        Token::Comment(_)
                            | Token::Atom(_)
                            | Token::Quote(_)
                            | Token::At
                            | Token::Dot
                    )
                {
                    out.push(at(t).clone());
                    t -= 1;
                }
                word_ok = false;
                continue;
            }
            Token::Atom(_) | Token::Quote(_) | Token::Literal(_) => {
                if !word_ok {
                    flush_comma(&mut out, &mut addr, each);
                }
                word_ok = false;
                addr.push(at(t).clone());
                t -= 1;
                continue;
            }
            // A comment is lexically a space: it does not separate words.
            Token::Comment(_) => {}
            Token::Comma => {
                if !addr.is_empty() {
                    got(&mut out, &mut addr, each);
                }
                word_ok = true;
            }
            Token::At | Token::Dot | Token::Left => {
                word_ok = true;
                addr.push(at(t).clone());
                t -= 1;
                continue;
            }
        }
        out.push(at(t).clone());
        t -= 1;
    }
    if !addr.is_empty() {
        got(&mut out, &mut addr, each);
    }
    // The field name and colon (or whatever precedes the list).
    let mut rest = (t + 1).max(0) as usize;
    while rest > 0 {
        rest -= 1;
        out.push(tokens[rest].clone());
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Token {
        Token::Atom(s.as_bytes().to_vec())
    }

    #[test]
    fn lexes_words_and_specials() {
        let t = parse(b"To: \"J. D\" <j@[1.2.3.4]> (c (n)), x\n").unwrap();
        assert_eq!(
            t,
            vec![
                a("To"),
                Token::Colon,
                Token::Quote(b"J. D".to_vec()),
                Token::Left,
                a("j"),
                Token::At,
                Token::Literal(b"1.2.3.4".to_vec()),
                Token::Right,
                // Nested parentheses are dropped, as in qmail.
                Token::Comment(b"c n".to_vec()),
                Token::Comma,
                a("x"),
            ]
        );
    }

    #[test]
    fn lexing_errors() {
        for bad in [&b")"[..], b"]", b"(open", b"\"open", b"[open", b"\"a\\"] {
            assert_eq!(parse(bad), Err(SyntaxError), "{:?}", bad);
        }
    }

    #[test]
    fn odd_atoms_become_quotes() {
        assert_eq!(parse(b"a)b").unwrap(), vec![Token::Quote(b"a)b".to_vec())]);
        assert_eq!(parse(b"a\\ b").unwrap(), vec![a("a b")]);
        assert_eq!(parse(b"x\\").unwrap(), vec![a("x")]);
    }

    #[test]
    fn unparse_spacing_and_escapes() {
        let t = parse(b"From:   \"a\\\"b\"   <u @ h . c>(x)").unwrap();
        assert_eq!(unparse(&t, 80), b"From: \"a\\\"b\" <u@h.c>(x)\n");
    }

    #[test]
    fn short_lists_are_joined_long_ones_folded() {
        let t = parse(b"To: a@b,\n c@d").unwrap();
        assert_eq!(unparse(&t, 80), b"To: a@b, c@d\n");
        let long: Vec<String> = (0..8).map(|i| format!("user{i}@example.com")).collect();
        let t = parse(format!("To: {}", long.join(",")).as_bytes()).unwrap();
        let out = String::from_utf8(unparse(&t, 80)).unwrap();
        assert_eq!(
            out,
            "To: user0@example.com, user1@example.com, user2@example.com,\n  \
             user3@example.com, user4@example.com, user5@example.com, user6@example.com,\n  \
             user7@example.com\n"
        );
        for line in out.lines() {
            assert!(line.len() <= 80);
        }
    }

    #[test]
    fn unquote_drops_quotes_and_comments() {
        let t = parse(b"\"a b\"@[1.2.3.4] (c)").unwrap();
        assert_eq!(unquote(&t), b"a b@[1.2.3.4]");
    }

    fn seen(field: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
        let t = parse(field.as_bytes()).unwrap();
        let mut v = Vec::new();
        let out = addrlist(&t, &mut |x| v.push(unquote(x))).unwrap();
        (v, unparse(&out, 80))
    }

    #[test]
    fn addrlist_finds_each_address() {
        let (v, out) = seen("To: Joe <j@x>, (c) k@y (K), <>, \"q\" <>\n");
        assert_eq!(
            v,
            vec![b"".to_vec(), b"".to_vec(), b"k@y".to_vec(), b"j@x".to_vec()]
        );
        assert_eq!(out, b"To: Joe <j@x>, k@y (c) (K), <>, \"q\" <>\n");
    }

    #[test]
    fn addrlist_inserts_commas_between_bare_words() {
        let (v, out) = seen("To: djb fred\n");
        assert_eq!(v, vec![b"fred".to_vec(), b"djb".to_vec()]);
        assert_eq!(out, b"To: djb, fred\n");
    }

    #[test]
    fn addrlist_groups() {
        let (v, out) = seen("To: list: a@b, c@d;, e@f\n");
        assert_eq!(v, vec![b"e@f".to_vec(), b"c@d".to_vec(), b"a@b".to_vec()]);
        assert_eq!(out, b"To: list: a@b, c@d;, e@f\n");
        let t = parse(b"To: a;b;").unwrap();
        assert!(addrlist(&t, &mut |_| {}).is_err());
        let t = parse(b"To: a:b").unwrap();
        assert!(addrlist(&t, &mut |_| {}).is_err());
        let t = parse(b"To: a>").unwrap();
        assert!(addrlist(&t, &mut |_| {}).is_err());
    }

    #[test]
    fn addrlist_rewrites_in_place() {
        let t = parse(b"Cc: x, Y <y>").unwrap();
        let out = addrlist(&t, &mut |addr| {
            addr.push(Token::At);
            addr.push(a("h"));
        })
        .unwrap();
        assert_eq!(unparse(&out, 80), b"Cc: x@h, Y <y@h>\n");
    }
}
