//! Meetings of more than two: mix-minus audio and active-speaker video.

use std::time::{Duration, Instant};

use webex_media::testing::{RunningPeer, TestPeer};
use webex_media::{MediaEngine, SessionKey};

use crate::recorder::counters;
use crate::support::{PATIENCE, engine, join_as};

/// How long (generously) audio takes to go through the jitter buffers,
/// the mixer and the peers' last 0.5 s.
const HEARING: Duration = Duration::from_secs(30);

/// A peer sending a tone of `hz`, listening, its video tagged `tag`.
async fn toned(engine: &MediaEngine, who: &str, hz: f32, tag: u8) -> RunningPeer {
    let peer = TestPeer::new()
        .expect("test peer")
        .with_tone(hz)
        .listening()
        .with_video_tag(tag);
    join_as(engine, &SessionKey::new("m", who), peer).await
}

/// Waits until `peer` hears each of `heard` and not `unheard` (its power
/// at least 100 times below the weakest heard one).
async fn hears(name: &str, peer: &RunningPeer, heard: &[f32], unheard: Option<f32>) {
    let mut freqs = heard.to_vec();
    freqs.extend(unheard);
    let deadline = Instant::now() + HEARING;
    loop {
        let levels = peer.tone_levels(&freqs);
        let weakest = levels[..heard.len()]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let own = levels.get(heard.len()).copied().unwrap_or(0.0);
        // At least 1 s of audio received, so that the last 0.5 s is mixed.
        if peer.stats().received_audio >= 50 && weakest > 1e-4 && own < weakest / 100.0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} at {freqs:?} Hz: {levels:?}, {:?}",
            peer.stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `cond` holds for the engine's view of who `who` watches.
async fn watches(engine: &MediaEngine, who: &str, cond: impl Fn(Option<&str>) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let sessions = engine.sessions().await;
        let watching = sessions
            .iter()
            .find(|s| s.key.participant == who)
            .and_then(|s| s.watching.clone());
        if cond(watching.as_deref()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{who} watches {watching:?}: {sessions:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `peer` received more than `n` more frames tagged `tag`.
async fn gets_video(name: &str, peer: &RunningPeer, tag: u8, n: u64) {
    let before = peer.video_frames_tagged(tag);
    let deadline = Instant::now() + PATIENCE;
    while peer.video_frames_tagged(tag) < before + n {
        assert!(
            Instant::now() < deadline,
            "{name} got no video tagged {tag}: {:?}",
            peer.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn speaker_is(engine: &MediaEngine, who: &str) {
    let deadline = Instant::now() + HEARING;
    loop {
        let speaker = engine.active_speaker("m").await;
        if speaker.as_deref() == Some(who) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the active speaker is {speaker:?}, not {who}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn three_peers_hear_the_two_others_and_not_themselves() {
    let metrics = counters();
    let engine = engine(10, 3);
    let a = toned(&engine, "a", 440.0, 1).await;
    let b = toned(&engine, "b", 660.0, 2).await;
    let c = toned(&engine, "c", 880.0, 3).await;
    hears("a", &a, &[660.0, 880.0], Some(440.0)).await;
    hears("b", &b, &[440.0, 880.0], Some(660.0)).await;
    hears("c", &c, &[440.0, 660.0], Some(880.0)).await;
    // One slot each: audio frames come from the mixer only, about one per
    // 20 ms, not one per sender (no rates asserted: just not doubled).
    let sent = a.stats().sent_audio;
    let received = c.stats().received_audio;
    assert!(
        received < sent + 100,
        "c received {received}, a sent {sent}"
    );
    assert!(metrics.get("webex_media_mix_seconds_count{}") > 0);
    // A fourth is refused at the configured cap.
    let err = engine
        .offer(
            SessionKey::new("m", "d"),
            TestPeer::new().expect("peer").offer_sdp(),
            false,
        )
        .await
        .expect_err("d is refused");
    assert!(matches!(
        err,
        webex_media::MediaError::MeetingFull { limit: 3 }
    ));
    drop((a, b, c));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_silent_peer_hears_the_mix_of_the_others() {
    let engine = engine(10, 3);
    let a = toned(&engine, "a", 440.0, 1).await;
    let b = toned(&engine, "b", 660.0, 2).await;
    let silent = TestPeer::new().expect("test peer").listening();
    let d = join_as(&engine, &SessionKey::new("m", "d"), silent).await;
    d.set_sending(false, false);
    hears("d", &d, &[440.0, 660.0], None).await;
    hears("a", &a, &[660.0], Some(440.0)).await;
    assert_eq!(d.stats().sent_audio, 0);
    // The silent one is never the speaker, and watches someone.
    watches(&engine, "d", |w| w.is_some()).await;
    assert_ne!(engine.active_speaker("m").await.as_deref(), Some("d"));
    drop((a, b, d));
    engine.shutdown().await;
}

#[tokio::test]
async fn everyone_watches_the_active_speaker_who_watches_the_previous_one() {
    let engine = engine(10, 3);
    let a = toned(&engine, "a", 440.0, 1).await;
    let b = toned(&engine, "b", 660.0, 2).await;
    let c = toned(&engine, "c", 880.0, 3).await;
    b.set_loudness(0.01);
    c.set_loudness(0.01);
    a.set_loudness(0.5);
    speaker_is(&engine, "a").await;
    watches(&engine, "b", |w| w == Some("a")).await;
    watches(&engine, "c", |w| w == Some("a")).await;
    watches(&engine, "a", |w| matches!(w, Some("b" | "c"))).await;
    gets_video("b", &b, 1, 20).await;
    gets_video("c", &c, 1, 20).await;

    // b takes over; not before the hysteresis.
    let changed = Instant::now();
    a.set_loudness(0.01);
    b.set_loudness(0.5);
    speaker_is(&engine, "b").await;
    assert!(
        changed.elapsed() >= Duration::from_millis(600),
        "switched after {:?}",
        changed.elapsed()
    );
    watches(&engine, "a", |w| w == Some("b")).await;
    watches(&engine, "c", |w| w == Some("b")).await;
    watches(&engine, "b", |w| w == Some("a")).await;
    gets_video("a", &a, 2, 20).await;
    gets_video("c", &c, 2, 20).await;
    gets_video("b", &b, 1, 20).await;
    // Nobody ever received their own video.
    for (name, peer, tag) in [("a", &a, 1), ("b", &b, 2), ("c", &c, 3)] {
        assert_eq!(peer.video_frames_tagged(tag), 0, "{name} saw itself");
    }
    drop((a, b, c));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_cough_does_not_switch_the_video() {
    let engine = engine(10, 3);
    let a = toned(&engine, "a", 440.0, 1).await;
    let b = toned(&engine, "b", 660.0, 2).await;
    let c = toned(&engine, "c", 880.0, 3).await;
    b.set_loudness(0.01);
    c.set_loudness(0.01);
    a.set_loudness(0.5);
    speaker_is(&engine, "a").await;
    c.set_loudness(0.9);
    tokio::time::sleep(Duration::from_millis(150)).await;
    c.set_loudness(0.01);
    for _ in 0..30 {
        assert_eq!(engine.active_speaker("m").await.as_deref(), Some("a"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((a, b, c));
    engine.shutdown().await;
}

#[tokio::test]
async fn back_to_two_the_pair_forwards_again() {
    let engine = engine(10, 3);
    let a = toned(&engine, "a", 440.0, 1).await;
    let b = toned(&engine, "b", 660.0, 2).await;
    let c = toned(&engine, "c", 880.0, 3).await;
    hears("a", &a, &[660.0, 880.0], Some(440.0)).await;
    assert!(engine.close_participant(&SessionKey::new("m", "c")).await);
    assert_eq!(engine.active_speaker("m").await, None);
    hears("a", &a, &[660.0], Some(880.0)).await;
    watches(&engine, "a", |w| w == Some("b")).await;
    gets_video("a", &a, 2, 20).await;
    gets_video("b", &b, 1, 20).await;
    drop((a, b, c));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_speaker_with_muted_video_is_passed_over() {
    let engine = engine(10, 3);
    let a = toned(&engine, "a", 440.0, 1).await;
    let b = toned(&engine, "b", 660.0, 2).await;
    let c = toned(&engine, "c", 880.0, 3).await;
    b.set_loudness(0.01);
    c.set_loudness(0.01);
    a.set_loudness(0.5);
    speaker_is(&engine, "a").await;
    assert!(engine.mute(&SessionKey::new("m", "a"), false, true).await);
    watches(&engine, "b", |w| w == Some("c")).await;
    watches(&engine, "c", |w| w == Some("b")).await;
    gets_video("b", &b, 3, 20).await;
    // Still the speaker, and still heard.
    assert_eq!(engine.active_speaker("m").await.as_deref(), Some("a"));
    hears("b", &b, &[440.0], Some(660.0)).await;
    drop((a, b, c));
    engine.shutdown().await;
}
