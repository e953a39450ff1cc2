//! Random inputs for the SMTP session (the same properties as the
//! `smtpd_session` fuzz target, as ordinary tests): any bytes, cut at any
//! points, never panic, keep the session's memory bounded, and give the
//! same replies and the same queued messages however the input is split.

use proptest::prelude::*;

use crate::queue::client::QqError;
use crate::smtpd::auth::Verdict;
use crate::smtpd::command::MAX_LINE;
use crate::smtpd::sample;
use crate::smtpd::session::{Action, Session};

fn session(flags: u8) -> Session {
    sample::session(flags, || 1704423845)
}

/// What a driver observes, with message data joined (its pieces follow
/// the input's).
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    events: Vec<Action>,
    max_footprint: usize,
}

impl Seen {
    fn push(&mut self, a: Action) {
        if let (Action::MessageData(d), Some(Action::MessageData(last))) =
            (&a, self.events.last_mut())
        {
            last.extend_from_slice(d);
            return;
        }
        self.events.push(a);
    }
}

/// Carries out the actions as a driver would, answering every request at
/// once; `flags` decide the answers.
fn answer(s: &mut Session, actions: Vec<Action>, flags: u8, seen: &mut Seen) {
    let mut queue: std::collections::VecDeque<Action> = actions.into();
    while let Some(a) = queue.pop_front() {
        let more = match &a {
            Action::StartMessage => s.message_started(if flags & 16 != 0 {
                Err(QqError {
                    permanent: false,
                    text: "qq".into(),
                })
            } else {
                Ok(())
            }),
            Action::EndMessage(_) => s.message_done(Ok(7)),
            Action::StartTls => s.tls_started(flags & 32 == 0),
            Action::CheckPassword { .. } => s.auth_done(
                if flags & 64 != 0 {
                    Verdict::Accepted
                } else {
                    Verdict::Rejected
                },
                b"joe".to_vec(),
            ),
            _ => Vec::new(),
        };
        seen.push(a);
        for m in more.into_iter().rev() {
            queue.push_front(m);
        }
    }
}

fn run(flags: u8, input: &[u8], cuts: &[usize]) -> Seen {
    let mut s = session(flags);
    let mut seen = Seen::default();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    points.push(input.len());
    for end in points {
        let actions = s.feed(&input[start..end]);
        answer(&mut s, actions, flags, &mut seen);
        start = end;
        seen.max_footprint = seen.max_footprint.max(s.footprint());
        // Recipients may grow with input (as qmail's); nothing else may.
        assert!(
            s.footprint() <= 3 * MAX_LINE + 8 * end,
            "footprint {} after {end} bytes",
            s.footprint()
        );
    }
    let actions = s.eof();
    answer(&mut s, actions, flags, &mut seen);
    seen
}

/// Pieces of SMTP, to reach deep states more often than random bytes.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"EHLO c\r\n".to_vec()),
        Just(b"HELO c\r\n".to_vec()),
        Just(b"MAIL FROM:<a@b> SIZE=100\r\n".to_vec()),
        Just(b"MAIL FROM:<bad@x.example>\r\n".to_vec()),
        Just(b"RCPT TO:<u@example.com>\r\n".to_vec()),
        Just(b"RCPT TO:<u@elsewhere.example>\r\n".to_vec()),
        Just(b"DATA\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b"AUTH PLAIN AGpvZQBwdw==\r\n".to_vec()),
        Just(b"AUTH LOGIN\r\n".to_vec()),
        Just(b"am9l\r\n".to_vec()),
        Just(b"Received: x\r\n".to_vec()),
        Just(b".\r\n".to_vec()),
        Just(b"\r\n.\r\n".to_vec()),
        Just(b"\n.\n".to_vec()),
        Just(b"\r.\r".to_vec()),
        Just(b"RSET\r\n".to_vec()),
        Just(b"QUIT\r\n".to_vec()),
        Just(vec![b'\r']),
        Just(vec![b'\n']),
        Just(vec![0u8]),
        Just(vec![0xff, 0x80]),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_replies_and_messages(
        flags in any::<u8>(),
        input in input(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let flags = flags & 127;
        let whole = run(flags, &input, &[]);
        let split = run(flags, &input, &cuts);
        prop_assert_eq!(whole.events, split.events);
    }

    #[test]
    fn random_bytes_never_panic(
        flags in any::<u8>(),
        input in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        run(flags, &input, &cuts);
    }
}

#[test]
fn a_huge_line_in_one_feed_keeps_the_footprint_small() {
    let mut s = session(0);
    let mut big = vec![b'x'; 4 * 1024 * 1024];
    big.push(b'\n');
    let a = s.feed(&big);
    assert!(s.footprint() <= MAX_LINE, "{}", s.footprint());
    assert_eq!(
        a,
        vec![
            Action::Reply(b"502 unimplemented (#5.5.1)\r\n".to_vec()),
            Action::Flush
        ]
    );
}
