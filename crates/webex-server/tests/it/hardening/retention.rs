//! Ended meetings and unused spaces are purged after the retention (issue
//! 20, defect 5: spaces, ended meetings and participants were never
//! purged; 1 000 lookups made 1 000 spaces for good).

use std::time::Duration;

use serde_json::json;
use webex_server::store::meetings::{SpaceKey, SpaceRecord};
use webex_server::testing::TestServer;
use webex_server::time::now_millis;

use crate::support::locus::{call, send, user};

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn retention(server: &TestServer) -> anyhow::Result<()> {
    let base = server.base_url();
    let state = server.server().state();
    let a = user(server, "alice").await;
    // A meeting in an ad-hoc space, ended by its host.
    let (s, joined) = call(base, &a, "retro@webex.localhost").await;
    assert_eq!(s, 200, "{joined}");
    let url = joined["locus"]["url"].as_str().unwrap().to_owned();
    let (s, ended) = send(
        webex_server_http()
            .post(format!("{url}/end"))
            .bearer_auth(&a.token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 202, "{ended}");
    // A space nobody ever joined (lookups made such spaces before they
    // became read-only), and a meeting still going on.
    let (s, _) = send(
        webex_server_http()
            .post(format!("{base}/wbxappapi/v1/meetingInfo"))
            .bearer_auth(&a.token)
            .json(&json!({"sipUrl": "looked-up@webex.localhost"})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        state
            .store
            .space(SpaceKey::Name("looked-up"))
            .await
            .unwrap()
            .is_none()
    );
    state
        .store
        .ensure_space(&SpaceRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: "looked-up".into(),
            meeting_number: "1999999999".into(),
            owner_id: None,
            creator_id: None,
            created_at: now_millis(),
        })
        .await
        .unwrap();
    let (s, live) = call(base, &a, "live@webex.localhost").await;
    assert_eq!(s, 200, "{live}");
    // And alice's personal room.
    let (s, _) = call(base, &a, &a.email).await;
    assert_eq!(s, 200);
    let alice_id = server.person(&a.email).await.unwrap().id;
    let room = state.store.space(SpaceKey::Owner(&alice_id)).await.unwrap();
    assert!(room.is_some());

    let now = now_millis();
    let day = i64::try_from(DAY.as_millis()).unwrap();
    // Within the retention nothing goes.
    let kept = webex_server::retention::purge(state, now + 29 * day, 30 * DAY)
        .await
        .unwrap();
    assert_eq!((kept.meetings, kept.spaces), (0, 0));
    // After it, the ended meeting and both unused spaces go; the live
    // meeting, its space and the personal room stay.
    let purged = webex_server::retention::purge(state, now + 31 * day, 30 * DAY)
        .await
        .unwrap();
    assert_eq!((purged.meetings, purged.spaces), (1, 2), "{purged:?}");
    let space = |name: &'static str| state.store.space(SpaceKey::Name(name));
    assert!(space("retro").await.unwrap().is_none());
    assert!(space("looked-up").await.unwrap().is_none());
    assert!(space("live").await.unwrap().is_some());
    let locus_id = url.rsplit('/').next().unwrap();
    assert!(state.store.meeting(locus_id).await.unwrap().is_none());
    eprintln!(
        "31 days later: {} ended meeting and {} unused spaces purged; the live meeting and the personal room kept",
        purged.meetings, purged.spaces
    );
    Ok(())
}
on_every_backend!(
    ended_meetings_and_unused_spaces_are_purged_after_the_retention,
    retention
);

fn webex_server_http() -> reqwest::Client {
    reqwest::Client::new()
}
