//! Budgets for stored and reflected free-form data (issue 14, defect 5).

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use webex_server::identity::admin;
use webex_server::testing::TestServer;

use super::support::{REDIRECT, guest_jwt, http, jwt_login};

async fn register(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let res = http()
        .post(format!("{}/wdm/api/v1/devices", server.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

fn device(name: &str) -> Value {
    json!({"name": name, "deviceType": "WEB", "model": "web-js-sdk",
        "localizedModel": "webex-js-sdk", "systemName": "WEBEX_JS_SDK", "systemVersion": "3.12.0"})
}

#[tokio::test]
async fn unknown_device_fields_have_a_small_budget() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("blob@example.com").await.unwrap();
    let mut big = device("blob");
    big["clientBlob"] = Value::from("x".repeat(200 * 1024));
    let (status, body) = register(&server, &token, big).await;
    assert_eq!(status, 400, "a 200 KB device was stored: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("unknown fields"),
        "{body}"
    );
    let mut small = device("small");
    small["clientCustom"] = json!({"theme": "dark"});
    let (status, body) = register(&server, &token, small).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clientCustom"]["theme"], "dark");
    server.shutdown().await;
}

#[tokio::test]
async fn names_with_control_or_bidi_characters_are_refused() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("names@example.com").await.unwrap();
    for (name, says) in [
        ("evil\u{202E}gpj.exe", "U+202E"),
        ("nul\0", "U+0000"),
        ("two\nlines", "U+000A"),
    ] {
        let (status, body) = register(&server, &token, device(name)).await;
        assert_eq!(status, 400, "{name:?}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    // Guest display names too.
    let store = server.server().state().store.clone();
    let (iss, secret) = admin::create_guest_issuer(store.as_ref(), "Kiosk", "guests.example.com")
        .await
        .unwrap();
    let exp = chrono::Utc::now().timestamp() + 600;
    for name in [
        "x".repeat(300),
        "Bob\u{2067}".to_owned(),
        "Eve\0".to_owned(),
    ] {
        let jwt = guest_jwt(
            secret.expose_secret(),
            json!({"sub": "g1", "iss": iss, "exp": exp, "name": name}),
        );
        let (status, body) = jwt_login(server.base_url(), &jwt).await;
        assert_eq!(status, 400, "guest name of {} chars: {body}", name.len());
        assert!(
            body["message"].as_str().unwrap().contains("`name`"),
            "{body}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_oauth_state_is_refused_not_reflected() {
    let server = TestServer::start().await.unwrap();
    let (client_id, _) = admin::create_oauth_client(
        server.server().state().store.as_ref(),
        "App",
        &[REDIRECT.to_owned()],
        "spark:all",
    )
    .await
    .unwrap();
    let state = "s".repeat(20 * 1024);
    let res = http()
        .get(format!("{}/v1/authorize", server.base_url()))
        .query(&[
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "spark:all"),
            ("state", state.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
    let page = res.text().await.unwrap();
    assert!(
        page.contains("at most 1024"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(
        page.len() < 10 * 1024,
        "the state came back: {} bytes",
        page.len()
    );
    server.shutdown().await;
}
