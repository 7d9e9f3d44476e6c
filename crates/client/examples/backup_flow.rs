// Backup and recovery end to end with the Rust client: back up `users` under an
// hourly policy kept 72 hours in `backup_bucket`, verify the backup, recover the
// table from it into a new table, and verify the recovery.
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Value};
use tablesafe_client::{BackupPolicy, Client, CreateTableRequest, ErrorCode, PutRowRequest};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let client = Client::new(
        var("TABLESAFE_ENDPOINT", "http://127.0.0.1:8800"),
        var("TABLESAFE_INSTANCE", "tablesafe"),
        std::env::var("TABLESAFE_ACCESS_KEY_ID").map_err(|_| "set TABLESAFE_ACCESS_KEY_ID")?,
        std::env::var("TABLESAFE_ACCESS_KEY_SECRET").map_err(|_| "set TABLESAFE_ACCESS_KEY_SECRET")?,
    )?;
    run(&client).await
}

pub async fn run(client: &Client) -> Result {
    if !client.list_table().await?.iter().any(|t| t == "users") {
        client.create_table(CreateTableRequest::new("users").primary_key("id", PrimaryKeyType::Integer)).await?;
        for (id, name) in [(1, "Ada"), (2, "Grace"), (3, "Edsger")] {
            let key = PrimaryKey::new([("id", PkValue::Integer(id))]);
            client.put_row(PutRowRequest::new("users", key, [Cell::put("name", Value::String(name.into()))])).await?;
        }
    }

    let policy = BackupPolicy::new("hourly", "72 hours", "backup_bucket").named("users_hourly").tables(["users"]);
    match client.create_backup_plan(&policy).await {
        Err(e) if e.code() == Some(ErrorCode::ObjectAlreadyExist) => client.update_backup_plan(&policy).await?,
        created => created?,
    };
    println!("plan {}: every {}, to {}", policy.name, policy.every.as_deref().unwrap_or("-"), policy.destination);

    let backup = client.backup("users", &policy).await?;
    let snapshot = backup.snapshot.as_deref().unwrap_or("-");
    println!("backup {}: snapshot {snapshot}, {} rows, {} bytes", backup.id, backup.rows, backup.bytes);
    let checked = client.verify_backup(&backup).await?;
    println!("verify_backup {}: {:?}", checked.id, checked.state);

    let points = client.list_recovery_points("users", &policy.destination).await?;
    println!("recovery points of users: {} snapshots", points.snapshots.len());
    let point = points.latest_snapshot().ok_or("users has no snapshot")?;
    let restore = client.recover("users", &point).await?;
    let restored = restore.target_table.as_deref().unwrap_or("-");
    println!("recover {}: {} rows into {restored}", restore.id, restore.rows);
    let checked = client.verify_recovery(&restore).await?;
    println!("verify_recovery {}: {:?}", checked.id, checked.state);

    let job = client.describe_job(&restore.id).await?;
    println!("describe_job {}: {:?} {:?}, {} rows, {} bytes", job.id, job.kind, job.state, job.rows, job.bytes);
    Ok(())
}
