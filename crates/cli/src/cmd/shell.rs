//! `tablesafe completions` and `tablesafe man`: what packagers and shells need,
//! generated from the same argument definitions the parser uses.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};

/// Writes the completion script for one shell to stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "tablesafe", &mut script);
    to_stdout(&script)
}

/// Writes all of `bytes` to stdout; a reader that stopped early (`| head`) is
/// not an error.
fn to_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Subcommands with a page of their own (clap's generated `help` has none).
fn documented(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// Writes the page of `tablesafe` (or of one subcommand) as roff to stdout, or
/// every page (`tablesafe.1`, `tablesafe-backup.1`, `tablesafe-plan-create.1`, ...)
/// into a directory.
pub fn man(args: &ManArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    command.build();
    if let Some(dir) = &args.dir {
        return write_pages(&command, "tablesafe", dir);
    }
    let mut page = command;
    for name in &args.subcommand {
        let Some(sub) = page.find_subcommand(name).cloned() else {
            let names: Vec<&str> = documented(&page).map(clap::Command::get_name).collect();
            let of = page.get_bin_name().unwrap_or("tablesafe").to_owned();
            return Err(super::Failure::usage(
                format!("`{of}` has no subcommand '{name}'"),
                format!("one of: {}", names.join(", ")),
            )
            .into());
        };
        page = sub;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    to_stdout(&roff)
}

fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}.1"));
    let mut bytes = Vec::new();
    clap_mangen::Man::new(command.clone()).title(name).render(&mut bytes)?;
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    for sub in documented(command) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
