//! A signed in-process client for the router, over a real engine in a temp dir,
//! with keys of any roles and the router's metrics registry at hand.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_proto::{pb, sign};
use tablesafe_server::http::router_with;
use tablesafe_server::{AccessKey, KeyRoles, Metrics, Role, ServeOptions, ServerState};
use tower::ServiceExt;

pub const KEY_ID: &str = "testKeyId";
pub const SECRET: &str = "testSecret";
pub const INSTANCE: &str = "itest";

pub struct Harness {
    pub state: Arc<ServerState>,
    pub metrics: Arc<Metrics>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The decoded error (code, message) of a non-2xx reply.
    pub fn error(&self) -> (String, String) {
        let e = pb::Error::decode(self.body.as_slice()).expect("error body decodes");
        (e.code, e.message.unwrap_or_default())
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_keys(&[(KEY_ID, SECRET, Role::Admin)])
    }

    /// A server accepting `(id, secret, role)` keys.
    pub fn with_keys(keys: &[(&str, &str, Role)]) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let engine =
            Engine::open(dir.path(), EngineOptions { sync_writes: false, ..Default::default() }, Arc::clone(&clock))
                .unwrap();
        let state = Arc::new(ServerState {
            engine: Arc::new(engine),
            instance: INSTANCE.into(),
            keys: keys.iter().map(|(id, secret, _)| AccessKey { id: (*id).into(), secret: (*secret).into() }).collect(),
            clock,
        });
        let metrics = Arc::new(Metrics::new());
        let options = ServeOptions {
            roles: KeyRoles::new(keys.iter().map(|(id, _, role)| ((*id).to_owned(), *role))),
            metrics: Arc::clone(&metrics),
            metrics_route: true,
            backup: None,
            ..ServeOptions::default()
        };
        let router = router_with(Arc::clone(&state), options);
        Harness { state, metrics, router, _dir: dir }
    }

    /// The headers a V2-signing SDK sends, signed with `secret`.
    pub fn signed_headers(action: &str, body: &[u8], secret: &str) -> Vec<(String, String)> {
        Self::signed_headers_as(KEY_ID, secret, action, body)
    }

    /// The headers a V2-signing SDK sends for the key `key_id`.
    pub fn signed_headers_as(key_id: &str, secret: &str, action: &str, body: &[u8]) -> Vec<(String, String)> {
        let mut headers = vec![
            ("x-ots-date".to_owned(), sign::format_ots_date(SystemClock.now_micros())),
            ("x-ots-apiversion".to_owned(), "2015-12-31".to_owned()),
            ("x-ots-accesskeyid".to_owned(), key_id.to_owned()),
            ("x-ots-instancename".to_owned(), INSTANCE.to_owned()),
            ("x-ots-contentmd5".to_owned(), sign::content_md5(body)),
        ];
        let signature = sign::v2_request_signature(secret, action, &headers);
        headers.push(("x-ots-signature".to_owned(), signature));
        headers
    }

    pub async fn send_raw(&self, method: &str, action: &str, headers: &[(String, String)], body: Vec<u8>) -> Reply {
        send_to(&self.router, method, action, headers, body).await
    }

    pub async fn call(&self, action: &str, body: Vec<u8>) -> Reply {
        self.call_as(KEY_ID, SECRET, action, body).await
    }

    /// A signed call with the key `key_id`.
    pub async fn call_as(&self, key_id: &str, secret: &str, action: &str, body: Vec<u8>) -> Reply {
        let headers = Self::signed_headers_as(key_id, secret, action, &body);
        self.send_raw("POST", action, &headers, body).await
    }
}

/// Sends a request with exactly these headers to `router` and collects the reply.
pub async fn send_to(
    router: &axum::Router,
    method: &str,
    action: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(format!("/{action}"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { status, headers, body }
}
