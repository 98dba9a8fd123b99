//! Scenario 10's report: every run's row, the medians, then the server
//! against its floor from the same runs.

use std::fmt::Write;

use crate::media::{FLOOR, MediaParams, MediaRun, SERVER};
use crate::stats::median;
use crate::target::Launch;

pub(crate) fn ms(v: f64) -> String {
    format!("{v:.3}")
}

pub(crate) fn mb(bytes: f64) -> String {
    format!("{:.1}", bytes / 1024.0 / 1024.0)
}

/// A latency cell: "—" when nothing was timed (mixed audio).
fn latency(count: u64, v: f64) -> String {
    if count == 0 { "—".into() } else { ms(v) }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

/// The header of the runs' table.
pub(crate) const RUNS_HEADER: &str = "| run | setup | people | meetings | clients flowing | frames/s sent | frames/s received | datagrams/s received | bytes/datagram | audio p50 ms | audio p99 ms | video p50 ms | video p99 ms | server CPU % of a core | per client | mixing % of a core per meeting | per client | RSS MB | per client MB | load generator CPU % | setup s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

/// One run's row, labelled `label` (the repetition, or a step).
pub(crate) fn run_row(label: &str, r: &MediaRun) -> String {
    let (a, v) = (r.audio.summary(), r.video.summary());
    format!(
        "| {label} | {} | {} | {} | {} / {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {} | {} | {:.2} | {:.1} | {:.1} |\n",
        r.setup,
        r.people,
        r.meetings,
        r.flowing,
        r.clients,
        r.sent_per_sec(),
        r.frames_per_sec(),
        r.datagrams_per_sec(),
        r.bytes_per_datagram(),
        latency(a.count, a.p50_ms),
        latency(a.count, a.p99_ms),
        latency(v.count, v.p50_ms),
        latency(v.count, v.p99_ms),
        r.server_cpu_percent,
        r.cpu_per_client(),
        opt(r.mix_per_meeting(), 1),
        opt(r.mix_per_client(), 2),
        mb(r.rss_bytes as f64),
        r.rss_per_client() / 1024.0 / 1024.0,
        r.load_cpu_percent,
        r.setup_time.as_secs_f64(),
    )
}

/// How many talk in a meeting: a count, or `everyone` (0).
pub(crate) fn talkers_label(talkers: usize) -> String {
    if talkers == 0 {
        "everyone".to_string()
    } else {
        talkers.to_string()
    }
}

/// The report section: every run's row, the medians, then server and
/// floor side by side.
pub(crate) fn render(launch: &Launch, p: &MediaParams, runs: &[MediaRun]) -> String {
    let mut out = format!(
        "### 10. Media forwarding and mixing (meetings of {:?}, {} talking from three on, {:?} window after {:?} warm-up)\n\n",
        p.people,
        talkers_label(p.talkers),
        p.duration,
        p.warmup
    );
    out += RUNS_HEADER;
    let n_configs = 2 * p.meetings.len().max(1) * p.people.len().max(1);
    for (i, r) in runs.iter().enumerate() {
        out += &run_row(&(i / n_configs + 1).to_string(), r);
    }
    let of = |setup: &str, people: usize, meetings: usize| -> Vec<&MediaRun> {
        runs.iter()
            .filter(|r| r.setup == setup && r.people == people && r.meetings == meetings)
            .collect()
    };
    let med = |rs: &[&MediaRun], f: &dyn Fn(&MediaRun) -> f64| {
        median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>())
    };
    let med_opt = |rs: &[&MediaRun], f: &dyn Fn(&MediaRun) -> Option<f64>| {
        let v: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| median(&v))
    };
    let configs: Vec<(usize, usize)> = p
        .people
        .iter()
        .flat_map(|&n| p.meetings.iter().map(move |&m| (n, m)))
        .collect();
    for &(n, m) in &configs {
        for setup in [FLOOR, SERVER] {
            let rs = of(setup, n, m);
            if rs.is_empty() {
                continue;
            }
            let timed = |f: &dyn Fn(&MediaRun) -> u64| rs.iter().map(|r| f(r)).sum::<u64>();
            let (audio_n, video_n) = (timed(&|r| r.audio.len()), timed(&|r| r.video.len()));
            let _ = writeln!(
                out,
                "| **median** | {setup} | {n} | {m} | | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {} | {} | {:.2} | {:.1} | |",
                med(&rs, &|r| r.sent_per_sec()),
                med(&rs, &|r| r.frames_per_sec()),
                med(&rs, &|r| r.datagrams_per_sec()),
                med(&rs, &|r| r.bytes_per_datagram()),
                latency(audio_n, med(&rs, &|r| r.audio.summary().p50_ms)),
                latency(audio_n, med(&rs, &|r| r.audio.summary().p99_ms)),
                latency(video_n, med(&rs, &|r| r.video.summary().p50_ms)),
                latency(video_n, med(&rs, &|r| r.video.summary().p99_ms)),
                med(&rs, &|r| r.server_cpu_percent),
                med(&rs, &|r| r.cpu_per_client()),
                opt(med_opt(&rs, &|r| r.mix_per_meeting()), 1),
                opt(med_opt(&rs, &|r| r.mix_per_client()), 2),
                mb(med(&rs, &|r| r.rss_bytes as f64)),
                med(&rs, &|r| r.rss_per_client()) / 1024.0 / 1024.0,
                med(&rs, &|r| r.load_cpu_percent),
            );
        }
    }
    out += "\nServer against its floor (medians of the runs; latency sender → receiver, from the frames' own send times; CPU per client in % of a core):\n\n";
    out += "| people | meetings | datagrams/s server / floor | server ÷ floor | frames received ÷ sent server / floor | audio p99 ms server / floor | video p50 ms server / floor | video p99 ms server / floor | CPU per client server / floor | server CPU ÷ floor CPU |\n|---|---|---|---|---|---|---|---|---|---|\n";
    for &(n, m) in &configs {
        let (s, f) = (of(SERVER, n, m), of(FLOOR, n, m));
        if s.is_empty() || f.is_empty() {
            continue;
        }
        let pair =
            |g: &dyn Fn(&MediaRun) -> f64| format!("{} / {}", ms(med(&s, g)), ms(med(&f, g)));
        let (ds, df) = (
            med(&s, &|r| r.datagrams_per_sec()),
            med(&f, &|r| r.datagrams_per_sec()),
        );
        let (cs, cf) = (
            med(&s, &|r| r.cpu_per_client()),
            med(&f, &|r| r.cpu_per_client()),
        );
        let ratio = if cf > 0.0 {
            format!("{:.1}×", cs / cf)
        } else {
            "— (floor below one tick)".into()
        };
        let audio = if n > 2 {
            "— (mixed)".to_string()
        } else {
            pair(&|r| r.audio.summary().p99_ms)
        };
        let _ = writeln!(
            out,
            "| {n} | {m} | {ds:.0} / {df:.0} | {:.0} % | {:.3} / {:.3} | {audio} | {} | {} | {cs:.2} / {cf:.2} | {ratio} |",
            100.0 * ds / df.max(1e-9),
            med(&s, &|r| r.delivery()),
            med(&f, &|r| r.delivery()),
            pair(&|r| r.video.summary().p50_ms),
            pair(&|r| r.video.summary().p99_ms),
        );
    }
    if p.people.iter().any(|&n| n > 2) {
        out += "\nFrom three people on, audio is decoded, mixed (everyone but the receiver) and re-encoded: it carries no send time, so only video (switched, not re-encoded) is timed. The mix's own delay is a computed figure: a sender's jitter buffer starts playing at 2 frames (40 ms), and a frame waits up to one 20 ms tick for the mix.\n";
    }
    if matches!(launch, Launch::InProcess) {
        out += "\nServer in process: its CPU and RSS figures include the load generator.\n";
    }
    out
}
