//! `tablesafe`: the command-line front of TableSafe. It parses arguments, sets up
//! logging, runs one command, and turns errors into a one-line cause, a hint and an
//! exit code. All real work lives in the library crates.

mod args;
mod cmd;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    args::init_logging(&args.log);
    // Crash tests name a step to stop at (FAILPOINTS); without it this does nothing.
    let _fail_points = fail::FailScenario::setup();
    let result = match args.command {
        args::Command::Serve(serve) => cmd::serve::run(serve),
        args::Command::Repo(args::RepoCommand::Init(init)) => cmd::repo::init(init),
        args::Command::Repo(args::RepoCommand::Stats(stats)) => cmd::repo::stats(stats),
        args::Command::Repo(args::RepoCommand::Key(key)) => cmd::repo::key(key),
        args::Command::Backup(backup) => cmd::backup::run(backup),
        args::Command::Snapshots(snapshots) => cmd::backup::snapshots(snapshots),
        args::Command::Verify(verify) => cmd::repo::verify(verify),
        args::Command::Restore(restore) => cmd::restore::run(restore),
        args::Command::VerifyRestore(verify) => cmd::restore::verify(verify),
        args::Command::Get(get) => cmd::read::get(get),
        args::Command::Diff(diff) => cmd::read::diff(diff),
        args::Command::Export(export) => cmd::read::export(export),
        args::Command::Forget(forget) => cmd::forget::run(forget),
        args::Command::Snapshot(command) => cmd::notes::run(command),
        args::Command::Prune(prune) => cmd::forget::run_prune(prune),
        args::Command::Jobs(jobs) => cmd::jobs::list(jobs),
        args::Command::Archive(archive) => cmd::archive::run(archive),
        args::Command::RecoveryPoints(points) => cmd::archive::recovery(points),
        args::Command::Plan(plan) => cmd::plan::run(plan),
        args::Command::Job(job) => cmd::job::run(job),
        args::Command::Completions(completions) => cmd::shell::completions(&completions),
        args::Command::Man(man) => cmd::shell::man(&man),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            // Library errors often repeat their source in their message; print a
            // cause only when it adds something.
            let mut said = error.to_string();
            for cause in error.chain().skip(1) {
                let cause = cause.to_string();
                if !said.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                }
                said = cause;
            }
            if let Some(hint) = cmd::hint_for(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(cmd::exit_code(&error))
        }
    }
}
