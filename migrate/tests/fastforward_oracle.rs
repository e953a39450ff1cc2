//! The cdb written by `migrate aliases --fastforward` read back by the
//! real fastforward 0.51 (Debian's package, installed by `ci/setup`):
//! `printforward` and `fastforward -nd` agree with the conversion, and
//! the real `qmail-newaliases` run on our source file (inside a private
//! mount namespace with overlays, spec §6.4) writes a byte-identical cdb.
//! Skips with a message when the binaries are absent.

use std::path::Path;
use std::process::{Command, Stdio};

const ME: &str = "mail.example.org";

const SAMPLE: &str = "\
list: bob, carol@example.net, \"|/usr/bin/prog x\", x@mailhub
owner-list: dave
\"a b\": bob
nul: /dev/null
q: \"bob smith\"@example.net
Mixed.Case: |/usr/bin/blank sub
";

fn have(bin: &str) -> bool {
    Path::new(bin).exists()
}

fn convert(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("aliases.in");
    std::fs::write(&src, SAMPLE).unwrap();
    let out = dir.join("ff/aliases");
    let st = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args([
            "aliases",
            src.to_str().unwrap(),
            "--fastforward",
            out.to_str().unwrap(),
        ])
        .args(["--me", ME, "--passwd", "/dev/null"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    // The blank-substituted program needs a decision: exit 1.
    assert_eq!(st.code(), Some(1));
    out
}

fn fastforward(cdb: &Path, name: &str) -> String {
    let o = Command::new("/usr/bin/fastforward")
        .args(["-nd", cdb.to_str().unwrap()])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("DEFAULT", name)
        .env("HOST", ME)
        .output()
        .unwrap();
    assert!(o.status.success(), "{name}: {o:?}");
    String::from_utf8(o.stderr).unwrap() + &String::from_utf8(o.stdout).unwrap()
}

#[test]
fn real_fastforward_reads_the_converted_cdb() {
    if !have("/usr/bin/fastforward") || !have("/usr/bin/printforward") {
        eprintln!("SKIP: fastforward not installed (run ci/setup)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let src = convert(d.path());
    let cdb = src.with_file_name("aliases.cdb");
    let list = fastforward(&cdb, "list");
    for want in [
        "run !/usr/bin/prog x",
        "from <owner-list@mail.example.org>",
        "to <x@mailhub.mail.example.org>",
        "to <carol@example.net>",
        "to <bob@mail.example.org>",
    ] {
        assert!(list.contains(want), "{want} not in {list}");
    }
    assert!(fastforward(&cdb, "a b").contains("to <bob@mail.example.org>"));
    // qmail envelopes carry local parts unquoted, as newaliases stores them.
    assert!(fastforward(&cdb, "q").contains("to <bob smith@example.net>"));
    assert!(fastforward(&cdb, "NUL").contains("run !cat >/dev/null"));
    assert!(fastforward(&cdb, "mixed.case").contains("run !/usr/bin/blank.sub"));
    let o = Command::new("/usr/bin/fastforward")
        .args(["-nd", cdb.to_str().unwrap()])
        .env_clear()
        .env("DEFAULT", "nosuch")
        .env("HOST", ME)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(100), "unknown names bounce");

    let p = Command::new("sh")
        .arg("-c")
        .arg(format!("/usr/bin/printforward < '{}'", cdb.display()))
        .output()
        .unwrap();
    let printed = String::from_utf8(p.stdout).unwrap();
    assert_eq!(
        printed,
        "list@:\n, !/usr/bin/prog\\ x\n, &x@mailhub.mail.example.org\n, &carol@example.net\n\
         , &bob@mail.example.org\n;\nlist@: ?owner-list@mail.example.org;\nowner-list@:\n\
         , &dave@mail.example.org\n;\na\\ b@:\n, &bob@mail.example.org\n;\nnul@:\n\
         , !cat\\ >/dev/null\n;\nq@:\n, &bob\\ smith@example.net\n;\nmixed.case@:\n\
         , !/usr/bin/blank.sub\n;\n"
    );
}

/// qmail-newaliases insists on /etc/aliases and /var/lib/qmail/control:
/// run it in a private mount namespace with overlays so nothing changes.
#[test]
fn real_newaliases_writes_the_same_cdb_from_our_source() {
    if !have("/usr/sbin/qmail-newaliases") || !Path::new("/var/lib/qmail").is_dir() {
        eprintln!("SKIP: fastforward's qmail-newaliases not installed (run ci/setup)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let src = convert(d.path());
    let ours = std::fs::read(src.with_file_name("aliases.cdb")).unwrap();
    let t = d.path();
    for sub in ["upper", "work", "qupper", "qwork", "control"] {
        std::fs::create_dir_all(t.join(sub)).unwrap();
    }
    std::fs::write(t.join("control/me"), format!("{ME}\n")).unwrap();
    let script = r#"
T="$1"; A="$2"
mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/upper,workdir=$T/work /etc || exit 97
mount -t overlay overlay -o lowerdir=/var/lib/qmail,upperdir=$T/qupper,workdir=$T/qwork /var/lib/qmail || exit 97
rm -rf /var/lib/qmail/control && cp -r "$T/control" /var/lib/qmail/control
rm -f /etc/aliases && cp "$A" /etc/aliases
/usr/sbin/qmail-newaliases || exit 98
cp /etc/aliases.cdb "$T/theirs.cdb"
"#;
    let st = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(t)
        .arg(&src)
        .status();
    match st.map(|s| s.code()) {
        Ok(Some(0)) => {}
        Ok(Some(98)) => panic!("qmail-newaliases rejected our source file"),
        other => {
            eprintln!("SKIP: no private mount namespace with overlays here ({other:?})");
            return;
        }
    }
    let theirs = std::fs::read(t.join("theirs.cdb")).unwrap();
    assert!(ours == theirs, "cdb differs from qmail-newaliases' own");
}
