//! The meetings list end to end against the real server in process: two
//! users in one meeting, sync, sync racing join, a dropped socket.
#![allow(clippy::unwrap_used)]
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::support::within;
use futures::StreamExt;
use webex_meetings::mercury::MercuryOptions;
use webex_meetings::{
    Credentials, EventStream, Meeting, MeetingError, MeetingEvent, MeetingEventStream, Meetings,
    MeetingsEvent, MemberStatus, Webex, WebexConfig,
};
use webex_server::testing::TestServer;

async fn user(server: &TestServer, email: &str) -> (Webex, Meetings, EventStream) {
    user_with(server, email, MercuryOptions::default()).await
}

async fn user_with(
    server: &TestServer,
    email: &str,
    mercury: MercuryOptions,
) -> (Webex, Meetings, EventStream) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let token = server.token_for(email).await.unwrap();
    let webex = Webex::init(
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(server.discovery_url())
            .device_name("meetings-e2e")
            .mercury_options(mercury)
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let events = meetings.events();
    within(meetings.register()).await.unwrap();
    (webex, meetings, events)
}

/// The next `meeting:added` / `meeting:removed`, as a short string.
async fn next_list_event(events: &mut EventStream) -> String {
    within(async {
        while let Some(e) = events.next().await {
            match e {
                MeetingsEvent::MeetingAdded { reason, .. } => return format!("added:{reason}"),
                MeetingsEvent::MeetingRemoved { reason, .. } => return format!("removed:{reason}"),
                _ => {}
            }
        }
        panic!("events ended")
    })
    .await
}

/// Every event of a meeting until its stream ends, as short strings.
async fn drain(mut events: MeetingEventStream) -> Vec<String> {
    within(async move {
        let mut seen = Vec::new();
        while let Some(e) = events.next().await {
            seen.push(match e {
                MeetingEvent::StateChange { current, .. } => format!("state:{current}"),
                MeetingEvent::MembersUpdate(d) => {
                    let mut parts: Vec<String> = d
                        .added
                        .iter()
                        .map(|m| format!("+{}", short(m)))
                        .chain(
                            d.updated
                                .iter()
                                .map(|m| format!("~{}:{}", short(m), m.status)),
                        )
                        .chain(d.removed.iter().map(|id| format!("-{id}")))
                        .collect();
                    parts.sort();
                    format!("members:{}", parts.join(","))
                }
                other => other.name().into_owned(),
            });
        }
        seen
    })
    .await
}

/// A member's email without the domain (`TestServer` users are named by
/// their email).
fn short(m: &webex_meetings::Member) -> String {
    m.email
        .as_deref()
        .and_then(|e| e.split('@').next())
        .unwrap_or(&m.name)
        .to_owned()
}

async fn roster_shows(meeting: &Meeting, name: &str, status: MemberStatus) {
    within(async {
        while !meeting
            .members()
            .iter()
            .any(|m| short(m) == name && m.status == status)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn two_users_meet_leave_and_see_the_meeting_end_in_order() {
    let server = TestServer::start().await.unwrap();
    let (_a, alice, mut alice_list) = user(&server, "alice@example.com").await;
    let (_b, bob, mut bob_list) = user(&server, "bob@example.com").await;

    let meeting = within(alice.create("standup@webex.localhost"))
        .await
        .unwrap();
    assert_eq!(next_list_event(&mut alice_list).await, "added:created");
    assert!(!meeting.is_joined());
    assert_eq!(meeting.state(), None);
    // The same destination, spelled differently, is the same meeting.
    let again = within(alice.create("sip:Standup@webex.localhost"))
        .await
        .unwrap();
    assert_eq!(again.id(), meeting.id());
    let alice_events = tokio::spawn(drain(meeting.events()));

    within(meeting.join()).await.unwrap();
    assert!(meeting.is_joined());
    let bob_meeting = within(bob.create("standup@webex.localhost")).await.unwrap();
    let bob_events = tokio::spawn(drain(bob_meeting.events()));
    within(bob_meeting.join()).await.unwrap();
    assert_eq!(bob_meeting.locus_url(), meeting.locus_url());

    roster_shows(&meeting, "bob", MemberStatus::InMeeting).await;
    roster_shows(&bob_meeting, "alice", MemberStatus::InMeeting).await;
    let host: Vec<_> = bob_meeting
        .members()
        .into_iter()
        .filter(|m| m.is_host)
        .collect();
    assert_eq!(host.len(), 1);
    assert_eq!(short(&host[0]), "alice");
    assert!(
        bob_meeting
            .members()
            .iter()
            .any(|m| m.is_self && short(m) == "bob")
    );

    // Only the host ends meetings.
    assert!(matches!(
        within(bob_meeting.end_for_all()).await,
        Err(MeetingError::NotHost)
    ));
    within(bob_meeting.leave()).await.unwrap();
    assert!(!bob_meeting.is_joined());
    assert!(matches!(
        within(bob_meeting.leave()).await,
        Err(MeetingError::NotJoined)
    ));
    roster_shows(&meeting, "bob", MemberStatus::NotInMeeting).await;
    // Left, but still listed until the meeting ends.
    assert_eq!(bob.list().len(), 1);

    within(meeting.end_for_all()).await.unwrap();
    assert_eq!(next_list_event(&mut alice_list).await, "removed:ended");
    assert_eq!(next_list_event(&mut bob_list).await, "added:created");
    assert_eq!(next_list_event(&mut bob_list).await, "removed:ended");
    assert!(alice.list().is_empty() && bob.list().is_empty());
    assert!(matches!(
        within(meeting.join()).await,
        Err(MeetingError::Removed)
    ));

    assert_eq!(
        alice_events.await.unwrap(),
        [
            "state:ACTIVE",
            "members:+alice",
            "members:+bob",
            "members:~bob:NOT_IN_MEETING",
            "state:INACTIVE",
            "members:~alice:NOT_IN_MEETING",
            "meeting:self:left",
        ]
    );
    assert_eq!(
        bob_events.await.unwrap(),
        [
            "state:ACTIVE",
            "members:+alice,+bob",
            "members:~bob:NOT_IN_MEETING",
            "meeting:self:left",
            "state:INACTIVE",
            "members:~alice:NOT_IN_MEETING",
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sync_adds_keeps_created_and_removes_what_ended() {
    let server = TestServer::start().await.unwrap();
    let (_a, alice, mut alice_list) = user(&server, "carol@example.com").await;
    let (_b, bob, _bob_list) = user(&server, "dan@example.com").await;

    // Bob's meeting, joined by carol from "another device": sync finds it.
    let bobs = within(bob.create("dan@example.com")).await.unwrap();
    within(bobs.join()).await.unwrap();
    let created = within(alice.create("later@webex.localhost")).await.unwrap();
    assert_eq!(next_list_event(&mut alice_list).await, "added:created");

    let (_other, other_device, _) = user(&server, "carol@example.com").await;
    let on_other = within(other_device.create("dan@example.com"))
        .await
        .unwrap();
    within(on_other.join()).await.unwrap();
    // The join's Mercury event reaches the first device by itself.
    assert_eq!(next_list_event(&mut alice_list).await, "added:joined");
    let synced = within(alice.sync()).await.unwrap();
    assert_eq!(synced.len(), 2, "{synced:?}");
    let found = synced
        .iter()
        .find(|m| m.locus_url() == bobs.locus_url())
        .unwrap();
    assert!(
        !found.is_joined(),
        "joined from another device, not this one"
    );
    assert!(alice.get(created.id()).is_some());

    // The meeting ends while the first device is unregistered: it misses
    // the event, and the next sync removes it; the created one stays.
    within(alice.unregister()).await.unwrap();
    within(bobs.end_for_all()).await.unwrap();
    within(alice.register()).await.unwrap();
    let synced = within(alice.sync()).await.unwrap();
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0].id(), created.id());
    assert_eq!(
        next_list_event(&mut alice_list).await,
        "removed:no-longer-synced"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sync_racing_join_never_files_a_meeting_twice() {
    let server = TestServer::start().await.unwrap();
    let (_a, alice, mut alice_list) = user(&server, "erin@example.com").await;
    for round in 0..8 {
        let meeting = within(alice.create(&format!("race{round}@webex.localhost")))
            .await
            .unwrap();
        let (joined, synced) = tokio::join!(meeting.join(), alice.sync());
        joined.unwrap();
        synced.unwrap();
        within(alice.sync()).await.unwrap();
        let same: Vec<_> = alice
            .list()
            .into_iter()
            .filter(|m| m.locus_url() == meeting.locus_url())
            .collect();
        assert_eq!(same.len(), 1, "round {round}");
        assert_eq!(same[0].id(), meeting.id());
        assert!(meeting.is_joined());
    }
    // One meeting:added per create, nothing from the syncs.
    for _ in 0..8 {
        assert_eq!(next_list_event(&mut alice_list).await, "added:created");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), next_list_event(&mut alice_list))
            .await
            .is_err()
    );
    server.shutdown().await;
}

async fn start_server(db: &Path, addr: Option<SocketAddr>) -> TestServer {
    TestServer::start_with(|c| {
        c.database_url = format!("sqlite://{}", db.display());
        if let Some(addr) = addr {
            c.listen = addr;
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_dropped_socket_resynchronises_the_roster_after_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("webex.sqlite");
    let server = start_server(&db, None).await;
    let addr: SocketAddr = server
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    // Slow to come back, so the roster changes while the socket is down.
    let mut slow = MercuryOptions::default();
    slow.backoff_initial = Duration::from_secs(2);
    slow.backoff_max = Duration::from_secs(3);
    let (_a, alice, mut alice_list) = user_with(&server, "frank@example.com", slow).await;
    let meeting = within(alice.create("resync@webex.localhost"))
        .await
        .unwrap();
    within(meeting.join()).await.unwrap();
    let bob_token = server.token_for("grace@example.com").await.unwrap();

    server.shutdown().await;
    let server = start_server(&db, Some(addr)).await;
    let bob = Webex::init(
        WebexConfig::builder(Credentials::access_token(bob_token))
            .discovery_url(server.discovery_url())
            .build()
            .unwrap(),
    )
    .meetings();
    within(bob.register()).await.unwrap();
    let bob_meeting = within(bob.create("resync@webex.localhost")).await.unwrap();
    within(bob_meeting.join()).await.unwrap();
    assert!(
        !meeting.members().iter().any(|m| short(m) == "grace"),
        "the event cannot have arrived: the socket is down"
    );

    // network:reconnected → sync → the roster has bob; nothing was dropped.
    within(async {
        while let Some(e) = alice_list.next().await {
            if matches!(e, MeetingsEvent::NetworkReconnected) {
                return;
            }
        }
    })
    .await;
    roster_shows(&meeting, "grace", MemberStatus::InMeeting).await;
    assert_eq!(alice.list().len(), 1);
    assert_eq!(alice.list()[0].id(), meeting.id());
    server.shutdown().await;
}
