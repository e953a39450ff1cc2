//! `cargo bench -p migrate --bench aliases_100k`: converts a generated
//! 100,000-entry aliases file (both outputs, in memory) and, when Debian's
//! fastforward is installed and a private mount namespace is available,
//! runs its `qmail-newaliases` on the same file in the same run and
//! prints the ratio.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The `migrate` binary's allocator, so that in-process figures match it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 100_000;

fn generate() -> String {
    let mut s = String::with_capacity(N * 48);
    s.push_str("# generated: 100k aliases\n");
    for i in 0..N {
        match i % 10 {
            0 => s.push_str(&format!("list{i}: u{i}, u{}, x{i}@example.net\n", i + 1)),
            1 => s.push_str(&format!("prog{i}: \"|/usr/bin/handler {i}\"\n")),
            2 => s.push_str(&format!("wrap{i}: a{i},\n\tb{i}@example.com\n")),
            _ => s.push_str(&format!("user{i}: person{i}@example.org\n")),
        }
    }
    s
}

fn convert(text: &str) -> (Duration, usize) {
    let site = migrate::site::Site::new("mail.example.org", &[]);
    let t = Instant::now();
    let conv = migrate::aliases::convert(&site, "bench", text.as_bytes()).expect("sendmail syntax");
    let t_read = t.elapsed();
    let mut report = conv.report.clone();
    let files = migrate::qmail_out::files(
        &site,
        &conv,
        Path::new("/alias"),
        migrate::qmail_out::OwnerForm::Suffix,
        &mut report,
    );
    let t_qmail = t.elapsed();
    let ff = migrate::fastforward_out::build(&site, &conv, true, &mut report).expect("cdb");
    if std::env::var_os("BENCH_PHASES").is_some() {
        eprintln!(
            "read {t_read:?} qmail {:?} fastforward {:?}",
            t_qmail - t_read,
            t.elapsed() - t_qmail
        );
    }
    let n = files.len() + ff.cdb.len().min(1);
    (t.elapsed(), n)
}

/// qmail-newaliases on the same text, timed inside the namespace.
fn newaliases(text: &str) -> Option<Duration> {
    if !Path::new("/usr/sbin/qmail-newaliases").exists() {
        eprintln!("fastforward not installed: no baseline (run ci/setup)");
        return None;
    }
    let d = tempfile::tempdir().ok()?;
    let t = d.path();
    for sub in ["upper", "work", "qupper", "qwork", "control"] {
        std::fs::create_dir_all(t.join(sub)).ok()?;
    }
    std::fs::write(t.join("control/me"), "mail.example.org\n").ok()?;
    std::fs::write(t.join("aliases"), text).ok()?;
    let script = r#"
T="$1"
mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/upper,workdir=$T/work /etc || exit 97
mount -t overlay overlay -o lowerdir=/var/lib/qmail,upperdir=$T/qupper,workdir=$T/qwork /var/lib/qmail || exit 97
rm -rf /var/lib/qmail/control && cp -r "$T/control" /var/lib/qmail/control
cp "$T/aliases" /etc/aliases
s=$(date +%s%N); /usr/sbin/qmail-newaliases || exit 98; e=$(date +%s%N)
echo $((e - s))
"#;
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(t)
        .output()
        .ok()?;
    if !o.status.success() {
        eprintln!(
            "qmail-newaliases baseline unavailable ({:?})",
            o.status.code()
        );
        return None;
    }
    let ns: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn main() {
    let text = generate();
    let _ = convert(&text); // warm-up
    let mut best = Duration::MAX;
    let mut files = 0;
    for _ in 0..5 {
        let (d, n) = convert(&text);
        best = best.min(d);
        files = n;
    }
    println!(
        "migrate aliases: {N} aliases ({} bytes) -> {files} outputs in {:.1} ms (best of 5)",
        text.len(),
        best.as_secs_f64() * 1e3
    );
    if let Some(base) = newaliases(&text) {
        println!(
            "fastforward qmail-newaliases on the same file: {:.1} ms; ratio migrate/newaliases = {:.2}",
            base.as_secs_f64() * 1e3,
            best.as_secs_f64() / base.as_secs_f64()
        );
    }
    assert!(
        best < Duration::from_secs(1),
        "100k aliases must convert well under a second"
    );
}
