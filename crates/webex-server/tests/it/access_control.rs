//! Access control, driven by the server's own `/openapi.json`: every
//! operation that needs a Bearer token is tried with no token, a malformed
//! one, an unknown one, an expired one, a revoked one, another org's, a
//! guest's (`jwt/login`) and another person's of the same org. Each answer
//! must have the right status and code and must never carry the victim's
//! data. A route in the document without a row here fails the test, so new
//! routes cannot skip this table. The websocket gets the same cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::device_body;
use base64::Engine;
use serde_json::{Value, json};
use webex_server::identity::admin::{create_guest_issuer, revoke_token};
use webex_server::testing::{ADMIN_TOKEN, TestServer};
use webex_wire::error::codes;

/// What an operation is, for this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Needs a person's Bearer token; `device` when its `{id}` is a device
    /// id (another person's → 404), `person` when it is a person id.
    Bearer { path_id: PathId },
    /// Needs the admin token.
    Admin,
    /// Open to anyone (catalog bootstrap, OAuth, ops, websocket upgrade…).
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathId {
    None,
    Device,
    Person,
    /// No path id, but the generic body names nothing the route can act on:
    /// an authenticated caller gets 400.
    Body,
}

/// The row of every operation in the document. Add one for a new route.
fn row(method: &str, path: &str) -> Option<Kind> {
    use Kind::*;
    use PathId as P;
    let bearer = |path_id| Some(Bearer { path_id });
    match (method, path) {
        ("GET" | "POST", "/wdm/api/v1/devices") => bearer(P::None),
        ("GET" | "PUT" | "DELETE", "/wdm/api/v1/devices/{id}") => bearer(P::Device),
        ("GET", "/v1/people/me") => bearer(P::None),
        ("GET", "/v1/people/{id}") => bearer(P::Person),
        ("GET", "/u2c/api/v1/catalog") => bearer(P::None),
        ("GET" | "POST", "/calliope/api/discovery/v1/clusters") => bearer(P::None),
        ("GET", "/conversation/api/v1/users") => bearer(P::None),
        ("GET", "/locus/api/v1/loci") => bearer(P::None),
        // Another person's Locus id is as unknown as a random one.
        ("GET", "/locus/api/v1/loci/{id}")
        | ("POST", "/locus/api/v1/loci/{id}/participant" | "/locus/api/v1/loci/{id}/end")
        | (
            "PUT",
            "/locus/api/v1/loci/{id}/participant/{participant_id}/leave"
            | "/locus/api/v1/loci/{id}/participant/{participant_id}/media"
            | "/locus/api/v1/loci/{id}/mediashares/{share_id}",
        )
        | ("PUT" | "PATCH", "/locus/api/v1/loci/{id}/controls")
        | ("POST", "/datachannel/api/v1/locus/{id}/registrations") => bearer(P::Device),
        ("POST", "/locus/api/v1/loci/call" | "/wbxappapi/v1/meetingInfo") => bearer(P::Body),
        ("GET", "/v1/meetingPreferences") => bearer(P::None),
        ("POST", "/clientlogs/api/v1/logs/urls") => bearer(P::None),
        // A websocket: the client authenticates in its first frame.
        ("GET", "/datachannel/api/v1/locus/{id}/socket") => Some(Public),
        // A body without a `filename` from logs/urls names no log.
        ("POST", "/clientlogs/api/v1/logs/meta") => bearer(P::Body),
        // Another person's log id is as unknown as a random one.
        ("DELETE", "/clientlogs/api/v1/uploads/{id}") => bearer(P::Device),
        // The temporary upload URL: its one-off `token` is the capability
        // (the official SDK sends no Authorization there).
        ("PUT", "/clientlogs/api/v1/uploads/{id}") => Some(Public),
        ("GET", "/admin/api/v1/clientLogs" | "/admin/api/v1/clientLogs/{id}/content")
        | ("GET" | "DELETE", "/admin/api/v1/clientLogs/{id}") => Some(Admin),
        ("POST", "/metrics/api/v1/clientmetrics") => bearer(P::None),
        ("GET", "/admin/api/v1/connections")
        | ("POST", "/admin/api/v1/events" | "/admin/api/v1/tokens/revoke") => Some(Admin),
        ("GET", "/admin/api/v1/meetings" | "/admin/api/v1/media/sessions")
        | ("POST", "/admin/api/v1/meetings/{id}/end") => Some(Admin),
        (
            "GET",
            "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/region" | "/v1/region",
        )
        | ("GET", "/u2c/api/v1/limited/catalog" | "/u2c/api/v1/signin/catalog")
        | ("GET" | "POST", "/v1/authorize" | "/idb/oauth2/v1/authorize")
        | ("POST", "/v1/access_token" | "/idb/oauth2/v1/access_token")
        | ("POST", "/v1/revoke" | "/idb/oauth2/v1/revoke" | "/v1/jwt/login")
        | ("POST", "/metrics/api/v1/clientmetrics-prelogin")
        | ("GET", "/mercury/v1/apps/wx2/registrations/{deviceId}/messages") => Some(Public),
        _ => None,
    }
}

/// A distinctive device name: any answer to someone else containing it leaks.
const VICTIM_MARK: &str = "alice-private-device-7f3c";
const VICTIM_EMAIL: &str = "alice@victim.example";

/// Who calls, and what they should get on a route.
#[derive(Debug)]
struct Case {
    name: &'static str,
    authorization: Option<String>,
    /// 401 with this code; `None`: the caller is authenticated.
    unauthorized: Option<&'static str>,
    /// The caller is in the victim's org (same-org person lookups succeed).
    same_org: bool,
}

async fn guest_token(server: &TestServer) -> String {
    let store = server.server().state().store.clone();
    let (issuer, secret) = create_guest_issuer(store.as_ref(), "Guests", "guests.invalid")
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.expose_secret())
        .unwrap();
    let claims = json!({
        "sub": "guest-1",
        "name": "Guest",
        "iss": issuer,
        "exp": chrono::Utc::now().timestamp() + 600,
    });
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/v1/jwt/login", server.base_url()))
        .header("authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

struct World {
    server: TestServer,
    victim_token: String,
    victim_person: String,
    victim_device: crate::support::Device,
    cases: Vec<Case>,
}

async fn world() -> World {
    // Every admin route is tried with wrong tokens: more than the per-address
    // budget of admin failures, whose own test is in `hardening`.
    let server = TestServer::start_with(|c| c.rate_limits.admin_failures = None)
        .await
        .unwrap();
    let base = server.base_url().to_owned();
    let victim_token = server.token_for(VICTIM_EMAIL).await.unwrap();
    let victim_person = server.person(VICTIM_EMAIL).await.unwrap().id;
    let res = reqwest::Client::new()
        .post(format!("{base}/wdm/api/v1/devices"))
        .bearer_auth(&victim_token)
        .json(&device_body(VICTIM_MARK))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    let victim_device = crate::support::Device {
        id: url.rsplit('/').next().unwrap().to_owned(),
        url,
        ws_url: body["webSocketUrl"].as_str().unwrap().to_owned(),
    };

    let expired = server
        .token_with("expired@victim.example", Some(1))
        .await
        .unwrap();
    let revoked = server.token_for("revoked@victim.example").await.unwrap();
    let store = server.server().state().store.clone();
    assert!(revoke_token(store.as_ref(), None, &revoked).await.unwrap());
    let neighbour = server.token_for("bob@victim.example").await.unwrap();
    let foreigner = server.token_for("mallory@evil.example").await.unwrap();
    let guest = guest_token(&server).await;
    // A well-formed token the server never issued, for the victim's org.
    let org = victim_token.rsplit('_').next().unwrap();
    let unknown = format!("{}_PF84_{org}", "A".repeat(44));
    tokio::time::sleep(Duration::from_millis(20)).await; // `expired` runs out.

    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let cases = vec![
        Case {
            name: "no token",
            authorization: None,
            unauthorized: Some(codes::TOKEN_MISSING),
            same_org: false,
        },
        Case {
            name: "not Bearer",
            authorization: Some(format!("Basic {victim_token}")),
            unauthorized: Some(codes::TOKEN_MALFORMED),
            same_org: false,
        },
        Case {
            name: "malformed token",
            authorization: bearer("not-a-webex-token"),
            unauthorized: Some(codes::TOKEN_MALFORMED),
            same_org: false,
        },
        Case {
            name: "unknown token",
            authorization: bearer(&unknown),
            unauthorized: Some(codes::TOKEN_UNKNOWN),
            same_org: false,
        },
        Case {
            name: "expired token",
            authorization: bearer(&expired),
            unauthorized: Some(codes::TOKEN_EXPIRED),
            same_org: false,
        },
        Case {
            name: "revoked token",
            authorization: bearer(&revoked),
            unauthorized: Some(codes::TOKEN_REVOKED),
            same_org: false,
        },
        Case {
            name: "another org's token",
            authorization: bearer(&foreigner),
            unauthorized: None,
            same_org: false,
        },
        Case {
            name: "guest token",
            authorization: bearer(&guest),
            unauthorized: None,
            same_org: false,
        },
        Case {
            name: "same org, another person",
            authorization: bearer(&neighbour),
            unauthorized: None,
            same_org: true,
        },
    ];
    World {
        server,
        victim_token,
        victim_person,
        victim_device,
        cases,
    }
}

fn request(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    w: &World,
) -> reqwest::RequestBuilder {
    let url = format!(
        "{base}{}",
        path.replace(
            "{id}",
            match row(method, path) {
                Some(Kind::Bearer {
                    path_id: PathId::Person,
                }) => &w.victim_person,
                _ => &w.victim_device.id,
            }
        )
    );
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = http.request(m, url);
    match method {
        "POST" | "PUT" => req.json(&device_body("intruder")),
        _ => req,
    }
}

#[tokio::test]
async fn every_bearer_route_rejects_strangers_and_leaks_nothing() {
    let w = world().await;
    let base = w.server.base_url().to_owned();
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut missing = Vec::new();
    let mut bearer_ops = Vec::new();
    let mut admin_ops = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let method = method.to_uppercase();
            let declared_bearer = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            match row(&method, path) {
                None => missing.push(format!("{method} {path}")),
                Some(Kind::Bearer { .. }) => {
                    assert!(declared_bearer, "{method} {path}: document lacks bearer");
                    bearer_ops.push((method, path.clone()));
                }
                Some(Kind::Admin) => admin_ops.push((method, path.clone())),
                Some(Kind::Public) => {
                    assert!(!declared_bearer, "{method} {path} is public here");
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes without an access-control row: {missing:?}"
    );

    let mut checked = 0usize;
    // DELETE last: it must not remove the victim's device before the others.
    bearer_ops.sort_by_key(|(m, _)| m == "DELETE");
    for (method, path) in &bearer_ops {
        let path_id = match row(method, path) {
            Some(Kind::Bearer { path_id }) => path_id,
            _ => unreachable!(),
        };
        for case in &w.cases {
            let mut req = request(&http, &base, method, path, &w);
            if let Some(a) = &case.authorization {
                req = req.header("authorization", a);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let text = res.text().await.unwrap();
            let what = format!("{method} {path} with {}", case.name);
            // Same-org directory lookups of the victim are by design.
            let directory = path_id == PathId::Person && case.same_org;
            assert!(
                !text.contains(VICTIM_MARK) && (directory || !text.contains(VICTIM_EMAIL)),
                "{what} leaked the victim's data: {text}"
            );
            match case.unauthorized {
                Some(code) => {
                    assert_eq!(status, 401, "{what}: {text}");
                    let body: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(body["code"], code, "{what}: {text}");
                    assert!(body["trackingId"].is_string());
                    crate::support::expect_json_error(
                        reqwest::StatusCode::UNAUTHORIZED,
                        &headers,
                        &body,
                        reqwest::StatusCode::UNAUTHORIZED,
                        code,
                    )
                    .unwrap_or_else(|e| panic!("{what}: {e:#}"));
                }
                None => match path_id {
                    PathId::Device => assert_eq!(status, 404, "{what}: {text}"),
                    PathId::Person if case.same_org => {
                        assert_eq!(status, 200, "{what}: {text}")
                    }
                    PathId::Person => assert_eq!(status, 404, "{what}: {text}"),
                    PathId::Body => assert_eq!(status, 400, "{what}: {text}"),
                    PathId::None => {
                        assert!((200..300).contains(&status), "{what}: {status} {text}")
                    }
                },
            }
            checked += 1;
        }
    }

    // The admin API: no token, and a person's valid token, are both 401.
    for (method, path) in &admin_ops {
        for auth in [None, Some(format!("Bearer {}", w.victim_token))] {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = http.request(m, format!("{base}{path}")).json(&json!({}));
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} with {auth:?}");
            checked += 1;
        }
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = http
            .request(m, format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), 401, "{method} {path} with the admin token");
    }

    // The victim still has the device and sees it.
    let res = http
        .get(&w.victim_device.url)
        .bearer_auth(&w.victim_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let distinct: BTreeSet<_> = bearer_ops.iter().map(|(_, p)| p.clone()).collect();
    eprintln!(
        "access control: {} bearer operations ({} paths) x {} callers + {} admin checks = {checked} requests, 0 leaks",
        bearer_ops.len(),
        distinct.len(),
        w.cases.len(),
        admin_ops.len() * 2
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn the_websocket_rejects_strangers() {
    let w = world().await;
    let mut checked = 0;
    // "not Bearer" would hand the victim's own token to the frame.
    for case in w.cases.iter().filter(|c| c.name != "not Bearer") {
        let mut ws = crate::support::open(&w.victim_device.ws_url, false).await;
        let token = case
            .authorization
            .as_deref()
            .map(|a| a.split_once(' ').map_or(a, |(_, t)| t))
            .unwrap_or("");
        crate::support::send_auth(&mut ws, token).await;
        let (code, reason) = crate::support::expect_close(&mut ws).await;
        let expected = if case.unauthorized.is_some() {
            4401
        } else {
            4404
        };
        assert_eq!(code, expected, "websocket with {}: {reason}", case.name);
        assert!(!reason.contains(VICTIM_MARK) && !reason.contains(VICTIM_EMAIL));
        checked += 1;
    }
    // The owner still connects.
    let ws = crate::support::connect(&w.victim_device, &w.victim_token, false).await;
    drop(ws);
    eprintln!("access control: websocket {checked} stranger cases closed (4401/4404)");
    w.server.shutdown().await;
}
