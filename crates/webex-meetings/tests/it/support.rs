//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use webex_meetings::{Credentials, RetryPolicy, Timeouts, WebexConfig, WebexConfigBuilder};

/// Serves `router` on an ephemeral 127.0.0.1 port; returns `http://addr`.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A TCP listener that accepts connections and never answers.
pub async fn black_hole() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// Short timeouts so failure tests finish quickly (hang guards, not timings).
pub fn quick_timeouts() -> Timeouts {
    Timeouts {
        credentials: Duration::from_secs(5),
        catalog: Duration::from_millis(500),
        people: Duration::from_millis(500),
        device: Duration::from_millis(500),
        mercury: Duration::from_millis(500),
        unregister: Duration::from_secs(5),
        request: Duration::from_secs(10),
    }
}

/// A config against `discovery` with fast retries.
pub fn config(credentials: Credentials, discovery: &str) -> WebexConfigBuilder {
    WebexConfig::builder(credentials)
        .discovery_url(discovery)
        .retry(RetryPolicy {
            max_retries: 2,
            default_retry_after: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
        })
}

/// A hang guard for whole tests.
pub async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("test hung")
}

/// Serves the router `build(base_url)` makes, so routes can point at themselves.
pub async fn serve_with(build: impl FnOnce(String) -> axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = build(base.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

/// A hostmap catalog naming `services`.
pub fn catalog(services: &[(&str, String)]) -> serde_json::Value {
    let links: serde_json::Map<String, serde_json::Value> = services
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({"serviceLinks": links, "hostCatalog": {}, "format": "hostmap"})
}

/// Authorization-code grant against the server's own OAuth endpoints.
pub async fn oauth_tokens(
    server: &webex_server::testing::TestServer,
    email: &str,
) -> webex_meetings::OAuthTokens {
    use secrecy::ExposeSecret;
    let store = server.server().state().store.clone();
    let redirect = "http://127.0.0.1:1/callback".to_owned();
    let (client_id, secret) = webex_server::identity::admin::create_oauth_client(
        store.as_ref(),
        "e2e",
        std::slice::from_ref(&redirect),
        "spark:all",
    )
    .await
    .unwrap();
    let pat = server.token_for(email).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = http
        .post(format!("{}/v1/authorize", server.base_url()))
        .form(&[
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect.as_str()),
            ("scope", "spark:all"),
            ("email", email),
            ("token", pat.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    let location = consent.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens: webex_wire::oauth::TokenResponse = http
        .post(format!("{}/v1/access_token", server.base_url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.expose_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    webex_meetings::OAuthTokens::from_response(&tokens, client_id, secret.expose_secret())
}

/// The user's devices, straight from WDM (GET /wdm/api/v1/devices).
pub async fn devices(
    server: &webex_server::testing::TestServer,
    token: &str,
) -> Vec<webex_meetings::Device> {
    let list: webex_wire::device::DeviceList = reqwest::Client::new()
        .get(format!("{}/wdm/api/v1/devices", server.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    list.devices
}
