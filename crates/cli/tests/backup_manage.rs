//! Reading and managing a repository end to end through the real binary: `get`
//! and `export` read rows of a snapshot, `forget` and `prune` remove snapshots and
//! their data, `verify` also checks what snapshots reference, and `jobs` lists the
//! runs every repository command records. The README's "Backups" section shows
//! these commands as they are run here.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::path::Path;

use serde_json::Value as Json;
use support::*;
use tablesafe_client::model::{Cell, PrimaryKeyType, Value};
use tablesafe_client::{CreateTableRequest, PutRowRequest, RowWrite, UpdateRowRequest};

const USERS: i64 = 2_000;
const EVENTS: i64 = 300;
/// The tables the tests back up (avatars of 0 to 4 bytes, as the `get` checks expect).
const FILL: Fill = Fill { users: USERS, events: EVENTS, avatar_sizes: 5 };

/// The cell versions of `name` in a row as `get --json` prints it.
fn versions<'a>(row: &'a Json, name: &str) -> Vec<&'a Json> {
    row["cells"].as_array().unwrap().iter().filter(|c| c["name"] == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_export_read_rows_and_verify_checks_what_snapshots_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (data, repo, out_file) = (dir.path().join("data"), dir.path().join("repo"), dir.path().join("users.jsonl"));
    let (data, repo, out_file) = (path(&data), path(&repo), path(&out_file));
    let server = Server::start(Path::new(data)).await;
    fill(&server.client, FILL).await;
    server.stop();
    succeeded(&with_password(&["repo", "init", "--repo", repo]));
    let backup = json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--json"]));
    let first = backup["id"].as_str().unwrap().to_owned();

    // `get` of a row of the first snapshot, as text or (with "--json") as JSON.
    let get = |table: &str, key: &str, more: &[&str]| {
        with_password(&[&["get", &first, "--repo", repo, "--table", table, "--key", key], more].concat())
    };

    // One row with every version of its cells, as JSON.
    let row = json(&get("users", "id=120", &["--json"]));
    assert_eq!(row["pk"], serde_json::json!([{"name": "id", "type": "INTEGER", "value": 120}]), "{row}");
    let scores: Vec<&Json> = versions(&row, "score");
    assert_eq!(scores.len(), 2, "two versions of score: {row}");
    assert_eq!((&scores[0]["value"], &scores[1]["value"]), (&Json::from(-120), &Json::from(840)), "newest first");
    assert!(scores.iter().all(|s| s["type"] == "INTEGER" && s["timestamp"].is_i64()), "{row}");
    assert!(scores[0]["timestamp"].as_i64() > scores[1]["timestamp"].as_i64(), "{row}");
    assert_eq!(versions(&row, "name")[0]["value"], "user 120");
    assert_eq!(versions(&row, "avatar")[0]["type"], "BINARY");
    assert_eq!(versions(&row, "avatar")[0]["value"], "", "120 % 5 == 0 bytes");
    let row = json(&get("users", "id=123", &["--json"]));
    assert_eq!(versions(&row, "avatar")[0]["value"], "7b7b7b", "123 % 5 bytes of 123");
    // A unique prefix of the snapshot id does as well.
    let by_prefix = ["get", &first[..8], "--repo", repo, "--table", "users", "--key", "id=123", "--json"];
    assert_eq!(json(&with_password(&by_prefix)), row);

    // As text: one line per cell version, `name = value @ time`.
    let text_row = succeeded(&get("users", "id=120", &[]));
    let lines: Vec<&str> = text_row.lines().collect();
    assert!(lines[0].starts_with("row id=120 of table 'users' in snapshot "), "{text_row}");
    let cells: Vec<&str> = lines[1..].iter().map(|l| l.trim()).collect();
    assert_eq!(cells.len(), 4, "name, avatar, two scores: {text_row}");
    for prefix in ["score = -120 @ 20", "score = 840 @ 20", "name = \"user 120\" @ 20", "avatar = 0x @ 20"] {
        assert_eq!(cells.iter().filter(|c| c.starts_with(prefix) && c.ends_with('Z')).count(), 1, "{text_row}");
    }

    // Two key columns, typed by the schema; a missing row is exit 1.
    let event = json(&get("events", "source=s1,n=8", &["--json"]));
    assert_eq!(event["pk"][0], serde_json::json!({"name": "source", "type": "STRING", "value": "s1"}));
    let ok = versions(&event, "ok")[0];
    assert_eq!((ok["type"].as_str(), ok["value"].as_bool()), (Some("BOOLEAN"), Some(false)), "{event}");
    let stderr = failed_with_hint(&get("events", "source=s1,n=9", &[]));
    assert!(stderr.contains("error: no such row: table 'events' of snapshot") && stderr.contains("n=9"), "{stderr}");
    // A key that cannot be right for the table is a usage error: exit 2.
    let stderr = usage_error_with_hint(&get("users", "id=x", &[]));
    assert!(stderr.contains("'x' is not a valid INTEGER"), "{stderr}");
    let stderr = usage_error_with_hint(&get("users", "nope=1", &[]));
    assert!(stderr.contains("'nope' is not a key column of table 'users'"), "{stderr}");
    let stderr = usage_error_with_hint(&get("events", "n=1", &[]));
    assert!(stderr.contains("lacks the key column 'source'"), "{stderr}");
    assert!(stderr.contains("hint: the key of table 'events' is --key source=<STRING>,n=<INTEGER>"), "{stderr}");

    // Export: one JSON row per line, as many as the table has.
    let summary =
        json(&with_password(&["export", &first, "--repo", repo, "--table", "users", "--output", out_file, "--json"]));
    assert_eq!((summary["rows"].as_i64(), summary["file"].as_str()), (Some(USERS), Some(out_file)), "{summary}");
    let exported = std::fs::read_to_string(out_file).unwrap();
    let rows: Vec<Json> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len() as i64, USERS);
    assert_eq!(rows[120], json(&get("users", "id=120", &["--json"])));
    let out = with_password(&["export", &first, "--repo", repo, "--table", "users", "--output", out_file]);
    assert!(succeeded(&out).is_empty(), "the count goes to stderr");
    assert!(text(&out.stderr).contains(&format!("exported {USERS} rows of table 'users' of snapshot ")));
    assert_eq!(std::fs::read_to_string(out_file).unwrap(), exported);
    let out = with_password(&["export", &first, "--repo", repo, "--table", "events"]);
    assert_eq!(text(&out.stdout).lines().count() as i64, EVENTS);
    assert!(text(&out.stderr).contains(&format!("exported {EVENTS} rows of table 'events'")), "{}", text(&out.stderr));

    // A change, then an incremental backup over the first: get reads the layers merged.
    let server = Server::start(Path::new(data)).await;
    let update = UpdateRowRequest::new("users", user_key(120)).put("name", Value::String("renamed".into()));
    server.client.update_row(update).await.unwrap();
    server.stop();
    let second = json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--table", "users", "--json"]));
    let second = second["id"].as_str().unwrap().to_owned();
    let row = json(&with_password(&["get", &second, "--repo", repo, "--table", "users", "--key", "id=120", "--json"]));
    let names: Vec<&Json> = versions(&row, "name").iter().map(|c| &c["value"]).collect();
    assert_eq!(names, [&Json::from("renamed"), &Json::from("user 120")], "{row}");

    // `diff` counts rows added, removed and changed per table, naming the first keys.
    let diff = json(&with_password(&["diff", &first, &second, "--repo", repo, "--json"]));
    let tables = diff["tables"].as_array().unwrap();
    let (events, users) = (&tables[0], &tables[1]);
    assert_eq!((diff["old"].as_str(), diff["new"].as_str()), (Some(first.as_str()), Some(second.as_str())));
    assert_eq!((users["table"].as_str(), users["changed"].as_u64()), (Some("users"), Some(1)), "{diff}");
    assert_eq!((users["added"].as_u64(), users["removed"].as_u64()), (Some(0), Some(0)), "{diff}");
    assert_eq!(users["unchanged"].as_i64(), Some(USERS - 1), "{diff}");
    assert_eq!(users["changed_keys"], serde_json::json!(["id=120"]), "{diff}");
    assert_eq!((events["table"].as_str(), events["in_new"].as_bool()), (Some("events"), Some(false)), "{diff}");
    assert_eq!(events["removed"].as_i64(), Some(EVENTS), "the second snapshot holds only users: {diff}");
    let reversed = json(&with_password(&["diff", &second, &first, "--repo", repo, "--table", "events", "--json"]));
    assert_eq!(reversed["tables"].as_array().unwrap().len(), 1, "{reversed}");
    assert_eq!(reversed["tables"][0]["added"].as_i64(), Some(EVENTS), "{reversed}");
    let same = json(&with_password(&["diff", &second, "latest", "--repo", repo, "--table", "users", "--json"]));
    assert_eq!(same["tables"][0]["unchanged"].as_i64(), Some(USERS), "a snapshot equals itself: {same}");
    let text_diff = succeeded(&with_password(&["diff", &first, &second, "--repo", repo, "--table", "users"]));
    assert!(text_diff.contains("users: 0 added, 0 removed, 1 changed,"), "{text_diff}");
    assert!(text_diff.contains("changed  (id=120)"), "{text_diff}");
    let missing = with_password(&["diff", &first, &second, "--repo", repo, "--table", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("holds table 'nope'"), "{}", text(&missing.stderr));

    // `snapshots ID` shows one snapshot: what it holds, what it adds, its base.
    let shown = json(&with_password(&["snapshots", &second[..10], "--repo", repo, "--json"]));
    assert_eq!(shown["id"], second.as_str(), "a prefix names it");
    let users = &shown["tables"][0];
    assert_eq!((users["name"].as_str(), users["rows"].as_i64()), (Some("users"), Some(USERS)), "{shown}");
    assert_eq!((users["base"].as_str(), users["chain"].as_u64()), (Some(first.as_str()), Some(2)), "{shown}");
    assert!(users["chunks"].as_u64().unwrap() >= 1, "{shown}");
    assert!(shown["added_bytes"].as_u64().unwrap() > 0, "{shown}");
    assert_eq!(json(&with_password(&["snapshots", "latest", "--repo", repo, "--json"]))["id"], second.as_str());
    let full = json(&with_password(&["snapshots", &first, "--repo", repo, "--json"]));
    assert_eq!((full["tables"][0]["base"].clone(), full["tables"][0]["chain"].as_u64()), (Json::Null, Some(1)));
    let text_out = succeeded(&with_password(&["snapshots", &second, "--repo", repo]));
    assert!(text_out.starts_with(&format!("snapshot {second}\n")), "{text_out}");
    assert!(text_out.contains(&format!("the changes since snapshot {}", &first[..8])), "{text_out}");
    assert!(text_out.contains("plan:     none (made by hand)"), "{text_out}");
    // `repo stats`: the second snapshot reads the first's users layer again, so
    // the catalog references more than the chunks hold.
    let stats = json(&with_password(&["repo", "stats", "--repo", repo, "--json"]));
    let bytes = |snapshot: &Json| -> u64 {
        snapshot["tables"].as_array().unwrap().iter().map(|t| t["data_bytes"].as_u64().unwrap()).sum()
    };
    let first_users = full["tables"].as_array().unwrap().iter().find(|t| t["name"] == "users").unwrap();
    let logical = bytes(&full) + bytes(&shown) + first_users["data_bytes"].as_u64().unwrap();
    assert_eq!(stats["logical_bytes"].as_u64(), Some(logical), "{stats}");
    assert_eq!(stats["snapshots"].as_u64(), Some(2), "{stats}");
    let field = |name: &str| stats[name].as_u64().unwrap();
    assert!(field("packs") >= 1 && field("chunks") >= field("packs"), "{stats}");
    assert!(field("compressed_bytes") <= field("pack_bytes") && field("pack_bytes") < field("stored_bytes"), "{stats}");
    assert!(stats["dedup_ratio"].as_f64().unwrap() > 1.0, "{stats}");
    assert!(stats["compression_ratio"].as_f64().unwrap() > 1.0, "{stats}");
    let on_disk: u64 = walk(Path::new(repo)).iter().map(|p| p.metadata().unwrap().len()).sum();
    assert_eq!(field("stored_bytes"), on_disk, "every object of the directory counted: {stats}");
    let text_stats = succeeded(&with_password(&["repo", "stats", "--repo", repo]));
    assert!(text_stats.contains("snapshots:    2") && text_stats.contains("dedup:        "), "{text_stats}");

    let missing = with_password(&["snapshots", "ffffffffff", "--repo", repo]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no snapshot ffffffffff"), "{}", text(&missing.stderr));

    // The first snapshot is the base of the second: forgetting it keeps it.
    let out = succeeded(&with_password(&["forget", &first, "--repo", repo]));
    assert!(out.contains(&format!("kept: {first} (a newer snapshot builds on it)")), "{out}");
    assert_eq!(json(&with_password(&["snapshots", "--repo", repo, "--json"])).as_array().unwrap().len(), 2);

    // Verify checks what snapshots reference: without the base, the second is broken.
    succeeded(&with_password(&["verify", "--repo", repo]));
    std::fs::remove_file(Path::new(repo).join("snapshots").join(&first)).unwrap();
    let broken = with_password(&["verify", "--repo", repo]);
    let stderr = failed_with_hint(&broken);
    let stdout = text(&broken.stdout);
    let expected = format!("problem: snapshot {second}, table 'users': the snapshot it builds on, {first}, is missing");
    assert!(stdout.lines().any(|l| l == expected), "{stdout}");
    // The catalog knew the manifest: its loss is reported by name, not only through what built on it.
    let lost = format!("problem: object 'snapshots/{first}' is missing from the repository: the catalog records it");
    assert!(stdout.lines().any(|l| l.starts_with(&lost)), "{stdout}");
    assert!(stderr.contains("2 problems in repository"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_and_prune_remove_old_data_and_jobs_list_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let (data, repo) = (dir.path().join("data"), dir.path().join("repo"));
    let (data, repo) = (path(&data), path(&repo));
    let server = Server::start(Path::new(data)).await;
    let table = CreateTableRequest::new("plain").primary_key("id", PrimaryKeyType::Integer);
    server.client.create_table(table).await.unwrap();
    let rows = |round: i64| -> Vec<RowWrite> {
        (0..USERS)
            .map(|id| {
                let cells = [Cell::put("v", Value::String(format!("round {round} value {id:>30}")))];
                RowWrite::Put(PutRowRequest::new("plain", user_key(id), cells))
            })
            .collect()
    };
    write(&server.client, rows(1)).await;
    server.stop();
    succeeded(&with_password(&["repo", "init", "--repo", repo]));
    let old = json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--json"]));
    let old = old["id"].as_str().unwrap().to_owned();
    // Every row rewritten: the second (full: no stream) backup shares no data with the first.
    let server = Server::start(Path::new(data)).await;
    write(&server.client, rows(2)).await;
    server.stop();
    let new = json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--json"]));
    let new = new["id"].as_str().unwrap().to_owned();

    let report = json(&with_password(&["forget", "--keep-last", "1", "--prune", "--repo", repo, "--json"]));
    assert_eq!(report["forgotten"], serde_json::json!([old]), "{report}");
    assert_eq!(report["kept_as_base"], serde_json::json!([]), "{report}");
    let prune = &report["prune"];
    assert!(prune["chunks_removed"].as_u64().unwrap() > 0 && prune["bytes_freed"].as_u64().unwrap() > 0, "{report}");
    assert!(prune["packs_deleted"].as_u64().unwrap() + prune["packs_rewritten"].as_u64().unwrap() > 0, "{report}");
    let catalog = json(&with_password(&["snapshots", "--repo", repo, "--json"]));
    assert_eq!(catalog.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect::<Vec<_>>(), [&new]);
    // Nothing left to remove; the repository is sound and the kept snapshot restores.
    let out = succeeded(&with_password(&["prune", "--repo", repo]));
    assert!(out.contains("0 chunks removed"), "{out}");
    let out = succeeded(&with_password(&["verify", "--repo", repo, "--read-data"]));
    assert!(out.contains("no problems"), "{out}");
    let args = ["restore", &new, "--repo", repo, "--table", "plain", "--as", "plain_copy", "--data-dir", data];
    let out = succeeded(&with_password(&args));
    assert!(out.contains(&format!("{USERS} rows")), "{out}");
    let args = ["verify-restore", &new, "--repo", repo, "--table", "plain", "--live", "plain_copy", "--data-dir", data];
    succeeded(&with_password(&args));
    let row = json(&with_password(&["get", &new, "--repo", repo, "--table", "plain", "--key", "id=5", "--json"]));
    assert!(row["cells"][0]["value"].as_str().unwrap().starts_with("round 2 "), "{row}");

    // Failures are recorded too: a restore into a table that holds rows, an unknown snapshot.
    failed_with_hint(&with_password(&["restore", &new, "--repo", repo, "--table", "plain", "--data-dir", data]));
    failed_with_hint(&with_password(&["forget", "feedface", "--repo", repo]));
    // ... but not a run that could not open the repository.
    failed_with_hint(&tablesafe(&["prune", "--repo", repo], &[("TABLESAFE_PASSWORD", "wrong")]));

    let jobs = json(&with_password(&["jobs", "--repo", repo, "--json"]));
    let jobs = jobs.as_array().unwrap();
    let runs: Vec<(&str, &str)> =
        jobs.iter().map(|j| (j["kind"].as_str().unwrap(), j["result"].as_str().unwrap())).collect();
    assert_eq!(
        runs,
        [
            ("backup", "ok"),
            ("backup", "ok"),
            ("forget", "ok"),
            ("prune", "ok"),
            ("prune", "ok"),
            ("verify", "ok"),
            ("restore", "ok"),
            ("verify-restore", "ok"),
            ("restore", "failed"),
            ("forget", "failed"),
        ],
        "{jobs:#?}"
    );
    let data_dir = std::fs::canonicalize(data).unwrap();
    let (backup, forget, prune) = (&jobs[1], &jobs[2], &jobs[3]);
    assert_eq!((backup["snapshot"].as_str(), backup["rows"].as_i64()), (Some(new.as_str()), Some(USERS)));
    assert!(backup["bytes"].as_u64().unwrap() > 0 && backup["tables"] == serde_json::json!(["plain"]), "{backup}");
    assert_eq!(backup["location"].as_str(), data_dir.to_str());
    assert_eq!(forget["snapshot"].as_str(), Some(old.as_str()));
    assert_eq!(prune["bytes"], report["prune"]["bytes_freed"]);
    let restore = &jobs[6];
    assert_eq!(restore["tables"], serde_json::json!(["plain", "plain_copy"]));
    assert_eq!((restore["rows"].as_i64(), restore["snapshot"].as_str()), (Some(USERS), Some(new.as_str())));
    assert!(restore["bytes"].as_u64().unwrap() > 0, "{restore}");
    assert!(jobs.iter().all(|j| j["time"].as_str().unwrap().ends_with('Z')));
    assert!(jobs[..8].iter().all(|j| j["error"].is_null()));
    assert!(jobs[8]["error"].as_str().unwrap().contains("table 'plain' already exists"), "{:#}", jobs[8]);
    assert!(jobs[9]["error"].as_str().unwrap().contains("no snapshot feedface"), "{:#}", jobs[9]);

    let listing = succeeded(&with_password(&["jobs", "--repo", repo]));
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with("TIME") && lines[0].contains("RESULT"), "{listing}");
    assert!(listing.contains("  failed: table 'plain' already exists"), "{listing}");
    assert_eq!(lines.iter().filter(|l| l.contains(" restore ") && l.contains(" failed ")).count(), 1, "{listing}");

    // Retention rules keep what any of them keeps; the one snapshot left is the
    // newest of today and within a day of itself.
    let kept = json(&with_password(&["forget", "--keep-within", "1d", "--keep-daily", "1", "--repo", repo, "--json"]));
    assert_eq!(kept["forgotten"], serde_json::json!([]), "{kept}");
    let bad_zone = with_password(&["forget", "--keep-daily", "1", "--timezone", "Mars/Olympus", "--repo", repo]);
    assert!(failed_with_hint(&bad_zone).contains("Mars/Olympus"));
}

#[test]
fn forget_needs_snapshots_or_keep_last() {
    let dir = tempfile::tempdir().unwrap();
    let repo = path(dir.path());
    assert_eq!(with_password(&["forget", "--repo", repo]).status.code(), Some(2));
    assert_eq!(with_password(&["forget", "abc", "--keep-last", "1", "--repo", repo]).status.code(), Some(2));
    assert_eq!(with_password(&["forget", "--keep-last", "0", "--repo", repo]).status.code(), Some(2));
    assert_eq!(with_password(&["forget", "abc", "--keep-daily", "1", "--repo", repo]).status.code(), Some(2));
    assert_eq!(with_password(&["forget", "--keep-within", "soon", "--repo", repo]).status.code(), Some(2));
    assert_eq!(with_password(&["get", "abc", "--repo", repo, "--table", "t"]).status.code(), Some(2), "--key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_keys_are_listed_added_removed_and_the_password_changed_without_rewriting_data() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, data) = (dir.path().join("repo"), dir.path().join("data"));
    let server = Server::start(&data).await;
    fill(&server.client, Fill { users: 50, events: 10, avatar_sizes: 2 }).await;
    server.stop();
    let (repo, data) = (path(&repo), path(&data));
    succeeded(&with_password(&["repo", "init", "--repo", repo]));
    let snapshot = json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--json"]));
    // The objects that hold the data and its catalog (not keys, locks or job records).
    let data_objects = || -> Vec<(std::path::PathBuf, u64)> {
        let mut files: Vec<_> = walk(Path::new(repo))
            .into_iter()
            .filter(|p| ["config", "data", "index", "snapshots"].iter().any(|d| p.starts_with(Path::new(repo).join(d))))
            .map(|p| (p.clone(), p.metadata().unwrap().len()))
            .collect();
        files.sort();
        files
    };
    let before = data_objects();

    let keys = json(&with_password(&["repo", "key", "list", "--repo", repo, "--json"]));
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!((keys[0]["access"].as_str(), keys[0]["sealing"].as_str()), (Some("full"), Some("password")));
    assert_eq!(keys[0]["current"], true);
    let first_key = keys[0]["id"].as_str().unwrap().to_owned();

    // A changed password opens; the old one no longer does; no data object changes.
    let new = [("TABLESAFE_PASSWORD", PASSWORD), ("TABLESAFE_NEW_PASSWORD", "a new long password")];
    let changed = json(&tablesafe(&["repo", "key", "passwd", "--repo", repo, "--json"], &new));
    assert_eq!(changed["removed"].as_str(), Some(first_key.as_str()), "{changed}");
    let old = with_password(&["snapshots", "--repo", repo]);
    assert_eq!(old.status.code(), Some(1));
    assert!(text(&old.stderr).contains("wrong password"), "{}", text(&old.stderr));
    let with_new = |args: &[&str]| tablesafe(args, &[("TABLESAFE_PASSWORD", "a new long password")]);
    let listed = json(&with_new(&["snapshots", "--repo", repo, "--json"]));
    assert_eq!(listed[0]["id"], snapshot["id"]);
    succeeded(&with_new(&["verify", "--repo", repo, "--read-data"]));
    assert_eq!(data_objects(), before, "no data rewritten");

    // An age key added beside it; removal guards the current key and the last full key.
    let owner = age::x25519::Identity::generate();
    let identity_file = dir.path().join("owner.txt");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(&identity_file, format!("{}\n", owner.to_string().expose_secret())).unwrap();
    }
    let recipient = owner.to_public().to_string();
    let added = json(&with_new(&["repo", "key", "add", "--recipient", &recipient, "--repo", repo, "--json"]));
    let age_key = added["added"].as_str().unwrap().to_owned();
    let with_identity = |args: &[&str]| tablesafe(args, &[("TABLESAFE_IDENTITY_FILE", path(&identity_file))]);
    let keys = json(&with_identity(&["repo", "key", "list", "--repo", repo, "--json"]));
    let current: Vec<&str> =
        keys.as_array().unwrap().iter().filter(|k| k["current"] == true).map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(current, [age_key.as_str()], "{keys}");
    let refused = with_identity(&["repo", "key", "remove", &age_key[..8], "--repo", repo]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("opened with"), "{}", text(&refused.stderr));
    let password_key = changed["added"].as_str().unwrap();
    succeeded(&with_identity(&["repo", "key", "remove", password_key, "--repo", repo]));
    let gone = with_new(&["snapshots", "--repo", repo]);
    assert!(text(&gone.stderr).contains("wrong password"), "the removed key no longer opens");
    assert_eq!(json(&with_identity(&["snapshots", "--repo", repo, "--json"]))[0]["id"], snapshot["id"]);
    assert_eq!(data_objects(), before, "no data rewritten");

    // No new password is a usage error.
    let out = with_password(&["repo", "key", "add", "--repo", repo]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// Every file under `dir`, recursively, but the repository's scratch directory.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != ".tmp") {
                files.extend(walk(&path));
            }
        } else {
            files.push(path);
        }
    }
    files
}

/// `snapshot tag` and `snapshot protect` attach notes to a snapshot; `snapshots
/// --tag` finds it; `forget --keep-last 1` keeps a protected snapshot (and says
/// so), refuses to forget it by id, and forgets it once unprotected; `--tag`
/// makes forget choose among tagged snapshots only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_snapshots_outlive_forget_until_unprotected_and_tags_find_them() {
    let dir = tempfile::tempdir().unwrap();
    let (data, repo) = (dir.path().join("data"), dir.path().join("repo"));
    let (data, repo) = (path(&data), path(&repo));
    // A table without a stream: every backup is a full copy, so no snapshot is
    // kept only as another's base.
    let server = Server::start(Path::new(data)).await;
    server.client.create_table(CreateTableRequest::new("plain").primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    let cells = || vec![Cell::put("v", Value::Integer(1))];
    write(&server.client, (0..50).map(|id| RowWrite::Put(PutRowRequest::new("plain", user_key(id), cells()))).collect()).await;
    server.stop();
    succeeded(&with_password(&["repo", "init", "--repo", repo]));
    let ids: Vec<String> = (0..3)
        .map(|_| json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--json"]))["id"].as_str().unwrap().to_owned())
        .collect();
    let (first, second) = (&ids[0], &ids[1]);

    let tagged = json(&with_password(&[
        "snapshot", "tag", &first[..10], "--repo", repo, "--tag", "pre-migration", "--tag", "audit", "--description", "before v2", "--json",
    ]));
    assert_eq!((tagged["snapshot"].as_str(), &tagged["tags"]), (Some(first.as_str()), &serde_json::json!(["audit", "pre-migration"])));
    assert_eq!(tagged["description"], "before v2");
    succeeded(&with_password(&["snapshot", "tag", second, "--repo", repo, "--tag", "audit"]));
    let untagged = json(&with_password(&["snapshot", "tag", second, "--repo", repo, "--untag", "audit", "--tag", "weekly", "--json"]));
    assert_eq!(untagged["tags"], serde_json::json!(["weekly"]));
    succeeded(&with_password(&["snapshot", "protect", first, "--repo", repo]));
    let bad = with_password(&["snapshot", "tag", first, "--repo", repo, "--tag", "no spaces"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("tag 'no spaces' is not valid"), "{}", text(&bad.stderr));
    let nothing = with_password(&["snapshot", "tag", first, "--repo", repo]);
    assert_eq!(nothing.status.code(), Some(2), "{}", text(&nothing.stderr));

    let listed = json(&with_password(&["snapshots", "--repo", repo, "--tag", "audit", "--json"]));
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![first.as_str()]);
    let shown = succeeded(&with_password(&["snapshots", first, "--repo", repo]));
    assert!(shown.contains("tags:     audit, pre-migration") && shown.contains("protected:") && shown.contains("before v2"), "{shown}");
    let table = succeeded(&with_password(&["snapshots", "--repo", repo]));
    assert!(table.lines().any(|l| l.starts_with(&first[..8]) && l.contains("protected")), "{table}");

    // Among the `weekly` ones only: the newest of them is kept, nothing else is chosen.
    let weekly = json(&with_password(&["forget", "--repo", repo, "--keep-last", "1", "--tag", "weekly", "--json"]));
    assert_eq!(weekly["forgotten"], serde_json::json!([]), "{weekly}");
    let forgot = json(&with_password(&["forget", "--repo", repo, "--keep-last", "1", "--json"]));
    assert_eq!(forgot["forgotten"], serde_json::json!([second]), "{forgot}");
    assert_eq!(forgot["kept_protected"], serde_json::json!([first]), "{forgot}");
    let refused = with_password(&["forget", first, "--repo", repo]);
    assert!(text(&refused.stderr).contains("is protected"), "{}", text(&refused.stderr));
    succeeded(&with_password(&["snapshot", "unprotect", first, "--repo", repo]));
    let forgot = json(&with_password(&["forget", "--repo", repo, "--keep-last", "1", "--json"]));
    assert_eq!(forgot["forgotten"], serde_json::json!([first]), "{forgot}");
    let left = json(&with_password(&["snapshots", "--repo", repo, "--json"]));
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert!(!walk(Path::new(repo)).iter().any(|p| p.to_string_lossy().contains(first.as_str())), "its notes went with it");
}
