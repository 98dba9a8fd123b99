//! The meetings list against crafted Locus documents: the real server
//! registers the device and carries the events (admin publish), a scripted
//! Locus answers `GET {locusUrl}`. Out-of-order and gapped deltas, and a
//! malformed document that must not stop the events of other meetings.
#![allow(clippy::unwrap_used)]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::within;
use axum::extract::{Path, State};
use futures::StreamExt;
use serde_json::{Value, json};
use webex_meetings::{
    Credentials, Device, EventStream, Meeting, MeetingEvent, MeetingOptions, MeetingsEvent,
    RemovedReason, Webex, WebexConfig,
};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

/// What the scripted Locus answers to `GET /locus/api/v1/loci/{id}`, and
/// how many times it was asked.
#[derive(Clone, Default)]
struct Script {
    docs: Arc<Mutex<std::collections::HashMap<String, Value>>>,
    gets: Arc<Mutex<Vec<String>>>,
}

async fn scripted_locus() -> (String, Script) {
    let script = Script::default();
    let router = axum::Router::new()
        .route(
            "/locus/api/v1/loci/{id}",
            axum::routing::get(
                |State(s): State<Script>, Path(id): Path<String>| async move {
                    s.gets.lock().unwrap().push(id.clone());
                    let doc = s.docs.lock().unwrap().get(&id).cloned();
                    doc.map(axum::Json).ok_or(axum::http::StatusCode::NOT_FOUND)
                },
            ),
        )
        .with_state(script.clone());
    (crate::support::serve(router).await, script)
}

fn participant(id: &str, name: &str, state: &str, device: Option<(&str, &str)>) -> Value {
    let devices: Vec<Value> = device
        .map(|(url, corr)| json!({"url": url, "state": state, "correlationId": corr, "deviceType": "WEB"}))
        .into_iter()
        .collect();
    json!({"id": id, "state": state, "type": "USER",
           "person": {"id": format!("u-{id}"), "name": name, "email": format!("{id}@example.com")},
           "devices": devices, "status": {}})
}

/// A full document at `seq` with `me` (on `device`) and `others` joined.
fn full_doc(url: &str, seq: u64, device: &str, others: &[&str]) -> Value {
    let me = participant("me", "Me", "JOINED", Some((device, "elsewhere")));
    let mut participants = vec![me.clone()];
    participants.extend(
        others
            .iter()
            .map(|o| participant(o, o, "JOINED", Some(("d", "c")))),
    );
    json!({"url": url, "fullState": {"state": "ACTIVE", "type": "MEETING", "active": true},
           "info": {"sipUri": "scripted@example.com", "webExMeetingId": "42"},
           "host": {"id": "u-me"}, "self": me, "participants": participants,
           "sequence": {"entries": [seq], "rangeStart": 0, "rangeEnd": 0}})
}

fn delta_doc(url: &str, base: u64, seq: u64, joining: &str) -> Value {
    json!({"url": url, "participants": [participant(joining, joining, "JOINED", Some(("d", "c")))],
           "sequence": {"entries": [seq], "rangeStart": 0, "rangeEnd": 0},
           "baseSequence": {"entries": [base], "rangeStart": 0, "rangeEnd": 0}})
}

async fn publish(
    server: &TestServer,
    device: &Device,
    event_type: &str,
    locus_url: &str,
    locus: Value,
) {
    let id = device.url.trim_end_matches('/').rsplit('/').next().unwrap();
    reqwest::Client::new()
        .post(format!("{}/admin/api/v1/events", server.base_url()))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"deviceId": id, "data": {"eventType": event_type, "locusUrl": locus_url, "locus": locus}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

async fn added(events: &mut EventStream) -> Meeting {
    within(async {
        while let Some(e) = events.next().await {
            if let MeetingsEvent::MeetingAdded { meeting, .. } = e {
                return meeting;
            }
        }
        panic!("events ended")
    })
    .await
}

/// Waits until the roster's ids are `ids` (in document order).
async fn roster_is(meeting: &Meeting, ids: &[&str]) {
    within(async {
        loop {
            let now: Vec<String> = meeting.members().into_iter().map(|m| m.id).collect();
            if now == ids {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

async fn start(server: &TestServer, email: &str) -> (Webex, Device, EventStream) {
    let token = server.token_for(email).await.unwrap();
    let webex = Webex::init(
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(server.discovery_url())
            .device_name("scripted")
            .meeting_options(MeetingOptions {
                delta_wait: Duration::from_millis(300),
                delta_wait_jitter: Duration::ZERO,
                ..MeetingOptions::default()
            })
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let events = meetings.events();
    within(meetings.register()).await.unwrap();
    let device = meetings.device().unwrap();
    (webex, device, events)
}

#[tokio::test]
async fn out_of_order_and_gapped_deltas_converge() {
    let server = TestServer::start().await.unwrap();
    let (base, script) = scripted_locus().await;
    let (webex, device, mut events) = start(&server, "order@example.com").await;
    let url = format!("{base}/locus/api/v1/loci/l1");

    publish(
        &server,
        &device,
        "locus.participant_joined",
        &url,
        full_doc(&url, 1, &device.url, &[]),
    )
    .await;
    let meeting = added(&mut events).await;
    assert!(meeting.is_joined());
    let mut meeting_events = meeting.events();

    // 3 arrives before 2: it waits, then both apply in order.
    publish(
        &server,
        &device,
        "locus.difference",
        &url,
        delta_doc(&url, 2, 3, "carol"),
    )
    .await;
    publish(
        &server,
        &device,
        "locus.difference",
        &url,
        delta_doc(&url, 1, 2, "bob"),
    )
    .await;
    roster_is(&meeting, &["me", "bob", "carol"]).await;
    // A stale full document changes nothing.
    publish(
        &server,
        &device,
        "locus.participant_updated",
        &url,
        full_doc(&url, 2, &device.url, &[]),
    )
    .await;

    // 5 arrives, 4 never does: after the wait the meeting is fetched again.
    script.docs.lock().unwrap().insert(
        "l1".into(),
        full_doc(&url, 6, &device.url, &["bob", "carol", "dave", "erin"]),
    );
    publish(
        &server,
        &device,
        "locus.difference",
        &url,
        delta_doc(&url, 4, 5, "dave"),
    )
    .await;
    roster_is(&meeting, &["me", "bob", "carol", "dave", "erin"]).await;
    assert_eq!(script.gets.lock().unwrap().as_slice(), ["l1"]);
    assert_eq!(meeting.locus().unwrap().sequence.last(), Some(6));

    // Every roster change came as members:update, in order.
    let mut added_ids = Vec::new();
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(200), meeting_events.next()).await
    {
        if let MeetingEvent::MembersUpdate(delta) = e {
            added_ids.extend(delta.added.into_iter().map(|m| m.id));
        }
    }
    assert_eq!(added_ids, ["me", "bob", "carol", "dave", "erin"]);
    drop(webex);
    server.shutdown().await;
}

#[tokio::test]
async fn a_malformed_document_does_not_stop_other_meetings() {
    let server = TestServer::start().await.unwrap();
    let (base, _script) = scripted_locus().await;
    let (webex, device, mut events) = start(&server, "malformed@example.com").await;
    let good = format!("{base}/locus/api/v1/loci/good");
    let bad = format!("{base}/locus/api/v1/loci/bad");

    publish(
        &server,
        &device,
        "locus.participant_joined",
        &good,
        full_doc(&good, 1, &device.url, &[]),
    )
    .await;
    let meeting = added(&mut events).await;
    publish(
        &server,
        &device,
        "locus.participant_joined",
        &bad,
        full_doc(&bad, 1, &device.url, &[]),
    )
    .await;
    let bad_meeting = added(&mut events).await;

    // Not a Locus at all, then a full document without fullState, then a
    // participant without an id: none of them may stop the pump.
    publish(
        &server,
        &device,
        "locus.participant_joined",
        &bad,
        json!({"url": bad, "participants": "oops"}),
    )
    .await;
    let mut partial = full_doc(&bad, 2, &device.url, &[]);
    partial.as_object_mut().unwrap().remove("fullState");
    publish(&server, &device, "locus.participant_joined", &bad, partial).await;
    publish(
        &server,
        &device,
        "locus.participant_joined",
        &bad,
        full_doc(&bad, 3, &device.url, &[""]),
    )
    .await;

    publish(
        &server,
        &device,
        "locus.participant_joined",
        &good,
        full_doc(&good, 2, &device.url, &["bob"]),
    )
    .await;
    roster_is(&meeting, &["me", "bob"]).await;
    let error = bad_meeting
        .last_error()
        .expect("the bad meeting records its error");
    assert!(error.to_string().contains("participant"), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(bad_meeting.locus().unwrap().sequence.last(), Some(1));

    // The bad meeting still takes good documents.
    let mut ended = full_doc(&bad, 4, &device.url, &[]);
    ended["fullState"]["state"] = json!("INACTIVE");
    publish(&server, &device, "locus.controls_updated", &bad, ended).await;
    let reason = within(async {
        while let Some(e) = events.next().await {
            if let MeetingsEvent::MeetingRemoved { meeting_id, reason } = e
                && meeting_id == bad_meeting.id()
            {
                return reason;
            }
        }
        panic!("events ended")
    })
    .await;
    assert_eq!(reason, RemovedReason::Ended);
    assert_eq!(webex.meetings().list().len(), 1);
    server.shutdown().await;
}
