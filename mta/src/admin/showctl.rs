//! `qmail-showctl`: explains the configuration (spec §9.3). The wording
//! mirrors qmail's (informational, not a protocol): the compiled settings,
//! then one paragraph per known control file with its effective value,
//! `(Default.)` when the file is missing, `Oops! Trouble reading this
//! file.` when it cannot be read, and finally every unknown file in
//! `control/` with `: I have no idea what this file does.`
//!
//! Besides qmail's files it knows our two extensions: `bounceformat`
//! (`dsn` selects RFC 3464 bounces, default QSBMF) and `dnsserver`
//! (qmail-remote's DNS servers, `ip:port` per line, for tests).

use crate::control::{read_line, read_list, ControlDir};
use crate::home::{Accounts, Home, BREAK, PATRN, SPAWN_LIMIT, SPLIT};

/// Every file this tool describes; anything else in `control/` is unknown.
pub const KNOWN: &[&str] = &[
    "badmailfrom",
    "bouncefrom",
    "bouncehost",
    "concurrencylocal",
    "concurrencyremote",
    "databytes",
    "defaultdomain",
    "defaulthost",
    "doublebouncehost",
    "doublebounceto",
    "envnoathost",
    "helohost",
    "idhost",
    "localiphost",
    "locals",
    "me",
    "morercpthosts",
    "morercpthosts.cdb",
    "percenthack",
    "plusdomain",
    "qmqpservers",
    "queuelifetime",
    "rcpthosts",
    "smtpgreeting",
    "smtproutes",
    "timeoutconnect",
    "timeoutremote",
    "timeoutsmtpd",
    "virtualdomains",
    // Our extensions.
    "bounceformat",
    "dnsserver",
];

/// What the tool prints and its exit code (111 if the control directory
/// or `control/me` cannot be read).
pub struct Shown {
    pub text: Vec<u8>,
    pub code: i32,
}

/// Appends `s` with bytes outside 32..126 shown as `?` (qmail's safeput).
fn safe(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.bytes()
            .map(|c| if (32..=126).contains(&c) { c } else { b'?' }),
    );
}

struct Ctl<'a> {
    dir: &'a ControlDir,
    me: Option<String>,
    out: Vec<u8>,
}

impl Ctl<'_> {
    fn head(&mut self, name: &str) {
        self.out.extend_from_slice(format!("\n{name}: ").as_bytes());
    }

    fn oops(&mut self) {
        self.out
            .extend_from_slice(b"Oops! Trouble reading this file.\n");
    }

    /// A number file (qmail's `do_int`).
    fn int(&mut self, name: &str, def: &str, pre: &str, post: &str) {
        self.head(name);
        match read_line(&self.dir.path(name)) {
            Ok(Some(line)) if line.starts_with(|c: char| c.is_ascii_digit()) => {
                let digits: String = line.chars().take_while(char::is_ascii_digit).collect();
                let n = digits.trim_start_matches('0');
                let n = if n.is_empty() { "0" } else { n };
                self.out
                    .extend_from_slice(format!("{pre}{n}{post}.\n").as_bytes());
            }
            Ok(_) => self
                .out
                .extend_from_slice(format!("(Default.) {pre}{def}{post}.\n").as_bytes()),
            Err(_) => self.oops(),
        }
    }

    /// A line file (qmail's `do_str`); `flagme` makes `me` the default.
    fn str(&mut self, name: &str, flagme: bool, def: &str, pre: &str) {
        self.head(name);
        let value = match read_line(&self.dir.path(name)) {
            Ok(Some(v)) => v,
            Ok(None) => {
                self.out.extend_from_slice(b"(Default.) ");
                match (&self.me, flagme) {
                    (Some(me), true) => me.clone(),
                    _ => def.to_string(),
                }
            }
            Err(_) => return self.oops(),
        };
        self.out.extend_from_slice(pre.as_bytes());
        safe(&mut self.out, &value);
        self.out.extend_from_slice(b".\n");
    }

    /// A list file (qmail's `do_lst`); returns whether the file exists.
    fn lst(&mut self, name: &str, def: &str, pre: &str, post: &str) -> bool {
        self.head(name);
        match read_list(&self.dir.path(name)) {
            Ok(Some(lines)) => {
                self.out.push(b'\n');
                for l in lines {
                    self.out.extend_from_slice(pre.as_bytes());
                    safe(&mut self.out, &l);
                    self.out.extend_from_slice(post.as_bytes());
                    self.out.push(b'\n');
                }
                true
            }
            Ok(None) => {
                self.out
                    .extend_from_slice(format!("(Default.) {def}\n").as_bytes());
                false
            }
            Err(_) => {
                self.oops();
                false
            }
        }
    }

    fn morercpthosts_cdb(&mut self) {
        let mtime = |n: &str| std::fs::metadata(self.dir.path(n)).and_then(|m| m.modified());
        let text = match (mtime("morercpthosts"), mtime("morercpthosts.cdb")) {
            (Err(_), Err(_)) => "(Default.) No effect.",
            (Err(_), Ok(_)) => "Oops! morercpthosts.cdb exists but morercpthosts doesn't.",
            (Ok(_), Err(_)) => "Oops! morercpthosts exists but morercpthosts.cdb doesn't.",
            (Ok(src), Ok(cdb)) if src > cdb => {
                "Oops! morercpthosts.cdb is older than morercpthosts."
            }
            (Ok(_), Ok(_)) => "Modified recently enough; hopefully up to date.",
        };
        self.out
            .extend_from_slice(format!("\nmorercpthosts.cdb: {text}\n").as_bytes());
    }

    fn bounceformat(&mut self) {
        self.head("bounceformat");
        match read_line(&self.dir.path("bounceformat")) {
            Ok(None) => self
                .out
                .extend_from_slice(b"(Default.) Bounces are in qmail's QSBMF format.\n"),
            Ok(Some(v)) if v == "dsn" => self
                .out
                .extend_from_slice(b"Bounces are RFC 3464 delivery status notifications.\n"),
            Ok(Some(v)) => {
                self.out.extend_from_slice(
                    b"Bounces are in qmail's QSBMF format (only dsn changes that; this file says ",
                );
                safe(&mut self.out, &v);
                self.out.extend_from_slice(b").\n");
            }
            Err(_) => self.oops(),
        }
    }
}

fn compiled(home: &Home, out: &mut Vec<u8>) {
    let mut line = |s: String| out.extend_from_slice(s.as_bytes());
    line(format!("qmail home directory: {}.\n", home.root.display()));
    line(format!("user-ext delimiter: {}.\n", BREAK as char));
    line(format!("paternalism (in decimal): {PATRN}.\n"));
    line(format!("silent concurrency limit: {SPAWN_LIMIT}.\n"));
    line(format!("subdirectory split: {SPLIT}.\n"));
    match Accounts::resolve(home) {
        Ok(a) => {
            let uids = [
                &a.alias, &a.qmaild, &a.qmaill, &a.root, &a.qmailp, &a.qmailq, &a.qmailr, &a.qmails,
            ]
            .map(|u| u.uid.to_string())
            .join(", ");
            line(format!("user ids: {uids}.\n"));
            line(format!("group ids: {}, {}.\n", a.gid_nofiles, a.gid_qmail));
        }
        Err(e) => line(format!("user ids: Oops! {e}.\n")),
    }
    if home.unprivileged() {
        line("run mode: unprivileged (one user runs every component).\n".to_string());
    }
}

/// Renders the whole report for `home`.
pub fn showctl(home: &Home) -> Shown {
    let mut out = Vec::new();
    compiled(home, &mut out);
    let control = home.control();
    let names = match std::fs::read_dir(&control) {
        Ok(rd) => {
            let mut v: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
        Err(_) => {
            out.extend_from_slice(
                format!("Oops! Unable to open {}.\n", control.display()).as_bytes(),
            );
            return Shown {
                text: out,
                code: 111,
            };
        }
    };
    let dir = ControlDir::new(&control);
    let me = match dir.me() {
        Ok(me) => me,
        Err(_) => {
            out.extend_from_slice(b"Oops! Trouble reading control/me.\n");
            return Shown {
                text: out,
                code: 111,
            };
        }
    };
    let mut c = Ctl { dir: &dir, me, out };
    describe(&mut c);
    for n in names.iter().filter(|n| !KNOWN.contains(&n.as_str())) {
        c.out.push(b'\n');
        safe(&mut c.out, n);
        c.out
            .extend_from_slice(b": I have no idea what this file does.\n");
    }
    Shown {
        text: c.out,
        code: 0,
    }
}

fn describe(c: &mut Ctl<'_>) {
    c.lst(
        "badmailfrom",
        "Any MAIL FROM is allowed.",
        "",
        " not accepted in MAIL FROM.",
    );
    c.str("bouncefrom", false, "MAILER-DAEMON", "Bounce user name is ");
    c.str("bouncehost", true, "bouncehost", "Bounce host name is ");
    c.int("concurrencylocal", "10", "Local concurrency is ", "");
    c.int("concurrencyremote", "20", "Remote concurrency is ", "");
    c.int("databytes", "0", "SMTP DATA limit is ", " bytes");
    c.str(
        "defaultdomain",
        true,
        "defaultdomain",
        "Default domain name is ",
    );
    c.str("defaulthost", true, "defaulthost", "Default host name is ");
    c.str(
        "doublebouncehost",
        true,
        "doublebouncehost",
        "2B recipient host: ",
    );
    c.str("doublebounceto", false, "postmaster", "2B recipient user: ");
    c.str(
        "envnoathost",
        true,
        "envnoathost",
        "Presumed domain name is ",
    );
    c.str(
        "helohost",
        true,
        "helohost",
        "SMTP client HELO host name is ",
    );
    c.str("idhost", true, "idhost", "Message-ID host name is ");
    c.str(
        "localiphost",
        true,
        "localiphost",
        "Local IP address becomes ",
    );
    c.lst(
        "locals",
        "Messages for me are delivered locally.",
        "Messages for ",
        " are delivered locally.",
    );
    c.str("me", false, "undefined! Uh-oh", "My name is ");
    c.lst(
        "percenthack",
        "The percent hack is not allowed.",
        "The percent hack is allowed for user%host@",
        ".",
    );
    c.str("plusdomain", true, "plusdomain", "Plus domain name is ");
    c.lst("qmqpservers", "No QMQP servers.", "QMQP server: ", ".");
    c.int(
        "queuelifetime",
        "604800",
        "Message lifetime in the queue is ",
        " seconds",
    );
    let rcpt = "SMTP clients may send messages to recipients at ";
    if c.lst(
        "rcpthosts",
        "SMTP clients may send messages to any recipient.",
        rcpt,
        ".",
    ) {
        c.lst("morercpthosts", "No effect.", rcpt, ".");
    } else {
        c.lst(
            "morercpthosts",
            "No rcpthosts; morercpthosts is irrelevant.",
            "No rcpthosts; doesn't matter that morercpthosts has ",
            ".",
        );
    }
    c.morercpthosts_cdb();
    c.str("smtpgreeting", true, "smtpgreeting", "SMTP greeting: 220 ");
    c.lst(
        "smtproutes",
        "No artificial SMTP routes.",
        "SMTP route: ",
        "",
    );
    c.int(
        "timeoutconnect",
        "60",
        "SMTP client connection timeout is ",
        " seconds",
    );
    c.int(
        "timeoutremote",
        "1200",
        "SMTP client data timeout is ",
        " seconds",
    );
    c.int(
        "timeoutsmtpd",
        "1200",
        "SMTP server data timeout is ",
        " seconds",
    );
    c.lst(
        "virtualdomains",
        "No virtual domains.",
        "Virtual domain: ",
        "",
    );
    c.bounceformat();
    c.lst(
        "dnsserver",
        "qmail-remote uses the system's resolver configuration.",
        "qmail-remote asks the DNS server at ",
        ".",
    );
}

/// qmail-showctl's main: prints the report; 0, or 111.
pub fn main() -> i32 {
    use std::io::Write;
    let shown = showctl(&Home::from_env());
    let mut out = std::io::stdout().lock();
    match out.write_all(&shown.text).and_then(|()| out.flush()) {
        Ok(()) => shown.code,
        Err(_) => 111,
    }
}

/// True if `name` is a control file showctl knows.
pub fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Mode;

    fn home_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Home) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("control")).unwrap();
        for (n, c) in files {
            std::fs::write(d.path().join("control").join(n), c).unwrap();
        }
        let h = Home::new(d.path(), Mode::Unprivileged);
        (d, h)
    }

    fn text(h: &Home) -> String {
        let s = showctl(h);
        assert_eq!(s.code, 0);
        String::from_utf8(s.text).unwrap()
    }

    #[test]
    fn compiled_settings_come_first() {
        let (_d, h) = home_with(&[]);
        let t = text(&h);
        assert!(t.starts_with(&format!(
            "qmail home directory: {}.\nuser-ext delimiter: -.\npaternalism (in decimal): 2.\nsilent concurrency limit: 120.\nsubdirectory split: 23.\nuser ids: ",
            h.root.display()
        )));
    }

    #[test]
    fn defaults_follow_me() {
        let (_d, h) = home_with(&[("me", "mx.example.com\n")]);
        let t = text(&h);
        assert!(t.contains("\nbouncehost: (Default.) Bounce host name is mx.example.com.\n"));
        assert!(t.contains("\nbouncefrom: (Default.) Bounce user name is MAILER-DAEMON.\n"));
        assert!(t.contains("\nme: My name is mx.example.com.\n"));
        assert!(t.contains("\nconcurrencyremote: (Default.) Remote concurrency is 20.\n"));
        assert!(t.contains("\nbounceformat: (Default.) Bounces are in qmail's QSBMF format.\n"));
        assert!(t.contains("\nmorercpthosts.cdb: (Default.) No effect.\n"));
    }

    #[test]
    fn values_lists_and_unknown_files() {
        let (_d, h) = home_with(&[
            ("concurrencyremote", "500\n"),
            ("databytes", "abc\n"),
            ("rcpthosts", "a.example\n# c\nb.example \n"),
            ("bounceformat", "dsn\n"),
            ("dnsserver", "127.0.0.1:5353\n"),
            ("frobnicate", "x"),
        ]);
        let t = text(&h);
        assert!(t.contains("\nconcurrencyremote: Remote concurrency is 500.\n"));
        assert!(t.contains("\ndatabytes: (Default.) SMTP DATA limit is 0 bytes.\n"));
        assert!(t.contains(
            "\nrcpthosts: \nSMTP clients may send messages to recipients at a.example.\nSMTP clients may send messages to recipients at b.example.\n"
        ));
        assert!(t.contains("\nmorercpthosts: (Default.) No effect.\n"));
        assert!(t.contains("\nbounceformat: Bounces are RFC 3464 delivery status notifications.\n"));
        assert!(t.contains("\ndnsserver: \nqmail-remote asks the DNS server at 127.0.0.1:5353.\n"));
        assert!(t.ends_with("\nfrobnicate: I have no idea what this file does.\n"));
        assert!(!t.contains("rcpthosts: I have no idea"));
    }

    #[test]
    fn unreadable_file_says_oops() {
        // A directory where a file should be cannot be read as a file.
        let (d, h) = home_with(&[]);
        std::fs::create_dir(d.path().join("control/smtproutes")).unwrap();
        let t = text(&h);
        assert!(t.contains("\nsmtproutes: Oops! Trouble reading this file.\n"));
    }

    #[test]
    fn missing_control_dir_is_111() {
        let d = tempfile::tempdir().unwrap();
        let s = showctl(&Home::new(d.path(), Mode::Unprivileged));
        assert_eq!(s.code, 111);
    }

    #[test]
    fn known_list_has_the_extensions() {
        assert!(is_known("bounceformat") && is_known("dnsserver") && !is_known("x"));
    }
}
