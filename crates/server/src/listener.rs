//! Accepting connections: how many the server holds at once, and how long a
//! client may take to send a request's headers.
//!
//! Invariants: at most `max_connections` connections are open; when that many
//! are, the server stops accepting (new clients wait in the listen backlog)
//! until one closes, so a flood of idle sockets cannot take every file
//! descriptor. A connection whose next request's headers are not complete
//! `header_timeout` after it opened or after its previous response (hyper's
//! header timer, which runs from the moment the connection waits to read) is
//! closed: that bounds both a slow sender and an idle socket.
//! On shutdown no new connection is accepted, every open one finishes the
//! request in flight and closes, and `serve` returns when all have.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt as _;

/// The limits of [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a connection may take, from its start or its previous
    /// response, to send the next request's headers; also how long it may idle.
    pub header_timeout: Duration,
}

/// Default [`ConnectionLimits::max_connections`]: far above what the SDKs open
/// (a connection pool of 50 per client), far below the usual 1,024 descriptors
/// less the engine's files.
pub const MAX_CONNECTIONS: usize = 512;
/// Default [`ConnectionLimits::header_timeout`] (hyper's own default): a pooled
/// SDK connection idle for longer is closed, and the SDKs open a new one.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { max_connections: MAX_CONNECTIONS, header_timeout: HEADER_TIMEOUT }
    }
}

/// The address a request's connection came from, in its extensions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub std::net::SocketAddr);

/// Serves `router` on `listener` within `limits` until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stopping, _) = watch::channel(false);
    // Every connection task holds a receiver; `closed()` resolves when all are gone.
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Every request knows the address it came from (the console's sign-in throttle).
        let service =
            TowerToHyperService::new(router.clone().map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(Peer(peer));
                request
            }));
        let mut stop = stopping.subscribe();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                        break;
                    }
                    changed = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        if changed.is_err() {
                            // The accept loop is gone; the shutdown is under way anyway.
                            let _ = connection.as_mut().await;
                            break;
                        }
                    }
                }
            }
            drop(permit);
            drop(open);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// Accept errors are the machine's (out of descriptors, out of memory), not a
/// client's: log them and give the machine a moment rather than spin.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(%error, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
