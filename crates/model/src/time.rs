//! UTC timestamps as ARM writes them, without a calendar library.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC civil date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl Utc {
    /// The time `seconds` (and `micros`) after the Unix epoch.
    pub fn from_unix(seconds: i64, micros: u32) -> Utc {
        let days = seconds.div_euclid(86_400);
        let rest = seconds.rem_euclid(86_400);
        // Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (rest / 3600) as u32,
            minute: (rest % 3600 / 60) as u32,
            second: (rest % 60) as u32,
            micros,
        }
    }

    pub fn from_system(t: SystemTime) -> Utc {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Utc::from_unix(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2), d.subsec_micros()),
            Err(e) => Utc::from_unix(-i64::try_from(e.duration().as_secs()).unwrap_or(0), 0),
        }
    }

    /// `2026-11-21T17:37:01.123456Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.micros
        )
    }

    /// `11/21/2026 5:37:01 PM`: how ARM's token errors write times.
    pub fn us_clock(&self) -> String {
        let (hour, half) = match self.hour {
            0 => (12, "AM"),
            h @ 1..=11 => (h, "AM"),
            12 => (12, "PM"),
            h => (h - 12, "PM"),
        };
        format!("{}/{}/{} {}:{:02}:{:02} {half}", self.month, self.day, self.year, hour, self.minute, self.second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(Utc::from_unix(0, 0).rfc3339(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Utc::from_unix(951_782_400, 5).rfc3339(), "2000-02-29T00:00:00.000005Z");
        let t = Utc::from_unix(1_795_282_621, 0);
        assert_eq!(t.rfc3339(), "2026-11-21T17:37:01.000000Z");
        assert_eq!(t.us_clock(), "11/21/2026 5:37:01 PM");
        assert_eq!(Utc::from_unix(1_795_219_200, 0).us_clock(), "11/21/2026 12:00:00 AM");
        assert_eq!(Utc::from_unix(-86_400, 0).rfc3339(), "1969-12-31T00:00:00.000000Z");
    }
}
