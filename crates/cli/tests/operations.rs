//! What an operator installs and reads, through the real binary: the systemd unit
//! under `packaging/` (checked by `systemd-analyze verify` against the built
//! binary), shell completions and manual pages, and the logs a service writes to
//! a file or the journal (no colours, no line per request, one line for a call
//! that retried and failed), and the size of the release binary.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use support::*;

/// `tablesafe serve` on `data` and a free port, with `extra` arguments and `env`:
/// the command and the address it listens on.
fn serve_command(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Command, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [&["serve", "--data-dir", path(data), "--instance", INSTANCE, "--listen", &listen], extra].concat();
    (command(&args, env), listen)
}

/// Runs `tablesafe serve` expecting it to fail at start; its output (killed, and
/// the test failed, if it is still running after a minute).
fn serve_fails(data: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let (mut command, _) = serve_command(data, &[], env);
    let child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id().to_string();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match exited.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("tablesafe serve kept running: {:?}", exited.recv().map(Result::unwrap));
        }
    }
}

/// A data directory `serve` creates, and everything in it (RocksDB's files, the
/// generated key and password, plans, the default plan's repository after a
/// run), is its owner's only, whatever the umask it was started with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_the_server_creates_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data).await;
    fill(&server.client, Fill { users: 50, events: 5, avatar_sizes: 8 }).await;
    let env = [("TABLESAFE_ENDPOINT", server.endpoint.as_str()), ("TABLESAFE_INSTANCE", INSTANCE)];
    let run = tablesafe(&["plan", "run", "default", "--wait", "--json"], &env);
    assert!(text(&run.stdout).contains("\"succeeded\""), "{}{}", text(&run.stdout), text(&run.stderr));
    let mut seen = 0;
    let mut stack = vec![data.clone()];
    while let Some(at) = stack.pop() {
        let mode = std::fs::symlink_metadata(&at).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", at.display(), mode & 0o777);
        seen += 1;
        if at.is_dir() {
            stack.extend(std::fs::read_dir(&at).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(seen > 20, "the engine, keys and repository were all looked at: {seen}");
    server.stop();
}

/// The binary a user ships: the release profile keeps no debug info in it (it
/// was 589 MB with line tables; the goal is under 60 MB). Only meaningful for an
/// optimised build, which is what the README's test command runs.
#[test]
#[cfg_attr(debug_assertions, ignore = "measures the release build")]
fn a_release_binary_is_under_60_mb() {
    let bytes = std::fs::metadata(env!("CARGO_BIN_EXE_tablesafe")).unwrap().len();
    assert!(bytes < 60_000_000, "{} is {:.1} MB", env!("CARGO_BIN_EXE_tablesafe"), bytes as f64 / 1e6);
}

#[test]
fn the_systemd_unit_verifies_against_the_built_binary() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/tablesafe.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/tablesafe serve"), "{unit}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tablesafe.service");
    std::fs::write(&file, unit.replace("/usr/bin/tablesafe", env!("CARGO_BIN_EXE_tablesafe"))).unwrap();
    // --man=no: the manual page is checked below, not installed here.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", path(&file)])
        .output()
        .expect("systemd-analyze (Debian's systemd; scripts/setup-test-deps.sh installs it)");
    // Unknown keys are only warnings to systemd: any output is a failure here.
    assert!(out.status.success() && out.stderr.is_empty(), "{}{}", text(&out.stdout), text(&out.stderr));

    // The command line it starts is one `tablesafe serve` accepts.
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=/usr/bin/tablesafe ")).unwrap();
    let mut args: Vec<&str> = exec.split_whitespace().collect();
    args.push("--help");
    succeeded(&tablesafe(&args, &[]));
}

#[test]
fn completions_and_manual_pages_come_from_the_parser() {
    let bash = succeeded(&tablesafe(&["completions", "bash"], &[]));
    assert!(bash.contains("complete -F _tablesafe") && bash.contains("verify-restore"), "{bash}");
    let zsh = succeeded(&tablesafe(&["completions", "zsh"], &[]));
    assert!(zsh.starts_with("#compdef tablesafe"), "{zsh}");
    let fish = succeeded(&tablesafe(&["completions", "fish"], &[]));
    assert!(fish.contains("complete -c tablesafe") && fish.contains("-l archive-to"), "{fish}");
    let out = tablesafe(&["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");

    let page = succeeded(&tablesafe(&["man"], &[]));
    assert!(page.contains(".TH tablesafe 1") && page.contains("verify\\-restore"), "{page}");
    let page = succeeded(&tablesafe(&["man", "plan", "create"], &[]));
    assert!(page.contains(".TH plan-create") || page.contains(".TH tablesafe-plan-create"), "{page}");
    assert!(page.contains("\\-\\-destination"), "{page}");
    let stderr = usage_error_with_hint(&tablesafe(&["man", "plan", "nope"], &[]));
    assert!(stderr.contains("has no subcommand 'nope'") && stderr.contains("create"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    succeeded(&tablesafe(&["man", "--dir", path(dir.path())], &[]));
    for page in ["tablesafe.1", "tablesafe-backup.1", "tablesafe-plan-create.1", "tablesafe-repo-init.1"] {
        let roff = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(roff.contains(".SH NAME"), "{page}: {roff}");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
}

/// A `tablesafe serve` on `data` (with the repository password in its
/// environment) whose stdout and stderr go to files in `dir`; returned, with its
/// endpoint, once it has answered `answers` requests.
async fn serve_logged(dir: &Path, data: &Path, extra: &[&str], answers: usize) -> (Child, String, PathBuf, PathBuf) {
    let (out, log) = (dir.join("serve.out"), dir.join("serve.log"));
    let (mut command, listen) = serve_command(data, extra, &[("TABLESAFE_PASSWORD", PASSWORD)]);
    let child = command
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = tablesafe_client::Client::builder(&format!("http://{listen}"), INSTANCE, KEY_ID, SECRET)
        .retry_policy(tablesafe_client::RetryPolicy::none())
        .build()
        .unwrap();
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered < answers {
        assert!(Instant::now() < deadline, "tablesafe serve did not come up");
        match client.list_table().await {
            Ok(_) => answered += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    (child, format!("http://{listen}"), out, log)
}

fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn logs_into_a_file_have_no_colours_and_no_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _, _, log) = serve_logged(dir.path(), &dir.path().join("data"), &[], 20).await;
    terminate(child);
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains(" INFO "), "start-up is logged at info: {written}");
    assert!(!written.contains('\u{1b}'), "no ANSI escapes in a file: {written:?}");
    assert!(!written.contains("ListTable"), "20 requests, no line for any of them at info: {written}");
}

#[tokio::test]
async fn backups_on_the_data_disk_are_warned_of_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, _, out, _) = serve_logged(dir.path(), &data, &[], 1).await;
    terminate(child);
    let banner = std::fs::read_to_string(&out).unwrap();
    let expected = format!("warning: plan 'default' keeps its backups in {}, on the same disk", data.join("backups").display());
    assert!(banner.contains(&expected), "{banner}");
    assert!(banner.contains("--backup-root") && banner.contains("tablesafe plan update default --destination"), "{banner}");

    // The same default plan under a backup root on another filesystem (tmpfs
    // here): its backups go there, and no warning.

    use std::os::unix::fs::MetadataExt;
    let elsewhere = tempfile::tempdir_in("/dev/shm").unwrap();
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    assert_ne!(dev(elsewhere.path()), dev(dir.path()), "/dev/shm must be another filesystem than the temp dir");
    let rooted = tempfile::tempdir().unwrap();
    let root = ["--backup-root", path(elsewhere.path())];
    let (child, _, out, _) = serve_logged(rooted.path(), &rooted.path().join("data"), &root, 1).await;
    terminate(child);
    let banner = std::fs::read_to_string(&out).unwrap();
    assert!(banner.contains("every 1h to backups"), "{banner}");
    assert!(!banner.contains("warning"), "{banner}");
    assert!(elsewhere.path().join("backups").join("config").is_file(), "the default repository is under the root");

    // A plan file naming a directory on another filesystem: no warning either.
    let other = tempfile::tempdir().unwrap();
    let plans = other.path().join("plans.toml");
    let destination = elsewhere.path().join("named");
    std::fs::write(&plans, format!("[[plans]]\nname = \"default\"\nevery = \"1h\"\ndestination = \"{}\"\n", destination.display())).unwrap();
    let (child, _, out, _) = serve_logged(other.path(), &other.path().join("data"), &["--plans", path(&plans)], 1).await;
    terminate(child);
    let banner = std::fs::read_to_string(&out).unwrap();
    assert!(banner.contains(&format!("every 1h to {}", destination.display())), "{banner}");
    assert!(!banner.contains("warning"), "{banner}");
}

#[test]
fn an_unreachable_endpoint_gives_one_retry_summary_then_the_error() {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = tablesafe(&["plan", "list", "--endpoint", &endpoint, "--instance", INSTANCE], &[]);
    let stderr = failed_with_hint(&out);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let warnings = stderr.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 1, "one summary of the retries at most: {stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_password_that_does_not_open_a_plans_repository_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // First start with a password: the default plan's repository is made at once.
    let (child, _, _, _) = serve_logged(dir.path(), &data, &[], 1).await;
    terminate(child);
    assert!(data.join("backups/config").is_file(), "the default plan's repository exists after the start");

    // Restarted without it: no new password for a destination that holds a repository.
    let out = serve_fails(&data, &[]);
    let stderr = failed_with_hint(&out);
    let location = data.join("backups").display().to_string();
    assert!(stderr.contains(&format!("plan 'default' at {location} does not open with the backup password")), "{stderr}");
    assert!(stderr.contains("made now") && stderr.contains("TABLESAFE_PASSWORD"), "{stderr}");
    assert!(!data.join("backup-password").exists(), "the password made for nothing is not kept");

    // A wrong password: the same refusal.
    let stderr = failed_with_hint(&serve_fails(&data, &[("TABLESAFE_PASSWORD", "not it")]));
    assert!(stderr.contains("plan 'default'") && stderr.contains("given"), "{stderr}");

    // The right one serves, and a plan whose destination is a file is refused
    // when created, with where and why, not at its first run.
    let (child, endpoint, _, _) = serve_logged(dir.path(), &data, &[], 1).await;
    let file = data.join("a-file");
    std::fs::write(&file, "not a repository").unwrap();
    let create = ["plan", "create", "x", "--every", "1h", "--destination", "a-file", "--endpoint", &endpoint, "--instance", INSTANCE];
    let out = tablesafe(&create, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("plan 'x': the destination {} is a file", file.display())), "{stderr}");
    assert!(!stderr.contains("canonicalize") && !stderr.contains("Builder"), "{stderr}");
    let list = succeeded(&tablesafe(&["plan", "list", "--endpoint", &endpoint, "--instance", INSTANCE], &[]));
    assert!(!list.contains("a-file"), "the refused plan is not saved: {list}");
    terminate(child);
}
