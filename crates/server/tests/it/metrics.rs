//! `GET /metrics`: the Prometheus text format 0.0.4, counting every request by
//! action and outcome, beside the Tablestore routes without disturbing them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use tablesafe_proto::pb;
use tablesafe_server::http::{metrics_router, router_with};
use tablesafe_server::{Metrics, ServeOptions};
use tower::ServiceExt;

use crate::harness::{Harness, KEY_ID};

/// One sample line: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format strictly enough to catch what Prometheus rejects: a
/// family's `# TYPE` once and before its samples, a family's samples in one group,
/// well-formed names, quoted and escaped label values, parseable values, and a
/// final line feed.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the last line must end with a line feed");
    let mut samples = Vec::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE twice: {line}");
            assert!(!finished.contains(name), "TYPE after samples: {line}");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
            None => (series, BTreeMap::new()),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "{line}"
        );
        let family = typed
            .keys()
            .filter(|f| name == f.as_str() || ["_bucket", "_sum", "_count"].iter().any(|s| name == format!("{f}{s}")))
            .max_by_key(|f| f.len())
            .cloned()
            .unwrap_or_else(|| name.to_owned());
        if current.as_deref() != Some(family.as_str()) {
            assert!(!finished.contains(&family), "samples of {family} are not in one group");
            if let Some(previous) = current.replace(family.clone()) {
                finished.insert(previous);
            }
        }
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    samples
}

fn parse_labels(mut text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (name, rest) = text.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().unwrap() {
                (_, '\\') => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}"),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        assert!(labels.insert(name.to_owned(), value).is_none(), "label {name} twice");
        text = &rest[end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
    labels
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

async fn scrape(h: &Harness) -> (Vec<Sample>, String) {
    let reply = h.send_raw("GET", "metrics", &[], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply.headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.clone());
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
    let text = String::from_utf8(reply.body).unwrap();
    (parse(&text), text)
}

fn create_table_body(name: &str) -> Vec<u8> {
    pb::CreateTableRequest {
        table_meta: pb::TableMeta {
            table_name: name.into(),
            primary_key: vec![pb::PrimaryKeySchema {
                name: "id".into(),
                r#type: pb::PrimaryKeyType::Integer as i32,
                option: None,
            }],
            ..Default::default()
        },
        reserved_throughput: pb::ReservedThroughput {
            capacity_unit: pb::CapacityUnit { read: Some(0), write: Some(0) },
        },
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn requests_are_counted_by_action_and_outcome() {
    let h = Harness::new();
    let (before, _) = scrape(&h).await;
    assert_eq!(value(&before, "tablesafe_tables", &[]), Some(0.0));
    assert_eq!(value(&before, "tablesafe_requests_in_flight", &[]), Some(0.0));

    for _ in 0..3 {
        assert_eq!(h.call("ListTable", Vec::new()).await.status, StatusCode::OK);
    }
    assert_eq!(h.call("CreateTable", create_table_body("counted")).await.status, StatusCode::OK);
    let missing = pb::DescribeTableRequest { table_name: "nope".into() }.encode_to_vec();
    assert_eq!(h.call("DescribeTable", missing.clone()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.call("DescribeTable", pb::DescribeTableRequest { table_name: "counted".into() }.encode_to_vec()).await.status,
        StatusCode::OK
    );
    let unsigned =
        h.send_raw("POST", "ListTable", &Harness::signed_headers("ListTable", &[], "wrong"), Vec::new()).await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
    assert_eq!(h.call("NoSuchAction", Vec::new()).await.status, StatusCode::BAD_REQUEST);

    let (samples, text) = scrape(&h).await;
    let total =
        |action: &str, code: &str| value(&samples, "tablesafe_requests_total", &[("action", action), ("code", code)]);
    assert_eq!(total("ListTable", "OK"), Some(3.0), "{text}");
    assert_eq!(total("ListTable", "OTSAuthFailed"), Some(1.0), "{text}");
    assert_eq!(total("CreateTable", "OK"), Some(1.0), "{text}");
    assert_eq!(total("DescribeTable", "OK"), Some(1.0), "{text}");
    assert_eq!(total("DescribeTable", "OTSObjectNotExist"), Some(1.0), "{text}");
    assert_eq!(total("other", "OTSParameterInvalid"), Some(1.0), "the unknown name is not a label value: {text}");
    assert!(!text.contains("NoSuchAction"), "{text}");
    for (action, requests) in [("ListTable", 4.0), ("CreateTable", 1.0), ("DescribeTable", 2.0), ("other", 1.0)] {
        let count = value(&samples, "tablesafe_request_duration_seconds_count", &[("action", action)]);
        assert_eq!(count, Some(requests), "{action}: {text}");
        let inf = value(&samples, "tablesafe_request_duration_seconds_bucket", &[("action", action), ("le", "+Inf")]);
        assert_eq!(inf, Some(requests), "{action}");
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == "tablesafe_request_duration_seconds_bucket" && s.labels["action"] == action)
            .map(|s| s.value)
            .collect();
        assert_eq!(buckets.len(), 14, "13 bounds from 0.001 to 10, and +Inf");
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "cumulative: {buckets:?}");
        assert!(value(&samples, "tablesafe_request_duration_seconds_sum", &[("action", action)]).unwrap() > 0.0);
    }
    let first = samples.iter().find(|s| s.name == "tablesafe_request_duration_seconds_bucket").unwrap();
    assert_eq!(first.labels["le"], "0.001");
    assert_eq!(value(&samples, "tablesafe_tables", &[]), Some(1.0));
    assert_eq!(value(&samples, "tablesafe_requests_in_flight", &[]), Some(0.0));
    assert!(value(&samples, "tablesafe_requests_total", &[("action", "GetRow"), ("code", "OK")]).is_none());

    // Counters only grow between scrapes; scrapes themselves are not counted.
    assert_eq!(h.call("ListTable", Vec::new()).await.status, StatusCode::OK);
    let (after, _) = scrape(&h).await;
    let list_ok = |s: &[Sample]| value(s, "tablesafe_requests_total", &[("action", "ListTable"), ("code", "OK")]);
    assert_eq!(list_ok(&after), Some(4.0));
    assert_eq!(value(&after, "tablesafe_request_duration_seconds_count", &[("action", "ListTable")]), Some(5.0));
}

#[tokio::test]
async fn gauges_added_by_other_parts_are_rendered() {
    let h = Harness::new();
    h.metrics
        .describe("tablesafe_backup_last_success_timestamp_seconds", "Time of the last successful backup, per plan.");
    h.metrics.set_gauge("tablesafe_backup_last_success_timestamp_seconds", &[("plan", "nightly")], 1_700_000_000.0);
    h.metrics.add_counter("tablesafe_backup_bytes_total", &[("plan", "nightly")], 4096.0);
    let (samples, text) = scrape(&h).await;
    let plan = [("plan", "nightly")];
    assert_eq!(value(&samples, "tablesafe_backup_last_success_timestamp_seconds", &plan), Some(1_700_000_000.0));
    assert_eq!(value(&samples, "tablesafe_backup_bytes_total", &plan), Some(4096.0));
    assert!(text.contains("# TYPE tablesafe_backup_bytes_total counter\n"), "{text}");
    assert!(text.contains("# HELP tablesafe_backup_last_success_timestamp_seconds Time of the last"), "{text}");
}

#[tokio::test]
async fn the_metrics_route_leaves_tablestore_routing_alone() {
    let h = Harness::new();
    // POST /metrics is a Tablestore request for the action "metrics".
    let reply = h.call("metrics", Vec::new()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), ("OTSParameterInvalid".into(), "Unsupported operation: metrics.".into()));
    assert!(reply.headers.iter().any(|(n, v)| n == "authorization" && v.starts_with(&format!("OTS {KEY_ID}:"))));
    // Other paths keep their behaviour: GET of an action is 405, a prefixed path works.
    let reply = h.send_raw("GET", "ListTable", &[], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error().0, "OTSMethodNotAllowed");
    let reply = h.send_raw("GET", "prefix/metrics", &[], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "only /metrics itself is the metrics route");
    let headers = Harness::signed_headers("ListTable", &[], crate::harness::SECRET);
    assert_eq!(h.send_raw("POST", "some/prefix/ListTable", &headers, Vec::new()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_can_move_to_their_own_listener() {
    let h = Harness::new();
    let metrics = Arc::new(Metrics::new());
    let options = ServeOptions { metrics: Arc::clone(&metrics), metrics_route: false, ..ServeOptions::default() };
    let api = router_with(Arc::clone(&h.state), options);
    let get = |path: &str| Request::builder().method("GET").uri(path).body(Body::empty()).unwrap();
    let reply = api.oneshot(get("/metrics")).await.unwrap();
    assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED, "the API listener no longer serves metrics");
    metrics.set_gauge("probe", &[], 1.0);
    let separate = metrics_router(Arc::clone(&h.state), metrics);
    let reply = separate.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let text = String::from_utf8(reply.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(parse(&text).iter().any(|s| s.name == "probe" && s.value == 1.0), "{text}");
    assert_eq!(separate.oneshot(get("/ListTable")).await.unwrap().status(), StatusCode::NOT_FOUND);
}
