//! The console's pictures, drawn as SVG on the server: a table's recovery
//! timeline and the bar and line charts of the charts page. Hand-drawn rather
//! than through a plotting crate: each is a handful of rectangles, circles and
//! labels whose elements carry the data (`data-*`) that the page script and the
//! browser tests read back, which a plotting crate's output does not.

use maud::{html, Markup};

use super::view;
use tablesafe_proto::backup_api::TableRecoveryPoints;

const WIDTH: f64 = 1000.0;

/// A window of time shown on an axis, in ms since the epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Window {
    /// The window around everything in `points` (and `now_ms`), with a margin.
    pub(crate) fn around(points: &TableRecoveryPoints, now_ms: i64) -> Window {
        let times = points
            .snapshots
            .iter()
            .map(|s| s.time_ms)
            .chain(points.spans.iter().flat_map(|s| [s.from_ms, s.to_ms]))
            .chain(points.gaps.iter().flat_map(|g| [g.from_ms, g.to_ms]))
            .chain([now_ms]);
        let (mut from, mut to) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        if to - from < 10_000 {
            from = to - 10_000;
        }
        let margin = (to - from) / 20;
        (from, to) = (from - margin, to + margin);
        Window { from_ms: from, to_ms: to }
    }

    fn x(&self, ms: i64) -> f64 {
        let span = (self.to_ms - self.from_ms).max(1) as f64;
        ((ms - self.from_ms) as f64 / span * WIDTH).clamp(0.0, WIDTH)
    }

    fn contains(&self, from_ms: i64, to_ms: i64) -> bool {
        to_ms >= self.from_ms && from_ms <= self.to_ms
    }

    /// The window a quarter as wide around its middle, and four times as wide.
    pub(crate) fn zoomed(&self, factor: f64) -> Window {
        let middle = self.from_ms + (self.to_ms - self.from_ms) / 2;
        let half = (((self.to_ms - self.from_ms) as f64 * factor) / 2.0).max(50.0) as i64;
        Window { from_ms: middle - half, to_ms: middle + half }
    }
}

/// `count` tick times across `window`.
fn ticks(window: Window, count: i64) -> Vec<i64> {
    (0..=count).map(|i| window.from_ms + (window.to_ms - window.from_ms) * i / count).collect()
}

/// A table's recovery timeline over `window`: snapshots as points, archived
/// windows as bars, gaps as red bars with their cause, `now` as a line.
pub(crate) fn timeline(points: &TableRecoveryPoints, window: Window, now_ms: i64) -> Markup {
    html! {
        svg #timeline viewBox="0 0 1000 110" preserveAspectRatio="none" role="img"
            data-from-ms=(window.from_ms) data-to-ms=(window.to_ms)
            aria-label=(format!("Recovery timeline of {}", points.table)) {
            rect.track x="0" y="40" width="1000" height="24" {}
            @for span in points.spans.iter().filter(|s| window.contains(s.from_ms, s.to_ms)) {
                @let (x0, x1) = (window.x(span.from_ms), window.x(span.to_ms));
                rect.span x=(format!("{x0:.1}")) y="40" width=(format!("{:.1}", (x1 - x0).max(1.0))) height="24"
                    data-from-ms=(span.from_ms) data-to-ms=(span.to_ms) {
                    title { "restorable to any time from " (view::time(span.from_ms)) " to " (view::time(span.to_ms)) }
                }
            }
            @for gap in points.gaps.iter().filter(|g| window.contains(g.from_ms, g.to_ms)) {
                @let (x0, x1) = (window.x(gap.from_ms), window.x(gap.to_ms));
                rect.gap x=(format!("{x0:.1}")) y="36" width=(format!("{:.1}", (x1 - x0).max(2.0))) height="32"
                    data-from-ms=(gap.from_ms) data-to-ms=(gap.to_ms) {
                    title { "gap: " (gap.cause) }
                }
            }
            @for snapshot in points.snapshots.iter().filter(|s| window.contains(s.time_ms, s.time_ms)) {
                circle.snapshot.exact[snapshot.exact] cx=(format!("{:.1}", window.x(snapshot.time_ms))) cy="52" r="7"
                    data-snapshot=(snapshot.snapshot) data-time-ms=(snapshot.time_ms) {
                    title { "snapshot " (snapshot.snapshot) " at " (view::time(snapshot.time_ms)) }
                }
            }
            @if window.contains(now_ms, now_ms) {
                line.now x1=(format!("{:.1}", window.x(now_ms))) x2=(format!("{:.1}", window.x(now_ms))) y1="28" y2="76" {}
            }
            line.choice x1="-10" x2="-10" y1="24" y2="80" {}
            // Three labels: a full time is wide, and more would overlap in a narrow window.
            @for (i, tick) in ticks(window, 2).into_iter().enumerate() {
                @let anchor = match i { 0 => "start", 2 => "end", _ => "middle" };
                text.tick x=(format!("{:.1}", window.x(tick))) y="96" text-anchor=(anchor) { (view::time(tick)) }
            }
        }
    }
}

/// One bar of a chart: its label (under it, and in its tooltip), its value, and
/// whether it stands for a success.
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
    pub ok: bool,
}

/// A bar chart `id` of `bars` (oldest left), values shown with `format`.
pub(crate) fn bars(id: &str, bars: &[Bar], format: impl Fn(f64) -> String) -> Markup {
    let top = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let width = if bars.is_empty() { WIDTH } else { WIDTH / bars.len() as f64 };
    html! {
        svg id=(id) .chart viewBox="0 0 1000 220" preserveAspectRatio="none" role="img" data-bars=(bars.len()) {
            text.axis x="0" y="12" { "max " (format(top)) }
            line.base x1="0" x2="1000" y1="200" y2="200" {}
            @if bars.is_empty() {
                text.empty x="500" y="110" text-anchor="middle" { "No runs yet" }
            }
            @for (i, bar) in bars.iter().enumerate() {
                @let height = bar.value / top * 180.0;
                rect.bar.failed[!bar.ok] x=(format!("{:.1}", i as f64 * width + width * 0.1))
                    y=(format!("{:.1}", 200.0 - height)) width=(format!("{:.1}", width * 0.8))
                    height=(format!("{:.1}", height.max(0.5))) data-value=(bar.value) {
                    title { (bar.label) ": " (format(bar.value)) }
                }
            }
        }
    }
}

/// A line chart `id` of `(ms, value)` samples per series, values shown with `format`.
pub(crate) fn lines(id: &str, series: &[(String, Vec<(i64, f64)>)], format: impl Fn(f64) -> String) -> Markup {
    let all = series.iter().flat_map(|(_, s)| s.iter());
    let (from, to, top) =
        all.fold((i64::MAX, i64::MIN, 0.0_f64), |(lo, hi, top), &(t, v)| (lo.min(t), hi.max(t), top.max(v)));
    let window = Window { from_ms: from.min(to), to_ms: to.max(from.saturating_add(1)) };
    let top = top.max(f64::MIN_POSITIVE);
    html! {
        svg id=(id) .chart viewBox="0 0 1000 220" preserveAspectRatio="none" role="img"
            data-series=(series.len()) {
            text.axis x="0" y="12" { "max " (format(top)) }
            line.base x1="0" x2="1000" y1="200" y2="200" {}
            @if series.iter().all(|(_, s)| s.is_empty()) {
                text.empty x="500" y="110" text-anchor="middle" { "No samples yet" }
            }
            @for (i, (name, samples)) in series.iter().enumerate() {
                @let path = samples.iter().map(|&(t, v)| format!("{:.1},{:.1}", window.x(t), 200.0 - v / top * 180.0))
                    .collect::<Vec<_>>().join(" ");
                polyline.series class=(format!("series-{}", i % 4)) points=(path) data-series=(name) {
                    title { (name) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tablesafe_proto::backup_api::{SnapshotPoint, TimeGap, TimeSpan};

    fn points() -> TableRecoveryPoints {
        TableRecoveryPoints {
            table: "t".into(),
            snapshots: vec![SnapshotPoint { snapshot: "s1".into(), time_ms: 100_000, exact: true }],
            spans: vec![TimeSpan { from_ms: 100_000, to_ms: 160_000 }],
            gaps: vec![TimeGap { from_ms: 160_000, to_ms: 170_000, cause: "the stream was trimmed".into() }],
            notes: vec![],
        }
    }

    #[test]
    fn the_timeline_places_what_it_shows_where_its_times_are() {
        let window = Window { from_ms: 100_000, to_ms: 200_000 };
        let svg = timeline(&points(), window, 180_000).into_string();
        assert!(svg.contains(r#"data-from-ms="100000" data-to-ms="200000""#), "{svg}");
        assert!(svg.contains(r#"class="span" x="0.0" y="40" width="600.0""#), "{svg}");
        assert!(svg.contains(r#"class="gap" x="600.0""#), "{svg}");
        assert!(svg.contains(r#"cx="0.0" cy="52" r="7" data-snapshot="s1" data-time-ms="100000""#), "{svg}");
        assert!(svg.contains("gap: the stream was trimmed"), "{svg}");
        assert!(svg.contains(r#"class="now" x1="800.0""#), "{svg}");
        // Out of the window: nothing drawn.
        let svg = timeline(&points(), Window { from_ms: 300_000, to_ms: 400_000 }, 180_000).into_string();
        assert!(!svg.contains("data-snapshot") && !svg.contains(r#"class="span""#), "{svg}");
    }

    #[test]
    fn a_window_frames_everything_and_zooms_around_its_middle() {
        let window = Window::around(&points(), 200_000);
        assert!(window.from_ms < 100_000 && window.to_ms > 200_000, "{window:?}");
        let zoomed = Window { from_ms: 0, to_ms: 1000 }.zoomed(0.25);
        assert_eq!(zoomed, Window { from_ms: 375, to_ms: 625 });
        let out = Window { from_ms: 0, to_ms: 1000 }.zoomed(4.0);
        assert_eq!(out, Window { from_ms: -1500, to_ms: 2500 });
    }

    #[test]
    fn bars_scale_to_the_largest_and_mark_failures() {
        let chart = bars(
            "c",
            &[Bar { label: "a".into(), value: 2.0, ok: true }, Bar { label: "b".into(), value: 4.0, ok: false }],
            |v| format!("{v} s"),
        )
        .into_string();
        assert!(chart.contains(r#"class="bar" x="50.0" y="110.0" width="400.0" height="90.0""#), "{chart}");
        assert!(chart.contains(r#"class="bar failed" x="550.0" y="20.0""#), "{chart}");
        assert!(chart.contains("max 4 s"), "{chart}");
        assert!(bars("e", &[], |v| v.to_string()).into_string().contains("No runs yet"));
    }
}
