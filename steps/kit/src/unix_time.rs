//! Instants as whole seconds since the Unix epoch (UTC), as the catalog's `retain_until` dates
//! and the retention decisions use them: parsed from and written as RFC 3339, and the days they
//! fall on. One place, so that prune-snapshots and `lakevault forget` judge a lock the same way.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use crate::Day;

/// Seconds since 1970-01-01T00:00:00Z.
pub type Secs = i64;

/// Parses an RFC 3339 date-time (`2021-04-30T01:12:09Z`, an offset allowed).
pub fn parse_rfc3339(s: &str) -> Option<Secs> {
    DateTime::from_str(s, Format::DateTimeWithOffset)
        .ok()
        .map(|t| t.secs())
}

/// `secs` as RFC 3339 in UTC, whole seconds.
pub fn rfc3339(secs: Secs) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// The first second of `day` (UTC).
pub fn start_of(day: Day) -> Secs {
    // 1970-01-01 is Julian day 2,440,588.
    (i64::from(day.0.to_julian_day()) - 2_440_588) * 86_400
}

/// The day (UTC) `secs` falls on; `None` past the calendar's range.
pub fn day_of(secs: Secs) -> Option<Day> {
    Day::of_unix_seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_rfc3339("2021-04-30T01:12:09Z").unwrap();
        assert_eq!(rfc3339(t), "2021-04-30T01:12:09Z");
        assert_eq!(parse_rfc3339("2021-04-30T03:12:09+02:00"), Some(t));
        let d: Day = "2021-04-30".parse().unwrap();
        assert_eq!(day_of(t), Some(d));
        assert_eq!(day_of(start_of(d)), Some(d));
        assert_eq!(day_of(start_of(d) - 1).unwrap().to_string(), "2021-04-29");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
