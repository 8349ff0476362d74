//! What a snapshot bucket's name says: `<source-bucket>-<dd-mmm-yyyy>` (create-bucket's naming,
//! with the configured bucket prefix, if any, at the front).

use kit::Day;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The part before the date and the date, or `None` when the name does not end in one.
pub fn split_snapshot_name(bucket: &str) -> Option<(&str, Day)> {
    // "-dd-mmm-yyyy" is 12 bytes.
    let cut = bucket.len().checked_sub(12)?;
    let (head, tail) = (bucket.get(..cut)?, bucket.get(cut..)?);
    let tail = tail.strip_prefix('-')?;
    let mut parts = tail.split('-');
    let (dd, mmm, yyyy) = (parts.next()?, parts.next()?, parts.next()?);
    if dd.len() != 2 || yyyy.len() != 4 || head.is_empty() {
        return None;
    }
    let day: u8 = dd.parse().ok()?;
    let year: i32 = yyyy.parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == mmm)?;
    let month = time::Month::try_from(u8::try_from(month + 1).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some((head, Day(date)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_name_gives_its_source_and_day() {
        let (src, day) = split_snapshot_name("lake-prod-31-mar-2021").unwrap();
        assert_eq!((src, day.to_string().as_str()), ("lake-prod", "2021-03-31"));
        let (src, _) = split_snapshot_name("bk-lake-prod-01-jan-2024").unwrap();
        assert_eq!(src, "bk-lake-prod");
    }

    #[test]
    fn other_names_give_nothing() {
        for n in [
            "lake-prod",
            "lake-prod-31-foo-2021",
            "lake-prod-32-mar-2021",
            "-31-mar-2021",
            "x-1-mar-2021",
            "lake-prod-29-feb-2021",
        ] {
            assert!(split_snapshot_name(n).is_none(), "{n}");
        }
    }
}
