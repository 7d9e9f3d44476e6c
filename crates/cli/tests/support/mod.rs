//! Helpers shared by the CLI's end-to-end tests: running the binary with a clean
//! environment, checking exit codes, and a real `tablesafe serve` to fill data
//! directories. Each test file includes it with `mod support;`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Value};
use tablesafe_client::{
    BatchWriteRowRequest, Client, CreateTableRequest, PutRowRequest, RetryPolicy, RowWrite, UpdateRowRequest,
};

pub const KEY_ID: &str = "backupKeyId";
pub const SECRET: &str = "backupKeySecret";
pub const INSTANCE: &str = "backuptest";
pub const PASSWORD: &str = "correct horse battery staple";

/// A `tablesafe` command with only the environment a test gives it (no TABLESAFE_*
/// variable of the caller leaks in) plus the access key for endpoints.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tablesafe"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TABLESAFE_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("TABLESAFE_ACCESS_KEY_ID", KEY_ID)
        .env("TABLESAFE_ACCESS_KEY_SECRET", SECRET)
        .envs(env.iter().copied());
    command
}

/// Runs `tablesafe` as [`command`] sets it up.
pub fn tablesafe(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("run tablesafe")
}

/// Runs `tablesafe` with the password in TABLESAFE_PASSWORD.
pub fn with_password(args: &[&str]) -> Output {
    tablesafe(args, &[("TABLESAFE_PASSWORD", PASSWORD)])
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
pub fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Checks a failure: exit code 1, `error:` and `hint:` lines; returns stderr.
#[track_caller]
pub fn failed_with_hint(out: &Output) -> String {
    failed_with_code_and_hint(out, 1)
}

/// As [`failed_with_hint`], for a usage error: exit code 2.
#[track_caller]
pub fn usage_error_with_hint(out: &Output) -> String {
    failed_with_code_and_hint(out, 2)
}

#[track_caller]
fn failed_with_code_and_hint(out: &Output, code: i32) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stdout:\n{}\nstderr:\n{stderr}", text(&out.stdout));
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(stderr.contains("\nhint: "), "{stderr}");
    stderr
}

#[track_caller]
pub fn json(out: &Output) -> Json {
    let stdout = succeeded(out);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}"))
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `tablesafe serve` on a data directory.
pub struct Server {
    pub child: Child,
    pub endpoint: String,
    pub client: Client,
}

impl Server {
    pub async fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[]).await
    }

    /// Starts `tablesafe serve` with extra arguments (and the repository password
    /// in its environment).
    pub async fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_tablesafe"))
            .args(["serve", "--data-dir", path(data_dir), "--instance", INSTANCE])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("TABLESAFE_ACCESS_KEY_ID", KEY_ID)
            .env("TABLESAFE_ACCESS_KEY_SECRET", SECRET)
            .env("TABLESAFE_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = Client::builder(&endpoint, INSTANCE, KEY_ID, SECRET)
            .retry_policy(RetryPolicy::none())
            .request_timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.list_table().await.is_err() {
            assert!(Instant::now() < deadline, "tablesafe serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, endpoint, client }
    }

    /// Stops the server (SIGKILL: acknowledged writes are durable) and waits for it.
    pub fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Stops the server with SIGTERM, as an operator would, and checks it exits 0.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "tablesafe serve exited with {status:?}");
    }
}

/// The key of row `id` of table `users`.
pub fn user_key(id: i64) -> PrimaryKey {
    PrimaryKey::new([("id", PkValue::Integer(id))])
}

/// Writes `rows` in batches of 200; every row must succeed.
pub async fn write(client: &Client, rows: Vec<RowWrite>) {
    for batch in rows.chunks(200) {
        let response = client.batch_write_row(BatchWriteRowRequest { rows: batch.to_vec() }).await.unwrap();
        assert!(response.is_all_ok());
    }
}

/// How many rows [`fill`] writes, and how large their binary cells are.
#[derive(Debug, Clone, Copy)]
pub struct Fill {
    /// Rows of table `users`, ids `0..users`.
    pub users: i64,
    /// Rows of table `events`, n `0..events`.
    pub events: i64,
    /// User `id`'s `avatar` is `id % avatar_sizes` bytes, each `id % 251`.
    pub avatar_sizes: i64,
}

/// Table `users` (stream on, up to 3 versions; cells `name` = "user {id}",
/// `score` = id * 7 and `avatar`; every tenth row's score updated once more, to
/// -id) and table `events` (no stream, key `source` STRING = "s{n % 7}", `n`
/// INTEGER; cell `ok` = n % 3 == 0).
pub async fn fill(client: &Client, fill: Fill) {
    let users = CreateTableRequest::new("users").primary_key("id", PrimaryKeyType::Integer).max_versions(3).stream(24);
    client.create_table(users).await.unwrap();
    let events = CreateTableRequest::new("events")
        .primary_key("source", PrimaryKeyType::String)
        .primary_key("n", PrimaryKeyType::Integer);
    client.create_table(events).await.unwrap();
    let mut rows = Vec::new();
    for id in 0..fill.users {
        let cells = vec![
            Cell::put("name", Value::String(format!("user {id}"))),
            Cell::put("score", Value::Integer(id * 7)),
            Cell::put("avatar", Value::Binary(vec![(id % 251) as u8; (id % fill.avatar_sizes) as usize])),
        ];
        rows.push(RowWrite::Put(PutRowRequest::new("users", user_key(id), cells)));
    }
    for n in 0..fill.events {
        let key = PrimaryKey::new([("source", PkValue::String(format!("s{}", n % 7))), ("n", PkValue::Integer(n))]);
        rows.push(RowWrite::Put(PutRowRequest::new("events", key, [Cell::put("ok", Value::Boolean(n % 3 == 0))])));
    }
    write(client, rows).await;
    for id in (0..fill.users).step_by(10) {
        let update = UpdateRowRequest::new("users", user_key(id)).put("score", Value::Integer(-id));
        client.update_row(update).await.unwrap();
    }
}
