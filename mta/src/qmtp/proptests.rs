//! Property tests of the netstring, QMTP and QMQP decoders: arbitrary
//! bytes in arbitrary pieces never panic and never make a connection hold
//! more than a bounded amount; well-formed packages decode the same
//! however they are split. (`fuzz/` runs the same decoders under
//! libFuzzer.)

use std::sync::Arc;

use proptest::prelude::*;

use super::netstring::{encode, encode_into, Decoder, Event};
use super::qmqpd::Qmqpd;
use super::qmtpd::{Qmtpd, QmtpdControls};
use super::testing::{origin, MemQueue};
use super::{Progress, Server};
use crate::smtpd::relay::RcptHosts;

/// Two address buffers of qmail's size, plus slack for vector headers.
const FIXED: usize = 2 * 1000 + 64;

fn qmtpd() -> Qmtpd {
    let c = QmtpdControls {
        rcpthosts: RcptHosts::from_lines(Some(&["example.com"])),
        databytes: 0,
    };
    Qmtpd::new(Arc::new(c), origin())
}

/// Splits `data` at the given cut points.
fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(data.len());
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        out.push(&data[at..c]);
        at = c;
    }
    out
}

/// Feeds the pieces until an error or the end of the conversation;
/// checks after every piece that the footprint stays within `FIXED +
/// base + per_byte * (bytes fed)`. Returns the answers and the queue.
fn feed_all<S: Server>(
    s: &mut S,
    footprint: impl Fn(&S) -> usize,
    (base, per_byte): (usize, usize),
    parts: &[&[u8]],
) -> (Result<Progress, super::ServerError>, Vec<u8>, MemQueue) {
    let mut q = MemQueue::default();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut r = Ok(Progress::More);
    for p in parts {
        fed += p.len();
        r = s.feed(p, &mut q, &mut out);
        let held = footprint(s);
        assert!(
            held <= FIXED + base + per_byte * fed,
            "holds {held} bytes after {fed}"
        );
        if !matches!(r, Ok(Progress::More)) {
            break;
        }
    }
    (r, out, q)
}

proptest! {
    #[test]
    fn netstring_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512),
                                      cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut d = Decoder::new();
        'outer: for p in pieces(&data, &cuts) {
            let mut rest = p;
            while !rest.is_empty() {
                match d.next(rest) {
                    Ok((n, ev)) => {
                        prop_assert!(n <= rest.len());
                        prop_assert!(n > 0, "no progress");
                        if let Some(Event::Data(b)) = ev {
                            prop_assert!(!b.is_empty() && b.len() <= n);
                        }
                        rest = &rest[n..];
                    }
                    Err(_) => break 'outer,
                }
            }
        }
    }

    #[test]
    fn qmtpd_survives_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048),
                                      cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut s = qmtpd();
        // Beyond two addresses, only what the input itself listed
        // (accepted recipients, one status each) may be held.
        let (r, _, _) = feed_all(&mut s, Qmtpd::footprint, (0, 40), &pieces(&data, &cuts));
        if let Err(e) = r {
            prop_assert!(matches!(e.exit_code(), 100 | 111), "{e}");
        }
    }

    #[test]
    fn qmqpd_survives_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048),
                                      cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut s = Qmqpd::new(origin());
        let (r, _, _) = feed_all(&mut s, Qmqpd::footprint, (0, 40), &pieces(&data, &cuts));
        if let Err(e) = r {
            prop_assert!(matches!(e.exit_code(), 100 | 111), "{e}");
        }
    }
}

proptest! {
    // Large inputs: fewer cases keep the debug test run short.
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A well-formed QMTP package: the message is streamed (the footprint
    /// does not grow with it) and comes out the same however it is split.
    #[test]
    fn qmtp_packages_decode_alike_in_any_pieces(
        body in proptest::collection::vec(any::<u8>(), 0..6000),
        dos in any::<bool>(),
        sender in proptest::collection::vec(any::<u8>(), 0..40),
        rcpts in proptest::collection::vec("[a-z]{1,8}@(example\\.com|other\\.org)", 0..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut message = vec![if dos { b'\r' } else { b'\n' }];
        message.extend_from_slice(&body);
        let mut list = Vec::new();
        for r in &rcpts {
            encode_into(&mut list, r.as_bytes());
        }
        let pkg = [encode(&message), encode(&sender), encode(&list)].concat();
        // The message is never held: only the addresses count.
        let bound = (40 * (sender.len() + list.len()), 0);
        let whole = feed_all(&mut qmtpd(), Qmtpd::footprint, bound, &[&pkg]);
        let split = feed_all(&mut qmtpd(), Qmtpd::footprint, bound, &pieces(&pkg, &cuts));
        prop_assert!(whole.0.is_ok() && split.0.is_ok());
        prop_assert_eq!(&whole.1, &split.1);
        prop_assert_eq!(&whole.2.queued, &split.2.queued);
        // One answer per recipient.
        let answers = whole.1.iter().filter(|&&b| b == b',').count();
        prop_assert!(answers >= rcpts.len());
        if !dos && !sender.contains(&0) && rcpts.iter().any(|r| r.ends_with("example.com")) {
            prop_assert!(whole.2.queued[0].0.ends_with(&body));
        }
    }

    #[test]
    fn qmqp_packages_decode_alike_in_any_pieces(
        body in proptest::collection::vec(any::<u8>(), 0..6000),
        addrs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut inner = encode(&body);
        for a in &addrs {
            encode_into(&mut inner, a);
        }
        let pkg = encode(&inner);
        let bound = (40 * (inner.len() - body.len()), 0);
        let whole = feed_all(&mut Qmqpd::new(origin()), Qmqpd::footprint, bound, &[&pkg]);
        let split = feed_all(&mut Qmqpd::new(origin()), Qmqpd::footprint, bound, &pieces(&pkg, &cuts));
        prop_assert!(matches!(whole.0, Ok(Progress::Done)));
        prop_assert!(matches!(split.0, Ok(Progress::Done)));
        prop_assert_eq!(&whole.1, &split.1);
        prop_assert_eq!(&whole.2.queued, &split.2.queued);
        if !addrs.iter().any(|a| a.contains(&0)) {
            prop_assert!(whole.2.queued[0].0.ends_with(&body));
        }
    }
}
