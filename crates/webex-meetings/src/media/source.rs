//! What is sent: Opus through `ropus` (a pure-Rust libopus port, as the
//! media engine uses) for PCM from the application and for the generated
//! tone; 48 kHz mono, 20 ms frames.

use ropus::{Application, Channels, DecodeMode};

use super::MediaError;

/// Samples per second.
pub(crate) const RATE: u32 = 48_000;
/// Samples in one 20 ms frame.
pub(crate) const FRAME: usize = 960;
/// Largest Opus packet written.
const MAX_PACKET: usize = 1500;
/// The tone's loudness, of full scale.
const TONE_LOUDNESS: f32 = 0.25;

fn codec(e: impl std::fmt::Display) -> MediaError {
    MediaError::Local(format!("opus: {e}"))
}

/// Encodes 20 ms PCM frames to Opus (VOIP, the codec's defaults).
pub(crate) struct PcmEncoder(ropus::Encoder);

impl PcmEncoder {
    pub(crate) fn new() -> Result<Self, MediaError> {
        ropus::Encoder::builder(RATE, Channels::Mono, Application::Voip)
            .build()
            .map(Self)
            .map_err(codec)
    }

    /// One Opus packet for exactly [`FRAME`] samples.
    pub(crate) fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, MediaError> {
        if pcm.len() != FRAME {
            return Err(MediaError::InvalidInput(format!(
                "a PCM frame is {FRAME} samples (20 ms at 48 kHz mono), not {}",
                pcm.len()
            )));
        }
        let mut out = vec![0u8; MAX_PACKET];
        let n = self.0.encode(pcm, &mut out).map_err(codec)?;
        out.truncate(n);
        Ok(out)
    }
}

/// A sine, Opus-encoded 20 ms at a time.
pub(crate) struct Tone {
    encoder: PcmEncoder,
    step: f32,
    phase: f32,
}

impl Tone {
    pub(crate) fn new(hz: f32) -> Result<Self, MediaError> {
        Ok(Self {
            encoder: PcmEncoder::new()?,
            step: std::f32::consts::TAU * hz / RATE as f32,
            phase: 0.0,
        })
    }

    /// The next 20 ms, coded.
    pub(crate) fn next_packet(&mut self) -> Result<Vec<u8>, MediaError> {
        let pcm: Vec<i16> = (0..FRAME)
            .map(|_| {
                let s = self.phase.sin() * TONE_LOUDNESS * f32::from(i16::MAX);
                self.phase = (self.phase + self.step) % std::f32::consts::TAU;
                s as i16
            })
            .collect();
        self.encoder.encode(&pcm)
    }
}

/// Decodes Opus to 48 kHz mono PCM (for [`super::PcmStream`]).
pub(crate) struct Decoder(ropus::Decoder);

impl Decoder {
    pub(crate) fn new() -> Result<Self, MediaError> {
        ropus::Decoder::new(RATE, Channels::Mono)
            .map(Self)
            .map_err(codec)
    }

    /// The samples of `packet`; an empty packet conceals a lost one.
    pub(crate) fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        // 120 ms, the longest Opus packet.
        let mut pcm = vec![0i16; 5760];
        let n = self
            .0
            .decode(packet, &mut pcm, DecodeMode::Normal)
            .map_err(codec)?;
        pcm.truncate(n);
        Ok(pcm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_round_trips_through_opus() {
        let mut tone = Tone::new(440.0).unwrap_or_else(|e| panic!("{e}"));
        let mut decoder = Decoder::new().unwrap_or_else(|e| panic!("{e}"));
        let mut total = 0;
        for _ in 0..5 {
            let packet = tone.next_packet().unwrap_or_else(|e| panic!("{e}"));
            assert!(!packet.is_empty());
            total += decoder
                .decode(&packet)
                .unwrap_or_else(|e| panic!("{e}"))
                .len();
        }
        assert_eq!(total, 5 * FRAME);
    }

    #[test]
    fn pcm_frames_must_be_20_ms() {
        let mut encoder = PcmEncoder::new().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            encoder.encode(&[0; 100]),
            Err(MediaError::InvalidInput(_))
        ));
    }
}
