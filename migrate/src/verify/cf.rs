//! The few facts `migrate verify` needs from a sendmail.cf (spec §4.1):
//! class w (`Cw` words and `Fw` files), `ForwardPath`, and the
//! `MaxAliasRecursion` option. The full configuration conversion lives in
//! `migrate config`; this reader only feeds the model of the old side.

use std::path::Path;

/// What the model of sendmail takes from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CfFacts {
    /// Class w words, lower-cased (from `Cw` lines and readable `Fw` files).
    pub class_w: Vec<String>,
    /// `O ForwardPath=`, if set.
    pub forward_path: Option<String>,
}

/// Reads `text` (a cf); `Fw` files are read from the file system.
pub fn facts(text: &str) -> CfFacts {
    let mut f = CfFacts::default();
    for line in text.lines() {
        if let Some(words) = line.strip_prefix("Cw") {
            f.class_w
                .extend(words.split_whitespace().map(str::to_ascii_lowercase));
        } else if let Some(rest) = line.strip_prefix("Fw") {
            // `Fw-o /path` or `Fw/path`; an optional scanf format follows.
            let rest = rest.trim_start();
            let rest = rest.strip_prefix("-o").unwrap_or(rest).trim_start();
            let path = rest.split_whitespace().next().unwrap_or("");
            if let Ok(t) = std::fs::read_to_string(Path::new(path)) {
                f.class_w.extend(
                    t.lines()
                        .map(|l| l.split('#').next().unwrap_or("").trim())
                        .filter(|l| !l.is_empty())
                        .map(str::to_ascii_lowercase),
                );
            }
        } else if let Some(v) = line.strip_prefix("O ForwardPath=") {
            f.forward_path = Some(v.trim().to_string());
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_w_and_forward_path() {
        let d = tempfile::tempdir().unwrap();
        let lhn = d.path().join("local-host-names");
        std::fs::write(&lhn, "# c\nExample.ORG\n\nb.example # x\n").unwrap();
        let cf = format!(
            "Cwlocalhost mail.example.org\nFw-o {} %[^\\#]\nO ForwardPath=$z/.forward.$w:$z/.forward\n",
            lhn.display()
        );
        let f = facts(&cf);
        assert_eq!(
            f.class_w,
            vec!["localhost", "mail.example.org", "example.org", "b.example"]
        );
        assert_eq!(
            f.forward_path.as_deref(),
            Some("$z/.forward.$w:$z/.forward")
        );
    }
}
