//! Response integrity: a proxy alters responses on their way back, and the client
//! must report an integrity error (once, without retrying) instead of returning data.

use tablesafe_client::model::{Cell, PrimaryKeyType, Value};
use tablesafe_client::{ClientError, CreateTableRequest, GetRowRequest, PutRowRequest};
use tablesafe_common::{Clock, SystemClock};
use tablesafe_proto::sign;

use crate::harness::{builder_for, fast_retries, int_key, table_name, TestServer};
use crate::proxy::{HttpMessage, Plan, Proxy};

/// A table with one row, and a GetRow of it through a proxy that applies `tamper`
/// to every response. Returns the result and how many requests the proxy saw.
async fn get_through(tamper: fn(&mut HttpMessage)) -> (Result<Option<String>, ClientError>, usize) {
    let server = TestServer::start().await;
    let direct = server.client();
    let name = table_name("integrity");
    direct.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    let cells = [Cell::put("secret_plan", Value::String("attack at dawn".into()))];
    direct.put_row(PutRowRequest::new(&name, int_key("id", 1), cells)).await.unwrap();

    let proxy = Proxy::start(server.addr, move |_, _| Plan::Tamper(Box::new(tamper))).await;
    // Retries are allowed: an integrity failure must still not be retried.
    let client = builder_for(&proxy.endpoint).retry_policy(fast_retries(5)).build().unwrap();
    let result = client.get_row(GetRowRequest::new(&name, int_key("id", 1))).await.map(|r| {
        r.row.and_then(|row| match &row.cells[0].value {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        })
    });
    (result, proxy.requests())
}

fn integrity_detail(result: Result<Option<String>, ClientError>) -> String {
    match result {
        Err(ClientError::Integrity { action: "GetRow", detail, .. }) => detail,
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

fn flip_last_body_byte(response: &mut HttpMessage) {
    let last = response.body.len() - 1;
    response.body[last] ^= 0x01;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untouched_response_passes_through_the_proxy() {
    let (result, requests) = get_through(|_| {}).await;
    assert_eq!(result.unwrap(), Some("attack at dawn".to_owned()));
    assert_eq!(requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_body_byte_fails_the_md5_check() {
    let (result, requests) = get_through(flip_last_body_byte).await;
    assert!(integrity_detail(result).contains("x-ots-contentmd5"));
    assert_eq!(requests, 1, "integrity failures are not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_body_byte_with_a_matching_md5_fails_the_signature_check() {
    let (result, requests) = get_through(|response| {
        flip_last_body_byte(response);
        let md5 = sign::content_md5(&response.body);
        response.set_header("x-ots-contentmd5", md5);
    })
    .await;
    assert!(integrity_detail(result).contains("signature"));
    assert_eq!(requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_or_added_ots_header_fails_the_signature_check() {
    let (result, _) = get_through(|r| r.set_header("x-ots-requestid", "forged".into())).await;
    assert!(integrity_detail(result).contains("signature"));
    let (result, _) = get_through(|r| r.set_header("x-ots-extra", "unsigned".into())).await;
    assert!(integrity_detail(result).contains("signature"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_foreign_authorization_is_refused() {
    let (result, _) = get_through(|r| r.remove_header("authorization")).await;
    assert!(integrity_detail(result).contains("authorization header is missing"));
    let (result, _) = get_through(|r| {
        let forged = r.header("authorization").unwrap().replacen(crate::harness::KEY_ID, "someoneElse", 1);
        r.set_header("authorization", forged);
    })
    .await;
    assert!(integrity_detail(result).contains("signed for access key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_response_signed_with_the_right_key_is_refused_as_a_replay() {
    let (result, _) = get_through(|r| {
        let old = SystemClock.now_micros() - 20 * 60 * 1_000_000;
        r.set_header("x-ots-date", sign::format_ots_date(old));
        r.sign_response("GetRow");
    })
    .await;
    assert!(integrity_detail(result).contains("15 minutes"));
}
