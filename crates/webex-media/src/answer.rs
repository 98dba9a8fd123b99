//! Touch-ups of str0m's answer text for the SDK's clients.

/// Copies the host candidate lines of the first m-line into every m-line
/// that has none: str0m writes them once for the BUNDLE, but the SDK's
/// Chromium (bundlePolicy max-compat) wants a candidate on each m-line.
pub(crate) fn candidates_on_every_mline(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.split("\r\n").collect();
    let candidates: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("a=candidate:") || *l == "a=end-of-candidates")
        .collect();
    if candidates.is_empty() {
        return sdp.to_string();
    }
    // Where each m-line starts, and whether it has candidates.
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + 8);
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        out.push(line);
        i += 1;
        if !line.starts_with("m=") {
            continue;
        }
        let end = lines[i..]
            .iter()
            .position(|l| l.starts_with("m="))
            .map_or(lines.len(), |p| i + p);
        let section = &lines[i..end];
        let has = section.iter().any(|l| l.starts_with("a=candidate:"));
        // After the c= line (the usual place), else right after m=.
        let at = section
            .iter()
            .position(|l| l.starts_with("c="))
            .map_or(0, |p| p + 1);
        out.extend_from_slice(&section[..at]);
        if !has {
            out.extend_from_slice(&candidates);
        }
        out.extend_from_slice(&section[at..]);
        i = end;
    }
    out.join("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_candidates_to_bare_mlines() {
        let sdp = "v=0\r\nm=audio 9 X 111\r\nc=IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2 1.2.3.4 5 typ host\r\na=mid:0\r\n\
                   m=video 9 X 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n";
        let out = candidates_on_every_mline(sdp);
        assert_eq!(out.matches("a=candidate:").count(), 2, "{out}");
        assert!(out.ends_with("\r\n"));
        let video = &out[out.find("m=video").unwrap_or(0)..];
        assert!(
            video.contains(
                "c=IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2 1.2.3.4 5 typ host\r\na=mid:1"
            ),
            "{out}"
        );
    }
}
