//! The `Date:` and `Message-ID:` fields qmail-inject adds (qmail's
//! `newfield.c`, spec §8.4): UTC, the time qmail-inject started.
//!
//! ```text
//! Date: 5 Jan 2024 03:04:05 -0000
//! Message-ID: <20240105030405.12345.qmail@host.example>
//! ```

use chrono::{DateTime, Datelike, Timelike, Utc};

/// `Date: D Mon YYYY HH:MM:SS -0000\n`.
pub fn date(now: i64) -> Vec<u8> {
    format!("Date: {}\n", crate::date::rfc822(now)).into_bytes()
}

/// `Message-ID: <YYYYMMDDHHMMSS.pid.qmail@idhost>\n`; the year is not
/// padded, the other parts are two digits.
pub fn message_id(now: i64, pid: u32, idhost: &[u8]) -> Vec<u8> {
    let t: DateTime<Utc> = DateTime::from_timestamp(now, 0).unwrap_or_default();
    let mut v = format!(
        "Message-ID: <{}{:02}{:02}{:02}{:02}{:02}.{pid}.qmail@",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
    .into_bytes();
    v.extend_from_slice(idhost);
    v.extend_from_slice(b">\n");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_qmail() {
        let t = 1704423845; // 5 Jan 2024 03:04:05 UTC
        assert_eq!(date(t), b"Date: 5 Jan 2024 03:04:05 -0000\n");
        assert_eq!(
            message_id(t, 12345, b"host.example"),
            b"Message-ID: <20240105030405.12345.qmail@host.example>\n"
        );
    }
}
