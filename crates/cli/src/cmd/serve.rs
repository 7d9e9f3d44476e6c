//! `tablesafe serve`: open the engine, find or create access keys (with their
//! roles), serve until SIGINT/SIGTERM, let in-flight requests finish, then close the
//! engine cleanly. Metrics are served at `/metrics`, on the API listener or on
//! `--metrics-listen`. With `--archive-to`, an archiver follows every
//! stream-enabled table into that repository meanwhile, and makes a last pass after
//! the server stops. The backup service runs the plans of the plan file
//! (`<data-dir>/backup-plans.toml`, created with the default plan on first start)
//! and serves the backup API, unless `--no-backups`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_server::keys::{self, KeySource};
use tablesafe_server::{Metrics, ServeOptions, ServerState};

use tablesafe_backup::archive::{ArchiveOptions, Archiver};
use tablesafe_backup::service::{BackupService, DestinationRules, ServiceConfig};
use tablesafe_backup::EmbeddedTables;

use super::{archive, open, Failure};
use crate::args::ServeArgs;

fn check_instance_name(name: &str) -> anyhow::Result<()> {
    let ok = (3..=16).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        bail!("invalid instance name '{name}'");
    }
    Ok(())
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    check_instance_name(&args.instance)?;
    // Everything the server creates from here on (the data directory, RocksDB's
    // files, keys, plans, job records, local repositories) is its owner's only:
    // rows must not be readable by other local users whatever the caller's umask.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let (access_keys, source) = match &args.config {
        Some(path) => (keys::read_key_file(path)?, KeySource::File(path.clone())),
        None => keys::load_or_create(
            &args.data_dir,
            std::env::var("TABLESAFE_ACCESS_KEY_ID").ok(),
            std::env::var("TABLESAFE_ACCESS_KEY_SECRET").ok(),
        )?,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options = EngineOptions { sync_writes: !args.no_fsync, ..EngineOptions::default() };
    let engine = Arc::new(
        Engine::open(&args.data_dir.join("engine"), options, Arc::clone(&clock))
            .with_context(|| format!("cannot open the engine in {}", args.data_dir.display()))?,
    );
    spawn_maintenance(Arc::downgrade(&engine));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let metrics_listener = match args.metrics_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {addr}"))?,
            ),
            None => None,
        };
        let console_listener = bind_console(&args).await?;
        let metrics_address = match &metrics_listener {
            Some(listener) => listener.local_addr()?,
            None => address,
        };
        // The backup service starts first: a plan whose repository does not open
        // stops the start before anything says it is serving.
        let (backup, backup_banner) = if args.no_backups {
            (None, Vec::new())
        } else {
            let (service, banner) = start_backups(&args, &engine).await?;
            (Some(service), banner)
        };
        announce(&args, &address.to_string(), &access_keys, &source)?;
        outln!("  metrics:       http://{metrics_address}/metrics")?;
        match &console_listener {
            Ok(Some(listener)) => outln!("  console:       http://{}/", listener.local_addr()?)?,
            Ok(None) => {}
            Err(taken) => outln!("  console:       not started: {taken}")?,
        }
        let state = Arc::new(ServerState {
            engine: Arc::clone(&engine),
            instance: args.instance.clone(),
            keys: keys::access_keys(&access_keys),
            clock,
        });
        let metrics = Arc::new(Metrics::new());
        metrics.describe("tablesafe_build_info", "The running TableSafe version.");
        metrics.set_gauge("tablesafe_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        for line in &backup_banner {
            outln!("{line}")?;
        }
        let options = ServeOptions {
            roles: keys::key_roles(&access_keys),
            metrics: Arc::clone(&metrics),
            metrics_route: metrics_listener.is_none(),
            backup: backup.clone(),
            connections: tablesafe_server::ConnectionLimits {
                max_connections: args.max_connections as usize,
                ..tablesafe_server::ConnectionLimits::default()
            },
            ..ServeOptions::default()
        };
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics_task = metrics_listener.map(|listener| {
            let stopped = async move {
                let _ = metrics_stopped.await;
            };
            tokio::spawn(tablesafe_server::run_metrics(listener, Arc::clone(&state), metrics, backup.clone(), stopped))
        });
        let (console_stop, console_stopped) = tokio::sync::watch::channel(false);
        let console_task = console_listener.ok().flatten().map(|listener| {
            let mut stopped = console_stopped.clone();
            let stopped = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let roles = keys::key_roles(&access_keys);
            tokio::spawn(tablesafe_server::run_console(listener, Arc::clone(&state), roles, backup.clone(), stopped))
        });
        let archiving = match args.archive_repo() {
            Some(repo_args) => {
                let repo = open::repository(&repo_args)
                    .await
                    .with_context(|| format!("cannot open the archive repository {}", repo_args.repo))?;
                let origin = std::fs::canonicalize(&args.data_dir)
                    .unwrap_or_else(|_| args.data_dir.clone())
                    .display()
                    .to_string();
                let source = EmbeddedTables::new(Arc::clone(&engine), origin);
                let archiver = Archiver::new(source, ArchiveOptions::default());
                let (stop, stopped) = tokio::sync::watch::channel(false);
                outln!("  archiving to:  {} (every {:?})", repo_args.repo, args.archive_interval)?;
                Some((stop, tokio::spawn(archive::in_server(repo, archiver, args.archive_interval, stopped))))
            }
            None => None,
        };
        let served = tablesafe_server::run_with(listener, state, options, shutdown_signal()).await;
        let _ = metrics_stop.send(());
        let _ = console_stop.send(true);
        if let Some(task) = console_task {
            match task.await {
                Ok(Err(error)) => tracing::warn!(%error, "the console listener failed"),
                Err(error) => tracing::warn!(%error, "the console task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Some(task) = metrics_task {
            match task.await {
                Ok(Err(error)) => tracing::warn!(%error, "the metrics listener failed"),
                Err(error) => tracing::warn!(%error, "the metrics task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Some(service) = &backup {
            // Running jobs get a moment; any cut short are recorded as interrupted at the next start.
            service.shutdown(BACKUP_GRACE).await;
        }
        if let Some((stop, task)) = archiving {
            // One last pass once writes have stopped: the archive reaches the shutdown.
            let _ = stop.send(true);
            if let Err(error) = task.await {
                tracing::warn!(%error, "the archiver task failed");
            }
        }
        served?;
        anyhow::Ok(())
    })?;
    tracing::info!("server stopped; closing the engine");
    engine.flush().context("flushing the engine on shutdown")?;
    Ok(())
}

/// The console's listener: on `--console-listen` (which must bind), or on the
/// default address, which may be taken (then `Err` says so and the server runs
/// without a console, as a second server on one machine does); `None` with
/// `--no-console`.
async fn bind_console(args: &ServeArgs) -> anyhow::Result<Result<Option<tokio::net::TcpListener>, String>> {
    if args.no_console {
        return Ok(Ok(None));
    }
    if let Some(address) = args.console_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for the console on {address}"))?;
        return Ok(Ok(Some(listener)));
    }
    let address = tablesafe_server::CONSOLE_ADDRESS;
    Ok(match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => Ok(Some(listener)),
        Err(error) => {
            tracing::warn!(%error, address, "the console's default address is taken; serving without a console");
            Err(format!("{address}: {error} (choose another with --console-listen, or --no-console)"))
        }
    })
}

/// How long a stopping server waits for running backup jobs.
const BACKUP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts the backup service: the plan file (with the default plan on first
/// start), and the password of its repositories: --password-file,
/// TABLESAFE_PASSWORD or --identity-file when given, else
/// `<data-dir>/backup-password` (created on first start). Every plan's
/// repository is opened (or created) first: one the password does not open stops
/// the start. Returns the service and the lines the banner shows of it.
async fn start_backups(args: &ServeArgs, engine: &Arc<Engine>) -> anyhow::Result<(Arc<BackupService>, Vec<String>)> {
    let mut banner = Vec::new();
    let mut unlock = open::unlock(args.password_file.as_deref(), &args.identity_file)?;
    // The data directory's password file when no password was given, and whether
    // this start made it.
    let mut password_file: Option<(PathBuf, bool)> = None;
    if unlock.password.is_none() && unlock.identities.is_empty() {
        let (password, created) = keys::load_or_create_backup_password(&args.data_dir)?;
        unlock.password = Some(password);
        password_file = Some((args.data_dir.join(keys::BACKUP_PASSWORD_FILE), created));
    }
    let plan_file = args.plans.clone().unwrap_or_else(|| args.data_dir.join("backup-plans.toml"));
    let config = ServiceConfig {
        engine: Arc::clone(engine),
        data_dir: args.data_dir.clone(),
        plan_file: plan_file.clone(),
        unlock,
        default_plan: true,
        destinations: DestinationRules { root: args.backup_root.clone(), allowed: args.allow_destination.clone() },
        priority: args.backup_priority.into(),
    };
    let service = BackupService::start(config)
        .await
        .with_context(|| format!("cannot start the backup service with the plans in {}", plan_file.display()))?;
    // Every plan's repository opens now, or the server says so before serving:
    // a wrong password would otherwise fail each run in silence.
    let mut refused = Vec::new();
    for problem in service.check_destinations().await {
        let wrong_key = matches!(
            &problem.error,
            tablesafe_backup::BackupError::Repo(tablesafe_repo::RepoError::WrongKey)
        );
        if wrong_key {
            refused.push(problem);
        } else {
            tracing::warn!(plan = problem.plan, location = problem.location, error = %problem.error, "a backup destination does not open");
            banner.push(format!("  warning: plan '{}' cannot open {}: {}", problem.plan, problem.location, problem.error));
        }
    }
    if !refused.is_empty() {
        let password_source = match &password_file {
            None => "given (--password-file, TABLESAFE_PASSWORD or --identity-file)".to_owned(),
            Some((path, true)) => {
                // The password just made opens nothing: keep no file that looks like the key.
                let _ = std::fs::remove_file(path);
                format!("made now, as none was given and {} did not exist", path.display())
            }
            Some((path, false)) => format!("in {}", path.display()),
        };
        let which: Vec<String> = refused.iter().map(|p| format!("plan '{}' at {}", p.plan, p.location)).collect();
        return Err(Failure::new(
            format!(
                "the backup repository of {} does not open with the backup password {password_source}",
                which.join(", ")
            ),
            "set TABLESAFE_PASSWORD or --password-file to the password the repository was created with (or \
             --identity-file), or start with --no-backups",
        )
        .into());
    }
    let plans = service.list_plans().await.plans;
    banner.push(format!("  backup plans:  {} in {}", plans.len(), plan_file.display()));
    for status in &plans {
        let plan = &status.plan;
        let schedule = plan
            .every
            .as_ref()
            .map_or_else(|| format!("cron '{}'", plan.cron.as_deref().unwrap_or("")), |e| format!("every {e}"));
        banner.push(format!("    {}: {schedule} to {}", plan.name, plan.destination));
    }
    for status in &plans {
        let plan = &status.plan;
        let local = service.local_destination(&plan.destination);
        if let Some(at) = local.filter(|dir| same_filesystem(dir, &args.data_dir)) {
            tracing::warn!(plan = plan.name, destination = %at.display(), "backups on the data directory's disk");
            banner.push(format!(
                "  warning: plan '{}' keeps its backups in {}, on the same disk as the data directory: one lost \
                 disk loses both. Start with --backup-root on another disk, or point the plan at a bucket: \
                 tablesafe serve --allow-destination s3://bucket/tablesafe, then tablesafe plan update {} \
                 --destination s3://bucket/tablesafe",
                plan.name,
                at.display(),
                plan.name
            ));
        }
    }
    let password_note = match &password_file {
        None => "from --password-file or TABLESAFE_PASSWORD".to_owned(),
        Some((path, true)) => format!("new, in {} (keep a copy away from this machine)", path.display()),
        Some((path, false)) => format!("in {}", path.display()),
    };
    banner.push(format!("  backup password: {password_note}"));
    Ok((service, banner))
}

/// Whether `dir` (or, when it does not exist yet, its nearest existing
/// ancestor, where it will be made) is on the filesystem that holds `data_dir`.
fn same_filesystem(dir: &Path, data_dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let device = |p: &Path| p.ancestors().find_map(|a| std::fs::metadata(a).ok()).map(|m| m.dev());
    device(dir).is_some_and(|d| std::fs::metadata(data_dir).is_ok_and(|m| m.dev() == d))
}

fn announce(args: &ServeArgs, address: &str, access_keys: &[keys::KeyEntry], source: &KeySource) -> anyhow::Result<()> {
    tracing::info!(address, instance = args.instance, data_dir = %args.data_dir.display(), "TableSafe serving");
    outln!("TableSafe is serving the Tablestore API")?;
    outln!("  endpoint:      http://{address}")?;
    outln!("  instance:      {}", args.instance)?;
    for key in access_keys {
        outln!("  access key id: {} ({})", key.id, key.role)?;
    }
    match source {
        KeySource::Created(path) => {
            // The one time the secret is shown; it is never logged.
            if let Some(key) = access_keys.first() {
                outln!("  access secret: {}   (shown once; stored in {})", key.secret, path.display())?;
            }
        }
        KeySource::File(path) => outln!("  access secret: in {}", path.display())?,
        KeySource::Environment => outln!("  access secret: from TABLESAFE_ACCESS_KEY_SECRET")?,
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// Background maintenance, holding only a weak handle so it never keeps the engine
/// open past shutdown: every minute, trim change records past their stream's
/// expiration; every ten minutes, drop versions that TTL or max versions hide from
/// rows that are not being rewritten (writes prune the rows they touch).
fn spawn_maintenance(engine: std::sync::Weak<Engine>) {
    std::thread::spawn(move || {
        for minute in 1u64.. {
            std::thread::sleep(std::time::Duration::from_secs(60));
            let Some(engine) = engine.upgrade() else { return };
            match engine.trim_streams() {
                Ok(0) => {}
                Ok(streams) => tracing::info!(streams, "trimmed expired stream records"),
                Err(error) => tracing::warn!(%error, "trimming stream records failed"),
            }
            if minute % 10 != 0 {
                continue;
            }
            match engine.reclaim_expired() {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "reclaimed expired versions"),
                Err(error) => tracing::warn!(%error, "reclaiming expired versions failed"),
            }
        }
    });
}
