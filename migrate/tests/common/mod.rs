//! Shared set-up: the site of spec §5 (`mail.example.org`, class w also
//! `example.org`, accounts alice bob carol dave with real home dirs so
//! qmail-getpw would accept them, plus `mail` for the RHEL case).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::chown;
use std::path::Path;

use migrate::qmail_out::{self, OwnerForm};
use migrate::report::{Finding, Report};
use migrate::site::{Accounts, Site};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub site: Site,
    pub passwd: std::path::PathBuf,
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    for (i, u) in ["alice", "bob", "carol", "dave", "mail"].iter().enumerate() {
        let uid = 2001 + i as u32;
        let home = dir.path().join("home").join(u);
        std::fs::create_dir_all(&home).unwrap();
        chown(&home, Some(uid), Some(uid)).unwrap();
        passwd.push_str(&format!("{u}:x:{uid}:{uid}::{}:/bin/sh\n", home.display()));
    }
    passwd.push_str("nolog:x:2100:2100::/nonexistent:/usr/sbin/nologin\n");
    let pw = dir.path().join("passwd");
    std::fs::write(&pw, &passwd).unwrap();
    let mut site = Site::new("mail.example.org", &["example.org"]);
    site.accounts = Accounts::parse(&passwd);
    Env {
        dir,
        site,
        passwd: pw,
    }
}

/// Converted `.qmail` files (name → content) and the report.
pub fn qmail(env: &Env, text: &str) -> (BTreeMap<String, String>, Report) {
    qmail_form(env, text, OwnerForm::Suffix)
}

pub fn qmail_form(env: &Env, text: &str, form: OwnerForm) -> (BTreeMap<String, String>, Report) {
    let conv = migrate::aliases::convert(&env.site, "aliases", text.as_bytes()).unwrap();
    let mut report = conv.report.clone();
    let files = qmail_out::files(&env.site, &conv, Path::new("/alias"), form, &mut report);
    let map = files
        .into_iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                String::from_utf8(f.contents).unwrap(),
            )
        })
        .collect();
    (map, report)
}

/// The findings other than the table-wide `+detail` note.
pub fn specific(r: &Report) -> Vec<&Finding> {
    r.findings
        .iter()
        .filter(|f| f.construct != "`+detail` addressing")
        .collect()
}

/// Asserts one finding with this line and construct substring exists.
pub fn has(r: &Report, line: usize, construct: &str, decide: bool) -> Finding {
    r.findings
        .iter()
        .find(|f| f.line == line && f.construct.contains(construct))
        .unwrap_or_else(|| {
            panic!(
                "no finding at line {line} about {construct}: {:#?}",
                r.findings
            )
        })
        .clone()
        .tap(|f| assert_eq!(f.needs_decision, decide, "{f:?}"))
}

trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&Self)) -> Self {
        f(&self);
        self
    }
}
impl<T> Tap for T {}
