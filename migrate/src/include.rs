//! `:include:` files (and `.forward` files, which sendmail reads with the
//! same code): every line is independent, holds comma-separated addresses,
//! `#` lines and empty lines are skipped, ` #@# ` starts an end-of-line
//! comment, a CR before the LF is dropped (spec §1.3, §2).
//!
//! The converter inlines an include file's targets into the alias that
//! names it: neither `.qmail` files nor fastforward's cdb can read a list
//! at delivery time from sendmail's text, so the report says the list is a
//! snapshot taken now.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::report::{Action, Report};
use crate::site::Site;
use crate::target::{parse_piece, split_commas, Parsed, Target};

/// sendmail's `MaxAliasRecursion` also bounds nested includes.
pub const MAX_DEPTH: usize = 10;

/// One address of a list file with its line.
#[derive(Debug, Clone)]
pub struct ListItem {
    pub line: usize,
    pub parsed: Parsed,
}

/// Parses the text of an include or `.forward` file.
pub fn parse_list(site: &Site, text: &str) -> Vec<ListItem> {
    let mut out = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(i) = line.find(" #@# ") {
            line = &line[..i];
        }
        let t = line.trim_start_matches([' ', '\t']);
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        for piece in split_commas(t) {
            out.push(ListItem {
                line: n + 1,
                parsed: parse_piece(site, piece),
            });
        }
    }
    out
}

/// Why an include could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeError {
    /// sendmail bounced the target: `550 5.2.4 Cannot open PATH: reason`.
    CannotOpen(String),
    /// Nested deeper than [`MAX_DEPTH`] or including itself.
    Loop,
}

/// Reads `path` and returns its targets, nested includes inlined.
/// Programs and files in an unsafe file (group/world writable) are left
/// out, as sendmail refuses them (spec §1.3); each is reported.
pub fn expand(
    site: &Site,
    path: &str,
    report: &mut Report,
    stack: &mut Vec<String>,
) -> Result<Vec<Target>, IncludeError> {
    if stack.len() >= MAX_DEPTH || stack.iter().any(|p| p == path) {
        return Err(IncludeError::Loop);
    }
    let text = std::fs::read(path).map_err(|e| IncludeError::CannotOpen(e.to_string()))?;
    let text = String::from_utf8_lossy(&text);
    let unsafe_file = std::fs::metadata(Path::new(path)).is_ok_and(|m| m.mode() & 0o022 != 0);
    stack.push(path.to_string());
    let mut out = Vec::new();
    for item in parse_list(site, &text) {
        match item.parsed.result {
            Err(b) => report.push(
                path,
                item.line,
                format!("`{}`", item.parsed.piece),
                Action::NotConverted,
                format!("sendmail bounced this address ({})", b.why),
                true,
            ),
            Ok(Target::Include(p)) => match expand(site, &p, report, stack) {
                Ok(mut t) => out.append(&mut t),
                Err(e) => report_include_error(report, path, item.line, &p, &e),
            },
            Ok(Target::Program(_) | Target::File(_)) if unsafe_file => report.push(
                path,
                item.line,
                format!("`{}`", item.parsed.piece),
                Action::NotConverted,
                "sendmail refused programs and files from a group- or world-writable include file (unsafe)",
                false,
            ),
            Ok(t) => out.push(t),
        }
    }
    stack.pop();
    Ok(out)
}

/// Reports an include that could not be read.
pub fn report_include_error(
    report: &mut Report,
    file: &str,
    line: usize,
    path: &str,
    e: &IncludeError,
) {
    let reason = match e {
        IncludeError::CannotOpen(why) => format!(
            "sendmail bounced this target (550 5.2.4 Cannot open {path}: {why}); fastforward would defer instead"
        ),
        IncludeError::Loop => format!(
            "include files nest deeper than {MAX_DEPTH} or include themselves; sendmail broke the loop with a bounce"
        ),
    };
    report.push(
        file,
        line,
        format!("`:include:{path}`"),
        Action::NotConverted,
        reason,
        true,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn site() -> Site {
        Site::new("mail.example.org", &[])
    }

    #[test]
    fn list_lines_are_independent_and_commented() {
        let items = parse_list(&site(), "bob\r\n# x\ncarol, dave\n\n  alice #@# note\n");
        let got: Vec<(usize, String)> = items
            .iter()
            .map(|i| (i.line, i.parsed.piece.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "bob".into()),
                (3, "carol".into()),
                (3, "dave".into()),
                (5, "alice".into())
            ]
        );
    }

    #[test]
    fn unsafe_include_drops_programs_and_reports() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("list");
        std::fs::write(&f, "bob\n\"|/bin/prog\"\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut r = Report::default();
        let t = expand(&site(), f.to_str().unwrap(), &mut r, &mut Vec::new()).unwrap();
        assert_eq!(
            t,
            vec![Target::Local {
                user: "bob".into(),
                backslash: false
            }]
        );
        assert_eq!(r.findings[0].line, 2);
        assert!(r.findings[0].reason.contains("unsafe"));
    }

    #[test]
    fn self_include_is_a_loop() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("list");
        std::fs::write(&f, format!(":include:{}\n", f.display())).unwrap();
        let mut r = Report::default();
        let t = expand(&site(), f.to_str().unwrap(), &mut r, &mut Vec::new()).unwrap();
        assert!(t.is_empty());
        assert!(r.findings[0].reason.contains("nest deeper"));
    }
}
