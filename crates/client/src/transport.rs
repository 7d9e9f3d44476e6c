//! One call on the wire: sign the request (V2, as the Python SDK does), POST it to
//! `<endpoint>/<Action>`, verify the response, decode it, and retry by the rules of
//! `retry.rs`.
//!
//! Invariants:
//! - No response content reaches a caller before it is verified: a 2xx response must
//!   carry `x-ots-contentmd5` equal to the MD5 of the body, an `authorization` header
//!   `OTS <our key id>:<signature>` whose signature (HMAC-SHA1 with the secret over
//!   every `x-ots-*` response header and the action) verifies, and an `x-ots-date`
//!   within 15 minutes of the local clock (so that an old signed response cannot be
//!   replayed). An error response is checked the same way when it carries a
//!   signature or an MD5; without a signature it is reported, marked unsigned (the
//!   server cannot sign answers to requests it did not authenticate).
//! - The body is encoded once; every attempt is signed afresh (new date).
//! - A response body larger than [`MAX_RESPONSE_BYTES`] is refused while reading, so a
//!   broken or hostile endpoint cannot exhaust memory.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use prost::Message;
use tablesafe_common::Clock;
use tablesafe_proto::pb;
use tablesafe_proto::sign::{self, SigningKey};

use crate::config::{ClientBuilder, RetryPolicy};
use crate::error::{ClientError, ServiceCode, TransportKind};
use crate::retry::{self, Action};

/// The API version every request declares.
const API_VERSION: &str = "2015-12-31";
/// Largest response body accepted (GetRange pages are at most 4 MB of rows).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Largest distance between a signed response's `x-ots-date` and the local clock.
const MAX_RESPONSE_SKEW_MS: i64 = 15 * 60 * 1000;

/// The HTTP client, endpoint and credentials shared by all clones of a `Client`.
pub(crate) struct Transport {
    http: reqwest::Client,
    /// Endpoint without a trailing slash; the action is appended as `/<Action>`.
    base_url: String,
    instance: String,
    access_key_id: String,
    access_key_secret: String,
    /// The response signature key (the secret, for V2 requests).
    response_key: SigningKey,
    sts_token: Option<String>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.base_url)
            .field("instance", &self.instance)
            .field("access_key_id", &self.access_key_id)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A response as received, before verification.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// Every `x-ots-*` header, names lowercased.
    pub(crate) ots_headers: Vec<(String, String)>,
    pub(crate) authorization: Option<String>,
    pub(crate) body: Bytes,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        sign::header_value(&self.ots_headers, name)
    }

    fn request_id(&self) -> Option<String> {
        self.header("x-ots-requestid").map(str::to_owned)
    }
}

fn config_error(detail: impl Into<String>) -> ClientError {
    ClientError::Config { detail: detail.into() }
}

impl Transport {
    pub(crate) fn new(builder: ClientBuilder) -> Result<Transport, ClientError> {
        let url = reqwest::Url::parse(&builder.endpoint)
            .map_err(|e| config_error(format!("endpoint {:?} is not a URL: {e}", builder.endpoint)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(config_error(format!("endpoint {:?} must be an http:// or https:// URL", builder.endpoint)));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(config_error(format!("endpoint {:?} must not have a query or fragment", builder.endpoint)));
        }
        for (what, value) in [
            ("instance name", &builder.instance),
            ("access key id", &builder.access_key_id),
            ("access key secret", &builder.access_key_secret),
        ] {
            if value.trim().is_empty() {
                return Err(config_error(format!("the {what} is empty")));
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(builder.connect_timeout)
            .timeout(builder.request_timeout)
            .user_agent(builder.user_agent.clone())
            // A redirect would carry signed headers to another URL; the SDKs treat a
            // 3xx as an error ("endpoint moved"), and so does this client.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| config_error(format!("HTTP client setup failed: {e}")))?;
        Ok(Transport {
            http,
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            instance: builder.instance,
            access_key_id: builder.access_key_id,
            response_key: SigningKey::V2(builder.access_key_secret.clone()),
            access_key_secret: builder.access_key_secret,
            sts_token: builder.sts_token,
            retry: builder.retry,
            clock: builder.clock,
        })
    }

    /// The endpoint as given (without a trailing slash).
    pub(crate) fn endpoint(&self) -> &str {
        &self.base_url
    }

    /// The instance name sent with every request.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// Sends `request` as `action`, with retries, and decodes the verified response.
    pub(crate) async fn call<Req, Resp>(&self, action: Action, request: &Req) -> Result<Resp, ClientError>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let bytes = self.call_bytes(action, Bytes::from(request.encode_to_vec())).await?;
        Resp::decode(bytes).map_err(|e| ClientError::decode(action.name, "response message", e))
    }

    /// Sends an encoded body as `action`, with retries; `Ok` is the verified body of
    /// a 2xx response (the caller decodes it). Error responses decode as `pb::Error`
    /// whatever the action's body format.
    pub(crate) async fn call_bytes(&self, action: Action, body: Bytes) -> Result<Bytes, ClientError> {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1u32;
        let first_started = std::time::Instant::now();
        loop {
            let started = std::time::Instant::now();
            let error = match self.attempt(action, body.clone()).await {
                Ok(bytes) => {
                    tracing::debug!(action = action.name, attempt, elapsed_us = elapsed_us(started), "call succeeded");
                    if attempt > 1 {
                        tracing::info!(action = action.name, attempts = attempt, "call succeeded after retries");
                    }
                    return Ok(bytes);
                }
                Err(error) => error,
            };
            if attempt >= max_attempts || !retry::is_retryable(&error, action.idempotent) {
                // Retries are logged at debug one by one; a caller that reports the
                // error sees one summary line, not one per attempt.
                if attempt > 1 {
                    tracing::warn!(
                        action = action.name,
                        attempts = attempt,
                        elapsed_ms = elapsed_us(first_started) / 1000,
                        error = %error,
                        "call failed after retries"
                    );
                } else {
                    tracing::debug!(action = action.name, attempt, error = %error, "call failed");
                }
                return Err(error);
            }
            let delay = retry::backoff(&self.retry, attempt);
            tracing::debug!(
                action = action.name,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One signed exchange; `Ok` is a verified 2xx body.
    async fn attempt(&self, action: Action, body: Bytes) -> Result<Bytes, ClientError> {
        let headers = self.signed_headers(action.name, &body);
        let mut request = self.http.post(format!("{}/{}", self.base_url, action.name)).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| transport_error(action, e))?;
        let raw = read_response(action, response).await?;
        let signed = self.verify(action, &raw)?;
        if (200..300).contains(&raw.status) {
            return Ok(raw.body);
        }
        Err(error_from_response(action, &raw, signed))
    }

    /// The headers of a V2-signed request (reference 2.1). The date carries
    /// milliseconds, as the Node and Java SDKs send it.
    fn signed_headers(&self, action: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let micros = self.clock.now_micros();
        let date = sign::format_ots_date(micros - micros.rem_euclid(1000));
        // format_ots_date writes six fraction digits; keep the first three.
        let date = match date.len().checked_sub(4) {
            Some(cut) if date.is_char_boundary(cut) => format!("{}Z", &date[..cut]),
            _ => date,
        };
        let mut headers = vec![
            ("x-ots-date", date),
            ("x-ots-apiversion", API_VERSION.to_owned()),
            ("x-ots-accesskeyid", self.access_key_id.clone()),
            ("x-ots-instancename", self.instance.clone()),
            ("x-ots-contentmd5", sign::content_md5(body)),
        ];
        if let Some(token) = &self.sts_token {
            headers.push(("x-ots-ststoken", token.clone()));
        }
        let pairs: Vec<(String, String)> = headers.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
        let signature = sign::v2_request_signature(&self.access_key_secret, action, &pairs);
        headers.push((sign::HEADER_SIGNATURE, signature));
        headers
    }

    /// Checks MD5, signature and date (module doc); returns whether the response was signed.
    pub(crate) fn verify(&self, action: Action, raw: &RawResponse) -> Result<bool, ClientError> {
        let success = (200..300).contains(&raw.status);
        let fail =
            |detail: String| ClientError::Integrity { action: action.name, detail, request_id: raw.request_id() };
        match raw.header("x-ots-contentmd5") {
            Some(md5) if md5.trim() != sign::content_md5(&raw.body) => {
                return Err(fail("x-ots-contentmd5 does not match the body".into()))
            }
            None if success => return Err(fail("x-ots-contentmd5 is missing".into())),
            _ => {}
        }
        let Some(authorization) = raw.authorization.as_deref() else {
            return if success { Err(fail("the authorization header is missing".into())) } else { Ok(false) };
        };
        let Some((key_id, signature)) = authorization.trim().strip_prefix("OTS ").and_then(|s| s.rsplit_once(':'))
        else {
            return Err(fail("the authorization header is not `OTS <id>:<signature>`".into()));
        };
        if key_id != self.access_key_id {
            return Err(fail(format!("the response is signed for access key {key_id:?}")));
        }
        let expected = sign::response_signature(&self.response_key, &raw.ots_headers, action.name);
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(fail("the response signature does not verify".into()));
        }
        let Some(date) = raw.header("x-ots-date") else { return Err(fail("x-ots-date is missing".into())) };
        let Some(date_ms) = sign::parse_ots_date(date) else {
            return Err(fail(format!("x-ots-date {date:?} does not parse")));
        };
        if (self.clock.now_millis() - date_ms).abs() > MAX_RESPONSE_SKEW_MS {
            return Err(fail(format!("x-ots-date {date} is more than 15 minutes from the local clock")));
        }
        Ok(true)
    }
}

fn elapsed_us(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn transport_error(action: Action, source: reqwest::Error) -> ClientError {
    // A connect timeout is both; it is a connect failure (nothing was sent).
    let kind = if source.is_connect() {
        TransportKind::Connect
    } else if source.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Other
    };
    ClientError::Transport { action: action.name, kind, source }
}

async fn read_response(action: Action, mut response: reqwest::Response) -> Result<RawResponse, ClientError> {
    let status = response.status().as_u16();
    let text = |v: &reqwest::header::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let ots_headers = response
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ots-"))
        .map(|(name, value)| (name.as_str().to_owned(), text(value)))
        .collect();
    let authorization = response.headers().get(reqwest::header::AUTHORIZATION).map(text);
    let too_large =
        || ClientError::decode(action.name, "response body", format!("larger than {MAX_RESPONSE_BYTES} bytes"));
    let declared = response.content_length().unwrap_or(0);
    if declared > MAX_RESPONSE_BYTES as u64 {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(action, e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse { status, ots_headers, authorization, body: body.freeze() })
}

/// The error of a verified non-2xx response.
fn error_from_response(action: Action, raw: &RawResponse, signed: bool) -> ClientError {
    match pb::Error::decode(raw.body.clone()) {
        Ok(error) if !error.code.is_empty() => ClientError::Service {
            action: action.name,
            code: ServiceCode::from_wire(&error.code),
            message: error.message.unwrap_or_default(),
            http_status: raw.status,
            request_id: raw.request_id(),
            signed,
        },
        _ => ClientError::Http { action: action.name, http_status: raw.status, request_id: raw.request_id() },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_common::ManualClock;

    use super::*;
    use crate::retry::GET_ROW;

    const NOW_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn transport() -> Transport {
        let clock = ManualClock::new(NOW_MS);
        Transport::new(ClientBuilder::new("http://127.0.0.1:1/prefix/", "inst", "kid", "secret").clock(clock)).unwrap()
    }

    fn signed(status: u16, body: &[u8], date_ms: i64) -> RawResponse {
        let ots_headers = vec![
            ("x-ots-contentmd5".to_owned(), sign::content_md5(body)),
            ("x-ots-contenttype".to_owned(), "protocol buffer".to_owned()),
            ("x-ots-date".to_owned(), sign::format_ots_date(date_ms * 1000)),
            ("x-ots-requestid".to_owned(), "rid".to_owned()),
        ];
        let signature = sign::response_signature(&SigningKey::V2("secret".into()), &ots_headers, "GetRow");
        RawResponse {
            status,
            ots_headers,
            authorization: Some(format!("OTS kid:{signature}")),
            body: Bytes::copy_from_slice(body),
        }
    }

    fn integrity_detail(result: Result<bool, ClientError>) -> String {
        match result {
            Err(ClientError::Integrity { detail, .. }) => detail,
            other => panic!("expected an integrity error, got {other:?}"),
        }
    }

    #[test]
    fn the_endpoint_keeps_its_path_prefix_and_rejects_non_http_urls() {
        assert_eq!(transport().endpoint(), "http://127.0.0.1:1/prefix");
        for bad in ["127.0.0.1:8800", "ftp://h/", "http://h/?q=1", ""] {
            let err = Transport::new(ClientBuilder::new(bad, "i", "k", "s")).unwrap_err();
            assert!(matches!(err, ClientError::Config { .. }), "{bad}: {err}");
        }
        let err = Transport::new(ClientBuilder::new("http://h", "i", "k", " ")).unwrap_err();
        assert!(err.to_string().contains("secret is empty"), "{err}");
    }

    #[test]
    fn requests_are_signed_so_that_the_server_check_accepts_them() {
        let t = transport();
        let headers = t.signed_headers("GetRow", b"body");
        let pairs: Vec<(String, String)> = headers.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
        assert_eq!(sign::header_value(&pairs, "x-ots-date"), Some("2026-01-01T00:00:00.000Z"));
        assert!(sign::verify_request("GetRow", &pairs, "secret").is_ok());
        assert!(sign::verify_request("GetRow", &pairs, "other").is_err());
        assert!(sign::verify_request("PutRow", &pairs, "secret").is_err());
    }

    #[test]
    fn a_correctly_signed_response_verifies() {
        assert!(transport().verify(GET_ROW, &signed(200, b"abc", NOW_MS)).unwrap());
    }

    #[test]
    fn tampering_with_any_signed_part_is_detected() {
        let t = transport();
        let mut raw = signed(200, b"abc", NOW_MS);
        raw.body = Bytes::from_static(b"abd");
        assert!(integrity_detail(t.verify(GET_ROW, &raw)).contains("contentmd5"));
        raw.ots_headers[0].1 = sign::content_md5(b"abd");
        assert!(integrity_detail(t.verify(GET_ROW, &raw)).contains("signature"));
        let mut raw = signed(200, b"abc", NOW_MS);
        raw.ots_headers[3].1 = "other".into();
        assert!(integrity_detail(t.verify(GET_ROW, &raw)).contains("signature"));
        let mut raw = signed(200, b"abc", NOW_MS);
        raw.authorization = raw.authorization.map(|a| a.replace("OTS kid:", "OTS other:"));
        assert!(integrity_detail(t.verify(GET_ROW, &raw)).contains("access key"));
        let mut raw = signed(200, b"abc", NOW_MS);
        raw.authorization = None;
        assert!(integrity_detail(t.verify(GET_ROW, &raw)).contains("missing"));
    }

    #[test]
    fn an_old_signed_response_is_not_accepted() {
        let raw = signed(200, b"abc", NOW_MS - 16 * 60 * 1000);
        assert!(integrity_detail(transport().verify(GET_ROW, &raw)).contains("15 minutes"));
    }

    #[test]
    fn unsigned_errors_are_reported_as_unsigned_service_errors() {
        let body = pb::Error { code: "OTSAuthFailed".into(), message: Some("no".into()), access_denied_detail: None }
            .encode_to_vec();
        let mut raw = signed(403, &body, NOW_MS);
        raw.authorization = None;
        let signed_flag = transport().verify(GET_ROW, &raw).unwrap();
        assert!(!signed_flag);
        match error_from_response(GET_ROW, &raw, signed_flag) {
            ClientError::Service { code, http_status: 403, signed: false, request_id: Some(rid), .. } => {
                assert_eq!(code, tablesafe_proto::ErrorCode::AuthFailed);
                assert_eq!(rid, "rid");
            }
            other => panic!("{other:?}"),
        }
        let empty = signed(502, b"", NOW_MS);
        assert!(matches!(error_from_response(GET_ROW, &empty, true), ClientError::Http { http_status: 502, .. }));
    }
}
