//! Guest identity from JWTs (issue 14, defects 3 and 4).

use secrecy::ExposeSecret;
use serde_json::json;
use webex_server::identity::admin;
use webex_server::testing::TestServer;

use super::support::{guest_jwt, http, jwt_login};

async fn issuer(server: &TestServer) -> (String, String) {
    let store = server.server().state().store.clone();
    let (iss, secret) = admin::create_guest_issuer(store.as_ref(), "Kiosk", "guests.example.com")
        .await
        .unwrap();
    (iss, secret.expose_secret().to_owned())
}

async fn person_id(server: &TestServer, token: &str) -> String {
    let me: serde_json::Value = http()
        .get(format!("{}/v1/people/me", server.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn subjects_differing_in_case_are_different_guests() {
    let server = TestServer::start().await.unwrap();
    let (iss, secret) = issuer(&server).await;
    let exp = chrono::Utc::now().timestamp() + 600;
    let mut ids = Vec::new();
    for sub in ["CaseUser", "caseuser", "cASEuSER"] {
        let jwt = guest_jwt(&secret, json!({"sub": sub, "iss": iss, "exp": exp}));
        let (status, body) = jwt_login(server.base_url(), &jwt).await;
        assert_eq!(status, 200, "{sub}: {body}");
        ids.push(person_id(&server, body["token"].as_str().unwrap()).await);
    }
    assert_ne!(ids[0], ids[1], "CaseUser and caseuser are one person");
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[1], ids[2]);
    // The same subject again is the same guest.
    let jwt = guest_jwt(&secret, json!({"sub": "CaseUser", "iss": iss, "exp": exp}));
    let (_, body) = jwt_login(server.base_url(), &jwt).await;
    assert_eq!(
        person_id(&server, body["token"].as_str().unwrap()).await,
        ids[0]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn jwt_times_are_enforced() {
    let server = TestServer::start().await.unwrap();
    let (iss, secret) = issuer(&server).await;
    let now = chrono::Utc::now().timestamp();
    let year = 365 * 24 * 3600;
    let cases = [
        (
            "nbf next year",
            json!({"sub": "g", "iss": iss, "exp": now + 600, "nbf": now + year}),
            "not valid yet",
        ),
        (
            "iat in the future",
            json!({"sub": "g", "iss": iss, "exp": now + 600, "iat": now + 3600}),
            "issued in the future",
        ),
        (
            "exp in 9999",
            json!({"sub": "g", "iss": iss, "exp": 253402300799_i64}),
            "lives too long",
        ),
        (
            "a 2-day JWT",
            json!({"sub": "g", "iss": iss, "iat": now, "exp": now + 2 * 24 * 3600}),
            "lives too long",
        ),
    ];
    for (name, claims, says) in cases {
        let (status, body) = jwt_login(server.base_url(), &guest_jwt(&secret, claims)).await;
        assert_eq!(status, 401, "{name} was accepted: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(says),
            "{name}: {body}"
        );
    }
    let ok = json!({"sub": "g", "iss": iss, "iat": now, "nbf": now, "exp": now + 3600});
    assert_eq!(
        jwt_login(server.base_url(), &guest_jwt(&secret, ok))
            .await
            .0,
        200
    );
    server.shutdown().await;
}
