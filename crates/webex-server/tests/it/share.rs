//! Screen share through the Locus content floor, as the official SDK
//! (webex@3.12, transcoded) asks for it (`share-and-mute-protocol.md` §1):
//! `mediaShares` complete in every full document, `PUT {content.url}`
//! with the SDK's bodies, who may take and release the floor, take-over,
//! the `locus.floor_granted` / `locus.floor_released` events, and the
//! floor released when its holder leaves, is removed, loses its device or
//! the meeting ends. On SQLite, and across two nodes sharing PostgreSQL
//! and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use webex_server::testing::TestServer;

use crate::support::cluster::Cluster;
use crate::support::locus::*;
use crate::support::mercury::{Ws, connect, http};

/// One person in the meeting: their `self.url` and the content share URL
/// their documents show.
pub(crate) struct Member {
    pub user: User,
    pub self_url: String,
    pub content_url: String,
}

impl Member {
    pub fn from_join(user: User, joined: &Value) -> Self {
        let locus = &joined["locus"];
        let self_url = locus["self"]["url"].as_str().unwrap().to_owned();
        Self {
            user,
            self_url,
            content_url: content(locus)["url"].as_str().unwrap().to_owned(),
        }
    }

    pub fn participant_id(&self) -> &str {
        self.self_url.rsplit('/').next().unwrap()
    }

    pub fn locus_url(&self) -> &str {
        self.self_url.split("/participant/").next().unwrap()
    }

    /// The official SDK's floor request (`shareInstanceId` `share`).
    pub async fn take(&self, share: &str) -> (u16, Value) {
        floor(
            &self.content_url,
            &self.user,
            grant_body(&self.self_url, &self.user.device.url, share),
        )
        .await
    }

    /// The official SDK's release of `share`.
    pub async fn release(&self, share: &str) -> (u16, Value) {
        floor(
            &self.content_url,
            &self.user,
            json!({"floor": {"disposition": "RELEASED", "shareInstanceId": share}}),
        )
        .await
    }
}

/// The official SDK's floor request body.
pub(crate) fn grant_body(self_url: &str, device_url: &str, share: &str) -> Value {
    json!({"floor": {
        "beneficiary": {"url": self_url, "devices": [{"deviceType": "WEB", "url": device_url}]},
        "disposition": "GRANTED",
        "requester": {"url": self_url},
        "shareInstanceId": share}})
}

pub(crate) async fn floor(url: &str, u: &User, body: Value) -> (u16, Value) {
    send(http().put(url).bearer_auth(&u.token).json(&body)).await
}

/// The `content` entry of a document's `mediaShares`, checking the array
/// is complete (content and whiteboard).
pub(crate) fn content(locus: &Value) -> &Value {
    let shares = locus["mediaShares"]
        .as_array()
        .unwrap_or_else(|| panic!("no mediaShares in {locus}"));
    let names: Vec<&str> = shares.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["content", "whiteboard"], "{locus}");
    for s in shares {
        assert!(
            s["url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/mediashares/", locus["url"].as_str().unwrap())),
            "{s}"
        );
    }
    &shares[0]
}

fn assert_error(status: u16, body: &Value, want: u16, error_code: Option<u64>) {
    assert_eq!(status, want, "{body}");
    assert!(body["message"].is_string(), "JSON error body: {body}");
    assert!(body["trackingId"].is_string(), "{body}");
    if let Some(code) = error_code {
        assert_eq!(body["errorCode"], code, "{body}");
    }
}

/// Alice starts her room on `a`, bob (and carol) join through `b`.
async fn meeting(a: &TestServer, b: &TestServer, n: usize) -> Vec<Member> {
    let alice = user(a, "alice").await;
    let (s, joined) = call(a.base_url(), &alice, &alice.email).await;
    assert_eq!(s, 200, "{joined}");
    let locus_url = joined["locus"]["url"].as_str().unwrap().to_owned();
    let url_b = locus_url.replace(a.base_url(), b.base_url());
    let mut members = vec![Member::from_join(alice, &joined)];
    for name in ["bob", "carol"].iter().take(n - 1) {
        let u = user(b, name).await;
        let (s, joined) = join(&url_b, &u).await;
        assert_eq!(s, 200, "{joined}");
        members.push(Member::from_join(u, &joined));
    }
    members
}

/// Waits for a `locus.*` event of type `event_type` on `ws` whose content
/// floor satisfies `want`; the event's document.
async fn floor_event(ws: &mut Ws, event_type: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(m))) => m,
            other => panic!("no {event_type} event: {other:?}"),
        };
        let Message::Text(t) = msg else { continue };
        let frame: Value = serde_json::from_str(&t).unwrap();
        let data = &frame["data"];
        if data["eventType"] == event_type && want(&content(&data["locus"])["floor"]) {
            return data["locus"].clone();
        }
    }
}

fn granted_to(pid: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f: &Value| f["disposition"] == "GRANTED" && f["beneficiary"]["id"] == pid
}

fn released_by(pid: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f: &Value| f["disposition"] == "RELEASED" && f["beneficiary"]["id"] == pid
}

#[tokio::test]
async fn every_full_document_lists_the_media_shares_without_a_floor_before_anyone_shares() {
    let server = TestServer::start().await.unwrap();
    let m = meeting(&server, &server, 2).await;
    let (s, doc) = get(m[0].locus_url(), &m[0].user).await;
    assert_eq!(s, 200);
    let c = content(&doc);
    assert!(c.get("floor").is_none(), "{c}");
    assert_eq!(c["url"].as_str().unwrap(), m[0].content_url);
    assert_eq!(m[0].content_url, m[1].content_url, "one content share");
    // The list of meetings carries it too.
    let (s, list) = get(
        &format!("{}/locus/api/v1/loci", server.base_url()),
        &m[1].user,
    )
    .await;
    assert_eq!(s, 200);
    content(&list["loci"][0]);
    server.shutdown().await;
}

#[tokio::test]
async fn floor_requests_are_checked() {
    let server = TestServer::start().await.unwrap();
    let m = meeting(&server, &server, 2).await;
    let (alice, bob) = (&m[0], &m[1]);
    let carol = user(&server, "carol").await;

    // Not a participant.
    let (s, b) = floor(
        &alice.content_url,
        &carol,
        grant_body(&alice.self_url, &carol.device.url, "s0"),
    )
    .await;
    assert_error(s, &b, 403, Some(2_403_010));
    // Someone else as beneficiary.
    let (s, b) = floor(
        &alice.content_url,
        &bob.user,
        grant_body(&alice.self_url, &bob.user.device.url, "s0"),
    )
    .await;
    assert_error(s, &b, 403, Some(2_403_013));
    // A URL that is no participant URL of this meeting.
    let (s, b) = floor(
        &alice.content_url,
        &bob.user,
        grant_body("https://elsewhere/x", &bob.user.device.url, "s0"),
    )
    .await;
    assert_error(s, &b, 400, None);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("floor.beneficiary.url"),
        "{b}"
    );
    // Missing fields are named.
    for (body, field) in [
        (
            json!({"floor": {"disposition": "GRANTED", "shareInstanceId": "s"}}),
            "floor.beneficiary.url",
        ),
        (
            json!({"floor": {"disposition": "GRANTED", "shareInstanceId": "s",
                "beneficiary": {"url": bob.self_url}}}),
            "floor.beneficiary.devices[0].url",
        ),
        (
            json!({"floor": {"disposition": "GRANTED",
                "beneficiary": {"url": bob.self_url, "devices": [{"url": bob.user.device.url}]}}}),
            "floor.shareInstanceId",
        ),
        (
            json!({"floor": {"disposition": "MAYBE"}}),
            "floor.disposition",
        ),
    ] {
        let (s, b) = floor(&bob.content_url, &bob.user, body).await;
        assert_error(s, &b, 400, None);
        assert!(
            b["message"].as_str().unwrap().contains(field),
            "{field}: {b}"
        );
    }
    // Another device than one bob joined with.
    let (s, b) = floor(
        &bob.content_url,
        &bob.user,
        grant_body(&bob.self_url, &alice.user.device.url, "s0"),
    )
    .await;
    assert_error(s, &b, 403, Some(2_403_012));
    // Unknown share id; the whiteboard.
    let locus_url = alice.locus_url();
    let (s, b) = floor(
        &format!("{locus_url}/mediashares/{}", uuid::Uuid::new_v4()),
        &bob.user,
        grant_body(&bob.self_url, &bob.user.device.url, "s0"),
    )
    .await;
    assert_error(s, &b, 404, Some(2_404_002));
    let (s, doc) = get(locus_url, &bob.user).await;
    assert_eq!(s, 200);
    let whiteboard = doc["mediaShares"][1]["url"].as_str().unwrap().to_owned();
    let (s, b) = floor(
        &whiteboard,
        &bob.user,
        grant_body(&bob.self_url, &bob.user.device.url, "s0"),
    )
    .await;
    assert_error(s, &b, 400, None);
    assert!(b["message"].as_str().unwrap().contains("whiteboard"), "{b}");
    // An unknown Locus.
    let (s, b) = floor(
        &format!(
            "{}/{}/mediashares/{}",
            locus_url.rsplit_once('/').unwrap().0,
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        ),
        &bob.user,
        grant_body(&bob.self_url, &bob.user.device.url, "s0"),
    )
    .await;
    assert_error(s, &b, 404, Some(2_404_001));

    // Bob takes the floor: 200 with the new sequence and the floor.
    let before = seq(&doc);
    let (s, b) = bob.take("share-b").await;
    assert_eq!(s, 200, "{b}");
    assert!(seq(&b["locus"]) > before);
    let f = &content(&b["locus"])["floor"];
    assert_eq!(f["disposition"], "GRANTED");
    assert_eq!(f["shareInstanceId"], "share-b");
    assert_eq!(f["beneficiary"]["id"], bob.participant_id());
    assert_eq!(f["beneficiary"]["url"], bob.self_url.as_str());
    assert_eq!(f["beneficiary"]["deviceUrl"], bob.user.device.url.as_str());
    assert_eq!(f["requester"]["id"], bob.participant_id());
    assert!(f["granted"].is_string(), "{f}");
    // Asking again changes nothing.
    let (s, again) = bob.take("share-b").await;
    assert_eq!(s, 200);
    assert_eq!(seq(&again["locus"]), seq(&b["locus"]));
    // Alice (the host) may not release it with a stale instance, carol's
    // absent, bob's release of another share is refused.
    let (s, e) = alice.release("old").await;
    assert_error(s, &e, 409, Some(2_409_004));
    let (s, e) = bob.release("old").await;
    assert_error(s, &e, 409, Some(2_409_004));
    // Bob releases: RELEASED, beneficiary kept.
    let (s, r) = bob.release("share-b").await;
    assert_eq!(s, 200, "{r}");
    let f = &content(&r["locus"])["floor"];
    assert_eq!(f["disposition"], "RELEASED", "{f}");
    assert_eq!(f["beneficiary"]["id"], bob.participant_id());
    assert!(f["released"].is_string(), "{f}");
    // Releasing again is harmless.
    let (s, r2) = bob.release("share-b").await;
    assert_eq!(s, 200);
    assert_eq!(seq(&r2["locus"]), seq(&r["locus"]));
    server.shutdown().await;
}

#[tokio::test]
async fn only_the_holder_or_the_host_releases_and_a_grant_takes_over() {
    let server = TestServer::start().await.unwrap();
    let m = meeting(&server, &server, 3).await;
    let (alice, bob, carol) = (&m[0], &m[1], &m[2]);
    let mut ws_carol = connect(&carol.user.device, &carol.user.token, false).await;
    assert_eq!(bob.take("s-bob").await.0, 200);
    floor_event(
        &mut ws_carol,
        "locus.floor_granted",
        granted_to(bob.participant_id()),
    )
    .await;
    // Carol may not release bob's floor.
    let (s, e) = carol.release("s-bob").await;
    assert_error(s, &e, 403, Some(2_403_015));
    // Carol takes it over: the floor changes hands, no release needed.
    let (s, b) = carol.take("s-carol").await;
    assert_eq!(s, 200, "{b}");
    let doc = floor_event(
        &mut ws_carol,
        "locus.floor_granted",
        granted_to(carol.participant_id()),
    )
    .await;
    assert_eq!(
        content(&doc)["floor"]["beneficiary"]["deviceUrl"],
        carol.user.device.url.as_str()
    );
    // Bob's old share is stale now.
    let (s, e) = bob.release("s-bob").await;
    assert_error(s, &e, 403, Some(2_403_015));
    // The host releases carol's.
    let (s, r) = alice.release("s-carol").await;
    assert_eq!(s, 200, "{r}");
    floor_event(
        &mut ws_carol,
        "locus.floor_released",
        released_by(carol.participant_id()),
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_floor_is_released_on_leave_removal_device_loss_and_end() {
    let server = TestServer::start().await.unwrap();
    let m = meeting(&server, &server, 3).await;
    let (alice, bob, carol) = (&m[0], &m[1], &m[2]);
    let mut ws = connect(&alice.user.device, &alice.user.token, false).await;

    // Leave.
    assert_eq!(bob.take("s1").await.0, 200);
    floor_event(
        &mut ws,
        "locus.floor_granted",
        granted_to(bob.participant_id()),
    )
    .await;
    let (s, left) = leave(bob.locus_url(), &bob.user, bob.participant_id()).await;
    assert_eq!(s, 200, "{left}");
    floor_event(
        &mut ws,
        "locus.participant_left",
        released_by(bob.participant_id()),
    )
    .await;

    // Removal by the host.
    assert_eq!(carol.take("s2").await.0, 200);
    floor_event(
        &mut ws,
        "locus.floor_granted",
        granted_to(carol.participant_id()),
    )
    .await;
    let (s, kicked) = send(
        http()
            .put(format!(
                "{}/participant/{}/leave",
                alice.locus_url(),
                carol.participant_id()
            ))
            .bearer_auth(&alice.user.token)
            .json(&json!({"reason": "FORCED"})),
    )
    .await;
    assert_eq!(s, 200, "{kicked}");
    floor_event(
        &mut ws,
        "locus.participant_left",
        released_by(carol.participant_id()),
    )
    .await;

    // Device loss: bob comes back, shares, deletes his device.
    let (s, joined) = join(alice.locus_url(), &bob.user).await;
    assert_eq!(s, 200, "{joined}");
    assert_eq!(bob.take("s3").await.0, 200);
    floor_event(
        &mut ws,
        "locus.floor_granted",
        granted_to(bob.participant_id()),
    )
    .await;
    let res = http()
        .delete(&bob.user.device.url)
        .bearer_auth(&bob.user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    floor_event(
        &mut ws,
        "locus.participant_left",
        released_by(bob.participant_id()),
    )
    .await;

    // End: alice shares, then ends the meeting.
    assert_eq!(alice.take("s4").await.0, 200);
    floor_event(
        &mut ws,
        "locus.floor_granted",
        granted_to(alice.participant_id()),
    )
    .await;
    let (s, _) = send(
        http()
            .post(format!("{}/end", alice.locus_url()))
            .bearer_auth(&alice.user.token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 202);
    let ended = floor_event(
        &mut ws,
        "locus.controls_updated",
        released_by(alice.participant_id()),
    )
    .await;
    assert_eq!(ended["fullState"]["state"], "INACTIVE");
    // Nothing to take in an ended meeting.
    let (s, e) = alice.take("s5").await;
    assert_error(s, &e, 409, Some(2_409_001));
    server.shutdown().await;
}

#[tokio::test]
async fn a_floor_taken_on_one_node_reaches_the_other_and_is_handed_over_there() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let m = meeting(&cluster.a, &cluster.b, 2).await;
    let (alice, bob) = (&m[0], &m[1]);
    let mut ws_bob = connect(&bob.user.device, &bob.user.token, false).await;
    let mut ws_alice = connect(&alice.user.device, &alice.user.token, false).await;
    assert_eq!(alice.take("sa").await.0, 200);
    floor_event(
        &mut ws_bob,
        "locus.floor_granted",
        granted_to(alice.participant_id()),
    )
    .await;
    // Bob takes over through node B; alice (node A) sees it.
    assert_eq!(bob.take("sb").await.0, 200);
    floor_event(
        &mut ws_alice,
        "locus.floor_granted",
        granted_to(bob.participant_id()),
    )
    .await;
    assert_eq!(bob.release("sb").await.0, 200);
    floor_event(
        &mut ws_alice,
        "locus.floor_released",
        released_by(bob.participant_id()),
    )
    .await;
    cluster.shutdown().await;
}
