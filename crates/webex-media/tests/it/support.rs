//! Shared helpers: an engine on loopback and peers joined to it.

use std::time::Duration;

use webex_media::testing::{PeerStats, RunningPeer, TestPeer};
use webex_media::{MediaConfig, MediaEngine, SessionKey};

/// How long anything that should happen at once may take on a loaded
/// machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// An engine on `127.0.0.1:0` with these limits.
pub fn engine(max_sessions: usize, max_per_meeting: usize) -> MediaEngine {
    let mut config = MediaConfig::listening("127.0.0.1:0".parse().expect("address"));
    config.max_sessions = max_sessions;
    config.max_per_meeting = max_per_meeting;
    MediaEngine::start(config).expect("engine starts")
}

/// A test peer that offered for `key` and took the answer, started.
pub async fn join(engine: &MediaEngine, key: &SessionKey) -> RunningPeer {
    join_as(engine, key, TestPeer::new().expect("test peer")).await
}

/// `peer` (made with its options) offered for `key`, took the answer and
/// started.
pub async fn join_as(engine: &MediaEngine, key: &SessionKey, mut peer: TestPeer) -> RunningPeer {
    let answer = engine
        .offer(key.clone(), peer.offer_sdp(), false)
        .await
        .expect("offer answered");
    assert!(answer.new_session);
    peer.accept_answer(&answer.sdp).expect("answer taken");
    peer.start()
}

/// Two peers in `meeting`, both connected and receiving each other's
/// audio and video.
pub async fn pair(
    engine: &MediaEngine,
    meeting: &str,
) -> (SessionKey, RunningPeer, SessionKey, RunningPeer) {
    let ka = SessionKey::new(meeting, "a");
    let kb = SessionKey::new(meeting, "b");
    let a = join(engine, &ka).await;
    let b = join(engine, &kb).await;
    for (name, peer) in [("a", &a), ("b", &b)] {
        peer.wait_until(|s| s.received_audio > 20 && s.received_video > 10, PATIENCE)
            .await
            .unwrap_or_else(|s| panic!("peer {name} did not receive media: {s:?}"));
    }
    (ka, a, kb, b)
}

/// Waits until in-flight frames have arrived, then returns the stats.
pub async fn settled(peer: &RunningPeer) -> PeerStats {
    tokio::time::sleep(Duration::from_millis(600)).await;
    peer.stats()
}
