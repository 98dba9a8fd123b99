//! What is received, as streams: each subscriber has a bounded queue (a
//! slow reader loses frames, memory does not grow); closing the sinks
//! ends every stream.

use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::RemoteTrack;
use super::source::Decoder;

/// Frames a subscriber may have waiting: about 10 s of audio.
const QUEUE: usize = 512;

/// One received Opus packet ([`AudioStream`]).
///
/// ```
/// fn seconds(p: &webex_meetings::AudioPacket) -> f64 {
///     p.rtp_time as f64 / 48_000.0
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioPacket {
    /// The Opus packet.
    pub payload: Vec<u8>,
    /// Its RTP time, 48 kHz (extended to 64 bits).
    pub rtp_time: u64,
}

/// One decoded audio frame: 48 kHz mono PCM ([`PcmStream`]).
///
/// ```
/// fn loudest(f: &webex_meetings::PcmFrame) -> i16 {
///     f.samples.iter().map(|s| s.saturating_abs()).max().unwrap_or(0)
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PcmFrame {
    /// The samples (960 for a 20 ms packet).
    pub samples: Vec<i16>,
    /// The RTP time of the packet it came from, 48 kHz.
    pub rtp_time: u64,
}

/// One received H.264 access unit ([`VideoStream`]).
///
/// ```
/// fn start_here(f: &webex_meetings::VideoFrame) -> bool {
///     f.keyframe && f.data.starts_with(&[0, 0, 0, 1])
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VideoFrame {
    /// Annex B (start codes before each NAL unit).
    pub data: Vec<u8>,
    /// Its RTP time, 90 kHz (extended to 64 bits).
    pub rtp_time: u64,
    /// It holds an IDR slice or an SPS: decoding can start here.
    pub keyframe: bool,
}

/// The subscribers of one meeting's remote media.
#[derive(Default)]
pub(crate) struct Sinks {
    state: Mutex<SinkState>,
}

#[derive(Default)]
struct SinkState {
    closed: bool,
    audio: Vec<mpsc::Sender<AudioPacket>>,
    video: Vec<mpsc::Sender<VideoFrame>>,
    share: Vec<mpsc::Sender<VideoFrame>>,
}

/// Hands `item` to each live subscriber; drops it for a full one.
fn deliver<T: Clone>(subscribers: &mut Vec<mpsc::Sender<T>>, item: &T) {
    subscribers.retain(|s| match s.try_send(item.clone()) {
        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    });
}

impl Sinks {
    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn audio(&self) -> AudioStream {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut s = self.lock();
        if !s.closed {
            s.audio.push(tx);
        }
        AudioStream { rx }
    }

    pub(crate) fn video(&self, track: RemoteTrack) -> VideoStream {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut s = self.lock();
        if !s.closed {
            match track {
                RemoteTrack::Share => s.share.push(tx),
                _ => s.video.push(tx),
            }
        }
        VideoStream { rx }
    }

    pub(crate) fn push_audio(&self, packet: &AudioPacket) {
        deliver(&mut self.lock().audio, packet);
    }

    pub(crate) fn push_video(&self, track: RemoteTrack, frame: &VideoFrame) {
        let mut s = self.lock();
        match track {
            RemoteTrack::Share => deliver(&mut s.share, frame),
            _ => deliver(&mut s.video, frame),
        }
    }

    /// Ends every stream, now and for later subscribers.
    pub(crate) fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.audio.clear();
        s.video.clear();
        s.share.clear();
    }
}

/// The remote audio as Opus packets; [`AudioStream::decoded`] gives PCM.
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn run(media: webex_meetings::Media) {
/// let mut audio = media.remote_audio();
/// while let Some(packet) = audio.next().await {
///     println!("{} bytes at {}", packet.payload.len(), packet.rtp_time);
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct AudioStream {
    rx: mpsc::Receiver<AudioPacket>,
}

impl AudioStream {
    /// The same audio decoded to 48 kHz mono PCM (in the reader's task).
    pub fn decoded(self) -> PcmStream {
        PcmStream {
            packets: self,
            decoder: Decoder::new().ok(),
        }
    }
}

impl Stream for AudioStream {
    type Item = AudioPacket;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// The remote audio decoded to PCM; a packet that does not decode is
/// skipped.
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn run(media: webex_meetings::Media) {
/// let mut pcm = media.remote_audio().decoded();
/// let frame = pcm.next().await;
/// # }
/// ```
pub struct PcmStream {
    packets: AudioStream,
    decoder: Option<Decoder>,
}

impl std::fmt::Debug for PcmStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcmStream").finish_non_exhaustive()
    }
}

impl Stream for PcmStream {
    type Item = PcmFrame;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let packet = match Pin::new(&mut self.packets).poll_next(cx) {
                Poll::Ready(Some(p)) => p,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            let Some(decoder) = self.decoder.as_mut() else {
                return Poll::Ready(None);
            };
            match decoder.decode(&packet.payload) {
                Ok(samples) => {
                    return Poll::Ready(Some(PcmFrame {
                        samples,
                        rtp_time: packet.rtp_time,
                    }));
                }
                Err(e) => tracing::debug!(error = %e, "undecodable Opus packet skipped"),
            }
        }
    }
}

/// Remote video (main or share) as H.264 access units.
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn run(media: webex_meetings::Media) {
/// let mut video = media.remote_video();
/// while let Some(frame) = video.next().await {
///     println!("{} bytes, keyframe: {}", frame.data.len(), frame.keyframe);
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct VideoStream {
    rx: mpsc::Receiver<VideoFrame>,
}

impl Stream for VideoStream {
    type Item = VideoFrame;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
