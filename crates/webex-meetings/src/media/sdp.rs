//! The SDP text the transcoded path expects, around what str0m writes.
//!
//! str0m names its m-lines with random mids, while the transcoded path
//! (`media-protocol.md` §1) wants audio `0`, main video `1` and slides `2`
//! with `a=content:slides`. The offer is rewritten on the way out and the
//! answer's mids mapped back on the way in; nothing else is touched.

/// The wire mids of the three m-lines, in order.
pub(crate) const WIRE_MIDS: [&str; 3] = ["0", "1", "2"];

/// How wire mids map to str0m's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MidMap {
    /// `(wire, local)` pairs.
    pairs: Vec<(String, String)>,
}

impl MidMap {
    fn to_local<'a>(&'a self, wire: &'a str) -> &'a str {
        self.pairs
            .iter()
            .find(|(w, _)| w == wire)
            .map_or(wire, |(_, l)| l.as_str())
    }
}

/// Splits `sdp` into lines without their line ends.
fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
}

/// Rewrites str0m's offer: m-line `i` gets mid `WIRE_MIDS[i]`, the third
/// `a=content:slides`, and the BUNDLE group the wire mids. Fails when the
/// offer does not have exactly three m-lines each with a mid.
pub(crate) fn rewrite_offer(sdp: &str) -> Result<(String, MidMap), String> {
    let mut out = String::with_capacity(sdp.len() + 64);
    let mut pairs = Vec::new();
    let mut section: Option<usize> = None;
    for line in lines(sdp) {
        if line.starts_with("m=") {
            section = Some(section.map_or(0, |s| s + 1));
        }
        if let (Some(i), Some(local)) = (section, line.strip_prefix("a=mid:")) {
            let wire = WIRE_MIDS.get(i).ok_or_else(|| {
                format!("the local offer has more than {} m-lines", WIRE_MIDS.len())
            })?;
            pairs.push(((*wire).to_owned(), local.trim().to_owned()));
            out.push_str("a=mid:");
            out.push_str(wire);
            out.push_str("\r\n");
            if i == 2 {
                out.push_str("a=content:slides\r\n");
            }
            continue;
        }
        if line.starts_with("a=group:BUNDLE") {
            out.push_str("a=group:BUNDLE ");
            out.push_str(&WIRE_MIDS.join(" "));
            out.push_str("\r\n");
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if pairs.len() != WIRE_MIDS.len() {
        return Err(format!(
            "the local offer has {} m-lines with a mid, not {}",
            pairs.len(),
            WIRE_MIDS.len()
        ));
    }
    Ok((out, MidMap { pairs }))
}

/// Maps the answer's wire mids (in `a=mid:` and the BUNDLE group) back to
/// str0m's, so that it matches the offer str0m made.
/// Refuses an answer whose m-lines do not carry the offer's mids, each once
/// and in the offer's order (RFC 3264: an answer has the offer's m-lines);
/// str0m panics on some such answers.
pub(crate) fn check_answer_mids(sdp: &str, map: &MidMap) -> Result<(), String> {
    // One entry per m-line: its mid, if it has one (a session-level
    // `a=mid` has no m-line to belong to and is ignored).
    let mut mids = Vec::new();
    for line in lines(sdp) {
        if line.starts_with("m=") {
            mids.push(None);
        } else if let Some(mid) = line.strip_prefix("a=mid:")
            && let Some(last) = mids.last_mut()
        {
            *last = Some(mid.trim());
        }
    }
    let offered: Vec<&str> = map.pairs.iter().map(|(wire, _)| wire.as_str()).collect();
    let answered: Vec<&str> = mids.iter().map(|m| m.unwrap_or("(none)")).collect();
    if answered == offered {
        Ok(())
    } else {
        Err(format!(
            "the answer's m-lines have mids {answered:?}, the offer's {offered:?}"
        ))
    }
}

pub(crate) fn map_answer(sdp: &str, map: &MidMap) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in lines(sdp) {
        if let Some(wire) = line.strip_prefix("a=mid:") {
            out.push_str("a=mid:");
            out.push_str(map.to_local(wire.trim()));
        } else if let Some(rest) = line.strip_prefix("a=group:BUNDLE") {
            out.push_str("a=group:BUNDLE");
            for wire in rest.split_whitespace() {
                out.push(' ');
                out.push_str(map.to_local(wire));
            }
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out
}

/// Whether an H.264 access unit (Annex B) holds an IDR slice or a
/// sequence parameter set: something a decoder can start from.
pub(crate) fn is_keyframe(au: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            if matches!(au[i + 3] & 0x1f, 5 | 7) {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE aB1 cD2 eF3\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:aB1\r\na=sendrecv\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 127\r\na=mid:cD2\r\na=sendrecv\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 127\r\na=mid:eF3\r\na=recvonly\r\n";

    #[test]
    fn the_offer_gets_wire_mids_and_slides_and_the_answer_maps_back() {
        let (offer, map) = rewrite_offer(OFFER).unwrap_or_else(|e| panic!("{e}"));
        assert!(offer.contains("a=group:BUNDLE 0 1 2\r\n"));
        assert!(offer.contains("a=mid:0\r\na=sendrecv"));
        assert!(offer.contains("a=mid:2\r\na=content:slides\r\na=recvonly"));
        assert!(!offer.contains("aB1"));
        let answer = "v=0\na=group:BUNDLE 0 1 2\nm=audio 1 x\na=mid:0\nm=video 1 x\na=mid:1\nm=video 1 x\na=mid:2\n";
        let back = map_answer(answer, &map);
        assert!(back.contains("a=group:BUNDLE aB1 cD2 eF3\r\n"));
        assert!(back.contains("a=mid:eF3\r\n"));
    }

    #[test]
    fn offers_without_three_m_lines_are_refused() {
        assert!(rewrite_offer("v=0\r\nm=audio 9 x\r\na=mid:a\r\n").is_err());
    }

    #[test]
    fn answers_must_carry_the_offers_mids_once_in_order() {
        let map = MidMap {
            pairs: [("0", "a"), ("1", "b"), ("2", "c")]
                .map(|(w, l)| (w.to_owned(), l.to_owned()))
                .to_vec(),
        };
        let answer = |mids: &[&str]| {
            let mut sdp = "v=0\r\ns=-\r\n".to_owned();
            for mid in mids {
                sdp.push_str(&format!(
                    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:{mid}\r\n"
                ));
            }
            sdp
        };
        assert!(check_answer_mids(&answer(&["0", "1", "2"]), &map).is_ok());
        // The fuzzer's finding: a repeated mid made str0m panic.
        for wrong in [
            &["0", "2", "2"][..],
            &["0", "1"],
            &["0", "2", "1"],
            &["0", "1", "2", "3"],
        ] {
            assert!(
                check_answer_mids(&answer(wrong), &map).is_err(),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn keyframes_are_idr_or_sps() {
        assert!(is_keyframe(&[0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65, 9]));
        assert!(is_keyframe(&[0, 0, 1, 0x65, 9]));
        assert!(!is_keyframe(&[0, 0, 0, 1, 0x41, 9, 9]));
        assert!(!is_keyframe(&[]));
    }
}
