//! Opus for the mixer and the test client: 48 kHz mono, 20 ms frames, the
//! only shapes the engine uses, behind two small types so the codec crate
//! (`ropus`, a pure-Rust port of libopus, bit-exact against it) stays out of
//! the rest of the engine.
//!
//! Why not libopus bindings: on the registry they either build libopus with
//! cmake (`opus` 0.4 → `opusic-sys`, bundled by default) or are unmaintained
//! (`audiopus_sys`, RUSTSEC-2026-0150), and either way a fresh machine
//! could not build the server without installing a C library or cmake.

use ropus::{Application, Bitrate, Channels, DecodeMode, InbandFec};

/// Samples per second.
pub(crate) const RATE: u32 = 48_000;

/// A codec call failed (the text says why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("opus: {0}")]
pub(crate) struct CodecError(pub String);

fn err(e: impl std::fmt::Display) -> CodecError {
    CodecError(e.to_string())
}

/// An Opus decoder (48 kHz, mono).
pub(crate) struct Decoder(ropus::Decoder);

impl Decoder {
    pub(crate) fn new() -> Result<Self, CodecError> {
        ropus::Decoder::new(RATE, Channels::Mono)
            .map(Self)
            .map_err(err)
    }

    /// Decodes `packet` into `out`; an empty packet conceals a lost one,
    /// `fec` recovers the previous packet from this one's redundancy.
    /// The samples written.
    pub(crate) fn decode(
        &mut self,
        packet: &[u8],
        out: &mut [i16],
        fec: bool,
    ) -> Result<usize, CodecError> {
        let mode = if fec {
            DecodeMode::Fec
        } else {
            DecodeMode::Normal
        };
        self.0.decode(packet, out, mode).map_err(err)
    }

    /// Forgets the stream (a sender that stopped and comes back).
    pub(crate) fn reset(&mut self) -> Result<(), CodecError> {
        *self = Self::new()?;
        Ok(())
    }
}

/// An Opus encoder for speech (48 kHz, mono, `VOIP`).
pub(crate) struct Encoder(ropus::Encoder);

impl Encoder {
    /// The mixer's encoder: 32 kb/s, in-band FEC for 5 % loss, complexity
    /// 5 of 10 (a fraction of the default's CPU, still clear speech; the
    /// engine encodes once per receiver every 20 ms).
    pub(crate) fn for_mix() -> Result<Self, CodecError> {
        ropus::Encoder::builder(RATE, Channels::Mono, Application::Voip)
            .bitrate(Bitrate::try_bits(32_000).map_err(err)?)
            .inband_fec(InbandFec::Enabled)
            .packet_loss_perc(5)
            .complexity(5)
            .build()
            .map(Self)
            .map_err(err)
    }

    /// An encoder with the codec's defaults (the test client's tones).
    #[cfg(feature = "testing")]
    pub(crate) fn plain() -> Result<Self, CodecError> {
        ropus::Encoder::builder(RATE, Channels::Mono, Application::Voip)
            .build()
            .map(Self)
            .map_err(err)
    }

    /// Encodes one frame of `pcm` into `out`; the packet's length.
    pub(crate) fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        self.0.encode(pcm, out).map_err(err)
    }
}
