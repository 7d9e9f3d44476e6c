//! The role matrix: every role against every Tablestore action the server serves,
//! through the Rust client. An allowed call is never refused for its role (and,
//! against this fixture, succeeds); a refused one is a signed 403 `OTSAuthFailed`
//! naming the role and the action. The backup API's actions have their own matrix
//! test, at the wire: crates/server/tests/it/backup_api.rs.

use std::collections::BTreeSet;

use tablesafe_client::model::{
    Cell, DefinedColumnType, IndexMeta, IndexType, IndexUpdateMode, PkValue, PrimaryKey, PrimaryKeyType, Value,
};
use tablesafe_client::{
    BatchGetRowRequest, BatchGetTable, BatchWriteRowRequest, Client, ClientError, CreateTableRequest, DeleteRowRequest,
    DescribeStreamRequest, ErrorCode, GetRangeRequest, GetRowRequest, GetShardIteratorRequest, GetStreamRecordRequest,
    PutRowRequest, SplitPointsRequest, UpdateRowRequest, UpdateTableRequest,
};
use tablesafe_proto::backup_api::ACTIONS as BACKUP_ACTIONS;
use tablesafe_server::roles::ACTIONS;
use tablesafe_server::Role;

use crate::harness::{int_key, TestServer};

/// The documented matrix (docs/API.md), written out independently of `roles.rs`.
fn allowed(role: Role, action: &str) -> bool {
    const READS: [&str; 11] = [
        "GetRow",
        "GetRange",
        "BatchGetRow",
        "ListTable",
        "DescribeTable",
        "ComputeSplitPointsBySize",
        "ListSearchIndex",
        "ListStream",
        "DescribeStream",
        "GetShardIterator",
        "GetStreamRecord",
    ];
    match role {
        Role::Admin | Role::ReadWrite => true,
        Role::ReadOnly | Role::BackupOperator => READS.contains(&action),
    }
}

/// What the calls need: a stream-enabled table with a row, its stream, and one
/// table per role for DeleteTable to delete.
struct Fixture {
    table: String,
    /// A table with a defined column, one version and no TTL: it may have indexes.
    indexed: String,
    stream_id: String,
    shard_id: String,
    iterator: String,
}

/// An index of the `indexed` table per role, on its defined column.
fn index_of(role: Role) -> IndexMeta {
    IndexMeta {
        name: per_role("index", role),
        primary_key: vec!["v".into()],
        defined_columns: vec![],
        update_mode: IndexUpdateMode::Async,
        index_type: IndexType::Global,
    }
}

fn key_of(role: Role) -> (String, String) {
    (format!("key-{role}"), format!("secret-{role}"))
}

/// A table name per role (`read-write` is not a valid table name).
fn per_role(prefix: &str, role: Role) -> String {
    format!("{prefix}_{}", role.as_str().replace('-', "_"))
}

/// Calls `action` as `client`, the way an application would.
async fn call(client: &Client, action: &str, f: &Fixture, role: Role) -> Result<(), ClientError> {
    let t = f.table.as_str();
    let put = |id: i64| PutRowRequest::new(t, int_key("id", id), [Cell::put("v", Value::Integer(id))]);
    match action {
        "GetRow" => client.get_row(GetRowRequest::new(t, int_key("id", 1))).await.map(drop),
        "GetRange" => {
            let (lo, hi) = (PrimaryKey::new([("id", PkValue::InfMin)]), PrimaryKey::new([("id", PkValue::InfMax)]));
            client.get_range(GetRangeRequest::new(t, lo, hi)).await.map(drop)
        }
        "BatchGetRow" => {
            let request = BatchGetRowRequest::new().table(BatchGetTable::new(t).key(int_key("id", 1)));
            client.batch_get_row(request).await.map(drop)
        }
        "ListTable" => client.list_table().await.map(drop),
        "DescribeTable" => client.describe_table(t).await.map(drop),
        "ComputeSplitPointsBySize" => {
            client.compute_split_points_by_size(SplitPointsRequest::new(t, 1)).await.map(drop)
        }
        "ListSearchIndex" => client.list_search_index(Some(t)).await.map(drop),
        "ListStream" => client.list_stream(None).await.map(drop),
        "DescribeStream" => client.describe_stream(DescribeStreamRequest::new(&f.stream_id)).await.map(drop),
        "GetShardIterator" => {
            client.get_shard_iterator(GetShardIteratorRequest::new(&f.stream_id, &f.shard_id)).await.map(drop)
        }
        "GetStreamRecord" => client.get_stream_record(GetStreamRecordRequest::new(&f.iterator)).await.map(drop),
        "PutRow" => client.put_row(put(2)).await.map(drop),
        "UpdateRow" => {
            client.update_row(UpdateRowRequest::new(t, int_key("id", 3)).put("v", Value::Integer(3))).await.map(drop)
        }
        "DeleteRow" => client.delete_row(DeleteRowRequest::new(t, int_key("id", 4))).await.map(drop),
        "BatchWriteRow" => client.batch_write_row(BatchWriteRowRequest::new().row(put(5))).await.map(drop),
        "CreateTable" => {
            let request = CreateTableRequest::new(per_role("created", role)).primary_key("id", PrimaryKeyType::Integer);
            client.create_table(request).await
        }
        "UpdateTable" => client
            .update_table(UpdateTableRequest { max_versions: Some(2), ..UpdateTableRequest::new(t) })
            .await
            .map(drop),
        "DeleteTable" => client.delete_table(&per_role("victim", role)).await,
        // The table's indexes: one created per role, and that one dropped.
        "CreateIndex" => client.create_index(&f.indexed, &index_of(role), false).await,
        "DropIndex" => {
            let index = index_of(role);
            // Created by the case above for a role that may; refused all the same otherwise.
            let _ = client.create_index(&f.indexed, &index, false).await;
            client.drop_index(&f.indexed, &index.name).await
        }
        // A partition per role, so that one role's open transaction holds no other's.
        "StartLocalTransaction" => {
            let partition = PkValue::Integer(1000 + Role::ALL.iter().position(|r| *r == role).unwrap_or(0) as i64);
            client.start_local_transaction(t, "id", partition).await.map(drop)
        }
        // A role that may not start one ends an id of the right form: refused all the same.
        "CommitTransaction" => {
            let id = client.start_local_transaction(t, "id", PkValue::Integer(2000)).await;
            client.commit_transaction(&id.unwrap_or_else(|_| "0".repeat(32))).await
        }
        "AbortTransaction" => {
            let id = client.start_local_transaction(t, "id", PkValue::Integer(3000)).await;
            client.abort_transaction(&id.unwrap_or_else(|_| "0".repeat(32))).await
        }
        other => panic!("the matrix test has no call for {other}: add one"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_action() {
    let keys: Vec<(String, String, Role)> = Role::ALL
        .into_iter()
        .map(|role| {
            let (id, secret) = key_of(role);
            (id, secret, role)
        })
        .collect();
    let borrowed: Vec<(&str, &str, Role)> = keys.iter().map(|(i, s, r)| (i.as_str(), s.as_str(), *r)).collect();
    let server = TestServer::start_with_keys(&borrowed).await;

    // Set up as the harness's admin key.
    let setup = server.client();
    let table = "shared".to_owned();
    setup
        .create_table(CreateTableRequest::new(&table).primary_key("id", PrimaryKeyType::Integer).stream(24))
        .await
        .unwrap();
    setup.put_row(PutRowRequest::new(&table, int_key("id", 1), [Cell::put("v", Value::Integer(1))])).await.unwrap();
    for role in Role::ALL {
        let victim = CreateTableRequest::new(per_role("victim", role)).primary_key("id", PrimaryKeyType::Integer);
        setup.create_table(victim).await.unwrap();
    }
    let stream_id = setup.list_stream(Some(&table)).await.unwrap()[0].stream_id.clone();
    let shard_id =
        setup.describe_stream(DescribeStreamRequest::new(&stream_id)).await.unwrap().shards[0].shard_id.clone();
    let iterator = setup.get_shard_iterator(GetShardIteratorRequest::new(&stream_id, &shard_id)).await.unwrap();
    let indexed = "indexed".to_owned();
    let request = CreateTableRequest::new(&indexed)
        .primary_key("id", PrimaryKeyType::Integer)
        .defined_column("v", DefinedColumnType::Integer)
        .max_versions(1)
        .time_to_live(-1);
    setup.create_table(request).await.unwrap();
    let fixture = Fixture { table, indexed, stream_id, shard_id, iterator };

    let mut covered = BTreeSet::new();
    let mut report = Vec::new();
    for role in Role::ALL {
        let (id, secret) = key_of(role);
        let client = server.client_as(&id, &secret);
        for (action, _) in ACTIONS.iter().filter(|(a, _)| !BACKUP_ACTIONS.contains(a)) {
            covered.insert(*action);
            let result = call(&client, action, &fixture, role).await;
            let refused = match &result {
                Err(ClientError::Service { code, http_status: 403, message, signed, .. })
                    if *code == ErrorCode::AuthFailed =>
                {
                    assert!(message.contains(role.as_str()) && message.contains(action), "{role} {action}: {message}");
                    assert!(*signed, "{role} {action}: a refusal is signed with the caller's key");
                    true
                }
                _ => false,
            };
            report.push(format!("{role:>15} {action:<25} {}", if refused { "403" } else { "allowed" }));
            assert_eq!(!refused, allowed(role, action), "{role} {action}: {result:?}");
            // The fixture is set up so that nothing else fails either.
            assert_eq!(result.is_ok(), allowed(role, action), "{role} {action}: {result:?}");
        }
    }
    let served: BTreeSet<&str> = ACTIONS.iter().map(|(a, _)| *a).filter(|a| !BACKUP_ACTIONS.contains(a)).collect();
    assert_eq!(covered, served);
    assert_eq!(served.len(), 23, "every Tablestore action the server serves is in the matrix");
    assert_eq!(ACTIONS.len(), 23 + BACKUP_ACTIONS.len(), "and the rest are the backup API's");
    println!("{}", report.join("\n"));

    // What the refused roles could not do really did not happen.
    let tables = setup.list_table().await.unwrap();
    for role in [Role::ReadOnly, Role::BackupOperator] {
        assert!(!tables.contains(&per_role("created", role)), "{role} created a table");
        assert!(tables.contains(&per_role("victim", role)), "{role} deleted a table");
    }
    for role in [Role::Admin, Role::ReadWrite] {
        assert!(tables.contains(&per_role("created", role)));
        assert!(!tables.contains(&per_role("victim", role)));
    }
}
