//! Plans as the scheduler uses them: checked, with their schedule, retention and
//! table patterns parsed; and the plan file, read and replaced atomically.
//!
//! Invariants: a plan in the file always passes [`ValidPlan::new`] (the file is
//! written only with checked plans, and a hand-edited file that fails is refused at
//! start with the plan's name and the reason); names are unique.

use std::path::Path;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use tablesafe_proto::backup_api::{Plan, PlanFile};

use crate::retention::Retention;
use crate::BackupError;

/// The name of the plan `tablesafe serve` creates on first start.
pub const DEFAULT_PLAN: &str = "default";
/// The default plan's destination: a repository inside the data directory.
pub const DEFAULT_DESTINATION: &str = "backups";

/// The plan `serve` starts with: every table, hourly, kept 72 hours, into a
/// repository inside the data directory.
pub fn default_plan() -> Plan {
    Plan {
        name: DEFAULT_PLAN.into(),
        every: Some("1h".into()),
        keep_within: Some("72h".into()),
        destination: DEFAULT_DESTINATION.into(),
        ..Plan::default()
    }
}

/// An age such as `72h`, `90s`, `30d` or `2w`; days and weeks count as 24 and 168
/// hours. jiff parses the "friendly" format (and ISO 8601), so no parser of our own.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let error = |e: &dyn std::fmt::Display| format!("'{text}' is not a duration such as 90s, 15m, 72h or 7d: {e}");
    if let Ok(duration) = text.trim().parse::<jiff::SignedDuration>() {
        return Duration::try_from(duration).map_err(|_| format!("'{text}' is negative"));
    }
    let span: jiff::Span = text.trim().parse().map_err(|e| error(&e))?;
    let seconds = span.total((jiff::Unit::Second, jiff::SpanRelativeTo::days_are_24_hours())).map_err(|e| error(&e))?;
    if !(0.0..=1e12).contains(&seconds) {
        return Err(format!("'{text}' is negative or too large"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// When a plan runs.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Every interval, counted from the previous due time.
    Every(Duration),
    /// At the times of a cron expression in a time zone.
    Cron(Box<croner::Cron>, TimeZone),
}

impl Schedule {
    /// The first due time strictly after `after_ms`.
    pub fn next_after(&self, after_ms: i64) -> i64 {
        match self {
            Schedule::Every(interval) => after_ms.saturating_add(interval.as_millis().max(1) as i64),
            Schedule::Cron(cron, tz) => {
                let Ok(time) = Timestamp::from_millisecond(after_ms) else { return i64::MAX };
                let zoned: Zoned = time.to_zoned(tz.clone());
                match cron.find_next_occurrence(&zoned, false) {
                    Ok(next) => next.timestamp().as_millisecond(),
                    // An expression with no future time (e.g. Feb 30) never runs.
                    Err(_) => i64::MAX,
                }
            }
        }
    }
}

/// A plan that passed every check, with its parts parsed.
#[derive(Clone, Debug)]
pub struct ValidPlan {
    /// The plan as written.
    pub plan: Plan,
    /// When it runs.
    pub schedule: Schedule,
    /// What its retention keeps.
    pub retention: Retention,
    /// Its time zone (cron and calendar buckets).
    pub timezone: TimeZone,
    patterns: Vec<glob::Pattern>,
}

impl ValidPlan {
    /// Checks `plan`: name, schedule, time zone, retention, patterns, destination.
    pub fn new(plan: Plan) -> Result<ValidPlan, BackupError> {
        let invalid = |what: String| BackupError::Invalid(format!("plan '{}': {what}", plan.name));
        check_name(&plan.name)?;
        let timezone = match plan.timezone.as_deref() {
            None | Some("") => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|e| invalid(format!("unknown time zone '{name}': {e}")))?,
        };
        let schedule = match (&plan.every, &plan.cron) {
            (Some(every), None) => {
                let interval = parse_age(every).map_err(&invalid)?;
                if interval < Duration::from_secs(1) {
                    return Err(invalid(format!("'every' must be at least 1s, not '{every}'")));
                }
                Schedule::Every(interval)
            }
            (None, Some(expression)) => {
                let cron = croner::parser::CronParser::builder()
                    .seconds(croner::parser::Seconds::Optional)
                    .build()
                    .parse(expression)
                    .map_err(|e| invalid(format!("cron expression '{expression}': {e}")))?;
                Schedule::Cron(Box::new(cron), timezone.clone())
            }
            (Some(_), Some(_)) => return Err(invalid("give 'every' or 'cron', not both".into())),
            (None, None) => return Err(invalid("give a schedule: 'every' (e.g. \"1h\") or 'cron'".into())),
        };
        let count = |value: Option<u32>| value.map(|n| n as usize);
        let keep_within_ms = match plan.keep_within.as_deref() {
            Some(text) => Some(i64::try_from(parse_age(text).map_err(&invalid)?.as_millis()).unwrap_or(i64::MAX)),
            None => None,
        };
        let retention = Retention {
            keep_last: count(plan.keep_last),
            keep_within_ms,
            keep_hourly: count(plan.keep_hourly),
            keep_daily: count(plan.keep_daily),
            keep_weekly: count(plan.keep_weekly),
            keep_monthly: count(plan.keep_monthly),
        };
        if plan.keep_last == Some(0) {
            return Err(invalid("keep_last must be at least 1".into()));
        }
        let patterns = plan
            .tables
            .iter()
            .map(|p| glob::Pattern::new(p).map_err(|e| invalid(format!("table pattern '{p}': {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if plan.verify_data_percent > 100 {
            return Err(invalid(format!(
                "verify_data_percent is a share from 0 to 100, not {}",
                plan.verify_data_percent
            )));
        }
        if plan.destination.trim().is_empty() {
            return Err(invalid("give a destination: a path or a repository URL".into()));
        }
        Ok(ValidPlan { plan, schedule, retention, timezone, patterns })
    }

    /// The plan's name.
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    /// The tables of `all` this plan backs up (every table without patterns), sorted.
    pub fn tables(&self, all: &[String]) -> Vec<String> {
        let mut chosen: Vec<String> = all
            .iter()
            .filter(|name| self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(name)))
            .cloned()
            .collect();
        chosen.sort();
        chosen
    }
}

/// A plan name: 1 to 64 letters, digits, `-` and `_`.
pub fn check_name(name: &str) -> Result<(), BackupError> {
    let ok = (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BackupError::Invalid(format!("'{name}' is not a plan name: use 1 to 64 letters, digits, '-' and '_'")))
    }
}

/// Reads the plan file; `None` when it does not exist.
pub fn read_plan_file(path: &Path) -> Result<Option<Vec<ValidPlan>>, BackupError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BackupError::Invalid(format!("cannot read the plan file {}: {e}", path.display()))),
    };
    let file: PlanFile = toml::from_str(&text)
        .map_err(|e| BackupError::Invalid(format!("the plan file {} does not parse: {e}", path.display())))?;
    let mut plans: Vec<ValidPlan> = Vec::with_capacity(file.plans.len());
    for plan in file.plans {
        if plans.iter().any(|p| p.name() == plan.name) {
            return Err(BackupError::Invalid(format!(
                "the plan file {} names plan '{}' twice",
                path.display(),
                plan.name
            )));
        }
        let plan = ValidPlan::new(plan)
            .map_err(|e| BackupError::Invalid(format!("in the plan file {}: {e}", path.display())))?;
        plans.push(plan);
    }
    Ok(Some(plans))
}

/// Replaces the plan file with `plans`: a temporary file, fsynced, renamed over
/// it, and the directory fsynced, so a crash leaves the old or the new file.
pub fn write_plan_file(path: &Path, plans: &[ValidPlan]) -> Result<(), BackupError> {
    let file = PlanFile { plans: plans.iter().map(|p| p.plan.clone()).collect() };
    let body = toml::to_string_pretty(&file).map_err(|e| BackupError::Internal(format!("plan file: {e}")))?;
    let text = format!(
        "# TableSafe backup plans. `tablesafe serve` reads this file at start and rewrites it\n\
         # when plans change through the API or `tablesafe plan`; edit it while the server is stopped.\n\n{body}"
    );
    let failed =
        |e: std::io::Error| BackupError::Internal(format!("cannot write the plan file {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let temporary = path.with_extension("toml.tmp");
    {
        use std::io::Write;
        let mut out = std::fs::File::create(&temporary).map_err(failed)?;
        out.write_all(text.as_bytes()).map_err(failed)?;
        out.sync_all().map_err(failed)?;
    }
    std::fs::rename(&temporary, path).map_err(failed)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(failed)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    fn plan(every: Option<&str>, cron: Option<&str>) -> Plan {
        Plan {
            name: "p".into(),
            every: every.map(Into::into),
            cron: cron.map(Into::into),
            destination: "backups".into(),
            ..Plan::default()
        }
    }

    #[test]
    fn intervals_and_cron_give_the_next_due_time() {
        let hourly = ValidPlan::new(plan(Some("1h"), None)).unwrap();
        assert_eq!(hourly.schedule.next_after(1_000), 1_000 + 3_600_000);
        let mut at_five = plan(None, Some("5 * * * *"));
        at_five.timezone = Some("Asia/Kolkata".into()); // +05:30: minute 5 local is minute 35 UTC
        let cron = ValidPlan::new(at_five).unwrap();
        let t0 = "2026-11-25T10:00:00Z".parse::<Timestamp>().unwrap().as_millisecond();
        let next = cron.schedule.next_after(t0);
        assert_eq!(Timestamp::from_millisecond(next).unwrap().to_string(), "2026-11-25T10:35:00Z");
        assert_eq!(cron.schedule.next_after(next), next + 3_600_000);
    }

    #[test]
    fn bad_plans_say_what_is_wrong() {
        let message = |p: Plan| ValidPlan::new(p).unwrap_err().to_string();
        assert!(message(plan(None, None)).contains("give a schedule"));
        assert!(message(plan(Some("1h"), Some("* * * * *"))).contains("not both"));
        assert!(message(plan(Some("soon"), None)).contains("not a duration"));
        assert!(message(plan(Some("200ms"), None)).contains("at least 1s"));
        assert!(message(plan(None, Some("61 * * * *"))).contains("cron expression"));
        let mut zone = plan(Some("1h"), None);
        zone.timezone = Some("Mars/Olympus".into());
        assert!(message(zone).contains("unknown time zone"));
        let mut name = plan(Some("1h"), None);
        name.name = "no spaces".into();
        assert!(message(name).contains("not a plan name"));
    }

    #[test]
    fn patterns_choose_tables() {
        let mut p = plan(Some("1h"), None);
        p.tables = vec!["users".into(), "orders_*".into()];
        let valid = ValidPlan::new(p).unwrap();
        let all: Vec<String> = ["orders_2026", "users", "users2", "orders"].map(String::from).to_vec();
        assert_eq!(valid.tables(&all), vec!["orders_2026".to_owned(), "users".to_owned()]);
        let every = ValidPlan::new(plan(Some("1h"), None)).unwrap();
        assert_eq!(every.tables(&all).len(), 4);
    }

    #[test]
    fn the_plan_file_round_trips_and_refuses_bad_plans() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.toml");
        assert!(read_plan_file(&path).unwrap().is_none());
        let plans =
            vec![ValidPlan::new(default_plan()).unwrap(), ValidPlan::new(plan(None, Some("0 3 * * *"))).unwrap()];
        write_plan_file(&path, &plans).unwrap();
        let read = read_plan_file(&path).unwrap().unwrap();
        assert_eq!(
            read.iter().map(|p| p.plan.clone()).collect::<Vec<_>>(),
            plans.iter().map(|p| p.plan.clone()).collect::<Vec<_>>()
        );
        std::fs::write(&path, "[[plans]]\nname = \"x\"\ndestination = \"b\"\n").unwrap();
        assert!(read_plan_file(&path).unwrap_err().to_string().contains("give a schedule"));
    }
}
