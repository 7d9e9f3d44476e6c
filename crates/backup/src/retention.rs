//! Retention policies: which snapshots to keep, by count, by age and by calendar
//! bucket (the newest snapshot of each of the last N hours, days, ISO weeks and
//! months), as backup tools commonly define them.
//!
//! Invariants: a snapshot is kept when any rule keeps it; ages are measured from
//! the newest snapshot, not from now, so backups that stop running never let the
//! policy remove the last good copies; calendar buckets are taken in a given time
//! zone; an empty policy keeps everything.

use std::collections::HashSet;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Which snapshots to keep.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The newest N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<usize>,
    /// Every snapshot taken within this many milliseconds of the newest one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_within_ms: Option<i64>,
    /// The newest snapshot of each of the last N hours that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<usize>,
    /// The newest snapshot of each of the last N days that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<usize>,
    /// The newest snapshot of each of the last N ISO weeks that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<usize>,
    /// The newest snapshot of each of the last N months that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<usize>,
}

/// The calendar bucket of a time, for one rule.
#[derive(Clone, Copy)]
enum Bucket {
    Hour,
    Day,
    Week,
    Month,
}

impl Bucket {
    fn of(self, time_ms: i64, tz: &TimeZone) -> Option<(i32, i32, i32)> {
        let zoned = Timestamp::from_millisecond(time_ms).ok()?.to_zoned(tz.clone());
        let date = zoned.date();
        Some(match self {
            Bucket::Hour => (i32::from(date.year()), date.day_of_year().into(), zoned.hour().into()),
            Bucket::Day => (i32::from(date.year()), date.day_of_year().into(), 0),
            Bucket::Week => {
                let week = date.iso_week_date();
                (i32::from(week.year()), week.week().into(), 0)
            }
            Bucket::Month => (i32::from(date.year()), date.month().into(), 0),
        })
    }
}

impl Retention {
    /// Whether no rule is set (such a policy keeps everything).
    pub fn is_empty(&self) -> bool {
        *self == Retention::default()
    }

    /// The ids of `snapshots` (id and time in ms) this policy keeps, with the
    /// calendar taken in `tz`.
    pub fn keep(&self, snapshots: &[(String, i64)], tz: &TimeZone) -> HashSet<String> {
        if self.is_empty() {
            return snapshots.iter().map(|(id, _)| id.clone()).collect();
        }
        let mut newest_first: Vec<&(String, i64)> = snapshots.iter().collect();
        newest_first.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        let mut kept = HashSet::new();
        if let Some(n) = self.keep_last {
            kept.extend(newest_first.iter().take(n).map(|(id, _)| id.clone()));
        }
        if let (Some(within), Some((_, newest))) = (self.keep_within_ms, newest_first.first()) {
            let oldest = newest.saturating_sub(within);
            kept.extend(newest_first.iter().filter(|(_, t)| *t >= oldest).map(|(id, _)| id.clone()));
        }
        let rules = [
            (self.keep_hourly, Bucket::Hour),
            (self.keep_daily, Bucket::Day),
            (self.keep_weekly, Bucket::Week),
            (self.keep_monthly, Bucket::Month),
        ];
        for (count, bucket) in rules {
            let Some(count) = count else { continue };
            let mut seen = HashSet::new();
            for (id, time) in &newest_first {
                if seen.len() >= count {
                    break;
                }
                // Newest first: the first snapshot met in a bucket is its newest.
                if let Some(key) = bucket.of(*time, tz) {
                    if seen.insert(key) {
                        kept.insert(id.clone());
                    }
                }
            }
        }
        kept
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    /// Snapshots every `step` ms going back from 2026-11-24T12:00Z, newest first.
    fn series(count: usize, step: i64) -> Vec<(String, i64)> {
        let newest: Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
        (0..count).map(|i| (format!("s{i:03}"), newest.as_millisecond() - step * i as i64)).collect()
    }

    fn kept(policy: &Retention, snapshots: &[(String, i64)]) -> Vec<String> {
        let mut ids: Vec<String> = policy.keep(snapshots, &TimeZone::UTC).into_iter().collect();
        ids.sort();
        ids
    }

    #[test]
    fn the_seeds_policy_keeps_seventy_two_hours_of_hourly_backups() {
        let snapshots = series(100, HOUR);
        let policy = Retention { keep_within_ms: Some(72 * HOUR), ..Retention::default() };
        let ids = kept(&policy, &snapshots);
        assert_eq!(ids.len(), 73, "the newest and the 72 hours before it");
        assert_eq!((ids.first().unwrap().as_str(), ids.last().unwrap().as_str()), ("s000", "s072"));
    }

    #[test]
    fn calendar_rules_keep_the_newest_of_each_bucket() {
        // Every 6 hours for 60 days.
        let snapshots = series(240, 6 * HOUR);
        let daily = kept(&Retention { keep_daily: Some(7), ..Retention::default() }, &snapshots);
        // 12:00 is the newest of its day; the days before end with their 18:00 one.
        assert_eq!(daily, ["s000", "s003", "s007", "s011", "s015", "s019", "s023"]);
        let weekly = kept(&Retention { keep_weekly: Some(3), ..Retention::default() }, &snapshots);
        // 2026-11-24 is a Tuesday: its week's newest is s000; the weeks before
        // end on Sunday 18:00 (s007 is Sunday 2026-11-22 18:00, s035 a week earlier).
        assert_eq!(weekly, ["s000", "s007", "s035"]);
        let monthly = kept(&Retention { keep_monthly: Some(3), ..Retention::default() }, &snapshots);
        // November's newest; October 31 18:00; September 30 18:00.
        let october_end =
            snapshots.iter().find(|(_, t)| *t == "2026-10-31T18:00:00Z".parse::<Timestamp>().unwrap().as_millisecond());
        let september_end =
            snapshots.iter().find(|(_, t)| *t == "2026-09-30T18:00:00Z".parse::<Timestamp>().unwrap().as_millisecond());
        let mut expected = vec!["s000".to_owned(), october_end.unwrap().0.clone(), september_end.unwrap().0.clone()];
        expected.sort();
        assert_eq!(monthly, expected);
        let hourly = kept(&Retention { keep_hourly: Some(2), keep_last: Some(1), ..Retention::default() }, &snapshots);
        assert_eq!(hourly, ["s000", "s001"]);
    }

    #[test]
    fn rules_combine_and_an_empty_policy_keeps_everything() {
        let snapshots = series(30, DAY);
        let policy = Retention { keep_last: Some(2), keep_monthly: Some(2), ..Retention::default() };
        let ids = kept(&policy, &snapshots);
        // The newest two, plus the newest of October (2026-10-31 is s024).
        assert_eq!(ids, ["s000", "s001", "s024"]);
        assert_eq!(kept(&Retention::default(), &snapshots).len(), 30);
        // Days are cut in the time zone given: one UTC day, two days in Shanghai.
        let late: Vec<(String, i64)> = ["2026-11-23T16:30:00Z", "2026-11-23T15:30:00Z"]
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("t{i}"), t.parse::<Timestamp>().unwrap().as_millisecond()))
            .collect();
        let daily = Retention { keep_daily: Some(5), ..Retention::default() };
        assert_eq!(daily.keep(&late, &TimeZone::UTC).len(), 1);
        assert_eq!(daily.keep(&late, &TimeZone::get("Asia/Shanghai").unwrap()).len(), 2);
    }
}
