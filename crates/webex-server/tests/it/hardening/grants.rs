//! OAuth grants never worth more than the credential they were made from
//! (issue 14, defect 2).

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use webex_server::auth::hash_secret;
use webex_server::identity::admin;
use webex_server::testing::TestServer;
use webex_wire::people::PersonType;

use super::support::{REDIRECT, guest_jwt, http, jwt_login, query_param};

/// An OAuth client asking for more than a guest or a narrow token holds.
async fn client(server: &TestServer) -> (String, String) {
    let (id, secret) = admin::create_oauth_client(
        server.server().state().store.as_ref(),
        "Escalator",
        &[REDIRECT.to_owned()],
        "spark:all spark:kms",
    )
    .await
    .unwrap();
    (id, secret.expose_secret().to_owned())
}

/// Posts the consent form; the status and the `Location` or page text.
async fn consent(server: &TestServer, client_id: &str, email: &str, token: &str) -> (u16, String) {
    let res = http()
        .post(format!("{}/v1/authorize", server.base_url()))
        .form(&[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "spark:all spark:kms"),
            ("email", email),
            ("token", token),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, location.unwrap_or(res.text().await.unwrap()))
}

async fn exchange(
    server: &TestServer,
    client: &(String, String),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = http()
        .post(format!("{}/v1/access_token", server.base_url()))
        .basic_auth(&client.0, Some(&client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

async fn code_for(
    server: &TestServer,
    client: &(String, String),
    email: &str,
    token: &str,
) -> String {
    let (status, location) = consent(server, &client.0, email, token).await;
    assert_eq!(status, 302, "{location}");
    query_param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

async fn redeem(server: &TestServer, client: &(String, String), code: &str) -> (u16, Value) {
    exchange(
        server,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

async fn guest_consent(server: &TestServer) -> anyhow::Result<()> {
    let store = server.server().state().store.clone();
    let (iss, secret) = admin::create_guest_issuer(store.as_ref(), "Kiosk", "guests.example.com")
        .await
        .unwrap();
    let exp = chrono::Utc::now().timestamp() + 600;
    let jwt = guest_jwt(
        secret.expose_secret(),
        json!({"sub": "visitor", "iss": iss, "exp": exp}),
    );
    let (status, body) = jwt_login(server.base_url(), &jwt).await;
    assert_eq!(status, 200, "{body}");
    let guest_token = body["token"].as_str().unwrap().to_owned();
    let email = format!("visitor@{}.guest.invalid", iss.to_lowercase());
    let c = client(server).await;
    let (status, page) = consent(server, &c.0, &email, &guest_token).await;
    assert_eq!(status, 403, "a guest token made a grant: {page}");
    assert!(page.contains("Guest tokens cannot authorize"), "{page}");
    Ok(())
}
on_every_backend!(a_guest_token_cannot_consent, guest_consent);

async fn scope_bound(server: &TestServer) -> anyhow::Result<()> {
    // `spark:all` only, while the client asks for `spark:all spark:kms`.
    let pat = server.token_for("narrow@example.com").await.unwrap();
    let c = client(server).await;
    let code = code_for(server, &c, "narrow@example.com", &pat).await;
    let (status, tokens) = redeem(server, &c, &code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "spark:all");
    // Refreshing cannot widen it either.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = exchange(
        server,
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "spark:all spark:kms"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");
    Ok(())
}
on_every_backend!(a_grant_never_exceeds_the_tokens_scope, scope_bound);

async fn lifetime_bound(server: &TestServer) -> anyhow::Result<()> {
    let store = server.server().state().store.clone();
    let pat = admin::create_token(
        store.as_ref(),
        "PF84",
        "brief@example.com",
        PersonType::Person,
        Some(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let c = client(server).await;
    let code = code_for(server, &c, "brief@example.com", pat.expose_secret()).await;
    let (status, tokens) = redeem(server, &c, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["expires_in"].as_u64().unwrap();
    let refresh = tokens["refresh_token_expires_in"].as_u64().unwrap();
    assert!(
        access <= 60 && refresh <= 60,
        "a 1-minute token made a grant of {access} s / {refresh} s"
    );
    // The bound and the source are columns of every token of the grant;
    // the family id says nothing (an opaque UUID).
    let source = store
        .token(&hash_secret(pat.expose_secret()))
        .await?
        .unwrap();
    for issued in ["access_token", "refresh_token"] {
        let text = tokens[issued].as_str().unwrap();
        let record = store.token(&hash_secret(text)).await?.unwrap();
        let recorded = record.grant_source.unwrap();
        assert_eq!(recorded.token_hash, source.hash, "{issued}");
        assert_eq!(recorded.not_after, source.expires_at, "{issued}");
        let family = record.family_id.unwrap();
        assert!(uuid::Uuid::parse_str(&family).is_ok(), "{issued}: {family}");
    }
    // A refresh does not push the end back.
    let (status, again) = exchange(
        server,
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert!(again["refresh_token_expires_in"].as_u64().unwrap() <= 60);
    Ok(())
}
on_every_backend!(
    a_grant_from_a_short_lived_token_ends_with_it,
    lifetime_bound
);

async fn source_revocation(server: &TestServer) -> anyhow::Result<()> {
    let store = server.server().state().store.clone();
    let pat = server.token_for("revoker@example.com").await.unwrap();
    let c = client(server).await;
    let code = code_for(server, &c, "revoker@example.com", &pat).await;
    let (status, tokens) = redeem(server, &c, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A second code made before the revocation, not yet exchanged.
    let pending = code_for(server, &c, "revoker@example.com", &pat).await;

    assert!(
        admin::revoke_token(
            store.as_ref(),
            Some(server.server().state().bus.as_ref()),
            &pat
        )
        .await
        .unwrap()
    );

    let (status, body) = redeem(server, &c, &pending).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = exchange(
        server,
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("revoked"),
        "{body}"
    );
    // The refusal ended the whole grant: its access token is revoked too.
    let me = http()
        .get(format!("{}/v1/people/me", server.base_url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 401);
    Ok(())
}
on_every_backend!(revoking_the_source_token_ends_the_grant, source_revocation);
