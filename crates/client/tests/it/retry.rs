//! Retries: a proxy in front of the real server answers chosen requests with
//! (signed or unsigned) errors, drops or stalls them, and counts what the client sends.
//!
//! The proxy's errors are signed with the test secret exactly as the server signs
//! them, so they pass the client's response verification; a signed error is what
//! allows a non-idempotent call to be retried (see the crate docs, "Retries").

use std::time::Duration;

use tablesafe_client::model::{Cell, PrimaryKeyType, Value};
use tablesafe_client::{
    Client, ClientError, CreateTableRequest, ErrorCode, GetRowRequest, PutRowRequest, RetryPolicy, TransportKind,
};

use crate::harness::{builder_for, fast_retries, int_key, table_name, TestServer};
use crate::proxy::{error_response, Plan, Proxy};

async fn table(server: &TestServer) -> String {
    let name = table_name("retry");
    let client = server.client();
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    name
}

fn through(proxy: &Proxy, attempts: u32) -> Client {
    builder_for(&proxy.endpoint).retry_policy(fast_retries(attempts)).build().unwrap()
}

fn put(table: &str) -> PutRowRequest {
    PutRowRequest::new(table, int_key("id", 1), [Cell::put("v", Value::Integer(1))])
}

/// Answers the first `failures` requests with `code`, forwards the rest.
fn fail_first(
    failures: usize,
    status: u16,
    code: &'static str,
    signed: bool,
) -> impl Fn(usize, &crate::proxy::HttpMessage) -> Plan + Send + Sync + 'static {
    move |index, request| {
        if index < failures {
            Plan::Reply(error_response(&request.action(), status, code, "injected by the test proxy", signed))
        } else {
            Plan::Forward
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_calls_retry_server_busy_until_they_succeed() {
    let server = TestServer::start().await;
    let name = table(&server).await;
    let proxy = Proxy::start(server.addr, fail_first(2, 503, "OTSServerBusy", true)).await;
    let tables = through(&proxy, 5).list_table().await.unwrap();
    assert!(tables.contains(&name));
    assert_eq!(proxy.requests(), 3, "two refusals, then the forwarded attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_max_attempts() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr, fail_first(usize::MAX, 503, "OTSServerBusy", true)).await;
    let err = through(&proxy, 4).list_table().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ServerBusy), "{err}");
    assert_eq!(proxy.requests(), 4);
    let no_retries = builder_for(&proxy.endpoint).retry_policy(RetryPolicy::none()).build().unwrap();
    no_retries.list_table().await.unwrap_err();
    assert_eq!(proxy.requests(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_row_is_not_retried_on_internal_server_error_but_get_row_is() {
    let server = TestServer::start().await;
    let name = table(&server).await;
    let proxy = Proxy::start(server.addr, fail_first(usize::MAX, 500, "OTSInternalServerError", true)).await;
    let client = through(&proxy, 3);
    let err = client.put_row(put(&name)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InternalServerError), "{err}");
    assert_eq!(proxy.requests(), 1, "a write that may have executed is not sent again");
    client.get_row(GetRowRequest::new(&name, int_key("id", 1))).await.unwrap_err();
    assert_eq!(proxy.requests(), 1 + 3, "reads are retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_row_is_retried_on_a_signed_server_busy() {
    let server = TestServer::start().await;
    let name = table(&server).await;
    let proxy = Proxy::start(server.addr, fail_first(1, 503, "OTSServerBusy", true)).await;
    through(&proxy, 3).put_row(put(&name)).await.unwrap();
    assert_eq!(proxy.requests(), 2);
    let row = server.client().get_row(GetRowRequest::new(&name, int_key("id", 1))).await.unwrap().row;
    assert!(row.is_some(), "the retried write landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_server_busy_retries_reads_but_not_writes() {
    let server = TestServer::start().await;
    let name = table(&server).await;
    let proxy = Proxy::start(server.addr, fail_first(1, 503, "OTSServerBusy", false)).await;
    let client = through(&proxy, 3);
    match client.put_row(put(&name)).await.unwrap_err() {
        ClientError::Service { code, signed: false, .. } => assert_eq!(code, ErrorCode::ServerBusy),
        other => panic!("expected an unsigned OTSServerBusy, got {other:?}"),
    }
    assert_eq!(proxy.requests(), 1);
    let proxy = Proxy::start(server.addr, fail_first(1, 503, "OTSServerBusy", false)).await;
    through(&proxy, 3).get_row(GetRowRequest::new(&name, int_key("id", 1))).await.unwrap();
    assert_eq!(proxy.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_after_sending_retries_reads_but_not_writes() {
    let server = TestServer::start().await;
    let name = table(&server).await;
    let proxy = Proxy::start(server.addr, |index, _| if index == 0 { Plan::Drop } else { Plan::Forward }).await;
    let err = through(&proxy, 3).put_row(put(&name)).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { kind: TransportKind::Other, .. }), "{err}");
    assert_eq!(proxy.requests(), 1);
    let proxy = Proxy::start(server.addr, |index, _| if index == 0 { Plan::Drop } else { Plan::Forward }).await;
    through(&proxy, 3).get_row(GetRowRequest::new(&name, int_key("id", 1))).await.unwrap();
    assert_eq!(proxy.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_times_out_and_reads_are_retried() {
    let server = TestServer::start().await;
    let name = table(&server).await;
    let proxy = Proxy::start(server.addr, |_, _| Plan::Hang).await;
    let client = builder_for(&proxy.endpoint)
        .retry_policy(fast_retries(2))
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.get_row(GetRowRequest::new(&name, int_key("id", 1))).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { kind: TransportKind::Timeout, .. }), "{err}");
    assert_eq!(proxy.requests(), 2);
    client.put_row(put(&name)).await.unwrap_err();
    assert_eq!(proxy.requests(), 3, "a write that timed out is not sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_retried_while_the_connection_is_refused() {
    // Take a free port, release it, and start the server there only after the client
    // has met a few refused connections.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let policy =
        RetryPolicy { max_attempts: 100, base_delay: Duration::from_millis(20), max_delay: Duration::from_millis(50) };
    let client = builder_for(&endpoint).retry_policy(policy).build().unwrap();
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        TestServer::start_on(listener).await
    });
    // CreateTable is not idempotent: only a refused connection (nothing sent) lets
    // it be retried, and here every refusal comes before the server exists.
    let name = table_name("refused");
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    let server = starter.await.unwrap();
    assert!(server.client().list_table().await.unwrap().contains(&name));
}
