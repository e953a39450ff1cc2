//! Workload 4: a 100,000-entry aliases file through `migrate aliases
//! --fastforward` against fastforward's `qmail-newaliases` (Debian package
//! `fastforward`, installed by ci/setup), both as programs on the same file,
//! alternating. The generator is migrate/benches/aliases_100k.rs's.
//!
//! qmail-newaliases reads /etc/aliases and writes /etc/aliases.cdb with
//! its control files from /var/lib/qmail, paths it cannot be told; it runs
//! in a private mount namespace with overlays on /etc and /var/lib/qmail,
//! as the migrate benchmark does, so the machine's files are untouched.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::mtas::Env;
use crate::stats::Sample;
use crate::workloads::{Cell, WorkloadResult};

pub const N: usize = 100_000;

/// The aliases file of migrate/benches/aliases_100k.rs: lists, programs,
/// continuation lines and plain forwards.
pub fn generate(n: usize) -> String {
    let mut s = String::with_capacity(n * 48);
    s.push_str("# generated: 100k aliases\n");
    for i in 0..n {
        match i % 10 {
            0 => s.push_str(&format!("list{i}: u{i}, u{}, x{i}@example.net\n", i + 1)),
            1 => s.push_str(&format!("prog{i}: \"|/usr/bin/handler {i}\"\n")),
            2 => s.push_str(&format!("wrap{i}: a{i},\n\tb{i}@example.com\n")),
            _ => s.push_str(&format!("user{i}: person{i}@example.org\n")),
        }
    }
    s
}

/// `migrate aliases FILE --fastforward OUT`, timed as a program.
fn migrate_once(env: &Env, dir: &Path) -> anyhow::Result<f64> {
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let t = Instant::now();
    let o = Command::new(env.bin.join("migrate"))
        .arg("aliases")
        .arg(dir.join("aliases"))
        .arg("--fastforward")
        .arg(out.join("aliases"))
        .args(["--me", "mail.example.org", "--force"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    // 0: nothing to decide; 1: findings for a person (the generated
    // program aliases are reported); both wrote the outputs.
    if !matches!(o.status.code(), Some(0 | 1)) || !out.join("aliases.cdb").exists() {
        anyhow::bail!(
            "migrate aliases failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    Ok(ms)
}

/// qmail-newaliases on the same file, timed inside the namespace.
fn newaliases_once(dir: &Path) -> anyhow::Result<f64> {
    if !Path::new("/usr/sbin/qmail-newaliases").exists() {
        anyhow::bail!("fastforward is not installed (ci/setup installs it)");
    }
    let t = dir.join("ns");
    let _ = std::fs::remove_dir_all(&t);
    for sub in ["upper", "work", "qupper", "qwork", "control"] {
        std::fs::create_dir_all(t.join(sub))?;
    }
    std::fs::write(t.join("control/me"), "mail.example.org\n")?;
    std::fs::copy(dir.join("aliases"), t.join("aliases"))?;
    let script = r#"
T="$1"
mkdir -p /var/lib/qmail 2>/dev/null
mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/upper,workdir=$T/work /etc || exit 97
mount -t overlay overlay -o lowerdir=/var/lib/qmail,upperdir=$T/qupper,workdir=$T/qwork /var/lib/qmail || exit 97
rm -rf /var/lib/qmail/control && cp -r "$T/control" /var/lib/qmail/control
cp "$T/aliases" /etc/aliases
s=$(date +%s%N); /usr/sbin/qmail-newaliases || exit 98; e=$(date +%s%N)
echo $((e - s))
"#;
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&t)
        .output()?;
    let _ = std::fs::remove_dir_all(&t);
    if !o.status.success() {
        anyhow::bail!("qmail-newaliases in a namespace failed ({})", o.status);
    }
    let ns: f64 = String::from_utf8_lossy(&o.stdout).trim().parse()?;
    Ok(ns / 1e6)
}

/// Both, `runs` times each, alternating.
pub fn run(env: &Env, runs: usize) -> WorkloadResult {
    let dir = env.work.join("aliases");
    let mut cells: BTreeMap<String, Cell> = BTreeMap::new();
    let setup = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("aliases"), generate(N)));
    for run in 0..runs {
        for (name, f) in [
            (
                "migrate",
                &(|| migrate_once(env, &dir)) as &dyn Fn() -> anyhow::Result<f64>,
            ),
            ("fastforward", &|| newaliases_once(&dir)),
        ] {
            eprintln!("mta-bench: aliases-100k run {}/{runs} {name}", run + 1);
            let cell = cells.entry(name.to_string()).or_default();
            cell.messages = N;
            let r = match &setup {
                Ok(()) => f(),
                Err(e) => Err(anyhow::anyhow!("writing the aliases file: {e}")),
            };
            match r {
                Ok(ms) => cell.samples.push(Sample::from([("ms".to_string(), ms)])),
                Err(e) => cell.errors.push(format!("run {}: {e:#}", run + 1)),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    WorkloadResult {
        name: "aliases-100k".into(),
        title: "100,000 aliases: migrate aliases vs fastforward's newaliases".into(),
        cells,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_writes_one_alias_per_entry() {
        let t = generate(20);
        let names = t
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('\t'))
            .count();
        assert_eq!(names, 20);
        assert!(t.contains("wrap2: a2,\n\tb2@example.com\n"));
    }
}
