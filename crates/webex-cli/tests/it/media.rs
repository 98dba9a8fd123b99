//! `webex meetings join` with media flags and `webex media info`, against
//! `webex serve`: two bots send tones and record each other, one sends the
//! H.264 fixture and the other records it; stdin commands in `--json` mode.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::support::{PROCESS_GUARD, Serve, WEBEX, token_create};

/// The H.264 fixture: 320x240, 40 pictures, 2 IDR.
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/test-pattern.h264"
);

/// How long each bot stays after its media connected.
const STAY: f64 = 6.0;

/// `webex meetings join ROOM --json <args>` to its end: its JSON lines.
async fn bot(url: &str, token: &str, args: &[&str]) -> Vec<Value> {
    let out = tokio::time::timeout(
        PROCESS_GUARD,
        Command::new(WEBEX)
            .args(["meetings", "join", "bots@webex.localhost", "--json"])
            .args(["--server", url, "--token", token])
            .args(args)
            .env_remove("WEBEX_ACCESS_TOKEN")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("webex meetings join hung")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `webex media info --json FILE`.
async fn info(file: &Path) -> Value {
    let out = Command::new(WEBEX)
        .args(["media", "info", "--json"])
        .arg(file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// When `lines` say media connected, on the test's clock (`spawned` +
/// `atMs`).
fn connected_at(lines: &[Value], spawned: Instant) -> Instant {
    let line = lines
        .iter()
        .find(|l| l["event"] == "meeting:media:connected")
        .unwrap_or_else(|| panic!("no meeting:media:connected in {lines:?}"));
    spawned + Duration::from_secs_f64(line["atMs"].as_f64().unwrap() / 1000.0)
}

#[tokio::test]
async fn two_bots_hear_each_others_tone_and_record_audio_and_video() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.sqlite").display());
    let serve = Serve::start(&["--database", &db], Stdio::null()).await;
    let ann = token_create(&db, "ann@example.com").await;
    let ben = token_create(&db, "ben@example.com").await;
    let ann_ogg = dir.path().join("ann.ogg");
    let ben_ogg = dir.path().join("ben.ogg");
    let ben_h264 = dir.path().join("ben.h264");

    let ann_args = [
        "--tone",
        "440",
        "--send-video",
        FIXTURE,
        "--record-audio",
        ann_ogg.to_str().unwrap(),
        "--leave-after",
        "6s",
    ];
    let ben_args = [
        "--tone",
        "660",
        "--record-audio",
        ben_ogg.to_str().unwrap(),
        "--record-video",
        ben_h264.to_str().unwrap(),
        "--leave-after",
        "6s",
    ];
    let spawned = Instant::now();
    let (ann_lines, ben_lines) = tokio::join!(
        bot(&serve.url, &ann, &ann_args),
        bot(&serve.url, &ben, &ben_args),
    );

    // Each records from when both are connected until the first leaves.
    let (a, b) = (
        connected_at(&ann_lines, spawned),
        connected_at(&ben_lines, spawned),
    );
    let skew = if a > b { a - b } else { b - a };
    let expected = STAY - skew.as_secs_f64();
    for (file, heard) in [(&ann_ogg, 660.0), (&ben_ogg, 440.0)] {
        let info = info(file).await;
        let duration = info["durationSecs"].as_f64().unwrap();
        assert!(
            (duration - expected).abs() <= 1.5,
            "{} lasts {duration} s, expected {expected} s: {info}",
            file.display()
        );
        assert_eq!(info["dominantHz"].as_f64(), Some(heard), "{info}");
        assert!(info["rms"].as_f64().unwrap() > 0.05, "{info}");
    }

    let video = info(&ben_h264).await;
    assert!(video["keyframes"].as_u64().unwrap() >= 1, "{video}");
    assert_eq!(video["width"], 320, "{video}");
    assert_eq!(video["height"], 240, "{video}");

    // Statistics: both sent and received audio; ben received ann's video.
    let last_stats = |lines: &[Value]| {
        lines
            .iter()
            .rfind(|l| l["event"] == "media:stats")
            .cloned()
            .unwrap_or_else(|| panic!("no media:stats in {lines:?}"))
    };
    let (sa, sb) = (last_stats(&ann_lines), last_stats(&ben_lines));
    for s in [&sa, &sb] {
        assert!(s["audio"]["packetsSent"].as_u64().unwrap() > 100, "{s}");
        assert!(s["audio"]["packetsReceived"].as_u64().unwrap() > 100, "{s}");
        assert!(s["audio"]["bytesReceived"].as_u64().unwrap() > 1000, "{s}");
    }
    // ann sends video, whose RTCP reports come each second: a round-trip
    // time (audio's come every 5 s, as in browsers: ben's may not be in yet).
    assert!(
        sa["roundTripMs"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{sa}"
    );
    assert!(sa["video"]["framesSent"].as_u64().unwrap() > 40, "{sa}");
    assert!(sb["video"]["framesReceived"].as_u64().unwrap() > 20, "{sb}");
    for lines in [&ann_lines, &ben_lines] {
        assert!(lines.iter().any(|l| l["event"] == "meeting:media:ready"));
        assert_eq!(lines.last().unwrap()["event"], "left", "{lines:?}");
    }
}

#[tokio::test]
async fn json_mode_takes_commands_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.sqlite").display());
    let serve = Serve::start(&["--database", &db], Stdio::null()).await;
    let cat = token_create(&db, "cat@example.com").await;
    let mut join = Command::new(WEBEX)
        .args(["meetings", "join", "solo@webex.localhost", "--json"])
        .args(["--receive-only", "--server", &serve.url, "--token", &cat])
        .env_remove("WEBEX_ACCESS_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = join.stdin.take().unwrap();
    let mut lines = BufReader::new(join.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut until = async |want: &dyn Fn(&Value) -> bool, seen: &mut Vec<Value>| {
        tokio::time::timeout(PROCESS_GUARD, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let v: Value = serde_json::from_str(&line).unwrap();
                seen.push(v.clone());
                if want(&v) {
                    return v;
                }
            }
            panic!("join ended early: {seen:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("never seen: {seen:?}"))
    };
    until(&|v| v["event"] == "meeting:media:connected", &mut seen).await;

    stdin.write_all(b"mute-audio\n").await.unwrap();
    let done = until(&|v| v["event"] == "command", &mut seen).await;
    assert_eq!(done["ok"], true, "{done}");
    until(
        &|v| {
            v["members"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["isSelf"] == true && m["isAudioMuted"] == true)
            })
        },
        &mut seen,
    )
    .await;

    stdin.write_all(b"sing\n").await.unwrap();
    let refused = until(&|v| v["event"] == "command", &mut seen).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("unknown command"),
        "{refused}"
    );

    stdin.write_all(b"leave\n").await.unwrap();
    until(&|v| v["event"] == "left", &mut seen).await;
    let status = tokio::time::timeout(PROCESS_GUARD, join.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn media_info_refuses_what_it_cannot_read_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.ogg");
    std::fs::write(&bogus, b"not an ogg file").unwrap();
    let out = Command::new(WEBEX)
        .args(["media", "info"])
        .arg(&bogus)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an Ogg Opus file"), "{err}");

    let fixture = info(Path::new(FIXTURE)).await;
    assert_eq!(fixture["accessUnits"], 40, "{fixture}");
    assert_eq!(fixture["keyframes"], 2, "{fixture}");
}
