//! The peer images (Postfix, OpenSMTPD from Debian; `ci/images/peer.sh`
//! has their contract): configured only through `SMTP_LISTEN`,
//! `SMARTHOST`, `ME` and `LOCAL_USERS`, with every local user's home
//! under the bind-mounted `/homes`. They speak SMTP, relay to the sink
//! and deliver to each user's `~/Maildir/`; nothing else of a scenario's
//! setup (qmail controls, `.qmail` files, the SMTP server's environment)
//! can be honoured, so such scenarios are skipped with the reason.

use std::net::SocketAddr;

use crate::scenario::Setup;

/// The local user every peer image has.
pub const USER: &str = "user";
/// Where the local users' homes are inside the container.
pub const HOMES_IN_CONTAINER: &str = "/homes";

/// Why `setup` cannot be given to a peer image, if it cannot.
pub fn unsupported(setup: &Setup) -> Option<String> {
    let mut why = Vec::new();
    if !setup.controls.is_empty() {
        why.push("qmail control files".to_string());
    }
    if !setup.env.is_empty() {
        why.push("the SMTP server's environment".to_string());
    }
    if !setup.alias.is_empty() {
        why.push("alias .qmail files".to_string());
    }
    for u in &setup.users {
        if !u.files.is_empty() || !u.modes.is_empty() {
            why.push(format!("files in {}'s home (.qmail)", u.name));
        } else if !u.maildir {
            why.push(format!("{} without a Maildir", u.name));
        } else if !is_user_name(&u.name) {
            why.push(format!("the user name {:?}", u.name));
        }
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// A name `useradd` takes (Debian's default NAME_REGEX, lower case).
fn is_user_name(n: &str) -> bool {
    let mut c = n.chars();
    n.len() <= 32
        && c.next().is_some_and(|f| f.is_ascii_lowercase() || f == '_')
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_' || x == '-')
}

/// The container's environment (the image's entrypoint writes the MTA's
/// configuration and creates the users from it).
pub fn env(listen: SocketAddr, sink: SocketAddr, me: &str, setup: &Setup) -> Vec<(String, String)> {
    let users: Vec<&str> = setup
        .users
        .iter()
        .map(|u| u.name.as_str())
        .filter(|n| *n != USER)
        .collect();
    vec![
        ("SMTP_LISTEN".into(), listen.to_string()),
        ("SMARTHOST".into(), sink.to_string()),
        ("ME".into(), me.into()),
        ("LOCAL_USERS".into(), users.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(yaml: &str) -> Setup {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn only_plain_users_are_supported() {
        assert_eq!(unsupported(&setup("{}")), None);
        assert_eq!(
            unsupported(&setup("users: [{name: user}, {name: alice}]")),
            None
        );
        assert_eq!(
            unsupported(&setup("users: [{name: 'Bad Name'}]")).unwrap(),
            "the user name \"Bad Name\""
        );
        assert_eq!(
            unsupported(&setup(
                "controls: {databytes: '1'}\nusers: [{name: user, files: {.qmail: x}}]"
            ))
            .unwrap(),
            "qmail control files, files in user's home (.qmail)"
        );
    }

    #[test]
    fn users_other_than_user_are_created_at_start() {
        let s = setup("users: [{name: user}, {name: alice}, {name: victim}]");
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let e = env(a, a, "mx.test", &s);
        assert!(e.contains(&("LOCAL_USERS".into(), "alice victim".into())));
    }
}
