//! The binary's surface: commands and flags the README and the SDK suites rely on.
//! (Building this test also makes cargo build the real `tablesafe` executable.)

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::process::{Command, Stdio};

fn tablesafe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tablesafe")).args(args).output().expect("run tablesafe")
}

#[test]
fn serve_documents_its_flags() {
    let out = tablesafe(&["serve", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--data-dir", "--listen", "--instance", "--config", "--no-fsync"] {
        assert!(help.contains(flag), "serve --help lacks {flag}:\n{help}");
    }
}

#[test]
fn a_bad_instance_name_is_a_one_line_error_with_a_hint() {
    let dir = std::env::temp_dir().join(format!("tablesafe-cli-test-{}", std::process::id()));
    let out = tablesafe(&["serve", "--data-dir", dir.to_str().unwrap(), "--instance", "x", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: invalid instance name 'x'"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

/// Runs `tablesafe` with its stdout a pipe whose reading end is closed before it
/// writes, as `tablesafe jobs | head -1` leaves it once head has its line.
fn into_closed_pipe(args: &[&str]) -> std::process::Output {
    let mut child = support::command(args, &[("TABLESAFE_PASSWORD", support::PASSWORD)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tablesafe");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for tablesafe")
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let repo = support::path(dir.path());
    support::succeeded(&support::with_password(&["repo", "init", "--repo", repo]));
    // A few runs, each recorded as a job: `jobs` has lines to print.
    for _ in 0..5 {
        support::succeeded(&support::with_password(&["verify", "--repo", repo]));
    }
    let listing = support::succeeded(&support::with_password(&["jobs", "--repo", repo]));
    assert!(listing.lines().count() > 5, "{listing}");

    let commands: [&[&str]; 4] = [
        &["jobs", "--repo", repo],
        &["jobs", "--repo", repo, "--json"],
        &["snapshots", "--repo", repo],
        &["verify", "--repo", repo],
    ];
    for args in commands {
        let out = into_closed_pipe(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}:\n{stderr}");
        assert!(out.status.success(), "{args:?}: exit {:?}\n{stderr}", out.status);
    }
}
