//! The SDK against the real server with every cloud quirk on
//! (`webex serve --cloud-quirks all`): every request first gets a
//! `cisco-location` hop back to the same URL, and every join a Locus
//! `2000002` redirect; register, create/join/leave/end, sync and unregister
//! must work through them all, and the server's own counters must show
//! that the hops happened.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::StreamExt;
use webex_meetings::{
    Credentials, EventStream, Meetings, MeetingsEvent, MemberStatus, Webex, WebexConfig,
};
use webex_server::quirks::CloudQuirks;
use webex_server::testing::TestServer;

use crate::support::within;

async fn user(server: &TestServer, email: &str) -> (Webex, Meetings, EventStream) {
    let token = server.token_for(email).await.unwrap();
    let webex = Webex::init(
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(server.discovery_url())
            .device_name("quirks-e2e")
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let events = meetings.events();
    within(meetings.register()).await.unwrap();
    (webex, meetings, events)
}

/// How many answers the server counted for the quirk `route` (its
/// `/metrics`; this process's servers only).
async fn quirk_answers(server: &TestServer, route: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("webex_http_request_seconds_count{"))
        .filter(|l| l.contains(&format!("route=\"{route}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|n| n as u64)
        .sum()
}

async fn removed(events: &mut EventStream) {
    within(async {
        while let Some(e) = events.next().await {
            if matches!(e, MeetingsEvent::MeetingRemoved { .. }) {
                return;
            }
        }
        panic!("events ended");
    })
    .await;
}

#[tokio::test]
async fn register_join_leave_end_and_list_through_every_quirk() {
    let server = TestServer::start_with(|c| c.cloud_quirks = CloudQuirks::all())
        .await
        .unwrap();
    let (_a, alice, mut alice_events) = user(&server, "alice@example.com").await;
    let (_b, bob, mut bob_events) = user(&server, "bob@example.com").await;
    assert!(alice.device().is_some());

    let meeting = within(alice.create("quirks@webex.localhost"))
        .await
        .unwrap();
    within(meeting.join()).await.unwrap();
    assert!(meeting.is_joined());
    let url = meeting.locus_url().unwrap();
    assert!(!url.contains("cloudQuirk"), "{url}");

    let theirs = within(bob.create("quirks@webex.localhost")).await.unwrap();
    within(theirs.join()).await.unwrap();
    assert_eq!(theirs.locus_url().as_deref(), Some(url.as_str()));

    let listed = within(bob.sync()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].locus_url().as_deref(), Some(url.as_str()));

    within(async {
        while !meeting.members().iter().any(|m| {
            m.email.as_deref() == Some("bob@example.com") && m.status == MemberStatus::InMeeting
        }) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within(theirs.leave()).await.unwrap();
    within(meeting.end_for_all()).await.unwrap();
    removed(&mut alice_events).await;
    removed(&mut bob_events).await;
    assert!(within(alice.sync()).await.unwrap().is_empty());

    within(alice.unregister()).await.unwrap();
    within(bob.unregister()).await.unwrap();
    assert!(
        crate::support::devices(
            &server,
            &server.token_for("alice@example.com").await.unwrap()
        )
        .await
        .is_empty()
    );

    // Both quirks answered: one Locus redirect per join by either path, and
    // cisco-location hops on the rest.
    assert!(quirk_answers(&server, "quirk:locus-redirect").await >= 2);
    assert!(quirk_answers(&server, "quirk:cisco-location").await >= 10);
    server.shutdown().await;
}
