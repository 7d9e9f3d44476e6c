//! `tablesafe repo init` (create a repository), `tablesafe repo stats` (what it
//! holds, in figures), `tablesafe repo key` (the keys that open it) and
//! `tablesafe verify` (check one:
//! every index file opens, every indexed pack exists and every object is the one
//! the catalog records; with `--read-data`, every pack is read and every chunk
//! authenticated; then every chunk and base snapshot a snapshot references is
//! there). Verify prints each problem and warning on one line naming its object
//! and fails when there is any problem.

use serde::Serialize;
use indicatif::HumanBytes;
use tablesafe_backup::{repository_stats, verify_repository, Finding, JobKind};
use tablesafe_repo::{InitOptions, KdfParams, KeyInfo, RepoError, Repository};

use super::jobs::Job;
use super::{block_on, count, open, print_json, Failure};
use crate::args::{KeyCommand, NewPasswordArgs, RepoInitArgs, RepoStatsArgs, VerifyArgs};

#[derive(Serialize)]
struct InitOutput<'a> {
    repository: &'a str,
    id: &'a str,
    password: bool,
    recipients: usize,
    write_only_recipients: usize,
}

pub fn init(args: RepoInitArgs) -> anyhow::Result<()> {
    let password = open::password(args.password_file.as_deref())?;
    if password.is_none() && args.recipient.is_empty() {
        return Err(Failure::new(
            "a repository needs a password or an age recipient that can read it",
            "set TABLESAFE_PASSWORD, pass --password-file PATH, or pass --recipient age1... (`age-keygen` makes a key pair)",
        )
        .into());
    }
    let has_password = password.is_some();
    let options = InitOptions {
        password,
        recipients: args.recipient.clone(),
        write_only_recipients: args.write_only_recipient.clone(),
        ..InitOptions::default()
    };
    let storage = open::storage(&args.repo)?;
    let repo = block_on(async { Ok(Repository::init(storage, options).await?) })?;
    let output = InitOutput {
        repository: repo.storage().url(),
        id: &repo.config().id,
        password: has_password,
        recipients: args.recipient.len(),
        write_only_recipients: args.write_only_recipient.len(),
    };
    if args.output.json {
        return print_json(&output);
    }
    outln!("created repository {} (id {})", output.repository, output.id)?;
    let mut openers = Vec::new();
    if has_password {
        openers.push("the password".to_owned());
    }
    if output.recipients > 0 {
        openers.push(count(output.recipients, "age identity", "age identities"));
    }
    outln!("  opens with:  {}", openers.join(", "))?;
    if output.write_only_recipients > 0 {
        outln!(
            "  write-only:  {} (can add backups, cannot read table data)",
            count(output.write_only_recipients, "age identity", "age identities")
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct VerifyOutput<'a> {
    repository: &'a str,
    read_data: bool,
    ok: bool,
    problems: Vec<Finding>,
    /// What needs no repair to restore exactly: left by interruptions, locks, job records.
    warnings: Vec<Finding>,
}

/// The repository's problems and warnings ([`verify_repository`]).
async fn check(repo: &Repository, read_data: bool) -> anyhow::Result<(Vec<Finding>, Vec<Finding>)> {
    if read_data && !repo.can_read_data() {
        return Err(RepoError::WriteOnly.into());
    }
    let found = verify_repository(repo, read_data).await?;
    Ok((found.problems, found.warnings))
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let (url, (problems, warnings)) = block_on(async {
        let repo = open::repository(&args.repo).await?;
        let url = repo.storage().url().to_owned();
        let job = Job::start(JobKind::Verify);
        let result = check(&repo, args.read_data).await;
        job.finish(&repo, result, |(problems, _), job| {
            if let Some(first) = problems.first() {
                job.succeeded = false;
                let more = problems.len() - 1;
                let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                job.error = Some(format!(
                    "{} in repository {url}: {}{more}",
                    count(problems.len(), "problem", "problems"),
                    first.problem
                ));
            }
        })
        .await
        .map(|problems| (url, problems))
    })?;
    let output =
        VerifyOutput { repository: &url, read_data: args.read_data, ok: problems.is_empty(), problems, warnings };
    if args.output.json {
        print_json(&output)?;
    } else {
        for problem in &output.problems {
            outln!("problem: {}", problem.problem)?;
        }
        for warning in &output.warnings {
            outln!("warning: {}", warning.problem)?;
        }
        if output.ok {
            let what = if args.read_data {
                "every index file opens, every pack was read and every chunk authenticated, every object is the \
                 one the catalog records, and every snapshot's data is there"
            } else {
                "every index file opens, every indexed pack exists, every object is the one the catalog records, \
                 and every snapshot's data is indexed (--read-data also reads the data)"
            };
            outln!("repository {url}: no problems; {what}")?;
        }
    }
    if output.ok {
        return Ok(());
    }
    Err(Failure::new(
        format!("{} in repository {url}", count(output.problems.len(), "problem", "problems")),
        "the objects named above are missing or damaged, so snapshots with data in them cannot be restored in full; \
         take a new backup, and restore older data from another copy of the repository",
    )
    .into())
}

pub fn stats(args: RepoStatsArgs) -> anyhow::Result<()> {
    let stats = block_on(async {
        let repo = open::repository(&args.repo).await?;
        Ok(repository_stats(&repo).await?)
    })?;
    if args.output.json {
        return print_json(&stats);
    }
    outln!("stored:       {} in {}", HumanBytes(stats.stored_bytes), count(stats.objects as usize, "object", "objects"))?;
    outln!("logical:      {} of serialized rows and changes the catalog references", HumanBytes(stats.logical_bytes))?;
    outln!(
        "packs:        {}, {} ({} of chunks stored)",
        stats.packs,
        HumanBytes(stats.pack_bytes),
        HumanBytes(stats.compressed_bytes)
    )?;
    outln!("chunks:       {}, {} of plaintext", stats.chunks, HumanBytes(stats.unique_bytes))?;
    outln!("compression:  {:.2}x (plaintext / stored chunks)", stats.compression_ratio)?;
    outln!("dedup:        {:.2}x (logical / plaintext)", stats.dedup_ratio)?;
    outln!("snapshots:    {}", stats.snapshots)?;
    outln!(
        "archived:     {} in {}",
        count(stats.archived_changes as usize, "change", "changes"),
        count(stats.change_segments as usize, "segment", "segments")
    )
}

/// The new password of `repo key add` and `repo key passwd`: from
/// --new-password-file, else TABLESAFE_NEW_PASSWORD; never from a flag.
fn new_password(args: &NewPasswordArgs) -> anyhow::Result<String> {
    let password = match &args.new_password_file {
        Some(file) => open::password(Some(file))?,
        None => std::env::var("TABLESAFE_NEW_PASSWORD").ok().filter(|p| !p.is_empty()),
    };
    password.ok_or_else(|| {
        Failure::usage(
            "no new password given",
            "set TABLESAFE_NEW_PASSWORD or pass --new-password-file PATH (the current one opens the repository as always)",
        )
        .into()
    })
}

#[derive(Serialize)]
struct KeyChange {
    added: Option<String>,
    removed: Option<String>,
}

pub fn key(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::List(args) => {
            let keys = block_on(async { Ok(open::repository(&args.repo).await?.list_keys().await?) })?;
            if args.output.json {
                return print_json(&keys);
            }
            outln!("{:<32}  {:<10}  {:<8}  CURRENT", "ID", "ACCESS", "SEALING")?;
            for KeyInfo { id, access, sealing, current } in &keys {
                let access = match access {
                    tablesafe_repo::Access::Full => "full",
                    tablesafe_repo::Access::WriteOnly => "write-only",
                };
                outln!("{id:<32}  {access:<10}  {sealing:<8}  {}", if *current { "yes" } else { "" })?;
            }
            Ok(())
        }
        KeyCommand::Add(args) => {
            let password = if args.recipient.is_empty() { Some(new_password(&args.new_password)?) } else { None };
            let id = block_on(async {
                let repo = open::repository(&args.repo).await?;
                Ok(match &password {
                    Some(password) => repo.add_password_key(password, KdfParams::default()).await?,
                    None => repo.add_recipient_key(&args.recipient, args.write_only).await?,
                })
            })?;
            if args.output.json {
                return print_json(&KeyChange { added: Some(id), removed: None });
            }
            outln!("added key {id}")
        }
        KeyCommand::Remove(args) => {
            let id = block_on(async { Ok(open::repository(&args.repo).await?.remove_key(&args.id).await?) })?;
            if args.output.json {
                return print_json(&KeyChange { added: None, removed: Some(id) });
            }
            outln!("removed key {id}")
        }
        KeyCommand::Passwd(args) => {
            let password = new_password(&args.new_password)?;
            let (old, new) = block_on(async {
                let repo = open::repository(&args.repo).await?;
                let old = repo.opened_key().unwrap_or_default().to_owned();
                Ok((old, repo.change_password(&password, KdfParams::default()).await?))
            })?;
            if args.output.json {
                return print_json(&KeyChange { added: Some(new), removed: Some(old) });
            }
            outln!("password changed: key {new} replaces key {old}; the old password no longer opens the repository")
        }
    }
}
