//! `tablesafe snapshot tag|protect|unprotect`: the notes people attach to a
//! snapshot in a repository (the library's `notes` module owns their form and
//! the rule that retention and `forget` keep protected snapshots).

use serde::Serialize;
use tablesafe_backup::notes::update_notes;
use tablesafe_backup::{load_snapshot, NotesChange, SnapshotNotes};

use super::{block_on, open, print_json};
use crate::args::{SnapshotCommand, SnapshotIdArgs};

#[derive(Serialize)]
struct NotesOutput {
    snapshot: String,
    #[serde(flatten)]
    notes: SnapshotNotes,
}

pub fn run(command: SnapshotCommand) -> anyhow::Result<()> {
    let (args, change) = match command {
        SnapshotCommand::Tag(tag) => {
            if tag.tag.is_empty() && tag.untag.is_empty() && tag.description.is_none() {
                return Err(super::Failure::usage(
                    "nothing to change",
                    "give --tag, --untag or --description",
                )
                .into());
            }
            let change = NotesChange {
                description: tag.description,
                add_tags: tag.tag,
                remove_tags: tag.untag,
                ..NotesChange::default()
            };
            (tag.snapshot, change)
        }
        SnapshotCommand::Protect(args) => (args, NotesChange { protected: Some(true), ..NotesChange::default() }),
        SnapshotCommand::Unprotect(args) => (args, NotesChange { protected: Some(false), ..NotesChange::default() }),
    };
    let output = change_notes(&args, &change)?;
    if args.output.json {
        return print_json(&output);
    }
    let tags = if output.notes.tags.is_empty() {
        "no tags".to_owned()
    } else {
        format!("tags {}", output.notes.tags.iter().cloned().collect::<Vec<_>>().join(", "))
    };
    let protected = if output.notes.protected { "protected" } else { "not protected" };
    outln!("snapshot {}: {tags}, {protected}", output.snapshot)?;
    if let Some(description) = &output.notes.description {
        outln!("  about: {description}")?;
    }
    Ok(())
}

fn change_notes(args: &SnapshotIdArgs, change: &NotesChange) -> anyhow::Result<NotesOutput> {
    block_on(async {
        let repo = open::repository(&args.repo).await?;
        let (id, _) = load_snapshot(&repo, &args.id).await?;
        let notes = update_notes(&repo, &id, change).await?;
        Ok(NotesOutput { snapshot: id, notes })
    })
}
