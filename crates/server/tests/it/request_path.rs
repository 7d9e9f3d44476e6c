//! The request path answers like the service: headers, signatures, limits, and
//! malformed input of every kind get a Tablestore error, never a 5xx or a panic.

use axum::http::StatusCode;
use proptest::prelude::*;
use prost::Message;
use tablesafe_proto::model::{Cell, PkValue, PrimaryKey, Row, Value};
use tablesafe_proto::{pb, plainbuffer, sign};

use crate::harness::{Harness, SECRET};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn create_table_body(name: &str) -> Vec<u8> {
    pb::CreateTableRequest {
        table_meta: pb::TableMeta {
            table_name: name.into(),
            primary_key: vec![
                pb::PrimaryKeySchema { name: "pk".into(), r#type: pb::PrimaryKeyType::String as i32, option: None },
                pb::PrimaryKeySchema { name: "n".into(), r#type: pb::PrimaryKeyType::Integer as i32, option: None },
            ],
            ..Default::default()
        },
        reserved_throughput: pb::ReservedThroughput {
            capacity_unit: pb::CapacityUnit { read: Some(0), write: Some(0) },
        },
        table_options: Some(pb::TableOptions { time_to_live: Some(-1), max_versions: Some(3), ..Default::default() }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn sample_row() -> Row {
    Row {
        primary_key: PrimaryKey::new([("pk", PkValue::String("k".into())), ("n", PkValue::Integer(7))]),
        cells: vec![Cell::put("a", Value::String("héllo".into())), Cell::put("b", Value::Double(1.5))],
        ..Row::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[tokio::test]
async fn responses_carry_the_headers_and_signature_sdks_verify() {
    let h = Harness::new();
    let reply = h.call("ListTable", Vec::new()).await;
    assert_eq!(reply.status, StatusCode::OK);
    for name in ["x-ots-contentmd5", "x-ots-requestid", "x-ots-date", "x-ots-contenttype", "authorization"] {
        assert!(header(&reply.headers, name).is_some(), "missing {name}");
    }
    assert_eq!(header(&reply.headers, "x-ots-contentmd5").unwrap(), sign::content_md5(&reply.body));
    let ots: Vec<(String, String)> = reply.headers.iter().filter(|(n, _)| n.starts_with("x-ots-")).cloned().collect();
    let expected = sign::response_signature(&sign::SigningKey::V2(SECRET.into()), &ots, "ListTable");
    assert_eq!(header(&reply.headers, "authorization").unwrap(), format!("OTS testKeyId:{expected}"));
    assert!(sign::parse_ots_date(header(&reply.headers, "x-ots-date").unwrap()).is_some());
}

#[tokio::test]
async fn bad_requests_get_the_service_error_codes() {
    let h = Harness::new();
    let body = Vec::new();
    let good = Harness::signed_headers("ListTable", &body, SECRET);

    let wrong = Harness::signed_headers("ListTable", &body, "not-the-secret");
    let reply = h.send_raw("POST", "ListTable", &wrong, body.clone()).await;
    assert_eq!((reply.status, reply.error().0.as_str()), (StatusCode::FORBIDDEN, "OTSAuthFailed"));
    assert!(header(&reply.headers, "authorization").is_none());

    let missing: Vec<_> = good.iter().filter(|(n, _)| n != "x-ots-date").cloned().collect();
    let reply = h.send_raw("POST", "ListTable", &missing, body.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), ("OTSParameterInvalid".into(), "Missing header: x-ots-date.".into()));

    let unsigned: Vec<_> = good.iter().filter(|(n, _)| n != "x-ots-signature").cloned().collect();
    let reply = h.send_raw("POST", "ListTable", &unsigned, body.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let reply = h.send_raw("POST", "ListTable", &good, b"x".to_vec()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "body does not match x-ots-contentmd5");
    assert!(reply.error().1.contains("MD5"));

    let mut skewed = good.clone();
    for (n, v) in &mut skewed {
        if n == "x-ots-date" {
            *v = "2001-01-01T00:00:00.000Z".into();
        }
    }
    let reply = h.send_raw("POST", "ListTable", &skewed, body.clone()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let reply = h.call("NoSuchAction", Vec::new()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().1, "Unsupported operation: NoSuchAction.");

    let reply = h.send_raw("GET", "ListTable", &good, body.clone()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error().0, "OTSMethodNotAllowed");

    let reply = h.call("PutRow", vec![0u8; 5 * 1024 * 1024 + 1]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error().0, "OTSRequestBodyTooLarge");

    let reply = h.call("DescribeTable", pb::DescribeTableRequest { table_name: "nope".into() }.encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().0, "OTSObjectNotExist");
    assert!(header(&reply.headers, "authorization").is_some(), "errors after auth are signed");
}

#[tokio::test]
async fn a_corrupt_plainbuffer_checksum_is_parameter_invalid() {
    let h = Harness::new();
    assert_eq!(h.call("CreateTable", create_table_body("t")).await.status, StatusCode::OK);
    let mut row = plainbuffer::encode_row(&sample_row());
    let last = row.len() - 1;
    row[last] ^= 0x5a;
    let body = pb::PutRowRequest {
        table_name: "t".into(),
        row,
        condition: pb::Condition { row_existence: 0, column_condition: None },
        ..Default::default()
    };
    let reply = h.call("PutRow", body.encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().0, "OTSParameterInvalid");
}

const ACTIONS: [&str; 14] = [
    "CreateTable",
    "ListTable",
    "DescribeTable",
    "UpdateTable",
    "DeleteTable",
    "ComputeSplitPointsBySize",
    "ListSearchIndex",
    "GetRow",
    "PutRow",
    "UpdateRow",
    "DeleteRow",
    "BatchGetRow",
    "BatchWriteRow",
    "GetRange",
];

fn assert_not_server_error(reply: &crate::harness::Reply, what: &str) {
    assert!(!reply.status.is_server_error(), "{what}: got {} {:?}", reply.status, reply.error());
    if !reply.status.is_success() {
        let _ = reply.error();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bodies_never_cause_a_server_error(action in 0..ACTIONS.len(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let rt = runtime();
        rt.block_on(async {
            let h = Harness::new();
            h.call("CreateTable", create_table_body("t")).await;
            let reply = h.call(ACTIONS[action], body).await;
            assert_not_server_error(&reply, ACTIONS[action]);
        });
    }

    #[test]
    fn mutated_rows_never_cause_a_server_error(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), kind in 0..3usize) {
        let rt = runtime();
        rt.block_on(async {
            let h = Harness::new();
            h.call("CreateTable", create_table_body("t")).await;
            let mut row = plainbuffer::encode_row(&sample_row());
            for (index, byte) in &flips {
                let i = index.index(row.len());
                row[i] = *byte;
            }
            let condition = pb::Condition { row_existence: 0, column_condition: None };
            let (action, body) = match kind {
                0 => ("PutRow", pb::PutRowRequest { table_name: "t".into(), row, condition, ..Default::default() }.encode_to_vec()),
                1 => ("UpdateRow", pb::UpdateRowRequest { table_name: "t".into(), row_change: row, condition, ..Default::default() }.encode_to_vec()),
                _ => ("GetRow", pb::GetRowRequest { table_name: "t".into(), primary_key: row, max_versions: Some(1), ..Default::default() }.encode_to_vec()),
            };
            let reply = h.call(action, body).await;
            assert_not_server_error(&reply, action);
        });
    }
}

#[tokio::test]
async fn compute_split_points_returns_ordered_pk_rows_and_locations() {
    let h = Harness::new();
    assert_eq!(h.call("CreateTable", create_table_body("t")).await.status, StatusCode::OK);
    let rows: Vec<pb::RowInBatchWriteRowRequest> = (0..200)
        .map(|i| pb::RowInBatchWriteRowRequest {
            r#type: pb::OperationType::Put as i32,
            row_change: plainbuffer::encode_row(&Row {
                primary_key: PrimaryKey::new([("pk", PkValue::String(format!("k{i:04}"))), ("n", PkValue::Integer(i))]),
                cells: vec![Cell::put("payload", Value::Binary(vec![7; 1000]))],
                ..Row::default()
            }),
            condition: pb::Condition { row_existence: 0, column_condition: None },
            return_content: None,
        })
        .collect();
    let batch = pb::BatchWriteRowRequest {
        tables: vec![pb::TableInBatchWriteRowRequest { table_name: "t".into(), rows }],
        ..Default::default()
    };
    assert_eq!(h.call("BatchWriteRow", batch.encode_to_vec()).await.status, StatusCode::OK);
    let request = pb::ComputeSplitPointsBySizeRequest {
        table_name: "t".into(),
        split_size: 1,
        split_size_unit_in_byte: Some(50_000),
        split_point_limit: None,
    };
    let reply = h.call("ComputeSplitPointsBySize", request.encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let response = pb::ComputeSplitPointsBySizeResponse::decode(reply.body.as_slice()).unwrap();
    assert_eq!(response.schema.len(), 2);
    let points: Vec<PrimaryKey> =
        response.split_points.iter().map(|b| plainbuffer::decode_primary_key(b).unwrap()).collect();
    assert!(points.len() >= 2, "~200 KB at 50 KB per split gives several points, got {}", points.len());
    assert!(points.windows(2).all(|w| w[0].cmp_values(&w[1]) == std::cmp::Ordering::Less));
    let repeats: i64 = response.locations.iter().map(|l| l.repeat).sum();
    assert_eq!(repeats, points.len() as i64 + 1, "Go indexes splits by the location repeats");
    let missing = pb::ComputeSplitPointsBySizeRequest { table_name: "nope".into(), ..request };
    assert_eq!(h.call("ComputeSplitPointsBySize", missing.encode_to_vec()).await.status, StatusCode::NOT_FOUND);
}

/// Over a real socket: a declared length over the limit is answered 413 before
/// any of the body is sent (the client never sends it), and a body that ends
/// before its declared length, or stalls, is 400, not 413 (and the stalled one
/// gets its answer after the body timeout, not never).
#[tokio::test]
async fn body_limits_are_decided_from_the_declared_length_and_a_short_body_is_a_client_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let options = tablesafe_server::ServeOptions {
        body_timeout: std::time::Duration::from_millis(300),
        ..tablesafe_server::ServeOptions::default()
    };
    let state = std::sync::Arc::clone(&h.state);
    let served = tokio::spawn(tablesafe_server::run_with(listener, state, options, std::future::pending()));
    let head = |length: usize| {
        format!("POST /PutRow HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x.pb2\r\nContent-Length: {length}\r\n\r\n")
    };
    let answer = |mut stream: tokio::net::TcpStream| async move {
        let mut reply = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut reply));
        read.await.expect("an answer, without the body being sent").unwrap();
        String::from_utf8_lossy(&reply).into_owned()
    };

    let mut large = tokio::net::TcpStream::connect(address).await.unwrap();
    large.write_all(head(10 * 1024 * 1024).as_bytes()).await.unwrap();
    let reply = answer(large).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("OTSRequestBodyTooLarge"), "{reply}");

    let mut short = tokio::net::TcpStream::connect(address).await.unwrap();
    short.write_all(head(1000).as_bytes()).await.unwrap();
    short.write_all(&[0u8; 100]).await.unwrap();
    short.shutdown().await.unwrap(); // EOF after 100 of the 1,000 bytes
    let reply = answer(short).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("ended before its Content-Length of 1000 bytes"), "{reply}");

    let mut stalled = tokio::net::TcpStream::connect(address).await.unwrap();
    stalled.write_all(head(1000).as_bytes()).await.unwrap();
    stalled.write_all(&[0u8; 10]).await.unwrap(); // and then nothing, the socket open
    let reply = answer(stalled).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("did not arrive within 0.3 seconds"), "{reply}");
    served.abort();
}

/// Over a real socket: a client that stops halfway through its headers, that
/// connects and never sends a request, or that keeps its connection idle after
/// a response, is disconnected after the header timeout; at the connection cap
/// the server accepts no more until one closes, and then answers the waiting
/// client.
#[tokio::test]
async fn slow_headers_idle_sockets_and_the_connection_cap_cannot_hold_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let timeout = std::time::Duration::from_millis(400);
    let connections = tablesafe_server::ConnectionLimits { max_connections: 2, header_timeout: timeout };
    let options = tablesafe_server::ServeOptions { connections, ..tablesafe_server::ServeOptions::default() };
    let state = std::sync::Arc::clone(&h.state);
    let served = tokio::spawn(tablesafe_server::run_with(listener, state, options, std::future::pending()));
    let within = |seconds: u64| std::time::Duration::from_secs(seconds);
    // What the server sends until it closes the connection.
    let until_closed = |mut stream: tokio::net::TcpStream| async move {
        let mut reply = Vec::new();
        tokio::time::timeout(within(10), stream.read_to_end(&mut reply)).await.expect("closed by the server").ok();
        String::from_utf8_lossy(&reply).into_owned()
    };
    // Unsigned, so a Tablestore error: what matters is that it is answered.
    let answered = |reply: &str| reply.starts_with("HTTP/1.1 400") && reply.contains("x-ots-contenttype");
    let request = |close: bool| {
        let connection = if close { "Connection: close\r\n" } else { "" };
        format!("POST /ListTable HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\n{connection}\r\n")
    };

    let started = std::time::Instant::now();
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"POST /ListTable HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // and no more
    let reply = until_closed(slow).await;
    assert!(!reply.contains("200 OK"), "{reply}");
    let idle = tokio::net::TcpStream::connect(address).await.unwrap();
    assert_eq!(until_closed(idle).await, "", "an idle socket is closed without a word");
    assert!(started.elapsed() < within(5), "closed after the timeouts, {:?}", started.elapsed());

    // A keep-alive connection serves its next request within the timeout, and
    // is closed once it idles past it.
    let mut kept = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut buf = vec![0u8; 8192];
    for _ in 0..2 {
        kept.write_all(request(false).as_bytes()).await.unwrap();
        let n = kept.read(&mut buf).await.unwrap();
        assert!(answered(&String::from_utf8_lossy(&buf[..n])), "{}", String::from_utf8_lossy(&buf[..n]));
        tokio::time::sleep(timeout / 4).await;
    }
    let idle_since = std::time::Instant::now();
    assert_eq!(until_closed(kept).await, "", "closed when idle");
    assert!(idle_since.elapsed() >= timeout / 2, "{:?}", idle_since.elapsed());

    // Two idle sockets fill the cap: a third client waits, then is answered
    // when the first of them is closed (at its timeout).
    let _a = tokio::net::TcpStream::connect(address).await.unwrap();
    let _b = tokio::net::TcpStream::connect(address).await.unwrap();
    tokio::time::sleep(timeout / 8).await; // both accepted
    let waiting_since = std::time::Instant::now();
    let mut third = tokio::net::TcpStream::connect(address).await.unwrap(); // in the backlog
    third.write_all(request(true).as_bytes()).await.unwrap();
    let reply = until_closed(third).await;
    assert!(answered(&reply), "answered once a slot was free: {reply}");
    assert!(waiting_since.elapsed() >= timeout / 2, "it waited for a slot: {:?}", waiting_since.elapsed());
    served.abort();
}
