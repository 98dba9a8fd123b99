//! HTTPS and WSS with a self-signed certificate made at test time: the
//! catalog and device answers point at `https://`/`wss://`, a websocket
//! authenticates over TLS, plain HTTP and silent clients on the TLS port do
//! not disturb anyone, and unusable certificate files are reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;
use webex_server::testing::TestServer;
use webex_server::tls::{TlsConfig, TlsError, server_config};

struct Cert {
    _dir: tempfile::TempDir,
    config: TlsConfig,
    pem: String,
}

fn self_signed() -> Cert {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    Cert {
        pem: ck.cert.pem(),
        config: TlsConfig { cert, key },
        _dir: dir,
    }
}

fn client_config(pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn https_and_wss_with_a_self_signed_certificate() {
    let cert = self_signed();
    let tls = cert.config.clone();
    let server = TestServer::start_with(move |c| c.tls = Some(tls))
        .await
        .unwrap();
    let base = server.base_url().to_owned();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let token = server.token_for("tls@example.com").await.unwrap();

    // A client that connects and never handshakes holds nobody up.
    let _silent = tokio::net::TcpStream::connect(server.server().local_addr())
        .await
        .unwrap();
    // Plain HTTP on the TLS port fails, and the server carries on.
    let plain = format!("http://{}/healthz", server.server().local_addr());
    assert!(
        reqwest::Client::new()
            .get(&plain)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_err()
    );

    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let res = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .post(format!("{base}/wdm/api/v1/devices"))
        .bearer_auth(&token)
        .json(&json!({"name": "tls", "deviceType": "WEB", "model": "m",
            "localizedModel": "l", "systemName": "s", "systemVersion": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let device: Value = res.json().await.unwrap();
    assert!(device["url"].as_str().unwrap().starts_with("https://"));
    let ws_url = device["webSocketUrl"].as_str().unwrap().to_owned();
    assert!(ws_url.starts_with("wss://"), "{ws_url}");

    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        ws_url,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(client_config(
            &cert.pem,
        ))),
    )
    .await
    .unwrap();
    let auth = json!({"id": "1", "type": "authorization",
        "data": {"token": format!("Bearer {token}")}});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let first: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(first["data"]["eventType"], "mercury.buffer_state");
    drop(ws);
    server.shutdown().await;
}

#[test]
fn unusable_files_are_reported() {
    let cert = self_signed();
    let missing = TlsConfig {
        cert: cert.config.cert.with_file_name("missing.pem"),
        key: cert.config.key.clone(),
    };
    assert!(matches!(
        server_config(&missing),
        Err(TlsError::Certificate { .. })
    ));
    // The key file holds no certificate, the certificate file no key.
    let swapped = TlsConfig {
        cert: cert.config.key.clone(),
        key: cert.config.cert.clone(),
    };
    assert!(matches!(
        server_config(&swapped),
        Err(TlsError::Certificate { .. })
    ));
    let other = self_signed();
    let mismatched = TlsConfig {
        cert: cert.config.cert.clone(),
        key: other.config.key.clone(),
    };
    // A key of another certificate: rustls may accept the pair at load
    // time; if it refuses, the error says so.
    if let Err(e) = server_config(&mismatched) {
        assert!(matches!(e, TlsError::Config(_)), "{e}");
    }
    assert!(server_config(&cert.config).is_ok());
}
