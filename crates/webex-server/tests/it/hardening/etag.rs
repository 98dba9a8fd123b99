//! `PUT` of a device honours `If-Match` (issue 14, defect 6).

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use webex_server::testing::TestServer;

use super::support::http;

fn device() -> Value {
    json!({"name": "gaps", "deviceType": "WEB", "model": "web-js-sdk",
        "localizedModel": "webex-js-sdk", "systemName": "WEBEX_JS_SDK", "systemVersion": "3.12.0"})
}

async fn stale_if_match(server: &TestServer) -> anyhow::Result<()> {
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
    Ok(())
}
on_every_backend!(a_stale_if_match_is_refused_with_412, stale_if_match);

/// Pairs of PUTs [`concurrent_if_match`] races: enough that, without one
/// conditional write, some pair reads the same version before either writes.
const RACED_PAIRS: usize = 25;

/// Two PUTs carrying the same `If-Match` at once: exactly one wins and the
/// other is told the device changed (412). Both winning is a lost update:
/// each read the same version, matched its etag, then wrote over the other.
async fn concurrent_if_match(server: &TestServer) -> anyhow::Result<()> {
    let token = server.token_for("race@example.com").await?;
    let http = http();
    let res = http
        .post(format!("{}/wdm/api/v1/devices", server.base_url()))
        .bearer_auth(&token)
        .json(&device())
        .send()
        .await?;
    ensure!(res.status().as_u16() == 200, "register: {}", res.status());
    let url = res.json::<Value>().await?["url"]
        .as_str()
        .context("device url")?
        .to_owned();
    for pair in 0..RACED_PAIRS {
        let res = http.get(&url).bearer_auth(&token).send().await?;
        let etag = res.headers()["etag"].to_str()?.to_owned();
        let put = |name: String| {
            let mut d = device();
            d["name"] = name.into();
            http.put(&url)
                .bearer_auth(&token)
                .header("if-match", &etag)
                .json(&d)
                .send()
        };
        let (a, b) = tokio::join!(put(format!("a{pair}")), put(format!("b{pair}")));
        let (a, b) = (a?, b?);
        let statuses = (a.status().as_u16(), b.status().as_u16());
        let winner = match statuses {
            (200, 412) => format!("a{pair}"),
            (412, 200) => format!("b{pair}"),
            other => anyhow::bail!("pair {pair}: statuses {other:?}, expected one 200 and one 412"),
        };
        let current: Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        ensure!(
            current["name"] == winner.as_str(),
            "pair {pair}: stored {}, but {winner} won",
            current["name"]
        );
    }
    Ok(())
}
on_every_backend!(
    concurrent_puts_with_one_if_match_let_exactly_one_win,
    concurrent_if_match,
    |c| c.rate_limits = webex_server::limits::RateLimits::off()
);
