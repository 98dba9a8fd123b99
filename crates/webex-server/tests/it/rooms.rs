//! Meeting rooms have owners (issue 20): who hosts, the lobby with admit,
//! the lock, removal as a kick, and devices that go away leaving their
//! meetings. Over HTTP and Mercury as the official SDK uses them, on SQLite
//! and (with `WEBEX_TEST_DATABASE_URL`) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use webex_server::store::NewPerson;
use webex_server::testing::TestServer;
use webex_wire::people::PersonType;

use crate::support::locus::*;
use crate::support::*;

/// A person of the org `org` (an email domain) with a token and a device.
async fn member(server: &TestServer, name: &str, org: &str) -> User {
    let email = format!("{name}-{}@{org}", uuid::Uuid::new_v4().simple());
    let token = server.token_for(&email).await.unwrap();
    let device = register_device(server.base_url(), &token).await;
    User {
        email,
        token,
        device,
    }
}

/// A guest (person type `appuser`) in alice's org.
async fn guest(server: &TestServer, name: &str) -> User {
    let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
    server
        .server()
        .state()
        .store
        .upsert_person(&NewPerson {
            email: email.clone(),
            display_name: name.into(),
            kind: PersonType::Appuser,
            org_name: "example.com".into(),
        })
        .await
        .unwrap();
    let token = server.token_for(&email).await.unwrap();
    let device = register_device(server.base_url(), &token).await;
    User {
        email,
        token,
        device,
    }
}

/// A device registered with a TTL (it expires).
async fn ephemeral_device(base: &str, token: &str) -> Device {
    let mut body = device_body("ephemeral");
    body["ttl"] = json!(3600);
    let res = http()
        .post(format!("{base}/wdm/api/v1/devices"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "register: {}", res.status());
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    Device {
        id: url.rsplit('/').next().unwrap().to_owned(),
        url,
        ws_url: body["webSocketUrl"].as_str().unwrap().to_owned(),
    }
}

async fn person_id(server: &TestServer, u: &User) -> String {
    server.person(&u.email).await.unwrap().id
}

/// The SIP address of `u`'s personal room.
async fn room_of(base: &str, asker: &User, owner: &User) -> String {
    let (s, info) = send(
        http()
            .post(format!("{base}/wbxappapi/v1/meetingInfo"))
            .bearer_auth(&asker.token)
            .json(&json!({"sipUrl": owner.email})),
    )
    .await;
    assert_eq!(s, 200, "{info}");
    info["sipUrl"].as_str().unwrap().to_owned()
}

async fn end(url: &str, u: &User) -> (u16, Value) {
    send(
        http()
            .post(format!("{url}/end"))
            .bearer_auth(&u.token)
            .json(&json!({})),
    )
    .await
}

async fn admit(url: &str, u: &User, ids: Value) -> (u16, Value) {
    send(
        http()
            .put(format!("{url}/controls"))
            .bearer_auth(&u.token)
            .json(
                &json!({"authorizingLocusUrl": url, "admit": {"participantIds": ids},
                "sequence": {"entries": [1], "rangeStart": 0, "rangeEnd": 0}}),
            ),
    )
    .await
}

async fn lock(url: &str, u: &User, locked: bool) -> (u16, Value) {
    send(
        http()
            .patch(format!("{url}/controls"))
            .bearer_auth(&u.token)
            .json(&json!({"lock": {"locked": locked}})),
    )
    .await
}

async fn remove(url: &str, u: &User, pid: &str) -> (u16, Value) {
    send(
        http()
            .put(format!("{url}/participant/{pid}/leave"))
            .bearer_auth(&u.token)
            .json(&json!({"reason": "FORCED"})),
    )
    .await
}

fn error_code(body: &Value) -> u64 {
    body["errorCode"].as_u64().unwrap_or_default()
}

fn url_of(joined: &Value) -> String {
    joined["locus"]["url"].as_str().unwrap().to_owned()
}

fn pid_of(joined: &Value) -> String {
    joined["locus"]["self"]["id"].as_str().unwrap().to_owned()
}

/// Whether `locus` shows `p` as the official SDK's lobby: IDLE, device IDLE
/// with intent WAIT.
fn in_lobby(p: &Value) -> bool {
    p["state"] == "IDLE"
        && p["devices"][0]["state"] == "IDLE"
        && p["devices"][0]["intent"]["type"] == "WAIT"
}

/// The next `locus.*` event's `data` on `ws`, or `None` within `wait`.
async fn next_locus_within(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        if let Ok(Message::Text(t)) = msg {
            let frame: Value = serde_json::from_str(&t).unwrap();
            let kind = frame["data"]["eventType"].as_str().unwrap_or_default();
            if kind.starts_with("locus.") {
                return Some(frame["data"].clone());
            }
        }
    }
}

async fn next_locus(ws: &mut Ws) -> Value {
    next_locus_within(ws, GUARD).await.expect("no locus event")
}

/// The first Locus event that `wanted` accepts, skipping the ones before it:
/// events of requests made before the socket was open may still be on their
/// way through the bus when it connects.
async fn locus_event_where(ws: &mut Ws, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let event = next_locus(ws).await;
        if wanted(&event) {
            return event;
        }
    }
}

on_every_backend!(
    a_personal_room_is_hosted_by_its_owner_who_must_be_in_it,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let (a, b) = (
            member(server, "alice", "example.com").await,
            member(server, "bob", "example.com").await,
        );
        let a_id = person_id(server, &a).await;
        let sip = room_of(&base, &b, &a).await;
        // bob (same org) joins alice's room first: he is in, alice hosts.
        let (s, joined) = call(&base, &b, &sip).await;
        assert_eq!(s, 200, "{joined}");
        assert_eq!(joined["locus"]["self"]["state"], "JOINED");
        assert_eq!(joined["locus"]["host"]["id"], a_id.as_str());
        assert_eq!(joined["locus"]["self"]["moderator"], false);
        let url = url_of(&joined);
        let b_pid = pid_of(&joined);
        let (s, e) = end(&url, &b).await;
        assert_eq!((s, error_code(&e)), (403, 2_403_011), "{e}");
        // alice joins; a host may remove, but not while away.
        let (s, joined) = join(&url, &a).await;
        assert_eq!(s, 200, "{joined}");
        assert_eq!(joined["locus"]["self"]["moderator"], true);
        let a_pid = pid_of(&joined);
        let (s, e) = remove(&url, &b, &a_pid).await;
        assert_eq!(s, 403, "{e}");
        let (s, _) = leave(&url, &a, &a_pid).await;
        assert_eq!(s, 200);
        let (s, e) = end(&url, &a).await;
        assert_eq!(
            (s, error_code(&e)),
            (403, 2_403_011),
            "a host who left: {e}"
        );
        let (s, e) = remove(&url, &a, &b_pid).await;
        assert_eq!((s, error_code(&e)), (403, 2_403_011), "{e}");
        let (s, e) = lock(&url, &a, true).await;
        assert_eq!((s, error_code(&e)), (403, 2_403_011), "{e}");
        // The meeting goes on without her, and nobody else got her powers.
        let (s, doc) = get(&url, &b).await;
        assert_eq!(s, 200);
        assert_eq!(doc["fullState"]["state"], "ACTIVE");
        assert_eq!(doc["host"]["id"], a_id.as_str());
        let (s, _) = end(&url, &b).await;
        assert_eq!(s, 403);
        // Back in, she ends it.
        let (s, _) = join(&url, &a).await;
        assert_eq!(s, 200);
        let (s, ended) = end(&url, &a).await;
        assert_eq!(s, 202, "{ended}");

        // A space made by joining is its creator's, whoever comes first next.
        let space = format!("team-{}@webex.localhost", uuid::Uuid::new_v4().simple());
        let (_, made) = call(&base, &b, &space).await;
        let b_id = person_id(server, &b).await;
        assert_eq!(made["locus"]["host"]["id"], b_id.as_str());
        let (s, _) = end(&url_of(&made), &b).await;
        assert_eq!(s, 202);
        let (_, again) = call(&base, &a, &space).await;
        assert_eq!(again["locus"]["host"]["id"], b_id.as_str());
        assert_eq!(again["locus"]["self"]["moderator"], false);
        Ok(())
    }
);

on_every_backend!(
    guests_and_other_orgs_never_host_and_wait_in_the_lobby,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let a = member(server, "alice", "example.com").await;
        let m = member(server, "mallory", "other.example").await;
        let g = guest(server, "gus").await;
        let a_id = person_id(server, &a).await;
        let sip = room_of(&base, &a, &a).await;
        // Both get there before alice: they wait, and alice hosts.
        for u in [&m, &g] {
            let (s, joined) = call(&base, u, &sip).await;
            assert_eq!(s, 200, "{joined}");
            let locus = &joined["locus"];
            assert!(in_lobby(&locus["self"]), "{locus}");
            assert_eq!(locus["host"]["id"], a_id.as_str());
            assert_eq!(locus["participants"].as_array().unwrap().len(), 1);
            let url = url_of(&joined);
            let (s, e) = end(&url, u).await;
            assert_eq!(s, 403, "{e}");
            let (s, e) = admit(&url, u, json!([pid_of(&joined)])).await;
            assert_eq!((s, error_code(&e)), (403, 2_403_011), "{e}");
        }
        Ok(())
    }
);

on_every_backend!(
    the_lobby_shows_nothing_until_the_joined_host_admits,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let a = member(server, "alice", "example.com").await;
        let c = member(server, "carol", "example.com").await;
        let m = member(server, "mallory", "other.example").await;
        let sip = room_of(&base, &a, &a).await;
        let mut a_ws = connect(&a.device, &a.token, false).await;
        let mut m_ws = connect(&m.device, &m.token, false).await;
        let (_, joined) = call(&base, &a, &sip).await;
        let url = url_of(&joined);
        next_locus(&mut a_ws).await;

        let (s, waiting) = call(&base, &m, &sip).await;
        assert_eq!(s, 200, "{waiting}");
        let lobby = &waiting["locus"];
        assert!(in_lobby(&lobby["self"]), "{lobby}");
        assert_eq!(lobby["self"]["devices"][0]["intents"][0]["type"], "WAIT");
        assert_eq!(lobby["info"]["displayHints"]["joined"], json!([]));
        assert!(lobby["info"].get("datachannelUrl").is_none());
        assert_eq!(lobby["participants"].as_array().unwrap().len(), 1);
        assert!(lobby["host"].get("email").is_none(), "{lobby}");
        let m_pid = pid_of(&waiting);
        // alice sees mallory waiting, in the shape the SDK needs.
        let seen = next_locus(&mut a_ws).await;
        assert!(in_lobby(participant(&seen["locus"], &m.email)), "{seen}");
        let (_, doc) = get(&url, &a).await;
        let hints = &doc["info"]["displayHints"];
        assert!(
            hints["moderator"]
                .to_string()
                .contains("ROSTER_WAITING_TO_JOIN")
        );
        // mallory reads only herself, and hears nothing of carol joining.
        let mine = next_locus(&mut m_ws).await;
        assert!(in_lobby(&mine["locus"]["self"]), "{mine}");
        let (s, doc) = get(&url, &m).await;
        assert_eq!(s, 200);
        assert_eq!(doc["participants"].as_array().unwrap().len(), 1, "{doc}");
        // Her meetings list it (a sync keeps her waiting meeting), as she sees it.
        let (_, loci) = get(&format!("{base}/locus/api/v1/loci"), &m).await;
        assert_eq!(loci["loci"].as_array().unwrap().len(), 1, "{loci}");
        assert_eq!(loci["loci"][0]["participants"].as_array().unwrap().len(), 1);
        assert!(in_lobby(&loci["loci"][0]["self"]), "{loci}");
        let (s, _) = join(&url, &c).await;
        assert_eq!(s, 200);
        assert!(
            next_locus_within(&mut m_ws, Duration::from_millis(500))
                .await
                .is_none(),
            "a lobby member heard of someone else"
        );
        // An unknown id is refused; alice admits mallory by a plain string.
        let (s, _) = admit(&url, &a, json!(["nope"])).await;
        assert_eq!(s, 403);
        let (s, admitted) = admit(&url, &a, json!(m_pid)).await;
        assert_eq!(s, 200, "{admitted}");
        assert_eq!(participant(&admitted["locus"], &m.email)["state"], "JOINED");
        let event = next_locus(&mut m_ws).await;
        let me = &event["locus"]["self"];
        assert_eq!(me["state"], "JOINED", "{event}");
        assert!(me["devices"][0].get("intent").is_none(), "{event}");
        assert_eq!(event["locus"]["participants"].as_array().unwrap().len(), 3);
        assert!(event["locus"]["info"]["datachannelUrl"].is_string());
        assert_ne!(
            event["locus"]["info"]["displayHints"]["joined"],
            json!([]),
            "the admitted viewer's info must differ from the lobby's"
        );
        // The data channel registration an admitted SDK makes.
        let dc = event["locus"]["info"]["datachannelUrl"].as_str().unwrap();
        let (s, reg) = send(
            http()
                .post(dc)
                .bearer_auth(&m.token)
                .json(&json!({"deviceUrl": m.device.url})),
        )
        .await;
        assert_eq!(s, 200, "{reg}");
        // Its socket speaks enough Mercury for the SDK's data channel.
        let mut dc_ws = open(reg["webSocketUrl"].as_str().unwrap(), true).await;
        send_auth(&mut dc_ws, &m.token).await;
        let hello = next_json(&mut dc_ws).await;
        assert_eq!(
            hello["data"]["eventType"], "mercury.buffer_state",
            "{hello}"
        );
        send_json(&mut dc_ws, json!({"id": "p1", "type": "ping"})).await;
        let pong = next_json(&mut dc_ws).await;
        assert_eq!((&pong["type"], &pong["id"]), (&json!("pong"), &json!("p1")));
        // Someone not in the meeting is turned away.
        let (s, _) = send(http().post(dc).bearer_auth(&c.token).json(&json!({}))).await;
        assert_eq!(s, 200, "carol is in");
        let outsider = member(server, "olga", "other.example").await;
        let (s, _) = send(
            http()
                .post(dc)
                .bearer_auth(&outsider.token)
                .json(&json!({})),
        )
        .await;
        assert_eq!(s, 403);
        Ok(())
    }
);

on_every_backend!(
    a_locked_room_makes_everyone_but_the_host_wait,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let a = member(server, "alice", "example.com").await;
        let c = member(server, "carol", "example.com").await;
        let sip = room_of(&base, &a, &a).await;
        let (_, joined) = call(&base, &a, &sip).await;
        let url = url_of(&joined);
        let hints = &joined["locus"]["info"]["displayHints"];
        assert!(hints["joined"].to_string().contains("LOCK_STATUS_UNLOCKED"));
        assert!(hints["moderator"].to_string().contains("LOCK_CONTROL_LOCK"));
        let (s, locked) = lock(&url, &a, true).await;
        assert_eq!(s, 200, "{locked}");
        let l = &locked["locus"];
        assert_eq!(l["fullState"]["locked"], true);
        assert_eq!(l["controls"]["lock"]["locked"], true);
        assert!(
            l["info"]["displayHints"]["joined"]
                .to_string()
                .contains("LOCK_STATUS_LOCKED")
        );
        assert!(
            l["info"]["displayHints"]["moderator"]
                .to_string()
                .contains("LOCK_CONTROL_UNLOCK")
        );
        // carol, of alice's own org, waits while it is locked.
        let (s, waiting) = call(&base, &c, &sip).await;
        assert_eq!(s, 200);
        assert!(in_lobby(&waiting["locus"]["self"]), "{waiting}");
        let (s, unlocked) = lock(&url, &a, false).await;
        assert_eq!(s, 200);
        assert_eq!(unlocked["locus"]["fullState"]["locked"], false);
        // Unlocking lets nobody in by itself.
        assert!(in_lobby(participant(&unlocked["locus"], &c.email)));
        Ok(())
    }
);

on_every_backend!(
    removal_is_a_kick_and_rejoining_waits_in_the_lobby,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let a = member(server, "alice", "example.com").await;
        let b = member(server, "bob", "example.com").await;
        let c = member(server, "carol", "example.com").await;
        let sip = room_of(&base, &a, &a).await;
        let (_, joined) = call(&base, &a, &sip).await;
        let url = url_of(&joined);
        let mut b_ws = connect(&b.device, &b.token, false).await;
        let (_, joined) = join(&url, &b).await;
        let b_pid = pid_of(&joined);
        let (s, after) = remove(&url, &a, &b_pid).await;
        assert_eq!(s, 200, "{after}");
        assert_eq!(participant(&after["locus"], &b.email)["state"], "LEFT");
        // bob hears his removal, as the SDK needs it, and nothing after.
        let kicked =
            locus_event_where(&mut b_ws, |e| e["locus"]["self"]["state"] != "JOINED").await;
        assert_eq!(kicked["locus"]["self"]["removed"], true, "{kicked}");
        assert_eq!(kicked["locus"]["self"]["reason"], "FORCED");
        assert_eq!(kicked["locus"]["participants"].as_array().unwrap().len(), 1);
        let (s, _) = join(&url, &c).await;
        assert_eq!(s, 200);
        assert!(
            next_locus_within(&mut b_ws, Duration::from_millis(500))
                .await
                .is_none(),
            "a removed participant still hears the meeting"
        );
        let (s, e) = get(&url, &b).await;
        assert_eq!((s, error_code(&e)), (403, 2_403_014), "{e}");
        // Rejoining sends him to the lobby.
        let (s, back) = join(&url, &b).await;
        assert_eq!(s, 200, "{back}");
        assert!(in_lobby(&back["locus"]["self"]), "{back}");
        assert_eq!(back["locus"]["self"]["removed"], false);
        let (s, _) = admit(&url, &a, json!([b_pid])).await;
        assert_eq!(s, 200);
        let (_, doc) = get(&url, &b).await;
        assert_eq!(doc["self"]["state"], "JOINED");
        Ok(())
    }
);

on_every_backend!(
    deleted_and_expired_devices_leave_and_the_meeting_ends,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let mut a = member(server, "alice", "example.com").await;
        a.device = ephemeral_device(&base, &a.token).await;
        let b = member(server, "bob", "example.com").await;
        let space = format!("gone-{}@webex.localhost", uuid::Uuid::new_v4().simple());
        let (_, joined) = call(&base, &a, &space).await;
        let url = url_of(&joined);
        let mut a_ws = connect(&a.device, &a.token, false).await;
        let (s, _) = join(&url, &b).await;
        assert_eq!(s, 200);
        // bob deletes his device: he leaves, and alice hears it.
        let res = http()
            .delete(&b.device.url)
            .bearer_auth(&b.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204);
        let event = locus_event_where(&mut a_ws, |e| {
            e["locus"]["participants"].as_array().is_some_and(|all| {
                all.iter()
                    .any(|p| p["person"]["email"] == b.email.as_str() && p["state"] != "JOINED")
            })
        })
        .await;
        assert_eq!(
            participant(&event["locus"], &b.email)["state"],
            "LEFT",
            "{event}"
        );
        // alice's device is ephemeral and expires (the sweeper runs with a
        // later clock).
        let later = webex_server::time::now_millis() + 400 * 24 * 3600 * 1000;
        webex_server::devices::sweep_expired(server.server().state(), later)
            .await
            .unwrap();
        let (_, doc) = get(&url, &a).await;
        assert_eq!(participant(&doc, &a.email)["state"], "LEFT", "{doc}");
        assert_eq!(doc["fullState"]["count"], 0);
        // Empty now: it ends after the idle grace (1 s in these servers).
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let (_, doc) = get(&url, &a).await;
            if doc["fullState"]["state"] == "INACTIVE" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never ended");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    },
    |c| c.locus_idle_grace = Duration::from_secs(1)
);

on_every_backend!(
    what_joiners_show_others_is_plain_and_caps_hold,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let a = member(server, "alice", "example.com").await;
        let room = format!("caps-{}@webex.localhost", uuid::Uuid::new_v4().simple());
        let (_, joined) = call(&base, &a, &room).await;
        let url = url_of(&joined);
        let b = member(server, "bob", "example.com").await;
        for (field, value) in [
            ("correlationId", json!("x\u{202E}gpj.exe")),
            ("correlationId", json!("<img src=x onerror=alert(1)>")),
            ("correlationId", json!("c".repeat(129))),
        ] {
            let mut body = join_body(&b, None);
            body[field] = value;
            let (s, e) = send(
                http()
                    .post(format!("{url}/participant"))
                    .bearer_auth(&b.token)
                    .json(&body),
            )
            .await;
            assert_eq!(s, 400, "{field}: {e}");
        }
        let mut body = join_body(&b, None);
        body["device"]["deviceType"] = json!("WEB<script>");
        let (s, e) = send(
            http()
                .post(format!("{url}/participant"))
                .bearer_auth(&b.token)
                .json(&body),
        )
        .await;
        assert_eq!(s, 400, "{e}");

        // At most 10 devices of one participant in a meeting at once.
        let token = &b.token;
        for i in 0..=webex_server::locus::rules::MAX_PRESENT_DEVICES {
            let mut extra = User {
                email: b.email.clone(),
                token: token.clone(),
                device: register_device(&base, token).await,
            };
            if i == 0 {
                extra.device = b.device.clone();
            }
            let (s, e) = join(&url, &extra).await;
            if i < webex_server::locus::rules::MAX_PRESENT_DEVICES {
                assert_eq!(s, 200, "device {i}: {e}");
            } else {
                assert_eq!((s, error_code(&e)), (409, 2_409_003), "{e}");
                assert!(
                    e["message"]
                        .as_str()
                        .unwrap()
                        .contains("at most 10 devices"),
                    "{e}"
                );
            }
        }

        // At most 16 meetings of one person at once.
        let max = webex_server::locus::service::MAX_MEETINGS_PER_PERSON;
        for i in 1..=max {
            let room = format!("many-{i}-{}@webex.localhost", uuid::Uuid::new_v4().simple());
            let (s, e) = call(&base, &a, &room).await;
            if i < max {
                assert_eq!(s, 200, "meeting {i}: {e}");
            } else {
                assert_eq!((s, error_code(&e)), (409, 2_409_003), "{e}");
                assert!(
                    e["message"]
                        .as_str()
                        .unwrap()
                        .contains("at most 16 meetings"),
                    "{e}"
                );
            }
        }
        Ok(())
    }
);

on_every_backend!(
    personal_room_addresses_are_reserved_for_their_owners,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let eve = member(server, "eve", "example.com").await;
        let frank = member(server, "frank", "example.com").await;
        let frank_id = person_id(server, &frank).await;
        // frank has not used meetings yet: his address names his room to
        // be (as his email does; looking it up creates nothing) and eve
        // cannot take it: calling it makes frank's room, which he hosts.
        let name = frank.email.replace('@', ".");
        let address = format!("{name}@webex.localhost");
        let (s, info) = send(
            http()
                .post(format!("{base}/wbxappapi/v1/meetingInfo"))
                .bearer_auth(&eve.token)
                .json(&json!({"sipUrl": address})),
        )
        .await;
        assert_eq!((s, &info["isPmr"]), (200, &json!(true)), "{info}");
        assert_eq!(info["hostId"], frank_id.as_str(), "{info}");
        let (s, joined) = call(&base, &eve, &address).await;
        assert_eq!(s, 200, "{joined}");
        assert_eq!(joined["locus"]["info"]["sipUri"], address.as_str());
        assert_eq!(joined["locus"]["info"]["owner"], frank_id.as_str());
        assert_eq!(joined["locus"]["host"]["id"], frank_id.as_str());
        assert_eq!(joined["locus"]["self"]["moderator"], false);
        // A name reserved for personal rooms that is nobody's: not ours.
        let (s, e) = call(&base, &eve, "nobody.example.com@webex.localhost").await;
        assert_eq!((s, error_code(&e)), (404, 2_404_001), "{e}");
        // frank calling it lands in his own room, which he hosts.
        let (s, joined) = call(&base, &frank, &address).await;
        assert_eq!(s, 200, "{joined}");
        assert_eq!(joined["locus"]["info"]["sipUri"], address.as_str());
        assert_eq!(joined["locus"]["host"]["id"], frank_id.as_str());
        assert_eq!(joined["locus"]["self"]["moderator"], true);
        assert_eq!(room_of(&base, &eve, &frank).await, address);
        Ok(())
    }
);

on_every_backend!(
    a_device_removed_behind_the_servers_back_leaves_on_the_next_sweep,
    async |server: &TestServer| -> Result<()> {
        let base = server.base_url().to_owned();
        let a = member(server, "alice", "example.com").await;
        let b = member(server, "bob", "example.com").await;
        let room = format!("orphan-{}@webex.localhost", uuid::Uuid::new_v4().simple());
        let (_, joined) = call(&base, &a, &room).await;
        let url = url_of(&joined);
        let (s, _) = join(&url, &b).await;
        assert_eq!(s, 200);
        // As if the node stopped between deleting the device and leaving.
        let store = &server.server().state().store;
        let bob_id = person_id(server, &b).await;
        store.delete_device(&b.device.id, &bob_id).await?;
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let (_, doc) = get(&url, &a).await;
            if participant(&doc, &b.email)["state"] == "LEFT" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "bob never left: {doc}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    },
    |c| c.locus_idle_grace = Duration::from_millis(600)
);
