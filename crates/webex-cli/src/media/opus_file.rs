//! Ogg Opus files (RFC 7845): reading one (`OpusHead`, `OpusTags`, then
//! audio packets with their page granules) and writing one as packets
//! arrive, a page flushed at least every second so that a killed process
//! leaves a playable file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use ogg::{PacketReader, PacketWriteEndInfo, PacketWriter};

/// Samples per second of every Opus granule position.
pub const RATE: u64 = 48_000;

/// Decoder delay written into `OpusHead` (libopus' usual encoder lookahead).
const PRE_SKIP: u16 = 312;

/// Packets per page: about a second of 20 ms packets, then a flush.
const PACKETS_PER_PAGE: u32 = 50;

/// The samples (at 48 kHz) one Opus packet holds, from its TOC byte
/// (RFC 6716 §3.1); `None` for an empty or malformed packet.
pub fn packet_samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame: u64 = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3f),
    };
    (frames > 0).then_some(frame * frames)
}

/// An Ogg Opus file read whole.
#[derive(Debug, Clone)]
pub struct OpusFile {
    /// Channels in `OpusHead`.
    pub channels: u8,
    /// `OpusHead`'s pre-skip, in 48 kHz samples.
    pub pre_skip: u16,
    /// The audio packets, in order (headers excluded).
    pub packets: Vec<Vec<u8>>,
    /// The last page's granule position (48 kHz samples, pre-skip included).
    pub last_granule: u64,
}

impl OpusFile {
    /// Reads `path`; a file that is not Ogg, or whose first packet is not
    /// `OpusHead`, is refused with the reason.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = PacketReader::new(BufReader::new(file));
        let not_opus =
            |why: String| anyhow::anyhow!("not an Ogg Opus file: {}: {why}", path.display());
        let head = match reader.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return Err(not_opus("empty".into())),
            Err(e) => return Err(not_opus(e.to_string())),
        };
        if !head.data.starts_with(b"OpusHead") || head.data.len() < 19 {
            return Err(not_opus("the first packet is not OpusHead".into()));
        }
        let serial = head.stream_serial();
        let channels = head.data[9];
        let pre_skip = u16::from_le_bytes([head.data[10], head.data[11]]);
        let mut packets = Vec::new();
        let mut last_granule = 0;
        let mut tags_seen = false;
        loop {
            let packet = match reader.read_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                // A truncated last page (a killed writer): keep what was read.
                Err(_) if !packets.is_empty() => break,
                Err(e) => return Err(not_opus(e.to_string())),
            };
            if packet.stream_serial() != serial {
                continue;
            }
            if !tags_seen {
                if !packet.data.starts_with(b"OpusTags") {
                    return Err(not_opus("the second packet is not OpusTags".into()));
                }
                tags_seen = true;
                continue;
            }
            if packet.last_in_page() && packet.absgp_page() != u64::MAX {
                last_granule = packet.absgp_page();
            }
            packets.push(packet.data);
        }
        Ok(Self {
            channels,
            pre_skip,
            packets,
            last_granule,
        })
    }

    /// Playing time from the granules (RFC 7845 §4), in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.last_granule.saturating_sub(u64::from(self.pre_skip)) as f64 / RATE as f64
    }
}

/// Writes an Ogg Opus file (mono, 48 kHz) packet by packet. Each packet
/// is held until the next arrives, so that [`OpusWriter::finish`] can
/// mark the last one end-of-stream.
pub struct OpusWriter {
    writer: PacketWriter<'static, BufWriter<File>>,
    serial: u32,
    granule: u64,
    in_page: u32,
    pending: Option<Vec<u8>>,
}

impl OpusWriter {
    /// Creates `path` and writes `OpusHead` and `OpusTags`, each on its
    /// own page, to disk.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let serial = std::process::id() ^ 0x5745_4258;
        let mut writer = PacketWriter::new(BufWriter::new(file));
        let mut head = b"OpusHead".to_vec();
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&PRE_SKIP.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // mapping family
        writer.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)?;
        let vendor = concat!("webex-cli ", env!("CARGO_PKG_VERSION"));
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&u32::try_from(vendor.len())?.to_le_bytes());
        tags.extend_from_slice(vendor.as_bytes());
        tags.extend_from_slice(&0u32.to_le_bytes());
        writer.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;
        writer.inner_mut().flush()?;
        Ok(Self {
            writer,
            serial,
            granule: u64::from(PRE_SKIP),
            in_page: 0,
            pending: None,
        })
    }

    /// Appends one packet; every [`PACKETS_PER_PAGE`] packets the page is
    /// ended and flushed to disk. A malformed packet is skipped.
    pub fn write(&mut self, packet: &[u8]) -> anyhow::Result<()> {
        if packet_samples(packet).is_none() {
            return Ok(());
        }
        if let Some(previous) = self.pending.replace(packet.to_vec()) {
            self.in_page += 1;
            let end = if self.in_page >= PACKETS_PER_PAGE {
                self.in_page = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.put(previous, end)?;
        }
        Ok(())
    }

    fn put(&mut self, packet: Vec<u8>, end: PacketWriteEndInfo) -> anyhow::Result<()> {
        self.granule += packet_samples(&packet).unwrap_or(0);
        let flush = end != PacketWriteEndInfo::NormalPacket;
        self.writer
            .write_packet(packet, self.serial, end, self.granule)?;
        if flush {
            self.writer.inner_mut().flush()?;
        }
        Ok(())
    }

    /// Writes the held packet as the stream's last and flushes.
    pub fn finish(mut self) -> anyhow::Result<()> {
        if let Some(last) = self.pending.take() {
            self.put(last, PacketWriteEndInfo::EndStream)?;
        }
        self.writer.inner_mut().flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_gives_the_samples() {
        // config 1 (SILK NB 20 ms), code 0: one frame.
        assert_eq!(packet_samples(&[1 << 3]), Some(960));
        // config 31 (CELT FB 20 ms), code 1: two frames.
        assert_eq!(packet_samples(&[(31 << 3) | 1]), Some(1920));
        // code 3 with 3 frames of 10 ms (config 30).
        assert_eq!(packet_samples(&[(30 << 3) | 3, 3]), Some(1440));
        assert_eq!(packet_samples(&[]), None);
    }

    #[test]
    fn written_files_read_back_with_their_duration() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("a.ogg");
        let mut w = OpusWriter::create(&path).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..120 {
            w.write(&[31 << 3, 0xff, 0xfe])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        w.finish().unwrap_or_else(|e| panic!("{e}"));
        let f = OpusFile::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.packets.len(), 120);
        assert!(
            (f.duration_secs() - 2.4).abs() < 0.001,
            "{}",
            f.duration_secs()
        );
    }

    #[test]
    fn other_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("b.ogg");
        std::fs::write(&path, b"hello, not ogg at all").unwrap_or_else(|e| panic!("{e}"));
        let e = OpusFile::read(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("not an Ogg Opus file"), "{e}");
    }
}
