//! The migration report: one [`Finding`] per thing a person should know,
//! rendered as text (coloured on a terminal), as JSON, or as an exit code.
//!
//! Every finding names the file and line, the construct, what was done and
//! why. Constructs with no qmail equivalent use the wording pattern of
//! spec §4.7: "`<item>`: sendmail did X; qmail 1.03 has no equivalent; not
//! converted." (`reason` carries "sendmail did X; qmail 1.03 has no
//! equivalent", `action` carries "not converted").

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

/// What the converter did with a construct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Converted with the same observable behaviour.
    Converted,
    /// Converted, but qmail behaves differently in the way `reason` says.
    ConvertedWithChange,
    /// Left out of the output.
    NotConverted,
}

impl Action {
    /// The words used in text reports.
    pub fn words(self) -> &'static str {
        match self {
            Action::Converted => "converted",
            Action::ConvertedWithChange => "converted with a change",
            Action::NotConverted => "not converted",
        }
    }
}

/// One message of the report.
///
/// The file name is shared by the findings of one file, and fixed
/// wording is not copied: a 100,000-line aliases file has ~40,000
/// findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    #[serde(serialize_with = "as_str")]
    pub file: Arc<str>,
    /// 1-based line of the (first physical line of the) construct; 0 when
    /// the finding is about the whole file.
    pub line: usize,
    pub construct: Cow<'static, str>,
    pub action: Action,
    pub reason: Cow<'static, str>,
    /// True when qmail would behave differently from sendmail or the
    /// converter could not decide: the run then exits non-zero.
    pub needs_decision: bool,
}

impl Finding {
    /// The one-line text form: `file:line: construct: reason; action.`
    pub fn text(&self) -> String {
        format!(
            "{}:{}: {}: {}; {}.",
            self.file,
            self.line,
            self.construct,
            self.reason,
            self.action.words()
        )
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// `n` in decimal, written into `buf` (no allocation per finding).
fn decimal(buf: &mut [u8; 20], mut n: usize) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

fn as_str<S: serde::Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// All findings of one run, in input order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// Adds a finding.
    pub fn push(
        &mut self,
        file: &str,
        line: usize,
        construct: impl Into<Cow<'static, str>>,
        action: Action,
        reason: impl Into<Cow<'static, str>>,
        needs_decision: bool,
    ) {
        // Findings come in runs from one file: share the previous name.
        let file = match self.findings.last() {
            Some(f) if *f.file == *file => f.file.clone(),
            _ => Arc::from(file),
        };
        self.findings.push(Finding {
            file,
            line,
            construct: construct.into(),
            action,
            reason: reason.into(),
            needs_decision,
        });
    }

    /// Orders findings by file and line, keeping the order within a line.
    pub fn sort(&mut self) {
        self.findings
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    }

    /// True when any finding needs a person's decision.
    pub fn needs_decision(&self) -> bool {
        self.findings.iter().any(|f| f.needs_decision)
    }

    /// Findings whose construct contains `needle` (for tests and callers).
    pub fn about<'a>(&'a self, needle: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings
            .iter()
            .filter(move |f| f.construct.contains(needle))
    }

    /// Writes the text report. Colour codes are written always; wrap `out`
    /// in `anstream::AutoStream` to strip them when it is not a terminal.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        self.write_rendered(true, out)
    }

    /// The text report, one line per finding then the count; with
    /// `colour`, ANSI styles mark the location and the verdict.
    pub fn render_text(&self, colour: bool) -> String {
        let mut v = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_rendered(colour, &mut v);
        String::from_utf8_lossy(&v).into_owned()
    }

    /// [`Report::render_text`] written to `out` in 64 KiB pieces. Built
    /// with `push_str`: a 100,000-line aliases file has ~40,000 findings,
    /// and formatting (or stripping colours from) each piece, or holding
    /// the whole text, cost more than the conversion.
    pub fn write_rendered(&self, colour: bool, out: &mut dyn Write) -> io::Result<()> {
        const CHUNK: usize = 64 * 1024;
        let style = |s: Style| {
            if colour {
                (s.render().to_string(), s.render_reset().to_string())
            } else {
                (String::new(), String::new())
            }
        };
        let decide = style(Style::new().fg_color(Some(AnsiColor::Red.into())).bold());
        let info = style(Style::new().fg_color(Some(AnsiColor::Yellow.into())));
        let loc = style(Style::new().bold());
        let mut buf = String::with_capacity(CHUNK + 1024);
        let mut num = itoa_buf();
        for f in &self.findings {
            let (tag, mark) = if f.needs_decision {
                (&decide, "decide")
            } else {
                (&info, "note")
            };
            for piece in [
                loc.0.as_str(),
                &f.file,
                ":",
                decimal(&mut num, f.line),
                &loc.1,
                ": ",
                &tag.0,
                mark,
                &tag.1,
                ": ",
                &f.construct,
                ": ",
                &f.reason,
                "; ",
                f.action.words(),
                ".\n",
            ] {
                buf.push_str(piece);
            }
            if buf.len() >= CHUNK {
                out.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
        let n = self.findings.iter().filter(|f| f.needs_decision).count();
        buf.push_str(&format!(
            "{} finding(s), {} need(s) a decision\n",
            self.findings.len(),
            n
        ));
        out.write_all(buf.as_bytes())
    }

    /// The JSON form: `{"needs_decision": bool, "findings": [...]}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            needs_decision: bool,
            findings: &'a [Finding],
        }
        serde_json::to_string_pretty(&Doc {
            needs_decision: self.needs_decision(),
            findings: &self.findings,
        })
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::default();
        r.push(
            "/etc/aliases",
            3,
            "`+detail` addressing",
            Action::NotConverted,
            "sendmail did deliver NAME+detail to NAME; qmail 1.03 has no equivalent",
            false,
        );
        r.push("/etc/aliases", 9, "`x`", Action::Converted, "ok", true);
        r
    }

    #[test]
    fn text_line_follows_the_section_4_7_pattern() {
        assert_eq!(
            sample().findings[0].text(),
            "/etc/aliases:3: `+detail` addressing: sendmail did deliver NAME+detail to NAME; \
             qmail 1.03 has no equivalent; not converted."
        );
    }

    #[test]
    fn line_numbers_in_decimal() {
        let mut b = itoa_buf();
        for n in [0, 7, 10, 109_993, usize::MAX] {
            assert_eq!(decimal(&mut b, n), n.to_string());
        }
    }

    #[test]
    fn json_carries_every_field_and_the_verdict() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(v["needs_decision"], true);
        assert_eq!(v["findings"][0]["line"], 3);
        assert_eq!(v["findings"][0]["action"], "not_converted");
        assert_eq!(v["findings"][1]["needs_decision"], true);
        assert_eq!(v["findings"][0]["file"], "/etc/aliases");
    }

    #[test]
    fn text_is_coloured_and_strippable() {
        let mut raw = Vec::new();
        sample().write_text(&mut raw).unwrap();
        let raw = String::from_utf8(raw).unwrap();
        assert!(raw.contains("\x1b["));
        let mut plain = Vec::new();
        {
            let mut s = anstream::StripStream::new(&mut plain);
            s.write_all(raw.as_bytes()).unwrap();
        }
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.starts_with("/etc/aliases:3: note: `+detail` addressing:"));
        assert!(plain.contains("/etc/aliases:9: decide: `x`: ok; converted."));
        assert!(plain.ends_with("2 finding(s), 1 need(s) a decision\n"));
    }
}
