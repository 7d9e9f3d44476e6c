//! The HTTP face of the server: `POST /<Action>` checks the request the way the
//! service does (method, size, headers, date, MD5, access key, instance,
//! signature), checks that the key's role allows the action, runs the action, and
//! answers with the headers and response signature the official SDKs verify.
//! Tablestore actions run on a blocking thread; backup API actions
//! (`backup_api.rs`, JSON bodies) run as a tokio task, since the backup service
//! does its I/O on the runtime. `GET /metrics` renders the metrics registry, with
//! the backup service's figures taken at scrape time; every other method or path
//! on `/metrics` is handled as a Tablestore request.
//!
//! Invariants: no request reaches an action before its signature is verified and
//! its key's role is checked (before the body is decoded), backup actions
//! included; every response after a verified signature is signed with the same
//! key, over every `x-ots-*` header it carries; this module calls the engine only
//! from blocking tasks, so a slow disk never stalls the async workers (the backup
//! service moves its own engine work off the async workers); a panic inside an
//! action becomes a 500, never a dead server; a backup action, once started, runs
//! to its end even if the client goes away; every request is counted in the
//! metrics under a served action's name or `other`.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use prost::Message;
use tablesafe_backup::service::{BackupService, ServiceMetrics};
use tablesafe_proto::pb;
use tablesafe_proto::sign::{self, SigningKey};
use tablesafe_proto::ErrorCode;

use crate::backup_api;
use crate::error::ApiError;
use crate::metrics::{self, Metrics};
use crate::roles::{self, KeyRoles, ACTIONS};
use crate::{ServeOptions, ServerState};

/// Largest request body the service accepts.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// The `x-ots-contenttype` of protobuf bodies (every Tablestore response and every error).
const PROTOBUF: &str = "protocol buffer";
/// Largest distance between the client's x-ots-date and the server clock.
const MAX_CLOCK_SKEW_MS: i64 = 15 * 60 * 1000;

/// What the handlers share: the state, the key roles, the metrics and the backup
/// service.
struct App {
    state: Arc<ServerState>,
    roles: KeyRoles,
    metrics: Arc<Metrics>,
    backup: Option<Arc<BackupService>>,
    body_timeout: std::time::Duration,
}

/// The router serving the Tablestore API with every key admin, and `/metrics`.
pub fn router(state: Arc<ServerState>) -> Router {
    router_with(state, ServeOptions::default())
}

/// The router serving the Tablestore API with `options`.
pub fn router_with(state: Arc<ServerState>, options: ServeOptions) -> Router {
    let app = Arc::new(App {
        state,
        roles: options.roles,
        metrics: options.metrics,
        backup: options.backup,
        body_timeout: options.body_timeout,
    });
    let router = Router::new();
    let router =
        if options.metrics_route { router.route("/metrics", get(serve_metrics).fallback(handle)) } else { router };
    router.fallback(handle).with_state(app)
}

/// A router answering only `GET /metrics` (404 elsewhere), for a metrics listener.
pub fn metrics_router(state: Arc<ServerState>, metrics: Arc<Metrics>) -> Router {
    metrics_router_with(state, metrics, None)
}

/// A router answering only `GET /metrics` (404 elsewhere), for a metrics
/// listener, with the figures of `backup` when there is a backup service.
pub fn metrics_router_with(
    state: Arc<ServerState>,
    metrics: Arc<Metrics>,
    backup: Option<Arc<BackupService>>,
) -> Router {
    let app = Arc::new(App { state, roles: KeyRoles::default(), metrics, backup, body_timeout: crate::BODY_TIMEOUT });
    Router::new().route("/metrics", get(serve_metrics)).with_state(app)
}

async fn serve_metrics(State(app): State<Arc<App>>) -> Response {
    // Engine figures cheap enough to take at every scrape (in-memory catalog).
    app.metrics.describe("tablesafe_tables", "Tables in the engine.");
    app.metrics.set_gauge("tablesafe_tables", &[], app.state.engine.list_tables().len() as f64);
    if let Some(backup) = &app.backup {
        set_backup_metrics(&app.metrics, &backup.metrics());
    }
    let mut response = Response::new(Body::from(app.metrics.render()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE));
    response
}

/// Sets the backup gauges from the service's figures. The figures are totals
/// since the job history began, so they are set (gauges), not added; a series
/// whose plan or table is gone keeps its last value until the process restarts.
fn set_backup_metrics(metrics: &Metrics, figures: &ServiceMetrics) {
    const LAST_SUCCESS: &str = "tablesafe_backup_last_success_timestamp_seconds";
    const LAST_RUN_FAILED: &str = "tablesafe_backup_plan_last_run_failed";
    const JOBS: &str = "tablesafe_backup_jobs_total";
    const DURATION: &str = "tablesafe_backup_job_duration_seconds_sum";
    const BYTES: &str = "tablesafe_backup_job_bytes_total";
    const ARCHIVE_LAG: &str = "tablesafe_archive_lag_seconds";
    metrics.describe(LAST_SUCCESS, "End of the last successful backup of each plan (seconds since the epoch).");
    metrics.describe(LAST_RUN_FAILED, "1 when a plan's newest finished backup run failed or was interrupted, else 0.");
    metrics.describe(JOBS, "Finished backup jobs in the job history, by kind and final state.");
    metrics.describe(DURATION, "Durations of the finished backup jobs added up, by kind and final state.");
    metrics.describe(BYTES, "Bytes written or read by the finished backup jobs added up, by kind and final state.");
    metrics.describe(ARCHIVE_LAG, "Seconds since each archiving plan's archive last reached its streams' end.");
    for (plan, last_success_ms) in &figures.last_success_ms {
        if let Some(ms) = last_success_ms {
            metrics.set_gauge(LAST_SUCCESS, &[("plan", plan)], *ms as f64 / 1000.0);
        }
    }
    for (plan, failed) in &figures.last_run_failed {
        metrics.set_gauge(LAST_RUN_FAILED, &[("plan", plan)], if *failed { 1.0 } else { 0.0 });
    }
    for job in &figures.jobs {
        let labels = [("kind", job.kind), ("state", job.state)];
        metrics.set_gauge(JOBS, &labels, job.count as f64);
        metrics.set_gauge(DURATION, &labels, job.seconds);
        metrics.set_gauge(BYTES, &labels, job.bytes as f64);
    }
    for (plan, lag) in &figures.archive_lag_seconds {
        metrics.set_gauge(ARCHIVE_LAG, &[("plan", plan)], *lag);
    }
}

/// The request body, at most [`MAX_BODY_BYTES`]: a declared length over the
/// limit is refused before a byte of the body is read; a body that ends before its
/// declared length is a client error (400), not a large one, and so is one that
/// stalls for `timeout`.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    timeout: std::time::Duration,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || ApiError::Wire {
        code: ErrorCode::RequestBodyTooLarge,
        message: format!("The request body exceeds the limit of {MAX_BODY_BYTES} bytes."),
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let read = match tokio::time::timeout(timeout, to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(read) => read,
        Err(_) => {
            return Err(ApiError::invalid(format!(
                "The request body did not arrive within {} seconds.",
                timeout.as_secs_f64()
            )))
        }
    };
    match (read, declared) {
        (Ok(bytes), _) => Ok(bytes),
        // Within the limit by its length, so the body broke off.
        (Err(_), Some(n)) => {
            Err(ApiError::invalid(format!("The request body ended before its Content-Length of {n} bytes.")))
        }
        (Err(_), None) => Err(too_large()),
    }
}

struct Verified {
    key: SigningKey,
    access_key_id: String,
}

async fn handle(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let state = &app.state;
    let _in_flight = app.metrics.request_started();
    let request_id = uuid::Uuid::new_v4().to_string();
    let action = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    let action_index = roles::action_index(&action);
    let started = std::time::Instant::now();
    let mut verified = None;
    let result = async {
        if method != Method::POST {
            return Err(ApiError::Wire {
                code: ErrorCode::MethodNotAllowed,
                message: format!("Method {method} is not allowed; use POST."),
            });
        }
        let body = read_body(&headers, body, app.body_timeout).await?;
        let header_list = header_pairs(&headers);
        let key = verified.insert(authenticate(state, &action, &header_list, &body)?);
        let unsupported = || ApiError::invalid(format!("Unsupported operation: {action}."));
        // An action without a permission class is never run, even with a handler.
        let permission = action_index.map(|i| ACTIONS[i].1).ok_or_else(unsupported)?;
        let role = app.roles.role_of(&key.access_key_id);
        roles::authorize(role, &key.access_key_id, &action, permission)?;
        if backup_api::is_backup_action(&action) {
            // Spawned, so that a panic is a JoinError (a 500) and a client that
            // goes away does not cancel a plan change or job start half-way.
            let (service, task_action) = (app.backup.clone(), action.clone());
            return tokio::spawn(async move { backup_api::serve(service, &task_action, &body, role).await })
                .await
                .unwrap_or_else(|_| Err(ApiError::internal("backup action panicked")))
                .map(|body| (body, backup_api::CONTENT_TYPE));
        }
        let handler = crate::api::handler_for(&action).ok_or_else(unsupported)?;
        let task_state = Arc::clone(state);
        let caller = crate::api::Caller { access_key_id: key.access_key_id.clone() };
        tokio::task::spawn_blocking(move || handler(&task_state, &caller, &body))
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("action panicked")))
            .map(|body| (body, PROTOBUF))
    }
    .await;
    let (status, body, code, content_type) = match result {
        Ok((body, content_type)) => (StatusCode::OK, body, metrics::OK, content_type),
        Err(error) => {
            let (code, message) = error.to_wire();
            tracing::debug!(action, code = code.as_str(), message, "request failed");
            let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = pb::Error { code: code.as_str().to_owned(), message: Some(message), access_denied_detail: None };
            (status, body.encode_to_vec(), code.as_str(), PROTOBUF)
        }
    };
    let elapsed = started.elapsed();
    app.metrics.observe_request(action_index, code, elapsed);
    // Every request at debug: at info a polling client (`--wait`) fills the log.
    tracing::debug!(action, status = status.as_u16(), elapsed_us = elapsed.as_micros() as u64, request_id, "request");
    respond(state, status, body, content_type, &action, verified.as_ref(), &request_id)
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_ascii_lowercase(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect()
}

fn required<'a>(headers: &'a [(String, String)], name: &str) -> Result<&'a str, ApiError> {
    sign::header_value(headers, name)
        .map(str::trim)
        .ok_or_else(|| ApiError::invalid(format!("Missing header: {name}.")))
}

fn authenticate(
    state: &ServerState,
    action: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Verified, ApiError> {
    let date = required(headers, "x-ots-date")?;
    required(headers, "x-ots-apiversion")?;
    let key_id = required(headers, "x-ots-accesskeyid")?;
    let instance = required(headers, "x-ots-instancename")?;
    let md5 = required(headers, "x-ots-contentmd5")?;
    let date_ms =
        sign::parse_ots_date(date).ok_or_else(|| ApiError::invalid(format!("Invalid date format: {date}.")))?;
    if (state.clock.now_millis() - date_ms).abs() > MAX_CLOCK_SKEW_MS {
        return Err(ApiError::auth("Mismatch between system time and x-ots-date."));
    }
    let access_key = state
        .keys
        .iter()
        .find(|k| k.id == key_id)
        .ok_or_else(|| ApiError::auth("The AccessKeyID is disabled or does not exist."))?;
    if instance != state.instance {
        return Err(ApiError::auth(format!("The instance name '{instance}' does not match this server's instance.")));
    }
    if md5 != sign::content_md5(body) {
        return Err(ApiError::auth("Mismatch between MD5 value of request body and x-ots-contentmd5 in header."));
    }
    let key = sign::verify_request(action, headers, &access_key.secret)?;
    Ok(Verified { key, access_key_id: access_key.id.clone() })
}

fn respond(
    state: &ServerState,
    status: StatusCode,
    body: Vec<u8>,
    content_type: &str,
    action: &str,
    verified: Option<&Verified>,
    request_id: &str,
) -> Response {
    let mut ots_headers = vec![
        ("x-ots-contentmd5".to_owned(), sign::content_md5(&body)),
        ("x-ots-contenttype".to_owned(), content_type.to_owned()),
        ("x-ots-date".to_owned(), sign::format_ots_date(state.clock.now_micros())),
        ("x-ots-requestid".to_owned(), request_id.to_owned()),
    ];
    // The signature covers every x-ots-* header; nothing may add one after this.
    let authorization =
        verified.map(|v| format!("OTS {}:{}", v.access_key_id, sign::response_signature(&v.key, &ots_headers, action)));
    if let Some(auth) = authorization {
        ots_headers.push(("authorization".to_owned(), auth));
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in ots_headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use tablesafe_backup::service::JobFigures;

    use super::*;

    #[test]
    fn backup_figures_become_gauges() {
        let metrics = Metrics::new();
        let figures = ServiceMetrics {
            last_success_ms: vec![("nightly".into(), Some(1_700_000_000_500)), ("never".into(), None)],
            last_run_failed: vec![("nightly".into(), false), ("never".into(), true)],
            jobs: vec![
                JobFigures { kind: "backup", state: "succeeded", count: 3, seconds: 12.5, bytes: 4096 },
                JobFigures { kind: "restore", state: "failed", count: 1, seconds: 0.25, bytes: 0 },
            ],
            archive_lag_seconds: vec![("orders".into(), 1.5)],
        };
        set_backup_metrics(&metrics, &figures);
        // A second scrape sets the same totals again; nothing doubles.
        set_backup_metrics(&metrics, &figures);
        let text = metrics.render();
        let expected = [
            "# TYPE tablesafe_archive_lag_seconds gauge",
            r#"tablesafe_archive_lag_seconds{plan="orders"} 1.5"#,
            r#"tablesafe_backup_job_bytes_total{kind="backup",state="succeeded"} 4096"#,
            r#"tablesafe_backup_job_duration_seconds_sum{kind="restore",state="failed"} 0.25"#,
            r#"tablesafe_backup_jobs_total{kind="backup",state="succeeded"} 3"#,
            r#"tablesafe_backup_jobs_total{kind="restore",state="failed"} 1"#,
            "# HELP tablesafe_backup_last_success_timestamp_seconds End of the last successful backup of each plan (seconds since the epoch).",
            r#"tablesafe_backup_last_success_timestamp_seconds{plan="nightly"} 1700000000.5"#,
            r#"tablesafe_backup_plan_last_run_failed{plan="nightly"} 0"#,
            r#"tablesafe_backup_plan_last_run_failed{plan="never"} 1"#,
        ];
        for line in expected {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(!text.contains(r#"last_success_timestamp_seconds{plan="never"}"#), "no success, no series:\n{text}");
    }
}
