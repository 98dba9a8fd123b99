//! Refusals: full meetings and nodes, offers the engine cannot take.

use webex_media::{MediaError, SessionKey};

use crate::fixtures::CHROMIUM_OFFER;
use crate::support::engine;

async fn offer(
    e: &webex_media::MediaEngine,
    m: &str,
    p: &str,
) -> Result<webex_media::Answer, MediaError> {
    e.offer(SessionKey::new(m, p), CHROMIUM_OFFER.to_string(), false)
        .await
}

#[tokio::test]
async fn third_participant_gets_meeting_full() {
    let engine = engine(10, 2);
    offer(&engine, "m", "a").await.expect("a");
    offer(&engine, "m", "b").await.expect("b");
    let err = offer(&engine, "m", "c").await.expect_err("c is refused");
    assert!(
        matches!(err, MediaError::MeetingFull { limit: 2 }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    // The two may still renegotiate, and another meeting is fine.
    offer(&engine, "m", "b").await.expect("b again");
    offer(&engine, "n", "c").await.expect("c elsewhere");
    assert_eq!(engine.sessions().await.len(), 3);
    assert_eq!(
        engine.meetings().await,
        vec!["m".to_string(), "n".to_string()]
    );
}

#[tokio::test]
async fn node_full_at_max_sessions() {
    let engine = engine(2, 2);
    offer(&engine, "m1", "a").await.expect("a");
    offer(&engine, "m2", "b").await.expect("b");
    let err = offer(&engine, "m3", "c").await.expect_err("c is refused");
    assert!(matches!(err, MediaError::NodeFull { limit: 2 }), "{err:?}");
    assert!(engine.close_participant(&SessionKey::new("m1", "a")).await);
    offer(&engine, "m3", "c").await.expect("room again");
}

#[tokio::test]
async fn garbage_and_codec_less_offers_are_invalid() {
    let engine = engine(10, 2);
    let key = SessionKey::new("m", "p");
    for sdp in ["", "hello", "v=0\r\nm=audio\r\n"] {
        let err = engine
            .offer(key.clone(), sdp.to_string(), false)
            .await
            .expect_err("garbage is refused");
        assert!(
            matches!(err, MediaError::InvalidOffer(_)),
            "{sdp:?}: {err:?}"
        );
    }
    // Parses, but has neither Opus nor H.264 packetization-mode 1.
    let no_codecs = CHROMIUM_OFFER
        .replace("opus/48000/2", "ISAC/16000")
        .replace("packetization-mode=1", "packetization-mode=0");
    let err = engine
        .offer(key.clone(), no_codecs, false)
        .await
        .expect_err("no codec is refused");
    assert!(matches!(err, MediaError::InvalidOffer(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(engine.sessions().await.is_empty());
}
