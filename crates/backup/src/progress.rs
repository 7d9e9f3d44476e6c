//! Progress of long work (backup, restore, replay), reported as it goes; the CLI
//! draws bars from it and the job runner records rates.

/// Reports progress of long work (the CLI draws bars from it).
pub trait Progress: Send + Sync {
    /// A table's work begins.
    fn table_started(&self, _table: &str, _rows_hint: Option<u64>) {}
    /// More rows are done.
    fn rows_done(&self, _rows: u64, _bytes: u64) {}
    /// The table is done.
    fn table_finished(&self, _table: &str) {}
}

/// Progress reporting that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
