//! What the repository commands share: the password and identities, opening a
//! repository, and opening the tables to read or write: the engine of a stopped
//! server's data directory (exactly as `serve` opens it), or an endpoint through
//! the client.
//!
//! Secrets: the password is read from a file or from TABLESAFE_PASSWORD, never
//! from a flag, and it is never printed or logged; neither are access secrets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tablesafe_backup::{EmbeddedTables, RemoteTables, TableSource};
use tablesafe_client::Client;
use tablesafe_common::SystemClock;
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_repo::{parse_identities, Repository, Storage, Unlock};

use super::Failure;
use crate::args::{RepoArgs, SourceArgs, TargetArgs};

/// The password from `--password-file` (its first line) or else from the
/// environment variable TABLESAFE_PASSWORD (unset or empty: none).
pub fn password(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let password = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?;
            let line = text.lines().next().unwrap_or_default();
            if line.is_empty() {
                return Err(Failure::new(
                    format!("the password file {} is empty", path.display()),
                    "write the password on the file's first line",
                )
                .into());
            }
            line.to_owned()
        }
        None => match std::env::var("TABLESAFE_PASSWORD") {
            Ok(password) if !password.is_empty() => password,
            Ok(_) | Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::plain("TABLESAFE_PASSWORD is not valid UTF-8").into())
            }
        },
    };
    Ok(Some(password))
}

/// What opens the repository: the password and the age identities in `files`.
pub fn unlock(password_file: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<Unlock> {
    let mut unlock = Unlock { password: password(password_file)?, identities: Vec::new() };
    for path in files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the identity file {}", path.display()))?;
        let found = parse_identities(&text).with_context(|| format!("in the identity file {}", path.display()))?;
        if found.is_empty() {
            return Err(Failure::new(
                format!("the identity file {} holds no identity", path.display()),
                "give a file with AGE-SECRET-KEY-1... lines, as `age-keygen` writes",
            )
            .into());
        }
        unlock.identities.extend(found);
    }
    Ok(unlock)
}

/// The storage at `--repo`.
pub fn storage(url: &str) -> anyhow::Result<Storage> {
    Ok(Storage::from_url(url)?)
}

/// Opens the repository at `--repo` with the password and identities given.
pub async fn repository(args: &RepoArgs) -> anyhow::Result<Repository> {
    let unlock = unlock(args.password_file.as_deref(), &args.identity_file)?;
    if unlock.password.is_none() && unlock.identities.is_empty() {
        return Err(Failure::new(
            "no password or identity to open the repository with",
            "set TABLESAFE_PASSWORD, or pass --password-file PATH or --identity-file PATH",
        )
        .into());
    }
    Ok(Repository::open(storage(&args.repo)?, &unlock).await?)
}

/// Tables to read or write.
pub enum Tables {
    /// The engine of a data directory, opened by this process.
    Embedded {
        /// The backup library's view of it.
        tables: EmbeddedTables,
        /// The engine, to flush when done.
        engine: Arc<Engine>,
    },
    /// An endpoint.
    Remote(RemoteTables),
}

impl Tables {
    /// The tables to read: a data directory that must hold data, or an endpoint.
    pub fn source(args: &SourceArgs) -> anyhow::Result<Tables> {
        match (&args.data_dir, &args.endpoint, &args.instance) {
            (Some(dir), _, _) => embedded(dir, false, "--endpoint"),
            (None, Some(endpoint), Some(instance)) => remote(endpoint, instance),
            // clap requires one of the two forms.
            _ => Err(Failure::plain("give --data-dir, or --endpoint and --instance").into()),
        }
    }

    /// The tables to write: a data directory (created if missing), or an endpoint.
    pub fn target(args: &TargetArgs) -> anyhow::Result<Tables> {
        match (&args.data_dir, &args.to, &args.instance) {
            (Some(dir), _, _) if !args.create && !dir.exists() => Err(Failure::new(
                format!("the data directory {} does not exist", dir.display()),
                "pass the --data-dir that `tablesafe serve` uses, or add --create to restore into a new one",
            )
            .into()),
            (Some(dir), _, _) => embedded(dir, true, "--endpoint"),
            (None, Some(endpoint), Some(instance)) => remote(endpoint, instance),
            _ => Err(Failure::plain("give --data-dir, or --endpoint and --instance").into()),
        }
    }

    /// Where the tables are, as snapshots and job records name it: the absolute data
    /// directory, or the endpoint and instance.
    pub fn location(&self) -> String {
        match self {
            Tables::Embedded { tables, .. } => tables.origin(),
            Tables::Remote(tables) => tables.origin(),
        }
    }

    /// Makes what was written durable (the engine is closed when dropped).
    pub fn close(self) -> anyhow::Result<()> {
        if let Tables::Embedded { engine, .. } = self {
            engine.flush().context("flushing the engine")?;
        }
        Ok(())
    }
}

fn embedded(data_dir: &Path, create: bool, endpoint_flag: &str) -> anyhow::Result<Tables> {
    let engine_dir = data_dir.join("engine");
    if create {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    } else if !engine_dir.is_dir() {
        return Err(Failure::new(
            format!("{} holds no TableSafe data (there is no {})", data_dir.display(), engine_dir.display()),
            "pass the --data-dir that `tablesafe serve` uses",
        )
        .into());
    }
    let engine = match Engine::open(&engine_dir, EngineOptions::default(), Arc::new(SystemClock)) {
        Ok(engine) => Arc::new(engine),
        Err(error) if error.to_string().contains("LOCK") || error.to_string().contains("lock hold") => {
            return Err(Failure::new(
                format!("the data directory {} is in use by another process ({error})", data_dir.display()),
                format!("stop `tablesafe serve` or use {endpoint_flag}"),
            )
            .into())
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!("cannot open the engine in {}", data_dir.display())))
        }
    };
    // The origin identifies the source in snapshots: the absolute directory.
    let origin = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned()).display().to_string();
    Ok(Tables::Embedded { tables: EmbeddedTables::new(Arc::clone(&engine), origin), engine })
}

fn remote(endpoint: &str, instance: &str) -> anyhow::Result<Tables> {
    let key = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(id), Some(secret)) = (key("TABLESAFE_ACCESS_KEY_ID"), key("TABLESAFE_ACCESS_KEY_SECRET")) else {
        return Err(Failure::new(
            "an endpoint needs an access key: TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET are not both set",
            "export both; a local `tablesafe serve` prints its key id at start and keeps the key in \
             <data-dir>/access-keys.toml",
        )
        .into());
    };
    let client = Client::new(endpoint, instance, id, secret)?;
    Ok(Tables::Remote(RemoteTables::new(client)))
}
