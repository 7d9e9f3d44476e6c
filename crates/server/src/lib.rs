//! TableSafe's server: the Tablestore wire protocol over HTTP on top of the engine.
//!
//! Shape (after mini-redis): [`run`] takes a bound listener and a shutdown future, so
//! tests bind port 0; `http.rs` authenticates, authorizes and frames requests and
//! serves `GET /metrics`; `api/` holds one module per action family;
//! `backup_api.rs` serves the backup API's JSON actions; `error.rs` is
//! the single mapping from failures to Tablestore error codes; `keys.rs` finds or
//! creates the access keys; `roles.rs` says which role may run which action;
//! `metrics.rs` is the registry behind `/metrics`; `listener.rs` accepts
//! connections within their limits; `console/` is the web console on a
//! listener of its own ([`run_console`]).

mod api;
mod backup_api;
mod console;
pub mod error;
pub mod http;
pub mod keys;
mod listener;
pub mod metrics;
pub mod roles;

use std::future::Future;
use std::sync::Arc;

use tablesafe_common::Clock;
use tablesafe_engine::Engine;

pub use console::{console_router, run_console, DEFAULT_ADDRESS as CONSOLE_ADDRESS};
pub use keys::{AccessKey, KeyEntry, KeySource};
pub use listener::{ConnectionLimits, HEADER_TIMEOUT, MAX_CONNECTIONS};
pub use metrics::Metrics;
pub use roles::{KeyRoles, Permission, Role};

/// What every request needs: the engine, the instance name and the accepted keys.
#[derive(Debug)]
pub struct ServerState {
    /// The storage engine.
    pub engine: Arc<Engine>,
    /// The instance name clients must send in `x-ots-instancename`.
    pub instance: String,
    /// Accepted access keys.
    pub keys: Vec<AccessKey>,
    /// Time source for date checks and response dates.
    pub clock: Arc<dyn Clock>,
}

/// How the API is served beyond [`ServerState`]: the role of each key and where
/// requests are counted.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The role of each access key; keys not listed are `admin`.
    pub roles: KeyRoles,
    /// The registry requests are recorded in and `/metrics` renders; share it to
    /// add gauges ([`Metrics::set_gauge`]).
    pub metrics: Arc<Metrics>,
    /// Whether the API listener also answers `GET /metrics` (unauthenticated);
    /// `false` when metrics have their own listener ([`run_metrics`]).
    pub metrics_route: bool,
    /// The backup service behind the backup API actions (docs/API.md, "Backup
    /// API"); `None` answers them with an error saying backups are not enabled.
    pub backup: Option<Arc<tablesafe_backup::service::BackupService>>,
    /// How long a request body may take to arrive once its headers have: a
    /// client that stalls mid-body gets 400 and its connection back, rather
    /// than holding a connection and a task for as long as it likes.
    pub body_timeout: std::time::Duration,
    /// Connections at once, and how long headers and idle connections may take.
    pub connections: ConnectionLimits,
}

/// The default [`ServeOptions::body_timeout`]: 5 MB at 170 KB/s.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for ServeOptions {
    /// Every key admin, a fresh registry, `/metrics` beside the API.
    fn default() -> Self {
        ServeOptions {
            roles: KeyRoles::default(),
            metrics: Arc::new(Metrics::new()),
            metrics_route: true,
            backup: None,
            body_timeout: BODY_TIMEOUT,
            connections: ConnectionLimits::default(),
        }
    }
}

/// Serves the Tablestore API on `listener` with every key admin (see [`run_with`])
/// until `shutdown` completes, then lets in-flight requests finish before returning.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, ServeOptions::default(), shutdown).await
}

/// Serves the Tablestore API on `listener` with `options` until `shutdown`
/// completes, then lets in-flight requests finish before returning.
pub async fn run_with(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = options.connections;
    listener::serve(listener, http::router_with(state, options), limits, shutdown).await
}

/// Serves only `GET /metrics` on `listener` (with the default connection limits)
/// until `shutdown` completes, with the figures of `backup` when the server runs
/// a backup service.
pub async fn run_metrics(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    metrics: Arc<Metrics>,
    backup: Option<Arc<tablesafe_backup::service::BackupService>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = http::metrics_router_with(state, metrics, backup);
    listener::serve(listener, router, ConnectionLimits::default(), shutdown).await
}
