use super::*;
use crate::queue::layout::Layout;

fn queue() -> (tempfile::TempDir, Layout) {
    let d = tempfile::tempdir().unwrap();
    let l = Layout::new(d.path().join("queue"));
    l.create().unwrap();
    (d, l)
}

fn ino(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn retired_file_is_reused_only_after_release() {
    let (_d, l) = queue();
    let mess = l.mess(1);
    std::fs::write(&mess, b"old message").unwrap();
    let old = ino(&mess);
    let mut r = Retirer::new(&l.root, Pool::Queue, &[]);
    r.retire(&mess).unwrap();
    assert!(!mess.exists());
    assert_eq!(names(&wait_dir(&l.root, Pool::Queue)), [old.to_string()]);
    assert_eq!(r.pending(), 1);

    // Not released yet: a taker creates a new file.
    let s = Spares::new(&l.root, Pool::Queue);
    drop(s.create(&l.intd(2), 0o644).unwrap());
    assert_ne!(ino(&l.intd(2)), old);

    r.release().unwrap();
    assert_eq!(r.pending(), 0);
    assert_eq!(names(&ready_dir(&l.root, Pool::Queue)), [old.to_string()]);
    let s = Spares::new(&l.root, Pool::Queue);
    let mut c = s.create(&l.intd(3), 0o644).unwrap();
    assert_eq!(c.ino, old);
    assert_eq!(c.stale, 11);
    // Overwritten from the start; fit cuts the stale tail.
    std::io::Write::write_all(&mut c.file, b"u0\0").unwrap();
    c.fit(3).unwrap();
    assert_eq!(std::fs::read(l.intd(3)).unwrap(), b"u0\0");
    assert!(names(&ready_dir(&l.root, Pool::Queue)).is_empty());
}

#[test]
fn create_is_exclusive_with_or_without_spares() {
    let (_d, l) = queue();
    std::fs::write(l.info(5), b"F\0").unwrap();
    let spare = ready_dir(&l.root, Pool::Send).join("77");
    std::fs::write(&spare, b"").unwrap();
    let s = Spares::new(&l.root, Pool::Send);
    let e = s.create(&l.info(5), 0o600).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(l.info(5)).unwrap(), b"F\0");
    assert!(spare.exists(), "the spare stays in the pool");
    let e = Spares::none().create(&l.info(5), 0o600).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
}

#[test]
fn a_spare_with_another_name_is_never_used() {
    let (_d, l) = queue();
    // todo/9 still names the inode (say, brought back by a power cut).
    std::fs::write(l.todo(9), b"u0\0p1\0Fa@b\0Tc@d\0").unwrap();
    let i = ino(&l.todo(9));
    std::fs::hard_link(
        l.todo(9),
        ready_dir(&l.root, Pool::Queue).join(i.to_string()),
    )
    .unwrap();
    let s = Spares::new(&l.root, Pool::Queue);
    let c = s.create(&l.intd(10), 0o644).unwrap();
    assert_ne!(c.ino, i);
    assert_eq!(c.stale, 0);
    assert_eq!(std::fs::read(l.todo(9)).unwrap(), b"u0\0p1\0Fa@b\0Tc@d\0");
    assert_eq!(std::fs::metadata(l.todo(9)).unwrap().nlink(), 1);
}

#[test]
fn release_skips_inodes_still_linked_elsewhere() {
    let (_d, l) = queue();
    std::fs::write(l.intd(4), b"u0\0").unwrap();
    std::fs::hard_link(l.intd(4), l.todo(4)).unwrap();
    let mut r = Retirer::new(&l.root, Pool::Queue, &[]);
    r.retire(&l.intd(4)).unwrap();
    // todo/4 was not removed (say, its unlink failed): no spare from it.
    r.release().unwrap();
    assert!(names(&ready_dir(&l.root, Pool::Queue)).is_empty());
    assert!(names(&wait_dir(&l.root, Pool::Queue)).is_empty());
    assert_eq!(std::fs::read(l.todo(4)).unwrap(), b"u0\0");
}

#[test]
fn sealed_generations_release_separately() {
    let (_d, l) = queue();
    let mut r = Retirer::new(&l.root, Pool::Send, &[]);
    std::fs::write(l.local(1), b"T\0").unwrap();
    r.retire(&l.local(1)).unwrap();
    let (g1, dirs) = r.seal();
    assert!(dirs.contains(&l.dir("local").join("1")));
    std::fs::write(l.info(2), b"F\0").unwrap();
    r.retire(&l.info(2)).unwrap();
    let (g2, _) = r.seal();
    r.release_sealed(g2);
    assert_eq!(names(&ready_dir(&l.root, Pool::Send)).len(), 1);
    assert_eq!(r.pending(), 1);
    r.release_sealed(g1);
    assert_eq!(names(&ready_dir(&l.root, Pool::Send)).len(), 2);
}

#[test]
fn leftovers_of_an_earlier_run_are_released() {
    let (_d, l) = queue();
    std::fs::write(l.mess(3), b"x").unwrap();
    let i = ino(&l.mess(3));
    let mut r = Retirer::new(&l.root, Pool::Queue, &[]);
    r.retire(&l.mess(3)).unwrap();
    drop(r);
    let origins = [l.dir("mess").join("3")];
    let mut r = Retirer::new(&l.root, Pool::Queue, &origins);
    assert_eq!(r.pending(), 1);
    r.release().unwrap();
    assert_eq!(names(&ready_dir(&l.root, Pool::Queue)), [i.to_string()]);
}

#[test]
fn missing_files_and_missing_pools_behave_like_unlink() {
    let (_d, l) = queue();
    let mut r = Retirer::new(&l.root, Pool::Queue, &[]);
    r.retire(&l.mess(8)).unwrap();
    assert_eq!(r.pending(), 0);
    // A queue made before the pools existed: plain unlinks and creates.
    std::fs::remove_dir_all(l.dir("spare")).unwrap();
    let mut r = Retirer::new(&l.root, Pool::Queue, &[]);
    std::fs::write(l.mess(8), b"x").unwrap();
    r.retire(&l.mess(8)).unwrap();
    assert!(!l.mess(8).exists());
    let s = Spares::new(&l.root, Pool::Queue);
    drop(s.create(&l.intd(8), 0o644).unwrap());
    assert!(l.intd(8).exists());
}

#[test]
fn big_spares_are_emptied_when_released() {
    let (_d, l) = queue();
    std::fs::write(l.mess(6), vec![b'x'; 100_000]).unwrap();
    let i = ino(&l.mess(6));
    let mut r = Retirer::new(&l.root, Pool::Queue, &[]);
    r.retire(&l.mess(6)).unwrap();
    r.release().unwrap();
    let p = ready_dir(&l.root, Pool::Queue).join(i.to_string());
    assert_eq!(std::fs::metadata(p).unwrap().len(), 0);
}

#[test]
fn fit_keeps_longer_writes_and_new_files() {
    let (_d, l) = queue();
    let spare = ready_dir(&l.root, Pool::Send).join("1");
    std::fs::write(&spare, b"0123456789").unwrap();
    let s = Spares::new(&l.root, Pool::Send);
    let mut c = s.create(&l.info(1), 0o600).unwrap();
    assert_eq!(c.stale, 10);
    std::io::Write::write_all(&mut c.file, b"abcdefghijklmnop").unwrap();
    c.fit(16).unwrap();
    assert_eq!(std::fs::read(l.info(1)).unwrap(), b"abcdefghijklmnop");
    let mut g = s.create(&l.info(2), 0o600).unwrap();
    assert_eq!(g.stale, 0);
    std::io::Write::write_all(&mut g.file, b"x").unwrap();
    g.fit(1).unwrap();
    assert_eq!(std::fs::read(l.info(2)).unwrap(), b"x");
}
