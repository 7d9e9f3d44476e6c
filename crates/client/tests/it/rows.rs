//! Single-row actions against a real server: value and key types, versions and
//! timestamps, auto-increment, conditions, filters, return content.

use tablesafe_client::model::{
    Cell, Comparator, Filter, PkValue, PrimaryKey, PrimaryKeyType, Row, RowExistence, SingleColumnFilter, TimeRange,
    Value,
};
use tablesafe_client::{
    Client, CreateTableRequest, DeleteRowRequest, ErrorCode, GetRowRequest, PutRowRequest, ReturnContent,
    UpdateRowRequest,
};

use crate::harness::{int_key, now_ms, table_name, TestServer};

async fn int_table(client: &Client, max_versions: i32) -> String {
    let name = table_name("rows");
    let request = CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer).max_versions(max_versions);
    client.create_table(request).await.unwrap();
    name
}

async fn get(client: &Client, request: GetRowRequest) -> Option<Row> {
    client.get_row(request).await.unwrap().row
}

fn values(row: &Row, column: &str) -> Vec<(Value, i64)> {
    row.cells.iter().filter(|c| c.name == column).map(|c| (c.value.clone().unwrap(), c.timestamp.unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_and_key_type_round_trips() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("types");
    let request = CreateTableRequest::new(&name)
        .primary_key("s", PrimaryKeyType::String)
        .primary_key("i", PrimaryKeyType::Integer)
        .primary_key("b", PrimaryKeyType::Binary);
    client.create_table(request).await.unwrap();
    let cells = vec![
        ("a_int_min", Value::Integer(i64::MIN)),
        ("b_int_max", Value::Integer(i64::MAX)),
        ("c_double", Value::Double(-1234.5e-300)),
        ("d_neg_zero", Value::Double(-0.0)),
        ("e_true", Value::Boolean(true)),
        ("f_false", Value::Boolean(false)),
        ("g_string", Value::String("héllo, wörld ✓ \"quoted\" \\ \n".into())),
        ("h_empty_string", Value::String(String::new())),
        ("i_binary", Value::Binary((0..=255).collect())),
        ("j_empty_binary", Value::Binary(Vec::new())),
    ];
    let keys = [
        PrimaryKey::new([
            ("s", PkValue::String("ünï©ødé".into())),
            ("i", PkValue::Integer(i64::MIN)),
            ("b", PkValue::Binary(vec![0, 0xff, 0, 1])),
        ]),
        PrimaryKey::new([
            ("s", PkValue::String("x".repeat(1024))),
            ("i", PkValue::Integer(i64::MAX)),
            ("b", PkValue::Binary(vec![0x00])),
        ]),
    ];
    let ts = now_ms() - 10_000;
    for key in &keys {
        let put = cells.iter().map(|(n, v)| Cell::version(*n, v.clone(), ts));
        client.put_row(PutRowRequest::new(&name, key.clone(), put)).await.unwrap();
    }
    for key in &keys {
        let row = get(&client, GetRowRequest::new(&name, key.clone())).await.expect("row exists");
        assert_eq!(&row.primary_key, key);
        let got: Vec<(&str, Value, i64)> =
            row.cells.iter().map(|c| (c.name.as_str(), c.value.clone().unwrap(), c.timestamp.unwrap())).collect();
        let want: Vec<(&str, Value, i64)> = cells.iter().map(|(n, v)| (*n, v.clone(), ts)).collect();
        assert_eq!(got, want);
        // -0.0 == 0.0 for PartialEq: check the bits survived.
        let Some(Value::Double(zero)) = &row.cells[3].value else { panic!("not a double") };
        assert!(zero.is_sign_negative());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_timestamps_and_time_ranges() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = int_table(&client, 3).await;
    let key = int_key("id", 1);
    let t = now_ms() - 60_000;
    let update = UpdateRowRequest::new(&name, key.clone())
        .put_at("c", Value::Integer(1), t - 3_000)
        .put_at("c", Value::Integer(2), t - 2_000)
        .put_at("c", Value::Integer(3), t - 1_000);
    client.update_row(update).await.unwrap();

    let all = get(&client, GetRowRequest::new(&name, key.clone()).max_versions(3)).await.unwrap();
    let expected = vec![(Value::Integer(3), t - 1_000), (Value::Integer(2), t - 2_000), (Value::Integer(1), t - 3_000)];
    assert_eq!(values(&all, "c"), expected, "newest first, exact timestamps");
    let newest = get(&client, GetRowRequest::new(&name, key.clone())).await.unwrap();
    assert_eq!(values(&newest, "c"), expected[..1]);
    let window = TimeRange::Range { start: t - 2_500, end: t - 1_000 };
    let ranged = get(&client, GetRowRequest::new(&name, key.clone()).time_range(window).max_versions(3)).await.unwrap();
    assert_eq!(values(&ranged, "c"), expected[1..2]);
    let specific =
        get(&client, GetRowRequest::new(&name, key.clone()).time_range(TimeRange::Specific(t - 3_000))).await;
    assert_eq!(values(&specific.unwrap(), "c"), expected[2..]);

    // A fourth version pushes out the oldest (max_versions 3); deleting one version
    // and then the whole column leaves the other columns alone.
    let update =
        UpdateRowRequest::new(&name, key.clone()).put_at("c", Value::Integer(4), t).put("other", Value::Boolean(true));
    client.update_row(update).await.unwrap();
    client.update_row(UpdateRowRequest::new(&name, key.clone()).delete_version("c", t - 2_000)).await.unwrap();
    let row = get(&client, GetRowRequest::new(&name, key.clone()).max_versions(5)).await.unwrap();
    assert_eq!(values(&row, "c"), vec![(Value::Integer(4), t), (Value::Integer(3), t - 1_000)]);
    client.update_row(UpdateRowRequest::new(&name, key.clone()).delete_all_versions("c")).await.unwrap();
    let row = get(&client, GetRowRequest::new(&name, key.clone()).max_versions(5)).await.unwrap();
    assert!(values(&row, "c").is_empty());
    assert_eq!(row.cells.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stamps_cells_without_timestamp() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = int_table(&client, 1).await;
    let before = now_ms();
    client.put_row(PutRowRequest::new(&name, int_key("id", 1), [Cell::put("c", Value::Double(0.5))])).await.unwrap();
    let after = now_ms();
    let row = get(&client, GetRowRequest::new(&name, int_key("id", 1))).await.unwrap();
    let ts = row.cells[0].timestamp.unwrap();
    assert!((before..=after).contains(&ts), "{before} <= {ts} <= {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_increment_keys_are_generated_and_returned() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("auto");
    let request = CreateTableRequest::new(&name).primary_key("part", PrimaryKeyType::String).auto_increment_key("n");
    client.create_table(request).await.unwrap();
    let placeholder = PrimaryKey::new([("part", PkValue::String("p".into())), ("n", PkValue::AutoIncrement)]);
    let mut generated = Vec::new();
    for i in 0..3 {
        let put = PutRowRequest::new(&name, placeholder.clone(), [Cell::put("i", Value::Integer(i))])
            .return_content(ReturnContent::PrimaryKey);
        let returned = client.put_row(put).await.unwrap().row.expect("the key is returned");
        assert!(returned.cells.is_empty());
        let PkValue::Integer(n) = returned.primary_key.columns[1].value else { panic!("{returned:?}") };
        generated.push((returned.primary_key, n));
    }
    assert!(generated.windows(2).all(|w| w[0].1 < w[1].1), "strictly increasing: {generated:?}");
    for (i, (key, _)) in generated.into_iter().enumerate() {
        let row = get(&client, GetRowRequest::new(&name, key)).await.unwrap();
        assert_eq!(row.cells[0].value, Some(Value::Integer(i as i64)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_conditions_are_condition_check_fail_and_change_nothing() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = int_table(&client, 1).await;
    let key = int_key("id", 7);
    let put = |v: i64| PutRowRequest::new(&name, key.clone(), [Cell::put("v", Value::Integer(v))]);

    let err = client.put_row(put(0).row_existence(RowExistence::ExpectExist)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ConditionCheckFail), "{err}");
    assert_eq!(err.http_status(), Some(403));
    assert!(err.request_id().is_some());
    assert!(get(&client, GetRowRequest::new(&name, key.clone())).await.is_none());

    client.put_row(put(1).row_existence(RowExistence::ExpectNotExist)).await.unwrap();
    let err = client.put_row(put(2).row_existence(RowExistence::ExpectNotExist)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ConditionCheckFail), "{err}");

    let v_is = |v: i64| {
        Filter::SingleColumn(SingleColumnFilter {
            comparator: Comparator::Equal,
            column_name: "v".into(),
            value: Some(Value::Integer(v)),
            filter_if_missing: true,
            latest_version_only: true,
            value_transfer: None,
        })
    };
    let err = client.put_row(put(3).column_condition(v_is(2))).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ConditionCheckFail), "{err}");
    client.put_row(put(4).column_condition(v_is(1)).row_existence(RowExistence::ExpectExist)).await.unwrap();
    let err = client.delete_row(DeleteRowRequest::new(&name, key.clone()).column_condition(v_is(1))).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ConditionCheckFail), "{err}");
    let row = get(&client, GetRowRequest::new(&name, key.clone())).await.unwrap();
    assert_eq!(row.cells[0].value, Some(Value::Integer(4)));

    client
        .delete_row(DeleteRowRequest::new(&name, key.clone()).row_existence(RowExistence::ExpectExist))
        .await
        .unwrap();
    assert!(get(&client, GetRowRequest::new(&name, key.clone())).await.is_none());
    let err = client
        .update_row(
            UpdateRowRequest::new(&name, key).put("v", Value::Integer(5)).row_existence(RowExistence::ExpectExist),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ConditionCheckFail), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_filters_projections_and_returned_rows() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = int_table(&client, 1).await;
    let key = int_key("id", 1);
    let cells = ["a", "b", "c", "d"].map(|n| Cell::put(n, Value::String(n.to_uppercase())));
    client.put_row(PutRowRequest::new(&name, key.clone(), cells)).await.unwrap();

    let row = get(&client, GetRowRequest::new(&name, key.clone()).columns(["b", "d"])).await.unwrap();
    assert_eq!(row.cells.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["b", "d"]);
    let window = GetRowRequest::new(&name, key.clone()).column_window(Some("b".into()), Some("d".into()));
    let row = get(&client, window).await.unwrap();
    assert_eq!(row.cells.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["b", "c"]);

    let a_is = |s: &str| {
        Filter::SingleColumn(SingleColumnFilter {
            comparator: Comparator::Equal,
            column_name: "a".into(),
            value: Some(Value::String(s.into())),
            filter_if_missing: true,
            latest_version_only: true,
            value_transfer: None,
        })
    };
    assert!(get(&client, GetRowRequest::new(&name, key.clone()).filter(a_is("A"))).await.is_some());
    assert!(get(&client, GetRowRequest::new(&name, key.clone()).filter(a_is("Z"))).await.is_none());
    let page = Filter::ColumnPagination { offset: 1, limit: 2 };
    let row = get(&client, GetRowRequest::new(&name, key.clone()).filter(page)).await.unwrap();
    assert_eq!(row.cells.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    assert!(get(&client, GetRowRequest::new(&name, int_key("id", 2))).await.is_none(), "missing row");

    let update = UpdateRowRequest::new(&name, key.clone())
        .increment("n", 5)
        .return_content(ReturnContent::AfterModify(vec!["n".into()]));
    let response = client.update_row(update).await.unwrap();
    assert!(response.consumed.write >= 1);
    let returned = response.row.expect("after-modify row");
    assert_eq!(returned.primary_key, key);
    assert_eq!(
        returned.cells.iter().map(|c| (c.name.as_str(), c.value.clone())).collect::<Vec<_>>(),
        [("n", Some(Value::Integer(5)))]
    );
    let deleted = client
        .delete_row(DeleteRowRequest::new(&name, key.clone()).return_content(ReturnContent::PrimaryKey))
        .await
        .unwrap();
    assert_eq!(deleted.row.map(|r| r.primary_key), Some(key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_are_refused_by_the_service() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = int_table(&client, 1).await;
    let wrong_type = PrimaryKey::new([("id", PkValue::String("1".into()))]);
    let err = client.get_row(GetRowRequest::new(&name, wrong_type)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidPk), "{err}");
    let nan = PutRowRequest::new(&name, int_key("id", 1), [Cell::put("d", Value::Double(f64::NAN))]);
    let err = client.put_row(nan).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ParameterInvalid), "{err}");
    let old = PutRowRequest::new(&name, int_key("id", 1), [Cell::version("d", Value::Integer(1), 1)]);
    let err = client.put_row(old).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ParameterInvalid), "{err}");
    assert!(err.to_string().contains("Invalid timestamp"), "{err}");
}
