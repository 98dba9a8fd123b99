//! Two test peers meeting through the engine.

use std::net::UdpSocket;
use std::time::Duration;

use webex_media::SessionKey;

use crate::recorder::counters;
use crate::support::{PATIENCE, engine, join, pair, settled};

#[tokio::test]
async fn two_peers_receive_each_others_audio_and_video() {
    let engine = engine(10, 2);
    let ka = SessionKey::new("m", "a");
    let kb = SessionKey::new("m", "b");
    let a = join(&engine, &ka).await;
    let b = join(&engine, &kb).await;
    for (name, peer) in [("a", &a), ("b", &b)] {
        peer.wait_until(
            |s| s.connected && s.received_audio > 20 && s.received_video > 10,
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|s| panic!("peer {name}: {s:?}"));
    }
    let sessions = engine.sessions().await;
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        assert_eq!(s.state, "connected", "{s:?}");
        assert!(
            s.frames_in > 0 && s.frames_out > 0 && s.bytes_in > 0 && s.bytes_out > 0,
            "{s:?}"
        );
    }
    assert_eq!(sessions[0].key, ka);
    assert_eq!(a.stats().received_slides, 0);
    a.close();
    b.close();
    engine.shutdown().await;
}

#[tokio::test]
async fn muted_audio_is_not_forwarded_while_video_flows() {
    let engine = engine(10, 2);
    let (ka, a, _kb, b) = pair(&engine, "m").await;
    assert!(engine.mute(&ka, true, false).await);
    assert!(
        !engine
            .mute(&SessionKey::new("m", "nobody"), true, true)
            .await
    );
    let before = settled(&b).await;
    b.wait_until(|s| s.received_video >= before.received_video + 20, PATIENCE)
        .await
        .unwrap_or_else(|s| panic!("video stopped: {s:?}"));
    assert_eq!(
        b.stats().received_audio,
        before.received_audio,
        "muted audio reached b"
    );
    // A's own reception is untouched, and unmuting brings the audio back.
    let a_before = a.stats();
    assert!(engine.mute(&ka, false, false).await);
    b.wait_until(|s| s.received_audio >= before.received_audio + 20, PATIENCE)
        .await
        .unwrap_or_else(|s| panic!("audio did not come back: {s:?}"));
    a.wait_until(
        |s| s.received_audio >= a_before.received_audio + 20,
        PATIENCE,
    )
    .await
    .unwrap_or_else(|s| panic!("a lost audio: {s:?}"));
    let info = engine.sessions().await;
    assert!(info.iter().all(|s| !s.audio_muted && !s.video_muted));
}

#[tokio::test]
async fn closing_stops_the_media_and_removes_sessions() {
    let engine = engine(10, 2);
    let (ka, a, kb, b) = pair(&engine, "m").await;
    assert!(engine.close_participant(&ka).await);
    assert!(!engine.close_participant(&ka).await);
    let keys: Vec<SessionKey> = engine.sessions().await.into_iter().map(|s| s.key).collect();
    assert_eq!(keys, vec![kb.clone()]);
    let b_after = settled(&b).await;
    let a_after = settled(&a).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(b.stats().received_audio, b_after.received_audio);
    assert_eq!(b.stats().received_video, b_after.received_video);
    assert_eq!(a.stats().received_audio, a_after.received_audio);
    assert_eq!(a.stats().received_video, a_after.received_video);

    assert_eq!(engine.close_meeting("m").await, 1);
    assert!(engine.sessions().await.is_empty());
    assert!(engine.meetings().await.is_empty());
    assert_eq!(engine.close_meeting("m").await, 0);
    let b_closed = settled(&b).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.stats().received_audio, b_closed.received_audio);
    drop((a, b));
}

#[tokio::test]
async fn datagrams_from_unknown_addresses_are_dropped() {
    let metrics = counters();
    let dropped = r#"webex_media_dropped_datagrams_total{reason="unknown_source"}"#;
    let dropped_before = metrics.get(dropped);
    let engine = engine(10, 2);
    let (_ka, a, _kb, b) = pair(&engine, "m").await;
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let target = engine.local_addr();
    let mut x: u32 = 0x1234_5678;
    for i in 0..500u32 {
        // xorshift bytes; the first byte never looks like STUN.
        let mut d: Vec<u8> = (0..(40 + i % 200))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        d[0] = 0x80 | (d[0] & 0x7f);
        let _ = stranger.send_to(&d, target);
        if i % 20 == 19 {
            // Paced, so that the kernel's socket buffer does not drop any.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // A STUN binding request for a ufrag no session has.
    let mut stun = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[9; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun.extend_from_slice(b"nope:who");
    let _ = stranger.send_to(&stun, target);

    let (sa, sb) = (a.stats(), b.stats());
    for (peer, before) in [(&a, sa), (&b, sb)] {
        peer.wait_until(
            |s| {
                s.received_audio >= before.received_audio + 25
                    && s.received_video >= before.received_video + 15
            },
            PATIENCE,
        )
        .await
        .unwrap_or_else(|s| panic!("media disturbed: {s:?}"));
    }
    let sessions = engine.sessions().await;
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions.iter().all(|s| s.state == "connected"),
        "{sessions:?}"
    );
    // Other tests may drop datagrams too (closed sessions): at least ours.
    let deadline = std::time::Instant::now() + PATIENCE;
    while metrics.get(dropped) < dropped_before + 501 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        metrics.get(dropped) >= dropped_before + 501,
        "{} dropped, {dropped_before} before",
        metrics.get(dropped)
    );
    assert!(metrics.get(r#"webex_media_frames_forwarded_total{kind="audio"}"#) > 0);
    assert!(metrics.get(r#"webex_media_bytes_forwarded_total{kind="video"}"#) > 0);
}

#[tokio::test]
async fn a_pli_is_relayed_to_the_sender_of_the_video() {
    let metrics = counters();
    let engine = engine(10, 2);
    let (_ka, a, _kb, b) = pair(&engine, "m").await;
    let requests_before = metrics.get("webex_media_keyframe_requests_total{}");
    let before = a.stats().keyframe_requests;
    b.request_keyframe();
    a.wait_until(|s| s.keyframe_requests > before, PATIENCE)
        .await
        .unwrap_or_else(|s| panic!("no keyframe request reached a: {s:?}"));
    assert!(metrics.get("webex_media_keyframe_requests_total{}") > requests_before);
}
