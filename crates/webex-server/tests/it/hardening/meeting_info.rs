//! meetingInfo is no cross-org directory, creates nothing and is rate
//! limited (issue 20, defect 5: an existing email or person id of another
//! org answered 200 with the person's name and id, and created their room;
//! looking up any address created a meeting space; 1 000 lookups in 1.1 s).

use serde_json::{Value, json};
use webex_server::store::meetings::SpaceKey;
use webex_server::testing::TestServer;

use super::support::http;
use crate::support::locus::{call, user};

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

#[tokio::test]
async fn lookups_create_nothing_and_joining_still_works() {
    let server = TestServer::start_with(|c| c.rate_limits.meeting_info = None)
        .await
        .unwrap();
    let base = server.base_url().to_owned();
    let bob = user(&server, "bob").await;
    let domain = bob.email.rsplit_once('@').unwrap().1.to_owned();
    // Of bob's org, never used meetings: by email and by person id.
    let frank = server
        .person(&format!("frank-{}@{domain}", uuid::Uuid::new_v4().simple()))
        .await
        .unwrap();
    let store = &server.server().state().store;
    let names = |n: usize| (0..n).map(|i| format!("unused-{i}"));

    const N: usize = 50;
    let mut statuses = Vec::new();
    for name in names(N) {
        let (s, info) = meeting_info(
            &base,
            &bob.token,
            json!({"sipUrl": format!("{name}@webex.localhost")}),
        )
        .await;
        assert_eq!(info["sipUrl"], format!("{name}@webex.localhost"), "{info}");
        assert_eq!(info["isPmr"], false, "{info}");
        assert!(
            info.get("meetingNumber").is_none(),
            "no number before the space: {info}"
        );
        statuses.push(s);
    }
    let (s, by_email) = meeting_info(&base, &bob.token, json!({"sipUrl": frank.email})).await;
    assert_eq!(s, 200, "{by_email}");
    let (s, by_id) = meeting_info(&base, &bob.token, json!({"userId": frank.id})).await;
    assert_eq!(s, 200, "{by_id}");
    assert_eq!(by_id["sipUrl"], by_email["sipUrl"]);
    assert_eq!(by_email["isPmr"], true, "{by_email}");
    assert_eq!(
        by_email["hostId"],
        frank.id.as_str(),
        "same org sees the host: {by_email}"
    );
    assert!(by_email.get("meetingNumber").is_none(), "{by_email}");
    // A reserved name that is not the caller's own room, a number nobody
    // has, a foreign address: not ours, as before.
    for body in [
        json!({"sipUrl": "someone.else.example@webex.localhost"}),
        json!({"meetingKey": "1234567890"}),
        json!({"sipUrl": "nobody@elsewhere.example"}),
    ] {
        let (s, info) = meeting_info(&base, &bob.token, body.clone()).await;
        assert_eq!(s, 404, "{body} → {info}");
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Nothing was stored.
    for name in names(N) {
        assert!(
            store.space(SpaceKey::Name(&name)).await.unwrap().is_none(),
            "looking up {name} created it"
        );
    }
    assert!(
        store
            .space(SpaceKey::Owner(&frank.id))
            .await
            .unwrap()
            .is_none(),
        "looking frank up created his room"
    );
    let sip = by_email["sipUrl"].as_str().unwrap();
    let room = sip.split('@').next().unwrap();
    assert!(store.space(SpaceKey::Name(room)).await.unwrap().is_none());
    eprintln!(
        "{} meetingInfo lookups of unused addresses: 0 spaces created",
        N + 2
    );

    // Joining creates the space, at the address meetingInfo gave, which
    // then answers with its number and Locus.
    let first = format!("{}@webex.localhost", names(1).next().unwrap());
    let (s, joined) = call(&base, &bob, &first).await;
    assert_eq!(s, 200, "{joined}");
    assert_eq!(joined["locus"]["info"]["sipUri"], first.as_str());
    let (s, info) = meeting_info(&base, &bob.token, json!({"sipUrl": first})).await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["sipUrl"], first.as_str());
    assert_eq!(info["locusUrl"], joined["locus"]["url"], "{info}");
    let number = info["meetingNumber"].as_str().unwrap().to_owned();
    assert_eq!(joined["locus"]["info"]["webExMeetingId"], number.as_str());
    let (s, by_number) = meeting_info(&base, &bob.token, json!({"meetingKey": number})).await;
    assert_eq!((s, &by_number["sipUrl"]), (200, &info["sipUrl"]));

    // Frank's room, joined by the email bob looked up: the same sipUrl.
    let frank_token = server.token_for(&frank.email).await.unwrap();
    let frank_device = crate::support::mercury::register_device(&base, &frank_token).await;
    let frank_user = crate::support::locus::User {
        email: frank.email.clone(),
        token: frank_token,
        device: frank_device,
    };
    let (s, joined) = call(&base, &frank_user, &frank.email).await;
    assert_eq!(s, 200, "{joined}");
    assert_eq!(joined["locus"]["info"]["sipUri"], by_email["sipUrl"]);
    let owned = store
        .space(SpaceKey::Owner(&frank.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        format!("{}@webex.localhost", owned.name),
        by_email["sipUrl"].as_str().unwrap()
    );
    server.shutdown().await;
}
