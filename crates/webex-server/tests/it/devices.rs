//! End-to-end tests of the WDM device registry (and the discovery steps a
//! client takes before it), on SQLite and, when `WEBEX_TEST_DATABASE_URL` is
//! set, on PostgreSQL.

use std::time::Duration;

use anyhow::{Context, ensure};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webex_server::ServerConfig;
use webex_server::store::DeviceUpdateOutcome;
use webex_server::testing::TestServer;
use webex_wire::error::codes;

/// A reply, with the tracking id the request carried.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    tracking_id: String,
}

impl Answer {
    /// Checks a Webex-style error: status, code, message, and the request's
    /// tracking id in both the body and the `trackingid` header.
    fn expect_error(&self, status: StatusCode, code: &str) -> anyhow::Result<()> {
        crate::support::expect_json_error(self.status, &self.headers, &self.body, status, code)?;
        ensure!(
            self.body["trackingId"] == self.tracking_id.as_str(),
            "trackingId {} != {}",
            self.body["trackingId"],
            self.tracking_id
        );
        Ok(())
    }

    fn expect_ok(&self) -> anyhow::Result<&Value> {
        ensure!(
            self.status.is_success(),
            "expected success, got {} {}",
            self.status,
            self.body
        );
        Ok(&self.body)
    }
}

/// A client of one test server.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &TestServer) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().no_proxy().build()?,
            base: server.base_url().to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends a JSON request the way the JS SDK does.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        self.send(req).await
    }

    /// Adds a fresh `trackingid` and decodes the reply.
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let tracking_id = format!("webex-js-sdk_{}_1", uuid::Uuid::new_v4());
        let res = req
            .header("trackingid", &tracking_id)
            .header("spark-user-agent", "webex/3.12.0 (node)")
            .header("cisco-no-http-redirect", "true")
            .send()
            .await?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).with_context(|| {
                format!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes))
            })?
        };
        Ok(Answer {
            status,
            headers,
            body,
            tracking_id,
        })
    }
}

/// What the official JS SDK posts (ephemeral).
fn sdk_body(name: &str) -> Value {
    json!({
        "name": name,
        "deviceType": "WEB",
        "model": "web-js-sdk",
        "localizedModel": "webex-js-sdk",
        "systemName": "WEBEX_JS_SDK",
        "systemVersion": "1.0.0",
        "ttl": 1800
    })
}

const DEVICES: &str = "/wdm/api/v1/devices";

fn str_of<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v[key]
        .as_str()
        .with_context(|| format!("`{key}` missing in {v}"))
}

fn parse_time(v: &Value, key: &str) -> anyhow::Result<chrono::DateTime<chrono::FixedOffset>> {
    Ok(chrono::DateTime::parse_from_rfc3339(str_of(v, key)?)?)
}

/// Registers a device for `token` and returns its JSON.
async fn register(api: &Api, token: &str, name: &str) -> anyhow::Result<Value> {
    let answer = api
        .call(Method::POST, DEVICES, Some(token), Some(&sdk_body(name)))
        .await?;
    Ok(answer.expect_ok()?.clone())
}

// ---------------------------------------------------------------------------

async fn curl_flow(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let person = server.person("alice@example.com").await?;
    let token = server.token_for("alice@example.com").await?;
    let base = server.base_url();
    let wdm = format!("{base}/wdm/api/v1");

    // 1. Pre-login catalog, no auth.
    let limited = api
        .call(
            Method::GET,
            &format!(
                "/u2c/api/v1/limited/catalog?orgId={}&format=hostmap",
                person.org_id
            ),
            None,
            None,
        )
        .await?;
    let limited = limited.expect_ok()?;
    ensure!(limited["serviceLinks"]["wdm"] == wdm.as_str(), "{limited}");
    ensure!(limited["hostCatalog"] == json!({}), "{limited}");
    ensure!(limited["format"] == "hostmap", "{limited}");

    // 2. Post-login catalog, Bearer.
    let catalog = api
        .call(
            Method::GET,
            "/u2c/api/v1/catalog?format=hostmap",
            Some(&token),
            None,
        )
        .await?;
    let catalog = catalog.expect_ok()?;
    for (name, path) in [
        ("wdm", "/wdm/api/v1"),
        ("hydra", "/v1"),
        ("u2c", "/u2c/api/v1"),
        ("locus", "/locus/api/v1"),
        ("metrics", "/metrics/api/v1"),
        ("calliopeDiscovery", "/calliope/api/discovery/v1"),
        ("conversation", "/conversation/api/v1"),
    ] {
        ensure!(
            catalog["serviceLinks"][name] == format!("{base}{path}").as_str(),
            "{name}: {catalog}"
        );
    }

    // 3. people/me.
    let hydra = str_of(&catalog["serviceLinks"], "hydra")?;
    let me = api
        .call(
            Method::GET,
            &format!("{hydra}/people/me"),
            Some(&token),
            None,
        )
        .await?;
    ensure!(me.expect_ok()?["id"].is_string(), "{}", me.body);

    // 4. Register.
    let res = api
        .call(
            Method::POST,
            &format!("{wdm}/devices?includeUpstreamServices=all"),
            Some(&token),
            Some(&sdk_body("curl-flow")),
        )
        .await?;
    let device = res.expect_ok()?.clone();
    ensure!(res.headers.contains_key(header::ETAG), "no etag");
    let url = str_of(&device, "url")?.to_owned();
    let id = url
        .strip_prefix(&format!("{wdm}/devices/"))
        .with_context(|| format!("url {url} not under {wdm}/devices/"))?
        .to_owned();
    ensure!(uuid::Uuid::parse_str(&id).is_ok(), "id {id}");
    let ws = format!(
        "{}/mercury/v1/apps/wx2/registrations/{id}/messages",
        base.replacen("http://", "ws://", 1)
    );
    ensure!(device["webSocketUrl"] == ws.as_str(), "{device}");
    ensure!(device["userId"] == person.id.as_str(), "{device}");
    ensure!(device["orgId"] == person.org_id.as_str(), "{device}");
    ensure!(device["name"] == "curl-flow", "{device}");
    ensure!(device["deviceType"] == "WEB", "{device}");
    ensure!(device["ttl"] == 1800, "{device}");
    let features = &device["features"];
    ensure!(features["developer"].is_array(), "{device}");
    ensure!(features["entitlement"].is_array(), "{device}");
    ensure!(features["user"].is_array(), "{device}");
    for kind in ["developer", "entitlement", "user"] {
        for f in features[kind].as_array().into_iter().flatten() {
            ensure!(f["val"].is_string() && f["key"].is_string(), "{f}");
            let key = f["key"].as_str().unwrap_or_default();
            ensure!(
                key != "web-high-availability" && key != "web-shared-mercury",
                "developer toggle {key} must not be set"
            );
        }
    }
    let created = parse_time(&device, "creationTime")?;
    let modified = parse_time(&device, "modificationTime")?;
    ensure!(modified >= created);

    // 5. GET it back.
    let got = api.call(Method::GET, &url, Some(&token), None).await?;
    ensure!(got.expect_ok()? == &device, "GET differs: {}", got.body);
    ensure!(got.headers.get(header::ETAG) == res.headers.get(header::ETAG));

    // 6. PUT = refresh with the whole stored record, as the JS SDK does.
    let mut stored = device.clone();
    if let Some(obj) = stored.as_object_mut() {
        obj.remove("features");
        obj.insert("url".into(), json!("http://elsewhere.invalid/devices/x"));
        obj.insert("name".into(), json!("curl-flow-renamed"));
        obj.insert("customerCompanyName".into(), json!("Example Inc"));
    }
    let put = api
        .call(
            Method::PUT,
            &format!("{url}?includeUpstreamServices=all"),
            Some(&token),
            Some(&stored),
        )
        .await?;
    let refreshed = put.expect_ok()?.clone();
    ensure!(refreshed["url"] == url.as_str(), "{refreshed}");
    ensure!(refreshed["name"] == "curl-flow-renamed", "{refreshed}");
    ensure!(
        refreshed["customerCompanyName"] == "Example Inc",
        "{refreshed}"
    );
    ensure!(refreshed["features"]["user"].is_array(), "{refreshed}");
    ensure!(refreshed["creationTime"] == device["creationTime"]);
    ensure!(parse_time(&refreshed, "modificationTime")? >= modified);
    ensure!(put.headers.contains_key(header::ETAG));

    // 7. List.
    let listed = api.call(Method::GET, DEVICES, Some(&token), None).await?;
    let devices = listed.expect_ok()?["devices"]
        .as_array()
        .context("devices array")?
        .clone();
    ensure!(devices.len() == 1, "{devices:?}");
    ensure!(devices[0] == refreshed, "list entry differs");

    // 8. Delete, then it is gone everywhere.
    let del = api.call(Method::DELETE, &url, Some(&token), None).await?;
    ensure!(del.status == StatusCode::NO_CONTENT, "{}", del.status);
    api.call(Method::GET, &url, Some(&token), None)
        .await?
        .expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
    api.call(Method::PUT, &url, Some(&token), Some(&stored))
        .await?
        .expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
    api.call(Method::DELETE, &url, Some(&token), None)
        .await?
        .expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
    let listed = api.call(Method::GET, DEVICES, Some(&token), None).await?;
    ensure!(listed.expect_ok()?["devices"] == json!([]));
    Ok(())
}
on_every_backend!(curl_flow_registers_refreshes_lists_and_deletes, curl_flow);

async fn requires_a_token(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    api.call(Method::POST, DEVICES, None, Some(&sdk_body("x")))
        .await?
        .expect_error(StatusCode::UNAUTHORIZED, codes::TOKEN_MISSING)?;
    api.call(Method::GET, DEVICES, Some("nope_PF84_org"), None)
        .await?
        .expect_error(StatusCode::UNAUTHORIZED, codes::TOKEN_UNKNOWN)?;
    api.call(Method::GET, "/u2c/api/v1/catalog", None, None)
        .await?
        .expect_error(StatusCode::UNAUTHORIZED, codes::TOKEN_MISSING)?;
    Ok(())
}
on_every_backend!(device_routes_require_a_token, requires_a_token);

async fn cross_person(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let alice = server.token_for("alice@example.com").await?;
    let bob = server.token_for("bob@example.org").await?;
    let device = register(&api, &alice, "alice-app").await?;
    let url = str_of(&device, "url")?;
    let missing = format!("{DEVICES}/{}", uuid::Uuid::new_v4());

    for target in [url, missing.as_str()] {
        let get = api.call(Method::GET, target, Some(&bob), None).await?;
        get.expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
        let put = api
            .call(Method::PUT, target, Some(&bob), Some(&sdk_body("stolen")))
            .await?;
        put.expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
        let del = api.call(Method::DELETE, target, Some(&bob), None).await?;
        del.expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
        // Someone else's device and no device at all look the same.
        ensure!(get.body["message"].is_string());
    }
    let bobs = api.call(Method::GET, DEVICES, Some(&bob), None).await?;
    ensure!(bobs.expect_ok()?["devices"] == json!([]));

    let still = api.call(Method::GET, url, Some(&alice), None).await?;
    ensure!(still.expect_ok()?["name"] == "alice-app", "{}", still.body);
    Ok(())
}
on_every_backend!(other_peoples_devices_are_invisible, cross_person);

async fn validation(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let token = server.token_for("val@example.com").await?;
    let cases = [
        (
            json!({"deviceType": "WEB", "name": "x".repeat(257)}),
            "`name`",
        ),
        (
            json!({"deviceType": "WEB", "name": "ok", "model": "m".repeat(300)}),
            "`model`",
        ),
        (
            json!({"deviceType": "WEB", "name": "ok", "ttl": 29}),
            "`ttl`",
        ),
        (
            json!({"deviceType": "WEB", "name": "ok", "ttl": 2_592_001}),
            "`ttl`",
        ),
        (json!({"deviceType": "WEB", "name": "ok", "ttl": -5}), "ttl"),
        (json!({"deviceType": "WEB", "name": 5}), "name"),
        (json!({"name": "ok"}), "`deviceType`"),
        (json!({"name": "ok", "deviceType": "web"}), "`deviceType`"),
    ];
    for (body, needle) in cases {
        let res = api
            .call(Method::POST, DEVICES, Some(&token), Some(&body))
            .await?;
        res.expect_error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST)?;
        let message = str_of(&res.body, "message")?;
        ensure!(message.contains(needle), "{message} should name {needle}");
    }
    // Boundaries are accepted.
    for ttl in [30, 2_592_000] {
        let body = json!({"deviceType": "WEB", "name": "é".repeat(256), "ttl": ttl});
        api.call(Method::POST, DEVICES, Some(&token), Some(&body))
            .await?
            .expect_ok()?;
    }
    // Malformed JSON names the problem.
    let req = api
        .http
        .post(api.url(DEVICES))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"name\": \"x\",");
    let res = api.send(req).await?;
    res.expect_error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST)?;
    ensure!(
        str_of(&res.body, "message")?.contains("JSON"),
        "{}",
        res.body
    );
    // PUT validates too.
    let device = register(&api, &token, "val").await?;
    let url = str_of(&device, "url")?;
    let res = api
        .call(Method::PUT, url, Some(&token), Some(&json!({"ttl": 1})))
        .await?;
    res.expect_error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST)?;
    Ok(())
}
on_every_backend!(invalid_bodies_get_400_naming_the_field, validation);

async fn oversized(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let token = server.token_for("big@example.com").await?;
    let body = json!({"deviceType": "WEB", "name": "big", "padding": "x".repeat(8 * 1024)});
    api.call(Method::POST, DEVICES, Some(&token), Some(&body))
        .await?
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE)?;
    // Just under the limit is fine.
    let body = json!({"deviceType": "WEB", "name": "small", "padding": "x".repeat(512)});
    let device = api
        .call(Method::POST, DEVICES, Some(&token), Some(&body))
        .await?;
    ensure!(device.expect_ok()?["padding"] == "x".repeat(512));
    Ok(())
}
on_every_backend!(oversized_bodies_get_413_json, oversized, |c| c.body_limit =
    4096);

async fn device_limit(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let token = server.token_for("many@example.com").await?;
    let mut first = None;
    for i in 0..3 {
        let device = register(&api, &token, &format!("d{i}")).await?;
        first.get_or_insert(device);
    }
    let res = api
        .call(Method::POST, DEVICES, Some(&token), Some(&sdk_body("d3")))
        .await?;
    res.expect_error(StatusCode::FORBIDDEN, codes::EXCESSIVE_DEVICE_REGISTRATIONS)?;
    // The JS SDK compares the message verbatim before pruning its devices.
    ensure!(
        res.body["message"] == webex_wire::error::EXCESSIVE_DEVICE_REGISTRATIONS_MESSAGE,
        "{}",
        res.body
    );
    let detail = str_of(&res.body["errors"][0], "description")?;
    ensure!(detail.contains("limit is 3"), "{detail}");

    // Another person is not affected.
    let other = server.token_for("other@example.com").await?;
    register(&api, &other, "mine").await?;

    // Deleting one makes room.
    let url = str_of(first.as_ref().context("a device")?, "url")?.to_owned();
    let del = api.call(Method::DELETE, &url, Some(&token), None).await?;
    ensure!(del.status == StatusCode::NO_CONTENT);
    register(&api, &token, "d3").await?;
    Ok(())
}
on_every_backend!(
    fourth_device_over_a_limit_of_three_is_refused,
    device_limit,
    |c| c.device_limit = 3
);

async fn ttl_expiry(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let state = server.server().state();
    let token = server.token_for("ttl@example.com").await?;
    let mut body = sdk_body("ephemeral");
    body["ttl"] = json!(30);
    let ephemeral = api
        .call(Method::POST, DEVICES, Some(&token), Some(&body))
        .await?;
    let ephemeral = ephemeral.expect_ok()?.clone();
    let mut body = sdk_body("durable");
    if let Some(obj) = body.as_object_mut() {
        obj.remove("ttl");
    }
    let durable = api
        .call(Method::POST, DEVICES, Some(&token), Some(&body))
        .await?;
    let durable = durable.expect_ok()?.clone();
    ensure!(durable.get("ttl").is_none(), "{durable}");

    let eph_id = str_of(&ephemeral, "url")?
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let record = state
        .store
        .device(&eph_id)
        .await?
        .context("stored device")?;
    let expires = record.expires_at.context("an ephemeral device expires")?;
    ensure!(expires == record.modified_at + 30_000, "{record:?}");

    // Not yet expired: a sweep just before the deadline keeps it.
    let swept = webex_server::devices::sweep_expired(state, expires - 1).await?;
    ensure!(swept == 0, "swept {swept} too early");
    api.call(Method::GET, str_of(&ephemeral, "url")?, Some(&token), None)
        .await?
        .expect_ok()?;

    // At the deadline it goes; the durable one stays.
    let swept = webex_server::devices::sweep_expired(state, expires).await?;
    ensure!(swept == 1, "swept {swept}");
    api.call(Method::GET, str_of(&ephemeral, "url")?, Some(&token), None)
        .await?
        .expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
    api.call(Method::GET, str_of(&durable, "url")?, Some(&token), None)
        .await?
        .expect_ok()?;
    Ok(())
}
on_every_backend!(ephemeral_devices_expire_after_their_ttl, ttl_expiry);

async fn expired_unswept(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let state = server.server().state();
    let token = server.token_for("stale@example.com").await?;
    let device = register(&api, &token, "stale").await?;
    let url = str_of(&device, "url")?.to_owned();
    let id = url.rsplit('/').next().unwrap_or_default().to_owned();

    // Backdate it: expired, but still in the store.
    let mut record = state.store.device(&id).await?.context("stored")?;
    record.modified_at -= 3_600_000;
    record.expires_at = Some(record.modified_at + 30_000);
    ensure!(
        matches!(
            state.store.update_device(&record, None).await?,
            DeviceUpdateOutcome::Updated(_)
        ),
        "backdated"
    );

    api.call(Method::GET, &url, Some(&token), None)
        .await?
        .expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
    let listed = api.call(Method::GET, DEVICES, Some(&token), None).await?;
    ensure!(listed.expect_ok()?["devices"] == json!([]));
    api.call(Method::PUT, &url, Some(&token), Some(&device))
        .await?
        .expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
    api.call(Method::DELETE, &url, Some(&token), None)
        .await?
        .expect_error(StatusCode::NOT_FOUND, codes::NOT_FOUND)?;
    // DELETE cleaned it up on the way.
    ensure!(state.store.device(&id).await?.is_none());
    Ok(())
}
on_every_backend!(expired_devices_are_gone_before_the_sweep, expired_unswept);

async fn sweeper_runs(server: &TestServer) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let state = server.server().state();
    let token = server.token_for("sweep@example.com").await?;
    let device = register(&api, &token, "swept").await?;
    let id = str_of(&device, "url")?
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut record = state.store.device(&id).await?.context("stored")?;
    record.modified_at -= 3_600_000;
    record.expires_at = Some(record.modified_at + 30_000);
    ensure!(matches!(
        state.store.update_device(&record, None).await?,
        DeviceUpdateOutcome::Updated(_)
    ));
    // The background sweeper (every 20 ms here) removes it; 20 s is a hang guard.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while state.store.device(&id).await?.is_some() {
        ensure!(tokio::time::Instant::now() < deadline, "sweeper never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
on_every_backend!(
    the_background_sweeper_removes_expired_devices,
    sweeper_runs,
    |c| c.sweep_interval = Duration::from_millis(20)
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_and_tokens_survive_a_restart() -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    use webex_server::Server;
    use webex_server::auth::{TokenSpec, mint_token};
    use webex_server::store::NewPerson;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("persist.sqlite");

    let first = Server::start(ServerConfig::for_tests(&path)).await?;
    let state = first.state();
    let person = state
        .store
        .upsert_person(&NewPerson {
            email: "restart@example.com".into(),
            display_name: "Restart".into(),
            kind: webex_wire::people::PersonType::Person,
            org_name: "example.com".into(),
        })
        .await?;
    let minted = mint_token(&person, &state.config.region, TokenSpec::default());
    state.store.insert_token(&minted.record).await?;
    let token = minted.text.expose_secret().to_owned();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let device: Value = http
        .post(format!("{}{DEVICES}", first.base_url()))
        .bearer_auth(&token)
        .json(&sdk_body("persistent"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = str_of(&device, "url")?
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    first.shutdown().await;

    let second = Server::start(ServerConfig::for_tests(&path)).await?;
    let res = http
        .get(format!("{}{DEVICES}/{id}", second.base_url()))
        .bearer_auth(&token)
        .send()
        .await?;
    let status = res.status();
    let again: Value = res.json().await?;
    second.shutdown().await;
    ensure!(status == StatusCode::OK, "{status} {again}");
    ensure!(again["name"] == "persistent", "{again}");
    ensure!(again["creationTime"] == device["creationTime"], "{again}");
    Ok(())
}
