//! TableSafe's server: the Tablestore wire protocol over HTTP on top of the engine.
//!
//! Shape (after mini-redis): [`run`] takes a bound listener and a shutdown future, so
//! tests bind port 0; `http.rs` authenticates and frames requests; `api/` holds one
//! module per action family; `error.rs` is the single mapping from failures to
//! Tablestore error codes; `keys.rs` finds or creates the access keys.

mod api;
pub mod error;
pub mod http;
pub mod keys;

use std::future::Future;
use std::sync::Arc;

use tablesafe_common::Clock;
use tablesafe_engine::Engine;

pub use keys::{AccessKey, KeySource};

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

/// Serves the Tablestore API on `listener` until `shutdown` completes, then lets
/// in-flight requests finish before returning.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown).await
}
