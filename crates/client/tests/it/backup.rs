//! The backup API through the client, against a server running the real backup
//! service: plans, a backup and its verification, a recovery and its verification,
//! jobs, how failures reach the caller, and the README's example run as written.

use futures::TryStreamExt;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Row, Value};
use tablesafe_client::{
    BackupPolicy, BatchWriteRowRequest, Client, ClientError, CreateTableRequest, Destination, ErrorCode,
    GetRangeRequest, JobKind, JobState, ListJobsRequest, ListSnapshotsRequest, Plan, PutRowRequest, RecoveryPoint,
    StartBackupRequest,
};

use crate::harness::{int_key, table_name, TestServer};

/// The example the README shows, compiled into this test so that what the README
/// shows is what runs here.
#[allow(dead_code)] // Its `main` reads the environment; the tests call `run`.
mod example {
    include!("../../examples/backup_flow.rs");
}

const EXAMPLE: &str = include_str!("../../examples/backup_flow.rs");
const README: &str = include_str!("../../../../README.md");

#[test]
fn the_readme_shows_the_example_verbatim() {
    let block = format!("```rust\n{EXAMPLE}```\n");
    assert!(README.contains(&block), "README.md must show crates/client/examples/backup_flow.rs verbatim");
    assert!(README.contains("cargo run --release -p tablesafe-client --example backup_flow"));
}

/// A table of `rows` rows, three columns each, written with the client.
async fn filled_table(client: &Client, prefix: &str, rows: i64) -> String {
    let name = table_name(prefix);
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    let ids: Vec<i64> = (0..rows).collect();
    for chunk in ids.chunks(200) {
        let batch: BatchWriteRowRequest = chunk
            .iter()
            .map(|&id| {
                let cells = [
                    Cell::put("name", Value::String(format!("user {id}"))),
                    Cell::put("langs", Value::Integer(id % 7)),
                    Cell::put("active", Value::Boolean(id % 2 == 0)),
                ];
                PutRowRequest::new(&name, int_key("id", id), cells)
            })
            .collect();
        assert!(client.batch_write_row(batch).await.unwrap().is_all_ok());
    }
    name
}

/// Every row of `table`, every version, in key order.
async fn rows_of(client: &Client, table: &str) -> Vec<Row> {
    let (lo, hi) = (PrimaryKey::new([("id", PkValue::InfMin)]), PrimaryKey::new([("id", PkValue::InfMax)]));
    client.scan(GetRangeRequest::new(table, lo, hi).max_versions(i32::MAX)).try_collect().await.unwrap()
}

fn policy(name: &str, table: &str) -> BackupPolicy {
    BackupPolicy::new("hourly", "72 hours", format!("repo_{name}")).named(name).tables([table])
}

fn service_error(result: Result<impl std::fmt::Debug, ClientError>, action: &str, code: ErrorCode) -> String {
    match result {
        Err(ClientError::Service { action: a, code: c, message, signed: true, http_status, .. })
            if a == action && c == code =>
        {
            assert_eq!(http_status, code.http_status());
            message
        }
        other => panic!("{action}: expected a signed {code:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_round_trip() {
    let server = TestServer::start_with_backup().await;
    let client = server.client();
    assert_eq!(client.list_backup_plans().await.unwrap(), vec![]);

    let plan: Plan = policy("nightly", "users").into_plan();
    let created = client.create_backup_plan(&plan).await.unwrap();
    assert_eq!(created.plan, plan);
    assert!(!created.running);
    assert!(created.next_run_ms.is_some(), "an enabled plan has a next run: {created:?}");
    assert_eq!(client.describe_backup_plan("nightly").await.unwrap().plan, plan);
    let again = client.create_backup_plan(&plan).await;
    service_error(again, "CreateBackupPlan", ErrorCode::ObjectAlreadyExist);

    let mut changed = plan.clone();
    changed.keep_within = Some("7d".into());
    changed.keep_daily = Some(7);
    changed.enabled = false;
    assert_eq!(client.update_backup_plan(&changed).await.unwrap().plan, changed);
    let described = client.describe_backup_plan("nightly").await.unwrap();
    assert_eq!(described.plan, changed);
    assert_eq!(described.next_run_ms, None, "a disabled plan has no next run");
    let listed = client.list_backup_plans().await.unwrap();
    assert_eq!(listed.iter().map(|p| &p.plan).collect::<Vec<_>>(), vec![&changed]);

    client.delete_backup_plan("nightly").await.unwrap();
    assert_eq!(client.list_backup_plans().await.unwrap(), vec![]);
    service_error(client.describe_backup_plan("nightly").await, "DescribeBackupPlan", ErrorCode::ObjectNotExist);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_map_to_service_codes() {
    let server = TestServer::start_with_backup().await;
    let client = server.client();
    let message =
        service_error(client.describe_backup_plan("nope").await, "DescribeBackupPlan", ErrorCode::ObjectNotExist);
    assert!(message.contains("nope"), "{message}");
    service_error(client.delete_backup_plan("nope").await, "DeleteBackupPlan", ErrorCode::ObjectNotExist);
    service_error(client.update_backup_plan(&policy("nope", "t")).await, "UpdateBackupPlan", ErrorCode::ObjectNotExist);
    let run_unknown = StartBackupRequest { plan: Some("nope".into()), ..StartBackupRequest::default() };
    service_error(client.start_backup(run_unknown).await, "StartBackup", ErrorCode::ObjectNotExist);
    service_error(client.describe_job("no-such-job").await, "DescribeJob", ErrorCode::ObjectNotExist);

    let bad_name = policy("no spaces allowed", "t");
    service_error(client.create_backup_plan(&bad_name).await, "CreateBackupPlan", ErrorCode::ParameterInvalid);
    let bad_schedule = BackupPolicy::new("fortnightly", "72h", "repo").named("bad");
    service_error(client.create_backup_plan(&bad_schedule).await, "CreateBackupPlan", ErrorCode::ParameterInvalid);
    let bad_retention = BackupPolicy::new("hourly", "a while", "repo").named("bad");
    service_error(client.create_backup_plan(&bad_retention).await, "CreateBackupPlan", ErrorCode::ParameterInvalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_service_backup_actions_are_refused() {
    let server = TestServer::start().await;
    let message =
        service_error(server.client().list_backup_plans().await, "ListBackupPlans", ErrorCode::ParameterInvalid);
    assert!(message.contains("backups are not enabled"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_verify_recover_verify() {
    let server = TestServer::start_with_backup().await;
    let client = server.client();
    let table = filled_table(&client, "source", 1_500).await;
    let policy = policy("source_hourly", &table);

    let backup = client.backup(&table, &policy).await.unwrap();
    assert_eq!((backup.kind, backup.state), (JobKind::Backup, JobState::Succeeded), "{backup:?}");
    assert_eq!(backup.tables, vec![table.clone()]);
    assert_eq!(backup.rows, 1_500);
    assert!(backup.bytes > 0, "{backup:?}");
    assert!(backup.finished_ms.is_some_and(|end| end >= backup.started_ms), "{backup:?}");
    let snapshot = backup.snapshot.clone().expect("a backup names its snapshot");

    let verified = client.verify_backup(&backup).await.unwrap();
    assert_eq!((verified.kind, verified.state), (JobKind::VerifyBackup, JobState::Succeeded), "{verified:?}");
    assert_eq!(verified.verified, Some(true));
    assert_eq!(verified.snapshot.as_deref(), Some(snapshot.as_str()));

    let snapshots = client
        .list_snapshots(ListSnapshotsRequest {
            from: Destination { plan: None, destination: Some(policy.destination.clone()) },
            ..ListSnapshotsRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(snapshots.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec![snapshot.as_str()]);
    assert_eq!(snapshots[0].tables[0].rows, 1_500);

    let points = client.list_recovery_points(&table, &policy.destination).await.unwrap();
    assert_eq!(points.table, table);
    assert_eq!(points.snapshots.len(), 1);
    let point = points.latest_snapshot().unwrap();
    assert_eq!(Some(&point), RecoveryPoint::of_backup(&backup).as_ref());

    let restore = client.recover(&table, &point).await.unwrap();
    assert_eq!((restore.kind, restore.state), (JobKind::Restore, JobState::Succeeded), "{restore:?}");
    let target = restore.target_table.clone().expect("a restore names the table it wrote");
    assert!(target.starts_with(&format!("{table}_restored_")), "{target}");
    assert_eq!(restore.rows, 1_500);
    let (source_rows, restored_rows) = (rows_of(&client, &table).await, rows_of(&client, &target).await);
    assert_eq!(restored_rows.len(), 1_500);
    assert!(source_rows == restored_rows, "the restored table differs from its source");

    let checked = client.verify_recovery(&restore).await.unwrap();
    assert_eq!((checked.kind, checked.state), (JobKind::VerifyRestore, JobState::Succeeded), "{checked:?}");
    assert_eq!(checked.verified, Some(true));
    assert_eq!(checked.restore_job.as_deref(), Some(restore.id.as_str()));

    for job in [&backup, &verified, &restore, &checked] {
        let described = client.describe_job(&job.id).await.unwrap();
        assert_eq!(&described, job, "DescribeJob answers the job as it ended");
        assert!(described.is_finished());
    }
    let described = client.describe_job(&backup.id).await.unwrap();
    assert!(described.rows > 0 && described.bytes > 0, "{described:?}");
    let jobs = client.list_jobs(ListJobsRequest::default()).await.unwrap();
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, vec![&checked.id, &restore.id, &verified.id, &backup.id], "newest first");
    let backups = client.list_jobs(ListJobsRequest { kind: Some(JobKind::Backup), ..ListJobsRequest::default() });
    assert_eq!(backups.await.unwrap(), vec![backup.clone()]);

    // A changed table no longer verifies against its restore.
    client
        .put_row(PutRowRequest::new(&target, int_key("id", 0), [Cell::put("name", Value::String("changed".into()))]))
        .await
        .unwrap();
    match client.verify_recovery(&restore).await {
        Err(ClientError::Job { action: "VerifyRestore", job, message }) => {
            assert_eq!(job.kind, JobKind::VerifyRestore);
            assert!(job.state == JobState::Failed || job.verified == Some(false), "{job:?}");
            assert!(!message.is_empty());
        }
        other => panic!("a changed restored table must fail its verification: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backup_is_an_error_carrying_its_job() {
    let server = TestServer::start_with_backup().await;
    let client = server.client();
    let table = filled_table(&client, "doomed", 10).await;
    // The destination is below a file, so its repository cannot be created.
    std::fs::write(server.data_dir().join("not_a_dir"), b"x").unwrap();
    let policy = BackupPolicy::new("hourly", "72h", "not_a_dir/repo");
    let err = client.backup(&table, &policy).await.unwrap_err();
    let job = err.job().unwrap_or_else(|| panic!("expected a job error, got {err:?}")).clone();
    assert_eq!((job.kind, job.state), (JobKind::Backup, JobState::Failed), "{job:?}");
    let error = job.error.clone().expect("a failed job says why");
    assert_eq!(err.action(), Some("StartBackup"));
    assert!(err.to_string().contains(&job.id) && err.to_string().contains(&error), "{err}");
    assert_eq!(client.describe_job(&job.id).await.unwrap(), job);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_runs_as_written() {
    let server = TestServer::start_with_backup().await;
    let client = server.client();
    // Twice: the first run creates the table and the plan, the second finds both.
    for run in 1..=2 {
        if run == 2 {
            // The server names a restored table `users_restored_<time>` to the
            // second; a second restore within the same second would find the
            // first one's table.
            tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        }
        example::run(&client).await.unwrap_or_else(|e| panic!("run {run}: {e}"));
        let plans = client.list_backup_plans().await.unwrap();
        assert_eq!(plans.iter().map(|p| p.plan.name.as_str()).collect::<Vec<_>>(), ["users_hourly"]);
        let restores = client.list_jobs(ListJobsRequest { kind: Some(JobKind::Restore), ..ListJobsRequest::default() });
        let restores = restores.await.unwrap();
        assert_eq!(restores.len(), run);
        let target = restores[0].target_table.clone().unwrap();
        assert_eq!(rows_of(&client, &target).await, rows_of(&client, "users").await);
    }
    assert_eq!(rows_of(&client, "users").await.len(), 3);
}
