//! The Received line a network front door writes at the top of the
//! message: qmail's `received.c` (spec §7.7). qmail-qmtpd and qmail-qmqpd
//! use the same routine with another protocol name and no HELO.
//!
//! ```text
//! Received: from <remotehost> (HELO <helo>) (<remoteinfo>@<remoteip>)
//!   by <localhost> with <protocol>; <date>
//! ```

/// What the line says about the connection. Every part is sanitised.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedFrom<'a> {
    pub protocol: &'a str,
    pub local: &'a [u8],
    pub remote_ip: &'a [u8],
    pub remote_host: &'a [u8],
    pub remote_info: Option<&'a [u8]>,
    /// The HELO argument, only when it differs from `remote_host`.
    pub helo: Option<&'a [u8]>,
}

/// qmail's `issafe`: letters, digits and `. @ % + / = : -` pass; every
/// other byte (space, brackets, 8-bit, control) shows as `?`.
fn safe(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(s.iter().map(|&c| {
        if c.is_ascii_alphanumeric() || b".@%+/=:-".contains(&c) {
            c
        } else {
            b'?'
        }
    }));
}

/// The two lines, each ending in LF, dated `when` (seconds, UTC).
pub fn received(r: &ReceivedFrom<'_>, when: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"Received: from ");
    safe(&mut out, r.remote_host);
    if let Some(h) = r.helo {
        out.extend_from_slice(b" (HELO ");
        safe(&mut out, h);
        out.push(b')');
    }
    out.extend_from_slice(b" (");
    if let Some(info) = r.remote_info {
        safe(&mut out, info);
        out.push(b'@');
    }
    safe(&mut out, r.remote_ip);
    out.extend_from_slice(b")\n  by ");
    safe(&mut out, r.local);
    out.extend_from_slice(b" with ");
    out.extend_from_slice(r.protocol.as_bytes());
    out.extend_from_slice(b"; ");
    out.extend_from_slice(crate::date::rfc822(when).as_bytes());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1704423845; // 5 Jan 2024 03:04:05 UTC

    fn line(helo: Option<&[u8]>, info: Option<&[u8]>) -> String {
        let r = ReceivedFrom {
            protocol: "SMTP",
            local: b"mx.example.com",
            remote_ip: b"192.0.2.7",
            remote_host: b"unknown",
            remote_info: info,
            helo,
        };
        String::from_utf8(received(&r, T)).unwrap()
    }

    #[test]
    fn appendix_b_line() {
        assert_eq!(
            line(Some(b"client.example"), None),
            "Received: from unknown (HELO client.example) (192.0.2.7)\n  \
             by mx.example.com with SMTP; 5 Jan 2024 03:04:05 -0000\n"
        );
    }

    #[test]
    fn no_helo_and_remoteinfo() {
        assert_eq!(
            line(None, Some(b"joe")),
            "Received: from unknown (joe@192.0.2.7)\n  \
             by mx.example.com with SMTP; 5 Jan 2024 03:04:05 -0000\n"
        );
    }

    #[test]
    fn unsafe_bytes_become_question_marks() {
        assert!(line(Some(b"[1.2.3.4]"), None).contains("(HELO ?1.2.3.4?)"));
        assert!(line(Some(b"a b\xff_"), None).contains("(HELO a?b??)"));
        assert!(line(Some(b""), None).contains("(HELO )"));
    }
}
