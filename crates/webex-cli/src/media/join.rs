//! The media of `webex meetings join`: what is sent (a tone, an Ogg Opus
//! file, an H.264 file, each looped and paced), what is recorded (the
//! remote audio as Ogg Opus, the remote main video as Annex B), and the
//! receive-side counters behind the once-a-second statistics line.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use webex_meetings::{
    AudioSource, AudioStream, Media, MediaDirection, MediaOptions, Meeting, RemoteTrack,
    VideoSource, VideoStream,
};

use super::annexb::{AccessUnit, access_units};
use super::opus_file::{OpusFile, OpusWriter, RATE, packet_samples};
use crate::cli::MediaFlags;

/// How long recorders get to close their files after the media stopped.
const FINISH_WAIT: Duration = Duration::from_secs(3);

/// Receive-side counters of one track (the SDK counts frames; bytes,
/// loss and jitter are measured here from what the streams deliver).
#[derive(Debug, Default, Clone, Copy)]
struct TrackCounters {
    packets: u64,
    bytes: u64,
    first_rtp: Option<u64>,
    last_rtp: u64,
    last_arrival: Option<Instant>,
    /// When the first one arrived.
    first_arrival: Option<Instant>,
    /// RFC 3550 interarrival jitter, in RTP units.
    jitter: f64,
}

impl TrackCounters {
    fn record(&mut self, bytes: usize, rtp_time: u64, clock: f64) {
        let now = Instant::now();
        if let Some(previous) = self.last_arrival {
            let arrival = now.duration_since(previous).as_secs_f64() * clock;
            let sent = rtp_time as f64 - self.last_rtp as f64;
            let d = (arrival - sent).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.first_arrival.get_or_insert(now);
        self.packets += 1;
        self.bytes += bytes as u64;
        self.first_rtp.get_or_insert(rtp_time);
        self.last_rtp = rtp_time;
        self.last_arrival = Some(now);
    }
}

type Counters = Arc<Mutex<TrackCounters>>;

fn read(counters: &Counters) -> TrackCounters {
    *counters.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What is sent, loaded before `add_media` so that a bad file fails early.
enum Send {
    Nothing,
    Tone(f32),
    Opus(Vec<Vec<u8>>),
}

/// Media running in a joined meeting.
pub struct MediaRun {
    media: Media,
    /// When `add_media` was called.
    started: Instant,
    audio: Counters,
    video: Counters,
    senders: Vec<JoinHandle<()>>,
    recorders: Vec<JoinHandle<()>>,
}

/// Loads the files `flags` name, adds media to `meeting` (resolves once
/// connected), and starts senders and recorders.
pub async fn start(meeting: &Meeting, flags: &MediaFlags) -> anyhow::Result<MediaRun> {
    let audio_send = if let Some(hz) = flags.tone {
        Send::Tone(hz)
    } else if let Some(path) = &flags.send_audio {
        let file = OpusFile::read(path)?;
        anyhow::ensure!(
            !file.packets.is_empty(),
            "{}: no audio packets",
            path.display()
        );
        Send::Opus(file.packets)
    } else {
        Send::Nothing
    };
    let video_send = match &flags.send_video {
        Some(path) => Some(load_h264(path)?),
        None => None,
    };
    let mut options = MediaOptions::new();
    options = match audio_send {
        Send::Nothing => options.audio(MediaDirection::RecvOnly),
        Send::Tone(hz) => options
            .audio(MediaDirection::SendRecv)
            .audio_source(AudioSource::Tone { hz }),
        Send::Opus(_) => options
            .audio(MediaDirection::SendRecv)
            .audio_source(AudioSource::Opus),
    };
    if video_send.is_some() {
        options = options
            .video(MediaDirection::SendRecv)
            .video_source(VideoSource::H264);
    }
    options = options.force_turn(flags.force_turn);
    let started = Instant::now();
    let media = meeting.add_media(options).await.context("add_media()")?;

    let audio = Counters::default();
    let video = Counters::default();
    let mut senders = Vec::new();
    if let Send::Opus(packets) = audio_send {
        senders.push(tokio::spawn(send_opus(media.clone(), packets)));
    }
    if let Some(units) = video_send {
        let fps = flags.video_fps.max(1);
        senders.push(tokio::spawn(send_h264(media.clone(), units, fps)));
    }
    let audio_writer = match &flags.record_audio {
        Some(path) => Some(OpusWriter::create(path)?),
        None => None,
    };
    let video_file = match &flags.record_video {
        Some(path) => Some(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => None,
    };
    let recorders = vec![
        tokio::spawn(take_audio(
            media.remote_audio(),
            audio_writer,
            audio.clone(),
        )),
        tokio::spawn(take_video(
            media.clone(),
            media.remote_video(),
            video_file,
            video.clone(),
        )),
    ];
    Ok(MediaRun {
        media,
        started,
        audio,
        video,
        senders,
        recorders,
    })
}

fn load_h264(path: &PathBuf) -> anyhow::Result<Vec<AccessUnit>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let units = access_units(&data);
    anyhow::ensure!(
        !units.is_empty(),
        "not an H.264 Annex B stream: {}: no start codes",
        path.display()
    );
    Ok(units)
}

/// Sends the file's packets in a loop, each when the previous one's
/// duration has passed.
async fn send_opus(media: Media, packets: Vec<Vec<u8>>) {
    let mut next = tokio::time::Instant::now();
    for packet in packets.iter().cycle() {
        let samples = packet_samples(packet).unwrap_or(960);
        if let Err(e) = media.send_opus(packet.clone()) {
            tracing::debug!(error = %e, "audio sender stops");
            return;
        }
        next += Duration::from_micros(samples * 1_000_000 / RATE);
        tokio::time::sleep_until(next).await;
    }
}

/// Sends the access units in a loop at `fps`, with a continuous 90 kHz
/// clock.
async fn send_h264(media: Media, units: Vec<AccessUnit>, fps: u32) {
    let period = Duration::from_secs(1) / fps;
    let step = 90_000 / u64::from(fps);
    let mut next = tokio::time::Instant::now();
    for (n, unit) in (0u64..).zip(units.iter().cycle()) {
        if let Err(e) = media.send_h264(unit.data.clone(), n * step) {
            tracing::debug!(error = %e, "video sender stops");
            return;
        }
        next += period;
        tokio::time::sleep_until(next).await;
    }
}

/// Counts the remote audio and, when asked, writes it to an Ogg Opus file
/// (closed when the media stops).
async fn take_audio(mut stream: AudioStream, mut writer: Option<OpusWriter>, counters: Counters) {
    while let Some(packet) = stream.next().await {
        counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(packet.payload.len(), packet.rtp_time, 48_000.0);
        if let Some(w) = writer.as_mut()
            && let Err(e) = w.write(&packet.payload)
        {
            eprintln!("warning: recording audio stopped: {e:#}");
            writer = None;
        }
    }
    if let Some(w) = writer
        && let Err(e) = w.finish()
    {
        eprintln!("warning: closing the audio recording: {e:#}");
    }
}

/// Counts the remote main video and, when asked, writes it as Annex B from
/// its first keyframe on (asked for every 2 s until one comes).
async fn take_video(
    media: Media,
    mut stream: VideoStream,
    mut file: Option<std::fs::File>,
    counters: Counters,
) {
    use std::io::Write;
    let mut started = false;
    let mut asked = None::<Instant>;
    while let Some(frame) = stream.next().await {
        counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(frame.data.len(), frame.rtp_time, 90_000.0);
        let Some(f) = file.as_mut() else { continue };
        started |= frame.keyframe;
        if !started {
            if asked.is_none_or(|at| at.elapsed() > Duration::from_secs(2)) {
                let _ = media.request_keyframe(RemoteTrack::Video);
                asked = Some(Instant::now());
            }
            continue;
        }
        if let Err(e) = f.write_all(&frame.data).and_then(|()| f.flush()) {
            eprintln!("warning: recording video stopped: {e}");
            file = None;
        }
    }
}

impl MediaRun {
    /// The statistics now, as JSON (`audio`, `video`, `share`).
    pub fn stats(&self) -> Value {
        let s = self.media.stats();
        let audio = read(&self.audio);
        let video = read(&self.video);
        // Audio is 20 ms a packet: the RTP span says how many were sent.
        let audio_expected = audio
            .first_rtp
            .map_or(0, |first| (audio.last_rtp.saturating_sub(first)) / 960 + 1);
        json!({
            "audio": {
                "packetsSent": s.audio_sent,
                "packetsReceived": s.audio_received,
                "bytesReceived": audio.bytes,
                "lost": audio_expected.saturating_sub(audio.packets),
                "jitterMs": round1(audio.jitter / 48.0),
                "muted": self.media.is_audio_muted(),
                // From the `add_media` call to the first remote audio packet.
                "firstPacketMs": audio
                    .first_arrival
                    .map(|t| t.saturating_duration_since(self.started).as_millis() as u64),
            },
            "video": {
                "framesSent": s.video_sent,
                "framesReceived": s.video_received,
                "bytesReceived": video.bytes,
                "jitterMs": round1(video.jitter / 90.0),
                "muted": self.media.is_video_muted(),
            },
            "share": { "framesReceived": s.share_received },
            // From the server's RTCP reports on what this client sends.
            "roundTripMs": s.round_trip.map(|rtt| round1(rtt.as_secs_f64() * 1000.0)),
            "connected": self.media.is_connected(),
        })
    }

    /// Stops the senders and waits (bounded) for the recorders to close
    /// their files; call it after the media stopped (leave, end).
    pub async fn finish(self) {
        for sender in &self.senders {
            sender.abort();
        }
        for recorder in self.recorders {
            if tokio::time::timeout(FINISH_WAIT, recorder).await.is_err() {
                eprintln!("warning: a recording was not closed in time");
            }
        }
    }
}

/// The statistics as one line of text.
pub fn stats_text(stats: &Value) -> String {
    let a = &stats["audio"];
    let v = &stats["video"];
    format!(
        "media: audio sent {} recv {} ({} B, lost {}, jitter {} ms){}; video sent {} recv {} ({} B, jitter {} ms){}; share recv {}; rtt {}",
        a["packetsSent"],
        a["packetsReceived"],
        a["bytesReceived"],
        a["lost"],
        a["jitterMs"],
        if a["muted"] == true { " muted" } else { "" },
        v["framesSent"],
        v["framesReceived"],
        v["bytesReceived"],
        v["jitterMs"],
        if v["muted"] == true { " muted" } else { "" },
        stats["share"]["framesReceived"],
        match stats["roundTripMs"].as_f64() {
            Some(ms) => format!("{ms} ms"),
            None => "-".to_owned(),
        },
    )
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
