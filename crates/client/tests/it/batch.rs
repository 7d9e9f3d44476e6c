//! BatchWriteRow and BatchGetRow against a real server: results in request order
//! across interleaved tables, per-row failures, request-level failures.

use tablesafe_client::model::{Cell, PrimaryKeyType, RowExistence, Value};
use tablesafe_client::{
    BatchGetRowRequest, BatchGetTable, BatchWriteRowRequest, Client, CreateTableRequest, DeleteRowRequest, ErrorCode,
    GetRowRequest, PutRowRequest, ReturnContent, UpdateRowRequest,
};

use crate::harness::{int_key, table_name, TestServer};

async fn table(client: &Client) -> String {
    let name = table_name("batch");
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    name
}

fn put(table: &str, id: i64, v: i64) -> PutRowRequest {
    PutRowRequest::new(table, int_key("id", id), [Cell::put("v", Value::Integer(v))])
}

async fn value(client: &Client, table: &str, id: i64) -> Option<Value> {
    let row = client.get_row(GetRowRequest::new(table, int_key("id", id))).await.unwrap().row?;
    row.cells.into_iter().find(|c| c.name == "v").and_then(|c| c.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_write_results_follow_request_order_across_interleaved_tables() {
    let server = TestServer::start().await;
    let client = server.client();
    let (a, b) = (table(&client).await, table(&client).await);
    client.put_row(put(&b, 1, 100)).await.unwrap();

    let batch = BatchWriteRowRequest::new()
        .row(put(&a, 1, 1)) // 0: ok
        .row(put(&b, 1, 2).row_existence(RowExistence::ExpectNotExist)) // 1: fails, row exists
        .row(put(&a, 2, 3).row_existence(RowExistence::ExpectExist)) // 2: fails, row missing
        .row(UpdateRowRequest::new(&b, int_key("id", 2)).increment("v", 7).return_content(ReturnContent::PrimaryKey)) // 3
        .row(DeleteRowRequest::new(&a, int_key("id", 3))) // 4: ok, deleting a missing row
        .row(put(&b, 3, 4)); // 5: ok
    let response = client.batch_write_row(batch).await.unwrap();
    assert_eq!(response.rows.len(), 6);
    let outcome: Vec<Option<ErrorCode>> =
        response.rows.iter().map(|r| r.as_ref().err().and_then(|e| e.code.known())).collect();
    assert_eq!(
        outcome,
        [None, Some(ErrorCode::ConditionCheckFail), Some(ErrorCode::ConditionCheckFail), None, None, None]
    );
    assert!(!response.is_all_ok());
    assert_eq!(response.failures().map(|(i, _)| i).collect::<Vec<_>>(), [1, 2]);
    let returned = response.rows[3].as_ref().unwrap().row.as_ref().expect("RT_PK row");
    assert_eq!(returned.primary_key, int_key("id", 2));
    assert!(response.rows[0].as_ref().unwrap().row.is_none());

    assert_eq!(value(&client, &a, 1).await, Some(Value::Integer(1)));
    assert_eq!(value(&client, &b, 1).await, Some(Value::Integer(100)), "failed row left unchanged");
    assert_eq!(value(&client, &a, 2).await, None);
    assert_eq!(value(&client, &b, 2).await, Some(Value::Integer(7)));
    assert_eq!(value(&client, &b, 3).await, Some(Value::Integer(4)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_get_returns_rows_misses_and_per_row_errors_in_order() {
    let server = TestServer::start().await;
    let client = server.client();
    let (a, b) = (table(&client).await, table(&client).await);
    let batch: BatchWriteRowRequest = (0..5).map(|id| put(&a, id, id * 10)).chain([put(&b, 9, 90)]).collect();
    assert!(client.batch_write_row(batch).await.unwrap().is_all_ok());

    let request = BatchGetRowRequest::new()
        .table(BatchGetTable::new(&a).keys([4, 100, 0].map(|id| int_key("id", id))).columns(["v"]))
        .table(BatchGetTable::new("no_such_table").key(int_key("id", 1)))
        .table(BatchGetTable::new(&b).key(int_key("id", 9)));
    let response = client.batch_get_row(request).await.unwrap();
    let tables: Vec<&str> = response.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(tables, [a.as_str(), "no_such_table", b.as_str()]);
    let found: Vec<Result<Option<Value>, ErrorCode>> = response
        .rows()
        .map(|(_, r)| match r {
            Ok(got) => Ok(got.row.as_ref().and_then(|row| row.cells[0].value.clone())),
            Err(e) => Err(e.code.known().unwrap()),
        })
        .collect();
    assert_eq!(
        found,
        [
            Ok(Some(Value::Integer(40))),
            Ok(None),
            Ok(Some(Value::Integer(0))),
            Err(ErrorCode::ObjectNotExist),
            Ok(Some(Value::Integer(90))),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_level_batch_problems_fail_the_whole_call() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table(&client).await;
    let too_many: BatchWriteRowRequest = (0..201).map(|id| put(&name, id, id)).collect();
    let err = client.batch_write_row(too_many).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ParameterInvalid), "{err}");
    assert_eq!(value(&client, &name, 0).await, None, "nothing of the refused batch was written");
    let err = client.batch_write_row(BatchWriteRowRequest::new()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ParameterInvalid), "{err}");
    let duplicate = BatchGetRowRequest::new()
        .table(BatchGetTable::new(&name).key(int_key("id", 1)))
        .table(BatchGetTable::new(&name).key(int_key("id", 2)));
    let err = client.batch_get_row(duplicate).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ParameterInvalid), "{err}");
}
