//! A real TableSafe server in-process for the client's tests: a RocksDB engine in a
//! temporary directory behind `tablesafe_server::run` on a loopback port, plus row
//! and key helpers. Dropping the [`TestServer`] stops the server.
//! [`TestServer::start_with_backup`] also runs the backup service behind the
//! backup API, with repositories opened by [`BACKUP_PASSWORD`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tablesafe_backup::service::{BackupService, ServiceConfig};
use tablesafe_client::model::{PkValue, PrimaryKey};
use tablesafe_client::{Client, ClientBuilder, RetryPolicy};
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_repo::Unlock;
use tablesafe_server::{AccessKey, KeyRoles, Role, ServeOptions, ServerState};

pub const KEY_ID: &str = "clientTestKey";
pub const SECRET: &str = "clientTestSecret";
pub const INSTANCE: &str = "clienttest";
/// The password of the repositories of a server with the backup service.
pub const BACKUP_PASSWORD: &str = "client test repository password";

pub struct TestServer {
    pub addr: SocketAddr,
    pub endpoint: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::start_on(listener).await
    }

    /// Serves on an already bound listener (tests that pick the port first).
    pub async fn start_on(listener: tokio::net::TcpListener) -> TestServer {
        TestServer::start_with(listener, &[], false).await
    }

    /// A server running the backup service: the engine in `<data dir>/engine`, as
    /// `tablesafe serve` has it, relative destinations and the plan file in the
    /// data directory, and no default plan.
    pub async fn start_with_backup() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::start_with(listener, &[], true).await
    }

    /// A server that also accepts the `(id, secret, role)` keys (the test key stays
    /// admin).
    pub async fn start_with_keys(keys: &[(&str, &str, Role)]) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::start_with(listener, keys, false).await
    }

    async fn start_with(listener: tokio::net::TcpListener, extra: &[(&str, &str, Role)], backup: bool) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let options = EngineOptions { sync_writes: false, ..Default::default() };
        let engine_dir = if backup { dir.path().join("engine") } else { dir.path().to_owned() };
        let engine = Arc::new(Engine::open(&engine_dir, options, Arc::clone(&clock)).unwrap());
        let backup = match backup {
            false => None,
            true => Some(
                BackupService::start(ServiceConfig {
                    engine: Arc::clone(&engine),
                    data_dir: dir.path().to_owned(),
                    plan_file: dir.path().join("backup-plans.toml"),
                    unlock: Unlock { password: Some(BACKUP_PASSWORD.into()), identities: vec![] },
                    default_plan: false,
                    destinations: Default::default(),
                    priority: Default::default(),
                })
                .await
                .unwrap(),
            ),
        };
        let state = Arc::new(ServerState {
            engine,
            instance: INSTANCE.into(),
            keys: std::iter::once(AccessKey { id: KEY_ID.into(), secret: SECRET.into() })
                .chain(extra.iter().map(|(id, secret, _)| AccessKey { id: (*id).into(), secret: (*secret).into() }))
                .collect(),
            clock,
        });
        let options = ServeOptions {
            roles: KeyRoles::new(extra.iter().map(|(id, _, role)| ((*id).to_owned(), *role))),
            backup,
            ..ServeOptions::default()
        };
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tablesafe_server::run_with(listener, state, options, async move {
            let _ = rx.await;
        }));
        TestServer { addr, endpoint: format!("http://{addr}"), shutdown: Some(tx), dir }
    }

    /// The data directory (relative backup destinations are inside it).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A client without retries (tests see every failure as it happens).
    pub fn client(&self) -> Client {
        self.builder().build().unwrap()
    }

    pub fn builder(&self) -> ClientBuilder {
        builder_for(&self.endpoint)
    }

    /// A client without retries signing with another key.
    pub fn client_as(&self, key_id: &str, secret: &str) -> Client {
        Client::builder(&self.endpoint, INSTANCE, key_id, secret)
            .retry_policy(RetryPolicy::none())
            .connect_timeout(Duration::from_secs(5))
            .request_timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A builder for `endpoint` with the test key, no retries and short timeouts.
pub fn builder_for(endpoint: &str) -> ClientBuilder {
    Client::builder(endpoint, INSTANCE, KEY_ID, SECRET)
        .retry_policy(RetryPolicy::none())
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(30))
}

/// A retry policy with tiny sleeps, for retry tests.
pub fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy { max_attempts, base_delay: Duration::from_millis(2), max_delay: Duration::from_millis(20) }
}

static NAMES: AtomicUsize = AtomicUsize::new(0);

/// A fresh table name.
pub fn table_name(prefix: &str) -> String {
    format!("{prefix}_{}", NAMES.fetch_add(1, Ordering::Relaxed))
}

/// A one-column INTEGER key.
pub fn int_key(name: &str, value: i64) -> PrimaryKey {
    PrimaryKey::new([(name, PkValue::Integer(value))])
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    SystemClock.now_millis()
}
