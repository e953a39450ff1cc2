//! qmail-send's activity log (spec §3.10), byte for byte.
//!
//! Every line ends in `\n`. Recipient, sender and report texts pass
//! through [`safe`]: `\n` → `/`, `%` and any byte outside 33..=126 → `_`.
//! Hand-written because the format is qmail's own.

use std::io::Write;

/// qmail's log filter for variable text.
pub fn safe(text: &[u8]) -> String {
    text.iter()
        .map(|&c| match c {
            b'\n' => '/',
            b'%' => '_',
            33..=126 => c as char,
            _ => '_',
        })
        .collect()
}

/// The log sink: qmail-send's fd 0 (or whatever the supervisor wired).
pub struct Log {
    out: Box<dyn Write + Send>,
}

impl Log {
    pub fn new(out: Box<dyn Write + Send>) -> Log {
        Log { out }
    }

    /// Writes one line. Logging must never stop the queue, so write errors
    /// are ignored, as qmail ignores them.
    pub fn line(&mut self, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(b'\n');
        let _ = self.out.write_all(&v);
        let _ = self.out.flush();
    }

    pub fn status(&mut self, lu: u32, ll: u32, ru: u32, rl: u32, exitasap: bool) {
        let tail = if exitasap { " exitasap" } else { "" };
        self.line(&format!("status: local {lu}/{ll} remote {ru}/{rl}{tail}"));
    }
    pub fn new_msg(&mut self, id: u64) {
        self.line(&format!("new msg {id}"));
    }
    pub fn info_msg(&mut self, id: u64, bytes: u64, sender: &[u8], qp: &[u8], uid: &[u8]) {
        self.line(&format!(
            "info msg {id}: bytes {bytes} from <{}> qp {} uid {}",
            safe(sender),
            safe(qp),
            safe(uid)
        ));
    }
    pub fn starting(&mut self, d: u64, id: u64, remote: bool, recip: &[u8]) {
        let ch = if remote { "remote" } else { "local" };
        self.line(&format!(
            "starting delivery {d}: msg {id} to {ch} {}",
            safe(recip)
        ));
    }
    pub fn result(&mut self, d: u64, kind: &str, text: &[u8]) {
        self.line(&format!("delivery {d}: {kind}: {}", safe(text)));
    }
    pub fn mangled(&mut self, d: u64) {
        self.line(&format!("delivery {d}: report mangled, will defer"));
    }
    pub fn bounce_msg(&mut self, id: u64, qp: u32) {
        self.line(&format!("bounce msg {id} qp {qp}"));
    }
    pub fn triple(&mut self, id: u64) {
        self.line(&format!("triple bounce: discarding bounce/{id}"));
    }
    pub fn end_msg(&mut self, id: u64) {
        self.line(&format!("end msg {id}"));
    }
    pub fn warning(&mut self, s: &str) {
        self.line(&format!("warning: {s}"));
    }
    pub fn alert(&mut self, s: &str) {
        self.line(&format!("alert: {s}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_match_qmail() {
        let b = Buf::default();
        let mut l = Log::new(Box::new(b.clone()));
        l.info_msg(457, 312, b"a%b@c", b"4321", b"1000");
        l.starting(1, 457, false, b"bob@example.com");
        l.status(1, 10, 0, 20, false);
        l.result(1, "success", b"did 1+0+0\n");
        l.status(0, 10, 0, 20, true);
        let got = String::from_utf8(b.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            got,
            "info msg 457: bytes 312 from <a_b@c> qp 4321 uid 1000\n\
             starting delivery 1: msg 457 to local bob@example.com\n\
             status: local 1/10 remote 0/20\n\
             delivery 1: success: did_1+0+0/\n\
             status: local 0/10 remote 0/20 exitasap\n"
        );
    }
}
