//! What the client puts on the wire: the headers the official SDKs send, every
//! `x-ots-*` header (the STS token included) covered by the signature the server
//! verifies, the configured user agent, and no query string.

use std::sync::{Arc, Mutex};

use crate::harness::{builder_for, TestServer};
use crate::proxy::{HttpMessage, Plan, Proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_the_sdk_headers_and_a_signature_over_all_of_them() {
    let server = TestServer::start().await;
    let seen: Arc<Mutex<Vec<HttpMessage>>> = Arc::default();
    let record = Arc::clone(&seen);
    let proxy = Proxy::start(server.addr, move |_, request| {
        record.lock().unwrap().push(request.clone());
        Plan::Forward
    })
    .await;
    let client = builder_for(&format!("{}/prefix", proxy.endpoint))
        .sts_token("token-123")
        .user_agent("crosscheck-agent/1.0")
        .build()
        .unwrap();
    // The server verifies the signature over every x-ots-* header it receives, so a
    // token left out of the signature would fail the call.
    client.list_table().await.unwrap();

    let requests = seen.lock().unwrap();
    let request = &requests[0];
    assert_eq!(request.start_line, "POST /prefix/ListTable HTTP/1.1");
    for (name, expected) in [
        ("x-ots-apiversion", Some("2015-12-31")),
        ("x-ots-accesskeyid", Some(crate::harness::KEY_ID)),
        ("x-ots-instancename", Some(crate::harness::INSTANCE)),
        ("x-ots-ststoken", Some("token-123")),
        ("x-ots-contentmd5", Some("1B2M2Y8AsgTpgAmY7PhCfg==")), // MD5 of the empty ListTable body
        ("user-agent", Some("crosscheck-agent/1.0")),
        ("content-type", None),
    ] {
        assert_eq!(request.header(name), expected, "{name}");
    }
    let date = request.header("x-ots-date").unwrap();
    assert!(tablesafe_proto::sign::parse_ots_date(date).is_some(), "{date}");
    assert_eq!(date.len(), "2026-01-01T00:00:00.000Z".len(), "milliseconds, as the SDKs send: {date}");
    assert!(request.header("x-ots-signature").is_some());
}
