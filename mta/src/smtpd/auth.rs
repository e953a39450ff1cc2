//! SMTP AUTH PLAIN and LOGIN (RFC 4954, RFC 4616): the exchange as a
//! small state machine without I/O. An extension beyond netqmail, off
//! unless `control/smtpauth` names a checkpassword program (see
//! [`super::extensions`]).
//!
//! The replies are those of the widely used qmail-smtpd-auth patch, so
//! clients and log watchers that know it see the same texts. The password
//! itself is checked by the driver (it runs checkpassword); the session
//! only collects the credentials.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const OK: &[u8] = b"235 ok, go ahead (#2.0.0)\r\n";
pub const FAILED: &[u8] = b"535 authorization failed (#5.7.0)\r\n";
pub const TEMPORARY: &[u8] = b"454 oops, problem with child and I can't auth (#4.3.0)\r\n";
pub const ALREADY: &[u8] = b"503 you're already authenticated (#5.5.0)\r\n";
pub const IN_MAIL: &[u8] = b"503 no auth during mail transaction (#5.5.0)\r\n";
pub const CANCELLED: &[u8] = b"501 auth exchange cancelled (#5.0.0)\r\n";
pub const MALFORMED: &[u8] = b"501 malformed auth input (#5.5.4)\r\n";
pub const UNKNOWN_TYPE: &[u8] = b"504 auth type unimplemented (#5.5.1)\r\n";
/// The mechanisms, as the EHLO line lists them.
pub const EHLO_LINE: &str = "AUTH LOGIN PLAIN";

const ASK_PLAIN: &[u8] = b"334 \r\n";
/// `Username:` and `Password:` in base64 (RFC 4954 examples).
const ASK_USER: &[u8] = b"334 VXNlcm5hbWU6\r\n";
const ASK_PASS: &[u8] = b"334 UGFzc3dvcmQ6\r\n";

/// Where an exchange stands between client lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// `AUTH PLAIN` without an initial response: the next line is it.
    Plain,
    /// `AUTH LOGIN`: the next line is the user name.
    LoginUser,
    /// The next line is the password for `user`.
    LoginPass { user: Vec<u8> },
}

/// What the session does after an AUTH command or exchange line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge and wait for the next line in `Exchange`.
    Ask(&'static [u8], Exchange),
    /// The credentials are complete: check them.
    Check { user: Vec<u8>, password: Vec<u8> },
    /// The exchange failed with this reply.
    Fail(&'static [u8]),
}

/// How checkpassword judged the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected,
    /// The checker could not run or failed temporarily (exit 111).
    Temporary,
}

impl Verdict {
    /// checkpassword's exit code: 0 accepted, 111 (or no code: a signal)
    /// temporary, anything else rejected.
    pub fn from_exit(code: Option<i32>) -> Verdict {
        match code {
            Some(0) => Verdict::Accepted,
            Some(111) | None => Verdict::Temporary,
            Some(_) => Verdict::Rejected,
        }
    }
}

/// The AUTH command's argument: `mechanism [initial-response]`.
pub fn start(arg: &[u8]) -> Step {
    let mut parts = arg.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let mech = parts.next().unwrap_or_default().to_ascii_lowercase();
    let initial = parts.next();
    match (mech.as_slice(), initial) {
        (b"plain", None) => Step::Ask(ASK_PLAIN, Exchange::Plain),
        (b"plain", Some(resp)) => plain(resp),
        (b"login", None) => Step::Ask(ASK_USER, Exchange::LoginUser),
        (b"login", Some(user)) => login_user(user),
        _ => Step::Fail(UNKNOWN_TYPE),
    }
}

/// The client's next line in `state`.
pub fn next(state: Exchange, line: &[u8]) -> Step {
    if line == b"*" {
        return Step::Fail(CANCELLED);
    }
    match state {
        Exchange::Plain => plain(line),
        Exchange::LoginUser => login_user(line),
        Exchange::LoginPass { user } => match decode(line) {
            Some(password) if !password.is_empty() => Step::Check { user, password },
            _ => Step::Fail(MALFORMED),
        },
    }
}

fn decode(b64: &[u8]) -> Option<Vec<u8>> {
    STANDARD.decode(b64).ok()
}

fn login_user(b64: &[u8]) -> Step {
    match decode(b64) {
        Some(user) if !user.is_empty() => Step::Ask(ASK_PASS, Exchange::LoginPass { user }),
        _ => Step::Fail(MALFORMED),
    }
}

/// `[authzid] NUL authcid NUL passwd` (RFC 4616); the authzid is ignored,
/// as checkpassword knows only one name.
fn plain(b64: &[u8]) -> Step {
    let Some(raw) = decode(b64) else {
        return Step::Fail(MALFORMED);
    };
    let parts: Vec<&[u8]> = raw.split(|&c| c == 0).collect();
    match parts.as_slice() {
        [_, user, pass] if !user.is_empty() && !pass.is_empty() => Step::Check {
            user: user.to_vec(),
            password: pass.to_vec(),
        },
        _ => Step::Fail(MALFORMED),
    }
}

/// What checkpassword reads on fd 3: `user\0password\0timestamp\0`, with
/// an empty timestamp (SMTP has no APOP challenge).
pub fn checkpassword_input(user: &[u8], password: &[u8]) -> Vec<u8> {
    [user, b"\0", password, b"\0\0"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> Vec<u8> {
        STANDARD.encode(s).into_bytes()
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        let check = Step::Check {
            user: b"joe".to_vec(),
            password: b"pw".to_vec(),
        };
        let arg = [b"PLAIN ".to_vec(), b64(b"\0joe\0pw")].concat();
        assert_eq!(start(&arg), check);
        assert_eq!(start(b"plain"), Step::Ask(ASK_PLAIN, Exchange::Plain));
        assert_eq!(next(Exchange::Plain, &b64(b"admin\0joe\0pw")), check);
        assert_eq!(
            next(Exchange::Plain, &b64(b"joe\0pw")),
            Step::Fail(MALFORMED)
        );
        assert_eq!(next(Exchange::Plain, b"!!"), Step::Fail(MALFORMED));
        assert_eq!(next(Exchange::Plain, b"*"), Step::Fail(CANCELLED));
    }

    #[test]
    fn login_asks_user_then_password() {
        let Step::Ask(q, st) = start(b"LOGIN") else {
            panic!()
        };
        assert_eq!(q, ASK_USER);
        let Step::Ask(q, st) = next(st, &b64(b"joe")) else {
            panic!()
        };
        assert_eq!(q, ASK_PASS);
        assert_eq!(
            next(st, &b64(b"pw")),
            Step::Check {
                user: b"joe".to_vec(),
                password: b"pw".to_vec()
            }
        );
        let arg = [b"login ".to_vec(), b64(b"joe")].concat();
        assert!(matches!(start(&arg), Step::Ask(ASK_PASS, _)));
        assert_eq!(start(b"CRAM-MD5"), Step::Fail(UNKNOWN_TYPE));
        assert_eq!(start(b""), Step::Fail(UNKNOWN_TYPE));
    }

    #[test]
    fn verdicts_and_fd3_format() {
        assert_eq!(Verdict::from_exit(Some(0)), Verdict::Accepted);
        assert_eq!(Verdict::from_exit(Some(1)), Verdict::Rejected);
        assert_eq!(Verdict::from_exit(Some(111)), Verdict::Temporary);
        assert_eq!(Verdict::from_exit(None), Verdict::Temporary);
        assert_eq!(checkpassword_input(b"u", b"p"), b"u\0p\0\0");
    }
}
