//! Reading a map in its `makemap` text form (spec §4.3): one entry per
//! line, key and value split at the first run of white space, `#` lines
//! and empty lines skipped, keys lower-cased (makemap without `-f`),
//! values verbatim. A duplicate key keeps the first entry (makemap
//! without `-r` refuses the later one), a key without a value is refused
//! by makemap: both are reported, never silently taken.
//!
//! Hand-written: the format is makemap's own and four lines long.

use crate::detect::{self, Refused};
use crate::report::{Action, Report};

/// One entry of a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub line: usize,
    /// Lower-cased, as makemap stores it.
    pub key: String,
    pub value: String,
}

/// Reads the text source of a map. Input that is plainly another format
/// (an aliases file: `name: value`) is refused at its first such line.
pub fn read(file: &str, bytes: &[u8], report: &mut Report) -> Result<Vec<MapEntry>, Refused> {
    let text = detect::utf8(file, bytes)?;
    let mut out: Vec<MapEntry> = Vec::new();
    let mut colon_keys = (0usize, None::<usize>);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_end_matches('\r');
        if l.starts_with('#') || l.trim().is_empty() {
            continue;
        }
        let l = l.trim_start();
        let (key, value) = match l.find([' ', '\t']) {
            Some(p) => (&l[..p], l[p..].trim()),
            None => (l, ""),
        };
        if key.ends_with(':') && !key.contains('@') {
            colon_keys.0 += 1;
            colon_keys.1.get_or_insert(line);
        }
        if value.is_empty() {
            report.push(
                file,
                line,
                format!("`{key}`"),
                Action::NotConverted,
                "makemap refused this line (key without a value), so the map never had it",
                false,
            );
            continue;
        }
        let key = key.to_ascii_lowercase();
        if let Some(first) = out.iter().find(|e| e.key == key) {
            report.push(
                file,
                line,
                format!("`{key}`"),
                Action::NotConverted,
                format!(
                    "duplicate key: makemap kept the entry on line {} and refused this one",
                    first.line
                ),
                false,
            );
            continue;
        }
        out.push(MapEntry {
            line,
            key,
            value: value.to_string(),
        });
    }
    if let (n, Some(line)) = colon_keys {
        if n * 2 >= out.len().max(1) {
            return Err(Refused {
                file: file.to_string(),
                line,
                why: "keys end in `:`: this looks like an aliases file (NAME: VALUE), not a \
                      makemap text source (KEY VALUE)"
                    .into(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowered_values_kept_first_duplicate_wins() {
        let mut r = Report::default();
        let m = read(
            "virtusertable",
            b"# c\n\nInfo@Example.COM\talice\n@example.com  error:nouser 550 No  such\n\
              info@example.com bob\nlonely\n",
            &mut r,
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].line, m[0].key.as_str()), (3, "info@example.com"));
        assert_eq!(m[1].value, "error:nouser 550 No  such");
        assert_eq!(r.findings.len(), 2);
        assert!(r.findings[0].reason.contains("kept the entry on line 3"));
        assert_eq!(r.findings[1].line, 6);
    }

    #[test]
    fn an_aliases_file_is_refused() {
        let e = read(
            "access",
            b"# x\npostmaster: root\nroot: alice\n",
            &mut Report::default(),
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.why.contains("aliases file"));
    }
}
