//! `webex bench smoke` end to end, with the server in process: every
//! scenario runs with tiny numbers, so the benches cannot rot unnoticed.
//! PostgreSQL/Redis parts run when `WEBEX_TEST_DATABASE_URL` /
//! `WEBEX_TEST_REDIS_URL` are set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: webex_bench::BenchArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_runs_every_scenario() {
    let cli = Cli::parse_from(["bench", "--server", "in-process", "smoke"]);
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(240),
        webex_bench::run(cli.bench),
    )
    .await
    .expect("smoke run finished in time")
    .expect("smoke run succeeded");
    println!("{report}");
    for section in [
        "### 1. Register latency",
        "### 2. Registration throughput",
        "### 3. Idle connections held",
        "### 4. Event fan-out",
        "### 5. Two nodes",
        "### 6. Register over a link with latency",
        "### 7. Fan-out against its floor",
        "### 8. Meetings",
        "### 10. Media forwarding",
    ] {
        assert!(report.contains(section), "missing {section} in\n{report}");
    }
    assert!(report.contains("| **median** | sqlite |"), "{report}");
    // Scenario 3: all 40 sockets connected ("| 1 | 40 | 40 |").
    assert!(report.contains("| 1 | 40 | 40 |"), "{report}");
    // Scenario 4: every published event reached its 10 sockets.
    let line = report
        .lines()
        .find(|l| l.starts_with("| 1 | one node"))
        .expect("a fan-out row");
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    let (delivered, expected) = cells[5].split_once(" / ").expect("delivered / expected");
    assert_eq!(delivered, expected, "{line}");
    assert_ne!(expected, "0", "{line}");
    // Scenario 6: both Rust clients over both transports at 20 ms.
    for transport in ["tcp", "tls"] {
        for client in ["Rust SDK, cold start", "Rust SDK, warm start"] {
            let row = format!("| 1 | {transport} | 20 | {client} |");
            assert!(report.contains(&row), "missing {row} in\n{report}");
        }
    }
    // Scenario 7: the floor delivered everything too, and a share is given.
    let line = report
        .lines()
        .find(|l| l.starts_with("| 1 | floor"))
        .expect("a floor row");
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    let (delivered, expected) = cells[5].split_once(" / ").expect("delivered / expected");
    assert_eq!(delivered, expected, "{line}");
    assert_ne!(expected, "0", "{line}");
    assert!(report.contains("| ours ÷ floor |"), "{report}");
    // Scenario 8: all 24 joined, every roster converged and equals GET.
    assert!(report.contains("| 1 | 24 / 0 |"), "{report}");
    let line = report
        .lines()
        .find(|l| l.starts_with("| 1 | 24 / 0 |"))
        .expect("a meeting row");
    assert!(!line.contains("not converged"), "{line}");
    assert!(
        line.contains("ms | 0 |"),
        "no roster differs from GET: {line}"
    );
    // Scenario 10: through the server and through the floor, every client
    // received media and nearly every frame sent arrived; delays were
    // measured for both kinds in the meeting of two, for video in the
    // meeting of three (its audio is mixed), where the server's mixing
    // time was read.
    for setup in ["webex serve", "floor: bare UDP relay"] {
        for people in [2, 3] {
            let row = format!("| 1 | {setup} | {people} | 1 | {people} / {people} |");
            let line = report
                .lines()
                .find(|l| l.starts_with(&row))
                .unwrap_or_else(|| panic!("missing {row} in\n{report}"));
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let sent: f64 = cells[6].parse().unwrap();
            let received: f64 = cells[7].parse().unwrap();
            assert!(sent > 50.0 * people as f64, "{line}");
            assert!(received > 0.8 * sent, "{line}");
            let timed = if people == 2 { 10..14 } else { 12..14 };
            for latency in &cells[timed] {
                assert!(latency.parse::<f64>().unwrap() > 0.0, "{line}");
            }
            let mixing = cells[16];
            if setup == "webex serve" && people == 3 {
                assert!(mixing.parse::<f64>().unwrap() > 0.0, "{line}");
            } else {
                assert!(mixing == "—" || mixing == "0.0", "{line}");
            }
        }
    }
}

#[test]
fn arguments_parse_for_every_scenario() {
    for argv in [
        vec!["bench", "register", "--iterations", "10"],
        vec![
            "bench",
            "throughput",
            "--concurrency",
            "8",
            "--duration",
            "2s",
        ],
        vec!["bench", "connections", "--counts", "10,20"],
        vec!["bench", "fanout", "--connections", "100"],
        vec!["bench", "two-nodes", "--runs", "1"],
        vec![
            "bench",
            "meeting",
            "--participants",
            "50",
            "--steps",
            "10,50",
        ],
        vec!["bench", "smoke"],
        vec!["bench", "latency", "--rtt", "0,20", "--transports", "tcp"],
        vec!["bench", "fanout-floor", "--connections", "100"],
        vec!["bench", "media", "--meetings", "1,10", "--duration", "3s"],
        vec![
            "bench",
            "media",
            "--people",
            "2,10,50",
            "--meetings",
            "1",
            "--talkers",
            "0",
        ],
        vec!["bench", "media", "--capacity", "--capacity-size", "10"],
    ] {
        assert!(Cli::try_parse_from(&argv).is_ok(), "{argv:?}");
    }
}
