//! The snapshot retention policy: which daily snapshots a keep policy keeps.
//!
//! The semantics are restic's `restic forget --keep-daily/--keep-weekly/--keep-monthly/--keep-yearly`
//! (restic's `ApplyPolicy`, `internal/data/snapshot_policy.go`, restic ≥ 0.16), applied to one
//! snapshot per backup date:
//!
//! - the snapshots are taken newest first;
//! - each rule with a count `n > 0` keeps a snapshot when the snapshot's bucket (its day; its ISO
//!   8601 week-year and week, Monday to Sunday; its year and month; its year) differs from the
//!   bucket of the last snapshot kept *by that rule*, while the rule has kept fewer than `n`. A
//!   rule therefore counts only buckets in which it kept a snapshot, and keeps the newest snapshot
//!   of each;
//! - the oldest snapshot is kept as well by every rule that still has a count left when it comes
//!   to it, even in a bucket that rule already has ("oldest weekly snapshot"): restic does this
//!   since 0.16 so that a young history is not cut shorter than the policy allows;
//! - a snapshot may be kept by several rules; it is kept when at least one rule keeps it.
//!
//! lakevault's one difference: only **good** snapshots take part (see
//! [`crate::catalog::is_good`]). A failed or incomplete snapshot is never kept by a rule, never
//! counts toward one, and never takes a bucket from a good snapshot: the rules see the list with
//! it left out (the "oldest" snapshot is the oldest good one).
//!
//! Everything here is pure and synchronous: prune-snapshots and `lakevault forget` decide with
//! the same function what they then do or print.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::Day;

/// The largest count a rule accepts: 10,000 days is over 27 years, 10,000 years far more than
/// any bucket will live. A bigger number is more likely a typo than a wish.
pub const MAX_KEEP: u32 = 10_000;

/// How many snapshots each rule keeps: `keep_daily`, `keep_weekly`, `keep_monthly`,
/// `keep_yearly` on the wire (restic's `--keep-*`), each `0` (the rule is off) when not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct KeepPolicy {
    /// For the last `n` days with a good snapshot, keep that day's snapshot.
    #[serde(rename = "keep_daily")]
    #[schemars(range(max = 10_000))]
    pub daily: u32,
    /// For the last `n` ISO weeks (Monday to Sunday) with a good snapshot, keep the newest of each.
    #[serde(rename = "keep_weekly")]
    #[schemars(range(max = 10_000))]
    pub weekly: u32,
    /// For the last `n` months with a good snapshot, keep the newest of each.
    #[serde(rename = "keep_monthly")]
    #[schemars(range(max = 10_000))]
    pub monthly: u32,
    /// For the last `n` years with a good snapshot, keep the newest of each.
    #[serde(rename = "keep_yearly")]
    #[schemars(range(max = 10_000))]
    pub yearly: u32,
}

impl KeepPolicy {
    /// No rule is on: such a policy would keep nothing.
    pub fn is_empty(&self) -> bool {
        KeepClass::ALL.iter().all(|c| self.count(*c) == 0)
    }

    /// The count of one rule.
    pub fn count(&self, class: KeepClass) -> u32 {
        match class {
            KeepClass::Daily => self.daily,
            KeepClass::Weekly => self.weekly,
            KeepClass::Monthly => self.monthly,
            KeepClass::Yearly => self.yearly,
        }
    }

    /// Refuses a policy that keeps nothing (as restic refuses to forget with no policy: deleting
    /// every snapshot is never what an empty setting means) and counts above [`MAX_KEEP`].
    pub fn validate(&self) -> Result<(), RetentionError> {
        if self.is_empty() {
            return Err(RetentionError::EmptyPolicy);
        }
        for class in KeepClass::ALL {
            let value = self.count(class);
            if value > MAX_KEEP {
                return Err(RetentionError::TooLarge { class, value });
            }
        }
        Ok(())
    }
}

/// One rule of a [`KeepPolicy`]; `daily`, `weekly`, `monthly`, `yearly` on the wire (as in
/// [`crate::catalog::ProtectionRecord::keep_class`]). Ordered from the shortest bucket up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeepClass {
    /// One bucket per calendar day.
    Daily,
    /// One bucket per ISO 8601 week (week-year and week number, Monday to Sunday).
    Weekly,
    /// One bucket per calendar month.
    Monthly,
    /// One bucket per calendar year.
    Yearly,
}

impl KeepClass {
    /// Every class, in the order the rules are applied and reasons are written.
    pub const ALL: [KeepClass; 4] = [
        KeepClass::Daily,
        KeepClass::Weekly,
        KeepClass::Monthly,
        KeepClass::Yearly,
    ];

    /// The wire name: `daily`, `weekly`, `monthly`, `yearly`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeepClass::Daily => "daily",
            KeepClass::Weekly => "weekly",
            KeepClass::Monthly => "monthly",
            KeepClass::Yearly => "yearly",
        }
    }

    /// The bucket of a date, as a number that differs exactly when the buckets differ.
    fn bucket(self, day: Day) -> i64 {
        let d = day.0;
        match self {
            KeepClass::Daily => i64::from(d.to_julian_day()),
            KeepClass::Weekly => {
                let (year, week, _) = d.to_iso_week_date();
                i64::from(year) * 100 + i64::from(week)
            }
            KeepClass::Monthly => i64::from(d.year()) * 100 + i64::from(u8::from(d.month())),
            KeepClass::Yearly => i64::from(d.year()),
        }
    }
}

impl std::fmt::Display for KeepClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One snapshot the policy is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Candidate {
    /// Its backup date.
    pub date: Day,
    /// Whether it is good ([`crate::catalog::is_good`]); only good snapshots take part.
    pub good: bool,
}

/// What the policy decided for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// Its backup date.
    pub date: Day,
    /// Whether it was good.
    pub good: bool,
    /// The rules that keep it, sorted; empty when the policy does not keep it.
    pub kept_by: Vec<KeepClass>,
    /// Why, as restic words it: `daily snapshot`, `daily snapshot, monthly snapshot`,
    /// `oldest weekly snapshot`; `not good (counts toward no rule)` or `not kept by the policy`.
    pub reason: String,
}

impl Decision {
    /// At least one rule keeps it.
    pub fn is_kept(&self) -> bool {
        !self.kept_by.is_empty()
    }
}

/// Why a policy could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    /// Every count is zero: the policy would keep nothing, so it is refused rather than applied.
    #[error(
        "the keep policy keeps nothing: give at least one of keep_daily, keep_weekly, keep_monthly, keep_yearly"
    )]
    EmptyPolicy,
    /// A count is above [`MAX_KEEP`].
    #[error("keep_{class} is {value}, more than the {MAX_KEEP} a rule may keep")]
    TooLarge {
        /// The rule.
        class: KeepClass,
        /// Its count.
        value: u32,
    },
    /// Two snapshots have the same backup date (there is one snapshot per date).
    #[error("two snapshots have the backup date {0}")]
    DuplicateDate(Day),
}

/// Applies `policy` to `snapshots` (in any order): one [`Decision`] per snapshot, newest first.
///
/// Fails when the policy is invalid ([`KeepPolicy::validate`]) or a date is given twice.
pub fn decide(
    policy: &KeepPolicy,
    snapshots: &[Candidate],
) -> Result<Vec<Decision>, RetentionError> {
    policy.validate()?;
    let mut sorted = snapshots.to_vec();
    sorted.sort_by_key(|c| std::cmp::Reverse(c.date));
    if let Some(w) = sorted.windows(2).find(|w| w[0].date == w[1].date) {
        return Err(RetentionError::DuplicateDate(w[0].date));
    }
    let oldest_good = sorted.iter().rposition(|c| c.good);

    struct Rule {
        class: KeepClass,
        left: u32,
        last: Option<i64>,
    }
    let mut rules: Vec<Rule> = KeepClass::ALL
        .iter()
        .filter(|c| policy.count(**c) > 0)
        .map(|&class| Rule {
            class,
            left: policy.count(class),
            last: None,
        })
        .collect();

    let mut out = Vec::with_capacity(sorted.len());
    for (i, c) in sorted.iter().enumerate() {
        if !c.good {
            out.push(Decision {
                date: c.date,
                good: false,
                kept_by: Vec::new(),
                reason: "not good (counts toward no rule)".to_owned(),
            });
            continue;
        }
        let oldest = oldest_good == Some(i);
        let mut kept_by = Vec::new();
        let mut reasons = Vec::new();
        for rule in rules.iter_mut().filter(|r| r.left > 0) {
            let bucket = rule.class.bucket(c.date);
            let same = rule.last == Some(bucket);
            if !same || oldest {
                rule.last = Some(bucket);
                rule.left -= 1;
                kept_by.push(rule.class);
                reasons.push(if same {
                    format!("oldest {} snapshot", rule.class)
                } else {
                    format!("{} snapshot", rule.class)
                });
            }
        }
        let reason = if reasons.is_empty() {
            "not kept by the policy".to_owned()
        } else {
            reasons.join(", ")
        };
        out.push(Decision {
            date: c.date,
            good: true,
            kept_by,
            reason,
        });
    }
    Ok(out)
}

/// The last day on which `class`'s rule of `policy` can still keep the snapshot of `date`,
/// assuming it is the newest good snapshot of its bucket and every later day has a good
/// snapshot; `None` when the rule is off (count 0).
///
/// A rule keeps a bucket's snapshot while that bucket is among the newest `n` buckets with a good
/// snapshot. With a good snapshot every day the later buckets come as fast as they can, so the
/// bucket is pushed out on the first day of the `n`-th bucket after it, and the last day it is
/// kept is:
///
/// - daily: `date + (n − 1)` days;
/// - weekly: the Sunday ending the ISO week `n − 1` weeks after `date`'s week;
/// - monthly: the last day of the month `n − 1` months after `date`'s month;
/// - yearly: December 31 of the year `n − 1` years after `date`'s year.
///
/// The calendar's last day (9999-12-31) stands for a bound beyond it.
///
/// This is how long Object Lock must protect a snapshot the rule keeps. Missed or bad days only
/// make a bucket live longer (the rule counts only buckets with a good snapshot), and a later
/// evaluation of the policy sees that and extends the protection; a snapshot that is not the
/// newest of its bucket loses it sooner. Restic's "oldest" keep happens only while the rule has
/// kept fewer than `n` buckets, so it stays within this bound too.
pub fn kept_until(policy: &KeepPolicy, date: Day, class: KeepClass) -> Option<Day> {
    let n = i64::from(policy.count(class));
    if n == 0 {
        return None;
    }
    let d = date.0;
    let later = n - 1;
    let end = match class {
        KeepClass::Daily => date.plus_days(later).map(|x| x.0),
        KeepClass::Weekly => {
            let to_sunday = 6 - i64::from(d.weekday().number_days_from_monday());
            date.plus_days(to_sunday + 7 * later).map(|x| x.0)
        }
        KeepClass::Monthly => {
            let months = i64::from(d.year()) * 12 + i64::from(u8::from(d.month())) - 1 + later;
            last_of_month(months.div_euclid(12), months.rem_euclid(12) + 1)
        }
        KeepClass::Yearly => last_of_month(i64::from(d.year()) + later, 12),
    };
    Some(Day(end.unwrap_or(Date::MAX)))
}

/// The last day of the `class` bucket (day, ISO week, month, year) that holds `date`.
pub fn bucket_end(class: KeepClass, date: Day) -> Day {
    let one = KeepPolicy {
        daily: 1,
        weekly: 1,
        monthly: 1,
        yearly: 1,
    };
    // With n = 1, the last day a rule keeps a snapshot is the end of its own bucket.
    kept_until(&one, date, class).unwrap_or(Day(Date::MAX))
}

/// How long a kept snapshot must stay protected, as of `today`: the rule of `kept_by` that keeps
/// it longest and the last day it does ([`kept_until`]) — counting only the rules whose bucket
/// has ended before `today`. Until its day, week, month or year is over, a later snapshot can
/// still become that bucket's keeper; the newest snapshot is, for a day, the keeper of its week,
/// month and year, and locking it for those would lock every day's snapshot for years. Once
/// the bucket is over the keeper is settled, and a daily prune extends its protection while
/// the minimum lock (at least a week: `retention.days`) still holds it. `None`: no settled rule.
pub fn protection_needed(
    policy: &KeepPolicy,
    date: Day,
    kept_by: &[KeepClass],
    today: Day,
) -> Option<(KeepClass, Day)> {
    kept_by
        .iter()
        .filter(|c| bucket_end(**c, date) < today)
        .filter_map(|c| kept_until(policy, date, *c).map(|u| (*c, u)))
        .max_by_key(|(c, u)| (*u, *c))
}

/// The last day of a month (1–12) of a year, `None` past the calendar's range.
fn last_of_month(year: i64, month: i64) -> Option<Date> {
    let year = i32::try_from(year).ok()?;
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, month.length(year)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use KeepClass::{Daily, Monthly, Weekly, Yearly};

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    fn policy(daily: u32, weekly: u32, monthly: u32, yearly: u32) -> KeepPolicy {
        KeepPolicy {
            daily,
            weekly,
            monthly,
            yearly,
        }
    }

    /// One snapshot a day from `from` to `to`, all good.
    fn every_day(from: &str, to: &str) -> Vec<Candidate> {
        let (mut d, to) = (day(from), day(to));
        let mut v = Vec::new();
        while d <= to {
            v.push(Candidate {
                date: d,
                good: true,
            });
            d = d.plus_days(1).unwrap();
        }
        v
    }

    fn good(dates: &[&str]) -> Vec<Candidate> {
        dates
            .iter()
            .map(|s| Candidate {
                date: day(s),
                good: true,
            })
            .collect()
    }

    /// The kept dates, oldest first (easier to read in a table).
    fn kept(p: KeepPolicy, snapshots: &[Candidate]) -> Vec<String> {
        let mut v: Vec<String> = decide(&p, snapshots)
            .unwrap()
            .into_iter()
            .filter(Decision::is_kept)
            .map(|d| d.date.to_string())
            .collect();
        v.reverse();
        v
    }

    fn decision(decisions: &[Decision], date: &str) -> Decision {
        decisions
            .iter()
            .find(|d| d.date == day(date))
            .cloned()
            .unwrap()
    }

    /// restic's docs (060_forget.rst): backups every weekday for two weeks but the second
    /// Wednesday, two on the Fridays; `--keep-daily 5` keeps one a day for the last five days
    /// with a snapshot, reaching back to the first Friday. (One snapshot per date here: restic
    /// keeps the newest of each day anyway.)
    #[test]
    fn restic_docs_keep_daily_5_with_a_missed_day() {
        let snapshots = good(&[
            "2025-04-21",
            "2025-04-22",
            "2025-04-23",
            "2025-04-24",
            "2025-04-25",
            "2025-04-28",
            "2025-04-29",
            "2025-05-01",
            "2025-05-02",
        ]);
        let decisions = decide(&policy(5, 0, 0, 0), &snapshots).unwrap();
        let kept: Vec<String> = decisions
            .iter()
            .filter(|d| d.is_kept())
            .map(|d| d.date.to_string())
            .collect();
        assert_eq!(
            kept,
            [
                "2025-05-02",
                "2025-05-01",
                "2025-04-29",
                "2025-04-28",
                "2025-04-25"
            ]
        );
        assert!(
            decisions
                .iter()
                .filter(|d| d.is_kept())
                .all(|d| d.reason == "daily snapshot" && d.kept_by == [Daily])
        );
        assert_eq!(
            decision(&decisions, "2025-04-24").reason,
            "not kept by the policy"
        );
        assert_eq!(decisions.len(), 9);
    }

    /// restic's docs: "suppose you make one backup every day for 100 years. Then `forget
    /// --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75` would keep the most
    /// recent 7 daily snapshots and 4 last-day-of-the-week ones (since the 7 dailies already
    /// include 1 weekly). Additionally, 12 or 11 last-day-of-the-month snapshots [...]. And
    /// finally 75 or 74 last-day-of-the-year snapshots". Two ends: one where no rule shares a
    /// snapshot with another but through the newest, one where a weekly is a monthly and a
    /// monthly a yearly (and February has 29 days).
    #[test]
    fn restic_docs_hundred_years_of_daily_backups() {
        struct Case {
            end: &'static str,
            weekly: [&'static str; 5],
            monthly: [&'static str; 12],
            total: usize,
            shared: &'static [(&'static str, &'static [KeepClass], &'static str)],
        }
        let cases = [
            Case {
                end: "2024-12-29", // a Sunday
                weekly: [
                    "2024-12-29",
                    "2024-12-22",
                    "2024-12-15",
                    "2024-12-08",
                    "2024-12-01",
                ],
                monthly: [
                    "2024-12-29",
                    "2024-11-30",
                    "2024-10-31",
                    "2024-09-30",
                    "2024-08-31",
                    "2024-07-31",
                    "2024-06-30",
                    "2024-05-31",
                    "2024-04-30",
                    "2024-03-31",
                    "2024-02-29",
                    "2024-01-31",
                ],
                // 7 daily + 4 weekly + 11 monthly + 74 yearly
                total: 96,
                shared: &[(
                    "2024-12-29",
                    &[Daily, Weekly, Monthly, Yearly],
                    "daily snapshot, weekly snapshot, monthly snapshot, yearly snapshot",
                )],
            },
            Case {
                end: "2024-04-07", // a Sunday
                weekly: [
                    "2024-04-07",
                    "2024-03-31",
                    "2024-03-24",
                    "2024-03-17",
                    "2024-03-10",
                ],
                monthly: [
                    "2024-04-07",
                    "2024-03-31",
                    "2024-02-29",
                    "2024-01-31",
                    "2023-12-31",
                    "2023-11-30",
                    "2023-10-31",
                    "2023-09-30",
                    "2023-08-31",
                    "2023-07-31",
                    "2023-06-30",
                    "2023-05-31",
                ],
                // 7 daily + 4 weekly + 10 monthly (one is a weekly) + 73 yearly (one a monthly)
                total: 94,
                shared: &[
                    (
                        "2024-04-07",
                        &[Daily, Weekly, Monthly, Yearly],
                        "daily snapshot, weekly snapshot, monthly snapshot, yearly snapshot",
                    ),
                    (
                        "2024-03-31",
                        &[Weekly, Monthly],
                        "weekly snapshot, monthly snapshot",
                    ),
                    (
                        "2023-12-31",
                        &[Monthly, Yearly],
                        "monthly snapshot, yearly snapshot",
                    ),
                ],
            },
        ];
        for case in cases {
            let end = day(case.end);
            let start =
                Day(Date::from_calendar_date(end.0.year() - 100, Month::January, 1).unwrap());
            let decisions = decide(
                &policy(7, 5, 12, 75),
                &every_day(&start.to_string(), case.end),
            )
            .unwrap();
            let by = |class: KeepClass| -> Vec<Day> {
                decisions
                    .iter()
                    .filter(|d| d.kept_by.contains(&class))
                    .map(|d| d.date)
                    .collect()
            };
            let dailies: Vec<Day> = (0..7).map(|i| end.plus_days(-i).unwrap()).collect();
            assert_eq!(by(Daily), dailies, "{}", case.end);
            assert_eq!(by(Weekly), case.weekly.map(day), "{}", case.end);
            assert_eq!(by(Monthly), case.monthly.map(day), "{}", case.end);
            // The newest, then December 31 of the 74 years before.
            let mut yearlies = vec![end];
            yearlies.extend((1..75).map(|i| {
                Day(Date::from_calendar_date(end.0.year() - i, Month::December, 31).unwrap())
            }));
            assert_eq!(by(Yearly), yearlies, "{}", case.end);
            assert_eq!(
                decisions.iter().filter(|d| d.is_kept()).count(),
                case.total,
                "{}",
                case.end
            );
            for (date, classes, reason) in case.shared {
                let d = decision(&decisions, date);
                assert_eq!(d.kept_by, *classes, "{date}");
                assert_eq!(d.reason, *reason, "{date}");
            }
            // 100 years is more than 75: no rule reaches the oldest snapshot with a count left.
            assert!(!decisions.last().unwrap().is_kept());
        }
    }

    #[test]
    fn table_of_policies_over_dates() {
        struct Case {
            name: &'static str,
            policy: KeepPolicy,
            snapshots: Vec<Candidate>,
            kept: &'static [&'static str],
        }
        let cases = [
            Case {
                name: "months of daily snapshots",
                policy: policy(7, 4, 3, 0),
                snapshots: every_day("2021-01-01", "2021-05-15"),
                kept: &[
                    "2021-03-31",
                    "2021-04-25",
                    "2021-04-30",
                    "2021-05-02",
                    "2021-05-09",
                    "2021-05-10",
                    "2021-05-11",
                    "2021-05-12",
                    "2021-05-13",
                    "2021-05-14",
                    "2021-05-15",
                ],
            },
            Case {
                name: "a missing week is no bucket: weekly reaches one week further",
                policy: policy(0, 3, 0, 0),
                snapshots: good(&[
                    "2021-05-03",
                    "2021-05-05",
                    "2021-05-06",
                    "2021-05-19",
                    "2021-05-26",
                    "2021-05-27",
                ]),
                kept: &["2021-05-06", "2021-05-19", "2021-05-27"],
            },
            Case {
                name: "missing days: daily keeps the last n days that have a snapshot",
                policy: policy(3, 0, 0, 0),
                snapshots: good(&["2021-05-01", "2021-05-02", "2021-05-07", "2021-05-20"]),
                kept: &["2021-05-02", "2021-05-07", "2021-05-20"],
            },
            Case {
                name: "a leap day is the keeper of February",
                policy: policy(0, 0, 2, 0),
                snapshots: every_day("2024-02-01", "2024-03-10"),
                kept: &["2024-02-29", "2024-03-10"],
            },
            Case {
                name: "a non-leap February ends on the 28th",
                policy: policy(0, 0, 2, 0),
                snapshots: every_day("2023-02-01", "2023-03-10"),
                kept: &["2023-02-28", "2023-03-10"],
            },
            Case {
                name: "2020-12-31 and 2021-01-01 are one ISO week (2020-W53)",
                policy: policy(0, 1, 0, 0),
                snapshots: good(&["2020-12-30", "2020-12-31", "2021-01-01"]),
                kept: &["2021-01-01"],
            },
            Case {
                name: "... but two years",
                policy: policy(0, 0, 0, 2),
                snapshots: good(&["2020-12-30", "2020-12-31", "2021-01-01"]),
                kept: &["2020-12-31", "2021-01-01"],
            },
            Case {
                name: "2020-W53 runs to Sunday 2021-01-03; 2020-12-27 is W52",
                policy: policy(0, 2, 0, 0),
                snapshots: every_day("2020-12-21", "2021-01-03"),
                kept: &["2020-12-27", "2021-01-03"],
            },
            Case {
                name: "2024-12-30 is 2025-W01, 2024-12-29 is 2024-W52",
                policy: policy(0, 2, 0, 0),
                snapshots: good(&["2024-12-28", "2024-12-29", "2024-12-30", "2024-12-31"]),
                kept: &["2024-12-29", "2024-12-31"],
            },
            Case {
                name: "too few buckets: the oldest is kept as well (restic ≥ 0.16)",
                policy: policy(0, 5, 0, 0),
                snapshots: every_day("2021-05-03", "2021-05-16"),
                kept: &["2021-05-03", "2021-05-09", "2021-05-16"],
            },
            Case {
                name: "a rule whose count runs out does not keep the oldest",
                policy: policy(0, 2, 0, 0),
                snapshots: every_day("2021-05-03", "2021-05-16"),
                kept: &["2021-05-09", "2021-05-16"],
            },
        ];
        for case in cases {
            assert_eq!(
                kept(case.policy, &case.snapshots),
                case.kept,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn oldest_reasons_name_the_rules_that_had_counts_left() {
        let decisions =
            decide(&policy(3, 5, 12, 0), &every_day("2021-05-03", "2021-05-16")).unwrap();
        let oldest = decision(&decisions, "2021-05-03");
        assert_eq!(oldest.kept_by, [Weekly, Monthly]);
        assert_eq!(
            oldest.reason,
            "oldest weekly snapshot, oldest monthly snapshot"
        );
        // A bucket of its own is no "oldest" keep.
        let decisions = decide(&policy(0, 5, 0, 0), &good(&["2021-05-02", "2021-05-16"])).unwrap();
        assert_eq!(decision(&decisions, "2021-05-02").reason, "weekly snapshot");
    }

    fn with_bad(mut snapshots: Vec<Candidate>, bad: &[&str]) -> Vec<Candidate> {
        for c in &mut snapshots {
            if bad.contains(&c.date.to_string().as_str()) {
                c.good = false;
            }
        }
        snapshots
    }

    #[test]
    fn not_good_snapshots_take_no_part() {
        struct Case {
            name: &'static str,
            policy: KeepPolicy,
            snapshots: Vec<Candidate>,
            kept: &'static [&'static str],
        }
        let cases = [
            Case {
                name: "a failed newest day: daily keeps the newest good ones instead",
                policy: policy(2, 0, 0, 0),
                snapshots: with_bad(every_day("2021-05-10", "2021-05-16"), &["2021-05-16"]),
                kept: &["2021-05-14", "2021-05-15"],
            },
            Case {
                name: "a failed Sunday does not take the week: Saturday keeps it",
                policy: policy(0, 1, 1, 1),
                snapshots: with_bad(every_day("2021-05-10", "2021-05-16"), &["2021-05-16"]),
                kept: &["2021-05-15"],
            },
            Case {
                name: "a week of incomplete snapshots is no bucket: weekly takes the week before",
                policy: policy(0, 2, 0, 0),
                snapshots: with_bad(
                    every_day("2021-05-03", "2021-05-23"),
                    &[
                        "2021-05-10",
                        "2021-05-11",
                        "2021-05-12",
                        "2021-05-13",
                        "2021-05-14",
                        "2021-05-15",
                        "2021-05-16",
                    ],
                ),
                kept: &["2021-05-09", "2021-05-23"],
            },
            Case {
                name: "the oldest keep goes to the oldest good snapshot",
                policy: policy(0, 5, 0, 0),
                snapshots: with_bad(every_day("2021-05-03", "2021-05-09"), &["2021-05-03"]),
                kept: &["2021-05-04", "2021-05-09"],
            },
            Case {
                name: "nothing good: nothing kept",
                policy: policy(7, 5, 12, 75),
                snapshots: with_bad(
                    every_day("2021-05-03", "2021-05-04"),
                    &["2021-05-03", "2021-05-04"],
                ),
                kept: &[],
            },
        ];
        for case in cases {
            assert_eq!(
                kept(case.policy, &case.snapshots),
                case.kept,
                "{}",
                case.name
            );
            for d in decide(&case.policy, &case.snapshots).unwrap() {
                if !d.good {
                    assert!(d.kept_by.is_empty(), "{}: {}", case.name, d.date);
                    assert_eq!(d.reason, "not good (counts toward no rule)");
                }
            }
        }
    }

    #[test]
    fn input_order_does_not_matter_and_output_is_newest_first() {
        let mut snapshots = with_bad(every_day("2021-01-01", "2021-03-31"), &["2021-03-31"]);
        let p = policy(5, 3, 2, 1);
        let expected = decide(&p, &snapshots).unwrap();
        snapshots.reverse();
        snapshots.swap(3, 40);
        assert_eq!(decide(&p, &snapshots).unwrap(), expected);
        assert!(expected.windows(2).all(|w| w[0].date > w[1].date));
        assert_eq!(expected.len(), 90);
        let classes: std::collections::BTreeSet<KeepClass> = expected
            .iter()
            .flat_map(|d| d.kept_by.iter().copied())
            .collect();
        assert_eq!(classes, KeepClass::ALL.into());
        assert_eq!(decide(&p, &[]).unwrap(), []);
    }

    #[test]
    fn errors() {
        let empty = KeepPolicy::default();
        assert!(empty.is_empty());
        assert_eq!(empty.validate(), Err(RetentionError::EmptyPolicy));
        assert_eq!(
            decide(&empty, &good(&["2021-05-01"])),
            Err(RetentionError::EmptyPolicy)
        );
        assert!(
            RetentionError::EmptyPolicy.to_string().contains(
                "give at least one of keep_daily, keep_weekly, keep_monthly, keep_yearly"
            )
        );
        assert_eq!(policy(0, 0, MAX_KEEP, 0).validate(), Ok(()));
        let big = policy(7, 0, 0, MAX_KEEP + 1);
        assert_eq!(
            big.validate(),
            Err(RetentionError::TooLarge {
                class: Yearly,
                value: MAX_KEEP + 1
            })
        );
        assert_eq!(
            big.validate().unwrap_err().to_string(),
            "keep_yearly is 10001, more than the 10000 a rule may keep"
        );
        let mut dup = good(&["2021-05-01", "2021-05-02", "2021-05-03"]);
        dup.push(Candidate {
            date: day("2021-05-02"),
            good: false,
        });
        assert_eq!(
            decide(&policy(1, 0, 0, 0), &dup),
            Err(RetentionError::DuplicateDate(day("2021-05-02")))
        );
    }

    #[test]
    fn wire_form() {
        let p: KeepPolicy = serde_json::from_str(r#"{"keep_daily": 7, "keep_yearly": 3}"#).unwrap();
        assert_eq!(p, policy(7, 0, 0, 3));
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            serde_json::json!({"keep_daily": 7, "keep_weekly": 0, "keep_monthly": 0, "keep_yearly": 3})
        );
        assert_eq!(
            serde_json::from_str::<KeepPolicy>("{}").unwrap(),
            KeepPolicy::default()
        );
        assert!(serde_json::from_str::<KeepPolicy>(r#"{"keep_daily": -1}"#).is_err());
        for c in KeepClass::ALL {
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.as_str())
            );
            assert_eq!(c.to_string(), c.as_str());
        }
        assert!(Daily < Weekly && Weekly < Monthly && Monthly < Yearly);
        let schema = serde_json::to_value(schemars::schema_for!(KeepPolicy)).unwrap();
        assert_eq!(schema["properties"]["keep_weekly"]["maximum"], MAX_KEEP);
        assert_eq!(schema["properties"]["keep_weekly"]["default"], 0);
        let d = &decide(&policy(1, 0, 0, 0), &good(&["2021-05-01"])).unwrap()[0];
        assert_eq!(
            serde_json::to_value(d).unwrap(),
            serde_json::json!({"date": "2021-05-01", "good": true, "kept_by": ["daily"], "reason": "daily snapshot"})
        );
    }

    #[test]
    fn only_settled_buckets_need_protection() {
        let p = policy(7, 5, 12, 3);
        let all = [Daily, Weekly, Monthly, Yearly];
        // The newest snapshot (Wednesday 2021-03-17) keeps every bucket, but only its day is
        // over the next day: its week ends on Sunday 03-21, its month on 03-31.
        let wed = day("2021-03-17");
        assert_eq!(bucket_end(Daily, wed), wed);
        assert_eq!(bucket_end(Weekly, wed), day("2021-03-21"));
        assert_eq!(bucket_end(Monthly, wed), day("2021-03-31"));
        assert_eq!(bucket_end(Yearly, wed), day("2021-12-31"));
        assert_eq!(
            protection_needed(&p, wed, &all, day("2021-03-18")),
            Some((Daily, day("2021-03-23")))
        );
        assert_eq!(
            protection_needed(&p, wed, &[Weekly], day("2021-03-21")),
            None
        );
        assert_eq!(
            protection_needed(&p, wed, &[Weekly], day("2021-03-22")),
            Some((Weekly, day("2021-04-18")))
        );
        // A month's last day: the month is over the next day.
        let end = day("2021-03-31");
        assert_eq!(
            protection_needed(&p, end, &[Daily, Weekly, Monthly], day("2021-04-01")),
            Some((Monthly, day("2022-02-28")))
        );
        // The year is over only in 2022.
        assert_eq!(
            protection_needed(&p, wed, &[Yearly], day("2021-12-31")),
            None
        );
        assert_eq!(
            protection_needed(&p, wed, &[Yearly], day("2022-01-01")),
            Some((Yearly, day("2023-12-31")))
        );
        assert_eq!(Day::of_unix_seconds(1_617_235_199), Some(day("2021-03-31")));
        assert_eq!(Day::of_unix_seconds(1_617_235_200), Some(day("2021-04-01")));
    }

    #[test]
    fn kept_until_per_class() {
        let p = |n| policy(n, n, n, n);
        let cases: &[(&str, u32, KeepClass, &str)] = &[
            ("2021-03-31", 1, Daily, "2021-03-31"),
            ("2021-03-31", 7, Daily, "2021-04-06"),
            ("2024-02-28", 2, Daily, "2024-02-29"),
            ("2023-02-28", 2, Daily, "2023-03-01"),
            ("2021-05-12", 1, Weekly, "2021-05-16"), // a Wednesday: its week ends on Sunday
            ("2021-05-16", 1, Weekly, "2021-05-16"),
            ("2021-05-10", 5, Weekly, "2021-06-13"),
            ("2020-12-31", 1, Weekly, "2021-01-03"), // 2020-W53 ends in 2021
            ("2020-12-31", 2, Weekly, "2021-01-10"),
            ("2024-12-30", 1, Weekly, "2025-01-05"), // 2025-W01
            ("2021-05-12", 1, Monthly, "2021-05-31"),
            ("2021-05-12", 12, Monthly, "2022-04-30"),
            ("2024-01-15", 2, Monthly, "2024-02-29"),
            ("2023-01-15", 2, Monthly, "2023-02-28"),
            ("2021-12-31", 3, Monthly, "2022-02-28"),
            ("2021-05-12", 1, Yearly, "2021-12-31"),
            ("2021-05-12", 75, Yearly, "2095-12-31"),
            ("9999-12-01", 5, Daily, "9999-12-05"),
            ("9999-12-01", 5, Weekly, "9999-12-31"), // beyond the calendar: its last day
            ("9999-12-01", 5, Monthly, "9999-12-31"),
            ("9999-01-01", 2, Yearly, "9999-12-31"),
        ];
        for &(date, n, class, until) in cases {
            assert_eq!(
                kept_until(&p(n), day(date), class),
                Some(day(until)),
                "{date} {class} {n}"
            );
        }
        assert_eq!(
            kept_until(&policy(7, 0, 0, 0), day("2021-05-12"), Weekly),
            None
        );
    }

    /// kept_until agrees with decide: with a good snapshot every day, the newest snapshot of a
    /// bucket is kept by the rule on every evaluation day up to kept_until and on none after.
    #[test]
    fn kept_until_is_when_decide_lets_go() {
        let cases: &[(KeepClass, u32, &str)] = &[
            (Daily, 3, "2020-06-10"),
            (Weekly, 3, "2020-12-06"),  // a Sunday
            (Weekly, 2, "2021-01-03"),  // the Sunday ending 2020-W53
            (Monthly, 3, "2020-02-29"), // the last day of a leap February
            (Yearly, 2, "2020-12-31"),
        ];
        let history = every_day("2019-01-01", "2022-03-31");
        for &(class, n, date) in cases {
            let mut p = KeepPolicy::default();
            match class {
                Daily => p.daily = n,
                Weekly => p.weekly = n,
                Monthly => p.monthly = n,
                Yearly => p.yearly = n,
            }
            let date = day(date);
            let until = kept_until(&p, date, class).unwrap();
            let mut evaluated = date;
            while evaluated <= until.plus_days(10).unwrap() {
                let upto: Vec<Candidate> = history
                    .iter()
                    .copied()
                    .filter(|c| c.date <= evaluated)
                    .collect();
                let d = decision(&decide(&p, &upto).unwrap(), &date.to_string());
                assert_eq!(
                    d.kept_by.contains(&class),
                    evaluated <= until,
                    "{class} {n} {date} evaluated on {evaluated} (until {until})"
                );
                evaluated = evaluated.plus_days(1).unwrap();
            }
        }
    }
}
