//! One module per command.

pub mod serve;

/// A hint for errors whose fix is known.
pub fn hint_for(error: &anyhow::Error) -> Option<&'static str> {
    let text = format!("{error:#}");
    if text.contains("Address already in use") {
        Some("another process listens on that address; pick another with --listen")
    } else if text.contains("LOCK") || text.contains("lock hold") {
        Some("another tablesafe process uses this data directory; stop it or choose another --data-dir")
    } else if text.contains("access key file") {
        Some("fix or delete the key file, or set TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET")
    } else if text.contains("instance name") {
        Some("use 3 to 16 letters, digits or '-', starting with a letter, e.g. --instance dev")
    } else {
        None
    }
}
