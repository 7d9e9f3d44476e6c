//! The binary's surface: commands and flags the README and the SDK suites rely on.
//! (Building this test also makes cargo build the real `tablesafe` executable.)

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::process::Command;

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
