//! Meetings (Locus) end to end: create/join/leave/end over HTTP with real
//! tokens and devices, the access rules, the idle grace period, and
//! convergence of the roster seen through Mercury events (applied as the
//! official SDK applies them) with `GET {locusUrl}`, on SQLite, PostgreSQL
//! and two nodes sharing PostgreSQL and Redis.
//!
//! The PostgreSQL cases need `WEBEX_TEST_DATABASE_URL` (and the two-node
//! case `WEBEX_TEST_REDIS_URL`); they are skipped otherwise, and fail under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::locus::*;
use crate::support::*;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use webex_server::testing::{ADMIN_TOKEN, TestServer};

async fn meeting_info(base: &str, u: &User, body: Value) -> (u16, Value) {
    send(
        http()
            .post(format!("{base}/wbxappapi/v1/meetingInfo"))
            .bearer_auth(&u.token)
            .json(&body),
    )
    .await
}

fn assert_error(status: u16, body: &Value, want: u16, error_code: Option<u64>) {
    assert_eq!(status, want, "{body}");
    assert!(body["message"].is_string(), "JSON error body: {body}");
    assert!(body["trackingId"].is_string(), "{body}");
    if let Some(code) = error_code {
        assert_eq!(body["errorCode"], code, "{body}");
    }
}

#[tokio::test]
async fn create_join_leave_end() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url().to_owned();
    let (a, b) = (user(&server, "alice").await, user(&server, "bob").await);

    // A's personal room, by email: known, not in progress.
    let (s, info) = meeting_info(
        &base,
        &a,
        json!({"sipUrl": a.email, "supportHostKey": true}),
    )
    .await;
    assert_eq!(s, 200, "{info}");
    let sip = info["sipUrl"].as_str().unwrap().to_owned();
    assert!(sip.ends_with("@webex.localhost"), "{sip}");
    // Not made yet (a lookup creates nothing), so no number either.
    assert!(info.get("meetingNumber").is_none(), "{info}");
    assert!(info.get("locusUrl").is_none(), "{info}");
    assert!(info.get("locusClusterUrl").is_none(), "{info}");
    // A JWT the join by address needs.
    assert_eq!(
        info["permissionToken"]
            .as_str()
            .map(|t| t.split('.').count()),
        Some(3),
        "{info}"
    );
    // The same room by join link.
    let (s, by_link) = meeting_info(&base, &b, json!({"meetingUrl": info["meetingJoinUrl"]})).await;
    assert_eq!((s, &by_link["sipUrl"]), (200, &info["sipUrl"]));

    // A starts it by calling the address.
    let (s, joined) = call(&base, &a, &sip).await;
    assert_eq!(s, 200, "{joined}");
    assert_eq!(
        joined["mediaConnections"][0]["mediaId"]
            .as_str()
            .map(str::len),
        Some(36),
        "{joined}"
    );
    let locus = &joined["locus"];
    let url = locus["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{base}/locus/api/v1/loci/")),
        "{url}"
    );
    assert_eq!(locus["fullState"]["state"], "ACTIVE");
    assert_eq!(locus["fullState"]["type"], "MEETING");
    assert_eq!(locus["sequence"]["rangeStart"], 0);
    assert_eq!(locus["info"]["sipUri"], sip.as_str());
    assert_eq!(locus["self"]["state"], "JOINED");
    assert_eq!(locus["self"]["status"], json!({}));
    assert_eq!(locus["self"]["devices"][0]["url"], a.device.url.as_str());
    assert_eq!(locus["self"]["devices"][0]["state"], "JOINED");
    assert_eq!(locus["host"]["id"], locus["self"]["person"]["id"]);
    let a_pid = locus["self"]["id"].as_str().unwrap().to_owned();
    let first_seq = seq(locus);

    // meetingInfo now names the Locus and the room's number, by which the
    // room is found too; B joins it there.
    let (_, info) = meeting_info(&base, &b, json!({"sipUrl": sip})).await;
    assert_eq!(info["locusUrl"], url.as_str());
    assert!(
        info["meetingNumber"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|c| c.is_ascii_digit())
    );
    let (s, by_number) =
        meeting_info(&base, &b, json!({"meetingKey": info["meetingNumber"]})).await;
    assert_eq!((s, &by_number["sipUrl"]), (200, &info["sipUrl"]));
    let (s, joined) = join(&url, &b).await;
    assert_eq!(s, 200, "{joined}");
    let b_pid = joined["locus"]["self"]["id"].as_str().unwrap().to_owned();
    assert_ne!(a_pid, b_pid);
    assert_eq!(joined["locus"]["participants"].as_array().unwrap().len(), 2);
    assert!(seq(&joined["locus"]) > first_seq);

    // Joining again from the same device changes nothing.
    let (s, again) = join(&url, &b).await;
    assert_eq!(s, 200);
    assert_eq!(seq(&again["locus"]), seq(&joined["locus"]));
    // Calling the address lands in the same Locus.
    let (s, again) = call(&base, &b, &sip).await;
    assert_eq!(
        (s, again["locus"]["url"].as_str()),
        (200, Some(url.as_str()))
    );

    // Both see it in their meetings.
    let (s, loci) = get(&format!("{base}/locus/api/v1/loci"), &b).await;
    assert_eq!(s, 200);
    assert_eq!(loci["loci"].as_array().unwrap().len(), 1, "{loci}");
    assert_eq!(loci["loci"][0]["self"]["id"], b_pid.as_str());

    // B leaves; leaving again is refused.
    let (s, left) = leave(&url, &b, &b_pid).await;
    assert_eq!(s, 200, "{left}");
    assert_eq!(left["locus"]["self"]["state"], "LEFT");
    assert_eq!(left["locus"]["self"]["devices"][0]["state"], "LEFT");
    assert_eq!(participant(&left["locus"], &b.email)["state"], "LEFT");
    let (s, again) = leave(&url, &b, &b_pid).await;
    assert_error(s, &again, 409, Some(2_409_002));
    let (_, loci) = get(&format!("{base}/locus/api/v1/loci"), &b).await;
    assert_eq!(loci["loci"], json!([]));
    // B still reads the Locus (a participant who left).
    let (s, doc) = get(&url, &b).await;
    assert_eq!((s, &doc["self"]["state"]), (200, &json!("LEFT")));

    // Only the host ends it.
    let (s, e) = send(
        http()
            .post(format!("{url}/end"))
            .bearer_auth(&b.token)
            .json(&json!({})),
    )
    .await;
    assert_error(s, &e, 403, Some(2_403_011));
    let (s, ended) = send(
        http()
            .post(format!("{url}/end"))
            .bearer_auth(&a.token)
            .json(&json!({"sequence": {"entries": [1], "rangeStart": 0, "rangeEnd": 0}})),
    )
    .await;
    // 202 without a body, as the cloud answers; the document says INACTIVE.
    assert_eq!((s, &ended), (202, &Value::Null));
    let (_, doc) = get(&url, &a).await;
    assert_eq!(doc["fullState"]["state"], "INACTIVE");
    assert_eq!(doc["fullState"]["active"], false);
    let (_, loci) = get(&format!("{base}/locus/api/v1/loci"), &a).await;
    assert_eq!(loci["loci"], json!([]));
    // Ended: readable by id, not joinable, not in meetingInfo.
    let (s, doc) = get(&url, &a).await;
    assert_eq!((s, &doc["fullState"]["state"]), (200, &json!("INACTIVE")));
    let (s, e) = join(&url, &b).await;
    assert_error(s, &e, 409, Some(2_409_001));
    let (_, info) = meeting_info(&base, &a, json!({"sipUrl": sip})).await;
    assert!(info.get("locusUrl").is_none(), "{info}");
    // Calling the address again starts a new Locus, still hosted by A
    // (the room's owner), although B got there first.
    let (s, fresh) = call(&base, &b, &sip).await;
    assert_eq!(s, 200);
    assert_ne!(fresh["locus"]["url"], url.as_str());
    assert_eq!(fresh["locus"]["host"]["id"], locus["self"]["person"]["id"]);
    server.shutdown().await;
}

#[tokio::test]
async fn access_rules_and_bad_input() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url().to_owned();
    let (a, b, c) = (
        user(&server, "alice").await,
        user(&server, "bob").await,
        user(&server, "carol").await,
    );
    let (s, joined) = call(&base, &a, "standup@webex.localhost").await;
    assert_eq!(s, 200, "{joined}");
    let url = joined["locus"]["url"].as_str().unwrap().to_owned();
    let a_pid = joined["locus"]["self"]["id"].as_str().unwrap().to_owned();
    let (_, joined) = join(&url, &b).await;
    let b_pid = joined["locus"]["self"]["id"].as_str().unwrap().to_owned();

    // A non-participant can neither read, leave nor end it.
    let (s, e) = get(&url, &c).await;
    assert_error(s, &e, 403, Some(2_403_010));
    let (s, e) = leave(&url, &c, &a_pid).await;
    assert_error(s, &e, 403, Some(2_403_010));
    let (s, e) = send(http().post(format!("{url}/end")).bearer_auth(&c.token)).await;
    assert_error(s, &e, 403, Some(2_403_010));
    // A participant cannot make another leave (only the host can).
    let (s, e) = leave(&url, &b, &a_pid).await;
    assert_error(s, &e, 403, Some(2_403_013));
    // Someone else's device, or no device of this server, is refused.
    let mut body = join_body(&c, None);
    body["device"]["url"] = json!(a.device.url);
    let (s, e) = send(
        http()
            .post(format!("{url}/participant"))
            .bearer_auth(&c.token)
            .json(&body),
    )
    .await;
    assert_error(s, &e, 403, Some(2_403_012));
    body["device"]["url"] = json!("https://elsewhere.example/wdm/api/v1/devices/x");
    let (s, e) = send(
        http()
            .post(format!("{url}/participant"))
            .bearer_auth(&c.token)
            .json(&body),
    )
    .await;
    assert_error(s, &e, 403, Some(2_403_012));
    // Malformed bodies.
    let (s, e) = send(
        http()
            .post(format!("{url}/participant"))
            .bearer_auth(&c.token)
            .header("content-type", "application/json")
            .body("{nope"),
    )
    .await;
    assert_error(s, &e, 400, None);
    let (s, e) = send(
        http()
            .post(format!("{url}/participant"))
            .bearer_auth(&c.token)
            .json(&json!({"device": 5})),
    )
    .await;
    assert_error(s, &e, 400, None);
    let (s, e) = send(
        http()
            .post(format!("{base}/locus/api/v1/loci/call"))
            .bearer_auth(&c.token)
            .json(&join_body(&c, None)),
    )
    .await;
    assert_error(s, &e, 400, None);
    let (s, e) = send(
        http()
            .put(format!("{url}/participant/{b_pid}/leave"))
            .bearer_auth(&b.token)
            .header("content-type", "application/json")
            .body("[1,"),
    )
    .await;
    assert_error(s, &e, 400, None);
    // Addresses that are not ours.
    let (s, e) = call(&base, &c, "room@meet.example.org").await;
    assert_error(s, &e, 404, Some(2_404_001));
    let (s, e) = call(&base, &c, "https://elsewhere.example/meet/x").await;
    assert_error(s, &e, 404, Some(2_404_001));
    let (s, e) = meeting_info(&base, &c, json!({"sipUrl": "nobody@example.org"})).await;
    assert_error(s, &e, 404, None);
    let (s, e) = meeting_info(&base, &c, json!({"meetingKey": "99"})).await;
    assert_error(s, &e, 404, None);
    let (s, e) = meeting_info(&base, &c, json!({"locusId": url.rsplit('/').next()})).await;
    assert_error(s, &e, 404, None);
    let (s, e) = meeting_info(&base, &c, json!({})).await;
    assert_error(s, &e, 400, None);
    // Unknown Locus; no token.
    let (s, e) = get(&format!("{base}/locus/api/v1/loci/nope"), &a).await;
    assert_error(s, &e, 404, None);
    let (s, e) = send(http().get(&url)).await;
    assert_error(s, &e, 401, None);
    // The host may remove someone.
    let (s, left) = leave(&url, &a, &b_pid).await;
    assert_eq!(s, 200, "{left}");
    assert_eq!(participant(&left["locus"], &b.email)["state"], "LEFT");

    // Admin: list and end.
    let (s, list) = send(
        http()
            .get(format!("{base}/admin/api/v1/meetings"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(s, 200, "{list}");
    let m = list["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["locusUrl"] == url.as_str())
        .unwrap();
    assert_eq!(m["participants"].as_array().unwrap().len(), 2);
    let (s, e) = send(
        http()
            .get(format!("{base}/admin/api/v1/meetings"))
            .bearer_auth(&a.token),
    )
    .await;
    assert_error(s, &e, 401, None);
    let id = url.rsplit('/').next().unwrap();
    let (s, ended) = send(
        http()
            .post(format!("{base}/admin/api/v1/meetings/{id}/end"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(
        (s, &ended["locus"]["fullState"]["state"]),
        (200, &json!("INACTIVE"))
    );
    let (s, e) = send(
        http()
            .post(format!("{base}/admin/api/v1/meetings/{id}/end"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_error(s, &e, 409, Some(2_409_001));
    server.shutdown().await;
}

#[tokio::test]
async fn an_empty_meeting_ends_after_the_grace_period() {
    let server = TestServer::start_with(|c| c.locus_idle_grace = Duration::from_millis(300))
        .await
        .unwrap();
    let base = server.base_url().to_owned();
    let a = user(&server, "alice").await;
    let mut ws = connect(&a.device, &a.token, false).await;
    let (_, joined) = call(&base, &a, "quick@webex.localhost").await;
    let url = joined["locus"]["url"].as_str().unwrap().to_owned();
    let pid = joined["locus"]["self"]["id"].as_str().unwrap().to_owned();
    let (s, _) = leave(&url, &a, &pid).await;
    assert_eq!(s, 200);
    // The participant who left still hears that the meeting ended.
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let frame = next_json(&mut ws).await;
        if frame["data"]["locus"]["fullState"]["state"] == "INACTIVE" {
            assert_eq!(frame["data"]["locusUrl"], url.as_str());
            assert_eq!(frame["data"]["locus"]["self"]["state"], "LEFT");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "meeting did not end"
        );
    }
    let (_, doc) = get(&url, &a).await;
    assert_eq!(doc["fullState"]["state"], "INACTIVE");
    server.shutdown().await;
}

/// A client's copy of a Locus, updated the way the official SDK does
/// (`locus-info/parser.ts`): a full document replaces the copy when newer;
/// a delta applies when its base is not newer than the copy (participants
/// merged by id) and waits otherwise; a client stuck waiting resyncs with
/// `GET {locusUrl}`.
struct Replica {
    doc: Value,
    waiting: Vec<Value>,
}

impl Replica {
    fn new(doc: Value) -> Self {
        Self {
            doc,
            waiting: Vec::new(),
        }
    }

    fn seq(&self) -> u64 {
        seq(&self.doc)
    }

    fn apply(&mut self, event_type: &str, locus: Value) {
        if event_type == "locus.difference" && locus.get("baseSequence").is_some() {
            self.waiting.push(locus);
        } else if seq(&locus) > self.seq() {
            self.doc = locus;
        }
        // Apply whatever deltas have become applicable, in order.
        loop {
            let current = self.seq();
            self.waiting.retain(|d| seq(d) > current);
            let Some(i) = self
                .waiting
                .iter()
                .position(|d| last(&d["baseSequence"]) <= current)
            else {
                break;
            };
            let delta = self.waiting.remove(i);
            self.merge(delta);
        }
    }

    fn merge(&mut self, delta: Value) {
        let doc = self.doc.as_object_mut().unwrap();
        for (k, v) in delta.as_object().unwrap() {
            match k.as_str() {
                "participants" => {
                    let list = doc
                        .entry("participants")
                        .or_insert_with(|| json!([]))
                        .as_array_mut()
                        .unwrap();
                    for p in v.as_array().unwrap() {
                        match list.iter_mut().find(|q| q["id"] == p["id"]) {
                            Some(q) => *q = p.clone(),
                            None => list.push(p.clone()),
                        }
                    }
                }
                "baseSequence" => {}
                _ => {
                    doc.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

/// The parts of a document both sides must agree on, with each node's
/// base URL in `bases` replaced by one placeholder (two test nodes have two
/// addresses; a real deployment has one public URL).
fn essence(doc: &Value, bases: &[String]) -> Value {
    let mut participants: Vec<Value> = doc["participants"].as_array().unwrap().clone();
    participants.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));
    let v = json!({
        "url": doc["url"], "sequence": doc["sequence"], "state": doc["fullState"]["state"],
        "count": doc["fullState"]["count"], "host": doc["host"]["id"],
        "participants": participants, "self": doc["self"],
    });
    let mut text = v.to_string();
    for b in bases {
        text = text.replace(b.as_str(), "BASE");
    }
    serde_json::from_str(&text).unwrap()
}

/// The Locus id of a Locus URL.
fn locus_id(url: &Value) -> &str {
    url.as_str().unwrap().rsplit('/').next().unwrap()
}

/// Reads `ws`'s Locus events into `replica` until it reaches `target`
/// (`false` when the socket stays quiet for a while before that).
async fn follow(ws: &mut Ws, replica: &mut Replica, target: u64) -> bool {
    while replica.seq() < target {
        let msg = match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(m))) => m,
            _ => return false,
        };
        if let Message::Text(t) = msg {
            let frame: Value = serde_json::from_str(&t).unwrap();
            let data = &frame["data"];
            let event_type = data["eventType"].as_str().unwrap_or_default();
            if event_type.starts_with("locus.") {
                assert_eq!(
                    locus_id(&data["locusUrl"]),
                    locus_id(&replica.doc["url"]),
                    "{frame}"
                );
                replica.apply(event_type, data["locus"].clone());
            }
        }
    }
    true
}

/// `n` people, spread over `servers`, join one meeting at once; each one's
/// socket follows the events; everyone converges on `GET {locusUrl}`.
async fn converge(servers: &[&TestServer], n: usize) {
    let address = format!("big-{}@webex.localhost", uuid::Uuid::new_v4().simple());
    let mut people = Vec::new();
    for i in 0..n {
        let server = servers[i % servers.len()];
        let u = user(server, &format!("p{i}")).await;
        let ws = connect(&u.device, &u.token, false).await;
        people.push((server.base_url().to_owned(), u, ws));
    }
    let address = &address;
    let joins = futures::future::join_all(
        people
            .iter()
            .map(|(base, u, _)| async move { call(base, u, address).await }),
    )
    .await;
    let bases: Vec<String> = servers.iter().map(|s| s.base_url().to_owned()).collect();
    let mut seqs = Vec::new();
    for (s, body) in &joins {
        assert_eq!(*s, 200, "{body}");
        seqs.push(seq(&body["locus"]));
        assert_eq!(
            locus_id(&body["locus"]["url"]),
            locus_id(&joins[0].1["locus"]["url"]),
            "everyone lands in one Locus"
        );
    }
    let id = locus_id(&joins[0].1["locus"]["url"]).to_owned();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "every join has its own sequence");

    let url_on = |base: &str| format!("{base}/locus/api/v1/loci/{id}");
    let (s, truth) = get(&url_on(&people[0].0), &people[0].1).await;
    assert_eq!(s, 200);
    assert_eq!(truth["participants"].as_array().unwrap().len(), n);
    assert_eq!(seq(&truth), *seqs.last().unwrap());
    let target = seq(&truth);

    let mut resyncs = 0;
    for ((base, u, ws), (_, joined)) in people.iter_mut().zip(&joins) {
        let mut replica = Replica::new(joined["locus"].clone());
        if !follow(ws, &mut replica, target).await {
            // What the SDK does when deltas stay out of order too long.
            resyncs += 1;
            replica.doc = get(&url_on(base), u).await.1;
        }
        let (_, mine) = get(&url_on(base), u).await;
        assert_eq!(
            essence(&replica.doc, &bases),
            essence(&mine, &bases),
            "{} diverged",
            u.email
        );
    }
    assert_eq!(resyncs, 0, "every client converged from events alone");
}

#[tokio::test]
async fn fifty_concurrent_joins_converge_on_sqlite() {
    let server =
        TestServer::start_with(|c| c.rate_limits = webex_server::limits::RateLimits::off())
            .await
            .unwrap();
    converge(&[&server], 50).await;
    server.shutdown().await;
}

#[tokio::test]
async fn fifty_concurrent_joins_converge_on_postgres() {
    let Some(db) = webex_server::testing::postgres_url() else {
        return;
    };
    let server = TestServer::start_postgres(&db, |c| {
        c.rate_limits = webex_server::limits::RateLimits::off();
    })
    .await
    .unwrap();
    converge(&[&server], 50).await;
    server.shutdown().await;
}

#[tokio::test]
async fn two_nodes_converge() {
    let Some(Cluster { a, b }) = Cluster::start().await else {
        return;
    };
    // 24 people: past the delta threshold, so both full documents and
    // deltas cross nodes.
    converge(&[&a, &b], 24).await;
    b.shutdown().await;
    a.shutdown().await;
}

/// Hostile or odd inputs on every Locus route: always a JSON 4xx (or a
/// success), never a 5xx, on every backend (what schemathesis checks in CI).
#[tokio::test]
async fn odd_inputs_never_fail_the_server() {
    on_every_backend(
        |_| {},
        async |server: &TestServer| {
            let base = server.base_url().to_owned();
            let u = user(server, "odd").await;
            let (_, joined) = call(&base, &u, "odd-room@webex.localhost").await;
            let url = joined["locus"]["url"].as_str().unwrap().to_owned();
            let nul = "a\u{0}b";
            let long = "x".repeat(5000);
            let bodies = [
                json!(null),
                json!([]),
                json!({"device": {"url": nul}, "invitee": {"address": nul}}),
                json!({"device": {"url": long}, "invitee": {"address": long}}),
                json!({"device": {"url": u.device.url, "deviceType": nul},
                       "correlationId": nul, "invitee": {"address": format!("{nul}@webex.localhost")}}),
                json!({"device": {"url": u.device.url}, "invitee": {"address": "wbxmn:123"}}),
                json!({"sipUrl": nul, "meetingKey": nul}),
                json!({"userId": nul}),
                json!({"meetingUUID": nul}),
                json!({"locusId": nul}),
                json!({"meetingUrl": format!("{base}/meet/{nul}")}),
                json!({"sipUrl": 5}),
            ];
            let ids = ["%00", "x%20y", &long[..300], "..", "call"];
            for body in &bodies {
                let mut urls = vec![
                    (reqwest::Method::POST, format!("{base}/locus/api/v1/loci/call")),
                    (reqwest::Method::POST, format!("{base}/wbxappapi/v1/meetingInfo")),
                    (reqwest::Method::POST, format!("{url}/participant")),
                ];
                for id in ids {
                    let l = format!("{base}/locus/api/v1/loci/{id}");
                    urls.push((reqwest::Method::POST, format!("{l}/participant")));
                    urls.push((reqwest::Method::PUT, format!("{l}/participant/{id}/leave")));
                    urls.push((reqwest::Method::POST, format!("{l}/end")));
                    urls.push((reqwest::Method::GET, l));
                }
                for (method, target) in urls {
                    let res = http()
                        .request(method.clone(), &target)
                        .bearer_auth(&u.token)
                        .json(body)
                        .send()
                        .await?;
                    let status = res.status().as_u16();
                    let text = res.text().await?;
                    anyhow::ensure!(status < 500, "{method} {target} {body}: {status} {text}");
                    if status >= 400 {
                        let e: Value = serde_json::from_str(&text)?;
                        anyhow::ensure!(e["message"].is_string(), "{text}");
                    }
                }
            }
            Ok(())
        },
    )
    .await
    .unwrap();
}
