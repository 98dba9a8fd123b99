//! What the engine reads from an offer's text itself: which m-line plays
//! which role (audio, main video, slides) and whether there is a codec the
//! engine takes (Opus, H.264 packetization-mode 1).

/// What an m-line carries, for routing between participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// The (first) audio m-line.
    Audio,
    /// The first video m-line that is not slides.
    Video,
    /// `a=content:slides`, or a further video m-line.
    Slides,
}

impl Role {
    /// The metrics label of the kind of media.
    pub(crate) fn kind_label(self) -> &'static str {
        match self {
            Role::Audio => "audio",
            Role::Video | Role::Slides => "video",
        }
    }
}

/// The facts about an offer the engine needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct OfferFacts {
    /// `(mid, role)` in m-line order, for the m-lines the engine routes.
    pub roles: Vec<(String, Role)>,
    /// An audio m-line offers Opus.
    pub opus: bool,
    /// A video m-line offers H.264 with packetization-mode=1.
    pub h264: bool,
}

/// Parses `offer` with str0m (a panic in its parser is an invalid offer,
/// not a dead engine) and reads its facts; refuses an offer with neither
/// Opus audio nor H.264 packetization-mode 1 video.
pub(crate) fn read(sdp: &str) -> Result<(str0m::change::SdpOffer, OfferFacts), crate::MediaError> {
    use crate::MediaError;
    let parsed = std::panic::catch_unwind(|| str0m::change::SdpOffer::from_sdp_string(sdp))
        .map_err(|_| MediaError::InvalidOffer("the SDP parser failed on this offer".into()))?
        .map_err(|e| MediaError::InvalidOffer(e.to_string()))?;
    let facts = inspect(sdp);
    if !facts.opus && !facts.h264 {
        return Err(MediaError::InvalidOffer(
            "no audio m-line with Opus and no video m-line with H.264 packetization-mode=1".into(),
        ));
    }
    Ok((parsed, facts))
}

/// Reads the m-lines of `sdp` (already parsed by str0m, so only what it
/// ignores is looked at here).
pub(crate) fn inspect(sdp: &str) -> OfferFacts {
    let mut facts = OfferFacts::default();
    let mut have_audio = false;
    let mut have_video = false;
    for section in sections(sdp) {
        let kind = section.first().map(|m| {
            m.trim_start_matches("m=")
                .split_whitespace()
                .next()
                .unwrap_or("")
        });
        let mid = section
            .iter()
            .find_map(|l| l.strip_prefix("a=mid:"))
            .map(|m| m.trim().to_string());
        let slides = section
            .iter()
            .any(|l| l.trim().eq_ignore_ascii_case("a=content:slides"));
        let port_zero = section
            .first()
            .and_then(|m| m.split_whitespace().nth(1))
            .is_some_and(|p| p == "0");
        match kind {
            Some("audio") => {
                let opus = has_codec(&section, "opus", |_| true);
                facts.opus |= opus && !port_zero;
                if let Some(mid) = mid
                    && !have_audio
                {
                    have_audio = true;
                    facts.roles.push((mid, Role::Audio));
                }
            }
            Some("video") => {
                let h264 = has_codec(&section, "h264", |fmtp| {
                    fmtp.split(';')
                        .any(|p| p.trim().eq_ignore_ascii_case("packetization-mode=1"))
                });
                facts.h264 |= h264 && !port_zero;
                if let Some(mid) = mid {
                    if !slides && !have_video {
                        have_video = true;
                        facts.roles.push((mid, Role::Video));
                    } else if !facts.roles.iter().any(|(_, r)| *r == Role::Slides) {
                        facts.roles.push((mid, Role::Slides));
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

/// The media sections of `sdp`, each starting with its `m=` line.
fn sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            out.push(vec![line]);
        } else if let Some(cur) = out.last_mut() {
            cur.push(line);
        }
    }
    out
}

/// Whether a payload type of `codec` (rtpmap name, case-insensitive) is in
/// the section with an fmtp line that `fmtp_ok` accepts (an empty string
/// when it has none).
fn has_codec(section: &[&str], codec: &str, fmtp_ok: impl Fn(&str) -> bool) -> bool {
    section
        .iter()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|rest| {
            let (pt, enc) = rest.split_once(' ')?;
            let name = enc.split('/').next()?;
            name.eq_ignore_ascii_case(codec).then_some(pt.trim())
        })
        .any(|pt| {
            let prefix = format!("a=fmtp:{pt} ");
            let fmtp = section
                .iter()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or("");
            fmtp_ok(fmtp)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:0\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:2\r\na=content:slides\r\n\
        a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=0\r\n";

    #[test]
    fn roles_and_codecs() {
        let f = inspect(OFFER);
        assert!(f.opus && f.h264);
        assert_eq!(
            f.roles,
            vec![
                ("0".to_string(), Role::Audio),
                ("1".to_string(), Role::Video),
                ("2".to_string(), Role::Slides)
            ]
        );
    }

    #[test]
    fn h264_mode_0_only_is_not_enough() {
        let f = inspect(&OFFER.replace("packetization-mode=1", "packetization-mode=0"));
        assert!(!f.h264);
        let f = inspect(&OFFER.replace("opus", "G722"));
        assert!(!f.opus);
    }
}
