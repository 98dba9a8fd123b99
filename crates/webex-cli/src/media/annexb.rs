//! H.264 Annex B elementary streams: NAL units between start codes, their
//! grouping into access units (a new one at an access unit delimiter, at
//! parameter sets or SEI after a picture, or at the first slice of a new
//! picture), and the SPS's picture size.

/// NAL unit types used here (ITU-T H.264 Table 7-1).
const NAL_SLICE: u8 = 1;
const NAL_IDR: u8 = 5;
const NAL_SEI: u8 = 6;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// The NAL units of an Annex B stream (without their start codes).
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(data.len(), |next| next - 3);
        // A 4-byte start code's leading zero (and trailing zeros) belong
        // to no unit.
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            units.push(&data[start..end]);
        }
    }
    units
}

/// The type of one NAL unit.
pub fn nal_type(unit: &[u8]) -> u8 {
    unit.first().map_or(0, |b| b & 0x1f)
}

fn is_vcl(kind: u8) -> bool {
    (NAL_SLICE..=NAL_IDR).contains(&kind)
}

/// One access unit: its NAL units, rewritten as Annex B with 4-byte start
/// codes, and whether it holds an IDR slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Annex B bytes.
    pub data: Vec<u8>,
    /// It holds an IDR slice.
    pub keyframe: bool,
}

/// Groups an Annex B stream into access units.
pub fn access_units(data: &[u8]) -> Vec<AccessUnit> {
    let mut out = Vec::new();
    let mut current: Vec<&[u8]> = Vec::new();
    let mut has_vcl = false;
    for unit in nal_units(data) {
        let kind = nal_type(unit);
        // first_mb_in_slice is ue(v): 0 is the single bit 1.
        let first_slice = is_vcl(kind) && unit.get(1).is_some_and(|b| b & 0x80 != 0);
        let starts_new = kind == NAL_AUD
            || (has_vcl && matches!(kind, NAL_SEI | NAL_SPS | NAL_PPS))
            || (has_vcl && first_slice);
        if starts_new && !current.is_empty() {
            out.push(assemble(&current));
            current.clear();
            has_vcl = false;
        }
        has_vcl |= is_vcl(kind);
        current.push(unit);
    }
    if !current.is_empty() {
        out.push(assemble(&current));
    }
    out
}

fn assemble(units: &[&[u8]]) -> AccessUnit {
    let mut data = Vec::new();
    for unit in units {
        data.extend_from_slice(&[0, 0, 0, 1]);
        data.extend_from_slice(unit);
    }
    AccessUnit {
        data,
        keyframe: units.iter().any(|u| nal_type(u) == NAL_IDR),
    }
}

/// The first SPS's coded picture size after cropping, `(width, height)`;
/// `None` when there is no SPS or it uses what this reader skips
/// (scaling matrices).
pub fn picture_size(data: &[u8]) -> Option<(u32, u32)> {
    let sps = nal_units(data)
        .into_iter()
        .find(|u| nal_type(u) == NAL_SPS)?;
    parse_sps(&unescape(sps.get(1..)?))
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`).
fn unescape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len());
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = i32::try_from(k.div_ceil(2)).ok()?;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

fn parse_sps(rbsp: &[u8]) -> Option<(u32, u32)> {
    let mut b = Bits { data: rbsp, pos: 0 };
    let profile = b.bits(8)?;
    b.bits(16)?; // constraint flags, level
    b.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = b.ue()?;
        if chroma_format == 3 {
            b.bit()?; // separate_colour_plane_flag
        }
        b.ue()?; // bit_depth_luma
        b.ue()?; // bit_depth_chroma
        b.bit()?; // qpprime_y_zero_transform_bypass_flag
        if b.bit()? == 1 {
            return None; // scaling matrices: not read here
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()? {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = b.ue()? + 1;
    let height_units = b.ue()? + 1;
    let frame_mbs_only = b.bit()?;
    if frame_mbs_only == 0 {
        b.bit()?; // mb_adaptive_frame_field_flag
    }
    b.bit()?; // direct_8x8_inference_flag
    let (mut crop_x, mut crop_y) = (0, 0);
    if b.bit()? == 1 {
        let (left, right, top, bottom) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
        let (unit_x, unit_y) = match chroma_format {
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        crop_x = unit_x * (left + right);
        crop_y = unit_y * (top + bottom);
    }
    let width = (width_mbs * 16).checked_sub(crop_x)?;
    let height = (height_units * 16 * (2 - frame_mbs_only)).checked_sub(crop_y)?;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/test-pattern.h264");

    #[test]
    fn the_fixture_splits_into_its_pictures() {
        let units = access_units(FIXTURE);
        assert_eq!(units.len(), 40);
        assert_eq!(units.iter().filter(|u| u.keyframe).count(), 2);
        assert!(units[0].keyframe);
        assert_eq!(picture_size(FIXTURE), Some((320, 240)));
    }

    #[test]
    fn slices_without_delimiters_still_split() {
        // SPS, PPS, IDR (first_mb 0), then two non-IDR pictures.
        let stream = [
            &[0, 0, 0, 1, 0x67, 0x42][..],
            &[0, 0, 1, 0x68, 0xce],
            &[0, 0, 1, 0x65, 0x88, 0x80],
            &[0, 0, 1, 0x41, 0x9a],
            &[0, 0, 1, 0x41, 0x9b],
        ]
        .concat();
        let units = access_units(&stream);
        assert_eq!(units.len(), 3);
        assert!(units[0].keyframe && !units[1].keyframe);
    }
}
