//! The metrics registry behind `GET /metrics`, rendered in the Prometheus text
//! exposition format 0.0.4 (docs/API.md, "Metrics").
//!
//! Two kinds of series live here:
//! - request metrics, recorded by `http.rs` for every Tablestore request: a counter
//!   per action and outcome, a latency histogram per action, and the number of
//!   requests in flight. They are preallocated per served action (plus `other` for
//!   names the server does not serve, so a client cannot grow the label set), and a
//!   request only touches atomics, except an error outcome, which takes a short lock
//!   on its action's small list of error codes;
//! - named gauges and counters that other parts of the server set
//!   ([`Metrics::set_gauge`], [`Metrics::add_counter`], [`Metrics::describe`]):
//!   backup plans, jobs, the archiver, engine figures taken at scrape time.
//!
//! Invariants: every family is rendered as one group with one `# TYPE` line; a
//! histogram's `+Inf` bucket equals its `_count`; label values are escaped; names
//! that are not valid Prometheus names, or that belong to the request metrics, are
//! refused (logged and dropped), never rendered.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::roles::ACTIONS;

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Upper bounds (seconds) of the request latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

const BUCKET_NANOS: [u64; 13] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

const REQUESTS_TOTAL: &str = "tablesafe_requests_total";
const REQUEST_DURATION: &str = "tablesafe_request_duration_seconds";
const IN_FLIGHT: &str = "tablesafe_requests_in_flight";
/// Families the registry renders itself; named metrics may not use these names.
const BUILT_IN: [&str; 3] = [REQUESTS_TOTAL, REQUEST_DURATION, IN_FLIGHT];
/// The action label of requests for an action the server does not serve.
const OTHER_ACTION: &str = "other";
/// The code label of a successful request.
pub const OK: &str = "OK";

#[derive(Debug, Default)]
struct ActionMetrics {
    ok: AtomicU64,
    /// Error code → count; a handful of codes per action at most.
    errors: Mutex<Vec<(&'static str, u64)>>,
    /// Observations per bucket (not cumulative); the last slot is above 10 s.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

#[derive(Debug, Default)]
struct Family {
    /// Fixed by the first value set.
    kind: Option<Kind>,
    help: Option<String>,
    /// Rendered label set (`{a="x",b="y"}` or empty) → value.
    series: BTreeMap<String, f64>,
}

/// The registry: request metrics and named gauges and counters.
#[derive(Debug)]
pub struct Metrics {
    /// One per entry of [`ACTIONS`], then one for `other`.
    actions: Vec<ActionMetrics>,
    in_flight: AtomicI64,
    named: Mutex<BTreeMap<String, Family>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Counts a request as in flight until dropped.
#[derive(Debug)]
pub struct InFlight<'a> {
    metrics: &'a Metrics,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave a torn value behind.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics {
            actions: (0..=ACTIONS.len()).map(|_| ActionMetrics::default()).collect(),
            in_flight: AtomicI64::new(0),
            named: Mutex::new(BTreeMap::new()),
        }
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { metrics: self }
    }

    /// Records a finished request: `action` is the index of its action in
    /// [`ACTIONS`] (`None` for an action not served), `code` is [`OK`] or the
    /// Tablestore error code it was answered with.
    pub fn observe_request(&self, action: Option<usize>, code: &'static str, elapsed: Duration) {
        let Some(stats) = self.actions.get(action.unwrap_or(ACTIONS.len())) else { return };
        if code == OK {
            stats.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            let mut errors = lock(&stats.errors);
            match errors.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => errors.push((code, 1)),
            }
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKET_NANOS.iter().position(|&bound| nanos <= bound).unwrap_or(BUCKET_NANOS.len());
        stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        stats.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Sets the gauge `name` with `labels` to `value`, creating it if needed.
    pub fn set_gauge(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.update(name, labels, Kind::Gauge, |v| *v = value);
    }

    /// Adds `delta` (not negative) to the counter `name` with `labels`, creating it
    /// at 0 if needed.
    pub fn add_counter(&self, name: &str, labels: &[(&str, &str)], delta: f64) {
        if delta.is_nan() || delta < 0.0 {
            tracing::warn!(name, delta, "a counter can only increase; ignored");
            return;
        }
        self.update(name, labels, Kind::Counter, |v| *v += delta);
    }

    /// Sets the `# HELP` text of the named metric `name`.
    pub fn describe(&self, name: &str, help: &str) {
        if !valid_family_name(name) {
            return;
        }
        lock(&self.named).entry(name.to_owned()).or_default().help = Some(help.to_owned());
    }

    /// Removes one series of the named metric `name` (e.g. a deleted plan's).
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        let Some(key) = label_key(labels) else { return };
        if let Some(family) = lock(&self.named).get_mut(name) {
            family.series.remove(&key);
        }
    }

    fn update(&self, name: &str, labels: &[(&str, &str)], kind: Kind, apply: impl FnOnce(&mut f64)) {
        if !valid_family_name(name) {
            return;
        }
        let Some(key) = label_key(labels) else {
            tracing::warn!(name, ?labels, "invalid metric label names; ignored");
            return;
        };
        let mut named = lock(&self.named);
        let family = named.entry(name.to_owned()).or_default();
        match family.kind {
            Some(existing) if existing != kind => {
                tracing::warn!(name, "metric set as both a gauge and a counter; ignored");
                return;
            }
            _ => family.kind = Some(kind),
        }
        apply(family.series.entry(key).or_insert(0.0));
    }

    /// The whole registry in the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        let named = lock(&self.named);
        for (name, family) in named.iter() {
            let Some(kind) = family.kind else { continue };
            if family.series.is_empty() {
                continue;
            }
            if let Some(help) = &family.help {
                let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            }
            let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
            for (labels, value) in &family.series {
                let _ = writeln!(out, "{name}{labels} {}", format_value(*value));
            }
        }
        out
    }

    fn render_requests(&self, out: &mut String) {
        let names = ACTIONS.iter().map(|(name, _)| *name).chain([OTHER_ACTION]);
        // Counts per action, read once so that the counter and histogram lines of
        // one render agree with each other.
        let snapshot: Vec<(&str, &ActionMetrics, [u64; LATENCY_BUCKETS.len() + 1])> = names
            .zip(&self.actions)
            .map(|(name, stats)| (name, stats, std::array::from_fn(|i| stats.buckets[i].load(Ordering::Relaxed))))
            .filter(|(_, _, buckets)| buckets.iter().any(|&n| n > 0))
            .collect();

        let _ = writeln!(
            out,
            "# HELP {REQUESTS_TOTAL} Tablestore requests answered, by action and outcome (OK or the error code)."
        );
        let _ = writeln!(out, "# TYPE {REQUESTS_TOTAL} counter");
        for (action, stats, _) in &snapshot {
            let ok = stats.ok.load(Ordering::Relaxed);
            if ok > 0 {
                let _ = writeln!(out, "{REQUESTS_TOTAL}{{action=\"{action}\",code=\"{OK}\"}} {ok}");
            }
            let mut errors = lock(&stats.errors).clone();
            errors.sort_unstable();
            for (code, n) in errors {
                let _ = writeln!(out, "{REQUESTS_TOTAL}{{action=\"{action}\",code=\"{code}\"}} {n}");
            }
        }

        let _ = writeln!(
            out,
            "# HELP {REQUEST_DURATION} Time from receiving a Tablestore request to having its response, by action."
        );
        let _ = writeln!(out, "# TYPE {REQUEST_DURATION} histogram");
        for (action, stats, buckets) in &snapshot {
            let mut cumulative = 0u64;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{REQUEST_DURATION}_bucket{{action=\"{action}\",le=\"{}\"}} {cumulative}",
                    format_value(*bound)
                );
            }
            cumulative += buckets[LATENCY_BUCKETS.len()];
            let _ = writeln!(out, "{REQUEST_DURATION}_bucket{{action=\"{action}\",le=\"+Inf\"}} {cumulative}");
            let sum = stats.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "{REQUEST_DURATION}_sum{{action=\"{action}\"}} {}", format_value(sum));
            let _ = writeln!(out, "{REQUEST_DURATION}_count{{action=\"{action}\"}} {cumulative}");
        }

        let _ = writeln!(out, "# HELP {IN_FLIGHT} Tablestore requests being served now.");
        let _ = writeln!(out, "# TYPE {IN_FLIGHT} gauge");
        let _ = writeln!(out, "{IN_FLIGHT} {}", self.in_flight.load(Ordering::Relaxed));
    }
}

/// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) not used by the request metrics.
fn valid_family_name(name: &str) -> bool {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    let built_in =
        BUILT_IN.iter().any(|b| name.strip_prefix(b).is_some_and(|rest| rest.is_empty() || rest.starts_with('_')));
    if !valid || built_in {
        tracing::warn!(name, "invalid or reserved metric name; ignored");
    }
    valid && !built_in
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// The rendered label set, sorted by name, or `None` if a name is invalid or repeated.
fn label_key(labels: &[(&str, &str)]) -> Option<String> {
    let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    if sorted.windows(2).any(|w| w[0].0 == w[1].0) || !sorted.iter().all(|(name, _)| valid_label_name(name)) {
        return None;
    }
    if sorted.is_empty() {
        return Some(String::new());
    }
    let mut key = String::from("{");
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        let _ = write!(key, "{name}=\"{}\"", escape_label_value(value));
    }
    key.push('}');
    Some(key)
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Escapes a `# HELP` text: backslash and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the format spells it (`+Inf`, `-Inf`, `NaN`, else decimal).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    fn index(action: &str) -> Option<usize> {
        crate::roles::action_index(action)
    }

    #[test]
    fn requests_render_as_counters_and_a_cumulative_histogram() {
        let metrics = Metrics::new();
        metrics.observe_request(index("GetRow"), OK, Duration::from_micros(500));
        metrics.observe_request(index("GetRow"), OK, Duration::from_millis(3));
        metrics.observe_request(index("GetRow"), "OTSObjectNotExist", Duration::from_secs(20));
        metrics.observe_request(None, "OTSParameterInvalid", Duration::from_millis(1));
        let text = metrics.render();
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has(r#"tablesafe_requests_total{action="GetRow",code="OK"} 2"#), "{text}");
        assert!(has(r#"tablesafe_requests_total{action="GetRow",code="OTSObjectNotExist"} 1"#), "{text}");
        assert!(has(r#"tablesafe_requests_total{action="other",code="OTSParameterInvalid"} 1"#), "{text}");
        assert!(has(r#"tablesafe_request_duration_seconds_bucket{action="GetRow",le="0.001"} 1"#), "{text}");
        assert!(has(r#"tablesafe_request_duration_seconds_bucket{action="GetRow",le="0.005"} 2"#), "{text}");
        assert!(has(r#"tablesafe_request_duration_seconds_bucket{action="GetRow",le="10"} 2"#), "{text}");
        assert!(has(r#"tablesafe_request_duration_seconds_bucket{action="GetRow",le="+Inf"} 3"#), "{text}");
        assert!(has(r#"tablesafe_request_duration_seconds_count{action="GetRow"} 3"#), "{text}");
        assert!(has(r#"tablesafe_request_duration_seconds_sum{action="GetRow"} 20.0035"#), "{text}");
        assert!(!text.contains(r#"action="PutRow""#), "actions never called are not rendered");
        assert!(text.ends_with('\n'));
        {
            let _guard = metrics.request_started();
            assert!(metrics.render().lines().any(|l| l == "tablesafe_requests_in_flight 1"));
        }
        assert!(metrics.render().lines().any(|l| l == "tablesafe_requests_in_flight 0"));
    }

    #[test]
    fn named_metrics_are_grouped_escaped_and_validated() {
        let metrics = Metrics::new();
        metrics.describe("tablesafe_backup_last_success_timestamp_seconds", "Last successful backup.\nPer plan.");
        metrics.set_gauge("tablesafe_backup_last_success_timestamp_seconds", &[("plan", "nightly")], 1.5e9);
        metrics.set_gauge("tablesafe_backup_last_success_timestamp_seconds", &[("plan", "a\"b\\c\nd")], 2.0);
        metrics.add_counter("tablesafe_backup_bytes_total", &[("plan", "nightly"), ("kind", "full")], 10.0);
        metrics.add_counter("tablesafe_backup_bytes_total", &[("kind", "full"), ("plan", "nightly")], 5.0);
        metrics.add_counter("tablesafe_backup_bytes_total", &[], -1.0);
        metrics.set_gauge("tablesafe_backup_bytes_total", &[], 1.0); // kind conflict
        metrics.set_gauge("bad name", &[], 1.0);
        metrics.set_gauge("tablesafe_requests_total", &[], 1.0); // reserved
        metrics.set_gauge("tablesafe_request_duration_seconds_count", &[], 1.0); // reserved
        metrics.set_gauge("g", &[("__reserved", "x")], 1.0);
        metrics.set_gauge("g", &[("a", "1"), ("a", "2")], 1.0);
        metrics.set_gauge("inf", &[], f64::INFINITY);
        let text = metrics.render();
        let tail: Vec<&str> =
            text.lines().skip_while(|l| !l.contains("tablesafe_requests_in_flight 0")).skip(1).collect();
        assert_eq!(
            tail,
            [
                "# TYPE inf gauge",
                "inf +Inf",
                "# TYPE tablesafe_backup_bytes_total counter",
                r#"tablesafe_backup_bytes_total{kind="full",plan="nightly"} 15"#,
                r"# HELP tablesafe_backup_last_success_timestamp_seconds Last successful backup.\nPer plan.",
                "# TYPE tablesafe_backup_last_success_timestamp_seconds gauge",
                r#"tablesafe_backup_last_success_timestamp_seconds{plan="a\"b\\c\nd"} 2"#,
                r#"tablesafe_backup_last_success_timestamp_seconds{plan="nightly"} 1500000000"#,
            ],
            "{text}"
        );
        metrics.remove("tablesafe_backup_last_success_timestamp_seconds", &[("plan", "nightly")]);
        assert!(!metrics.render().contains(r#"plan="nightly"} 1500000000"#));
    }
}
