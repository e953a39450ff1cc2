//! qmail-popup's protocol core (spec §11.1): the authorization state of a
//! POP3 session, without I/O. The driver ([`super::popup_exec`]) feeds it
//! command lines and writes its replies; when a login is complete the core
//! hands back the [`Login`] for the checkpassword program (spec §11.2).
//!
//! Replies are byte-exact with netqmail 1.06, including the trailing space
//! of `+OK `.

use super::command::split;

/// What the driver does after a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Write this reply and read the next line.
    Reply(&'static [u8]),
    /// Write this reply and exit 1 (QUIT).
    Quit(&'static [u8]),
    /// Run the subprogram with this login on fd 3 (PASS or APOP).
    Login(Login),
}

/// A user name and a password (or APOP digest) for checkpassword.
#[derive(PartialEq, Eq)]
pub struct Login {
    pub user: Vec<u8>,
    pub pass: Vec<u8>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password, not even in a test failure.
        f.debug_struct("Login")
            .field("user", &String::from_utf8_lossy(&self.user))
            .finish_non_exhaustive()
    }
}

impl Login {
    /// The bytes written to fd 3 (spec §11.2):
    /// `user\0password\0<pid.time@host>\0`.
    pub fn fd3_data(&self, timestamp: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.user.len() + self.pass.len() + timestamp.len() + 3);
        v.extend_from_slice(&self.user);
        v.push(0);
        v.extend_from_slice(&self.pass);
        v.push(0);
        v.extend_from_slice(timestamp);
        v.push(0);
        v
    }

    /// Overwrites the password, as qmail-popup clears its copy once the
    /// pipe is written.
    pub fn clear(&mut self) {
        self.pass.fill(0);
        std::hint::black_box(&self.pass);
    }
}

pub const OK: &[u8] = b"+OK \r\n";
pub const ERR_SYNTAX: &[u8] = b"-ERR syntax error\r\n";
pub const ERR_USER_FIRST: &[u8] = b"-ERR USER first\r\n";
pub const ERR_AUTHORIZATION_FIRST: &[u8] = b"-ERR authorization first\r\n";
pub const ERR_USAGE: &[u8] = b"-ERR usage: popup hostname subprogram\r\n";
pub const ERR_PIPE: &[u8] = b"-ERR unable to open pipe\r\n";
pub const ERR_WRITE_PIPE: &[u8] = b"-ERR unable to write pipe\r\n";
pub const ERR_FORK: &[u8] = b"-ERR unable to fork\r\n";
pub const ERR_CHILD_CRASHED: &[u8] = b"-ERR aack, child crashed\r\n";
pub const ERR_AUTH_FAILED: &[u8] = b"-ERR authorization failed\r\n";

/// How the checkpassword program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(i32),
    Signaled,
}

/// What qmail-popup adds after the subprogram ended (spec §11.2): nothing
/// after exit 0 (qmail-pop3d said goodbye itself).
pub fn child_ended(end: ChildEnd) -> Option<&'static [u8]> {
    match end {
        ChildEnd::Signaled => Some(ERR_CHILD_CRASHED),
        ChildEnd::Exited(0) => None,
        ChildEnd::Exited(_) => Some(ERR_AUTH_FAILED),
    }
}

/// One qmail-popup session before login.
#[derive(Debug)]
pub struct Popup {
    timestamp: Vec<u8>,
    user: Option<Vec<u8>>,
}

impl Popup {
    /// The session of process `pid` started at unix time `now` on
    /// `hostname` (qmail-popup's first argument).
    pub fn new(pid: u32, now: u64, hostname: &[u8]) -> Popup {
        let mut timestamp = format!("<{pid}.{now}@").into_bytes();
        timestamp.extend_from_slice(hostname);
        timestamp.push(b'>');
        Popup {
            timestamp,
            user: None,
        }
    }

    /// The APOP challenge `<pid.time@host>`, also the third fd 3 field.
    pub fn timestamp(&self) -> &[u8] {
        &self.timestamp
    }

    /// `+OK <pid.time@host>`.
    pub fn greeting(&self) -> Vec<u8> {
        let mut v = b"+OK ".to_vec();
        v.extend_from_slice(&self.timestamp);
        v.extend_from_slice(b"\r\n");
        v
    }

    /// Handles one command line (without its line end).
    pub fn command(&mut self, line: &[u8]) -> Step {
        let (verb, arg) = split(line);
        match verb.as_slice() {
            b"user" => {
                if arg.is_empty() {
                    return Step::Reply(ERR_SYNTAX);
                }
                // A later USER replaces the name, as in qmail.
                self.user = Some(arg.to_vec());
                Step::Reply(OK)
            }
            b"pass" => {
                let Some(user) = &self.user else {
                    return Step::Reply(ERR_USER_FIRST);
                };
                if arg.is_empty() {
                    return Step::Reply(ERR_SYNTAX);
                }
                Step::Login(Login {
                    user: user.clone(),
                    pass: arg.to_vec(),
                })
            }
            b"apop" => match arg.iter().position(|&c| c == b' ') {
                // Split at the first space only: the digest is the rest,
                // spaces and all (qmail's `str_chr`).
                Some(i) => Step::Login(Login {
                    user: arg[..i].to_vec(),
                    pass: arg[i + 1..].to_vec(),
                }),
                None => Step::Reply(ERR_SYNTAX),
            },
            b"quit" => Step::Quit(OK),
            b"noop" => Step::Reply(OK),
            _ => Step::Reply(ERR_AUTHORIZATION_FIRST),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn popup() -> Popup {
        Popup::new(4321, 1700000000, b"pop.example.com")
    }

    fn login(user: &[u8], pass: &[u8]) -> Step {
        Step::Login(Login {
            user: user.to_vec(),
            pass: pass.to_vec(),
        })
    }

    #[test]
    fn greeting_carries_the_apop_timestamp() {
        let p = popup();
        assert_eq!(p.greeting(), b"+OK <4321.1700000000@pop.example.com>\r\n");
        assert_eq!(p.timestamp(), b"<4321.1700000000@pop.example.com>");
    }

    #[test]
    fn user_then_pass_logs_in() {
        let mut p = popup();
        assert_eq!(p.command(b"USER joe"), Step::Reply(OK));
        assert_eq!(p.command(b"PASS sec ret"), login(b"joe", b"sec ret"));
    }

    #[test]
    fn pass_before_user_and_empty_arguments() {
        let mut p = popup();
        assert_eq!(p.command(b"PASS x"), Step::Reply(ERR_USER_FIRST));
        assert_eq!(p.command(b"USER"), Step::Reply(ERR_SYNTAX));
        assert_eq!(p.command(b"USER   "), Step::Reply(ERR_SYNTAX));
        assert_eq!(p.command(b"user a"), Step::Reply(OK));
        assert_eq!(p.command(b"pass"), Step::Reply(ERR_SYNTAX));
        assert_eq!(p.command(b"user b"), Step::Reply(OK));
        assert_eq!(p.command(b"pass y"), login(b"b", b"y"));
    }

    #[test]
    fn apop_needs_a_space_and_splits_at_the_first() {
        let mut p = popup();
        assert_eq!(p.command(b"APOP joe"), Step::Reply(ERR_SYNTAX));
        assert_eq!(p.command(b"APOP"), Step::Reply(ERR_SYNTAX));
        assert_eq!(p.command(b"APOP joe d1 d2"), login(b"joe", b"d1 d2"));
        assert_eq!(p.command(b"APOP joe "), login(b"joe", b""));
    }

    #[test]
    fn other_commands_want_authorization() {
        let mut p = popup();
        assert_eq!(p.command(b"NOOP"), Step::Reply(OK));
        for c in [&b"STAT"[..], b"CAPA", b"LIST 1", b"", b"STLS"] {
            assert_eq!(p.command(c), Step::Reply(ERR_AUTHORIZATION_FIRST));
        }
        assert_eq!(p.command(b"quit"), Step::Quit(OK));
    }

    #[test]
    fn fd3_data_is_three_nul_terminated_fields() {
        let mut l = Login {
            user: b"joe".to_vec(),
            pass: b"pw".to_vec(),
        };
        assert_eq!(l.fd3_data(b"<1.2@h>"), b"joe\0pw\0<1.2@h>\0");
        l.clear();
        assert_eq!(l.pass, b"\0\0");
        assert!(!format!("{l:?}").contains("pw"));
    }

    #[test]
    fn child_end_replies() {
        assert_eq!(child_ended(ChildEnd::Exited(0)), None);
        assert_eq!(child_ended(ChildEnd::Exited(1)), Some(ERR_AUTH_FAILED));
        assert_eq!(child_ended(ChildEnd::Exited(111)), Some(ERR_AUTH_FAILED));
        assert_eq!(child_ended(ChildEnd::Signaled), Some(ERR_CHILD_CRASHED));
    }
}
