//! `PUT` of a device honours `If-Match` (issue 14, defect 6).

use serde_json::{Value, json};
use webex_server::testing::TestServer;

use super::support::http;

fn device() -> Value {
    json!({"name": "gaps", "deviceType": "WEB", "model": "web-js-sdk",
        "localizedModel": "webex-js-sdk", "systemName": "WEBEX_JS_SDK", "systemVersion": "3.12.0"})
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("etag@example.com").await.unwrap();
    let res = http()
        .post(format!("{}/wdm/api/v1/devices", server.base_url()))
        .bearer_auth(&token)
        .json(&device())
        .send()
        .await
        .unwrap();
    let first_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    let put = |etag: String, name: &'static str| {
        let mut d = device();
        d["name"] = name.into();
        http()
            .put(&url)
            .bearer_auth(&token)
            .header("if-match", etag)
            .json(&d)
            .send()
    };
    // Writer A updates from the version it read…
    let res = put(first_etag.clone(), "by-a").await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // …writer B, who read the same version, must not overwrite A silently.
    let res = put(first_etag, "by-b").await.unwrap();
    assert_eq!(res.status().as_u16(), 412);
    let current: Value = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["name"], "by-a");
    // `*` and no If-Match still work (the official SDK sends none).
    assert_eq!(put("*".into(), "any").await.unwrap().status().as_u16(), 200);
    server.shutdown().await;
}
