//! Error messages quote at most a short, sanitized prefix of what the caller
//! sent (issue 20, defect 5: a long wrong-typed string was quoted in full,
//! in `message` and again in `errors[0].description`, on every JSON route;
//! `uploadProtocol` was echoed unbounded).

use serde_json::json;
use webex_server::testing::TestServer;

use super::support::http;

/// The status and raw body of a POST with a JSON body.
async fn post(url: &str, token: &str, body: serde_json::Value) -> (u16, String) {
    let res = http()
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_long_wrong_typed_string_is_not_echoed() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url();
    let token = server.token_for("echo@example.com").await.unwrap();
    let long = format!("\u{202e}<script>{}", "A".repeat(100_000));
    let cases = [
        (
            format!("{base}/clientlogs/api/v1/logs/meta"),
            json!({"filename": "x", "data": long}),
        ),
        (
            format!("{base}/wdm/api/v1/devices"),
            json!({"name": "n", "deviceType": "WEB", "model": "m", "localizedModel": "m",
                "systemName": "s", "systemVersion": "1", "ttl": long}),
        ),
        (
            format!("{base}/clientlogs/api/v1/logs/urls"),
            json!({"file": "x", "uploadProtocol": long}),
        ),
        (
            format!("{base}/clientlogs/api/v1/logs/urls"),
            json!({"file": long.clone(), "uploadProtocol": 5}),
        ),
    ];
    let mut largest = 0;
    for (url, body) in cases {
        let (status, text) = post(&url, &token, body).await;
        assert_eq!(status, 400, "{url}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let message = v["message"].as_str().unwrap();
        assert!(
            text.len() < 2_000,
            "{url}: {} bytes: {text:.300}",
            text.len()
        );
        assert!(!message.contains(&"A".repeat(40)), "{url}: {message}");
        assert!(!message.contains('\u{202e}'), "{url}: {message}");
        largest = largest.max(text.len());
    }
    eprintln!("4 JSON routes, 100 kB wrong-typed strings: largest error body {largest} bytes");
    server.shutdown().await;
}
