//! A throwaway S3 server for tests: moto (PyPI `moto[server]`, pinned in scripts/setup-test-deps.sh) from
//! the project's test virtualenv (`$TABLESAFE_VENV`, default `~/.cache/tablesafe/venv`), listening on a
//! free 127.0.0.1 port.
//!
//! Without the virtualenv or moto a test fails with a hint to run scripts/setup-test-deps.sh; it never
//! skips. moto accepts any signature, so the dummy credentials that [`set_credentials`] puts in this test
//! process's environment are enough for `Storage::from_url("s3://…?endpoint=…")`.
//!
//! A server is killed when its [`MotoServer`] is dropped. The one behind [`MotoServer::shared`] lives in a
//! static, which is never dropped, so every server also watches its stdin (a pipe from this process) and
//! exits when it closes: when the test process ends, however it ends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The access key id the tests use (moto accepts any).
pub const ACCESS_KEY_ID: &str = "tablesafe-test-key-id";
/// The secret access key the tests use; also what the secret-leak tests look for.
pub const SECRET_ACCESS_KEY: &str = "tablesafe-test-secret-8f3a1c";
/// moto's default region.
pub const REGION: &str = "us-east-1";

/// How long a cold Python start with moto's imports may take on a busy CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs moto's server and exits once stdin reaches EOF, i.e. once the test process is gone.
const LAUNCHER: &str = r#"
import os, sys, threading
def watch():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(["-H", sys.argv[1], "-p", sys.argv[2]])
"#;

/// Puts the dummy S3 credentials in this process's environment (once; later calls do nothing).
pub fn set_credentials() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
        // No instance-metadata probing if something unsets the keys.
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    });
}

/// A running moto server.
pub struct MotoServer {
    child: Child,
    port: u16,
    /// A read handle on the server's (unlinked) log.
    log: File,
}

impl MotoServer {
    /// One server for the whole test binary, started on first use.
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<MotoServer> = OnceLock::new();
        SHARED.get_or_init(MotoServer::start)
    }

    /// Starts a new server and waits until it answers; panics with the reason and a hint otherwise.
    pub fn start() -> MotoServer {
        set_credentials();
        let venv = std::env::var_os("TABLESAFE_VENV").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/tablesafe/venv")
        });
        let moto = venv.join("bin/moto_server");
        let python = venv.join("bin/python");
        assert!(
            moto.is_file() && python.is_file(),
            "the S3 test server is missing: {} not found. Run scripts/setup-test-deps.sh (it installs \
             moto[server] into the test virtualenv; set TABLESAFE_VENV if yours lives elsewhere)",
            moto.display()
        );
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("no free port").port();
        // The log is unlinked as soon as moto has it open; a read handle keeps its tail available for
        // failure messages, and nothing is left behind by the shared server, which is never dropped.
        let log_path = std::env::temp_dir().join(format!("tablesafe-moto-{}-{port}.log", std::process::id()));
        let log_file = File::create(&log_path).expect("create moto log file");
        let log = File::open(&log_path).expect("open moto log file");
        let child = Command::new(&python)
            .args(["-c", LAUNCHER, "127.0.0.1", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().expect("clone log file handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; run scripts/setup-test-deps.sh", python.display()));
        let _ = std::fs::remove_file(&log_path);
        let mut server = MotoServer { child, port, log };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited ({status}) before answering:\n{}", server.log_tail());
            }
            if server.request("GET", "/").is_ok() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within {START_TIMEOUT:?}:\n{}",
                server.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes an unsigned PUT).
    pub fn create_bucket(&self, bucket: &str) {
        let status = self.request("PUT", &format!("/{bucket}")).expect("create bucket request");
        assert_eq!(status, 200, "creating bucket '{bucket}' failed:\n{}", self.log_tail());
    }

    /// Creates a bucket of its own for one test (`hint` makes it recognisable) and returns its name.
    pub fn fresh_bucket(&self, hint: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let hint: String = hint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(40)
            .collect();
        let bucket = format!("{hint}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        self.create_bucket(&bucket);
        bucket
    }

    /// A repository URL for `Storage::from_url` at `prefix` in `bucket`.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!("s3://{bucket}/{prefix}?endpoint={}&region={REGION}", self.endpoint())
    }

    /// A repository URL in a fresh bucket, under a prefix so that roots other than the bucket's are exercised.
    pub fn fresh_url(&self, hint: &str) -> String {
        self.url(&self.fresh_bucket(hint), "backups/repo")
    }

    /// One HTTP/1.1 request with an empty body; returns the status code.
    fn request(&self, method: &str, path: &str) -> std::io::Result<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let response = String::from_utf8_lossy(&response);
        response
            .strip_prefix("HTTP/1.")
            .and_then(|r| r.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:.80}")))
    }

    /// The end of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let mut log = Vec::new();
        let _ = (&self.log).seek(SeekFrom::Start(0)).and_then(|_| (&self.log).read_to_end(&mut log));
        let log = String::from_utf8_lossy(&log[log.len().saturating_sub(4000)..]);
        format!("--- moto_server log (tail) ---\n{log}")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
