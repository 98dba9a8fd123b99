//! Meetings (Locus) over HTTP as the official SDK calls them: a person
//! with a device, `loci/call`, join, leave, GET, and reading documents.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{Value, json};
use webex_server::testing::TestServer;

use super::mercury::{Device, email, http, register_device};

/// One person with a token and a registered device.
pub struct User {
    pub email: String,
    pub token: String,
    pub device: Device,
}

pub async fn user(server: &TestServer, name: &str) -> User {
    let email = email(name);
    let token = server.token_for(&email).await.unwrap();
    let device = register_device(server.base_url(), &token).await;
    User {
        email,
        token,
        device,
    }
}

pub fn join_body(u: &User, address: Option<&str>) -> Value {
    let mut body = json!({
        "device": {"url": u.device.url, "deviceType": "WEB", "countryCode": "US"},
        "usingResource": null, "moveMediaToResource": false,
        "correlationId": format!("corr-{}", u.device.id), "respOnlySdp": true,
        "allowMultiDevice": true, "ensureConversation": false, "supportsNativeLobby": 1,
        "clientMediaPreferences": {"ipver": 0, "joinCookie": null, "preferTranscoding": true}
    });
    if let Some(a) = address {
        body["invitee"] = json!({"address": a});
    }
    body
}

pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

/// meetingInfo's `permissionToken` for `address`, as `u` (`None` when
/// meetingInfo does not answer 200).
pub async fn permission_token(base: &str, u: &User, address: &str) -> Option<String> {
    let (s, info) = send(
        http()
            .post(format!("{base}/wbxappapi/v1/meetingInfo"))
            .bearer_auth(&u.token)
            .json(&json!({"sipUrl": address, "supportHostKey": true})),
    )
    .await;
    (s == 200)
        .then(|| info["permissionToken"].as_str().map(str::to_owned))
        .flatten()
}

/// Joins by address as the official SDK does: meetingInfo, then
/// `POST {locus}/loci/call` with its `permissionToken`.
pub async fn call(base: &str, u: &User, address: &str) -> (u16, Value) {
    let mut body = join_body(u, Some(address));
    if let Some(token) = permission_token(base, u, address).await {
        body["permissionToken"] = json!(token);
    }
    send(
        http()
            .post(format!(
                "{base}/locus/api/v1/loci/call?alternateRedirect=true"
            ))
            .bearer_auth(&u.token)
            .json(&body),
    )
    .await
}

pub async fn join(locus_url: &str, u: &User) -> (u16, Value) {
    send(
        http()
            .post(format!("{locus_url}/participant?alternateRedirect=true"))
            .bearer_auth(&u.token)
            .json(&join_body(u, None)),
    )
    .await
}

pub async fn leave(locus_url: &str, u: &User, participant: &str) -> (u16, Value) {
    send(
        http()
            .put(format!("{locus_url}/participant/{participant}/leave"))
            .bearer_auth(&u.token)
            .json(
                &json!({"device": {"deviceType": "WEB", "url": u.device.url},
                "usingResource": null, "correlationId": "c",
                "sequence": {"entries": [1], "rangeStart": 0, "rangeEnd": 0}}),
            ),
    )
    .await
}

pub async fn get(url: &str, u: &User) -> (u16, Value) {
    send(http().get(url).bearer_auth(&u.token)).await
}

pub fn seq(locus: &Value) -> u64 {
    last(&locus["sequence"])
}

/// The last entry of a `sequence` object.
pub fn last(sequence: &Value) -> u64 {
    sequence["entries"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no sequence in {sequence}"))
}

pub fn participant<'a>(locus: &'a Value, person_email: &str) -> &'a Value {
    locus["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["person"]["email"] == person_email)
        .unwrap_or_else(|| panic!("{person_email} not in {locus}"))
}
