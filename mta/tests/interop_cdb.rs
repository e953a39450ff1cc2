//! The cdb files we write (users/cdb from qmail-newu, morercpthosts.cdb
//! from qmail-newmrh, the tcprules cdb from mta-tcprules) read back with an
//! independent implementation, tinycdb's `cdb -d` (installed by ci/setup),
//! with exactly the keys and values qmail's own tools write.

use std::path::Path;
use std::process::Command;

fn dump(file: &Path) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let out = match Command::new("cdb").arg("-d").arg(file).output() {
        Ok(o) => o,
        Err(_) => {
            eprintln!("skipping: tinycdb's `cdb` is not installed (ci/setup installs it)");
            return None;
        }
    };
    assert!(out.status.success(), "cdb -d {}: {:?}", file.display(), out);
    // Records: +klen,dlen:key->data\n ... then an empty line.
    let b = out.stdout;
    let mut v = Vec::new();
    let mut i = 0;
    while i < b.len() && b[i] == b'+' {
        let comma = i + b[i..].iter().position(|&c| c == b',').unwrap();
        let colon = comma + b[comma..].iter().position(|&c| c == b':').unwrap();
        let klen: usize = std::str::from_utf8(&b[i + 1..comma])
            .unwrap()
            .parse()
            .unwrap();
        let dlen: usize = std::str::from_utf8(&b[comma + 1..colon])
            .unwrap()
            .parse()
            .unwrap();
        let k = b[colon + 1..colon + 1 + klen].to_vec();
        let d0 = colon + 1 + klen + 2; // "->"
        let d = b[d0..d0 + dlen].to_vec();
        v.push((k, d));
        i = d0 + dlen + 1;
    }
    Some(v)
}

#[test]
fn users_cdb_has_qmail_newu_records() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("users")).unwrap();
    std::fs::write(
        d.path().join("users/assign"),
        "+:alias:7790:2108:/var/qmail/alias:-::\n+joe-:joe:507:100:/home/joe:-::\n=joe:joe:507:100:/home/joe:::\n.\n",
    )
    .unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_qmail-newu"))
        .env("QMAILHOME", d.path())
        .status()
        .unwrap();
    assert!(st.success());
    let Some(mut recs) = dump(&d.path().join("users/cdb")) else {
        return;
    };
    recs.sort();
    let mut want: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"".to_vec(), b"-".to_vec()),
        (
            b"!".to_vec(),
            b"alias\x007790\x002108\x00/var/qmail/alias\x00-\x00".to_vec(),
        ),
        (
            b"!joe-".to_vec(),
            b"joe\x00507\x00100\x00/home/joe\x00-\x00".to_vec(),
        ),
        (
            b"!joe\x00".to_vec(),
            b"joe\x00507\x00100\x00/home/joe\x00\x00".to_vec(),
        ),
    ];
    want.sort();
    assert_eq!(recs, want);
}

#[test]
fn morercpthosts_and_tcprules_cdbs_are_standard() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("control");
    std::fs::create_dir(&c).unwrap();
    std::fs::write(c.join("morercpthosts"), "a.example\nB.example\n").unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_qmail-newmrh"))
        .env("QMAILHOME", d.path())
        .status()
        .unwrap();
    assert!(st.success());
    let Some(mut recs) = dump(&c.join("morercpthosts.cdb")) else {
        return;
    };
    recs.sort();
    assert_eq!(
        recs,
        vec![
            (b"a.example".to_vec(), vec![]),
            (b"b.example".to_vec(), vec![])
        ]
    );

    let rules = d.path().join("rules");
    std::fs::write(
        &rules,
        "127.:allow,RELAYCLIENT=\"\"\n10.1.2.3:deny\n:allow\n",
    )
    .unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_mta-tcprules"))
        .arg(d.path().join("rules.cdb"))
        .arg(d.path().join("rules.tmp"))
        .stdin(std::fs::File::open(&rules).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    let Some(mut recs) = dump(&d.path().join("rules.cdb")) else {
        return;
    };
    recs.sort();
    assert_eq!(
        recs,
        vec![
            // ucspi-tcp's format: "D\0" for deny, "+VAR=value\0" per
            // variable, nothing at all for a bare allow.
            (b"".to_vec(), b"".to_vec()),
            (b"10.1.2.3".to_vec(), b"D\0".to_vec()),
            (b"127.".to_vec(), b"+RELAYCLIENT=\x00".to_vec()),
        ]
    );
}
