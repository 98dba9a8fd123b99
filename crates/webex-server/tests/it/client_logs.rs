//! End-to-end tests of the `clientLogs` service (the official SDK's log
//! upload: `logs/urls` → PUT `tempURL` → `logs/meta`) and its operator API,
//! on SQLite and, when `WEBEX_TEST_DATABASE_URL` is set, on PostgreSQL.

use std::time::Duration;

use anyhow::{Context, ensure};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webex_server::ServerConfig;
use webex_server::testing::TestServer;

const ADMIN: &str = "admin-secret";

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().build()?)
}

/// Status and JSON body (`Value::Null` when empty).
async fn json_of(res: reqwest::Response) -> anyhow::Result<(StatusCode, Value)> {
    let status = res.status();
    let text = res.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).with_context(|| format!("{status}: not JSON: {text}"))?
    };
    Ok((status, body))
}

/// Asserts a JSON error body with the given status.
fn expect_error(got: &(StatusCode, Value), status: StatusCode) -> anyhow::Result<()> {
    ensure!(
        got.0 == status,
        "expected {status}, got {} {}",
        got.0,
        got.1
    );
    ensure!(
        got.1["message"].is_string(),
        "no JSON error body: {}",
        got.1
    );
    ensure!(got.1["trackingId"].is_string(), "no trackingId: {}", got.1);
    Ok(())
}

/// `POST logs/urls` as the SDK sends it.
async fn start(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    file: &str,
) -> anyhow::Result<Value> {
    let (status, body) = json_of(
        http.post(format!("{base}/clientlogs/api/v1/logs/urls"))
            .bearer_auth(token)
            .json(&json!({"file": file, "uploadProtocol": "content-length"}))
            .send()
            .await?,
    )
    .await?;
    ensure!(status == StatusCode::OK, "logs/urls: {status} {body}");
    Ok(body)
}

/// The SDK's PUT to `tempURL`: no Authorization, an `x-trans-id`.
async fn put(
    http: &reqwest::Client,
    session: &Value,
    body: Vec<u8>,
) -> anyhow::Result<(StatusCode, Value)> {
    let url = session["tempURL"].as_str().context("no tempURL")?;
    json_of(
        http.put(url)
            .header("x-trans-id", "3c1b7a8e")
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await?,
    )
    .await
}

async fn finalize(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    session: &Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let data = json!([{"key": "locusId", "value": "6b1c"}, {"key": "autoupload", "value": true}]);
    finalize_with(http, base, token, session, data).await
}

/// `POST logs/meta` with the given `data`.
async fn finalize_with(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    session: &Value,
    data: Value,
) -> anyhow::Result<(StatusCode, Value)> {
    json_of(
        http.post(format!("{base}/clientlogs/api/v1/logs/meta"))
            .bearer_auth(token)
            .json(&json!({
                "filename": session["logFilename"],
                "data": data,
                "userId": session["userId"],
            }))
            .send()
            .await?,
    )
    .await
}

async fn admin_get(
    http: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    json_of(
        http.get(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .send()
            .await?,
    )
    .await
}

// ---------------------------------------------------------------------------

async fn upload_flow(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let token = server.token_for("logs@example.com").await?;
    let person = server.person("logs@example.com").await?;

    let (status, catalog) = json_of(
        http.get(format!("{base}/u2c/api/v1/catalog?format=hostmap"))
            .bearer_auth(&token)
            .send()
            .await?,
    )
    .await?;
    ensure!(status == StatusCode::OK);
    ensure!(
        catalog["serviceLinks"]["clientLogs"] == format!("{base}/clientlogs/api/v1").as_str(),
        "{catalog}"
    );

    let session = start(&http, base, &token, "6b1c_2026-11-29T17:00:00.000Z.txt").await?;
    ensure!(session["userId"] == person.id.as_str(), "{session}");
    ensure!(session["fileUploadSizeLimit"] == 16, "{session}");
    let log_filename = session["logFilename"].as_str().context("no logFilename")?;
    ensure!(
        log_filename.ends_with("/6b1c_2026-11-29T17_00_00.000Z.txt"),
        "{session}"
    );
    let temp_url = session["tempURL"].as_str().context("no tempURL")?;
    ensure!(
        temp_url.starts_with(&format!("{base}/clientlogs/api/v1/uploads/")),
        "{session}"
    );

    let text = "line 1 ✓\nline 2\n".repeat(1000).into_bytes();
    let (status, _) = put(&http, &session, text.clone()).await?;
    ensure!(status == StatusCode::NO_CONTENT, "upload: {status}");
    // The SDK retries a failed upload: sending again before logs/meta replaces it.
    let (status, _) = put(&http, &session, text.clone()).await?;
    ensure!(status == StatusCode::NO_CONTENT, "second upload: {status}");

    let (status, log) = finalize(&http, base, &token, &session).await?;
    ensure!(status == StatusCode::OK, "logs/meta: {status} {log}");
    ensure!(log["state"] == "finalized", "{log}");
    ensure!(log["size"] == text.len(), "{log}");
    ensure!(
        log["meta"][1] == json!({"key": "autoupload", "value": true}),
        "{log}"
    );
    let id = log["id"].as_str().context("no id")?.to_owned();

    let (status, list) = admin_get(
        &http,
        base,
        "/admin/api/v1/clientLogs?email=LOGS@example.com",
    )
    .await?;
    ensure!(status == StatusCode::OK, "{list}");
    ensure!(list["items"].as_array().map(Vec::len) == Some(1), "{list}");
    ensure!(
        list["items"][0]["id"] == id.as_str() && list["items"][0]["userId"] == person.id.as_str(),
        "{list}"
    );
    ensure!(list.get("next").is_none(), "{list}");

    let (status, one) = admin_get(&http, base, &format!("/admin/api/v1/clientLogs/{id}")).await?;
    ensure!(
        status == StatusCode::OK && one["filename"] == "6b1c_2026-11-29T17_00_00.000Z.txt",
        "{one}"
    );

    let res = http
        .get(format!("{base}/admin/api/v1/clientLogs/{id}/content"))
        .bearer_auth(ADMIN)
        .send()
        .await?;
    ensure!(res.status() == StatusCode::OK);
    ensure!(
        res.headers()["content-type"] == "text/plain; charset=utf-8",
        "{:?}",
        res.headers()
    );
    ensure!(
        res.bytes().await?.as_ref() == text.as_slice(),
        "downloaded content differs"
    );

    let res = http
        .delete(format!("{base}/admin/api/v1/clientLogs/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await?;
    ensure!(res.status() == StatusCode::NO_CONTENT);
    expect_error(
        &admin_get(&http, base, &format!("/admin/api/v1/clientLogs/{id}")).await?,
        StatusCode::NOT_FOUND,
    )?;
    Ok(())
}
on_every_backend!(
    the_sdk_upload_flow_stores_a_log_the_operator_can_download,
    upload_flow
);

async fn access_rules(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let alice = server.token_for("alice@example.com").await?;
    let mallory = server.token_for("mallory@example.com").await?;

    // Without a token nothing starts.
    let got = json_of(
        http.post(format!("{base}/clientlogs/api/v1/logs/urls"))
            .json(&json!({"file": "x.txt"}))
            .send()
            .await?,
    )
    .await?;
    expect_error(&got, StatusCode::UNAUTHORIZED)?;
    let got = json_of(
        http.post(format!("{base}/clientlogs/api/v1/logs/urls"))
            .bearer_auth(&alice)
            .json(&json!({"file": "x.txt", "uploadProtocol": "multipart"}))
            .send()
            .await?,
    )
    .await?;
    expect_error(&got, StatusCode::BAD_REQUEST)?;

    let session = start(&http, base, &alice, "x.txt").await?;
    let url = session["url"].as_str().context("no url")?;
    // The upload URL without or with a wrong token.
    let got = json_of(http.put(url).body("x").send().await?).await?;
    expect_error(&got, StatusCode::BAD_REQUEST)?;
    let got = json_of(
        http.put(format!("{url}?token=wrong"))
            .body("x")
            .send()
            .await?,
    )
    .await?;
    expect_error(&got, StatusCode::NOT_FOUND)?;

    // logs/meta before the upload, by someone else, with a made-up name.
    expect_error(
        &finalize(&http, base, &alice, &session).await?,
        StatusCode::CONFLICT,
    )?;
    let (status, _) = put(&http, &session, b"secret log".to_vec()).await?;
    ensure!(status == StatusCode::NO_CONTENT);
    expect_error(
        &finalize(&http, base, &mallory, &session).await?,
        StatusCode::NOT_FOUND,
    )?;
    let forged = json!({"logFilename": "not-a-log"});
    expect_error(
        &finalize(&http, base, &alice, &forged).await?,
        StatusCode::BAD_REQUEST,
    )?;
    let (status, _) = finalize(&http, base, &alice, &session).await?;
    ensure!(status == StatusCode::OK);
    // Once finalized, the content cannot change.
    expect_error(
        &put(&http, &session, b"rewritten".to_vec()).await?,
        StatusCode::CONFLICT,
    )?;

    // Only the owner may abandon an upload.
    let other = start(&http, base, &alice, "y.txt").await?;
    let other_url = other["url"].as_str().context("no url")?;
    let got = json_of(http.delete(other_url).bearer_auth(&mallory).send().await?).await?;
    expect_error(&got, StatusCode::NOT_FOUND)?;
    let res = http.delete(other_url).bearer_auth(&alice).send().await?;
    ensure!(res.status() == StatusCode::NO_CONTENT);
    expect_error(
        &put(&http, &other, b"late".to_vec()).await?,
        StatusCode::NOT_FOUND,
    )?;

    // The operator API needs the admin token.
    let got = json_of(
        http.get(format!("{base}/admin/api/v1/clientLogs"))
            .bearer_auth(&alice)
            .send()
            .await?,
    )
    .await?;
    expect_error(&got, StatusCode::UNAUTHORIZED)?;
    expect_error(
        &admin_get(&http, base, "/admin/api/v1/clientLogs?limit=0").await?,
        StatusCode::BAD_REQUEST,
    )?;
    expect_error(
        &admin_get(
            &http,
            base,
            "/admin/api/v1/clientLogs?email=nobody@example.com",
        )
        .await?,
        StatusCode::NOT_FOUND,
    )?;
    Ok(())
}
on_every_backend!(
    uploads_are_bound_to_their_owner_and_their_secret,
    access_rules
);

fn small_caps(config: &mut ServerConfig) {
    config.client_logs.max_upload_bytes = 1024;
    config.client_logs.max_total_bytes = 2500;
    config.client_logs.max_pending_per_person = 2;
    // This test is about the total cap: one person may fill it.
    config.client_logs.max_person_bytes = Some(2500);
}

async fn caps(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let token = server.token_for("big@example.com").await?;

    let session = start(&http, base, &token, "big.txt").await?;
    ensure!(session["fileUploadSizeLimit"] == 1, "{session}");
    expect_error(
        &put(&http, &session, vec![b'x'; 1025]).await?,
        StatusCode::PAYLOAD_TOO_LARGE,
    )?;

    // Three uploads of 1000 bytes against a 2500-byte total: the oldest goes.
    let mut ids = Vec::new();
    for n in 0..3u8 {
        let s = start(&http, base, &token, &format!("log{n}.txt")).await?;
        let (status, _) = put(&http, &s, vec![b'a' + n; 1000]).await?;
        ensure!(status == StatusCode::NO_CONTENT, "upload {n}: {status}");
        let (status, log) = finalize(&http, base, &token, &s).await?;
        ensure!(status == StatusCode::OK, "logs/meta {n}: {log}");
        ids.push(log["id"].as_str().context("no id")?.to_owned());
        // Distinct upload times, so "oldest" is well defined.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, list) = admin_get(&http, base, "/admin/api/v1/clientLogs").await?;
    let kept: Vec<&str> = list["items"]
        .as_array()
        .context("no items")?
        .iter()
        .filter(|l| l["state"] == "finalized")
        .filter_map(|l| l["id"].as_str())
        .collect();
    ensure!(
        kept == [ids[2].as_str(), ids[1].as_str()],
        "kept {kept:?} of {ids:?}"
    );
    expect_error(
        &admin_get(
            &http,
            base,
            &format!("/admin/api/v1/clientLogs/{}/content", ids[0]),
        )
        .await?,
        StatusCode::NOT_FOUND,
    )?;

    // At most two pending uploads per person: a third start drops the oldest
    // (started a few milliseconds apart: two in the same millisecond are
    // equally old, and either may go).
    let p1 = start(&http, base, &token, "p1.txt").await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let p2 = start(&http, base, &token, "p2.txt").await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let p3 = start(&http, base, &token, "p3.txt").await?;
    expect_error(
        &put(&http, &p1, b"x".to_vec()).await?,
        StatusCode::NOT_FOUND,
    )?;
    for p in [&p2, &p3] {
        let (status, _) = put(&http, p, b"x".to_vec()).await?;
        ensure!(status == StatusCode::NO_CONTENT);
    }

    // Paging: one per page, newest first, `next` until the end.
    let (_, page) = admin_get(&http, base, "/admin/api/v1/clientLogs?limit=1").await?;
    let next = page["next"].as_i64().context("no next on a full page")?;
    let (_, page2) = admin_get(
        &http,
        base,
        &format!("/admin/api/v1/clientLogs?limit=1&before={next}"),
    )
    .await?;
    ensure!(
        page2["items"][0]["id"] != page["items"][0]["id"],
        "{page} {page2}"
    );
    Ok(())
}
on_every_backend!(
    uploads_are_capped_and_the_oldest_are_evicted,
    caps,
    small_caps
);

async fn cors(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    // The browser SDK's PUT to tempURL is cross-origin with a custom header.
    let res = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/clientlogs/api/v1/uploads/x?token=y"),
        )
        .header("origin", "http://127.0.0.1:9")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "x-trans-id,content-type")
        .send()
        .await?;
    ensure!(res.status().is_success(), "preflight: {}", res.status());
    let allowed = res.headers()["access-control-allow-headers"]
        .to_str()?
        .to_lowercase();
    ensure!(allowed.contains("x-trans-id"), "{allowed}");
    Ok(())
}
on_every_backend!(the_upload_url_allows_the_browser_sdk_preflight, cors);

async fn large_upload(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let token = server.token_for("large@example.com").await?;
    let session = start(&http, base, &token, "large.txt").await?;
    let limit_mib = session["fileUploadSizeLimit"]
        .as_u64()
        .context("no fileUploadSizeLimit")?;
    ensure!(limit_mib == 16, "{session}");

    // 3 MiB: twelve times the server-wide body limit, well under the
    // advertised per-upload limit.
    let text: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| b"0123456789abcdef\n"[(i % 17) as usize])
        .collect();
    let started = std::time::Instant::now();
    let (status, body) = put(&http, &session, text.clone()).await?;
    ensure!(
        status == StatusCode::NO_CONTENT,
        "a 3 MiB upload: {status} {body}"
    );
    eprintln!(
        "3 MiB upload stored in {} ms",
        started.elapsed().as_millis()
    );
    let (status, log) = finalize(&http, base, &token, &session).await?;
    ensure!(status == StatusCode::OK, "logs/meta: {log}");
    ensure!(log["size"] == text.len(), "{log}");
    let id = log["id"].as_str().context("no id")?;
    let res = http
        .get(format!("{base}/admin/api/v1/clientLogs/{id}/content"))
        .bearer_auth(ADMIN)
        .send()
        .await?;
    ensure!(
        res.bytes().await?.as_ref() == text.as_slice(),
        "content differs"
    );

    // Beyond the advertised limit: 413 as soon as the head announces it.
    let over = start(&http, base, &token, "over.txt").await?;
    let url = url::Url::parse(over["tempURL"].as_str().context("no tempURL")?)?;
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let mut s = tokio::net::TcpStream::connect(server.server().local_addr()).await?;
    s.write_all(
        format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            16 * 1024 * 1024 + 1
        )
        .as_bytes(),
    )
    .await?;
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head)).await??;
    ensure!(
        head.ends_with(b" 413"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    // Other routes keep the server-wide limit.
    let got = json_of(
        http.post(format!("{base}/clientlogs/api/v1/logs/urls"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(vec![b' '; 300 * 1024])
            .send()
            .await?,
    )
    .await?;
    expect_error(&got, StatusCode::PAYLOAD_TOO_LARGE)?;
    Ok(())
}
on_every_backend!(
    uploads_up_to_the_advertised_limit_are_accepted,
    large_upload
);

fn quota_caps(config: &mut ServerConfig) {
    config.client_logs.max_upload_bytes = 1024;
    config.client_logs.max_total_bytes = 5000;
    config.client_logs.max_person_bytes = Some(2000);
}

/// Uploads `content`, then finalizes with `data`; returns the log.
async fn upload_log(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    content: Vec<u8>,
    data: Value,
) -> anyhow::Result<Value> {
    let session = start(http, base, token, "log.txt").await?;
    let (status, body) = put(http, &session, content).await?;
    ensure!(status == StatusCode::NO_CONTENT, "upload: {status} {body}");
    let (status, log) = finalize_with(http, base, token, &session, data).await?;
    ensure!(status == StatusCode::OK, "logs/meta: {status} {log}");
    // Distinct upload times, so "oldest" is well defined.
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(log)
}

/// The ids of `email`'s stored logs, newest first.
async fn logs_of(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<Vec<String>> {
    let (status, list) = admin_get(
        http,
        base,
        &format!("/admin/api/v1/clientLogs?email={email}&limit=100"),
    )
    .await?;
    ensure!(status == StatusCode::OK, "{list}");
    Ok(list["items"]
        .as_array()
        .context("no items")?
        .iter()
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect())
}

async fn metadata_and_quota(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();

    // A finalized log's metadata cannot be replaced.
    let once = server.token_for("once@example.com").await?;
    let session = start(&http, base, &once, "once.txt").await?;
    let (status, _) = put(&http, &session, b"first".to_vec()).await?;
    ensure!(status == StatusCode::NO_CONTENT);
    let (status, _) = finalize(&http, base, &once, &session).await?;
    ensure!(status == StatusCode::OK);
    let forged = json!([{"key": "locusId", "value": "forged"}]);
    expect_error(
        &finalize_with(&http, base, &once, &session, forged).await?,
        StatusCode::CONFLICT,
    )?;
    let id = logs_of(&http, base, "once@example.com").await?;
    let (_, log) = admin_get(&http, base, &format!("/admin/api/v1/clientLogs/{}", id[0])).await?;
    ensure!(log["meta"][0]["value"] == "6b1c", "{log}");

    // Metadata counts: empty logs with ~730 bytes of metadata each, under a
    // 2000-byte quota per person, keep two.
    let meta = server.token_for("meta@example.com").await?;
    let data: Value = (0..7)
        .map(|n| json!({"key": format!("k{n}"), "value": "m".repeat(80)}))
        .collect();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let log = upload_log(&http, base, &meta, Vec::new(), data.clone()).await?;
        ensure!(log["size"] == 0, "{log}");
        ids.push(log["id"].as_str().context("no id")?.to_owned());
    }
    let kept = logs_of(&http, base, "meta@example.com").await?;
    ensure!(
        kept == [ids[3].clone(), ids[2].clone()],
        "kept {kept:?} of {ids:?}"
    );
    // And is bounded.
    let session = start(&http, base, &meta, "huge-meta.txt").await?;
    let (status, _) = put(&http, &session, Vec::new()).await?;
    ensure!(status == StatusCode::NO_CONTENT);
    let huge: Value = (0..40)
        .map(|n| json!({"key": format!("k{n}"), "value": "h".repeat(2000)}))
        .collect();
    expect_error(
        &finalize_with(&http, base, &meta, &session, huge).await?,
        StatusCode::BAD_REQUEST,
    )?;

    // One person's flood evicts their own logs, not everyone else's.
    let victim = server.token_for("victim@example.com").await?;
    let kept_log = upload_log(&http, base, &victim, vec![b'v'; 500], json!([])).await?;
    let flood = server.token_for("flood@example.com").await?;
    for _ in 0..10 {
        upload_log(&http, base, &flood, vec![b'f'; 1000], json!([])).await?;
    }
    let victims = logs_of(&http, base, "victim@example.com").await?;
    ensure!(
        victims.first().map(String::as_str) == kept_log["id"].as_str(),
        "the victim's log was evicted: {victims:?}"
    );
    let flooded = logs_of(&http, base, "flood@example.com").await?;
    ensure!(flooded.len() == 1, "the flood kept {flooded:?}");
    eprintln!(
        "after 10 × 1000 bytes from one person: victim kept {} log(s), the flooder {}",
        victims.len(),
        flooded.len()
    );
    Ok(())
}
on_every_backend!(
    metadata_counts_finalizing_is_once_and_each_person_has_a_quota,
    metadata_and_quota,
    quota_caps
);
