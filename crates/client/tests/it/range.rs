//! GetRange and scan against a real server: pages of 5,000 rows, both directions,
//! overall limits, filters, and lazy paging (one page buffered).

use futures::{StreamExt, TryStreamExt};
use tablesafe_client::model::{
    Cell, Comparator, Filter, PkValue, PrimaryKey, PrimaryKeyType, SingleColumnFilter, Value,
};
use tablesafe_client::{BatchWriteRowRequest, Client, CreateTableRequest, GetRangeRequest, PutRowRequest};

use crate::harness::{builder_for, int_key, table_name, TestServer};
use crate::proxy::{Plan, Proxy};

const ROWS: i64 = 12_345;

async fn filled_table(client: &Client, rows: i64) -> String {
    let name = table_name("range");
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    let ids: Vec<i64> = (0..rows).collect();
    for chunk in ids.chunks(200) {
        let batch: BatchWriteRowRequest = chunk
            .iter()
            .map(|&id| PutRowRequest::new(&name, int_key("id", id), [Cell::put("even", Value::Boolean(id % 2 == 0))]))
            .collect();
        assert!(client.batch_write_row(batch).await.unwrap().is_all_ok());
    }
    name
}

fn bounds(lo: PkValue, hi: PkValue) -> (PrimaryKey, PrimaryKey) {
    (PrimaryKey::new([("id", lo)]), PrimaryKey::new([("id", hi)]))
}

fn ids(rows: &[tablesafe_client::model::Row]) -> Vec<i64> {
    rows.iter()
        .map(|r| match r.primary_key.columns[0].value {
            PkValue::Integer(i) => i,
            ref other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_cross_pages_in_both_directions_and_honour_limits() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = filled_table(&client, ROWS).await;

    // One page: 5,000 rows at most, and where to continue.
    let (lo, hi) = bounds(PkValue::InfMin, PkValue::InfMax);
    let page = client.get_range(GetRangeRequest::new(&name, lo.clone(), hi.clone())).await.unwrap();
    assert_eq!(ids(&page.rows), (0..5_000).collect::<Vec<_>>());
    assert_eq!(page.next_start, Some(int_key("id", 5_000)));
    assert!(page.consumed.read >= 1);

    let forward: Vec<_> = client.scan(GetRangeRequest::new(&name, lo.clone(), hi.clone())).try_collect().await.unwrap();
    assert_eq!(ids(&forward), (0..ROWS).collect::<Vec<_>>());

    let (top, bottom) = bounds(PkValue::InfMax, PkValue::InfMin);
    let backward: Vec<_> =
        client.scan(GetRangeRequest::new(&name, top, bottom).backward().limit(7_000)).try_collect().await.unwrap();
    assert_eq!(ids(&backward), (ROWS - 7_000..ROWS).rev().collect::<Vec<_>>());

    let inner: Vec<_> = client
        .scan(GetRangeRequest::new(&name, int_key("id", 4_990), int_key("id", 10_010)).limit(5_015))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&inner), (4_990..10_005).collect::<Vec<_>>());
    let nothing: Vec<_> = client.scan(GetRangeRequest::new(&name, lo, hi).limit(0)).try_collect().await.unwrap();
    assert!(nothing.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_with_filters_and_manual_paging_agree() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = filled_table(&client, 300).await;
    let even = Filter::SingleColumn(SingleColumnFilter {
        comparator: Comparator::Equal,
        column_name: "even".into(),
        value: Some(Value::Boolean(true)),
        filter_if_missing: true,
        latest_version_only: true,
        value_transfer: None,
    });
    let (lo, hi) = bounds(PkValue::InfMin, PkValue::InfMax);
    let request = GetRangeRequest::new(&name, lo, hi).filter(even);
    let scanned: Vec<_> = client.scan(request.clone()).try_collect().await.unwrap();
    assert_eq!(ids(&scanned), (0..300).step_by(2).collect::<Vec<_>>());

    let mut paged = Vec::new();
    let mut next = Some(request.limit(7));
    while let Some(request) = next.take() {
        let page = client.get_range(request.clone()).await.unwrap();
        assert!(page.rows.len() <= 7);
        paged.extend(page.rows);
        next = page.next_start.map(|start| GetRangeRequest { start, ..request });
    }
    assert_eq!(ids(&paged), ids(&scanned));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_asks_for_the_next_page_only_when_the_current_one_is_used_up() {
    let server = TestServer::start().await;
    let name = filled_table(&server.client(), 10_500).await;
    let proxy = Proxy::start(server.addr, |_, _| Plan::Forward).await;
    let client = builder_for(&proxy.endpoint).build().unwrap();
    let (lo, hi) = bounds(PkValue::InfMin, PkValue::InfMax);
    let mut scan = Box::pin(client.scan(GetRangeRequest::new(&name, lo, hi)));
    assert_eq!(proxy.requests(), 0, "nothing is sent before the stream is polled");
    let first = scan.next().await.unwrap().unwrap();
    assert_eq!(first.primary_key, int_key("id", 0));
    assert_eq!(proxy.requests(), 1);
    let mut seen = 1;
    while seen < 5_000 {
        scan.next().await.unwrap().unwrap();
        seen += 1;
    }
    assert_eq!(proxy.requests(), 1, "the first page still serves row 5,000");
    let row = scan.next().await.unwrap().unwrap();
    assert_eq!(row.primary_key, int_key("id", 5_000));
    assert_eq!(proxy.requests(), 2);
    let rest = scan.count().await;
    assert_eq!(rest, 10_500 - 5_001);
    assert_eq!(proxy.requests(), 3);
}
