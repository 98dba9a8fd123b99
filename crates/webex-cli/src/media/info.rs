//! `webex media info FILE`: what an Ogg Opus or H.264 Annex B file holds.
//! No server is needed.

use std::path::Path;

use anyhow::Context;
use ropus::{Channels, DecodeMode};
use serde_json::{Value, json};

use super::analysis::{dominant_frequency, rms};
use super::annexb::{access_units, picture_size};
use super::opus_file::OpusFile;

/// Prints what `path` holds, as text or one JSON object.
pub fn run(path: &Path, json: bool) -> anyhow::Result<()> {
    let info = describe(path)?;
    if json {
        println!("{info}");
    } else {
        let fields = info.as_object().map(|o| o.iter()).into_iter().flatten();
        for (key, value) in fields {
            match value {
                Value::String(s) => println!("{key}: {s}"),
                Value::Null => {}
                other => println!("{key}: {other}"),
            }
        }
    }
    Ok(())
}

/// The facts of `path` as JSON, by its extension (`.ogg`/`.opus`,
/// `.h264`/`.264`).
pub fn describe(path: &Path) -> anyhow::Result<Value> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("ogg" | "opus" | "oga") => opus(path),
        Some("h264" | "264") => h264(path),
        _ => anyhow::bail!(
            "{}: unknown kind of file: expected .ogg (Ogg Opus) or .h264 (H.264 Annex B)",
            path.display()
        ),
    }
}

fn opus(path: &Path) -> anyhow::Result<Value> {
    let file = OpusFile::read(path)?;
    let mut decoder = ropus::Decoder::new(48_000, Channels::Mono)
        .map_err(|e| anyhow::anyhow!("opus decoder: {e}"))?;
    let mut pcm = Vec::new();
    let mut undecodable = 0u64;
    let mut frame = vec![0i16; 5760];
    for packet in &file.packets {
        match decoder.decode(packet, &mut frame, DecodeMode::Normal) {
            Ok(n) => pcm.extend_from_slice(&frame[..n.min(frame.len())]),
            Err(_) => undecodable += 1,
        }
    }
    let skip = usize::from(file.pre_skip).min(pcm.len());
    let pcm = &pcm[skip..];
    Ok(json!({
        "file": path.display().to_string(),
        "kind": "opus",
        "channels": file.channels,
        "packets": file.packets.len(),
        "undecodablePackets": undecodable,
        "durationSecs": round3(file.duration_secs()),
        "rms": round3(rms(pcm)),
        "dominantHz": dominant_frequency(pcm),
    }))
}

fn h264(path: &Path) -> anyhow::Result<Value> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let units = access_units(&data);
    if units.is_empty() {
        anyhow::bail!(
            "not an H.264 Annex B stream: {}: no start codes",
            path.display()
        );
    }
    let size = picture_size(&data);
    Ok(json!({
        "file": path.display().to_string(),
        "kind": "h264",
        "accessUnits": units.len(),
        "keyframes": units.iter().filter(|u| u.keyframe).count(),
        "width": size.map(|s| s.0),
        "height": size.map(|s| s.1),
    }))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
