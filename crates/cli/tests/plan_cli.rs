//! `tablesafe plan` and `tablesafe job` through the real binary, against a real
//! `tablesafe serve` and its backup service: plans created, listed, shown, updated
//! and deleted (`--json` parsed and checked, and the plan file on disk); a plan
//! run that gives a snapshot; a restore that gives a new table with the source's
//! rows, and its check; errors (a bad value, an unknown plan or job) as one line
//! and a hint; and the README's command-line flow, run line by line exactly as
//! written.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::path::Path;
use std::process::Output;

use futures::TryStreamExt;
use serde_json::Value as Json;
use support::*;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, Row, Value};
use tablesafe_client::{Client, DeleteRowRequest, GetRangeRequest, PutRowRequest, RowWrite};

/// Rows of `users` the tests write.
const USERS: i64 = 300;

/// `tablesafe` with the server's endpoint and instance in the environment, as
/// TABLESAFE_ENDPOINT and TABLESAFE_INSTANCE (and the access key, from `support`).
fn at(server: &Server, args: &[&str]) -> Output {
    tablesafe(args, &[("TABLESAFE_ENDPOINT", &server.endpoint), ("TABLESAFE_INSTANCE", INSTANCE)])
}

/// A server on a fresh data directory with tables `users` and `events` filled.
async fn server_with_users(dir: &Path) -> Server {
    let server = Server::start(dir).await;
    fill(&server.client, Fill { users: USERS, events: 40, avatar_sizes: 64 }).await;
    server
}

/// Every row of `table` (key `id`), every version, cells sorted by name, newest first.
async fn dump(client: &Client, table: &str) -> Vec<(PrimaryKey, Vec<Cell>)> {
    dump_keyed(client, table, &["id"]).await
}

/// Every row of `table`, whose primary key columns are `key`, as [`dump`] gives them.
async fn dump_keyed(client: &Client, table: &str, key: &[&str]) -> Vec<(PrimaryKey, Vec<Cell>)> {
    let bound = |v: PkValue| PrimaryKey::new(key.iter().map(|name| (*name, v.clone())));
    let everything = GetRangeRequest::new(table, bound(PkValue::InfMin), bound(PkValue::InfMax));
    let rows: Vec<Row> = client.scan(everything.max_versions(i32::MAX)).try_collect().await.unwrap();
    rows.into_iter()
        .map(|mut row| {
            row.cells.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.timestamp.cmp(&a.timestamp)));
            (row.primary_key, row.cells)
        })
        .collect()
}

/// The names of the plans `plan list --json` prints.
fn plan_names(list: &Json) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|p| p["plan"]["name"].as_str().unwrap()).collect()
}

/// Checks a failure of one `error:` line and one `hint:` line; returns stderr.
#[track_caller]
fn one_line_error(out: &Output) -> String {
    let stderr = failed_with_hint(out);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one error line and one hint line:\n{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[1].starts_with("hint: "), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_are_created_listed_shown_updated_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;

    // The server starts with its default plan.
    let list = json(&at(&server, &["plan", "list", "--json"]));
    assert_eq!(plan_names(&list), ["default"]);
    assert_eq!(list[0]["plan"]["every"], "1h");
    assert_eq!(list[0]["plan"]["keep_within"], "72h");

    let created = json(&at(
        &server,
        &[
            "plan",
            "create",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Berlin",
            "--table",
            "users",
            "--table",
            "orders_*",
            "--destination",
            "nightly_bucket",
            "--keep-last",
            "3",
            "--keep-daily",
            "7",
            "--verify-data",
            "10",
            "--disabled",
            "--json",
        ],
    ));
    let plan = &created["plan"];
    assert_eq!(plan["name"], "nightly");
    assert_eq!(plan["cron"], "0 3 * * *");
    assert!(plan.get("every").is_none(), "{plan}");
    assert_eq!(plan["timezone"], "Europe/Berlin");
    assert_eq!(plan["tables"], serde_json::json!(["users", "orders_*"]));
    assert_eq!(plan["destination"], "nightly_bucket");
    assert_eq!((plan["keep_last"].as_u64(), plan["keep_daily"].as_u64()), (Some(3), Some(7)));
    assert_eq!(plan["verify_data_percent"], 10);
    assert_eq!((plan["enabled"].as_bool(), plan["archive"].as_bool()), (Some(false), Some(false)));
    assert!(created["next_run_ms"].is_null(), "a disabled plan has no next run: {created}");
    assert!(created["last_run"].is_null());

    let list = json(&at(&server, &["plan", "list", "--json"]));
    assert_eq!(plan_names(&list), ["default", "nightly"]);
    let text = succeeded(&at(&server, &["plan", "list"]));
    assert!(text.lines().any(|l| l.starts_with("nightly") && l.contains("cron '0 3 * * *'")), "{text}");
    let file = std::fs::read_to_string(dir.path().join("backup-plans.toml")).unwrap();
    assert!(file.contains("name = \"nightly\"") && file.contains("nightly_bucket"), "{file}");

    // `update` changes only what it is given.
    let updated = json(&at(
        &server,
        &["plan", "update", "nightly", "--every", "2h", "--keep-within", "3d", "--enabled", "--json"],
    ));
    let plan = &updated["plan"];
    assert_eq!(plan["every"], "2h");
    assert!(plan.get("cron").is_none(), "--every replaces --cron: {plan}");
    assert_eq!(plan["keep_within"], "3d");
    assert_eq!((plan["keep_last"].as_u64(), plan["keep_daily"].as_u64()), (Some(3), Some(7)));
    assert_eq!(plan["tables"], serde_json::json!(["users", "orders_*"]));
    assert_eq!(plan["destination"], "nightly_bucket");
    assert_eq!(plan["verify_data_percent"], 10);
    assert_eq!(plan["enabled"], true);
    assert!(updated["next_run_ms"].as_i64().is_some(), "an enabled plan has a next run: {updated}");
    assert!(updated["next_run"].as_str().unwrap().ends_with('Z'), "{updated}");

    let updated = json(&at(
        &server,
        &["plan", "update", "nightly", "--clear-retention", "--keep-last", "5", "--all-tables", "--json"],
    ));
    let plan = &updated["plan"];
    assert_eq!(plan["keep_last"], 5);
    for rule in ["keep_within", "keep_daily", "keep_hourly", "keep_weekly", "keep_monthly"] {
        assert!(plan.get(rule).is_none(), "{rule} was cleared: {plan}");
    }
    assert_eq!(plan["tables"], serde_json::json!([]));

    let shown = json(&at(&server, &["plan", "show", "nightly", "--json"]));
    assert_eq!(shown["plan"], updated["plan"]);
    let text = succeeded(&at(&server, &["plan", "show", "nightly"]));
    for expected in ["plan nightly", "every 2h", "every table", "nightly_bucket", "keep last 5", "last run:      never"]
    {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }

    // Errors: a value the server refuses, an unknown plan, a plan that exists,
    // nothing to change.
    let stderr = one_line_error(&at(&server, &["plan", "create", "bad", "--every", "soon", "--destination", "b"]));
    assert!(stderr.contains("'soon' is not a duration") && stderr.contains("OTSParameterInvalid"), "{stderr}");
    assert!(stderr.contains("hint: `tablesafe plan create --help`"), "{stderr}");
    let stderr = one_line_error(&at(&server, &["plan", "update", "nightly", "--keep-within", "forever"]));
    assert!(stderr.contains("'forever'"), "{stderr}");
    for args in [
        ["plan", "show", "nope"].as_slice(),
        &["plan", "update", "nope", "--every", "1h"],
        &["plan", "delete", "nope"],
        &["plan", "run", "nope", "--wait"],
        &["plan", "snapshots", "nope"],
    ] {
        let stderr = one_line_error(&at(&server, args));
        assert!(stderr.contains("error: no backup plan 'nope' (OTSObjectNotExist)"), "{args:?}: {stderr}");
        assert!(stderr.contains("hint: `tablesafe plan list` lists the plans"), "{args:?}: {stderr}");
    }
    let stderr = one_line_error(&at(&server, &["plan", "create", "nightly", "--every", "1h", "--destination", "b"]));
    assert!(stderr.contains("OTSObjectAlreadyExist") && stderr.contains("plan update"), "{stderr}");
    let stderr = one_line_error(&at(&server, &["plan", "update", "nightly"]));
    assert!(stderr.contains("nothing to change"), "{stderr}");
    // A usage error is clap's, with exit status 2.
    let out = at(&server, &["plan", "create", "x", "--every", "1h", "--cron", "* * * * *", "--destination", "b"]);
    assert_eq!(out.status.code(), Some(2), "{}", support::text(&out.stderr));

    let deleted = json(&at(&server, &["plan", "delete", "nightly", "--json"]));
    assert_eq!(deleted, serde_json::json!({ "deleted": "nightly" }));
    assert_eq!(plan_names(&json(&at(&server, &["plan", "list", "--json"]))), ["default"]);
    let file = std::fs::read_to_string(dir.path().join("backup-plans.toml")).unwrap();
    assert!(!file.contains("nightly"), "{file}");
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_run_gives_a_snapshot_and_a_restore_an_equal_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path()).await;
    let create = ["plan", "create", "users", "--every", "1h", "--keep-last", "1", "--destination", "bucket"];
    succeeded(&at(&server, &[&create[..], &["--table", "users"]].concat()));

    // Without --wait: the job, running or already done.
    let started = json(&at(&server, &["plan", "run", "users", "--json"]));
    assert_eq!(started["kind"], "backup");
    assert_eq!(started["plan"], "users");
    let first = started["id"].as_str().unwrap().to_owned();
    let waited = json(&at(&server, &["job", "wait", &first[..8], "--json"]));
    assert_eq!(waited["state"], "succeeded", "{waited}");
    let first_snapshot = waited["snapshot"].as_str().unwrap().to_owned();

    let backup = json(&at(&server, &["plan", "run", "users", "--wait", "--json"]));
    assert_eq!(backup["state"], "succeeded", "{backup}");
    assert_eq!(backup["tables"], serde_json::json!(["users"]));
    assert_eq!(backup["rows"], USERS);
    assert_eq!(backup["verified"], true);
    assert_eq!(backup["forgotten"], serde_json::json!([first_snapshot]), "--keep-last 1 forgets the first");
    assert!(backup["finished"].as_str().unwrap().ends_with('Z'), "{backup}");
    let snapshot = backup["snapshot"].as_str().unwrap().to_owned();
    assert_ne!(snapshot, first_snapshot);

    let text = succeeded(&at(&server, &["plan", "run", "users", "--wait"]));
    assert!(text.starts_with("backup job ") && text.contains(&format!("{USERS} rows")), "{text}");
    assert!(text.contains("verified:      yes") && text.contains("forgotten:     "), "{text}");

    let snapshots = json(&at(&server, &["plan", "snapshots", "users", "--json"]));
    let snapshots = snapshots.as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "retention keeps the newest: {snapshots:?}");
    assert_eq!(snapshots[0]["plan"], "users");
    assert_eq!(snapshots[0]["tables"][0]["rows"], USERS);
    let newest = snapshots[0]["id"].as_str().unwrap().to_owned();

    let points = json(&at(&server, &["plan", "points", "users", "--table", "users", "--json"]));
    assert_eq!(points[0]["table"], "users");
    assert_eq!(points[0]["snapshots"][0]["snapshot"], newest);
    assert_eq!(points[0]["snapshots"][0]["exact"], true);
    let time = points[0]["snapshots"][0]["time"].as_str().unwrap();
    assert!(time.parse::<jiff::Timestamp>().is_ok(), "RFC 3339: {time}");
    let text = succeeded(&at(&server, &["plan", "points", "users", "--table", "users"]));
    assert!(text.contains(&format!("snapshot {}  {time}  exact", &newest[..8])), "{text}");

    let verified = json(&at(&server, &["plan", "verify", "users", "--wait", "--json"]));
    assert_eq!((verified["kind"].as_str(), verified["state"].as_str()), (Some("verify-backup"), Some("succeeded")));
    assert_eq!(verified["snapshot"], newest);
    assert_eq!(verified["verified"], true);

    // A restore to a new table, named by the server and printed.
    let restore = json(&at(&server, &["plan", "restore", "users", "--table", "users", "--wait", "--json"]));
    assert_eq!(restore["state"], "succeeded", "{restore}");
    assert_eq!(restore["snapshot"], newest);
    assert_eq!(restore["rows"], USERS);
    let restored = restore["target_table"].as_str().unwrap().to_owned();
    assert!(restored.starts_with("users_restored_"), "{restored}");
    let source = dump(&server.client, "users").await;
    assert_eq!(source.len(), USERS as usize);
    assert!(dump(&server.client, &restored).await == source, "the restored table has the source's rows");

    // Into a table named with --as, of a snapshot given by prefix, in text.
    let out = at(
        &server,
        &["plan", "restore", "users", "--table", "users", "--snapshot", &newest[..8], "--as", "users_copy", "--wait"],
    );
    let text = succeeded(&out);
    assert!(text.contains("restored into table users_copy") && text.contains("restored into: users_copy"), "{text}");
    assert!(dump(&server.client, "users_copy").await == source);
    let stderr =
        one_line_error(&at(&server, &["plan", "restore", "users", "--table", "users", "--as", "users_copy", "--wait"]));
    assert!(stderr.contains("--overwrite"), "{stderr}");

    // The check of a restore, by id prefix and as `latest` (the newest restore).
    let id = restore["id"].as_str().unwrap();
    let check = json(&at(&server, &["job", "verify-restore", &id[..10], "--wait", "--json"]));
    assert_eq!((check["kind"].as_str(), check["state"].as_str()), (Some("verify-restore"), Some("succeeded")));
    assert_eq!((check["target_table"].as_str(), check["restore_job"].as_str()), (Some(restored.as_str()), Some(id)));
    assert_eq!(check["verified"], true);
    let text = succeeded(&at(&server, &["job", "verify-restore", "latest", "--wait"]));
    assert!(text.contains("table users_copy holds the"), "{text}");

    // The history: newest first, filtered, shown.
    let jobs = json(&at(&server, &["job", "list", "--json"]));
    let kinds: Vec<&str> = jobs.as_array().unwrap().iter().map(|j| j["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "verify-restore",
            "verify-restore",
            "restore",
            "restore",
            "restore",
            "verify-backup",
            "backup",
            "backup",
            "backup"
        ]
    );
    let restores = json(&at(&server, &["job", "list", "--kind", "restore", "--limit", "2", "--json"]));
    assert_eq!(restores.as_array().unwrap().len(), 2);
    let backups = json(&at(&server, &["job", "list", "--plan", "users", "--json"]));
    assert!(backups.as_array().unwrap().iter().all(|j| j["plan"] == "users"), "{backups}");
    let text = succeeded(&at(&server, &["job", "list"]));
    assert!(text.lines().next().unwrap().starts_with("ID "), "{text}");
    assert!(text.contains("failed ") && text.contains("already exists"), "the failed restore and its error:\n{text}");
    let shown = json(&at(&server, &["job", "show", id, "--json"]));
    assert_eq!(shown["target_table"], restored);
    let text = succeeded(&at(&server, &["job", "show", "latest"]));
    assert!(text.starts_with("verify-restore job "), "{text}");

    // Unknown jobs.
    let stderr = one_line_error(&at(&server, &["job", "show", "0123456789abcdef0123456789abcdef"]));
    assert!(stderr.contains("OTSObjectNotExist") && stderr.contains("hint: `tablesafe job list`"), "{stderr}");
    let stderr = one_line_error(&at(&server, &["job", "wait", "zz"]));
    assert!(stderr.contains("no job 'zz'"), "{stderr}");
    let stderr = one_line_error(&at(&server, &["job", "verify-restore", &backup["id"].as_str().unwrap()[..12]]));
    assert!(stderr.contains("not a restore"), "{stderr}");
    server.terminate();
}

/// A plan with `--archive` gives point in time to a table whose client never
/// enabled a stream (`events`): the server keeps its change log (the client's
/// settings unchanged), the plan's backup is exact at a position of it, and
/// `plan restore --to-time` of an instant after the last write, on a table that
/// has been quiet since, gives the table as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archiving_plan_restores_a_table_without_a_stream_to_a_quiet_now() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path()).await;
    let client = &server.client;
    let create = ["plan", "create", "pitr", "--every", "1h", "--archive", "--destination", "pitr"];
    succeeded(&at(&server, &[&create[..], &["--table", "events"]].concat()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let described = client.describe_table("events").await.unwrap();
        assert!(!described.stream.spec.enabled, "the client's stream stays off: {described:?}");
        if described.stream.stream_id.is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the plan's archiver kept no change log: {described:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let backup = json(&at(&server, &["plan", "run", "pitr", "--wait", "--json"]));
    assert_eq!(backup["state"], "succeeded", "{backup}");
    let event = |n: i64| PrimaryKey::new([("source", PkValue::String(format!("s{}", n % 7))), ("n", PkValue::Integer(n))]);
    let mut changes: Vec<RowWrite> = (40..90)
        .map(|n| RowWrite::Put(PutRowRequest::new("events", event(n), [Cell::put("ok", Value::Boolean(true))])))
        .collect();
    changes.extend((0..10).map(|n| RowWrite::Delete(DeleteRowRequest::new("events", event(n)))));
    write(client, changes).await;
    let expected = dump_keyed(client, "events", &["source", "n"]).await;
    assert_eq!(expected.len(), 80);
    let quiet_ms = jiff::Timestamp::now().as_millisecond() + 300;
    loop {
        let points = json(&at(&server, &["plan", "points", "pitr", "--table", "events", "--json"]));
        let reach = points[0]["spans"].as_array().and_then(|s| s.last()).and_then(|s| s["to_ms"].as_i64());
        if reach.is_some_and(|to| to >= quiet_ms) {
            assert_eq!(points[0]["gaps"], serde_json::json!([]), "{points}");
            break;
        }
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(20), "stuck: {points}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let quiet = format!("{:.3}", jiff::Timestamp::from_millisecond(quiet_ms).unwrap());
    let restore = ["plan", "restore", "pitr", "--table", "events", "--to-time", &quiet, "--as", "events_at"];
    let restored = json(&at(&server, &[&restore[..], &["--wait", "--json"]].concat()));
    assert_eq!(restored["state"], "succeeded", "{restored}");
    let copy = dump_keyed(client, "events_at", &["source", "n"]).await;
    assert!(copy == expected, "the restore to the quiet instant equals the table");
    // The job records the table it left (changes replayed over the snapshot), so
    // verify-restore proves it, and notices a change made since.
    assert_eq!(restored["rows"], 80, "{restored}");
    let check = json(&at(&server, &["job", "verify-restore", "latest", "--wait", "--json"]));
    assert_eq!(check["state"], "succeeded", "{check}");
    write(client, vec![RowWrite::Delete(DeleteRowRequest::new("events_at", event(50)))]).await;
    let out = at(&server, &["job", "verify-restore", restored["id"].as_str().unwrap(), "--wait", "--json"]);
    let changed: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), changed["state"].as_str()), (Some(1), Some("failed")), "{changed}");
    server.terminate();
}

/// The value of the sample `name{plan="PLAN"}` in the server's `GET /metrics`.
fn plan_gauge(server: &Server, name: &str, plan: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let address = server.endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"), "{reply}");
    let series = format!("{name}{{plan=\"{plan}\"}} ");
    reply.lines().find_map(|line| line.strip_prefix(&series)).map(|v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_whose_last_run_failed_shows_in_plan_list_show_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path()).await;
    let repo = dir.path().join("nightly-repo");
    let create = ["plan", "create", "nightly", "--every", "1h", "--table", "users", "--destination", "nightly-repo"];
    succeeded(&at(&server, &create));
    let ok = json(&at(&server, &["plan", "run", "nightly", "--wait", "--json"]));
    assert_eq!(ok["state"], "succeeded", "{ok}");
    assert_eq!(plan_gauge(&server, "tablesafe_backup_plan_last_run_failed", "nightly"), Some(0.0));

    // The destination's disk goes away under the server: the next run fails.
    std::fs::remove_dir_all(&repo).unwrap();
    std::fs::write(&repo, b"not a directory").unwrap();
    let out = at(&server, &["plan", "run", "nightly", "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let failed: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(plan_gauge(&server, "tablesafe_backup_plan_last_run_failed", "nightly"), Some(1.0));
    assert!(
        plan_gauge(&server, "tablesafe_backup_last_success_timestamp_seconds", "nightly").is_some(),
        "the last success stays: an alert compares it with now"
    );
    let list = succeeded(&at(&server, &["plan", "list"]));
    let line = list.lines().find(|l| l.starts_with("nightly ")).unwrap();
    assert!(line.contains(" failed "), "{list}");
    let shown = succeeded(&at(&server, &["plan", "show", "nightly"]));
    assert!(shown.contains("last run:      failed ") && shown.contains("last error:    "), "{shown}");
    let listed = json(&at(&server, &["plan", "list", "--json"]));
    let nightly = listed.as_array().unwrap().iter().find(|p| p["plan"]["name"] == "nightly").unwrap();
    assert_eq!(nightly["last_run"]["state"], "failed", "{nightly}");

    // Mended, the next run succeeds and the gauge clears.
    std::fs::remove_file(&repo).unwrap();
    let mended = json(&at(&server, &["plan", "run", "nightly", "--wait", "--json"]));
    assert_eq!(mended["state"], "succeeded", "{mended}");
    assert_eq!(plan_gauge(&server, "tablesafe_backup_plan_last_run_failed", "nightly"), Some(0.0));
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_jobs_and_an_unreachable_server_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    succeeded(&at(&server, &["plan", "create", "empty", "--every", "1h", "--destination", "empty_bucket"]));
    // No snapshot to check yet: the job fails, the command says why and exits 1.
    let out = at(&server, &["plan", "verify", "empty", "--wait"]);
    let stderr = one_line_error(&out);
    assert!(
        stderr.contains("verify-backup job ") && stderr.contains("failed: the repository holds no snapshot"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: `tablesafe plan run empty --wait` makes a snapshot"), "{stderr}");
    assert!(text(&out.stdout).contains("state:         failed"), "the job is printed too");
    let out = at(&server, &["plan", "restore", "empty", "--table", "users", "--wait", "--json"]);
    let stderr = one_line_error(&out);
    assert!(stderr.contains("no snapshot holds table 'users'"), "{stderr}");
    let job: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["state"], "failed");
    let stderr = one_line_error(&at(&server, &["job", "verify-restore", "latest"]));
    assert!(stderr.contains("no restore that succeeded"), "{stderr}");

    // A wrong key, a wrong instance, no key, no server.
    let wrong_key = tablesafe(
        &["plan", "list"],
        &[
            ("TABLESAFE_ENDPOINT", &server.endpoint),
            ("TABLESAFE_INSTANCE", INSTANCE),
            ("TABLESAFE_ACCESS_KEY_SECRET", "x"),
        ],
    );
    assert!(one_line_error(&wrong_key).contains("TABLESAFE_ACCESS_KEY_SECRET"));
    let stderr = one_line_error(&at(&server, &["plan", "list", "--instance", "other"]));
    assert!(stderr.contains("OTSAuthFailed") && stderr.contains("'other'"), "{stderr}");
    let no_key = command(&["plan", "list", "--endpoint", &server.endpoint], &[])
        .env_remove("TABLESAFE_ACCESS_KEY_ID")
        .output()
        .unwrap();
    assert!(one_line_error(&no_key).contains("access key"));
    server.terminate();
    let gone = format!("http://127.0.0.1:{}", free_port());
    let out = tablesafe(&["job", "list", "--endpoint", &gone, "--log", "off"], &[]);
    let stderr = one_line_error(&out);
    assert!(stderr.contains("cannot reach the server") && stderr.contains("tablesafe serve"), "{stderr}");
}

/// The ```sh block of README.md's "The seed's flow from the command line".
fn readme_flow() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split("### The seed's flow from the command line").nth(1).expect("the README section");
    let block = section.split("```sh\n").nth(1).expect("a sh block").split("```").next().unwrap();
    block.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_flow_runs_as_written() {
    let lines = readme_flow();
    assert!(lines.len() >= 8, "{lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path()).await;
    let env = [("TABLESAFE_ENDPOINT", server.endpoint.as_str()), ("TABLESAFE_INSTANCE", INSTANCE)];
    let mut outputs = Vec::new();
    for line in &lines {
        // Plain words: the block uses no quotes, variables or continuations.
        assert!(!line.contains(['\'', '"', '$', '\\', '<', '|']), "not runnable as plain words: {line}");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "tablesafe", "{line}");
        let out = tablesafe(&words[1..], &env);
        assert!(
            out.status.success(),
            "`{line}` failed: {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        outputs.push(text(&out.stdout));
    }
    let all = outputs.join("\n");
    for expected in [
        "backup job ",
        "verify-backup job ",
        "restore job ",
        "verify-restore job ",
        "succeeded: snapshot ",
        "restored into table users_restored_",
    ] {
        assert!(all.contains(expected), "{expected:?} in the flow's output:\n{all}");
    }

    // The restored table exists and holds the source's rows.
    let tables = server.client.list_table().await.unwrap();
    let restored: Vec<&String> = tables.iter().filter(|t| t.starts_with("users_restored_")).collect();
    assert_eq!(restored.len(), 1, "{tables:?}");
    let source = dump(&server.client, "users").await;
    assert_eq!(source.len(), USERS as usize);
    assert!(dump(&server.client, restored[0]).await == source, "the restored table has the rows of users");

    // The job history recorded each step.
    let jobs = json(&at(&server, &["job", "list", "--json"]));
    let steps: Vec<(&str, &str)> =
        jobs.as_array().unwrap().iter().map(|j| (j["kind"].as_str().unwrap(), j["state"].as_str().unwrap())).collect();
    assert_eq!(
        steps,
        [
            ("verify-restore", "succeeded"),
            ("restore", "succeeded"),
            ("verify-backup", "succeeded"),
            ("backup", "succeeded")
        ]
    );
    server.terminate();
}

/// Through the backup API: UpdateSnapshotInfo tags and protects a plan's latest
/// snapshot of a table, ListSnapshots finds it by tag, the plan's retention
/// (keep-last 1) keeps it while protected and forgets it once unprotected (the
/// roles test holds that only admin keys may change it); UpdateJobNote records a recovery's outcome, which
/// `job show` prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_snapshots_outlive_a_plans_retention_and_notes_stay_with_jobs() {
    use tablesafe_client::{ListSnapshotsRequest, UpdateJobNoteRequest, UpdateSnapshotInfoRequest};
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path()).await;
    let client = &server.client;
    let create = ["plan", "create", "keep1", "--every", "1h", "--keep-last", "1", "--table", "users", "--destination", "keep1"];
    succeeded(&at(&server, &create));
    let run = || json(&at(&server, &["plan", "run", "keep1", "--wait", "--json"]));
    let first = run()["snapshot"].as_str().unwrap().to_owned();
    let from = tablesafe_client::Destination { plan: Some("keep1".into()), destination: None };
    let protect = |protected: bool| UpdateSnapshotInfoRequest {
        from: from.clone(),
        table: Some("users".into()),
        description: Some("before the migration".into()),
        add_tags: vec!["pre-migration".into()],
        protected: Some(protected),
        ..UpdateSnapshotInfoRequest::default()
    };
    let info = client.update_snapshot_info(protect(true)).await.unwrap();
    assert_eq!((info.id.as_str(), info.protected), (first.as_str(), true), "{info:?}");
    assert_eq!((info.tags.clone(), info.description.as_deref()), (vec!["pre-migration".to_owned()], Some("before the migration")));
    assert_eq!(info.tables[0].rows, USERS as u64);

    let second = run();
    assert_eq!(second["forgotten"], serde_json::json!([]), "the protected snapshot stays: {second}");
    let tagged = ListSnapshotsRequest { from: from.clone(), tags: vec!["pre-migration".into()], ..ListSnapshotsRequest::default() };
    let found = client.list_snapshots(tagged.clone()).await.unwrap();
    assert_eq!(found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec![first.as_str()]);
    let all = client.list_snapshots(ListSnapshotsRequest { from: from.clone(), ..ListSnapshotsRequest::default() }).await.unwrap();
    assert_eq!(all.len(), 2);

    let unprotect = UpdateSnapshotInfoRequest { from: from.clone(), snapshot: Some(first.clone()), protected: Some(false), ..UpdateSnapshotInfoRequest::default() };
    assert!(!client.update_snapshot_info(unprotect).await.unwrap().protected);
    let third = run();
    let forgotten: Vec<&str> = third["forgotten"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(forgotten.contains(&first.as_str()), "{third}");
    assert!(client.list_snapshots(tagged).await.unwrap().is_empty(), "its notes went with it");

    let restored = json(&at(&server, &["plan", "restore", "keep1", "--table", "users", "--wait", "--json"]));
    let noted = json(&at(&server, &["job", "note", "latest", "--outcome", "accepted", "--note", "checked by ops", "--json"]));
    assert_eq!((noted["id"].as_str(), noted["outcome"].as_str()), (restored["id"].as_str(), Some("accepted")), "{noted}");
    let shown = succeeded(&at(&server, &["job", "show", restored["id"].as_str().unwrap()]));
    assert!(shown.contains("outcome:       accepted") && shown.contains("note:          checked by ops"), "{shown}");
    let request = UpdateJobNoteRequest { job_id: "nope".into(), note: Some("x".into()), outcome: None };
    let missing = client.update_job_note(request).await.unwrap_err();
    assert!(missing.to_string().contains("no job 'nope'"), "{missing}");
    server.terminate();
}
