//! How failures reach the caller: service errors with their codes, authentication
//! failures, configuration and connection errors.

use std::sync::Arc;

use tablesafe_client::model::PrimaryKeyType;
use tablesafe_client::{Client, ClientError, CreateTableRequest, ErrorCode, GetRowRequest, ServiceCode, TransportKind};
use tablesafe_common::{Clock, ManualClock, SystemClock};

use crate::harness::{builder_for, int_key, TestServer, INSTANCE, KEY_ID, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_a_signed_object_not_exist() {
    let server = TestServer::start().await;
    let err = server.client().get_row(GetRowRequest::new("no_such_table", int_key("id", 1))).await.unwrap_err();
    match &err {
        ClientError::Service { action, code, message, http_status, request_id, signed } => {
            assert_eq!(*action, "GetRow");
            assert_eq!(*code, ServiceCode::Known(ErrorCode::ObjectNotExist));
            assert_eq!(message, "Requested table does not exist.");
            assert_eq!(*http_status, 404);
            assert!(request_id.as_deref().is_some_and(|r| !r.is_empty()));
            assert!(*signed, "errors of authenticated requests are signed");
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    assert!(err.to_string().contains("code=OTSObjectNotExist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_unsigned_auth_failures() {
    let server = TestServer::start().await;
    let cases = [
        ("wrong secret", Client::builder(&server.endpoint, INSTANCE, KEY_ID, "not-the-secret")),
        ("unknown key", Client::builder(&server.endpoint, INSTANCE, "nobody", SECRET)),
        ("wrong instance", Client::builder(&server.endpoint, "elsewhere", KEY_ID, SECRET)),
    ];
    for (case, builder) in cases {
        let err = builder.build().unwrap().list_table().await.unwrap_err();
        match &err {
            ClientError::Service { code, http_status: 403, signed: false, .. } => {
                assert_eq!(*code, ErrorCode::AuthFailed, "{case}");
            }
            other => panic!("{case}: expected an unsigned OTSAuthFailed, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_clock_far_from_the_server_is_refused() {
    let server = TestServer::start().await;
    let skewed = ManualClock::new(SystemClock.now_millis() - 20 * 60 * 1000);
    let client = builder_for(&server.endpoint).clock(skewed).build().unwrap();
    let err = client.list_table().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AuthFailed), "{err}");
    assert!(err.to_string().contains("Mismatch between system time and x-ots-date"), "{err}");
    let in_step: Arc<dyn Clock> = Arc::new(SystemClock);
    assert!(builder_for(&server.endpoint).clock(in_step).build().unwrap().list_table().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_and_unreachable_endpoints() {
    for endpoint in ["127.0.0.1:8800", "ftp://127.0.0.1/", "not a url"] {
        let err = Client::new(endpoint, INSTANCE, KEY_ID, SECRET).unwrap_err();
        assert!(matches!(err, ClientError::Config { .. }), "{endpoint}: {err}");
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = builder_for(&closed).build().unwrap().list_table().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { kind: TransportKind::Connect, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_path_prefix_is_kept() {
    let server = TestServer::start().await;
    let client = builder_for(&format!("{}/some/prefix/", server.endpoint)).build().unwrap();
    let name = crate::harness::table_name("prefix");
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    assert!(client.list_table().await.unwrap().contains(&name));
}
