//! Meeting media end to end: two people join, each offers over
//! `PUT {selfUrl}/media` as the official SDK does (TURN discovery, then
//! an OFFER with `seq` 1) from an in-process str0m client, and each
//! receives the other's audio and video through the server's engine; mute
//! flags reach the roster; leaving closes the session; who may send media
//! and what a full meeting answers. On one node (SQLite) and on two nodes
//! sharing PostgreSQL and Redis, where the second node's offers are carried
//! to the meeting's anchor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use webex_media::testing::{PeerStats, RunningPeer, TestPeer};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

use crate::support::cluster::Cluster;
use crate::support::locus::*;
use crate::support::mercury::http;

/// How long media may take to flow on a loaded 2-core machine.
const MEDIA_WAIT: Duration = Duration::from_secs(20);

/// `PUT {self_url}/media` with `local_sdp` as the SDK wraps it.
async fn put_media(self_url: &str, u: &User, local_sdp: Value) -> (u16, Value) {
    let body = json!({
        "device": {"url": u.device.url, "deviceType": "WEB", "countryCode": "US", "regionCode": "US-EAST"},
        "correlationId": format!("corr-{}", u.device.id),
        "clientMediaPreferences": {"ipver": 4, "joinCookie": {}, "preferTranscoding": true},
        "localMedias": [{"localSdp": local_sdp.to_string()}],
    });
    send(
        http()
            .put(format!("{self_url}/media"))
            .bearer_auth(&u.token)
            .json(&body),
    )
    .await
}

/// The ROAP message of a `/media` answer.
fn roap_of(answer: &Value) -> Value {
    let text = answer["mediaConnections"][0]["remoteSdp"]
        .as_str()
        .unwrap_or_else(|| panic!("no remoteSdp in {answer}"));
    serde_json::from_str::<Value>(text).unwrap()["roapMessage"].clone()
}

fn offer(seq: u64, sdp: &str) -> Value {
    json!({"audioMuted": false, "videoMuted": false, "roapMessage": {
        "messageType": "OFFER", "version": "2", "seq": seq, "sdps": [sdp],
        "tieBreaker": 4294967294u64, "headers": ["includeAnswerInHttpResponse", "noOkInTransaction"]}})
}

/// One person in the meeting: their `self.url` and what their answers say.
struct Party {
    user: User,
    self_url: String,
}

impl Party {
    fn from_join(user: User, joined: &Value) -> Self {
        let self_url = joined["locus"]["self"]["url"].as_str().unwrap().to_owned();
        Self { user, self_url }
    }

    /// TURN discovery then an offer from a fresh str0m peer; the peer
    /// running with the server's answer.
    async fn start_media(&self) -> (RunningPeer, Value) {
        let (s, turn) = put_media(
            &self.self_url,
            &self.user,
            json!({"audioMuted": false, "videoMuted": false, "roapMessage": {
                "messageType": "TURN_DISCOVERY_REQUEST", "version": "2", "seq": 0,
                "headers": ["includeAnswerInHttpResponse", "noOkInTransaction"]}}),
        )
        .await;
        assert_eq!(s, 200, "{turn}");
        let roap = roap_of(&turn);
        assert_eq!(roap["messageType"], "TURN_DISCOVERY_RESPONSE", "{roap}");
        for h in [
            "x-cisco-turn-url=",
            "x-cisco-turn-username=",
            "x-cisco-turn-password=",
        ] {
            assert!(
                roap["headers"].as_array().unwrap().iter().any(|v| v == h),
                "{roap}"
            );
        }
        assert!(
            turn["locus"]["participants"].is_array(),
            "full Locus: {turn}"
        );

        let mut peer = TestPeer::new().unwrap();
        let sdp = peer.offer_sdp();
        let (s, answer) = put_media(&self.self_url, &self.user, offer(1, &sdp)).await;
        assert_eq!(s, 200, "{answer}");
        let roap = roap_of(&answer);
        assert_eq!(roap["messageType"], "ANSWER", "{roap}");
        assert_eq!(roap["seq"], 1);
        assert!(
            roap["headers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h == "noOkInTransaction")
        );
        let answer_sdp = roap["sdps"][0].as_str().unwrap();
        assert!(answer_sdp.contains("a=ice-lite"), "{answer_sdp}");
        // The slides m-line (offered recvonly) is answered sendonly with
        // an SSRC from the first answer on: the official SDK makes its
        // remote share track only then.
        let slides = slides_section(answer_sdp);
        assert!(slides.contains("a=sendonly"), "{slides}");
        assert!(slides.contains("a=ssrc:"), "{slides}");
        assert!(
            answer["mediaConnections"][0]["mediaId"].is_string(),
            "{answer}"
        );
        peer.accept_answer(answer_sdp).unwrap();
        (peer.start(), answer)
    }
}

/// The third m-line (slides) of an SDP.
fn slides_section(sdp: &str) -> String {
    sdp.split("\r\nm=")
        .nth(3)
        .unwrap_or_else(|| panic!("no third m-line in {sdp}"))
        .to_owned()
}

/// Waits until both peers received at least `audio` audio and `video`
/// video frames more than `base`.
async fn both_receive(
    a: &RunningPeer,
    b: &RunningPeer,
    audio: u64,
    video: u64,
) -> (PeerStats, PeerStats) {
    let (sa, sb) = (a.stats(), b.stats());
    let want = |base: PeerStats| {
        move |s: &PeerStats| {
            s.received_audio >= base.received_audio + audio
                && s.received_video >= base.received_video + video
        }
    };
    let ra = a.wait_until(want(sa), MEDIA_WAIT).await;
    let rb = b.wait_until(want(sb), MEDIA_WAIT).await;
    (
        ra.unwrap_or_else(|s| panic!("alice's peer did not receive enough: {s:?}")),
        rb.unwrap_or_else(|s| panic!("bob's peer did not receive enough: {s:?}")),
    )
}

async fn media_sessions(base: &str) -> Vec<Value> {
    let (s, body) = send(
        http()
            .get(format!("{base}/admin/api/v1/media/sessions"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body["sessions"].as_array().unwrap().clone()
}

/// Polls `base`'s media sessions until `done` holds.
async fn sessions_until(base: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    loop {
        let s = media_sessions(base).await;
        if done(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "media sessions never settled: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alice starts her room on `node_a`, bob joins it on `node_b`.
async fn meeting_of_two(node_a: &TestServer, node_b: &TestServer) -> (Party, Party, String) {
    let alice = user(node_a, "alice").await;
    let bob = user(node_b, "bob").await;
    let (s, joined) = call(node_a.base_url(), &alice, &alice.email).await;
    assert_eq!(s, 200, "{joined}");
    let media_id = joined["mediaConnections"][0]["mediaId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(media_id.len(), 36, "{joined}");
    let locus_url = joined["locus"]["url"].as_str().unwrap().to_owned();
    // Bob reaches the same Locus through his own node.
    let url_b = locus_url.replace(node_a.base_url(), node_b.base_url());
    let (s, joined_b) = join(&url_b, &bob).await;
    assert_eq!(s, 200, "{joined_b}");
    (
        Party::from_join(alice, &joined),
        Party::from_join(bob, &joined_b),
        locus_url,
    )
}

/// Two people see and hear each other; mute and leave as the roster says.
async fn two_people_meet(node_a: &TestServer, node_b: &TestServer) {
    let (alice, bob, _locus_url) = meeting_of_two(node_a, node_b).await;
    let (peer_a, _) = alice.start_media().await;
    let (peer_b, answer_b) = bob.start_media().await;
    let (sa, sb) = both_receive(&peer_a, &peer_b, 25, 10).await;
    assert!(sa.connected && sb.connected);
    // Every answer carries the full Locus; nothing of alice's media but
    // her mute state shows to bob.
    let alice_in_b = participant(&answer_b["locus"], &alice.user.email);
    assert_eq!(
        alice_in_b["status"],
        json!({"audioStatus": "SENDRECV", "videoStatus": "SENDRECV"})
    );
    assert!(
        !answer_b["locus"].to_string().contains("a=fingerprint"),
        "no SDP in the Locus"
    );

    // Alice mutes her microphone: a mute-only request.
    let (s, muted) = put_media(
        &alice.self_url,
        &alice.user,
        json!({"audioMuted": true, "videoMuted": false}),
    )
    .await;
    assert_eq!(s, 200, "{muted}");
    assert!(
        muted["mediaConnections"][0].get("remoteSdp").is_none(),
        "{muted}"
    );
    assert_eq!(muted["locus"]["self"]["status"]["audioStatus"], "RECVONLY");
    let (s, seen_by_bob) = get(
        bob.self_url.split("/participant/").next().unwrap(),
        &bob.user,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        participant(&seen_by_bob, &alice.user.email)["status"]["audioStatus"],
        "RECVONLY"
    );
    // Her audio stops reaching bob (the engine follows the roster), her
    // video still does.
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    loop {
        let before = peer_b.stats();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = peer_b.stats();
        if after.received_audio == before.received_audio
            && after.received_video > before.received_video
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "muted audio still forwarded: {after:?}"
        );
    }

    // Alice leaves: her session closes, wherever it lives.
    let alice_pid = alice.self_url.rsplit('/').next().unwrap().to_owned();
    let locus_a = alice
        .self_url
        .split("/participant/")
        .next()
        .unwrap()
        .to_owned();
    let (s, left) = leave(&locus_a, &alice.user, &alice_pid).await;
    assert_eq!(s, 200, "{left}");
    for node in [node_a, node_b] {
        sessions_until(node.base_url(), |s| {
            s.iter().all(|x| x["participantId"] != alice_pid.as_str())
        })
        .await;
    }
    peer_a.close();
    peer_b.close();
}

#[tokio::test]
async fn two_people_see_and_hear_each_other() {
    let server = TestServer::start().await.unwrap();
    two_people_meet(&server, &server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn two_people_on_two_nodes_see_and_hear_each_other() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    two_people_meet(&cluster.a, &cluster.b).await;
    // The meeting's media lives on one node: alice's (who offered first).
    let on_a = media_sessions(cluster.a.base_url()).await;
    let on_b = media_sessions(cluster.b.base_url()).await;
    assert!(
        on_b.is_empty(),
        "no session on the node that relayed: {on_b:?}"
    );
    assert_eq!(on_a.len(), 1, "bob's session stays on the anchor: {on_a:?}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn only_the_participants_own_joined_device_sends_media_and_a_third_is_refused() {
    // A meeting capped at two (`--media-max-per-meeting 2`).
    let server = TestServer::start_with(|c| c.media.max_per_meeting = 2)
        .await
        .unwrap();
    let (alice, bob, locus_url) = meeting_of_two(&server, &server).await;
    let mut peer = TestPeer::new().unwrap();
    let sdp = peer.offer_sdp();

    // Bob may not send for alice's participant.
    let body = json!({
        "device": {"url": bob.user.device.url, "deviceType": "WEB"},
        "correlationId": "c",
        "localMedias": [{"localSdp": offer(1, &sdp).to_string()}],
    });
    let (s, e) = send(
        http()
            .put(format!("{}/media", alice.self_url))
            .bearer_auth(&bob.user.token)
            .json(&body),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    assert!(
        e["message"].is_string() && e["trackingId"].is_string(),
        "{e}"
    );
    // Nor with alice's token from bob's device.
    let (s, e) = send(
        http()
            .put(format!("{}/media", alice.self_url))
            .bearer_auth(&alice.user.token)
            .json(&body),
    )
    .await;
    assert_eq!(s, 403, "{e}");

    // Malformed bodies are 400s naming the problem.
    for (bad, says) in [
        (
            json!({"device": {"url": alice.user.device.url}, "localMedias": []}),
            "localMedias",
        ),
        (
            json!({"device": {"url": alice.user.device.url}, "localMedias": [{"localSdp": "{not json"}]}),
            "localSdp",
        ),
        (
            json!({"device": {"url": alice.user.device.url}, "localMedias": [{"localSdp": json!({"roapMessage": {"messageType": "OFFER", "version": "2", "seq": 1, "sdps": []}}).to_string()}]}),
            "SDP",
        ),
        (
            json!({"device": {"url": alice.user.device.url}, "localMedias": [{"localSdp": json!({"roapMessage": {"messageType": "OFFER", "version": "3", "seq": 1, "sdps": ["v=0"]}}).to_string()}]}),
            "version",
        ),
    ] {
        let (s, e) = send(
            http()
                .put(format!("{}/media", alice.self_url))
                .bearer_auth(&alice.user.token)
                .json(&bad),
        )
        .await;
        assert_eq!(s, 400, "{bad} → {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
    }

    // An SDP the engine cannot take: a ROAP error, not a broken answer.
    let (s, answer) = put_media(&alice.self_url, &alice.user, offer(1, "v=0\r\nnonsense")).await;
    assert_eq!(s, 200, "{answer}");
    let roap = roap_of(&answer);
    assert_eq!(
        (roap["messageType"].as_str(), roap["errorType"].as_str()),
        (Some("ERROR"), Some("NOMATCH")),
        "{roap}"
    );

    // Two people with media, then a third is refused, clearly (the cap).
    let (_pa, _) = alice.start_media().await;
    let (_pb, _) = bob.start_media().await;
    let carol = user(&server, "carol").await;
    let (s, joined) = join(&locus_url, &carol).await;
    assert_eq!(s, 200, "{joined}");
    let carol = Party::from_join(carol, &joined);
    let mut third = TestPeer::new().unwrap();
    let sdp = third.offer_sdp();
    let (s, answer) = put_media(&carol.self_url, &carol.user, offer(1, &sdp)).await;
    assert_eq!(s, 200, "{answer}");
    let roap = roap_of(&answer);
    assert_eq!(
        (roap["messageType"].as_str(), roap["errorType"].as_str()),
        (Some("ERROR"), Some("REFUSED")),
        "{roap}"
    );
    assert!(
        roap["errorCause"]
            .as_str()
            .unwrap()
            .contains("2 participants"),
        "{roap}"
    );
    assert_eq!(media_sessions(server.base_url()).await.len(), 2);

    // Ending the meeting closes every session.
    let (s, _) = send(
        http()
            .post(format!("{locus_url}/end"))
            .bearer_auth(&alice.user.token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 202);
    sessions_until(server.base_url(), <[Value]>::is_empty).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_lobby_member_may_not_send_media() {
    let server = TestServer::start().await.unwrap();
    let host = user(&server, "lia").await;
    let (s, joined) = call(server.base_url(), &host, &host.email).await;
    assert_eq!(s, 200, "{joined}");
    let locus_url = joined["locus"]["url"].as_str().unwrap().to_owned();
    // Lock the room: everyone else waits in the lobby.
    let (s, _) = send(
        http()
            .patch(format!("{locus_url}/controls"))
            .bearer_auth(&host.token)
            .json(&json!({"lock": {"locked": true}})),
    )
    .await;
    assert_eq!(s, 200);
    let visitor = user(&server, "vic").await;
    let (s, waiting) = join(&locus_url, &visitor).await;
    assert_eq!(s, 200, "{waiting}");
    let visitor = Party::from_join(visitor, &waiting);
    let mut peer = TestPeer::new().unwrap();
    let (s, e) = put_media(
        &visitor.self_url,
        &visitor.user,
        offer(1, &peer.offer_sdp()),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["errorCode"], 2_403_014, "{e}");
    assert!(media_sessions(server.base_url()).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_deleted_device_loses_its_media_session() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob, _) = meeting_of_two(&server, &server).await;
    let (peer_a, _) = alice.start_media().await;
    let (peer_b, _) = bob.start_media().await;
    both_receive(&peer_a, &peer_b, 10, 3).await;
    assert_eq!(media_sessions(server.base_url()).await.len(), 2);
    let bob_pid = bob.self_url.rsplit('/').next().unwrap().to_owned();
    let res = http()
        .delete(&bob.user.device.url)
        .bearer_auth(&bob.user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The device left the meeting; its session follows.
    let left = sessions_until(server.base_url(), |s| s.len() == 1).await;
    assert_ne!(left[0]["participantId"], bob_pid.as_str(), "{left:?}");
    peer_a.close();
    peer_b.close();
    server.shutdown().await;
}

/// A participant offering a tone of `hz` and listening to what it hears.
async fn toned_media(p: &Party, hz: f32) -> RunningPeer {
    let mut peer = TestPeer::new().unwrap().with_tone(hz).listening();
    let sdp = peer.offer_sdp();
    let (s, answer) = put_media(&p.self_url, &p.user, offer(1, &sdp)).await;
    assert_eq!(s, 200, "{answer}");
    let roap = roap_of(&answer);
    assert_eq!(roap["messageType"], "ANSWER", "{roap}");
    peer.accept_answer(roap["sdps"][0].as_str().unwrap())
        .unwrap();
    peer.start()
}

/// Waits until `peer` hears `heard` and not `own` (its power at least 100
/// times below the weakest heard tone).
async fn hears(name: &str, peer: &RunningPeer, heard: &[f32], own: f32) {
    let mut freqs = heard.to_vec();
    freqs.push(own);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let levels = peer.tone_levels(&freqs);
        let weakest = levels[..heard.len()]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        if peer.stats().received_audio >= 50
            && weakest > 1e-4
            && levels[heard.len()] < weakest / 100.0
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} at {freqs:?} Hz: {levels:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn three_people_each_hear_the_two_others_mixed() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob, locus_url) = meeting_of_two(&server, &server).await;
    let carol = user(&server, "carol").await;
    let (s, joined) = join(&locus_url, &carol).await;
    assert_eq!(s, 200, "{joined}");
    let carol = Party::from_join(carol, &joined);
    let a = toned_media(&alice, 440.0).await;
    let b = toned_media(&bob, 660.0).await;
    let c = toned_media(&carol, 880.0).await;
    // One mixed audio stream each: everyone but themselves.
    hears("alice", &a, &[660.0, 880.0], 440.0).await;
    hears("bob", &b, &[440.0, 880.0], 660.0).await;
    hears("carol", &c, &[440.0, 660.0], 880.0).await;
    assert_eq!(media_sessions(server.base_url()).await.len(), 3);
    a.close();
    b.close();
    c.close();
    server.shutdown().await;
}

/// The tone frequencies of the meeting of ten: 120 Hz apart, none a
/// multiple of another within the band the Goertzel filters look at.
const TEN_TONES: [f32; 10] = [
    350.0, 470.0, 590.0, 710.0, 830.0, 950.0, 1070.0, 1190.0, 1310.0, 1430.0,
];
/// Everyone's tone while nobody leads: nine of them summed stay below
/// full scale (no clipping in the mix).
const BACKGROUND: f32 = 0.08;
/// The speaker's tone: three times the others' amplitude (×9 in power).
const SPEAKING: f32 = 0.25;

/// Waits until every peer but `speaker` receives `speaker`'s video (tag
/// `speaker + 1`) and the speaker receives `previous`'s (any other's when
/// `None`), as the server says and the frames show.
async fn all_watch(
    base: &str,
    peers: &[RunningPeer],
    ids: &[String],
    speaker: usize,
    previous: Option<usize>,
) {
    let index_of = |v: &Value| ids.iter().position(|id| v == id);
    let fits = |i: usize, watching: Option<usize>| match watching {
        Some(w) if i == speaker => w != speaker && previous.is_none_or(|p| p == w),
        Some(w) => w == speaker,
        None => false,
    };
    let sessions = sessions_until(base, |s| {
        s.len() == peers.len()
            && s.iter().all(|s| {
                index_of(&s["participantId"]).is_some_and(|i| fits(i, index_of(&s["watching"])))
            })
    })
    .await;
    let shown: Vec<usize> = (0..peers.len())
        .map(|i| {
            let s = sessions
                .iter()
                .find(|s| s["participantId"] == ids[i])
                .unwrap();
            index_of(&s["watching"]).unwrap()
        })
        .collect();
    let before: Vec<u64> = (0..peers.len())
        .map(|i| peers[i].video_frames_tagged(tag_of(shown[i])))
        .collect();
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    for (i, peer) in peers.iter().enumerate() {
        // Frames of the shown source keep arriving (a switch waits for its keyframe).
        while peer.video_frames_tagged(tag_of(shown[i])) < before[i] + 10 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "peer {i} receives no video of {} (speaker {speaker}): {:?}",
                shown[i],
                peer.stats()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn tag_of(i: usize) -> u8 {
    u8::try_from(i + 1).unwrap()
}
#[tokio::test]
async fn ten_people_each_hear_the_nine_others_mixed_and_see_the_speaker() {
    let server = TestServer::start().await.unwrap();
    let (first, second, locus_url) = meeting_of_two(&server, &server).await;
    let mut parties = vec![first, second];
    for i in 2..TEN_TONES.len() {
        let u = user(&server, &format!("person{i}")).await;
        let (s, joined) = join(&locus_url, &u).await;
        assert_eq!(s, 200, "{joined}");
        parties.push(Party::from_join(u, &joined));
    }
    let mut peers = Vec::new();
    let mut ids = Vec::new();
    for (i, p) in parties.iter().enumerate() {
        let mut peer = TestPeer::new()
            .unwrap()
            .with_tone(TEN_TONES[i])
            .listening()
            .with_video_tag(tag_of(i));
        let sdp = peer.offer_sdp();
        let (s, answer) = put_media(&p.self_url, &p.user, offer(1, &sdp)).await;
        assert_eq!(s, 200, "{answer}");
        let roap = roap_of(&answer);
        peer.accept_answer(roap["sdps"][0].as_str().unwrap())
            .unwrap();
        let running = peer.start();
        running.set_loudness(BACKGROUND);
        peers.push(running);
        ids.push(answer["locus"]["self"]["id"].as_str().unwrap().to_owned());
    }

    // The mix: everyone hears the nine others' tones and not their own.
    for (i, peer) in peers.iter().enumerate() {
        let others: Vec<f32> = TEN_TONES
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, hz)| *hz)
            .collect();
        hears(&format!("person {i}"), peer, &others, TEN_TONES[i]).await;
    }

    // Person 3 speaks up: everyone else gets 3's video, 3 keeps the one it had.
    peers[3].set_loudness(SPEAKING);
    all_watch(server.base_url(), &peers, &ids, 3, None).await;

    // Then person 7: everyone else switches to 7, and 7 sees the previous speaker, 3.
    peers[3].set_loudness(BACKGROUND);
    peers[7].set_loudness(SPEAKING);
    all_watch(server.base_url(), &peers, &ids, 7, Some(3)).await;

    // The roster says who speaks (`activeSpeaker`, an extension of this server).
    let locus_url = parties[0].self_url.split("/participant/").next().unwrap();
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    loop {
        let (s, doc) = get(locus_url, &parties[0].user).await;
        assert_eq!(s, 200, "{doc}");
        if doc["activeSpeaker"]["participantId"] == ids[7] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "activeSpeaker: {}",
            doc["activeSpeaker"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for peer in peers {
        peer.close();
    }
    server.shutdown().await;
}

/// A participant offering slides `sendrecv` (sharing from the first
/// offer), its video and slides tagged `tag`.
async fn sharing_media(p: &Party, tag: u8) -> RunningPeer {
    let mut peer = TestPeer::new().unwrap().with_slides().with_video_tag(tag);
    let sdp = peer.offer_sdp();
    let (s, answer) = put_media(&p.self_url, &p.user, offer(1, &sdp)).await;
    assert_eq!(s, 200, "{answer}");
    let roap = roap_of(&answer);
    let answer_sdp = roap["sdps"][0].as_str().unwrap();
    let slides = slides_section(answer_sdp);
    assert!(slides.contains("a=sendrecv"), "{slides}");
    assert!(slides.contains("a=ssrc:"), "{slides}");
    peer.accept_answer(answer_sdp).unwrap();
    peer.start()
}

/// `PUT {content share}` as the official SDK asks for or releases the
/// floor; the status.
async fn floor(p: &Party, disposition: &str, share: &str) -> u16 {
    let locus_url = p.self_url.split("/participant/").next().unwrap();
    let (s, doc) = get(locus_url, &p.user).await;
    assert_eq!(s, 200, "{doc}");
    let url = doc["mediaShares"][0]["url"].as_str().unwrap().to_owned();
    let body = match disposition {
        "GRANTED" => json!({"floor": {
            "beneficiary": {"url": p.self_url, "devices": [{"deviceType": "WEB", "url": p.user.device.url}]},
            "disposition": "GRANTED", "requester": {"url": p.self_url}, "shareInstanceId": share}}),
        _ => json!({"floor": {"disposition": "RELEASED", "shareInstanceId": share}}),
    };
    let (s, answer) = send(http().put(url).bearer_auth(&p.user.token).json(&body)).await;
    assert_eq!(s, 200, "{answer}");
    s
}

/// Waits until `peer` received at least `n` slides frames tagged `tag`.
async fn sees_slides(name: &str, peer: &RunningPeer, tag: u8, n: u64) {
    let base = peer.slides_frames_tagged(tag);
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    while peer.slides_frames_tagged(tag) < base + n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} got no slides tagged {tag:#x}: {:?}",
            peer.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no peer's slides count moves for a second; the counts.
async fn slides_settle(peers: &[&RunningPeer]) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    let counts = || -> Vec<u64> { peers.iter().map(|p| p.stats().received_slides).collect() };
    loop {
        let before = counts();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = counts();
        if after == before {
            return after;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slides still flow: {after:?}"
        );
    }
}

#[tokio::test]
async fn only_the_floor_holders_slides_reach_the_others() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob, locus_url) = meeting_of_two(&server, &server).await;
    let carol = user(&server, "carol").await;
    let (s, joined) = join(&locus_url, &carol).await;
    assert_eq!(s, 200, "{joined}");
    let carol = Party::from_join(carol, &joined);
    let (ta, tb, tc) = (0x11, 0x22, 0x33);
    let a = sharing_media(&alice, ta).await;
    let b = sharing_media(&bob, tb).await;
    let c = sharing_media(&carol, tc).await;
    for (name, p) in [("alice", &a), ("bob", &b), ("carol", &c)] {
        p.send_slides(true);
        p.wait_until(|s| s.connected && s.sent_slides >= 10, MEDIA_WAIT)
            .await
            .unwrap_or_else(|s| panic!("{name} sent no slides: {s:?}"));
    }
    // Before anyone holds the floor, nobody's slides are forwarded.
    let peers = [&a, &b, &c];
    assert_eq!(slides_settle(&peers).await, [0, 0, 0]);

    // Alice takes the floor: bob and carol get her slides, she gets none.
    floor(&alice, "GRANTED", "share-a").await;
    sees_slides("bob", &b, ta, 5).await;
    sees_slides("carol", &c, ta, 5).await;
    let alice_pid = alice.self_url.rsplit('/').next().unwrap().to_owned();
    let sessions = sessions_until(server.base_url(), |s| {
        s.iter()
            .any(|x| x["participantId"] == alice_pid.as_str() && x["presenting"] == true)
    })
    .await;
    assert_eq!(
        sessions.iter().filter(|x| x["presenting"] == true).count(),
        1,
        "{sessions:?}"
    );
    assert_eq!(a.stats().received_slides, 0);
    for p in peers {
        assert_eq!(p.slides_frames_tagged(tb) + p.slides_frames_tagged(tc), 0);
    }

    // Released: nobody's slides flow.
    floor(&alice, "RELEASED", "share-a").await;
    let stopped = slides_settle(&peers).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later: Vec<u64> = peers.iter().map(|p| p.stats().received_slides).collect();
    assert_eq!(later, stopped, "slides after the release");

    // Bob shares: alice and carol get his slides (from a keyframe on).
    floor(&bob, "GRANTED", "share-b").await;
    sees_slides("alice", &a, tb, 5).await;
    sees_slides("carol", &c, tb, 5).await;
    // Carol takes over without a release: bob now gets hers.
    floor(&carol, "GRANTED", "share-c").await;
    sees_slides("alice", &a, tc, 5).await;
    sees_slides("bob", &b, tc, 5).await;
    assert_eq!(c.slides_frames_tagged(tc), 0, "nobody gets their own");
    a.close();
    b.close();
    c.close();
    server.shutdown().await;
}
