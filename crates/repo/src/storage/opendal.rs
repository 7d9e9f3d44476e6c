//! The OpenDAL store: a local directory, S3 (or an S3-compatible server), Alibaba OSS, Google Cloud
//! Storage or Azure Blob, chosen by URL.
//!
//! How it holds the [`ObjectStore`] invariants:
//! - Writes: object stores get one PUT; the local backend writes a temporary file under `<root>/.tmp/` and
//!   renames it over the target (same file system, so atomic), then syncs the target's directory, so an
//!   object reported written survives a power loss. Listings never show `.tmp/`, so leftovers of a crash
//!   stay invisible.
//! - `create_new` is a hard link of a synced temporary file on a local root, and a conditional PUT
//!   (`If-None-Match: *`: AWS S3 since 2024, OSS, GCS, Azure; a server that ignores it overwrites) on
//!   object stores; [`Created::Unsupported`] where neither works.
//! - The URL is safe to print: credentials come only from the environment (and the providers' own config
//!   files and metadata services), a URL with userinfo or unknown parameters is refused, and error messages
//!   show the URL without userinfo and with unknown parameter values masked.
//! - Transient failures are retried with jittered backoff (OpenDAL's `RetryLayer`) and bounded in time
//!   (`TimeoutLayer`); what reaches the caller is final.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{services, Buffer, ErrorKind, Operator};

use super::{truncated, Created, ObjectStore, TMP_DIR};
use crate::RepoError;

/// Bound for control requests (stat, delete) to object stores.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for each body transfer (a whole pack PUT or GET); generous so that slow links still move a pack.
const IO_TIMEOUT: Duration = Duration::from_secs(180);
/// The URL query parameters each scheme accepts; none of them can carry a secret.
const PARAMS: &[(&str, &[&str])] = &[
    ("s3", &["endpoint", "region", "path_style"]),
    ("oss", &["endpoint", "region"]),
    ("gcs", &["endpoint"]),
    ("azblob", &["account", "endpoint"]),
];

/// An OpenDAL operator rooted at the repository, and its printable URL.
pub struct OpendalStore {
    op: Operator,
    url: String,
    /// The absolute root of a local repository, where `create_new` bypasses OpenDAL.
    fs_root: Option<PathBuf>,
    /// The outermost directory OpenDAL created for a local root that did not exist.
    created_dir: Option<PathBuf>,
}

impl OpendalStore {
    /// Parses a repository URL and builds the operator (no request is sent). Accepted forms:
    /// `/abs/path`, `./rel/path`, `file:///abs/path` (the directory is created if missing);
    /// `s3://bucket/prefix[?endpoint=http://host:port&region=us-east-1&path_style=true]`;
    /// `oss://bucket/prefix[?endpoint=https://oss-cn-hangzhou.aliyuncs.com|region=cn-hangzhou]`;
    /// `gcs://bucket/prefix[?endpoint=..]`; `azblob://container/prefix[?account=..&endpoint=..]`.
    ///
    /// Credentials are read from the environment: OpenDAL's providers read `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, profiles and instance metadata (S3);
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN` or `OSS_ACCESS_KEY_ID/_SECRET`/`OSS_SESSION_TOKEN`
    /// (OSS); `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's default credentials or VM metadata (GCS);
    /// `AZURE_STORAGE_ACCOUNT_NAME/_KEY`, `AZURE_STORAGE_SAS_TOKEN`, Azure AD variables (Azure). This
    /// function adds what they do not read: S3 region `us-east-1` when neither the URL nor `AWS_REGION`/
    /// `AWS_DEFAULT_REGION` names one, `OSS_ENDPOINT`, and `AZURE_STORAGE_ACCOUNT`/`AZURE_STORAGE_KEY`.
    pub fn from_url(url: &str) -> Result<OpendalStore, RepoError> {
        let bad = |reason: String| RepoError::BadUrl { url: redact(url), reason };
        if url.trim().is_empty() {
            return Err(bad("the repository location is empty".into()));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return OpendalStore::local(url, Path::new(url));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "file" {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(bad("a file:// URL needs an absolute path, as in file:///srv/backups".into()));
            }
            return OpendalStore::local(url, Path::new(&percent_decode(path).map_err(bad)?));
        }
        let Some(allowed) = PARAMS.iter().find(|(s, _)| *s == scheme).map(|(_, p)| *p) else {
            return Err(bad(format!(
                "unsupported scheme '{scheme}'; use a local path, file://, s3://, oss://, gcs:// or azblob://"
            )));
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        // Userinfo may hold a '/' (AWS secret keys do), so any '@' before the query counts as credentials.
        if location.contains('@') {
            return Err(bad("credentials in the URL are not accepted (they would show in messages and process \
                 lists); set them in the environment, e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                .into()));
        }
        let what = if scheme == "azblob" { "container" } else { "bucket" };
        if bucket.is_empty() {
            return Err(bad(format!("missing {what} name; expected {scheme}://{what}/prefix")));
        }
        let params = parse_query(query, allowed).map_err(bad)?;
        let root = format!("/{}", percent_decode(prefix.trim_matches('/')).map_err(bad)?);
        let op = object_store(&scheme, bucket, &root, &params).map_err(bad)?;
        // Without OpenDAL's auto-registration feature no HTTP transport is installed by default.
        opendal::install_default();
        let op = op.layer(TimeoutLayer::new().with_timeout(CONTROL_TIMEOUT).with_io_timeout(IO_TIMEOUT)).layer(
            RetryLayer::new()
                .with_jitter()
                .with_max_times(5)
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(20)),
        );
        Ok(OpendalStore { op, url: redact(url), fs_root: None, created_dir: None })
    }

    fn local(url: &str, path: &Path) -> Result<OpendalStore, RepoError> {
        let bad = |reason: String| RepoError::BadUrl { url: redact(url), reason };
        let root = std::path::absolute(path).map_err(|source| RepoError::Io { path: path.to_owned(), source })?;
        let tmp = root.join(TMP_DIR);
        let (Some(root_str), Some(tmp_str)) = (root.to_str(), tmp.to_str()) else {
            return Err(bad("the path is not valid UTF-8".into()));
        };
        // The builder creates both directories (and missing parents): remember the
        // outermost it made, so that opening a location with no repository leaves
        // nothing behind (`forget_created_dirs`).
        let created_dir = root.ancestors().take_while(|p| !p.exists()).last().map(Path::to_path_buf);
        let op = Operator::new(services::Fs::default().root(root_str).atomic_write_dir(tmp_str))
            .map_err(|e| bad(format!("cannot use the directory: {e}")))?;
        Ok(OpendalStore { op, url: root.display().to_string(), fs_root: Some(root), created_dir })
    }
}

#[async_trait]
impl ObjectStore for OpendalStore {
    fn url(&self) -> &str {
        &self.url
    }

    async fn remove_leftovers(&self, age: Duration) -> Result<u64, RepoError> {
        let Some(root) = self.fs_root.clone() else { return Ok(0) };
        let task = tokio::task::spawn_blocking(move || {
            let dir = root.join(TMP_DIR);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(source) => return Err(RepoError::Io { path: dir, source }),
            };
            let mut removed = 0;
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                // The file system's own clock stamped the file: its age is measured on that clock.
                let elapsed = meta.modified().ok().and_then(|t| t.elapsed().ok());
                if meta.is_file() && elapsed.is_some_and(|elapsed| elapsed >= age) {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => return Err(RepoError::Io { path: entry.path(), source }),
                    }
                }
            }
            Ok(removed)
        });
        task.await.map_err(|e| RepoError::Io { path: PathBuf::from(TMP_DIR), source: std::io::Error::other(e) })?
    }

    fn forget_created_dirs(&self) {
        let (Some(root), Some(top)) = (&self.fs_root, &self.created_dir) else { return };
        let _ = std::fs::remove_dir(root.join(TMP_DIR));
        for dir in root.ancestors() {
            if std::fs::remove_dir(dir).is_err() || dir == top.as_path() {
                break;
            }
        }
    }

    async fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), RepoError> {
        self.op.write(path, bytes).await.map(drop).map_err(|e| storage_error("write", path, e))?;
        if let Some(root) = &self.fs_root {
            sync_parent(root.clone(), path.to_owned()).await?;
        }
        Ok(())
    }

    async fn create_new(&self, path: &str, bytes: Vec<u8>) -> Result<Created, RepoError> {
        let buffer = Buffer::from(bytes);
        if let Some(root) = &self.fs_root {
            if let Some(created) = link_if_absent(root.clone(), path.to_owned(), buffer.clone()).await? {
                return Ok(created);
            }
        }
        if !self.op.info().capability().write_with_if_not_exists {
            return Ok(Created::Unsupported);
        }
        match self.op.write_with(path, buffer).if_not_exists(true).await {
            Ok(_) => Ok(Created::Yes),
            Err(e) if matches!(e.kind(), ErrorKind::ConditionNotMatch | ErrorKind::AlreadyExists) => Ok(Created::Exists),
            Err(e) => Err(storage_error("write", path, e)),
        }
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, RepoError> {
        self.op.read(path).await.map(|b| b.to_vec()).map_err(|e| storage_error("read", path, e))
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, RepoError> {
        match self.op.read_with(path).range(range.clone()).await {
            Ok(buf) => Ok(buf.to_vec()),
            Err(e) if e.kind() == ErrorKind::RangeNotSatisfied => Err(truncated(path, range.end)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(storage_error("read", path, e)),
            // HTTP services report a short body as an unexpected error; tell truncation from other causes.
            Err(e) => match self.size(path).await {
                Ok(size) if size < range.end => Err(truncated(path, range.end)),
                _ => Err(storage_error("read", path, e)),
            },
        }
    }

    async fn size(&self, path: &str) -> Result<u64, RepoError> {
        let meta = self.op.stat(path).await.map_err(|e| storage_error("stat", path, e))?;
        Ok(meta.content_length())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RepoError> {
        let entries = match self.op.list_with(prefix).recursive(true).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(storage_error("list", prefix, e)),
        };
        Ok(entries
            .into_iter()
            .filter(|e| !e.metadata().is_dir())
            .map(|e| {
                let (path, meta) = e.into_parts();
                (path.trim_start_matches('/').to_owned(), meta.content_length())
            })
            .collect())
    }

    async fn delete(&self, path: &str) -> Result<(), RepoError> {
        match self.op.delete(path).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(storage_error("delete", path, e)),
            _ => Ok(()),
        }
    }
}

/// A `Storage` error, or `NotFound` when the backend says the object is absent.
fn storage_error(operation: &'static str, path: &str, source: opendal::Error) -> RepoError {
    match source.kind() {
        ErrorKind::NotFound => RepoError::NotFound { path: path.to_owned() },
        _ => RepoError::Storage { operation, path: path.to_owned(), source: Box::new(source) },
    }
}

/// The operator of an object store, or why it cannot be configured.
fn object_store(scheme: &str, bucket: &str, root: &str, params: &[(String, String)]) -> Result<Operator, String> {
    let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let first_env = |names: &[&str]| names.iter().find_map(|n| env(n));
    let op = match scheme {
        "s3" => {
            let mut b = services::S3::default().bucket(bucket).root(root);
            if let Some(endpoint) = param("endpoint") {
                b = b.endpoint(&endpoint);
            }
            // OpenDAL reads AWS_REGION/AWS_DEFAULT_REGION itself but fails without either; most S3-compatible
            // servers take any region, and us-east-1 is AWS's historical default.
            if let Some(region) = param("region") {
                b = b.region(&region);
            } else if first_env(&["AWS_REGION", "AWS_DEFAULT_REGION"]).is_none() {
                b = b.region("us-east-1");
            }
            // Custom endpoints (MinIO, Ceph, moto) usually want path style and AWS virtual hosts; a dotted
            // bucket name cannot be a virtual host under TLS.
            let custom =
                param("endpoint").or_else(|| first_env(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_S3_ENDPOINT"]));
            let path_style = match param("path_style").as_deref() {
                None => custom.is_some() || bucket.contains('.'),
                Some("true") => true,
                Some("false") => false,
                Some(other) => return Err(format!("path_style must be true or false, not '{other}'")),
            };
            if !path_style {
                b = b.enable_virtual_host_style();
            }
            Operator::new(b)
        }
        "oss" => {
            let region = param("region").map(|r| format!("https://oss-{}.aliyuncs.com", r.trim_start_matches("oss-")));
            let Some(endpoint) = param("endpoint").or_else(|| env("OSS_ENDPOINT")).or(region) else {
                return Err("oss:// needs ?endpoint=https://oss-<region>.aliyuncs.com, ?region=<region> or \
                     OSS_ENDPOINT in the environment"
                    .into());
            };
            Operator::new(services::Oss::default().bucket(bucket).root(root).endpoint(&endpoint))
        }
        "gcs" => {
            let mut b = services::Gcs::default().bucket(bucket).root(root);
            if let Some(endpoint) = param("endpoint") {
                b = b.endpoint(&endpoint);
            }
            Operator::new(b)
        }
        _ => {
            let account = param("account")
                .or_else(|| first_env(&["AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_NAME", "AZBLOB_ACCOUNT_NAME"]));
            let default_endpoint = account.as_ref().map(|a| format!("https://{a}.blob.core.windows.net"));
            let Some(endpoint) = param("endpoint").or(default_endpoint) else {
                return Err("azblob:// needs ?account=<name> (or ?endpoint=..), or AZURE_STORAGE_ACCOUNT in the \
                     environment"
                    .into());
            };
            let mut b = services::Azblob::default().container(bucket).root(root).endpoint(&endpoint);
            if let Some(account) = &account {
                b = b.account_name(account);
                // OpenDAL's environment provider pairs a key only with an account name from its own variables.
                if let Some(key) = first_env(&["AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZBLOB_ACCOUNT_KEY"])
                {
                    b = b.account_key(&key);
                }
            }
            Operator::new(b)
        }
    };
    op.map_err(|e| format!("cannot configure {scheme}: {e}"))
}

/// Makes a local write's rename (or link) durable: the file's data is synced before
/// it is renamed into place, but the new directory entry is only on disk once its
/// directory is synced. Without this a power loss could drop an object already
/// reported written, and a manifest could outlive the pack it names.
async fn sync_parent(root: PathBuf, path: String) -> Result<(), RepoError> {
    let task = tokio::task::spawn_blocking(move || {
        let target = root.join(&path);
        let dir = target.parent().unwrap_or(&root).to_owned();
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|source| RepoError::Io { path: dir, source })
    });
    task.await.map_err(|e| RepoError::Io { path: PathBuf::from(TMP_DIR), source: std::io::Error::other(e) })?
}

/// The local `write_if_absent`: `Some(created)`, or `None` where the file system has no hard links.
async fn link_if_absent(root: PathBuf, path: String, bytes: Buffer) -> Result<Option<Created>, RepoError> {
    use std::io::{ErrorKind as Io, Write};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let task = tokio::task::spawn_blocking(move || {
        let name = path.rsplit('/').next().unwrap_or("object");
        let unique = format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let tmp = root.join(TMP_DIR).join(format!("{name}.{unique}.link"));
        let target = root.join(&path);
        let io = |p: &Path| {
            let p = p.to_owned();
            move |source| RepoError::Io { path: p, source }
        };
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io(&tmp))?;
        let written = file.write_all(&bytes.to_bytes()).and_then(|()| file.sync_all());
        drop(file);
        let linked = written.map_err(io(&tmp)).map(|()| {
            target.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::hard_link(&tmp, &target))
        });
        // Best effort: a leftover in .tmp/ is never listed.
        let _ = std::fs::remove_file(&tmp);
        match linked? {
            Ok(()) => {
                let dir = target.parent().unwrap_or(&root);
                std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
                Ok(Some(Created::Yes))
            }
            Err(e) if e.kind() == Io::AlreadyExists => Ok(Some(Created::Exists)),
            // Linux reports EPERM on file systems without hard links (FAT, some network mounts).
            Err(e) if matches!(e.kind(), Io::Unsupported | Io::PermissionDenied) => Ok(None),
            Err(e) => Err(io(&target)(e)),
        }
    });
    task.await.map_err(|e| RepoError::Io { path: PathBuf::from(TMP_DIR), source: std::io::Error::other(e) })?
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Parses `k=v&k=v`, accepting only the `allowed` keys, each once.
fn parse_query(query: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !allowed.contains(&key) {
            return Err(format!("unknown parameter '{key}'; accepted: {}", allowed.join(", ")));
        }
        if params.iter().any(|(k, _)| k == key) {
            return Err(format!("parameter '{key}' is given twice"));
        }
        params.push((key.to_owned(), percent_decode(value)?));
    }
    Ok(params)
}

/// Decodes `%XX` escapes (a path or parameter value) to UTF-8.
fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| format!("'{s}' does not decode to UTF-8"))
}

/// The URL as it may be printed: userinfo dropped, values of unknown query parameters masked.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
    // As in from_url: everything up to the last '@' may be userinfo, even with a '/' inside.
    let location = location.rsplit('@').next().unwrap_or(location);
    let known: Vec<&str> = PARAMS.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let query = query.map(|q| {
        let masked: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if !known.contains(&k) => format!("{k}=***"),
                None if !known.contains(&pair) => "***".to_owned(),
                _ => pair.to_owned(),
            })
            .collect();
        format!("?{}", masked.join("&"))
    });
    format!("{scheme}://{location}{}", query.unwrap_or_default())
}
