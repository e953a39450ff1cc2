//! The sendmail macros of an `.mc` file: each call becomes the `.cf`
//! construct it stands for (cf/README's table), or a note when m4 would
//! do something this reader does not evaluate (spec §4.1).

use super::Reader;
use crate::config::model::Kind;
use crate::detect::Refused;

/// `define(`confX')` → `.cf` option name (cf/README's table, the ones a
/// migration meets).
const OPTIONS: &[(&str, &str)] = &[
    ("confMAX_MESSAGE_SIZE", "MaxMessageSize"),
    ("confMAX_RCPTS_PER_MESSAGE", "MaxRecipientsPerMessage"),
    ("confTO_QUEUERETURN", "Timeout.queuereturn"),
    ("confTO_QUEUERETURN_NORMAL", "Timeout.queuereturn.normal"),
    ("confTO_QUEUERETURN_URGENT", "Timeout.queuereturn.urgent"),
    (
        "confTO_QUEUERETURN_NONURGENT",
        "Timeout.queuereturn.non-urgent",
    ),
    ("confTO_QUEUERETURN_DSN", "Timeout.queuereturn.dsn"),
    ("confTO_QUEUEWARN", "Timeout.queuewarn"),
    ("confTO_QUEUEWARN_NORMAL", "Timeout.queuewarn.normal"),
    ("confTO_QUEUEWARN_URGENT", "Timeout.queuewarn.urgent"),
    ("confTO_QUEUEWARN_NONURGENT", "Timeout.queuewarn.non-urgent"),
    ("confTO_QUEUEWARN_DSN", "Timeout.queuewarn.dsn"),
    ("confPRIVACY_FLAGS", "PrivacyOptions"),
    ("confSERVER_CERT", "ServerCertFile"),
    ("confSERVER_KEY", "ServerKeyFile"),
    ("confCACERT", "CACertFile"),
    ("confCACERT_PATH", "CACertPath"),
    ("confCLIENT_CERT", "ClientCertFile"),
    ("confCLIENT_KEY", "ClientKeyFile"),
    ("confAUTH_MECHANISMS", "AuthMechanisms"),
    ("confAUTH_OPTIONS", "AuthOptions"),
    ("confDEF_USER_ID", "DefaultUser"),
    ("confFORWARD_PATH", "ForwardPath"),
    ("ALIAS_FILE", "AliasFile"),
    ("confMAX_HOP", "MaxHopCount"),
    ("confDONT_PROBE_INTERFACES", "DontProbeInterfaces"),
    ("confSMTP_LOGIN_MSG", "SmtpGreetingMessage"),
    ("confLOG_LEVEL", "LogLevel"),
    ("QUEUE_DIR", "QueueDirectory"),
    ("STATUS_FILE", "StatusFile"),
    ("HELP_FILE", "HelpFile"),
    ("confMAX_DAEMON_CHILDREN", "MaxDaemonChildren"),
    ("confCONNECTION_RATE_THROTTLE", "ConnectionRateThrottle"),
    ("confMIN_FREE_BLOCKS", "MinFreeBlocks"),
    ("confDELIVERY_MODE", "DeliveryMode"),
    ("confBLANK_SUB", "BlankSub"),
    ("confHOST_STATUS_DIRECTORY", "HostStatusDirectory"),
    ("confPID_FILE", "PidFile"),
    ("confSAFE_FILE_ENV", "SafeFileEnvironment"),
    ("confDEAD_LETTER_DROP", "DeadLetterDrop"),
    ("confQUEUE_LA", "QueueLA"),
    ("confREFUSE_LA", "RefuseLA"),
    ("confTO_IDENT", "Timeout.ident"),
    ("confMILTER_MACROS_CONNECT", "Milter.macros.connect"),
];

/// Macros that only set where sendmail's m4 finds or writes things.
const MACRO_CLASS: &[(&str, &str)] = &[
    ("MASQUERADE_DOMAIN", "M"),
    ("EXPOSED_USER", "E"),
    ("GENERICS_DOMAIN", "G"),
    ("VIRTUSER_DOMAIN", "VirtHost"),
    ("LOCAL_DOMAIN", "w"),
    ("RELAY_DOMAIN", "R"),
    ("TRUST_AUTH_MECH", "TrustAuthMech"),
    ("LOCAL_USER", "L"),
    ("CANONIFY_DOMAIN", "Canonify"),
];

const MACRO_CLASS_FILE: &[(&str, &str)] = &[
    ("MASQUERADE_DOMAIN_FILE", "M"),
    ("EXPOSED_USER_FILE", "E"),
    ("GENERICS_DOMAIN_FILE", "G"),
    ("VIRTUSER_DOMAIN_FILE", "VirtHost"),
    ("RELAY_DOMAIN_FILE", "R"),
    ("CANONIFY_DOMAIN_FILE", "Canonify"),
];

/// Map features: FEATURE name → (`K` map name, default spec).
fn map_feature(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "access_db" => ("access", "hash -T<TMPF> -o /etc/mail/access"),
        "virtusertable" => ("virtuser", "hash -o /etc/mail/virtusertable"),
        "mailertable" => ("mailertable", "hash -o /etc/mail/mailertable"),
        "genericstable" => ("generics", "hash -o /etc/mail/genericstable"),
        _ => return None,
    })
}

impl Reader<'_> {
    pub(super) fn call(
        &mut self,
        name: &str,
        args: &[String],
        line: usize,
        shown: &str,
    ) -> Result<(), Refused> {
        let a0 = args.first().map(String::as_str).unwrap_or("");
        let a1 = args.get(1).map(String::as_str).unwrap_or("");
        if a0.starts_with('\'') && name != "divert" {
            self.note(
                line,
                shown,
                format!(
                    "straight quotes: m4 took `{a0}` (quotes included) as the name, so sendmail \
                     never saw this setting (spec §4.1); write `{}' to mean it",
                    a0.trim_matches('\'')
                ),
                true,
            );
            return Ok(());
        }
        match name {
            "divert" => self.divert = a0.trim().parse().unwrap_or(0),
            "include" => {
                if a0.ends_with("/cf.m4") {
                    self.sendmail_macro_seen = true;
                } else {
                    self.note(
                        line,
                        shown,
                        format!(
                            "m4 read `{a0}` here and this converter does not evaluate includes; \
                             run m4 (spec §6.3) and migrate the .cf to see its settings"
                        ),
                        true,
                    );
                }
            }
            "VERSIONID" => {}
            "OSTYPE" => {
                self.sendmail_macro_seen = true;
                if a0 == "linux" {
                    // cf/ostype/linux.m4 does FEATURE(local_procmail).
                    self.push(
                        line,
                        shown,
                        Kind::Feature {
                            name: "local_procmail".into(),
                            args: Vec::new(),
                        },
                    );
                }
                self.note(
                    line,
                    shown,
                    format!(
                        "m4 read cf/ostype/{a0}.m4 (program paths and defaults for that system); \
                         only its local mailer matters to qmail and is reported with it"
                    ),
                    false,
                );
            }
            "DOMAIN" => {
                self.sendmail_macro_seen = true;
                let generic = a0 == "generic";
                self.note(
                    line,
                    shown,
                    format!(
                        "m4 read cf/domain/{a0}.m4{}",
                        if generic {
                            " (sendmail's generic defaults)".to_string()
                        } else {
                            "; its settings are not evaluated here: run m4 (spec §6.3) and \
                             migrate the .cf to see them"
                                .to_string()
                        }
                    ),
                    !generic,
                );
            }
            "define" => {
                self.sendmail_macro_seen = true;
                self.define(a0, a1, line, shown);
            }
            "undefine" => self.note(
                line,
                shown,
                format!("`{a0}` is back to sendmail's default"),
                false,
            ),
            "FEATURE" => {
                self.sendmail_macro_seen = true;
                if !self.mailers.is_empty() {
                    self.note(
                        line,
                        shown,
                        "m4 prints `*** ERROR: FEATURE() should be before MAILER()` but still \
                         uses the feature (spec §4.1)"
                            .into(),
                        false,
                    );
                }
                if let Some((map, default)) = map_feature(a0) {
                    let spec = if a1.trim().is_empty() { default } else { a1 };
                    self.push(
                        line,
                        shown,
                        Kind::Map {
                            name: map.into(),
                            spec: spec.to_string(),
                        },
                    );
                } else if a0 == "use_cw_file" {
                    self.use_cw = Some(line);
                } else if a0 == "use_ct_file" {
                    self.use_ct = Some(line);
                } else {
                    self.push(
                        line,
                        shown,
                        Kind::Feature {
                            name: a0.to_string(),
                            args: args[1..].to_vec(),
                        },
                    );
                }
            }
            "MAILER" => {
                self.sendmail_macro_seen = true;
                self.mailers.push(a0.to_string());
                self.push(
                    line,
                    shown,
                    Kind::Mailer {
                        name: a0.to_string(),
                        spec: String::new(),
                    },
                );
            }
            "DAEMON_OPTIONS" | "CLIENT_OPTIONS" => {
                let opt = if name == "DAEMON_OPTIONS" {
                    "DaemonPortOptions"
                } else {
                    "ClientPortOptions"
                };
                self.push(
                    line,
                    shown,
                    Kind::Option {
                        name: opt.into(),
                        value: a0.to_string(),
                    },
                );
            }
            "MASQUERADE_AS" => self.push(
                line,
                shown,
                Kind::Macro {
                    name: "M".into(),
                    value: a0.to_string(),
                },
            ),
            "INPUT_MAIL_FILTER" | "MAIL_FILTER" => self.push(
                line,
                shown,
                Kind::Feature {
                    name: "milter".into(),
                    args: args.to_vec(),
                },
            ),
            "QUEUE_GROUP" => self.push(
                line,
                shown,
                Kind::Other {
                    letter: 'Q',
                    body: args.join(", "),
                },
            ),
            _ => {
                if let Some((_, c)) = MACRO_CLASS.iter().find(|(m, _)| *m == name) {
                    let words = args
                        .iter()
                        .flat_map(|a| a.split_whitespace())
                        .map(str::to_string)
                        .collect();
                    self.push(
                        line,
                        shown,
                        Kind::Class {
                            name: c.to_string(),
                            words,
                        },
                    );
                } else if let Some((_, c)) = MACRO_CLASS_FILE.iter().find(|(m, _)| *m == name) {
                    let (optional, path) = match a0.trim().strip_prefix("-o") {
                        Some(p) => (true, p.trim()),
                        None => (false, a0.trim()),
                    };
                    self.push(
                        line,
                        shown,
                        Kind::ClassFile {
                            name: c.to_string(),
                            path: path.split_whitespace().next().unwrap_or("").to_string(),
                            optional,
                        },
                    );
                } else {
                    self.note(
                        line,
                        shown,
                        format!(
                            "m4 macro `{name}` is not one this converter knows; run m4 (spec \
                             §6.3) and migrate the .cf to see what it did"
                        ),
                        true,
                    );
                }
            }
        }
        Ok(())
    }

    fn define(&mut self, name: &str, value: &str, line: usize, shown: &str) {
        let file_path = |v: &str| -> String {
            let v = v.trim();
            let v = v.strip_prefix("-o").unwrap_or(v).trim();
            v.split_whitespace().next().unwrap_or("").to_string()
        };
        let macro_name = match name {
            "confDOMAIN_NAME" => Some("j"),
            "SMART_HOST" => Some("S"),
            "MAIL_HUB" => Some("H"),
            "LOCAL_RELAY" => Some("R"),
            "UUCP_RELAY" => Some("Y"),
            "BITNET_RELAY" => Some("B"),
            "DECNET_RELAY" => Some("C"),
            "FAX_RELAY" => Some("F"),
            _ => None,
        };
        if let Some(m) = macro_name {
            return self.push(
                line,
                shown,
                Kind::Macro {
                    name: m.into(),
                    value: value.trim().to_string(),
                },
            );
        }
        match name {
            "confCW_FILE" => self.cw_file = Some((line, file_path(value))),
            "confCR_FILE" => self.cr_file = Some((line, file_path(value))),
            "confCT_FILE" => self.ct_file = Some((line, file_path(value))),
            "confTRUSTED_USERS" => self.push(
                line,
                shown,
                Kind::Class {
                    name: "t".into(),
                    words: value.split_whitespace().map(str::to_string).collect(),
                },
            ),
            _ if name.ends_with("_MAILER_ARGS")
                || name.ends_with("_MAILER_PATH")
                || name.ends_with("_MAILER_FLAGS")
                || name.ends_with("_MAILER_MAX") =>
            {
                let prefix = name.split('_').next().unwrap_or("").to_ascii_lowercase();
                // RELAY_, ESMTP_, SMTP8_, DSMTP_ all belong to MAILER(smtp).
                let mailer = match prefix.as_str() {
                    "relay" | "esmtp" | "smtp8" | "dsmtp" => "smtp".to_string(),
                    p => p.to_string(),
                };
                let late = self.mailers.contains(&mailer);
                self.push(
                    line,
                    shown,
                    Kind::MailerArgs {
                        macro_name: name.to_string(),
                        args: value.to_string(),
                        late,
                    },
                );
            }
            _ => {
                let opt = OPTIONS
                    .iter()
                    .find(|(m, _)| *m == name)
                    .map_or(name, |(_, o)| *o);
                self.push(
                    line,
                    shown,
                    Kind::Option {
                        name: opt.to_string(),
                        value: value.to_string(),
                    },
                );
            }
        }
    }

    /// The class files cf.m4 writes wherever their defines were.
    pub(super) fn finish(&mut self) {
        if let Some(l) = self.use_cw {
            let (line, path) = self
                .cw_file
                .clone()
                .unwrap_or((l, "/etc/mail/local-host-names".into()));
            self.push(
                line.max(l),
                "FEATURE(`use_cw_file')",
                Kind::ClassFile {
                    name: "w".into(),
                    path,
                    optional: false,
                },
            );
        }
        if let Some(l) = self.use_ct {
            let (line, path) = self
                .ct_file
                .clone()
                .unwrap_or((l, "/etc/mail/trusted-users".into()));
            self.push(
                line.max(l),
                "FEATURE(`use_ct_file')",
                Kind::ClassFile {
                    name: "t".into(),
                    path,
                    optional: true,
                },
            );
        }
        // cf.m4 always writes `Cwlocalhost` ...
        self.push(
            0,
            "(cf.m4 default) Cwlocalhost",
            Kind::Class {
                name: "w".into(),
                words: vec!["localhost".into()],
            },
        );
        // ... and always reads relay-domains (`FR-o /etc/mail/relay-domains`).
        let (line, path) = self
            .cr_file
            .clone()
            .unwrap_or((0, "/etc/mail/relay-domains".into()));
        self.push(
            line,
            "(cf.m4 default) FR-o /etc/mail/relay-domains",
            Kind::ClassFile {
                name: "R".into(),
                path,
                optional: true,
            },
        );
    }
}
