//! The lobby end to end with the Rust SDK, the scenario the official SDK
//! runs in compat/js-sdk: a person of another org joins lia's personal
//! room and waits in the lobby (`meeting:self:lobbyWaiting`), lia's roster
//! shows them `IN_LOBBY`, lia admits them (`meeting:self:guestAdmitted`),
//! they are in. Then the lock, and the host-only rules.
#![allow(clippy::unwrap_used)]
use std::time::Duration;

use crate::support::within;
use futures::StreamExt;
use webex_meetings::{
    Credentials, Meeting, MeetingError, MeetingEvent, MeetingEventStream, Meetings, MemberStatus,
    Webex, WebexConfig,
};
use webex_server::testing::TestServer;

async fn user(server: &TestServer, email: &str) -> (Webex, Meetings) {
    let token = server.token_for(email).await.unwrap();
    let webex = Webex::init(
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(server.discovery_url())
            .device_name("lobby-e2e")
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    within(meetings.register()).await.unwrap();
    (webex, meetings)
}

/// Waits for `meeting`'s roster to show the person `email` as `status`;
/// returns their member id.
async fn roster_shows(meeting: &Meeting, email: &str, status: MemberStatus) -> String {
    within(async {
        loop {
            if let Some(m) = meeting
                .members()
                .into_iter()
                .find(|m| m.email.as_deref() == Some(email) && m.status == status)
            {
                return m.id;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// The next lobby event (`lobbyWaiting` / `guestAdmitted`) on `events`.
async fn next_lobby_event(events: &mut MeetingEventStream) -> MeetingEvent {
    within(async {
        while let Some(e) = events.next().await {
            if matches!(e, MeetingEvent::LobbyWaiting | MeetingEvent::GuestAdmitted) {
                return e;
            }
        }
        panic!("events ended")
    })
    .await
}

#[tokio::test]
async fn another_orgs_person_waits_in_the_lobby_until_the_host_admits() {
    let server = TestServer::start().await.unwrap();
    let host_email = "lia@example.com";
    let visitor_email = "vic@partner.example";
    let (_h, host) = user(&server, host_email).await;
    let (_v, visitor) = user(&server, visitor_email).await;

    let room = within(host.create(host_email)).await.unwrap();
    within(room.join()).await.unwrap();
    assert!(room.is_joined() && !room.is_in_lobby());

    let waiting = within(visitor.create(host_email)).await.unwrap();
    let mut events = waiting.events();
    within(waiting.join()).await.unwrap();
    assert_eq!(waiting.locus_url(), room.locus_url());
    assert!(waiting.is_in_lobby());
    assert!(!waiting.is_joined());
    assert_eq!(
        next_lobby_event(&mut events).await,
        MeetingEvent::LobbyWaiting
    );
    assert_eq!(
        MeetingEvent::LobbyWaiting.name(),
        "meeting:self:lobbyWaiting"
    );
    // The visitor sees only themselves; they may not admit anyone.
    assert_eq!(waiting.members().len(), 1);
    let own_id = waiting.members()[0].id.clone();
    assert!(matches!(
        within(waiting.admit(std::slice::from_ref(&own_id))).await,
        Err(MeetingError::NotHost)
    ));

    let id = roster_shows(&room, visitor_email, MemberStatus::InLobby).await;
    within(room.admit(&[id])).await.unwrap();
    assert_eq!(
        next_lobby_event(&mut events).await,
        MeetingEvent::GuestAdmitted
    );
    assert!(waiting.is_joined() && !waiting.is_in_lobby());
    roster_shows(&room, visitor_email, MemberStatus::InMeeting).await;
    roster_shows(&waiting, host_email, MemberStatus::InMeeting).await;

    // Locked, even a colleague of lia's waits; only lia may unlock.
    within(room.lock_meeting()).await.unwrap();
    assert!(room.is_locked());
    assert!(matches!(
        within(waiting.unlock_meeting()).await,
        Err(MeetingError::NotHost)
    ));
    let (_c, colleague) = user(&server, "cam@example.com").await;
    let late = within(colleague.create(host_email)).await.unwrap();
    within(late.join()).await.unwrap();
    assert!(late.is_in_lobby());
    roster_shows(&room, "cam@example.com", MemberStatus::InLobby).await;
    // Leaving the lobby is a leave.
    within(late.leave()).await.unwrap();
    roster_shows(&room, "cam@example.com", MemberStatus::NotInMeeting).await;
    within(room.unlock_meeting()).await.unwrap();
    assert!(!room.is_locked());
    within(room.end_for_all()).await.unwrap();
    server.shutdown().await;
}
