//! The backup commands end to end through the real binary: a data directory
//! filled by a real `tablesafe serve`, a repository in a temporary directory, and
//! `repo init`, `backup`, `snapshots`, `restore`, `verify-restore` and `verify`
//! with their outputs (text and JSON), exit codes and hints. The README's
//! "Backups" section shows these commands as they are run here.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use support::*;
use tablesafe_client::model::Value;
use tablesafe_client::UpdateRowRequest;

const USERS: i64 = 3_000;
const EVENTS: i64 = 500;
/// The tables the tests back up (avatars of 0 to 39 bytes).
const FILL: Fill = Fill { users: USERS, events: EVENTS, avatar_sizes: 40 };

/// The relative path of the first pack file of a local repository.
fn first_pack(repo: &Path) -> String {
    let data = repo.join("data");
    let mut packs: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .flat_map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    packs.sort();
    let pack = packs.first().expect("the repository has a pack");
    pack.strip_prefix(repo).unwrap().to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_up_a_stopped_data_dir_restore_verify_and_detect_damage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let repo = dir.path().join("repo");
    let (data, repo) = (path(&data), path(&repo));
    let server = Server::start(Path::new(data)).await;
    fill(&server.client, FILL).await;
    server.stop();

    let out = succeeded(&with_password(&["repo", "init", "--repo", repo]));
    assert!(out.contains("created repository"), "{out}");

    // Backup: every table, consistent, the stream-enabled one at a stream position.
    let backup = json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--json"]));
    let id = backup["id"].as_str().unwrap().to_owned();
    let tables = backup["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "{backup}");
    let table = |name: &str| tables.iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!(table("users")["rows"], USERS);
    assert_eq!(table("users")["consistency"], "exact");
    assert!(table("users")["stream_position"].is_u64(), "{backup}");
    assert_eq!(table("events")["rows"], EVENTS);
    assert!(table("events")["stream_position"].is_null(), "{backup}");
    assert_eq!(backup["rows"], USERS + EVENTS);
    assert!(backup["added_bytes"].as_u64().unwrap() > 0, "{backup}");

    // The catalog, as JSON and as text.
    let catalog = json(&with_password(&["snapshots", "--repo", repo, "--json"]));
    let snapshots = catalog.as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "{catalog}");
    let snapshot = &snapshots[0];
    assert_eq!(snapshot["id"], id.as_str());
    let time = snapshot["time"].as_str().unwrap();
    assert!(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T', "RFC 3339 UTC: {time}");
    assert_eq!(snapshot["rows"], USERS + EVENTS);
    assert!(snapshot["data_bytes"].as_u64().unwrap() > 0 && snapshot["added_bytes"].as_u64().unwrap() > 0);
    for field in ["name", "rows", "data_bytes", "consistency", "stream_position"] {
        assert!(snapshot["tables"][0].get(field).is_some(), "no {field} in {snapshot}");
    }
    let listing = succeeded(&with_password(&["snapshots", "--repo", repo]));
    assert!(listing.contains(&id[..8]) && listing.contains("events:exact") && listing.contains("users@"), "{listing}");

    // Restore beside the original, then prove the copy equals the snapshot.
    let restored = json(&with_password(&[
        "restore",
        &id[..8],
        "--repo",
        repo,
        "--table",
        "users",
        "--as",
        "users_copy",
        "--data-dir",
        data,
        "--json",
    ]));
    assert_eq!((restored["target"].as_str(), restored["rows"].as_i64()), (Some("users_copy"), Some(USERS)));
    let verified = json(&with_password(&[
        "verify-restore",
        &id,
        "--repo",
        repo,
        "--table",
        "users",
        "--live",
        "users_copy",
        "--data-dir",
        data,
        "--json",
    ]));
    assert_eq!(verified["equal"], true, "{verified}");
    let out =
        succeeded(&with_password(&["verify-restore", &id, "--repo", repo, "--table", "events", "--data-dir", data]));
    assert!(out.contains("equals"), "{out}");

    // Restoring over a table that holds rows needs --as or --overwrite.
    let stderr =
        failed_with_hint(&with_password(&["restore", &id, "--repo", repo, "--table", "users", "--data-dir", data]));
    assert!(stderr.contains("already exists") && stderr.contains("hint: pass --as NEW"), "{stderr}");

    // `latest` names the newest snapshot holding the table: after a backup of
    // `events` alone, `users` still restores from the first snapshot.
    let events_only =
        json(&with_password(&["backup", "--repo", repo, "--data-dir", data, "--table", "events", "--json"]));
    let events_id = events_only["id"].as_str().unwrap().to_owned();
    assert_ne!(events_id, id);
    let restore_latest = |table: &str, target: &str| {
        json(&with_password(&[
            "restore", "latest", "--repo", repo, "--table", table, "--as", target, "--data-dir", data, "--json",
        ]))
    };
    let users_latest = restore_latest("users", "users_latest");
    assert_eq!((users_latest["snapshot"].as_str(), users_latest["rows"].as_i64()), (Some(id.as_str()), Some(USERS)));
    let events_latest = restore_latest("events", "events_latest");
    assert_eq!(events_latest["snapshot"].as_str(), Some(events_id.as_str()), "{events_latest}");
    let verified = json(&with_password(&[
        "verify-restore", "latest", "--repo", repo, "--table", "users", "--live", "users_latest", "--data-dir", data,
        "--json",
    ]));
    assert_eq!((verified["equal"].as_bool(), verified["snapshot"].as_str()), (Some(true), Some(id.as_str())));
    // A --data-dir that does not exist is not made silently: a mistyped path must
    // not restore into a new, empty TableSafe.
    let missing = format!("{data}-typo");
    let stderr = failed_with_hint(&with_password(&["restore", "latest", "--repo", repo, "--table", "users", "--data-dir", &missing]));
    assert!(stderr.contains(&format!("the data directory {missing} does not exist")), "{stderr}");
    assert!(stderr.contains("--create"), "{stderr}");
    assert!(!Path::new(&missing).exists(), "nothing is left behind");
    let created = json(&with_password(&[
        "restore", "latest", "--repo", repo, "--table", "users", "--data-dir", &missing, "--create", "--json",
    ]));
    assert_eq!(created["rows"].as_i64(), Some(USERS), "{created}");
    let none = with_password(&["restore", "latest", "--repo", repo, "--table", "nope", "--data-dir", data]);
    let stderr = failed_with_hint(&none);
    assert!(stderr.contains("no snapshot holds table 'nope'"), "{stderr}");

    // A wrong password is one clear error with a hint.
    let wrong = tablesafe(&["snapshots", "--repo", repo], &[("TABLESAFE_PASSWORD", "not it")]);
    let stderr = failed_with_hint(&wrong);
    assert!(stderr.contains("wrong password"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "the password is never printed");

    // Verification passes; after one flipped byte in a pack, reading the data fails and names the pack.
    let out = succeeded(&with_password(&["verify", "--repo", repo, "--read-data"]));
    assert!(out.contains("no problems"), "{out}");
    let pack = first_pack(Path::new(repo));
    let file = Path::new(repo).join(&pack);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    succeeded(&with_password(&["verify", "--repo", repo])); // Without --read-data only existence is checked.
    let damaged = with_password(&["verify", "--repo", repo, "--read-data"]);
    let stderr = failed_with_hint(&damaged);
    let stdout = text(&damaged.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("problem: ") && l.contains(&pack)), "{stdout}");
    assert!(stderr.contains("1 problem"), "{stderr}");
    let report = tablesafe(&["verify", "--repo", repo, "--read-data", "--json"], &[("TABLESAFE_PASSWORD", PASSWORD)]);
    assert_eq!(report.status.code(), Some(1));
    let report: Json = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!((report["ok"].as_bool(), report["problems"][0]["object"].as_str()), (Some(false), Some(pack.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_up_and_restore_through_an_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let repo = dir.path().join("repo");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let (data, repo, password_file) = (path(&data), path(&repo), path(&password_file));
    let server = Server::start(Path::new(data)).await;
    fill(&server.client, FILL).await;
    let endpoint = server.endpoint.as_str();
    // Every command here reads the password from the file.
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--password-file", password_file]);
        tablesafe(&all, &[])
    };

    succeeded(&run(&["repo", "init", "--repo", repo]));

    // The data directory is locked by the running server.
    let stderr = failed_with_hint(&run(&["backup", "--repo", repo, "--data-dir", data]));
    assert!(stderr.contains("hint: stop `tablesafe serve` or use --endpoint"), "{stderr}");

    let args = ["backup", "--repo", repo, "--endpoint", endpoint, "--instance", INSTANCE, "--json"];
    let backup = json(&run(&args));
    let id = backup["id"].as_str().unwrap().to_owned();
    assert_eq!(backup["rows"], USERS + EVENTS);
    // Read through the API, a table with a stream is made exact at the stream
    // position reached after its scan; one without a stream stays fuzzy.
    for table in backup["tables"].as_array().unwrap() {
        if table["name"] == "events" {
            assert_eq!(table["consistency"], "fuzzy", "{backup}");
            let note = table["note"].as_str().unwrap();
            assert_eq!(note, "fuzzy: the table has no stream; rows were read while writes could continue");
        } else {
            assert_eq!(table["consistency"], "exact", "{backup}");
            assert!(table["stream_position"].is_u64() && table.get("note").is_none(), "{backup}");
        }
    }
    let text_backup = succeeded(&run(&[&args[..7], &["--table", "events"]].concat()));
    assert!(text_backup.contains("fuzzy: the table has no stream"), "{text_backup}");

    let args = [
        "restore",
        &id,
        "--repo",
        repo,
        "--table",
        "users",
        "--as",
        "users_copy",
        "--endpoint", // the address has one name in every command (`--to` still works)
        endpoint,
        "--instance",
        INSTANCE,
    ];
    let out = succeeded(&run(&args));
    assert!(out.contains(&format!("{USERS} rows")), "{out}");
    let args = [
        "verify-restore",
        &id,
        "--repo",
        repo,
        "--table",
        "users",
        "--live",
        "users_copy",
        "--endpoint",
        endpoint,
        "--instance",
        INSTANCE,
    ];
    let out = succeeded(&run(&args));
    assert!(out.contains("equals"), "{out}");

    // A change to the copy: not equal, exit 1, and the differing range is named.
    let change = UpdateRowRequest::new("users_copy", user_key(1234)).put("name", Value::String("changed".into()));
    server.client.update_row(change).await.unwrap();
    let differs = run(&[&args[..], &["--json"]].concat());
    assert_eq!(differs.status.code(), Some(1), "{}", text(&differs.stderr));
    let report: Json = serde_json::from_slice(&differs.stdout).unwrap();
    assert_eq!(report["equal"], false);
    let ranges = report["differing_ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 1, "one changed row, one range: {report}");
    assert_eq!(report["different"], serde_json::json!({"count": 1, "first": ["id=1234"]}), "{report}");
    assert_eq!(report["missing"]["count"], 0, "{report}");
    let differs = run(&args);
    let stdout = text(&differs.stdout);
    assert!(stdout.contains("differing key ranges (1):\n  from id="), "{stdout}");
    assert!(stdout.contains("  different (in both, with other cells): 1 row: id=1234\n"), "{stdout}");

    // A row gone and a row added: each named by kind, with the counts.
    let gone = tablesafe_client::DeleteRowRequest::new("users_copy", user_key(7));
    server.client.delete_row(gone).await.unwrap();
    let added = tablesafe_client::PutRowRequest::new("users_copy", user_key(USERS + 5), [
        tablesafe_client::model::Cell::put("name", Value::String("new".into())),
    ]);
    server.client.put_row(added).await.unwrap();
    let report: Json = serde_json::from_slice(&run(&[&args[..], &["--json"]].concat()).stdout).unwrap();
    assert_eq!(report["missing"], serde_json::json!({"count": 1, "first": ["id=7"]}), "{report}");
    let extra = format!("id={}", USERS + 5);
    assert_eq!(report["extra"], serde_json::json!({"count": 1, "first": [extra]}), "{report}");
    assert_eq!(report["different"]["count"], 1, "{report}");
    assert_eq!(report["live_rows"], USERS, "one row fewer, one more: {report}");
    let stdout = text(&run(&args).stdout);
    assert!(stdout.contains("  missing (in the snapshot, not the live table): 1 row: id=7\n"), "{stdout}");
    assert!(stdout.contains(&format!("  extra (in the live table, not the snapshot): 1 row: {extra}\n")), "{stdout}");
    let differs = run(&args);
    assert!(!stdout.contains("Integer"), "keys as a person writes them: {stdout}");
    assert!(text(&differs.stderr).contains("error: live table 'users_copy' differs"), "{}", text(&differs.stderr));
    server.stop();
}

#[test]
fn usage_errors_exit_2_and_missing_secrets_exit_1_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let repo = path(dir.path());
    // No table source, or an endpoint without an instance: usage errors.
    assert_eq!(with_password(&["backup", "--repo", repo]).status.code(), Some(2));
    let no_instance = with_password(&["backup", "--repo", repo, "--endpoint", "http://127.0.0.1:1"]);
    assert_eq!(no_instance.status.code(), Some(2));
    assert_eq!(with_password(&["restore", "x", "--repo", repo, "--data-dir", repo]).status.code(), Some(2), "--table");
    // Nothing to open the repository with.
    let stderr = failed_with_hint(&tablesafe(&["repo", "init", "--repo", repo], &[]));
    assert!(stderr.contains("password or an age recipient"), "{stderr}");
    let stderr = failed_with_hint(&tablesafe(&["snapshots", "--repo", repo], &[]));
    assert!(stderr.contains("TABLESAFE_PASSWORD"), "{stderr}");
    // Not a repository.
    let stderr = failed_with_hint(&with_password(&["snapshots", "--repo", repo]));
    assert!(stderr.contains("repo init"), "{stderr}");
    // A repository that is not there is not made by looking for it.
    let missing = dir.path().join("no/such/repo");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for args in [
        &["snapshots", "--repo", path(&missing)][..],
        &["backup", "--repo", path(&missing), "--data-dir", path(&data)][..],
    ] {
        let stderr = failed_with_hint(&with_password(args));
        assert!(stderr.contains("no usable repository"), "{stderr}");
        assert!(!dir.path().join("no").exists(), "{args:?} left a directory behind");
    }
}

#[test]
fn age_identities_open_a_repository_and_write_only_keys_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let data = dir.path().join("data");
    let (owner, host) = (age::x25519::Identity::generate(), age::x25519::Identity::generate());
    let identity_file = |name: &str, identity: &age::x25519::Identity| {
        use age::secrecy::ExposeSecret;
        let file = dir.path().join(name);
        std::fs::write(&file, format!("# test key\n{}\n", identity.to_string().expose_secret())).unwrap();
        file
    };
    let (owner_file, host_file) = (identity_file("owner.txt", &owner), identity_file("host.txt", &host));
    let (repo, data, owner_file, host_file) = (path(&repo), path(&data), path(&owner_file), path(&host_file));
    let (owner_key, host_key) = (owner.to_public().to_string(), host.to_public().to_string());
    let init = ["repo", "init", "--repo", repo, "--recipient", &owner_key, "--write-only-recipient", &host_key];
    let out = succeeded(&tablesafe(&init, &[]));
    assert!(out.contains("1 age identity") && out.contains("write-only"), "{out}");
    // An empty data directory (created by a restore target elsewhere would do too).
    std::fs::create_dir_all(Path::new(data).join("engine")).unwrap();
    succeeded(&tablesafe(&["backup", "--repo", repo, "--data-dir", data, "--identity-file", host_file], &[]));
    let stderr =
        failed_with_hint(&tablesafe(&["verify", "--repo", repo, "--read-data", "--identity-file", host_file], &[]));
    assert!(stderr.contains("can write backups but not read them"), "{stderr}");
    let stderr = failed_with_hint(&tablesafe(&["snapshots", "--repo", repo], &[("TABLESAFE_PASSWORD", PASSWORD)]));
    assert!(stderr.contains("wrong password"), "{stderr}");
    let catalog =
        json(&tablesafe(&["snapshots", "--repo", repo, "--json"], &[("TABLESAFE_IDENTITY_FILE", owner_file)]));
    assert_eq!(catalog.as_array().unwrap().len(), 1);
    succeeded(&tablesafe(&["verify", "--repo", repo, "--read-data", "--identity-file", owner_file], &[]));
}
