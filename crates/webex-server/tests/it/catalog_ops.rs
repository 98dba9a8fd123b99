//! End-to-end tests of discovery, the SDK compatibility answers, the
//! operations endpoints and the HTTP envelope (errors, CORS), on SQLite and,
//! when `WEBEX_TEST_DATABASE_URL` is set, on PostgreSQL.

use anyhow::{Context, ensure};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webex_server::testing::TestServer;
use webex_wire::error::codes;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.text).with_context(|| format!("not JSON: {}", self.text))
    }
}

async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
    let res = req.send().await?;
    Ok(Reply {
        status: res.status(),
        headers: res.headers().clone(),
        text: res.text().await?,
    })
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().build()?)
}

// ---------------------------------------------------------------------------

async fn catalogs(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let token = server.token_for("cat@example.com").await?;
    let queries = [
        "/u2c/api/v1/limited/catalog?orgId=abc&format=hostmap",
        "/u2c/api/v1/limited/catalog?emailhash=00ff&format=hostmap",
        "/u2c/api/v1/limited/catalog?mode=DEFAULT_BY_PROXIMITY&userId=u&timestamp=1",
        "/u2c/api/v1/signin/catalog?email=cat%40example.com&format=hostmap",
    ];
    for path in queries {
        let reply = send(http.get(format!("{base}{path}"))).await?;
        ensure!(reply.status == StatusCode::OK, "{path}: {}", reply.status);
        let body = reply.json()?;
        ensure!(
            body["serviceLinks"]["wdm"] == format!("{base}/wdm/api/v1").as_str(),
            "{path}: {body}"
        );
        ensure!(body["hostCatalog"] == json!({}), "{body}");
    }
    let reply = send(
        http.get(format!("{base}/u2c/api/v1/catalog?format=hostmap"))
            .bearer_auth(&token),
    )
    .await?;
    ensure!(reply.status == StatusCode::OK, "{}", reply.text);
    ensure!(reply.json()?["serviceLinks"]["calliopeDiscovery"].is_string());
    Ok(())
}
on_every_backend!(catalogs_list_every_service_under_the_public_url, catalogs);

async fn compat(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let token = server.token_for("compat@example.com").await?;
    let site = base.trim_start_matches("http://").to_owned();
    let authed = [
        (
            Method::GET,
            "/v1/meetingPreferences",
            json!({"sites": [{"siteUrl": site, "default": true}]}),
        ),
        (
            Method::GET,
            "/calliope/api/discovery/v1/clusters?JCSupport=1&ipver=4",
            json!({"clusters": {}, "joinCookie": {}}),
        ),
        (
            Method::POST,
            "/calliope/api/discovery/v1/clusters?JCSupport=1&ipver=4",
            json!({"clusters": {}, "joinCookie": {}}),
        ),
        (
            Method::GET,
            "/conversation/api/v1/users",
            json!({"userPreferences": {"userPreferencesItems": {}}}),
        ),
        (
            Method::GET,
            "/locus/api/v1/loci",
            json!({"loci": [], "locusUrls": []}),
        ),
    ];
    for (method, path, expected) in authed {
        let url = format!("{base}{path}");
        let reply = send(http.request(method.clone(), &url).bearer_auth(&token)).await?;
        ensure!(reply.status == StatusCode::OK, "{path}: {}", reply.text);
        ensure!(reply.json()? == expected, "{path}: {}", reply.text);
        let anonymous = send(http.request(method, &url)).await?;
        ensure!(
            anonymous.status == StatusCode::UNAUTHORIZED,
            "{path} without token: {}",
            anonymous.status
        );
    }
    for path in ["/region", "/v1/region"] {
        let reply = send(http.get(format!("{base}{path}"))).await?;
        let body = reply.json()?;
        ensure!(reply.status == StatusCode::OK, "{path}");
        ensure!(body["countryCode"] == "US", "{body}");
        ensure!(body["regionCode"] == "US-EAST", "{body}");
        ensure!(body["timezone"] == "America/New_York", "{body}");
        ensure!(body["clientAddress"] == "127.0.0.1", "{body}");
    }
    let metrics =
        json!({"metrics": [{"metricName": "x", "tags": {}, "fields": {}, "type": ["behavioral"]}]});
    let reply = send(
        http.post(format!("{base}/metrics/api/v1/clientmetrics"))
            .bearer_auth(&token)
            .json(&metrics),
    )
    .await?;
    ensure!(reply.status == StatusCode::NO_CONTENT, "{}", reply.text);
    let reply = send(
        http.post(format!("{base}/metrics/api/v1/clientmetrics-prelogin"))
            .json(&metrics),
    )
    .await?;
    ensure!(reply.status == StatusCode::NO_CONTENT, "{}", reply.text);
    let reply = send(
        http.post(format!("{base}/metrics/api/v1/clientmetrics-prelogin"))
            .header(header::CONTENT_TYPE, "application/json")
            .body("{not json"),
    )
    .await?;
    ensure!(reply.status == StatusCode::BAD_REQUEST, "{}", reply.text);
    Ok(())
}
on_every_backend!(sdk_register_side_calls_get_harmless_answers, compat);

async fn errors(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    // Unknown route.
    let reply = send(
        http.get(format!("{base}/no/such/route"))
            .header("trackingid", "webex-js-sdk_abc_7"),
    )
    .await?;
    ensure!(reply.status == StatusCode::NOT_FOUND);
    let body = reply.json()?;
    ensure!(body["code"] == codes::NOT_FOUND, "{body}");
    ensure!(body["trackingId"] == "webex-js-sdk_abc_7", "{body}");
    ensure!(
        reply
            .headers
            .get("trackingid")
            .and_then(|v| v.to_str().ok())
            == Some("webex-js-sdk_abc_7")
    );
    // Without a tracking id, one is minted and still returned.
    let reply = send(http.delete(format!("{base}/healthz"))).await?;
    ensure!(reply.status == StatusCode::METHOD_NOT_ALLOWED);
    let body = reply.json()?;
    let minted = body["trackingId"].as_str().context("trackingId")?;
    ensure!(!minted.is_empty());
    ensure!(
        reply
            .headers
            .get("trackingid")
            .and_then(|v| v.to_str().ok())
            == Some(minted)
    );
    Ok(())
}
on_every_backend!(unknown_routes_get_json_errors_with_tracking_ids, errors);

async fn cors(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let asked = "authorization, cisco-no-http-redirect, spark-user-agent, trackingid, content-type, cisco-device-url";
    for path in [
        "/wdm/api/v1/devices",
        "/u2c/api/v1/limited/catalog",
        "/u2c/api/v1/catalog",
    ] {
        let reply = send(
            http.request(Method::OPTIONS, format!("{base}{path}"))
                .header(header::ORIGIN, "http://app.example:3000")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, asked),
        )
        .await?;
        ensure!(reply.status.is_success(), "{path}: {}", reply.status);
        let h = &reply.headers;
        // Any origin, never with credentials (issue 14: the origin was
        // reflected, `null` included, with credentials allowed).
        ensure!(
            h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .and_then(|v| v.to_str().ok())
                == Some("*"),
            "{path}: allow-origin {h:?}"
        );
        ensure!(
            !h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            "{path}: credentials allowed {h:?}"
        );
        let allowed = h
            .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        for name in asked.split(", ") {
            ensure!(
                allowed.contains(name),
                "{path}: {name} not allowed in {allowed}"
            );
        }
    }
    // Errors carry the CORS headers too, so the page can read them.
    let reply = send(
        http.get(format!("{base}/wdm/api/v1/devices"))
            .header(header::ORIGIN, "http://app.example:3000"),
    )
    .await?;
    ensure!(reply.status == StatusCode::UNAUTHORIZED);
    ensure!(
        reply
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "{:?}",
        reply.headers
    );
    Ok(())
}
on_every_backend!(cors_preflights_echo_the_sdk_headers, cors);

async fn ops(server: &TestServer) -> anyhow::Result<()> {
    let http = client()?;
    let base = server.base_url();
    let reply = send(http.get(format!("{base}/healthz"))).await?;
    ensure!(reply.status == StatusCode::OK);
    ensure!(reply.json()? == json!({"status": "ok"}));
    let reply = send(http.get(format!("{base}/readyz"))).await?;
    ensure!(reply.status == StatusCode::OK, "{}", reply.text);
    ensure!(reply.json()? == json!({"status": "ok"}));

    // Register once so the counter exists, then scrape.
    let token = server.token_for("ops@example.com").await?;
    let reply = send(
        http.post(format!("{base}/wdm/api/v1/devices"))
            .bearer_auth(&token)
            .json(&json!({"name": "ops", "deviceType": "WEB"})),
    )
    .await?;
    ensure!(reply.status == StatusCode::OK, "{}", reply.text);
    let reply = send(http.get(format!("{base}/metrics"))).await?;
    ensure!(reply.status == StatusCode::OK);
    ensure!(
        reply
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain")),
        "{:?}",
        reply.headers
    );
    ensure!(
        reply.text.contains("webex_devices_registered_total"),
        "{}",
        reply.text
    );

    let reply = send(http.get(format!("{base}/openapi.json"))).await?;
    ensure!(reply.status == StatusCode::OK);
    let doc = reply.json()?;
    ensure!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    ensure!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    ensure!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    let devices = &doc["paths"]["/wdm/api/v1/devices"];
    ensure!(devices["post"].is_object() && devices["get"].is_object());
    let one = &doc["paths"]["/wdm/api/v1/devices/{id}"];
    for m in ["get", "put", "delete"] {
        ensure!(one[m].is_object(), "{m} /devices/{{id}} undocumented");
    }
    ensure!(devices["post"]["responses"]["403"].is_object());
    ensure!(doc["paths"]["/u2c/api/v1/limited/catalog"]["get"].is_object());
    ensure!(doc["paths"]["/locus/api/v1/loci"]["get"].is_object());
    Ok(())
}
on_every_backend!(health_readiness_metrics_and_openapi, ops);

/// With `metrics_listen` (`--metrics-listen`), `/metrics` is served on that
/// address only: the API port answers it with the JSON 404 of any unknown
/// path, and the metrics address answers nothing but `/metrics`. Without
/// it, the API port serves `/metrics` and no second address is bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_to_their_own_address() -> anyhow::Result<()> {
    let http = client()?;
    let server = TestServer::start_with(|c| {
        c.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await?;
    let base = server.base_url().to_owned();
    let metrics_addr = server
        .server()
        .metrics_addr()
        .context("metrics_listen set but no metrics address bound")?;
    ensure!(metrics_addr != server.server().local_addr());

    let reply = send(http.get(format!("{base}/metrics"))).await?;
    crate::support::expect_json_error(
        reply.status,
        &reply.headers,
        &reply.json()?,
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
    )?;
    let reply = send(http.get(format!("{base}/healthz"))).await?;
    ensure!(reply.status == StatusCode::OK, "{}", reply.text);
    // The API port's document no longer lists what it does not serve.
    let doc = send(http.get(format!("{base}/openapi.json")))
        .await?
        .json()?;
    ensure!(
        doc["paths"].get("/metrics").is_none(),
        "/metrics still listed"
    );
    ensure!(doc["paths"].get("/readyz").is_some(), "{doc}");

    let reply = send(http.get(format!("http://{metrics_addr}/metrics"))).await?;
    ensure!(reply.status == StatusCode::OK, "{}", reply.text);
    ensure!(
        reply
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain")),
        "{:?}",
        reply.headers
    );
    let build = format!(
        "webex_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    ensure!(reply.text.contains(&build), "{}", reply.text);
    ensure!(
        reply.text.contains("# HELP webex_build_info"),
        "{}",
        reply.text
    );
    // Only /metrics there: the API is not reachable through it.
    let reply = send(http.get(format!("http://{metrics_addr}/healthz"))).await?;
    crate::support::expect_json_error(
        reply.status,
        &reply.headers,
        &reply.json()?,
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
    )?;
    server.shutdown().await;

    let server = TestServer::start().await?;
    ensure!(server.server().metrics_addr().is_none());
    let reply = send(http.get(format!("{}/metrics", server.base_url()))).await?;
    ensure!(reply.status == StatusCode::OK, "{}", reply.text);
    ensure!(reply.text.contains(&build), "{}", reply.text);
    server.shutdown().await;
    Ok(())
}
