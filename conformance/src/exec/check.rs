//! The assertions of a scenario (conformance spec §8.2 `assert`):
//! deliveries to Maildirs, mboxes, files and the sink, bounces (parsed
//! with `mta::bounce::parse`, QSBMF and DSN into one model), and
//! recipients that must get nothing. Before checking, the target's queue
//! is allowed to drain, so "nothing delivered" means "nothing, ever".

use std::path::Path;
use std::time::Duration;

use super::Failure;
use crate::escape;
use crate::normalize::{self, Rule};
use crate::scenario::assertions::{
    Assertions, BounceCheck, BounceFormat, FileCheck, MessageChecks, NoDelivery,
};
use crate::scenario::{Capability, Profile};
use crate::sink::Sink;
use crate::target::{wait_until, Instance};

const SETTLE: Duration = Duration::from_secs(30);

/// Checks every assertion; the first failure is returned.
pub fn run(
    a: &Assertions,
    inst: &dyn Instance,
    caps: &[Capability],
    sink: &Sink,
    rules: &[Rule],
    _profile: Profile,
) -> Result<(), Failure> {
    if a.is_empty() {
        return Ok(());
    }
    if a.settle.unwrap_or(true)
        && caps.contains(&Capability::Queue)
        && !wait_until(SETTLE, || inst.queue_empty().unwrap_or(false))
    {
        return Err(Failure::plain(format!(
            "the queue did not empty within {SETTLE:?} (set `assert.settle: false` for deferrals)"
        )));
    }
    let cx = Cx { inst, sink, rules };
    for m in &a.maildir {
        let dir = cx.home_path(&m.user, m.path.as_deref().unwrap_or("Maildir"))?;
        let msgs = maildir_messages(&dir);
        cx.messages(&format!("maildir {}", dir.display()), &msgs, &m.checks())?;
    }
    for m in &a.mbox {
        let file = cx.home_path(&m.user, m.path.as_deref().unwrap_or("Mailbox"))?;
        let msgs = mbox_messages(&std::fs::read(&file).unwrap_or_default());
        cx.messages(&format!("mbox {}", file.display()), &msgs, &m.checks())?;
    }
    for f in &a.file {
        cx.file(f)?;
    }
    for s in &a.sink {
        // `${remote}` and the like name the address.
        let rcpt = String::from_utf8_lossy(&cx.subst(s.rcpt.as_bytes())).into_owned();
        let ts: Vec<_> = sink
            .transactions()
            .into_iter()
            .filter(|t| t.accepted && t.rcpts.iter().any(|r| r.eq_ignore_ascii_case(&rcpt)))
            .collect();
        if let Some(from) = &s.from {
            if let Some(t) = ts.iter().find(|t| &t.from != from) {
                return Err(Failure::plain(format!(
                    "sink <{}>: envelope sender <{}>, expected <{from}>",
                    s.rcpt, t.from
                )));
            }
        }
        let msgs: Vec<Vec<u8>> = ts.iter().map(|t| crlf_to_lf(&t.message)).collect();
        cx.messages(&format!("sink <{}>", s.rcpt), &msgs, &s.checks())?;
        for t in &ts {
            if let Some(raw) = &s.raw {
                let want = cx.subst(&raw.0);
                let got = cx.norm(&t.raw);
                if got != want {
                    return Err(Failure {
                        reason: format!("sink <{}>: the raw DATA bytes differ", s.rcpt),
                        diff: Some((escape::visible_lines(&want), escape::visible_lines(&got))),
                    });
                }
            }
            for p in &s.raw_not_matching {
                if p.regex.is_match(&t.raw) {
                    return Err(Failure {
                        reason: format!("sink <{}>: raw DATA matches /{}/", s.rcpt, p.source),
                        diff: None,
                    });
                }
            }
        }
    }
    for b in &a.bounces {
        cx.bounces(b)?;
    }
    for n in &a.no_delivery {
        cx.no_delivery(n)?;
    }
    for p in &a.log {
        let vars = inst.vars();
        let re = p.resolve(&|n| vars.lookup(n));
        let found = wait_until(Duration::from_secs(20), || {
            inst.log_text()
                .is_some_and(|l| l.lines().any(|line| re.is_match(line.as_bytes())))
        });
        if !found {
            let log = inst.log_text().unwrap_or_default();
            return Err(Failure {
                reason: format!(
                    "no line of the MTA's log matches /{}/ within 20 s",
                    p.source
                ),
                diff: Some((format!("<a log line matching /{}/>\n", p.source), log)),
            });
        }
    }
    // `history` and `powercut` are checked by `exec::crashcheck`.
    Ok(())
}

struct Cx<'a> {
    inst: &'a dyn Instance,
    sink: &'a Sink,
    rules: &'a [Rule],
}

fn crlf_to_lf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The messages in a Maildir's `new/` and `cur/`, by file name.
pub fn maildir_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = ["new", "cur"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(dir.join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .collect();
    files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// An mbox split into messages at `From ` lines that start the file or
/// follow an empty line (qmail-local writes a blank line after each).
pub fn mbox_messages(b: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev_blank = true;
    for line in b.split_inclusive(|&c| c == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            out.push(Vec::new());
        }
        if let Some(m) = out.last_mut() {
            m.extend_from_slice(line);
        }
        prev_blank = line == b"\n";
    }
    out
}

/// Header lines (without line ends) and the body after the first empty line.
fn split(msg: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut headers = Vec::new();
    let mut pos = 0;
    for line in msg.split_inclusive(|&c| c == b'\n') {
        pos += line.len();
        let l = line.strip_suffix(b"\n").unwrap_or(line);
        if l.is_empty() {
            return (headers, &msg[pos..]);
        }
        headers.push(l);
    }
    (headers, &msg[msg.len()..])
}

impl Cx<'_> {
    fn norm(&self, b: &[u8]) -> Vec<u8> {
        normalize::apply(self.rules, b)
    }

    fn subst(&self, b: &[u8]) -> Vec<u8> {
        let vars = self.inst.vars();
        escape::substitute(b, &|n| vars.lookup(n).or_else(|| self.inst.var(n)))
    }

    fn home_path(&self, user: &str, rel: &str) -> Result<std::path::PathBuf, Failure> {
        self.inst
            .home(user)
            .map(|h| h.join(rel))
            .map_err(|e| Failure::plain(e.to_string()))
    }

    fn messages(&self, what: &str, msgs: &[Vec<u8>], c: &MessageChecks) -> Result<(), Failure> {
        let listing = || {
            msgs.iter()
                .enumerate()
                .map(|(i, m)| {
                    format!(
                        "== message {}\n{}",
                        i + 1,
                        escape::visible_lines(&self.norm(m))
                    )
                })
                .collect::<String>()
        };
        match c.count {
            Some(n) if msgs.len() != n => {
                return Err(Failure {
                    reason: format!("{what}: {} messages, expected {n}", msgs.len()),
                    diff: Some((
                        format!("<{n} messages>\n"),
                        format!("<{} messages>\n{}", msgs.len(), listing()),
                    )),
                })
            }
            None if msgs.is_empty() => {
                return Err(Failure::plain(format!(
                    "{what}: no message, expected at least one"
                )))
            }
            _ => {}
        }
        for (i, m) in msgs.iter().enumerate() {
            let m = self.norm(m);
            let (headers, body) = split(&m);
            let tag = format!("{what}, message {}", i + 1);
            let vars = self.inst.vars();
            let lookup = |n: &str| vars.lookup(n);
            for p in &c.headers {
                let re = p.resolve(&lookup);
                if !headers.iter().any(|h| re.is_match(h)) {
                    return Err(Failure {
                        reason: format!("{tag}: no header line matches /{}/", p.source),
                        diff: Some((
                            format!("<a header line matching /{}/>\n", p.source),
                            escape::visible_lines(&headers.join(&b'\n')),
                        )),
                    });
                }
            }
            for p in &c.no_headers {
                let re = p.resolve(&lookup);
                if let Some(h) = headers.iter().find(|h| re.is_match(h)) {
                    return Err(Failure::plain(format!(
                        "{tag}: header line {} matches /{}/",
                        escape::visible(h),
                        p.source
                    )));
                }
            }
            if let Some(want) = &c.body {
                let want = self.subst(&want.0);
                if body != want.as_slice() {
                    return Err(Failure {
                        reason: format!("{tag}: the body differs"),
                        diff: Some((escape::visible_lines(&want), escape::visible_lines(body))),
                    });
                }
            }
            if let Some(want) = &c.content {
                let want = self.subst(&want.0);
                if m != want {
                    return Err(Failure {
                        reason: format!("{tag}: the content differs"),
                        diff: Some((escape::visible_lines(&want), escape::visible_lines(&m))),
                    });
                }
            }
            for s in &c.contains {
                let s = self.subst(&s.0);
                if !contains(&m, &s) {
                    return Err(Failure {
                        reason: format!("{tag}: does not contain {}", escape::visible(&s)),
                        diff: Some((escape::visible_lines(&s), escape::visible_lines(&m))),
                    });
                }
            }
            for s in &c.not_contains {
                let s = self.subst(&s.0);
                if contains(&m, &s) {
                    return Err(Failure::plain(format!(
                        "{tag}: contains {}",
                        escape::visible(&s)
                    )));
                }
            }
        }
        Ok(())
    }

    fn file(&self, f: &FileCheck) -> Result<(), Failure> {
        let p = self.home_path(&f.user, &f.path)?;
        let got = std::fs::read(&p);
        match (f.exists, got) {
            (false, Ok(_)) => Err(Failure::plain(format!("{} exists", p.display()))),
            (false, Err(_)) => Ok(()),
            (true, Err(e)) => Err(Failure::plain(format!("{}: {e}", p.display()))),
            (true, Ok(b)) => {
                let b = self.norm(&b);
                if let Some(want) = &f.content {
                    let want = self.subst(&want.0);
                    if b != want {
                        return Err(Failure {
                            reason: format!("{}: the content differs", p.display()),
                            diff: Some((escape::visible_lines(&want), escape::visible_lines(&b))),
                        });
                    }
                }
                for s in &f.contains {
                    let s = self.subst(&s.0);
                    if !contains(&b, &s) {
                        return Err(Failure::plain(format!(
                            "{}: does not contain {}",
                            p.display(),
                            escape::visible(&s)
                        )));
                    }
                }
                Ok(())
            }
        }
    }

    fn bounces(&self, b: &BounceCheck) -> Result<(), Failure> {
        let double = b.double.unwrap_or(false);
        let (what, msgs): (String, Vec<Vec<u8>>) = match (&b.to, &b.user) {
            (Some(to), None) => {
                let to = &String::from_utf8_lossy(&self.subst(to.as_bytes())).into_owned();
                let from = b.from.clone().unwrap_or_else(|| {
                    if double {
                        "#@[]".into()
                    } else {
                        String::new()
                    }
                });
                let msgs = self
                    .sink
                    .transactions()
                    .into_iter()
                    .filter(|t| {
                        t.accepted
                            && t.from == from
                            && t.rcpts.iter().any(|r| r.eq_ignore_ascii_case(to))
                    })
                    .map(|t| crlf_to_lf(&t.message))
                    .collect();
                (format!("bounces to <{to}> at the sink"), msgs)
            }
            (None, Some(user)) => {
                let dir = self.home_path(user, "Maildir")?;
                let msgs = maildir_messages(&dir)
                    .into_iter()
                    .filter(|m| mta::bounce::parse::parse(m).is_ok())
                    .collect();
                (format!("bounces in {}", dir.display()), msgs)
            }
            _ => {
                return Err(Failure::plain(
                    "a bounce check needs exactly one of `to` and `user`",
                ))
            }
        };
        let want = b.count.unwrap_or(1);
        if msgs.len() != want {
            return Err(Failure::plain(format!(
                "{what}: {} messages, expected {want}",
                msgs.len()
            )));
        }
        for m in &msgs {
            let shown = || escape::visible_lines(&self.norm(m));
            let r = mta::bounce::parse::parse(m).map_err(|e| Failure {
                reason: format!("{what}: {e}"),
                diff: Some(("<a bounce>\n".into(), shown())),
            })?;
            let format_ok = match b.format {
                BounceFormat::Either => true,
                BounceFormat::Qsbmf => r.format == mta::bounce::parse::Format::Qsbmf,
                BounceFormat::Dsn => r.format == mta::bounce::parse::Format::Dsn,
            };
            if !format_ok {
                return Err(Failure::plain(format!(
                    "{what}: format {:?}, expected {:?}",
                    r.format, b.format
                )));
            }
            if let Some(d) = b.double {
                if r.double != d {
                    return Err(Failure::plain(format!(
                        "{what}: double bounce is {}, expected {d}",
                        r.double
                    )));
                }
            }
            if !b.recipients.is_empty() {
                // Paragraph order follows the order in which deliveries
                // finished, which concurrent deliveries do not fix: compare
                // as a set, matching the expected addresses first.
                let mut idx: Vec<usize> = Vec::with_capacity(r.recipients.len());
                for w in &b.recipients {
                    if let Some(i) = (0..r.recipients.len()).find(|&i| {
                        r.recipients[i].address.eq_ignore_ascii_case(&w.address)
                            && !idx.contains(&i)
                    }) {
                        idx.push(i);
                    }
                }
                for i in 0..r.recipients.len() {
                    if !idx.contains(&i) {
                        idx.push(i);
                    }
                }
                let ordered: Vec<&mta::bounce::Recipient> =
                    idx.iter().map(|&i| &r.recipients[i]).collect();
                let expected: String = b
                    .recipients
                    .iter()
                    .map(|x| {
                        format!(
                            "<{}> action={} status={}\n",
                            x.address,
                            x.action.as_deref().unwrap_or("*"),
                            x.status.as_deref().unwrap_or("*")
                        )
                    })
                    .collect();
                let actual: String = ordered
                    .iter()
                    .zip(b.recipients.iter().map(Some).chain(std::iter::repeat(None)))
                    .map(|(g, w)| {
                        format!(
                            "<{}> action={} status={}\n",
                            g.address,
                            if w.is_some_and(|w| w.action.is_none()) {
                                "*".into()
                            } else {
                                g.action.clone()
                            },
                            if w.is_some_and(|w| w.status.is_none()) {
                                "*".into()
                            } else {
                                g.status.clone().unwrap_or_default()
                            }
                        )
                    })
                    .collect();
                if expected != actual {
                    return Err(Failure {
                        reason: format!("{what}: the failed recipients differ"),
                        diff: Some((expected, actual)),
                    });
                }
                for (g, w) in ordered.iter().copied().zip(&b.recipients) {
                    if let Some(p) = &w.text {
                        if !p.regex.is_match(g.text.as_bytes()) {
                            return Err(Failure {
                                reason: format!(
                                    "{what}: <{}>'s text does not match /{}/",
                                    g.address, p.source
                                ),
                                diff: Some((
                                    format!("/{}/\n", p.source),
                                    escape::visible_lines(g.text.as_bytes()),
                                )),
                            });
                        }
                    }
                }
            }
            for s in &b.contains {
                let s = self.subst(&s.0);
                if !contains(m, &s) {
                    return Err(Failure {
                        reason: format!("{what}: does not contain {}", escape::visible(&s)),
                        diff: Some((escape::visible_lines(&s), shown())),
                    });
                }
            }
            if let Some(p) = &b.original {
                if !p.regex.is_match(&r.original) {
                    return Err(Failure {
                        reason: format!(
                            "{what}: the returned message does not match /{}/",
                            p.source
                        ),
                        diff: Some((
                            format!("/{}/\n", p.source),
                            escape::visible_lines(&r.original),
                        )),
                    });
                }
            }
        }
        Ok(())
    }

    fn no_delivery(&self, n: &NoDelivery) -> Result<(), Failure> {
        match (&n.rcpt, &n.user) {
            (Some(rcpt), None) => {
                let rcpt = String::from_utf8_lossy(&self.subst(rcpt.as_bytes())).into_owned();
                let rcpt = rcpt.as_str();
                let hits: Vec<_> = self
                    .sink
                    .transactions()
                    .into_iter()
                    .filter(|t| t.accepted && t.rcpts.iter().any(|r| r.eq_ignore_ascii_case(rcpt)))
                    .collect();
                if let Some(t) = hits.first() {
                    return Err(Failure {
                        reason: format!(
                            "<{rcpt}> got {} message(s) at the sink, expected none",
                            hits.len()
                        ),
                        diff: Some(("<no message>\n".into(), escape::visible_lines(&t.message))),
                    });
                }
                Ok(())
            }
            (None, Some(user)) => {
                let dir = self.home_path(user, n.path.as_deref().unwrap_or("Maildir"))?;
                let msgs = maildir_messages(&dir);
                if let Some(m) = msgs.first() {
                    return Err(Failure {
                        reason: format!(
                            "{} holds {} message(s), expected none",
                            dir.display(),
                            msgs.len()
                        ),
                        diff: Some((
                            "<no message>\n".into(),
                            escape::visible_lines(&self.norm(m)),
                        )),
                    });
                }
                Ok(())
            }
            _ => Err(Failure::plain(
                "no_delivery needs exactly one of `rcpt` and `user`",
            )),
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_at_from_lines_after_blank_lines() {
        let m = b"From a Mon\nx\n>From b\n\nFrom c Tue\ny\n\n";
        let v = mbox_messages(m);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], b"From a Mon\nx\n>From b\n\n");
    }

    #[test]
    fn split_headers_and_body() {
        let (h, b) = split(b"A: 1\nB: 2\n\nbody\n");
        assert_eq!(h, vec![&b"A: 1"[..], &b"B: 2"[..]]);
        assert_eq!(b, b"body\n");
        assert_eq!(crlf_to_lf(b"a\r\nb\rc\r\n"), b"a\nb\rc\n");
    }
}
