//! `maildirmake dir`: creates a maildir (`dir`, `dir/tmp`, `dir/new`,
//! `dir/cur`, mode 0700), failing if `dir` exists, as qmail's.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use super::die;

pub fn main(args: &[std::ffi::OsString]) -> i32 {
    let [dir] = args else {
        eprintln!("maildirmake: usage: maildirmake name");
        return 100;
    };
    let dir = Path::new(dir);
    for d in [
        dir.to_path_buf(),
        dir.join("tmp"),
        dir.join("new"),
        dir.join("cur"),
    ] {
        if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&d) {
            return die(
                "maildirmake",
                111,
                &format!("unable to mkdir {}: {e}", d.display()),
            );
        }
    }
    0
}
