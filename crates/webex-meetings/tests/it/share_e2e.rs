//! Screen share between two SDK clients through the real server in
//! process: one takes the content floor, the other sees
//! `meeting:startedSharingRemote` with the presenter's member id and the
//! member sharing; a take-over and a release give the official SDK's
//! events in its order (`share-and-mute-protocol.md` §1.3–1.5).
#![allow(clippy::unwrap_used)]

use crate::support::within;
use futures::StreamExt;
use webex_meetings::{
    Credentials, Meeting, MeetingEvent, MeetingEventStream, Meetings, ShareStatus, Webex,
    WebexConfig,
};
use webex_server::testing::TestServer;

async fn user(server: &TestServer, email: &str) -> (Webex, Meetings) {
    let token = server.token_for(email).await.unwrap();
    let webex = Webex::init(
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(server.discovery_url())
            .device_name("share-e2e")
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    within(meetings.register()).await.unwrap();
    (webex, meetings)
}

/// The share events of `events` up to and including the first for which
/// `last` holds, as names (with the member id for remote starts).
async fn share_events_until(
    events: &mut MeetingEventStream,
    last: impl Fn(&MeetingEvent) -> bool,
) -> Vec<String> {
    within(async {
        let mut seen = Vec::new();
        while let Some(e) = events.next().await {
            let name = match &e {
                MeetingEvent::StartedSharingRemote { member_id, .. } => {
                    format!("meeting:startedSharingRemote:{member_id}")
                }
                MeetingEvent::StoppedSharingLocal { reason } => {
                    format!("meeting:stoppedSharingLocal:{reason}")
                }
                MeetingEvent::MembersContentUpdate {
                    active_sharing_id,
                    ended_sharing_id,
                } => format!(
                    "members:content:update:{}:{}",
                    active_sharing_id.as_deref().unwrap_or("-"),
                    ended_sharing_id.as_deref().unwrap_or("-")
                ),
                other if other.name().contains("Sharing") => other.name().into_owned(),
                _ => continue,
            };
            seen.push(name);
            if last(&e) {
                return seen;
            }
        }
        panic!("events ended: {seen:?}")
    })
    .await
}

fn is_content_update(e: &MeetingEvent) -> bool {
    matches!(e, MeetingEvent::MembersContentUpdate { .. })
}

fn self_id(m: &Meeting) -> String {
    m.members().into_iter().find(|m| m.is_self).unwrap().id
}

#[tokio::test]
async fn one_shares_the_other_sees_who_and_a_take_over_and_release_follow_the_official_events() {
    let server = TestServer::start().await.unwrap();
    let (_a, alice) = user(&server, "alice@example.com").await;
    let (_b, bob) = user(&server, "bob@example.com").await;
    let ma = within(alice.create("demo@webex.localhost")).await.unwrap();
    within(ma.join()).await.unwrap();
    let mb = within(bob.create("demo@webex.localhost")).await.unwrap();
    within(mb.join()).await.unwrap();
    let (alice_id, bob_id) = (self_id(&ma), self_id(&mb));
    assert_eq!(ma.share(), ShareStatus::None);
    let mut ea = ma.events();
    let mut eb = mb.events();

    // Alice shares.
    within(ma.request_share_floor()).await.unwrap();
    assert_eq!(
        share_events_until(&mut ea, is_content_update).await,
        [
            "meeting:startedSharingLocal".to_owned(),
            format!("members:content:update:{alice_id}:-")
        ]
    );
    assert!(
        matches!(ma.share(), ShareStatus::Local { ref member_id, .. } if *member_id == alice_id)
    );
    assert_eq!(
        share_events_until(&mut eb, is_content_update).await,
        [
            format!("meeting:startedSharingRemote:{alice_id}"),
            format!("members:content:update:{alice_id}:-")
        ]
    );
    assert_eq!(mb.share().presenter(), Some(alice_id.as_str()));
    let sharing: Vec<String> = mb
        .members()
        .into_iter()
        .filter(|m| m.is_content_sharing())
        .map(|m| m.id)
        .collect();
    assert_eq!(sharing, std::slice::from_ref(&alice_id));
    // A late subscriber learns it first thing.
    let mut late = mb.events();
    assert_eq!(
        share_events_until(&mut late, |e| matches!(
            e,
            MeetingEvent::StartedSharingRemote { .. }
        ))
        .await,
        [format!("meeting:startedSharingRemote:{alice_id}")]
    );

    // Bob takes over: alice stops (SELF_STOPPED) and sees bob sharing.
    within(mb.request_share_floor()).await.unwrap();
    assert_eq!(
        share_events_until(&mut ea, is_content_update).await,
        [
            "meeting:stoppedSharingLocal:SELF_STOPPED".to_owned(),
            format!("meeting:startedSharingRemote:{bob_id}"),
            format!("members:content:update:{bob_id}:{alice_id}")
        ]
    );
    // Leaving REMOTE stops it, as the official SDK does.
    assert_eq!(
        share_events_until(&mut eb, is_content_update).await,
        [
            "meeting:stoppedSharingRemote".to_owned(),
            "meeting:startedSharingLocal".to_owned(),
            format!("members:content:update:{bob_id}:{alice_id}")
        ]
    );
    // Alice no longer holds the floor: her release sends nothing.
    within(ma.release_share_floor()).await.unwrap();

    // Bob releases.
    within(mb.release_share_floor()).await.unwrap();
    assert_eq!(
        share_events_until(&mut eb, is_content_update).await,
        [
            "meeting:stoppedSharingLocal:SELF_STOPPED".to_owned(),
            format!("members:content:update:-:{bob_id}")
        ]
    );
    assert_eq!(
        share_events_until(&mut ea, is_content_update).await,
        [
            "meeting:stoppedSharingRemote".to_owned(),
            format!("members:content:update:-:{bob_id}")
        ]
    );
    assert_eq!(ma.share(), ShareStatus::None);
    assert!(ma.members().iter().all(|m| !m.is_content_sharing()));
    let floor = ma
        .locus()
        .unwrap()
        .media_share("content")
        .unwrap()
        .floor
        .clone()
        .unwrap();
    assert_eq!(
        floor.beneficiary.unwrap().id.as_deref(),
        Some(bob_id.as_str())
    );
    server.shutdown().await;
}
