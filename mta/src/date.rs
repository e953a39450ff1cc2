//! The three date formats qmail writes.
//!
//! Written by hand because they must be byte-exact with qmail's
//! `date822fmt.c` and `myctime.c`; chrono supplies the calendar.

use chrono::{DateTime, Datelike, Timelike, Utc};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

fn utc(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// `D Mon YYYY HH:MM:SS -0000` — day not zero-padded (qmail's date822fmt).
pub fn rfc822(secs: i64) -> String {
    let t = utc(secs);
    format!(
        "{} {} {} {:02}:{:02}:{:02} -0000",
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `Www Mmm DD HH:MM:SS YYYY` — the UFLINE date (qmail's myctime), UTC,
/// day zero-padded.
pub fn ctime(secs: i64) -> String {
    let t = utc(secs);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {}",
        DAYS[t.weekday().num_days_from_sunday() as usize],
        MONTHS[t.month0() as usize],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// `D Mon YYYY HH:MM:SS GMT` — qmail-qread's date.
pub fn qread(secs: i64) -> String {
    let s = rfc822(secs);
    format!("{}GMT", &s[..s.len() - 5])
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_qmail() {
        // 5 Jan 2024 03:04:05 UTC
        let t = 1704423845;
        assert_eq!(rfc822(t), "5 Jan 2024 03:04:05 -0000");
        assert_eq!(ctime(t), "Fri Jan 05 03:04:05 2024");
        assert_eq!(qread(t), "5 Jan 2024 03:04:05 GMT");
    }
}
