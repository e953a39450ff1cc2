//! The `migrate verify` command: gather the addresses, pick the old side,
//! replay, print. The clap declaration of its arguments lives here.

use std::path::PathBuf;

use clap::Args;

use super::model::Model;
use super::oracle::Oracle;
use super::qmail_side::QmailSide;
use super::{compare, OldSide, Verification};
use crate::cli::SiteArgs;
use crate::report::{Action, Report};
use crate::site::Site;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The sendmail aliases file that was converted (default /etc/aliases).
    pub aliases: Option<PathBuf>,
    /// QMAILHOME of the new configuration (control/, users/cdb, the alias
    /// user's .qmail files).
    #[arg(long, value_name = "DIR")]
    pub qmail_home: PathBuf,
    /// The old sendmail.cf (class w, ForwardPath; the real sendmail runs it).
    #[arg(long, value_name = "FILE")]
    pub cf: Option<PathBuf>,
    /// The real sendmail binary (default: searched; see the README).
    #[arg(long, value_name = "PATH", conflicts_with = "model")]
    pub sendmail: Option<PathBuf>,
    /// Use migrate's model of sendmail even when a binary is present.
    #[arg(long)]
    pub model: bool,
    /// Another address to replay; repeatable.
    #[arg(long = "address", value_name = "ADDR")]
    pub addresses: Vec<String>,
    /// A virtusertable source (makemap text): its keys are replayed.
    #[arg(long, value_name = "FILE")]
    pub virtusertable: Option<PathBuf>,
    /// qmail-start's default delivery (default: control/defaultdelivery,
    /// else ./Maildir/).
    #[arg(long, value_name = "LINE")]
    pub default_delivery: Option<String>,
    #[command(flatten)]
    pub site: SiteArgs,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn first_line(p: &std::path::Path) -> Option<String> {
    let t = std::fs::read_to_string(p).ok()?;
    Some(t.lines().next()?.trim().to_string()).filter(|l| !l.is_empty())
}

/// The addresses to replay, with their origin, in order, without repeats.
fn addresses(
    site: &Site,
    conv: &crate::aliases::Converted,
    a: &VerifyArgs,
) -> anyhow::Result<Vec<(String, &'static str)>> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for al in &conv.aliases {
        out.push((al.name.clone(), "alias"));
    }
    // Accounts people log in to (a shell in /etc/shells), and root.
    for acct in site.accounts.all() {
        if acct.uid == 0 || site.shells.contains(&acct.shell) {
            out.push((acct.name.to_ascii_lowercase(), "account"));
        }
    }
    if let Some(vt) = &a.virtusertable {
        let text =
            std::fs::read_to_string(vt).map_err(|e| anyhow::anyhow!("{}: {e}", vt.display()))?;
        for line in text.lines() {
            let Some(key) = line.split_whitespace().next() else {
                continue;
            };
            if key.starts_with('#') || !key.contains('@') {
                continue;
            }
            let key = key.replace("+*", "+detail");
            let addr = match key.strip_prefix('@') {
                Some(dom) => format!("no-such-user-verify@{dom}"),
                None => key,
            };
            out.push((addr, "virtusertable"));
        }
    }
    for g in &a.addresses {
        out.push((g.clone(), "given"));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(x, _)| seen.insert(x.clone()));
    Ok(out)
}

/// Findings verify adds itself: accounts sendmail delivered to that
/// qmail-getpw does not accept.
fn account_findings(site: &Site, report: &mut Report) {
    for acct in site.accounts.all() {
        if site.accounts.qmail_owner(&acct.name).is_none() {
            report.push(
                &format!("account:{}", acct.name.to_ascii_lowercase()),
                0,
                format!("account `{}`", acct.name),
                Action::NotConverted,
                "sendmail delivered to this account's mailbox; qmail-getpw does not accept it \
                 (uid 0, or its home directory is missing or not owned by it), so its mail goes \
                 to the alias user",
                true,
            );
        }
    }
}

/// Runs `migrate verify`; returns the exit code.
pub fn run(a: VerifyArgs) -> anyhow::Result<u8> {
    let mut site_args = a.site.clone();
    if site_args.me.is_none() {
        site_args.me = first_line(&a.qmail_home.join("control/me"));
    }
    let cf_text = match &a.cf {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)
        }
        None => None,
    };
    let facts = cf_text.as_deref().map(super::cf::facts).unwrap_or_default();
    site_args
        .local_domains
        .extend(facts.class_w.iter().cloned());
    let site = crate::cli::site(&site_args)?;
    let aliases = a
        .aliases
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::cli::default_aliases()));
    let shown = aliases.display().to_string();
    let bytes = std::fs::read(&aliases).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let conv = crate::aliases::convert(&site, &shown, &bytes)?;
    let mut report = conv.report.clone();
    crate::forward::home_dirs(&site, "./Maildir/", &mut report)?;
    account_findings(&site, &mut report);

    let forward_path = facts
        .forward_path
        .clone()
        .unwrap_or_else(|| "$z/.forward".to_string());
    let model = Model::new(&site, &conv, &forward_path);
    let qmail = QmailSide::load(&a.qmail_home, a.default_delivery.as_deref(), &site)?;

    let passwd = (a.site.passwd != std::path::Path::new("/etc/passwd")).then_some(&*a.site.passwd);
    let shells = (a.site.shells != std::path::Path::new("/etc/shells")).then_some(&*a.site.shells);
    let oracle = match (&a.cf, a.model) {
        (_, true) => Err("--model was given".to_string()),
        (None, false) => Err("no --cf given, so the real sendmail cannot be run".to_string()),
        (Some(cf), false) => match &a.sendmail {
            Some(bin) => Oracle::new(bin, cf, &site.me, passwd, shells).map_err(|e| e.to_string()),
            None => Oracle::find(cf, &site.me, passwd, shells)
                .ok_or_else(|| "no sendmail 8 binary found".to_string()),
        },
    };
    if let (Some(_), Err(why)) = (&a.sendmail, &oracle) {
        anyhow::bail!("{why}");
    }
    let (old_side, newaliases) = match &oracle {
        Ok(o) => (
            OldSide::Sendmail {
                binary: o.binary().display().to_string(),
                version: o.version.clone(),
            },
            Some(o.newaliases(&bytes)?),
        ),
        Err(why) => (OldSide::Model { why: why.clone() }, None),
    };
    let mut results = Vec::new();
    for (addr, origin) in addresses(&site, &conv, &a)? {
        let walk = model.expand(&addr);
        let (old, notes) = match &oracle {
            Ok(o) => o.verify(&addr)?,
            Err(_) => (walk.deliveries.clone(), Vec::new()),
        };
        let new = qmail.expand(&addr);
        results.push(compare(
            &addr,
            origin,
            old,
            new,
            &report,
            &walk.sources,
            notes,
        ));
    }
    let v = Verification {
        old_side,
        results,
        newaliases,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        super::render::write_text(&v, &mut anstream::stdout())?;
    }
    Ok(v.exit_code())
}
