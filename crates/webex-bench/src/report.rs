//! Markdown rendering of results: the machine, then one table per scenario
//! with every run and the median of the runs.

use std::fmt::Write;

use crate::connections::ConnectionsResult;
use crate::fanout::FanoutResult;
use crate::latency::{JS_NODE, LatencyResult};
use crate::register::RegisterResult;
use crate::stats::median;
use crate::throughput::ThroughputResult;

/// Cores, memory and CPU model of this machine, as one Markdown line.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cores} cores ({model}), {:.1} GiB memory; load generator and server share them",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

/// Scenario 1: one row per client and run, then the medians.
pub fn register(runs: &[Vec<RegisterResult>]) -> String {
    let mut out = String::from(
        "| run | client | register p50 ms | p90 | p99 | unregister p50 ms | p90 | p99 | n |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut clients: Vec<&'static str> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for r in run {
            if !clients.contains(&r.client) {
                clients.push(r.client);
            }
            let (a, b) = (r.register.summary(), r.unregister.summary());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                r.client,
                ms(a.p50_ms),
                ms(a.p90_ms),
                ms(a.p99_ms),
                ms(b.p50_ms),
                ms(b.p90_ms),
                ms(b.p99_ms),
                a.count
            );
        }
    }
    for client in clients {
        let pick = |f: &dyn Fn(&RegisterResult) -> f64| -> String {
            let v: Vec<f64> = runs
                .iter()
                .flatten()
                .filter(|r| r.client == client)
                .map(f)
                .collect();
            ms(median(&v))
        };
        let _ = writeln!(
            out,
            "| **median** | {client} | {} | {} | {} | {} | {} | {} | |",
            pick(&|r| r.register.summary().p50_ms),
            pick(&|r| r.register.summary().p90_ms),
            pick(&|r| r.register.summary().p99_ms),
            pick(&|r| r.unregister.summary().p50_ms),
            pick(&|r| r.unregister.summary().p90_ms),
            pick(&|r| r.unregister.summary().p99_ms),
        );
    }
    out
}

/// Scenario 2: registrations/s and `/healthz` requests/s per run.
pub fn throughput(runs: &[ThroughputResult]) -> String {
    let mut out = String::from(
        "| run | backend | /healthz req/s | registrations/s | registration req/s ÷ healthz req/s | registration p50 ms | p90 | p99 | errors |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in runs.iter().enumerate() {
        let s = r.registrations.latencies.summary();
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.0} % | {} | {} | {} | {} |",
            i + 1,
            r.backend,
            r.healthz.rate(),
            r.registrations.rate(),
            100.0 * r.request_ratio(),
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p99_ms),
            r.registrations.errors + r.healthz.errors
        );
    }
    for backend in ["sqlite", "postgres"] {
        let of: Vec<&ThroughputResult> = runs.iter().filter(|r| r.backend == backend).collect();
        if of.is_empty() {
            continue;
        }
        let m = |f: &dyn Fn(&ThroughputResult) -> f64| {
            median(&of.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let _ = writeln!(
            out,
            "| **median** | {backend} | {:.0} | {:.0} | {:.0} % | {} | {} | {} | |",
            m(&|r| r.healthz.rate()),
            m(&|r| r.registrations.rate()),
            100.0 * m(&|r| r.request_ratio()),
            ms(m(&|r| r.registrations.latencies.summary().p50_ms)),
            ms(m(&|r| r.registrations.latencies.summary().p90_ms)),
            ms(m(&|r| r.registrations.latencies.summary().p99_ms)),
        );
    }
    out
}

/// Scenario 3: memory per socket and idle CPU per run.
pub fn connections(runs: &[ConnectionsResult]) -> String {
    let mut out = String::from(
        "| run | sockets | connected | dropped | RSS before MiB | RSS after MiB | bytes/socket | idle CPU % of a core | connects/s | pongs |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.0}{} | {:.1} | {:.0} | {} |",
            i + 1,
            r.wanted,
            r.connected,
            r.dropped,
            r.rss_before as f64 / 1048576.0,
            r.rss_after as f64 / 1048576.0,
            r.bytes_per_socket(),
            if r.isolated { "" } else { " (in process)" },
            r.idle_cpu_percent,
            r.connect_rate,
            r.pongs
        );
    }
    out
}

/// Scenarios 4 and 5: delivery latency and rate per run.
pub fn fanout(runs: &[(String, FanoutResult)]) -> String {
    let mut out = String::from(
        "| run | setup | sockets | events published | delivered / expected | messages/s | p50 ms | p90 | p99 | max | dropped sockets |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (i, (label, r)) in runs.iter().enumerate() {
        let s = r.latencies.summary();
        let _ = writeln!(
            out,
            "| {} | {label} | {} | {} | {} / {} | {:.0} | {} | {} | {} | {} | {} |",
            i + 1,
            r.connections,
            r.published,
            r.delivered,
            r.expected,
            r.delivered_per_sec(),
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p99_ms),
            ms(s.max_ms),
            r.dropped
        );
    }
    let mut labels: Vec<&str> = Vec::new();
    for (l, _) in runs {
        if !labels.contains(&l.as_str()) {
            labels.push(l);
        }
    }
    for label in labels {
        let of: Vec<&FanoutResult> = runs
            .iter()
            .filter(|(l, _)| l == label)
            .map(|(_, r)| r)
            .collect();
        let m =
            |f: &dyn Fn(&FanoutResult) -> f64| median(&of.iter().map(|r| f(r)).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| **median** | {label} | | | | {:.0} | {} | {} | {} | {} | |",
            m(&|r| r.delivered_per_sec()),
            ms(m(&|r| r.latencies.summary().p50_ms)),
            ms(m(&|r| r.latencies.summary().p90_ms)),
            ms(m(&|r| r.latencies.summary().p99_ms)),
            ms(m(&|r| r.latencies.summary().max_ms)),
        );
    }
    out
}

fn median_ms(values: &[std::time::Duration]) -> f64 {
    median(
        &values
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect::<Vec<_>>(),
    )
}

/// `ms ÷ rtt` to one decimal, or `—` without added latency.
fn in_rtts(ms: f64, rtt: std::time::Duration) -> String {
    let rtt_ms = rtt.as_secs_f64() * 1e3;
    if rtt_ms <= 0.0 || ms <= 0.0 {
        "—".into()
    } else {
        format!("{:.2}", ms / rtt_ms)
    }
}

/// Scenario 6: per run, transport, RTT and client the median register and
/// unregister times, also in round trips; then the medians of the runs
/// with the official SDK's time divided by each client's; then each
/// client's requests during its last registration at the largest RTT.
pub fn latency(runs: &[Vec<LatencyResult>]) -> String {
    let mut out = String::from(
        "| run | transport | RTT ms | client | register median ms | ÷ RTT | unregister median ms | ÷ RTT | n |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let ms = |v: f64| {
        if v > 0.0 {
            format!("{v:.1}")
        } else {
            "—".into()
        }
    };
    for (i, run) in runs.iter().enumerate() {
        for r in run {
            let (reg, unreg) = (median_ms(&r.register), median_ms(&r.unregister));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                r.transport.as_str(),
                r.rtt.as_millis(),
                r.client,
                ms(reg),
                in_rtts(reg, r.rtt),
                ms(unreg),
                in_rtts(unreg, r.rtt),
                r.register.len()
            );
        }
    }
    out += "\nMedians of the runs (official SDK's register time ÷ this client's: how many times faster):\n\n";
    out += "| transport | RTT ms | client | register ms | ÷ RTT | unregister ms | ÷ RTT | vs official SDK |\n|---|---|---|---|---|---|---|---|\n";
    let Some(first) = runs.first() else {
        return out;
    };
    for key in first {
        let of = |client: &str| -> Vec<&LatencyResult> {
            runs.iter()
                .flatten()
                .filter(|r| r.transport == key.transport && r.rtt == key.rtt && r.client == client)
                .collect()
        };
        let med = |rs: &[&LatencyResult], f: &dyn Fn(&LatencyResult) -> f64| {
            median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let mine = of(key.client);
        let reg = med(&mine, &|r| median_ms(&r.register));
        let unreg = med(&mine, &|r| median_ms(&r.unregister));
        let js = of(JS_NODE);
        let vs = if js.is_empty() || key.client == JS_NODE {
            "—".into()
        } else {
            format!(
                "{:.2}×",
                med(&js, &|r| median_ms(&r.register)) / reg.max(1e-9)
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {vs} |",
            key.transport.as_str(),
            key.rtt.as_millis(),
            key.client,
            ms(reg),
            in_rtts(reg, key.rtt),
            ms(unreg),
            in_rtts(unreg, key.rtt),
        );
    }
    // Request sequences: the last run, each transport, at the largest RTT.
    if let Some(last) = runs.last()
        && let Some(rtt) = last.iter().map(|r| r.rtt).max()
        && !rtt.is_zero()
    {
        let _ = writeln!(
            out,
            "\nWhat each client sent during its last registration at RTT {} ms (proxy log, time in round trips since init; `#n` is the n-th TCP connection; over TLS only connection openings are visible):\n",
            rtt.as_millis()
        );
        for r in last.iter().filter(|r| r.rtt == rtt) {
            let steps: Vec<String> = r
                .trace
                .iter()
                .map(|(at, conn, what)| {
                    let what = what.trim_end_matches(" HTTP/1.1");
                    format!("{:.2} #{conn} {what}", at.as_secs_f64() / rtt.as_secs_f64())
                })
                .collect();
            let _ = writeln!(
                out,
                "- {} / {}: {}",
                r.transport.as_str(),
                r.client,
                if steps.is_empty() {
                    "(nothing logged)".into()
                } else {
                    steps.join(" → ")
                }
            );
        }
    }
    out
}

/// Scenario 7: per run and as a median, `ours` messages/s as a share of
/// `floor` messages/s (runs pair up in order).
pub fn floor_share(runs: &[(String, FanoutResult)], ours: &str, floor: &str) -> String {
    let pick = |label: &str| -> Vec<f64> {
        runs.iter()
            .filter(|(l, _)| l == label)
            .map(|(_, r)| r.delivered_per_sec())
            .collect()
    };
    let (o, f) = (pick(ours), pick(floor));
    let shares: Vec<f64> = o
        .iter()
        .zip(&f)
        .map(|(o, f)| 100.0 * o / f.max(1e-9))
        .collect();
    let mut out =
        String::from("| run | ours msg/s | floor msg/s | ours ÷ floor |\n|---|---|---|---|\n");
    for (i, ((o, f), s)) in o.iter().zip(&f).zip(&shares).enumerate() {
        let _ = writeln!(out, "| {} | {o:.0} | {f:.0} | {s:.0} % |", i + 1);
    }
    let _ = writeln!(
        out,
        "| **median** | {:.0} | {:.0} | {:.0} % |",
        median(&o),
        median(&f),
        median(&shares)
    );
    out
}
