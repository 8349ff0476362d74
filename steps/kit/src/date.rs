//! The backup date: a calendar day, `YYYY-MM-DD` on the wire.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;
use time::macros::format_description;

/// A calendar day (UTC) such as `2021-03-31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub Date);

const ISO: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

impl Day {
    /// `31-mar-2021`: the suffix of a snapshot bucket's name.
    pub fn dd_mmm_yyyy(&self) -> String {
        const MONTHS: [&str; 12] = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        let d = self.0;
        format!(
            "{:02}-{}-{:04}",
            d.day(),
            MONTHS[usize::from(u8::from(d.month())) - 1],
            d.year()
        )
    }

    /// The day `n` days later (earlier when negative); `None` past the calendar's range.
    pub fn plus_days(&self, n: i64) -> Option<Day> {
        self.0.checked_add(time::Duration::days(n)).map(Day)
    }

    /// The UTC day of a Unix time (seconds); `None` past the calendar's range.
    pub fn of_unix_seconds(secs: i64) -> Option<Day> {
        // 1970-01-01 is Julian day 2,440,588.
        let julian = i32::try_from(secs.div_euclid(86_400) + 2_440_588).ok()?;
        Date::from_julian_day(julian).ok().map(Day)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The format has only numeric components, so formatting cannot fail for a valid Date.
        match self.0.format(ISO) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

/// Why a string is not a day.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not a date in YYYY-MM-DD form")]
pub struct ParseDayError(String);

impl FromStr for Day {
    type Err = ParseDayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 10 {
            return Err(ParseDayError(s.to_owned()));
        }
        Date::parse(s, ISO)
            .map(Day)
            .map_err(|_| ParseDayError(s.to_owned()))
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Day {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Day".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "A calendar day (UTC), YYYY-MM-DD."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bucket_suffix() {
        let d: Day = "2021-03-31".parse().unwrap();
        assert_eq!(d.to_string(), "2021-03-31");
        assert_eq!(d.dd_mmm_yyyy(), "31-mar-2021");
        assert_eq!(d.plus_days(2).unwrap().to_string(), "2021-04-02");
        let j: Day = serde_json::from_str("\"2020-02-29\"").unwrap();
        assert_eq!(j.dd_mmm_yyyy(), "29-feb-2020");
    }

    #[test]
    fn rejects_non_dates() {
        for bad in [
            "2021-02-30",
            "2021-3-31",
            "31-03-2021",
            "",
            "2021-03-31T00:00:00Z",
        ] {
            assert!(bad.parse::<Day>().is_err(), "{bad}");
        }
    }
}
