//! The console's page frame and the small formats every page shares: times,
//! sizes, durations, the CSRF field, the error box.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::Session;

/// The page sections of the navigation bar.
const SECTIONS: [(&str, &str, &str); 5] = [
    ("tables", "/tables", "Tables"),
    ("plans", "/plans", "Plans"),
    ("jobs", "/jobs", "Jobs"),
    ("repository", "/repository", "Repository"),
    ("charts", "/charts", "Charts"),
];

/// A whole page: navigation (when signed in), title, body.
pub(crate) fn page(session: Option<&Session>, active: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · TableSafe" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/tables" { "TableSafe" }
                    @if let Some(session) = session {
                        nav {
                            @for (id, href, label) in SECTIONS {
                                a id=(format!("nav-{id}")) href=(href) class=[(id == active).then_some("active")] { (label) }
                            }
                        }
                        div.who {
                            span #whoami { (session.key_id) " (" (session.role) ")" }
                            form #signout method="post" action="/signout" {
                                (csrf(session))
                                button #signout-submit type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden field every form of the session carries.
pub(crate) fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// The box that shows what failed.
pub(crate) fn error_box(text: &str) -> Markup {
    html! { p.error role="alert" { (text) } }
}

/// A page that says only that something failed, with `status`.
pub(crate) fn failure_page(session: Option<&Session>, status: StatusCode, title: &str, text: &str) -> Response {
    (status, Html(page(session, "", title, error_box(text)).into_string())).into_response()
}

/// A rendered page as a 200 response.
pub(crate) fn ok(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// The sign-in page, with `problem` said above the form.
pub(crate) fn sign_in(status: StatusCode, problem: Option<&str>) -> Response {
    let body = html! {
        @if let Some(problem) = problem { (error_box(problem)) }
        form #signin method="post" action="/signin" {
            label { "Access key id" input name="access_key_id" autocomplete="username" required autofocus; }
            label { "Access key secret" input name="access_key_secret" type="password" autocomplete="current-password" required; }
            button #signin-submit type="submit" { "Sign in" }
        }
        p.hint { "The keys of this server: its key file, or the one given with --config." }
    };
    (status, Html(page(None, "", "Sign in", body).into_string())).into_response()
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds (what the
/// restore form and `--to-time` read back).
pub(crate) fn time(ms: i64) -> String {
    tablesafe_backup::format_time_us(ms.saturating_mul(1000))
}

/// An optional time, "—" when there is none.
pub(crate) fn maybe_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".to_owned(), time)
}

/// Bytes in binary units.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in ms, to the unit that reads best.
pub(crate) fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A URL path segment or query value, escaped.
pub(crate) fn escape(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(text, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_a_person_reads_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(duration(250), "250 ms");
        assert_eq!(duration(2_500), "2.5 s");
        assert_eq!(duration(125_000), "2 min 5 s");
        assert_eq!(duration(7_500_000), "2 h 5 min");
        assert_eq!(time(1_780_000_000_123), "2026-05-28T20:26:40.123Z");
        assert_eq!(maybe_time(None), "—");
        assert_eq!(escape("t_1-a"), "t_1-a");
        assert_eq!(escape("a b/c"), "a%20b%2Fc");
    }
}
