//! Progress bars on stderr for long backups and restores: one bar per table, with
//! rows, bytes, rate and (when the row count is known) ETA. Drawn only when stderr
//! is a terminal and the output is not JSON; silent otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use tablesafe_backup::{NoProgress, Progress};

/// The progress reporting to use: bars, or nothing.
pub fn reporter(json: bool) -> Box<dyn Progress> {
    if json || !std::io::stderr().is_terminal() {
        Box::new(NoProgress)
    } else {
        Box::new(Bars::default())
    }
}

/// One bar for the table in progress.
#[derive(Default)]
struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    bytes: AtomicU64,
}

impl Bars {
    fn bar(&self) -> MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Progress for Bars {
    fn table_started(&self, table: &str, rows_hint: Option<u64>) {
        let bar = match rows_hint {
            Some(rows) => ProgressBar::new(rows).with_style(
                style("{prefix:.bold} [{wide_bar}] {human_pos}/{human_len} rows{msg} ({per_sec:0}, eta {eta})")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::no_length()
                .with_style(style("{spinner} {prefix:.bold} {human_pos} rows{msg} ({per_sec:0}, {elapsed})")),
        };
        bar.set_prefix(table.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bytes.store(0, Ordering::Relaxed);
        if let Some(previous) = self.bar().replace(bar) {
            previous.finish_and_clear();
        }
    }

    fn rows_done(&self, rows: u64, bytes: u64) {
        if let Some(bar) = self.bar().as_ref() {
            bar.inc(rows);
            if bytes > 0 {
                let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
                bar.set_message(format!(", {}", HumanBytes(total)));
            }
        }
    }

    fn table_finished(&self, _table: &str) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}
