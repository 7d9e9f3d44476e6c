//! Building a [`Client`]: endpoint and credentials, timeouts, retry policy, STS token,
//! user agent and clock ([`ClientBuilder`], [`RetryPolicy`]).
//!
//! Invariants: the endpoint is an `http`/`https` URL without query or fragment (the
//! action is appended as the last path segment, so a path prefix is kept, as the
//! Python SDK does); the secret is never shown by `Debug`.

use std::sync::Arc;
use std::time::Duration;

use tablesafe_common::{Clock, SystemClock};

use crate::error::ClientError;
use crate::transport::Transport;
use crate::Client;

/// Default time allowed to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for one attempt of a call, from sending to the last byte of
/// the response (the Python SDK's socket timeout is 50 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How often and how patiently a failed call is sent again.
///
/// Attempt `n` (counting from 1) that fails with a retryable error is followed by a
/// sleep drawn uniformly from `[0, min(max_delay, base_delay × 2^(n-1))]` ("full
/// jitter"), so that many clients that failed together do not retry together. Which
/// errors are retryable is described in the crate documentation ("Retries").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first; 1 disables retries. 0 counts as 1.
    pub max_attempts: u32,
    /// Upper bound of the first sleep.
    pub base_delay: Duration,
    /// Upper bound of every sleep.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The upper bound of the sleep after failed attempt `attempt` (1-based).
    pub fn delay_cap(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

impl Default for RetryPolicy {
    /// 10 attempts, first sleep up to 100 ms, sleeps capped at 3 s (the Python SDK
    /// caps at 3 s too); a call gives up after about 10 s of backoff on average.
    fn default() -> Self {
        RetryPolicy { max_attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(3) }
    }
}

/// Builds a [`Client`] with non-default settings; see [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    pub(crate) endpoint: String,
    pub(crate) instance: String,
    pub(crate) access_key_id: String,
    pub(crate) access_key_secret: String,
    pub(crate) sts_token: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) user_agent: String,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("instance", &self.instance)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("sts_token", &self.sts_token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("clock", &self.clock)
            .finish()
    }
}

impl ClientBuilder {
    pub(crate) fn new(endpoint: &str, instance: &str, access_key_id: &str, access_key_secret: &str) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.to_owned(),
            instance: instance.to_owned(),
            access_key_id: access_key_id.to_owned(),
            access_key_secret: access_key_secret.to_owned(),
            sts_token: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
            user_agent: concat!("tablesafe-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Time allowed to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one attempt, from sending to the end of the response
    /// (default 60 s). Retries get a fresh timeout each.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Retry policy (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// An STS security token, sent (and signed) as `x-ots-ststoken`.
    pub fn sts_token(mut self, token: impl Into<String>) -> Self {
        self.sts_token = Some(token.into());
        self
    }

    /// The `User-Agent` header (default `tablesafe-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The clock that dates requests and judges the age of responses (default: the
    /// system clock). Requests dated more than 15 minutes from the server's clock are
    /// refused by the server, and responses more than 15 minutes from this clock are
    /// refused by the client.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the client. Fails on an endpoint that is not an `http`/`https` URL, on
    /// empty credentials or instance, and when the HTTP client cannot be set up.
    pub fn build(self) -> Result<Client, ClientError> {
        Ok(Client::from_transport(Transport::new(self)?))
    }
}
