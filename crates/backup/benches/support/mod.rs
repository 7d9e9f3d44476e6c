//! What the backup benches share: their error type, settings from the
//! environment, and facts about the machine and its processes read from /proc.

use std::path::Path;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Res<T> = Result<T, Error>;

/// Linux reports CPU time in ticks of USER_HZ, which is 100 on every architecture
/// Rust's std supports on Linux except alpha.
const TICKS_PER_SECOND: f64 = 100.0;

pub fn fail(message: impl Into<String>) -> Error {
    message.into().into()
}

/// A numeric setting (`_` and `,` allowed as separators); a value that does not
/// parse aborts the run rather than silently measuring the default.
pub fn env_u64(name: &str, default: u64) -> Res<u64> {
    match std::env::var(name) {
        Ok(v) => v.replace(['_', ','], "").parse().map_err(|_| fail(format!("{name}={v} is not a number"))),
        Err(_) => Ok(default),
    }
}

/// User + system CPU seconds of a process (all its threads); `pid` may be `self`.
pub fn cpu_seconds(pid: &str) -> Res<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(") ").map(|(_, r)| r).ok_or_else(|| fail(format!("bad /proc/{pid}/stat")))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| fail("bad stat field"));
    Ok((ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SECOND)
}

/// Bytes of every file below `path`.
pub fn dir_bytes(path: &Path) -> Res<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The file system `path` lives on, as `<type> on <device>`: the longest mount
/// point containing it (the last one listed, where mounts stack).
pub fn filesystem_of(path: &Path) -> String {
    let Ok(path) = path.canonicalize() else { return "unknown filesystem".into() };
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return "unknown filesystem".into() };
    mounts
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts.len() >= 3 && path.starts_with(parts[1]))
                .then(|| (parts[1].len(), format!("{} on {}", parts[2], parts[0])))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
        .unwrap_or_else(|| "unknown filesystem".into())
}
