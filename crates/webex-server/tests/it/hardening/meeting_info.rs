//! meetingInfo is no cross-org directory and is rate limited (issue 20,
//! defect 5: an existing email or person id of another org answered 200
//! with the person's name and id, and created their room; 1 000 lookups
//! in 1.1 s).

use serde_json::{Value, json};
use webex_server::store::meetings::SpaceKey;
use webex_server::testing::TestServer;

use super::support::http;

async fn meeting_info(base: &str, token: &str, body: Value) -> (u16, Value) {
    let res = http()
        .post(format!("{base}/wbxappapi/v1/meetingInfo"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn another_org_learns_only_what_joining_needs() {
    let server = TestServer::start_with(|c| c.rate_limits.meeting_info = None)
        .await
        .unwrap();
    let base = server.base_url();
    let alice = server.token_for("alice@a.example").await.unwrap();
    let carol = server.token_for("carol@a.example").await.unwrap();
    let bob = server.token_for("bob@b.example").await.unwrap();
    let alice_id = server.person("alice@a.example").await.unwrap().id;

    // Alice's org sees who hosts her room.
    let (s, own) = meeting_info(base, &carol, json!({"sipUrl": "alice@a.example"})).await;
    assert_eq!(s, 200, "{own}");
    assert_eq!(own["hostId"], alice_id.as_str(), "{own}");
    assert!(own["hostDisplayName"].is_string(), "{own}");

    // Another org can join (sipUrl, number, link) but learns nobody.
    let (s, info) = meeting_info(base, &bob, json!({"sipUrl": "alice@a.example"})).await;
    assert_eq!(s, 200, "{info}");
    for key in ["sipUrl", "meetingNumber", "meetingJoinUrl"] {
        assert_eq!(info[key], own[key], "{key}: {info}");
    }
    assert!(info.get("hostId").is_none_or(Value::is_null), "{info}");
    assert!(
        info.get("hostDisplayName").is_none_or(Value::is_null),
        "{info}"
    );
    let text = info.to_string();
    assert!(
        !text.contains("alice@a.example") && !text.contains(&alice_id),
        "{info}"
    );

    // A person id of another org names nobody, and creates nothing.
    let (s, _) = meeting_info(base, &bob, json!({"userId": alice_id})).await;
    assert_eq!(s, 404);
    let dave = server.person("dave@a.example").await.unwrap();
    let (s, _) = meeting_info(base, &bob, json!({"userId": dave.id})).await;
    assert_eq!(s, 404);
    let store = &server.server().state().store;
    assert!(
        store
            .space(SpaceKey::Owner(&dave.id))
            .await
            .unwrap()
            .is_none(),
        "a lookup created dave's room"
    );
    // Within the org, by person id, as before.
    let (s, info) = meeting_info(base, &alice, json!({"userId": dave.id})).await;
    assert_eq!(s, 200, "{info}");
    server.shutdown().await;
}

#[tokio::test]
async fn lookups_are_rate_limited() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url();
    let bob = server.token_for("bob@b.example").await.unwrap();
    let mut statuses = Vec::new();
    for n in 0..40 {
        let body = json!({"sipUrl": format!("room-{n}@webex.localhost")});
        statuses.push(meeting_info(base, &bob, body).await.0);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 10, "{statuses:?}");
    assert!(statuses[..20].iter().all(|s| *s != 429), "{statuses:?}");
    eprintln!(
        "40 meetingInfo lookups at once: {} answered, {limited} limited (429)",
        40 - limited
    );
    server.shutdown().await;
}
