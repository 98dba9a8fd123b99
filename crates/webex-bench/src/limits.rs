//! Process limits a scenario needs: open files for many sockets.

use rlimit::Resource;

use crate::error::{BenchError, BenchResult};

/// Raises this process's `RLIMIT_NOFILE` to at least `wanted` (raising the
/// hard limit too when allowed, e.g. as root). Child processes spawned
/// afterwards inherit it. Returns the soft limit now in force.
///
/// ```
/// let n = webex_bench::limits::raise_nofile(256).unwrap();
/// assert!(n >= 256);
/// ```
pub fn raise_nofile(wanted: u64) -> BenchResult<u64> {
    let (soft, hard) = Resource::NOFILE
        .get()
        .map_err(|e| BenchError::Resources(format!("reading RLIMIT_NOFILE: {e}")))?;
    if soft >= wanted {
        return Ok(soft);
    }
    if Resource::NOFILE.set(wanted, hard.max(wanted)).is_err() {
        // Not allowed above the hard limit: take what there is.
        Resource::NOFILE
            .set(hard, hard)
            .map_err(|e| BenchError::Resources(format!("setting RLIMIT_NOFILE: {e}")))?;
    }
    let (soft, _) = Resource::NOFILE
        .get()
        .map_err(|e| BenchError::Resources(format!("reading RLIMIT_NOFILE: {e}")))?;
    if soft < wanted {
        return Err(BenchError::Resources(format!(
            "{wanted} open files needed, the limit is {soft} (raise the hard limit: ulimit -Hn)"
        )));
    }
    Ok(soft)
}
