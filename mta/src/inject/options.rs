//! Command lines of qmail-inject (spec §8.1) and sendmail (spec §8.6).
//!
//! Both are parsed with djb's getopt (`sgetopt.c`), reproduced here rather
//! than with clap because the wrapper must accept exactly what qmail's
//! does: clustered flags (`-ti`), attached or separate arguments (`-oi`,
//! `-f x`), `-E`/`-J` swallowing the rest of their word, parsing stopping
//! at the first non-option word or `--`, and qmail's own usage texts.

/// One getopt result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// A known option, with its argument if it takes one.
    Flag(u8, Option<Vec<u8>>),
    /// An unknown option, or one missing its argument; the message is
    /// sgetopt's (`prog: illegal option -- x`).
    Bad(String),
}

/// djb's getopt over `args` (without argv\[0\]); `spec` as getopt's
/// (`b"f:n"`).
pub struct Getopt<'a> {
    prog: String,
    args: &'a [Vec<u8>],
    spec: &'static [u8],
    ind: usize,
    pos: usize,
}

impl<'a> Getopt<'a> {
    pub fn new(prog: &str, args: &'a [Vec<u8>], spec: &'static [u8]) -> Getopt<'a> {
        Getopt {
            prog: prog.to_string(),
            args,
            spec,
            ind: 0,
            pos: 0,
        }
    }

    /// The words after the options.
    pub fn rest(&self) -> &'a [Vec<u8>] {
        &self.args[self.ind.min(self.args.len())..]
    }

    /// Skips what is left of the current word (sendmail's `-E`, `-J`).
    pub fn skip_word(&mut self) {
        if let Some(w) = self.args.get(self.ind) {
            self.pos = w.len();
        }
    }

    fn takes_arg(&self, c: u8) -> Option<bool> {
        let s = self.spec;
        let i = s.iter().position(|&x| x == c && x != b':')?;
        Some(s.get(i + 1) == Some(&b':'))
    }
}

impl Iterator for Getopt<'_> {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        let mut word = self.args.get(self.ind)?;
        if self.pos > 0 && self.pos >= word.len() {
            self.ind += 1;
            self.pos = 0;
            word = self.args.get(self.ind)?;
        }
        if self.pos == 0 {
            if word.first() != Some(&b'-') {
                return None;
            }
            match word.get(1) {
                // `-` alone is an argument; `--...` ends the options.
                None => return None,
                Some(b'-') => {
                    self.ind += 1;
                    return None;
                }
                Some(_) => self.pos = 1,
            }
        }
        let c = word[self.pos];
        self.pos += 1;
        match self.takes_arg(c) {
            None => Some(Opt::Bad(format!(
                "{}: illegal option -- {}",
                self.prog, c as char
            ))),
            Some(false) => Some(Opt::Flag(c, None)),
            Some(true) => {
                let attached = word[self.pos..].to_vec();
                self.ind += 1;
                self.pos = 0;
                if !attached.is_empty() {
                    return Some(Opt::Flag(c, Some(attached)));
                }
                match self.args.get(self.ind) {
                    Some(a) => {
                        self.ind += 1;
                        Some(Opt::Flag(c, Some(a.clone())))
                    }
                    None => Some(Opt::Bad(format!(
                        "{}: option requires an argument -- {}",
                        self.prog, c as char
                    ))),
                }
            }
        }
    }
}

/// Where qmail-inject takes recipients from (spec §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    /// `-a`: arguments only.
    Args,
    /// `-h`: header only.
    Header,
    /// `-H`: both.
    Both,
}

/// qmail-inject's options, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectOptions {
    pub recipients: Recipients,
    /// False with `-n`: print instead of queueing.
    pub queue: bool,
    /// Every `-f` given, in order (the last one wins; each must parse).
    pub senders: Vec<Vec<u8>>,
    /// The recipient arguments.
    pub args: Vec<Vec<u8>>,
}

/// Parses `qmail-inject [-nNaAhH] [-fsender] [recip ...]`.
pub fn inject(args: &[Vec<u8>]) -> Result<InjectOptions, super::InjectError> {
    let mut g = Getopt::new("qmail-inject", args, b"aAhHnNf:");
    let mut strategy = None; // None = -A, the default
    let mut queue = true;
    let mut senders = Vec::new();
    for o in g.by_ref() {
        match o {
            Opt::Flag(b'a', _) => strategy = Some(Recipients::Args),
            Opt::Flag(b'A', _) => strategy = None,
            Opt::Flag(b'h', _) => strategy = Some(Recipients::Header),
            Opt::Flag(b'H', _) => strategy = Some(Recipients::Both),
            Opt::Flag(b'n', _) => queue = false,
            Opt::Flag(b'N', _) => queue = true,
            Opt::Flag(_, Some(f)) => senders.push(f),
            Opt::Flag(..) => {}
            Opt::Bad(m) => return Err(super::InjectError::Usage(m)),
        }
    }
    let rest = g.rest().to_vec();
    let recipients = strategy.unwrap_or(if rest.is_empty() {
        Recipients::Header
    } else {
        Recipients::Args
    });
    Ok(InjectOptions {
        recipients,
        queue,
        senders,
        args: rest,
    })
}

/// What a sendmail command line asks for (spec §8.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendmailAction {
    /// Run qmail-inject: `-H` with `-t`, else `-a`; `-f`; then the
    /// arguments after `--`. `name` is `-F`'s.
    Inject {
        headers: bool,
        sender: Option<Vec<u8>>,
        name: Option<Vec<u8>>,
        args: Vec<Vec<u8>>,
    },
    /// `-bp`, or invoked as `mailq`.
    Mailq,
    /// `-bs`. `name` is an earlier `-F`'s (it reaches the environment).
    Smtpd { name: Option<Vec<u8>> },
    /// Invoked as `newaliases`.
    NewAliases,
    /// Print `message` (if any) and the usage line; exit 100.
    Usage(Option<String>),
}

/// sendmail's usage line.
pub const SENDMAIL_USAGE: &str =
    "sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]";

/// Parses a sendmail command line; `prog` is argv\[0\]'s last component.
pub fn sendmail(prog: &str, args: &[Vec<u8>]) -> SendmailAction {
    let mut g = Getopt::new(prog, args, b"vimte:f:p:o:B:F:EJxb:");
    let mut headers = false;
    let mut sender = None;
    let mut name = None;
    while let Some(o) = g.next() {
        match o {
            Opt::Flag(b't', _) => headers = true,
            Opt::Flag(b'f', a) => sender = a,
            Opt::Flag(b'F', a) => name = a,
            Opt::Flag(b'E' | b'J', _) => g.skip_word(),
            Opt::Flag(b'b', a) => match a.as_deref().and_then(|a| a.first()) {
                Some(b'm') => {}
                Some(b'p') => return SendmailAction::Mailq,
                Some(b's') => return SendmailAction::Smtpd { name },
                _ => return SendmailAction::Usage(None),
            },
            // -v -i -x -m -e -o -B -p: qmail has one delivery mode, one
            // error mode, and never takes a lone `.` as the end.
            Opt::Flag(..) => {}
            Opt::Bad(m) => return SendmailAction::Usage(Some(m)),
        }
    }
    match prog {
        "mailq" => SendmailAction::Mailq,
        "newaliases" => SendmailAction::NewAliases,
        _ => SendmailAction::Inject {
            headers,
            sender,
            name,
            args: g.rest().to_vec(),
        },
    }
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
