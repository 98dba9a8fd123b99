//! Meetings of more than two: a transcoded client has one audio slot and
//! one video slot, so the engine decodes every sender's Opus, mixes
//! everyone but the receiver (mix-minus) and re-encodes it per receiver,
//! and picks an active speaker from the decoded levels for video.
//!
//! Runs on the engine thread, one [`Mixer::tick`] per meeting every
//! [`TICK`]. Per sender ([`Voice`]): a jitter buffer ordered by RTP
//! timestamp that starts playing at [`DEPTH`] frames and is cut back when
//! it holds more than [`MAX_DEPTH`]; a missing frame is concealed (Opus
//! in-band FEC from the next packet when it is there, else the codec's concealment) up
//! to [`MAX_CONCEAL`] frames, after which the sender counts as stopped.
//! A frame whose RMS is below [`SILENCE_RMS`] is skipped in the sums.
//! Mixing is in `i32` and saturates to `i16`. Every receiver gets one
//! encoded frame per tick, silence included (Opus codes it in a few
//! bytes), so its timestamps and sequence numbers never jump.
//!
//! **One encode for the listeners.** A receiver whose own voice is not in
//! this tick's mix (silent, muted, not sending) would get the full mix:
//! the same samples for all of them, so it is encoded once, by the
//! meeting's shared encoder, and the same packet goes to each. An Opus
//! encoder's output is a stream (each packet is coded against the
//! encoder's state after the previous one), so:
//! - a receiver on the shared stream gets *every* packet of it, each with
//!   the next time of its own continuous timeline (`n * FRAME`, counted
//!   per receiver, so its timestamps and sequence numbers never jump
//!   whichever encoder made the packet);
//! - a receiver moves to its own encoder the tick its voice is back in the
//!   mix (it must not hear itself), and back to the shared stream only
//!   after [`SHARE_AFTER`] ticks without its voice, so that a talker's
//!   pauses between words do not switch it back and forth;
//! - each move splices two encoders' streams into the receiver's decoder,
//!   as a receiver joining a meeting (or the move from a forwarded sender
//!   to the mix, see [`Timeline`]) starts mid-stream: Opus decoders take
//!   that as a discontinuity of one frame, no more. The hysteresis keeps
//!   such splices to one per talk spurt.
//!
//! In a meeting of `n` with `k` talking, a tick thus costs `n` decodes and
//! at most `k + 1` encodes (plus talkers in their hang-over), instead of
//! `n` encodes.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{CodecError, Decoder, Encoder};
use crate::session::SessionId;

/// Samples per channel in one frame: 20 ms at 48 kHz.
pub(crate) const FRAME: usize = 960;
/// How often every mixed meeting produces a frame.
pub(crate) const TICK: Duration = Duration::from_millis(20);
/// Frames a sender's jitter buffer holds before it starts playing.
const DEPTH: usize = 2;
/// Frames beyond which the jitter buffer is cut back to [`DEPTH`].
const MAX_DEPTH: usize = 10;
/// Missing frames concealed before the sender counts as stopped.
const MAX_CONCEAL: u32 = 3;
/// RMS (of `i16` samples) under which a frame is silence (≈ −60 dBFS).
const SILENCE_RMS: f64 = 32.0;
/// Ticks per active-speaker window (200 ms).
const WINDOW_TICKS: u32 = 10;
/// Consecutive windows a challenger must lead before it becomes the
/// active speaker (1 s).
const LEAD_WINDOWS: u32 = 5;
/// How much louder (mean square) than the speaker a challenger must be
/// to lead a window (≈ 3 dB).
const LEAD_FACTOR: f64 = 2.0;
/// Largest decoded packet (120 ms at 48 kHz, mono).
const MAX_PACKET_SAMPLES: usize = 5760;
/// Ticks without its own voice in the mix after which a receiver moves
/// to the shared stream (1 s).
const SHARE_AFTER: u32 = 50;

/// One sender's audio: jitter buffer, decoder and this tick's frame.
pub(crate) struct Voice {
    decoder: Decoder,
    /// Packets by RTP timestamp (48 kHz).
    buffer: BTreeMap<u64, Arc<[u8]>>,
    /// The timestamp to play next; `None`: not playing (buffering).
    next: Option<u64>,
    concealed: u32,
    /// Decoded samples not played yet.
    fifo: VecDeque<i16>,
    scratch: Vec<i16>,
    /// This tick's frame, valid when `active`.
    pcm: Vec<i16>,
    /// This tick's frame is above the silence threshold.
    active: bool,
    /// This tick's mean square.
    energy: f64,
}

impl Voice {
    fn new() -> Result<Self, CodecError> {
        Ok(Self {
            decoder: Decoder::new()?,
            buffer: BTreeMap::new(),
            next: None,
            concealed: 0,
            fifo: VecDeque::with_capacity(2 * FRAME),
            scratch: vec![0; MAX_PACKET_SAMPLES],
            pcm: vec![0; FRAME],
            active: false,
            energy: 0.0,
        })
    }

    /// Buffers the packet with RTP timestamp `ts` (a late one is dropped).
    pub(crate) fn push(&mut self, ts: u64, packet: Arc<[u8]>) {
        if self.next.is_some_and(|next| ts < next) {
            return;
        }
        self.buffer.insert(ts, packet);
        if self.buffer.len() > MAX_DEPTH {
            while self.buffer.len() > DEPTH {
                self.buffer.pop_first();
            }
            self.next = self.buffer.keys().next().copied();
            self.fifo.clear();
        }
    }

    /// Decodes `packet` (empty: conceal `FRAME` samples) into the fifo;
    /// the samples it gave.
    fn decode(&mut self, packet: &[u8], fec: bool) -> usize {
        let out = if packet.is_empty() || fec {
            self.scratch.get_mut(..FRAME)
        } else {
            Some(&mut self.scratch[..])
        };
        let n = match out.map(|out| self.decoder.decode(packet, out, fec)) {
            Some(Ok(n)) => n.min(MAX_PACKET_SAMPLES),
            _ => {
                // A packet the decoder refuses plays as silence of one frame.
                self.scratch.iter_mut().take(FRAME).for_each(|s| *s = 0);
                FRAME
            }
        };
        self.fifo.extend(self.scratch.iter().take(n));
        n
    }

    /// Plays one frame into `pcm`; whether there was any (playing,
    /// buffered or concealed).
    fn pull(&mut self) -> bool {
        while self.fifo.len() < FRAME {
            let Some(next) = self.next else {
                if self.buffer.len() >= DEPTH {
                    self.next = self.buffer.keys().next().copied();
                    continue;
                }
                self.fifo.clear();
                return false;
            };
            while self
                .buffer
                .first_key_value()
                .is_some_and(|(k, _)| *k < next)
            {
                self.buffer.pop_first();
            }
            if let Some(packet) = self.buffer.remove(&next) {
                let n = self.decode(&packet, false);
                self.next = Some(next + n as u64);
                self.concealed = 0;
            } else if self.concealed < MAX_CONCEAL {
                let following = self.buffer.get(&(next + FRAME as u64)).cloned();
                match following {
                    Some(p) => self.decode(&p, true),
                    None => self.decode(&[], false),
                };
                self.next = Some(next + FRAME as u64);
                self.concealed += 1;
            } else {
                // Stopped (muted, DTX, gone): buffer again when it is back.
                self.next = None;
                self.concealed = 0;
                self.fifo.clear();
                let _ = self.decoder.reset();
                return false;
            }
        }
        for (out, s) in self.pcm.iter_mut().zip(self.fifo.drain(..FRAME)) {
            *out = s;
        }
        true
    }

    /// Plays this tick's frame and measures it.
    fn tick(&mut self) {
        self.active = false;
        self.energy = 0.0;
        if self.pull() {
            let sum: f64 = self.pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            self.energy = sum / FRAME as f64;
            self.active = self.energy.sqrt() >= SILENCE_RMS;
        }
    }
}

/// One receiver's mixed stream: its clock, and where its packets come
/// from (its own encoder or the meeting's shared one).
struct Outgoing {
    /// Its own encoder, made the first time it needs a mix-minus.
    own: Option<Encoder>,
    /// Frames sent so far (the stream's time in 48 kHz is `n * FRAME`).
    n: u64,
    /// On the shared stream.
    shared: bool,
    /// Consecutive ticks without its own voice in the mix.
    quiet: u32,
}

impl Outgoing {
    /// A new receiver starts on the shared stream (it joins that stream
    /// as it would join any): its own voice decides from the first tick.
    fn new() -> Self {
        Self {
            own: None,
            n: 0,
            shared: true,
            quiet: SHARE_AFTER,
        }
    }

    /// Follows its own voice this tick; whether it takes the shared
    /// stream's packet.
    fn follow(&mut self, talking: bool) -> bool {
        if talking {
            self.quiet = 0;
            self.shared = false;
        } else {
            self.quiet = self.quiet.saturating_add(1);
            if self.quiet >= SHARE_AFTER {
                self.shared = true;
            }
        }
        self.shared
    }

    /// The next time of its stream, counting this frame.
    fn next_time(&mut self) -> u64 {
        let t = self.n * FRAME as u64;
        self.n += 1;
        t
    }
}

/// The active speaker, chosen with hysteresis from windowed levels.
#[derive(Debug, Default)]
pub(crate) struct Speaker {
    /// The active speaker.
    pub current: Option<SessionId>,
    /// The one before (what the active speaker watches).
    pub previous: Option<SessionId>,
    /// Who leads and for how many consecutive windows.
    challenger: Option<(SessionId, u32)>,
    window: HashMap<SessionId, f64>,
    ticks: u32,
}

impl Speaker {
    /// Adds one tick's energy per sender; at the end of a window decides.
    /// `true` when the active speaker changed.
    pub(crate) fn observe(&mut self, levels: impl Iterator<Item = (SessionId, f64)>) -> bool {
        for (id, energy) in levels {
            *self.window.entry(id).or_default() += energy;
        }
        self.ticks += 1;
        if self.ticks < WINDOW_TICKS {
            return false;
        }
        self.ticks = 0;
        let window = std::mem::take(&mut self.window);
        let threshold = SILENCE_RMS * SILENCE_RMS * f64::from(WINDOW_TICKS);
        let loudest = window
            .iter()
            .filter(|(_, e)| **e >= threshold)
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(id, e)| (*id, *e));
        let Some((loudest, energy)) = loudest else {
            self.challenger = None;
            return false;
        };
        let Some(current) = self.current else {
            self.current = Some(loudest);
            return true;
        };
        let current_energy = window.get(&current).copied().unwrap_or(0.0);
        if loudest == current || energy < current_energy * LEAD_FACTOR {
            self.challenger = None;
            return false;
        }
        let leads = match self.challenger {
            Some((id, n)) if id == loudest => n + 1,
            _ => 1,
        };
        if leads >= LEAD_WINDOWS {
            self.previous = Some(current);
            self.current = Some(loudest);
            self.challenger = None;
            true
        } else {
            self.challenger = Some((loudest, leads));
            false
        }
    }

    /// Forgets a participant that left.
    pub(crate) fn forget(&mut self, id: SessionId) {
        if self.current == Some(id) {
            self.current = self.previous.take();
        }
        if self.previous == Some(id) {
            self.previous = None;
        }
        if self.challenger.is_some_and(|(c, _)| c == id) {
            self.challenger = None;
        }
        self.window.remove(&id);
    }
}

/// The audio mix and active speaker of one meeting.
#[derive(Default)]
pub(crate) struct Mixer {
    voices: HashMap<SessionId, Voice>,
    outgoing: HashMap<SessionId, Outgoing>,
    /// The shared stream's encoder (the full mix); dropped when a tick
    /// had nobody on it, so that its next listeners start a fresh stream.
    shared: Option<Encoder>,
    /// The active speaker.
    pub speaker: Speaker,
    sum: Vec<i32>,
    mixed: Vec<i16>,
    packet: Vec<u8>,
    /// This tick's receivers on the shared stream.
    listeners: Vec<SessionId>,
    /// Opus encodes so far (all streams).
    pub encodes: u64,
}

/// One receiver's mixed frame for this tick.
pub(crate) struct MixedFrame {
    /// The receiver.
    pub to: SessionId,
    /// The frame's time in the receiver's mixed stream (48 kHz).
    pub time: u64,
    /// The Opus packet.
    pub packet: Vec<u8>,
}

impl Mixer {
    /// Buffers a sender's Opus packet (RTP timestamp `ts`, 48 kHz).
    pub(crate) fn push(&mut self, from: SessionId, ts: u64, packet: Arc<[u8]>) {
        let voice = match self.voices.entry(from) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => match Voice::new() {
                Ok(v) => e.insert(v),
                Err(err) => {
                    tracing::warn!(error = %err, "no Opus decoder");
                    return;
                }
            },
        };
        voice.push(ts, packet);
    }

    /// Forgets a participant that left.
    pub(crate) fn forget(&mut self, id: SessionId) {
        self.voices.remove(&id);
        self.outgoing.remove(&id);
        self.speaker.forget(id);
    }

    /// One tick: plays every sender's next frame, and makes one frame for
    /// each of `receivers` (everyone but itself): a mix-minus from its own
    /// encoder for those whose voice is in the mix (or was, lately), one
    /// shared packet of the full mix for the others (see the module's
    /// docs). Also updates the active speaker; the second value says
    /// whether it changed.
    pub(crate) fn tick(&mut self, receivers: &[SessionId]) -> (Vec<MixedFrame>, bool) {
        self.sum.clear();
        self.sum.resize(FRAME, 0);
        for voice in self.voices.values_mut() {
            voice.tick();
            if voice.active {
                for (acc, s) in self.sum.iter_mut().zip(&voice.pcm) {
                    *acc += i32::from(*s);
                }
            }
        }
        let changed = self
            .speaker
            .observe(self.voices.iter().map(|(id, v)| (*id, v.energy)));
        let mut frames = Vec::with_capacity(receivers.len());
        self.listeners.clear();
        for &to in receivers {
            let own = self.voices.get(&to).filter(|v| v.active).map(|v| &v.pcm);
            let out = self.outgoing.entry(to).or_insert_with(Outgoing::new);
            if out.follow(own.is_some()) {
                self.listeners.push(to);
                continue;
            }
            self.mixed.clear();
            match own {
                Some(own) => self.mixed.extend(
                    self.sum
                        .iter()
                        .zip(own)
                        .map(|(acc, s)| saturate(acc - i32::from(*s))),
                ),
                None => self.mixed.extend(self.sum.iter().map(|acc| saturate(*acc))),
            }
            let encoder = match &mut out.own {
                Some(e) => e,
                slot @ None => match Encoder::for_mix() {
                    Ok(e) => slot.insert(e),
                    Err(err) => {
                        tracing::warn!(error = %err, "no Opus encoder");
                        continue;
                    }
                },
            };
            self.packet.resize(1500, 0);
            self.encodes += 1;
            match encoder.encode(&self.mixed, &mut self.packet) {
                Ok(n) => frames.push(MixedFrame {
                    to,
                    time: out.next_time(),
                    packet: self.packet.get(..n).unwrap_or_default().to_vec(),
                }),
                Err(e) => tracing::debug!(error = %e, "Opus encoding failed"),
            }
        }
        self.encode_shared(&mut frames);
        (frames, changed)
    }

    /// The full mix, encoded once, to every listener of this tick.
    fn encode_shared(&mut self, frames: &mut Vec<MixedFrame>) {
        if self.listeners.is_empty() {
            self.shared = None;
            return;
        }
        let encoder = match &mut self.shared {
            Some(e) => e,
            slot @ None => match Encoder::for_mix() {
                Ok(e) => slot.insert(e),
                Err(err) => {
                    tracing::warn!(error = %err, "no Opus encoder");
                    return;
                }
            },
        };
        self.mixed.clear();
        self.mixed.extend(self.sum.iter().map(|acc| saturate(*acc)));
        self.packet.resize(1500, 0);
        self.encodes += 1;
        let n = match encoder.encode(&self.mixed, &mut self.packet) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "Opus encoding failed");
                return;
            }
        };
        let packet = self.packet.get(..n).unwrap_or_default();
        for to in &self.listeners {
            if let Some(out) = self.outgoing.get_mut(to) {
                frames.push(MixedFrame {
                    to: *to,
                    time: out.next_time(),
                    packet: packet.to_vec(),
                });
            }
        }
    }
}

fn saturate(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// Keeps one receiver's outgoing RTP time continuous across changes of
/// source (another sender, the mixer): each new source is rebased to
/// follow the last time written, plus the wall-clock time since.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    source: Option<u64>,
    offset: u64,
    last: Option<(u64, Instant)>,
}

/// The [`Timeline`] source id of the mixer.
pub(crate) const MIXER_SOURCE: u64 = u64::MAX;

impl Timeline {
    /// The outgoing time of source `source`'s time `t` (clock `rate` Hz).
    /// The first source ever keeps its own times.
    pub(crate) fn map(&mut self, source: u64, t: u64, rate: u64, now: Instant) -> u64 {
        if self.source != Some(source) {
            self.source = Some(source);
            self.offset = match self.last {
                None => 0,
                Some((last, at)) => {
                    let elapsed = now.saturating_duration_since(at).as_micros() as u64;
                    let gap = (elapsed.saturating_mul(rate) / 1_000_000).max(rate / 100);
                    last.wrapping_add(gap).wrapping_sub(t)
                }
            };
        }
        let out = t.wrapping_add(self.offset);
        self.last = Some((out, now));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, amplitude: f64, n: u64) -> Vec<i16> {
        (0..FRAME as u64)
            .map(|i| {
                let t = (n * FRAME as u64 + i) as f64 / 48_000.0;
                (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            })
            .collect()
    }

    fn packets(hz: f64, amplitude: f64, count: u64) -> Vec<Arc<[u8]>> {
        let mut enc = Encoder::for_mix().expect("encoder");
        (0..count)
            .map(|n| {
                Arc::from(
                    {
                        let mut out = vec![0u8; 1500];
                        let len = enc
                            .encode(&sine(hz, amplitude, n), &mut out)
                            .expect("encode");
                        out.truncate(len);
                        out
                    }
                    .into_boxed_slice(),
                )
            })
            .collect()
    }

    #[test]
    fn the_jitter_buffer_reorders_and_conceals() {
        let p = packets(440.0, 8000.0, 12);
        let mut v = Voice::new().expect("voice");
        // Out of order, and packet 5 lost; one tick per arrival.
        let mut played = 0;
        for i in [1u64, 0, 2, 4, 3, 6, 7, 8, 9, 10, 11] {
            v.push(i * FRAME as u64, p[i as usize].clone());
            v.tick();
            played += u32::from(v.energy > 0.0);
        }
        // The first arrival only buffers; the rest plays with the lost
        // frame concealed.
        assert_eq!(played, 10);
        assert_eq!(v.next, Some(10 * FRAME as u64));
        for _ in 0..2 {
            v.tick();
            assert!(v.active, "the buffered frames play");
        }
        // Nothing more: concealment, then stopped.
        for _ in 0..MAX_CONCEAL {
            v.tick();
        }
        v.tick();
        assert!(!v.active && v.next.is_none());
    }

    #[test]
    fn mix_minus_leaves_out_the_receiver() {
        let mut m = Mixer::default();
        let a = packets(440.0, 8000.0, 10);
        for (i, p) in a.into_iter().enumerate() {
            m.push(1, i as u64 * FRAME as u64, p);
        }
        let mut heard = (0usize, 0usize);
        for _ in 0..8 {
            let (frames, _) = m.tick(&[1, 2]);
            for f in frames {
                let mut d = Decoder::new().expect("decoder");
                let mut pcm = vec![0i16; FRAME];
                let n = d.decode(&f.packet, &mut pcm, false).expect("decode");
                let loud = pcm[..n].iter().any(|s| s.unsigned_abs() > 1000);
                if f.to == 1 {
                    heard.0 += usize::from(loud);
                } else {
                    heard.1 += usize::from(loud);
                }
            }
        }
        assert_eq!(heard.0, 0, "the sender hears itself");
        assert!(heard.1 >= 5, "the other hears too little: {heard:?}");
    }

    #[test]
    fn the_speaker_changes_only_after_a_sustained_lead() {
        let mut s = Speaker::default();
        let loud = 1.0e7;
        let quiet = 1.0e4;
        let feed = |s: &mut Speaker, a: f64, b: f64, windows: u32| {
            let mut changed = 0;
            for _ in 0..windows * WINDOW_TICKS {
                changed += u32::from(s.observe([(1, a), (2, b)].into_iter()));
            }
            changed
        };
        assert_eq!(feed(&mut s, loud, quiet, 1), 1);
        assert_eq!(s.current, Some(1));
        // A cough: 2 leads for less than LEAD_WINDOWS.
        assert_eq!(feed(&mut s, quiet, loud, LEAD_WINDOWS - 1), 0);
        assert_eq!(feed(&mut s, loud, quiet, 2), 0);
        assert_eq!(s.current, Some(1));
        // A sustained lead switches, once.
        assert_eq!(feed(&mut s, quiet, loud, LEAD_WINDOWS + 3), 1);
        assert_eq!((s.current, s.previous), (Some(2), Some(1)));
        // Silence changes nothing.
        assert_eq!(feed(&mut s, 0.0, 0.0, 10), 0);
        assert_eq!(s.current, Some(2));
        s.forget(2);
        assert_eq!((s.current, s.previous), (Some(1), None));
    }

    #[test]
    fn listeners_share_one_encode_and_keep_their_timelines() {
        let mut m = Mixer::default();
        let talk = packets(440.0, 8000.0, 200);
        let hush = packets(440.0, 0.0, 200);
        let receivers = [1, 2, 3, 4];
        let mut times: HashMap<SessionId, Vec<u64>> = HashMap::new();
        let mut per_tick = Vec::new();
        let mut shared_packets = 0;
        // 1 talks throughout; 2 talks from frame 40 to 60, then is silent.
        for n in 0..200u64 {
            let ts = n * FRAME as u64;
            m.push(1, ts, talk[n as usize].clone());
            let two = if (40..60).contains(&n) { &talk } else { &hush };
            m.push(2, ts, two[n as usize].clone());
            for id in [3, 4] {
                m.push(id, ts, hush[n as usize].clone());
            }
            let before = m.encodes;
            let (frames, _) = m.tick(&receivers);
            per_tick.push(m.encodes - before);
            assert_eq!(frames.len(), receivers.len(), "one frame each, every tick");
            let by: HashMap<SessionId, &MixedFrame> = frames.iter().map(|f| (f.to, f)).collect();
            for f in &frames {
                times.entry(f.to).or_default().push(f.time);
            }
            // Listeners 3 and 4 always get the very same packet.
            assert_eq!(by[&3].packet, by[&4].packet, "tick {n}");
            // (From when its jitter buffer plays.)
            if n >= DEPTH as u64 && by[&1].packet == by[&3].packet {
                panic!("the talker got the listeners' mix at tick {n}");
            }
            shared_packets += usize::from(by[&2].packet == by[&3].packet);
        }
        // Every receiver's timeline is continuous, whichever encoder.
        for (id, t) in &times {
            let expected: Vec<u64> = (0..200).map(|n| n * FRAME as u64).collect();
            assert_eq!(t, &expected, "receiver {id}");
        }
        // Once playing: one encode for 1, one shared; 2 has its own while
        // it talks and for SHARE_AFTER ticks after, then shares again.
        let steady = per_tick[10..40].iter().all(|&e| e == 2);
        assert!(steady, "{per_tick:?}");
        let talking_two = per_tick[45..60].iter().all(|&e| e == 3);
        assert!(talking_two, "{per_tick:?}");
        let back = 62 + SHARE_AFTER as usize;
        assert!(per_tick[back..].iter().all(|&e| e == 2), "{per_tick:?}");
        // 2 shared before it talked and after its hang-over.
        assert!(
            shared_packets >= 200 - 20 - SHARE_AFTER as usize - 5,
            "{shared_packets}"
        );
    }

    /// Cost of mixing: `MIX_PEOPLE=10 MIX_TALKERS=2 cargo test -p
    /// webex-media --release --lib -- --ignored --nocapture mixing_cost`
    /// (default 25 people, all talking; every one a receiver).
    #[test]
    #[ignore]
    fn mixing_cost() {
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let people = var("MIX_PEOPLE", 25);
        let talkers = match var("MIX_TALKERS", 0) {
            0 => people,
            t => t,
        };
        let seconds = var("MIX_SECONDS", 5);
        let frames = seconds * 50;
        let mut m = Mixer::default();
        let all: Vec<Vec<Arc<[u8]>>> = (0..people)
            .map(|p| {
                let loudness = if p < talkers { 3000.0 } else { 0.0 };
                packets(200.0 + 37.0 * p as f64, loudness, frames)
            })
            .collect();
        let receivers: Vec<SessionId> = (0..people).collect();
        let started = Instant::now();
        for n in 0..frames {
            for (p, packets) in all.iter().enumerate() {
                m.push(p as u64, n * FRAME as u64, packets[n as usize].clone());
            }
            let (out, _) = m.tick(&receivers);
            assert!(n < 2 || out.len() == people as usize);
        }
        let took = started.elapsed();
        let per_second = took.as_secs_f64() / seconds as f64;
        eprintln!(
            "{people} people, {talkers} talking: {:.2} ms per 20 ms tick, {:.1} % of a core; {:.2} % per participant; {:.2} encodes per tick",
            took.as_secs_f64() * 1000.0 / frames as f64,
            per_second * 100.0,
            per_second * 100.0 / people as f64,
            m.encodes as f64 / frames as f64,
        );
    }

    #[test]
    fn a_timeline_continues_across_sources() {
        let mut t = Timeline::default();
        let now = Instant::now();
        assert_eq!(t.map(1, 1000, 90_000, now), 1000);
        assert_eq!(t.map(1, 4000, 90_000, now), 4000);
        let later = now + Duration::from_millis(100);
        let out = t.map(2, 777_777, 90_000, later);
        assert_eq!(out, 4000 + 9000);
        assert_eq!(t.map(2, 777_777 + 3000, 90_000, later), 4000 + 12_000);
    }
}
