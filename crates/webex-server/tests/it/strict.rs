//! A server as strict as the cloud where the official SDK shows it is, with
//! the cloud's answer shapes (issue 19): what it refuses (device bodies
//! without `deviceType`, joins without the fields the official SDK always
//! sends or without meetingInfo's `permissionToken`, a limited catalog
//! without a selector), what it answers (features without `lastModified`,
//! `202` for end, a route token on Locus answers), and the round-trip
//! quirks behind `--cloud-quirks` (`locus-redirect`, `cisco-location`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use webex_server::quirks::CloudQuirks;
use webex_server::testing::TestServer;

use crate::support::locus::*;
use crate::support::mercury::http;

fn assert_names(status: u16, body: &Value, want: u16, field: &str) {
    assert_eq!(status, want, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "{field} not named in {body}");
    assert!(body["trackingId"].is_string(), "{body}");
}

async fn post_device(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    send(
        http()
            .post(format!("{}/wdm/api/v1/devices", server.base_url()))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_device_needs_a_wdm_device_type_and_nothing_more() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("dev@example.com").await.unwrap();
    let (s, e) = post_device(&server, &token, json!({})).await;
    assert_names(s, &e, 400, "`deviceType`");
    let (s, e) = post_device(&server, &token, json!({"name": "x", "deviceType": ""})).await;
    assert_names(s, &e, 400, "`deviceType`");
    for bad in ["web phone", "web", "WEB-1", "1WEB"] {
        let (s, e) = post_device(&server, &token, json!({"deviceType": bad})).await;
        assert_names(s, &e, 400, "`deviceType`");
    }
    // A third-party client's smaller body is enough.
    let (s, device) = post_device(&server, &token, json!({"deviceType": "WEB"})).await;
    assert_eq!(s, 200, "{device}");
    let (s, _) = post_device(&server, &token, json!({"deviceType": "TP_ENDPOINT"})).await;
    assert_eq!(s, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn device_features_leave_out_last_modified() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("feat@example.com").await.unwrap();
    let (s, device) = post_device(&server, &token, json!({"deviceType": "WEB"})).await;
    assert_eq!(s, 200, "{device}");
    let mut seen = 0;
    for list in ["developer", "entitlement", "user"] {
        for f in device["features"][list].as_array().unwrap() {
            seen += 1;
            assert!(f.get("lastModified").is_none(), "{f}");
            assert!(f["key"].is_string() && f["val"].is_string(), "{f}");
        }
    }
    assert!(seen > 0, "{device}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_limited_catalog_needs_a_selector() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url();
    for query in ["", "?format=hostmap", "?orgId=&format=hostmap"] {
        let (s, e) = send(http().get(format!("{base}/u2c/api/v1/limited/catalog{query}"))).await;
        assert_names(s, &e, 400, "selector");
        assert!(e["message"].as_str().unwrap().contains("`orgId`"), "{e}");
    }
    for query in [
        "?orgId=o1&format=hostmap",
        "?email=a%40example.com",
        "?emailhash=00ff",
        "?userId=u1",
        "?mode=DEFAULT_BY_PROXIMITY",
    ] {
        let (s, c) = send(http().get(format!("{base}/u2c/api/v1/limited/catalog{query}"))).await;
        assert_eq!(s, 200, "{query}: {c}");
        assert!(c["serviceLinks"]["wdm"].is_string(), "{c}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_join_needs_the_fields_the_official_sdk_always_sends() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url().to_owned();
    let a = user(&server, "strict-a").await;
    let (s, joined) = call(&base, &a, "strict-room@webex.localhost").await;
    assert_eq!(s, 200, "{joined}");
    let url = joined["locus"]["url"].as_str().unwrap().to_owned();
    let b = user(&server, "strict-b").await;
    for (field, strip) in [
        ("`device.deviceType`", "/device/deviceType"),
        ("`correlationId`", "/correlationId"),
        ("`device.url`", "/device/url"),
    ] {
        let mut body = join_body(&b, None);
        let (parent, key) = strip.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut body
        } else {
            body.pointer_mut(parent).unwrap()
        };
        target
            .as_object_mut()
            .unwrap()
            .insert(key.into(), json!(""));
        let (s, e) = send(
            http()
                .post(format!("{url}/participant?alternateRedirect=true"))
                .bearer_auth(&b.token)
                .json(&body),
        )
        .await;
        assert_names(s, &e, 400, field);
        if key != "url" {
            target_remove(&mut body, strip);
            let (s, e) = send(
                http()
                    .post(format!("{url}/participant"))
                    .bearer_auth(&b.token)
                    .json(&body),
            )
            .await;
            assert_names(s, &e, 400, field);
        }
    }
    let (s, joined) = join(&url, &b).await;
    assert_eq!(s, 200, "{joined}");
    server.shutdown().await;
}

fn target_remove(body: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        body
    } else {
        body.pointer_mut(parent).unwrap()
    };
    target.as_object_mut().unwrap().remove(key);
}

#[tokio::test]
async fn a_join_by_address_needs_meeting_infos_permission_token() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url().to_owned();
    let (a, b) = (user(&server, "perm-a").await, user(&server, "perm-b").await);
    let room = "perm-room@webex.localhost";
    let post_call = |u: &User, body: Value| {
        send(
            http()
                .post(format!(
                    "{base}/locus/api/v1/loci/call?alternateRedirect=true"
                ))
                .bearer_auth(&u.token)
                .json(&body),
        )
    };
    // None: refused, naming the field, and nothing is made.
    let (s, e) = post_call(&a, join_body(&a, Some(room))).await;
    assert_names(s, &e, 400, "`permissionToken`");
    let (_, info) = send(
        http()
            .post(format!("{base}/wbxappapi/v1/meetingInfo"))
            .bearer_auth(&a.token)
            .json(&json!({"sipUrl": room})),
    )
    .await;
    assert!(
        info.get("meetingNumber").is_none(),
        "made by a refused join: {info}"
    );
    // meetingInfo's token is a JWT with a short expiry.
    let token = info["permissionToken"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&token);
    let ttl = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!((60..=3600).contains(&ttl), "{claims}");
    // Someone else's token, a token for another room, garbage: refused.
    let mut body = join_body(&b, Some(room));
    body["permissionToken"] = json!(token);
    let (s, e) = post_call(&b, body).await;
    assert_names(s, &e, 403, "someone else");
    let other = permission_token(&base, &a, "perm-other@webex.localhost")
        .await
        .unwrap();
    let mut body = join_body(&a, Some(room));
    body["permissionToken"] = json!(other);
    let (s, e) = post_call(&a, body).await;
    assert_names(s, &e, 403, "another meeting");
    let mut body = join_body(&a, Some(room));
    body["permissionToken"] = json!("e30.e30.e30");
    let (s, e) = post_call(&a, body).await;
    assert_names(s, &e, 403, "`permissionToken`");
    // Its own token: in. A join at the Locus needs none.
    let mut body = join_body(&a, Some(room));
    body["permissionToken"] = json!(token);
    let (s, joined) = post_call(&a, body).await;
    assert_eq!(s, 200, "{joined}");
    let url = joined["locus"]["url"].as_str().unwrap();
    let (s, joined) = join(url, &b).await;
    assert_eq!(s, 200, "{joined}");
    // An address that is not ours is still a 404, token or not.
    let (s, e) = post_call(&a, join_body(&a, Some("x@elsewhere.example.org"))).await;
    assert_eq!(s, 404, "{e}");
    server.shutdown().await;
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn end_is_accepted_with_202_and_locus_answers_carry_a_route_token() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url().to_owned();
    let (a, b) = (
        user(&server, "route-a").await,
        user(&server, "route-b").await,
    );
    let room = "route-room@webex.localhost";
    let mut body = join_body(&a, Some(room));
    body["permissionToken"] = json!(permission_token(&base, &a, room).await.unwrap());
    let res = http()
        .post(format!(
            "{base}/locus/api/v1/loci/call?alternateRedirect=true"
        ))
        .bearer_auth(&a.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let route = res.headers()["x-cisco-part-route-token"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!route.is_empty());
    let joined: Value = res.json().await.unwrap();
    let url = joined["locus"]["url"].as_str().unwrap().to_owned();
    // The same token on every answer about that Locus; an echoed one is
    // accepted.
    let res = http()
        .post(format!("{url}/participant?alternateRedirect=true"))
        .bearer_auth(&b.token)
        .header("X-Cisco-Part-Route-Token", &route)
        .json(&join_body(&b, None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-cisco-part-route-token"], route.as_str());
    let res = http()
        .get(&url)
        .bearer_auth(&a.token)
        .header("X-Cisco-Part-Route-Token", &route)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-cisco-part-route-token"], route.as_str());
    // Only the JOINED host ends it: the other participant gets a 403.
    let (s, e) = send(
        http()
            .post(format!("{url}/end"))
            .bearer_auth(&b.token)
            .json(&json!({})),
    )
    .await;
    assert_eq!((s, e["errorCode"].as_u64()), (403, Some(2_403_011)), "{e}");
    // The host: 202, no body, as the cloud answers.
    let res = http()
        .post(format!("{url}/end"))
        .bearer_auth(&a.token)
        .header("X-Cisco-Part-Route-Token", &route)
        .json(&json!({"sequence": {"entries": [1], "rangeStart": 0, "rangeEnd": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["x-cisco-part-route-token"], route.as_str());
    assert!(res.bytes().await.unwrap().is_empty());
    let (s, doc) = get(&url, &a).await;
    assert_eq!((s, &doc["fullState"]["state"]), (200, &json!("INACTIVE")));
    server.shutdown().await;
}

#[tokio::test]
async fn cisco_location_leaves_bodies_it_cannot_read_whole_alone() {
    // A client-log upload is megabytes: answering the hop before reading
    // it would close the connection under the client (a reset, not a hop).
    let server = quirky().await;
    let base = server.base_url();
    let big = vec![b'x'; 1024 * 1024];
    let res = http()
        .put(format!("{base}/clientlogs/api/v1/uploads/none?token=t"))
        .header("cisco-no-http-redirect", "true")
        .body(big)
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("cisco-location").is_none());
    assert_ne!(res.status(), 200, "the handler answered, not the hop");
    server.shutdown().await;
}

async fn quirky() -> TestServer {
    TestServer::start_with(|c| c.cloud_quirks = CloudQuirks::all())
        .await
        .unwrap()
}

#[tokio::test]
async fn cisco_location_sends_a_request_back_to_the_same_url_once() {
    let server = quirky().await;
    let base = server.base_url();
    let first = http()
        .get(format!("{base}/u2c/api/v1/limited/catalog?orgId=o1"))
        .header("origin", "http://app.example")
        .header("cisco-no-http-redirect", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    // A page on another origin can read it (and the route token).
    let expose = first.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(expose.contains("cisco-location"), "{expose}");
    assert!(expose.contains("x-cisco-part-route-token"), "{expose}");
    let location = first.headers()["cisco-location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        location,
        format!("{base}/u2c/api/v1/limited/catalog?orgId=o1&cloudQuirkLocated=1")
    );
    assert!(first.bytes().await.unwrap().is_empty());
    // Following it reaches the handler, which sees the query without the marker.
    let second = http()
        .get(&location)
        .header("cisco-no-http-redirect", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert!(second.headers().get("cisco-location").is_none());
    let catalog: Value = second.json().await.unwrap();
    assert!(catalog["serviceLinks"]["wdm"].is_string(), "{catalog}");
    // Without the header, or for the operator and preflights: no hop.
    let plain = http()
        .get(format!("{base}/u2c/api/v1/limited/catalog?orgId=o1"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("cisco-location").is_none());
    let preflight = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/wdm/api/v1/devices"),
        )
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header("cisco-no-http-redirect", "true")
        .send()
        .await
        .unwrap();
    assert!(preflight.headers().get("cisco-location").is_none());
    let admin = http()
        .get(format!("{base}/admin/api/v1/meetings"))
        .bearer_auth(webex_server::testing::ADMIN_TOKEN)
        .header("cisco-no-http-redirect", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_join_asking_alternate_redirect_is_redirected_once_per_quirk() {
    let server = quirky().await;
    let base = server.base_url().to_owned();
    let a = user(&server, "quirk-a").await;
    let room = "quirk-room@webex.localhost";
    let mut body = join_body(&a, Some(room));
    body["permissionToken"] = json!(permission_token(&base, &a, room).await.unwrap());
    let start = format!("{base}/locus/api/v1/loci/call?alternateRedirect=true");
    // Hop 1: cisco-location; hop 2: the Locus redirect; then the join.
    let post = |url: String| {
        http()
            .post(url)
            .bearer_auth(&a.token)
            .header("cisco-no-http-redirect", "true")
            .json(&body)
            .send()
    };
    let first = post(start.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let located = first.headers()["cisco-location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(located, format!("{start}&cloudQuirkLocated=1"));
    let second = post(located.clone()).await.unwrap();
    assert_eq!(second.status(), 404);
    assert!(second.headers().get("x-cisco-part-route-token").is_none());
    let redirect: Value = second.json().await.unwrap();
    assert_eq!(redirect["errorCode"], 2_000_002, "{redirect}");
    assert!(redirect["trackingId"].is_string(), "{redirect}");
    let location = redirect["location"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("{located}&cloudQuirkRedirected=1"));
    let third = post(location).await.unwrap();
    assert_eq!(third.status(), 200);
    let joined: Value = third.json().await.unwrap();
    assert_eq!(joined["locus"]["self"]["state"], "JOINED", "{joined}");
    // Without alternateRedirect=true (and without cisco-no-http-redirect),
    // no redirect: the cloud sends this style only to clients that ask.
    let url = joined["locus"]["url"].as_str().unwrap();
    let b = user(&server, "quirk-b").await;
    let (s, joined) = send(
        http()
            .post(format!("{url}/participant"))
            .bearer_auth(&b.token)
            .json(&join_body(&b, None)),
    )
    .await;
    assert_eq!(s, 200, "{joined}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_hop_reads_the_body_so_the_connection_serves_the_next_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = quirky().await;
    let addr = server.server().local_addr();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Two requests on one kept-alive connection, the first with a body
    // that arrives after its head (as a client streams it): the hop must
    // wait for it rather than answer and leave it unread.
    let body = "{\"deviceType\":\"WEB\"}";
    let head = format!(
        "POST /wdm/api/v1/devices HTTP/1.1\r\nHost: x\r\ncisco-no-http-redirect: true\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rest = format!(
        "{body}GET /u2c/api/v1/limited/catalog?orgId=o HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    // Without the drain the server may have closed the connection already.
    let _ = tcp.write_all(rest.as_bytes()).await;
    let mut answers = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_string(&mut answers),
    )
    .await
    .expect("the connection hung")
    .unwrap();
    assert_eq!(answers.matches("HTTP/1.1 200").count(), 2, "{answers}");
    assert!(answers.contains("cisco-location"), "{answers}");
    assert!(answers.contains("serviceLinks"), "{answers}");
    server.shutdown().await;
}

/// Nodes behind one URL share the deployment's permission-token key, made
/// once in the database: a token meetingInfo gave on one node lets the join
/// through on the other, with no key configured (before: a random key per
/// process, so the second node refused it with 403).
#[tokio::test]
async fn a_permission_token_from_one_node_is_accepted_by_another() {
    let a = TestServer::start().await.unwrap();
    let shared_db = a.server().state().config.database_url.clone();
    let public = a.base_url().to_owned();
    let b = TestServer::start_with(|c| {
        c.database_url = shared_db;
        c.public_url = Some(public);
    })
    .await
    .unwrap();
    let b_direct = format!("http://{}", b.server().local_addr());
    let u = user(&a, "two-nodes").await;
    let room = "two-nodes@webex.localhost";
    let token = permission_token(a.base_url(), &u, room).await.unwrap();
    let mut body = join_body(&u, Some(room));
    body["permissionToken"] = json!(token);
    let (s, doc) = send(
        http()
            .post(format!(
                "{b_direct}/locus/api/v1/loci/call?alternateRedirect=true"
            ))
            .bearer_auth(&u.token)
            .json(&body),
    )
    .await;
    assert_eq!(s, 200, "{doc}");
    b.shutdown().await;
    a.shutdown().await;
}
