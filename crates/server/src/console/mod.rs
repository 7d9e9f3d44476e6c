//! The web console (docs/ARCHITECTURE.md, "Web console"): HTML pages for tables,
//! backup plans, jobs, recovery timelines and repositories, served on a listener
//! of its own by `tablesafe serve`.
//!
//! It owns no state of the backups: every page reads, and every form acts,
//! through the same calls as the API. An action is authorized with
//! [`roles::authorize`] for the signed-in key's role, then run by the backup
//! API's own [`backup_api::serve`] (with its field checks and messages), so the
//! console can do no more than that key could over the API, and says no in the
//! same words. Invariants: every page but sign-in and the static files needs a
//! session ([`session`]); every POST carries the session's CSRF token; a page
//! shows only the controls the role may use, and a forged request for another
//! is refused with 403 all the same; pages are rendered on the server (maud),
//! charts as SVG ([`svg`]); the only script is `static/console.js`, for live
//! job progress and picking an instant on a timeline.

mod jobs;
mod plans;
mod repository;
mod session;
mod svg;
mod tables;
mod view;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequest, Request};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tablesafe_backup::service::BackupService;
use tablesafe_proto::ErrorCode;

use crate::listener::{self, ConnectionLimits, Peer};
use crate::roles::{self, KeyRoles};
use crate::{backup_api, ServerState};
use session::{Session, Sessions};

/// The console's default address (`tablesafe serve --console-listen`).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8801";

/// What every console page needs.
#[derive(Debug)]
pub(crate) struct Console {
    server: Arc<ServerState>,
    roles: KeyRoles,
    backup: Option<Arc<BackupService>>,
    sessions: Sessions,
    throttle: session::SignInThrottle,
    /// Restore jobs whose verify-restore the console will start when they end.
    pending_verifies: Mutex<HashSet<String>>,
    /// Archive lag samples for the charts page.
    lag: repository::LagSamples,
}

/// Serves the console on `listener` until `shutdown` completes: sign-in with the
/// keys of `server` (their roles from `roles`), pages over `server`'s engine and
/// the backup service `backup` (without one, the backup pages say backups are
/// not enabled).
pub async fn run_console(
    listener: tokio::net::TcpListener,
    server: Arc<ServerState>,
    roles: KeyRoles,
    backup: Option<Arc<BackupService>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let console = console(server, roles, backup);
    let sampler = tokio::spawn(repository::sample_lag(Arc::downgrade(&console)));
    let served = listener::serve(listener, router(console), ConnectionLimits::default(), shutdown).await;
    sampler.abort();
    served
}

/// The console's routes, as [`run_console`] serves them (without its archive
/// lag sampler): for tests that send requests in-process.
pub fn console_router(server: Arc<ServerState>, roles: KeyRoles, backup: Option<Arc<BackupService>>) -> Router {
    router(console(server, roles, backup))
}

fn console(server: Arc<ServerState>, roles: KeyRoles, backup: Option<Arc<BackupService>>) -> Arc<Console> {
    Arc::new(Console {
        server,
        roles,
        backup,
        sessions: Sessions::default(),
        throttle: session::SignInThrottle::default(),
        pending_verifies: Mutex::default(),
        lag: repository::LagSamples::default(),
    })
}

fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/tables") }))
        .route("/signin", get(sign_in_page).post(sign_in))
        .route("/signout", post(sign_out))
        .route("/tables", get(tables::list))
        .route("/tables/{name}", get(tables::timeline))
        .route("/restore", post(tables::restore))
        .route("/plans", get(plans::list).post(plans::create))
        .route("/plans/new", get(plans::new_form))
        .route("/plans/{name}", get(plans::show).post(plans::update))
        .route("/plans/{name}/edit", get(plans::edit_form))
        .route("/plans/{name}/run", post(plans::run))
        .route("/plans/{name}/delete", post(plans::delete))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/verify-restore", post(jobs::verify_restore))
        .route("/repository", get(repository::show))
        .route("/charts", get(repository::charts))
        .route("/static/console.css", get(|| async { asset("text/css", include_str!("static/console.css")) }))
        .route("/static/console.js", get(|| async { asset("text/javascript", include_str!("static/console.js")) }))
        .fallback(|| async { view::failure_page(None, StatusCode::NOT_FOUND, "Not found", "No such page.") })
        .with_state(console)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// A request with a live session; without one, the request is sent to sign in.
#[derive(Debug)]
pub(crate) struct Signed {
    token: String,
    session: Session,
}

impl FromRequestParts<Arc<Console>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Self, Self::Rejection> {
        match console.sessions.of_request(&parts.headers, console.server.clock.as_ref()) {
            Some((token, session)) => Ok(Signed { token, session }),
            None => Err(Redirect::to("/signin").into_response()),
        }
    }
}

/// The fields of a POSTed form; none when the body is not a form, so that such
/// a request is refused by the CSRF check (403) rather than by its media type.
#[derive(Debug)]
pub(crate) struct PostForm(HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for PostForm {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form = Form::<HashMap<String, String>>::from_request(request, state).await;
        Ok(PostForm(form.map(|Form(fields)| fields).unwrap_or_default()))
    }
}

/// A form field, trimmed; `None` when absent or empty.
pub(crate) fn field<'f>(form: &'f HashMap<String, String>, name: &str) -> Option<&'f str> {
    form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The 403 for a POST that does not carry the session's CSRF token or that
/// comes from another origin; `None` for one that does and does not.
pub(crate) fn refuse_post(signed: &Signed, headers: &HeaderMap, form: &HashMap<String, String>) -> Option<Response> {
    if session::same_origin(headers) && session::csrf_matches(&signed.session, form.get("csrf").map(String::as_str)) {
        return None;
    }
    Some(view::failure_page(
        Some(&signed.session),
        StatusCode::FORBIDDEN,
        "Refused",
        "The form's CSRF token is missing or wrong (or it was posted from another site). Reload the page and try again.",
    ))
}

/// An action the API refused or that failed, as the API reports it.
#[derive(Debug)]
pub(crate) struct Failure {
    code: ErrorCode,
    message: String,
}

impl Failure {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// What a page shows: the code and message the API gives.
    pub(crate) fn text(&self) -> String {
        format!("{}: {}", self.code.as_str(), self.message)
    }

    /// A page of its own for the failure.
    pub(crate) fn page(&self, session: &Session) -> Response {
        let title = if self.code == ErrorCode::AuthFailed { "This key may not do that" } else { "Failed" };
        view::failure_page(Some(session), self.status(), title, &self.text())
    }
}

/// Refuses `action` unless the session's role allows it, in the API's words.
pub(crate) fn authorize(session: &Session, action: &str) -> Result<(), Failure> {
    let permission = roles::permission(action).ok_or_else(|| Failure {
        code: ErrorCode::ParameterInvalid,
        message: format!("Unsupported operation: {action}."),
    })?;
    roles::authorize(session.role, &session.key_id, action, permission).map_err(|e| {
        let (code, message) = e.to_wire();
        Failure { code, message }
    })
}

impl Console {
    /// Runs backup action `action` with `request` as the session's key: the
    /// role's permission for the action first, then the backup API's own checks.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        session: &Session,
        action: &str,
        request: &impl Serialize,
    ) -> Result<T, Failure> {
        let wire = |e: crate::error::ApiError| {
            let (code, message) = e.to_wire();
            Failure { code, message }
        };
        authorize(session, action)?;
        let body = serde_json::to_vec(request).map_err(|e| Failure {
            code: ErrorCode::InternalServerError,
            message: format!("encoding {action}: {e}"),
        })?;
        let answer = backup_api::serve(self.backup.clone(), action, &body, session.role).await.map_err(wire)?;
        serde_json::from_slice(&answer)
            .map_err(|e| Failure { code: ErrorCode::InternalServerError, message: format!("decoding {action}: {e}") })
    }

    /// Marks restore job `id` as waiting for the verify-restore the console
    /// starts (`waiting`), or no longer.
    pub(crate) fn pending_verify(&self, id: &str, waiting: bool) {
        let mut pending = self.pending_verifies.lock().unwrap_or_else(|p| p.into_inner());
        if waiting {
            pending.insert(id.to_owned());
        } else {
            pending.remove(id);
        }
    }

    /// Whether restore job `id` still waits for the console to start its verify-restore.
    pub(crate) fn verify_pending(&self, id: &str) -> bool {
        self.pending_verifies.lock().unwrap_or_else(|p| p.into_inner()).contains(id)
    }

    /// Whether the session's role may run `action`: what decides which controls a page shows.
    pub(crate) fn may(session: &Session, action: &str) -> bool {
        roles::permission(action).is_some_and(|p| session.role.allows(p))
    }
}

async fn sign_in_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if console.sessions.of_request(&headers, console.server.clock.as_ref()).is_some() {
        return Redirect::to("/tables").into_response();
    }
    view::sign_in(StatusCode::OK, None)
}

async fn sign_in(
    State(console): State<Arc<Console>>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    PostForm(form): PostForm,
) -> Response {
    if !session::same_origin(&headers) {
        return view::sign_in(StatusCode::FORBIDDEN, Some("The sign-in form was posted from another site."));
    }
    let from = peer.map(|Extension(Peer(address))| address.ip());
    let server = &console.server;
    let now = server.clock.now_millis();
    if let Err(wait_ms) = console.throttle.admit(from, now) {
        let seconds = (wait_ms + 999) / 1000;
        tracing::warn!(from = ?from, seconds, "console sign-in refused: too many failed sign-ins");
        let message = format!("Too many failed sign-ins from this address; try again in {seconds} s.");
        let mut refused = view::sign_in(StatusCode::TOO_MANY_REQUESTS, Some(&message));
        refused.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        return refused;
    }
    let id = field(&form, "access_key_id").unwrap_or_default();
    let secret = form.get("access_key_secret").map(String::as_str).unwrap_or_default();
    match console.sessions.sign_in(&server.keys, &console.roles, server.clock.as_ref(), id, secret) {
        Some((token, session)) => {
            console.throttle.succeeded(from);
            tracing::info!(key = session.key_id, role = %session.role, "console sign-in");
            ([(header::SET_COOKIE, session::set_cookie(&token))], Redirect::to("/tables")).into_response()
        }
        None => {
            console.throttle.failed(from, now);
            tracing::warn!(key = id, from = ?from, "console sign-in refused");
            view::sign_in(StatusCode::UNAUTHORIZED, Some("wrong access key id or secret"))
        }
    }
}

async fn sign_out(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    PostForm(form): PostForm,
) -> Response {
    if let Some(refused) = refuse_post(&signed, &headers, &form) {
        return refused;
    }
    console.sessions.sign_out(&signed.token);
    ([(header::SET_COOKIE, session::clear_cookie())], Redirect::to("/signin")).into_response()
}
