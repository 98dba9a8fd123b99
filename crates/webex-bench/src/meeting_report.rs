//! Markdown of scenario 6: one table per part, every run and the median.

use std::fmt::Write;

use crate::meeting::{Convergence, LargeResult, MeetingParams, SmallResult};
use crate::stats::median;

const MB: f64 = 1024.0 * 1024.0;

fn ms(c: &Convergence) -> String {
    match c.after_last {
        Some(d) => format!("{:.0} ms", d.as_secs_f64() * 1000.0),
        None => format!("not converged ({} reached)", c.reached),
    }
}

/// Milliseconds; a run that never converged counts as infinitely slow
/// (the median then says so instead of ignoring it).
fn conv_ms(c: &Convergence) -> f64 {
    c.after_last.map_or(f64::MAX, |d| d.as_secs_f64() * 1000.0)
}

fn conv_median(v: f64) -> String {
    if v >= f64::MAX / 2.0 {
        "not converged".into()
    } else {
        format!("{v:.0} ms")
    }
}

/// The report section of scenario 6.
pub(crate) fn render(p: &MeetingParams, large: &[LargeResult], small: &[SmallResult]) -> String {
    let mut out = String::new();
    let n = large.first().map_or(p.participants, |r| r.participants);
    let _ = writeln!(
        out,
        "### 8. Meetings (SQLite; one meeting of {n}, {} joins in flight, {:?} churn)\n",
        p.join_concurrency, p.churn
    );
    out += "| run | joins ok / failed | join p50 | join p99 | joins/s | converged after last join | rosters ≠ GET | server CPU joining | load generator CPU | RSS before → after |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|\n";
    for (i, r) in large.iter().enumerate() {
        let s = r.joins.summary();
        let _ = writeln!(
            out,
            "| {} | {} / {} | {:.1} ms | {:.1} ms | {:.0} | {} | {} | {:.0} % | {:.0} % | {:.0} → {:.0} MB |",
            i + 1,
            s.count,
            r.join_errors,
            s.p50_ms,
            s.p99_ms,
            s.count as f64 / r.join_wall.as_secs_f64().max(1e-9),
            ms(&r.converged),
            r.converged.mismatched,
            r.join_cpu_percent,
            r.join_load_cpu_percent,
            r.rss_before as f64 / MB,
            r.rss_after as f64 / MB,
        );
    }
    let col = |f: &dyn Fn(&LargeResult) -> f64| median(&large.iter().map(f).collect::<Vec<_>>());
    let _ = writeln!(
        out,
        "| **median** | | {:.1} ms | {:.1} ms | {:.0} | {} | | {:.0} % | {:.0} % | |",
        col(&|r| r.joins.summary().p50_ms),
        col(&|r| r.joins.summary().p99_ms),
        col(&|r| r.joins.len() as f64 / r.join_wall.as_secs_f64().max(1e-9)),
        conv_median(col(&|r| conv_ms(&r.converged))),
        col(&|r| r.join_cpu_percent),
        col(&|r| r.join_load_cpu_percent),
    );

    out += "\nRoster change that brought the meeting to N people (client side: every socket's frame for that one change):\n\n";
    out +=
        "| run | N | event | frames | bytes | bytes per recipient |\n|---|---|---|---|---|---|\n";
    for (i, r) in large.iter().enumerate() {
        for c in &r.steps {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {:.0} |",
                i + 1,
                c.size,
                c.kind,
                c.frames,
                c.bytes,
                c.bytes_per_frame()
            );
        }
    }

    out += "\nChurn (leave + rejoin, same concurrency):\n\n";
    out += "| run | requests ok / failed | requests/s | p50 | p99 | converged after last | rosters ≠ GET | server CPU | Locus frames (whole run) | MB |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|\n";
    for (i, r) in large.iter().enumerate() {
        let s = r.churn.summary();
        let _ = writeln!(
            out,
            "| {} | {} / {} | {:.0} | {:.1} ms | {:.1} ms | {} | {} | {:.0} % | {} | {:.1} |",
            i + 1,
            s.count,
            r.churn_errors,
            s.count as f64 / r.churn_wall.as_secs_f64().max(1e-9),
            s.p50_ms,
            s.p99_ms,
            ms(&r.churn_converged),
            r.churn_converged.mismatched,
            r.churn_cpu_percent,
            r.frames,
            r.bytes as f64 / MB,
        );
    }

    if !small.is_empty() {
        let _ = writeln!(
            out,
            "\nMany small meetings ({} of {}, every client calling its meeting's address):\n",
            p.small_meetings, p.small_size
        );
        out += "| run | joins ok / failed | meetings | joins/s | p50 | p99 | server CPU | RSS after |\n";
        out += "|---|---|---|---|---|---|---|---|\n";
        for (i, r) in small.iter().enumerate() {
            let s = r.joins.summary();
            let _ = writeln!(
                out,
                "| {} | {} / {} | {} of {} | {:.0} | {:.1} ms | {:.1} ms | {:.0} % | {:.0} MB |",
                i + 1,
                s.count,
                r.join_errors,
                r.loci,
                r.meetings,
                r.joins_per_sec(),
                s.p50_ms,
                s.p99_ms,
                r.cpu_percent,
                r.rss_after as f64 / MB,
            );
        }
        let col =
            |f: &dyn Fn(&SmallResult) -> f64| median(&small.iter().map(f).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| **median** | | | {:.0} | {:.1} ms | {:.1} ms | {:.0} % | |",
            col(&|r| r.joins_per_sec()),
            col(&|r| r.joins.summary().p50_ms),
            col(&|r| r.joins.summary().p99_ms),
            col(&|r| r.cpu_percent),
        );
    }
    out
}
