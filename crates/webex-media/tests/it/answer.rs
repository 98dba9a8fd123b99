//! The answer to the SDK's offer, as Chromium needs it.

use webex_media::SessionKey;

use crate::fixtures::CHROMIUM_OFFER;
use crate::support::engine;

fn section<'a>(sdp: &'a str, mid: &str) -> Vec<&'a str> {
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            sections.push(vec![line]);
        } else if let Some(s) = sections.last_mut() {
            s.push(line);
        }
    }
    let want = format!("a=mid:{mid}");
    sections
        .into_iter()
        .find(|s| s.contains(&want.as_str()))
        .unwrap_or_else(|| panic!("no m-line with mid {mid} in\n{sdp}"))
}

#[tokio::test]
async fn answer_to_the_sdk_offer_has_what_chromium_needs() {
    let engine = engine(10, 2);
    let answer = engine
        .offer(SessionKey::new("m", "p"), CHROMIUM_OFFER.to_string(), false)
        .await
        .expect("the SDK's offer is answered");
    assert!(answer.new_session);
    let sdp = answer.sdp;
    if std::env::var_os("SHOW_ANSWER").is_some() {
        println!("{sdp}");
    }
    let c = engine.candidate_addr();

    assert!(sdp.contains("a=ice-lite"), "{sdp}");
    assert!(sdp.contains("a=group:BUNDLE 0 1 2"), "{sdp}");
    let o = sdp.lines().find(|l| l.starts_with("o=")).expect("o= line");
    let user = o.trim_start_matches("o=").split(' ').next().unwrap_or("");
    assert!(!user.is_empty() && user != "homer", "{o}");
    assert!(sdp.contains("a=fingerprint:sha-256 "), "{sdp}");
    assert!(!sdp.contains("a=setup:active"), "{sdp}");

    for (mid, kind, dirs) in [
        ("0", "audio", &["a=sendrecv"][..]),
        ("1", "video", &["a=sendrecv"][..]),
        ("2", "video", &["a=sendonly", "a=inactive"][..]),
    ] {
        let s = section(&sdp, mid);
        assert!(s[0].starts_with(&format!("m={kind} ")), "{mid}: {}", s[0]);
        assert!(s.iter().any(|l| dirs.contains(l)), "{mid}: {s:#?}");
        assert!(s.contains(&"a=setup:passive"), "{mid}: {s:#?}");
        assert!(s.contains(&"a=rtcp-mux"), "{mid}: {s:#?}");
        let candidates: Vec<&&str> = s.iter().filter(|l| l.starts_with("a=candidate:")).collect();
        assert_eq!(candidates.len(), 1, "{mid}: {s:#?}");
        let cand = candidates[0].to_lowercase();
        assert!(cand.contains(" udp "), "{cand}");
        assert!(
            cand.contains(&format!(" {} {} typ host", c.ip(), c.port())),
            "{cand} vs {c}"
        );
        for rtpmap in s.iter().filter_map(|l| l.strip_prefix("a=rtpmap:")) {
            let codec = rtpmap.split([' ', '/']).nth(1).unwrap_or("").to_lowercase();
            assert!(
                ["opus", "h264", "rtx"].contains(&codec.as_str()),
                "{mid}: unexpected codec {rtpmap}"
            );
        }
        for fmtp in s.iter().filter(|l| l.contains("packetization-mode")) {
            assert!(fmtp.contains("packetization-mode=1"), "{mid}: {fmtp}");
        }
    }
    let audio = section(&sdp, "0");
    assert!(
        audio.iter().any(|l| l.contains("opus/48000/2")),
        "{audio:#?}"
    );
    assert!(audio.iter().any(|l| l.starts_with("a=ssrc:")), "{audio:#?}");
    let video = section(&sdp, "1");
    assert!(video.iter().any(|l| l.contains("H264/90000")), "{video:#?}");
    assert!(video.iter().any(|l| l.starts_with("a=ssrc:")), "{video:#?}");
    assert!(video.iter().any(|l| l.contains(" nack")), "{video:#?}");
    assert!(video.iter().any(|l| l.contains("nack pli")), "{video:#?}");

    let sessions = engine.sessions().await;
    assert_eq!(sessions.len(), 1);
    assert!(
        ["new", "checking"].contains(&sessions[0].state),
        "{sessions:?}"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_second_offer_renegotiates_and_fresh_starts_over() {
    let engine = engine(10, 2);
    let key = SessionKey::new("m", "p");
    let first = engine
        .offer(key.clone(), CHROMIUM_OFFER.to_string(), false)
        .await
        .expect("first");
    let again = engine
        .offer(key.clone(), CHROMIUM_OFFER.to_string(), false)
        .await
        .expect("renegotiation");
    assert!(first.new_session && !again.new_session);
    let fresh = engine
        .offer(key.clone(), CHROMIUM_OFFER.to_string(), true)
        .await
        .expect("fresh");
    assert!(fresh.new_session);
    assert_eq!(engine.sessions().await.len(), 1);
    engine.shutdown().await;
    assert!(matches!(
        engine.offer(key, CHROMIUM_OFFER.to_string(), false).await,
        Err(webex_media::MediaError::Stopped)
    ));
}
