//! End-to-end tests of the identity routes: people, OAuth 2 (authorize,
//! token, revoke) and guest JWT login, on SQLite and — when
//! `WEBEX_TEST_DATABASE_URL` is set — on a fresh PostgreSQL database.

use std::time::Duration;

use anyhow::{Context, ensure};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Digest;
use webex_server::auth::{TokenSpec, mint_token};
use webex_server::identity::admin;
use webex_server::state::AppState;
use webex_server::testing::TestServer;
use webex_wire::oauth::{JwtLoginResponse, OAuthError, TokenResponse};
use webex_wire::people::{Person, PersonType};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// What a case gets: the server's URL and state, and an HTTP client that
/// does not follow redirects.
#[derive(Clone)]
struct Ctx {
    base: String,
    state: AppState,
    http: reqwest::Client,
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn token(&self, email: &str) -> anyhow::Result<String> {
        let t = admin::create_token(
            self.state.store.as_ref(),
            &self.state.config.region,
            email,
            PersonType::Person,
            None,
        )
        .await?;
        Ok(t.expose_secret().to_owned())
    }

    async fn me(&self, token: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.url("/v1/people/me"))
            .bearer_auth(token)
            .send()
            .await?)
    }

    /// A registered client: (id, secret).
    async fn client(&self) -> anyhow::Result<(String, String)> {
        let (id, secret) = admin::create_oauth_client(
            self.state.store.as_ref(),
            "Test <Integration>",
            &[REDIRECT.to_owned()],
            "spark:all spark:people_read",
        )
        .await?;
        Ok((id, secret.expose_secret().to_owned()))
    }
}

fn ctx(server: &TestServer) -> Ctx {
    Ctx {
        base: server.base_url().to_owned(),
        state: server.server().state().clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
    }
}

/// Asserts a Webex JSON error with `status` and `code`; returns its message.
async fn expect_error(
    res: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> anyhow::Result<String> {
    let body = crate::support::json_error(res, status, code).await?;
    Ok(body["message"].as_str().unwrap_or_default().to_owned())
}

/// Asserts an RFC 6749 error with `status` and `error`.
async fn expect_oauth_error(
    res: reqwest::Response,
    status: StatusCode,
    error: &str,
) -> anyhow::Result<()> {
    ensure!(
        res.status() == status,
        "status {} != {status}",
        res.status()
    );
    let ct = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ensure!(ct.starts_with("application/json"), "content-type {ct}");
    let body: OAuthError = res.json().await?;
    ensure!(body.error == error, "error {:?}, expected {error}", body);
    ensure!(body.tracking_id.is_some(), "no trackingId");
    Ok(())
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn location(res: &reqwest::Response) -> anyhow::Result<String> {
    Ok(res
        .headers()
        .get(LOCATION)
        .context("no Location")?
        .to_str()?
        .to_owned())
}

/// Signs `email` in on the consent form and allows; returns the code.
async fn authorize(
    ctx: &Ctx,
    client_id: &str,
    email: &str,
    pat: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<String> {
    let mut form = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "spark:all"),
        ("state", "s t&ate"),
        ("email", email),
        ("token", pat),
        ("decision", "allow"),
    ];
    form.extend_from_slice(extra);
    let res = ctx
        .http
        .post(ctx.url("/v1/authorize"))
        .form(&form)
        .send()
        .await?;
    ensure!(res.status() == StatusCode::FOUND, "status {}", res.status());
    let loc = location(&res)?;
    ensure!(loc.starts_with(REDIRECT), "redirected to {loc}");
    ensure!(query_param(&loc, "state").as_deref() == Some("s t&ate"));
    query_param(&loc, "code").context("no code")
}

async fn exchange(
    ctx: &Ctx,
    client: &(String, String),
    form: &[(&str, &str)],
) -> anyhow::Result<reqwest::Response> {
    Ok(ctx
        .http
        .post(ctx.url("/v1/access_token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(form)
        .send()
        .await?)
}

async fn tokens(res: reqwest::Response) -> anyhow::Result<TokenResponse> {
    ensure!(res.status() == StatusCode::OK, "status {}", res.status());
    ensure!(
        res.headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            == Some("no-store"),
        "token responses must not be cached"
    );
    Ok(res.json().await?)
}

/// A fresh token pair for `email` through the whole code flow.
async fn code_flow(
    ctx: &Ctx,
    client: &(String, String),
    email: &str,
) -> anyhow::Result<TokenResponse> {
    let pat = ctx.token(email).await?;
    let code = authorize(ctx, &client.0, email, &pat, &[]).await?;
    tokens(
        exchange(
            ctx,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await?,
    )
    .await
}

// ---------------------------------------------------------------- people

async fn people_me(ctx: Ctx) -> anyhow::Result<()> {
    let token = ctx.token("Alice@Example.com").await?;
    let res = ctx.me(&token).await?;
    ensure!(res.status() == StatusCode::OK);
    let me: Person = res.json().await?;
    ensure!(me.emails == ["alice@example.com"], "{me:?}");
    ensure!(me.kind == PersonType::Person);
    ensure!(
        token.ends_with(&format!("_{}", me.org_id)),
        "token must carry the org id"
    );
    let created = me.created.context("no created")?;
    chrono::DateTime::parse_from_rfc3339(&created)?;

    // A colleague is visible; someone of another org is not.
    let bob = ctx.token("bob@example.com").await?;
    let bob_me: Person = ctx.me(&bob).await?.json().await?;
    let res = ctx
        .http
        .get(ctx.url(&format!("/v1/people/{}", bob_me.id)))
        .bearer_auth(&token)
        .send()
        .await?;
    ensure!(res.status() == StatusCode::OK);
    ensure!(res.json::<Person>().await?.id == bob_me.id);
    let eve = ctx.token("eve@elsewhere.org").await?;
    let eve_me: Person = ctx.me(&eve).await?.json().await?;
    let res = ctx
        .http
        .get(ctx.url(&format!("/v1/people/{}", eve_me.id)))
        .bearer_auth(&token)
        .send()
        .await?;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await?;
    Ok(())
}

async fn people_me_unauthorized(ctx: Ctx) -> anyhow::Result<()> {
    let url = ctx.url("/v1/people/me");
    let missing = ctx.http.get(&url).send().await?;
    expect_error(missing, StatusCode::UNAUTHORIZED, "token_missing").await?;

    let not_bearer = ctx
        .http
        .get(&url)
        .header("authorization", "Basic abc")
        .send()
        .await?;
    expect_error(not_bearer, StatusCode::UNAUTHORIZED, "token_malformed").await?;

    let malformed = ctx.me("only_two").await?;
    expect_error(malformed, StatusCode::UNAUTHORIZED, "token_malformed").await?;

    let unknown = ctx
        .me("abcdef_PF84_00000000-0000-0000-0000-000000000000")
        .await?;
    expect_error(unknown, StatusCode::UNAUTHORIZED, "token_unknown").await?;

    // Minted already expired: no waiting on the clock.
    let store = &ctx.state.store;
    ctx.token("late@example.com").await?;
    let person = store
        .person_by_email("late@example.com")
        .await?
        .context("person")?;
    let expired = mint_token(
        &person,
        "PF84",
        TokenSpec {
            ttl_ms: Some(-60_000),
            ..TokenSpec::default()
        },
    );
    store.insert_token(&expired.record).await?;
    let res = ctx.me(expired.text.expose_secret()).await?;
    expect_error(res, StatusCode::UNAUTHORIZED, "token_expired").await?;

    let revoked = ctx.token("gone@example.com").await?;
    ensure!(ctx.me(&revoked).await?.status() == StatusCode::OK);
    let bus = ctx.state.bus.as_ref();
    ensure!(admin::revoke_token(store.as_ref(), Some(bus), &revoked).await?);
    ensure!(!admin::revoke_token(store.as_ref(), Some(bus), &revoked).await?);
    expect_error(
        ctx.me(&revoked).await?,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- OAuth

async fn authorization_code_flow(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let pat = ctx.token("carol@example.com").await?;

    for path in ["/v1/authorize", "/idb/oauth2/v1/authorize"] {
        let res = ctx
            .http
            .get(ctx.url(path))
            .query(&[
                ("client_id", client.0.as_str()),
                ("response_type", "code"),
                ("redirect_uri", REDIRECT),
                ("scope", "spark:all"),
                ("state", "<xss>"),
            ])
            .send()
            .await?;
        ensure!(res.status() == StatusCode::OK, "{path}: {}", res.status());
        let ct = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ensure!(ct.starts_with("text/html"), "{ct}");
        let html = res.text().await?;
        ensure!(
            html.contains("Test &lt;Integration&gt;"),
            "client name escaped"
        );
        ensure!(!html.contains("<xss>"), "state escaped");
        ensure!(html.contains(&format!("action=\"{path}\"")));
    }

    // Client credentials as HTTP Basic.
    let code = authorize(&ctx, &client.0, "carol@example.com", &pat, &[]).await?;
    let t = tokens(
        exchange(
            &ctx,
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await?,
    )
    .await?;
    ensure!(t.token_type == "Bearer");
    ensure!(t.expires_in == ctx.state.config.access_token_ttl.as_secs());
    ensure!(t.refresh_token_expires_in == Some(ctx.state.config.refresh_token_ttl.as_secs()));
    ensure!(t.scope.as_deref() == Some("spark:all"));
    let me: Person = ctx.me(&t.access_token).await?.json().await?;
    ensure!(me.emails == ["carol@example.com"]);

    // Client credentials as form fields, on the SDK's path.
    let code = authorize(&ctx, &client.0, "carol@example.com", &pat, &[]).await?;
    let res = ctx
        .http
        .post(ctx.url("/idb/oauth2/v1/access_token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client.0),
            ("client_secret", &client.1),
        ])
        .send()
        .await?;
    let t2 = tokens(res).await?;
    ensure!(t2.access_token != t.access_token);
    ensure!(ctx.me(&t2.access_token).await?.status() == StatusCode::OK);

    // A token obtained through OAuth cannot sign in to grant more access.
    let res = ctx
        .http
        .post(ctx.url("/v1/authorize"))
        .form(&[
            ("client_id", client.0.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("email", "carol@example.com"),
            ("token", &t2.access_token),
            ("decision", "allow"),
        ])
        .send()
        .await?;
    ensure!(res.status() == StatusCode::FORBIDDEN, "{}", res.status());
    ensure!(res.text().await?.contains("personal access token"));
    Ok(())
}

async fn authorize_refusals(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let pat = ctx.token("dave@example.com").await?;
    let get = |params: Vec<(&'static str, String)>| {
        ctx.http.get(ctx.url("/v1/authorize")).query(&params).send()
    };

    // Unknown client and unregistered redirect_uri: an HTML page, never a redirect.
    for (id, redirect) in [
        ("nope".to_owned(), REDIRECT.to_owned()),
        (client.0.clone(), "http://evil.invalid/cb".to_owned()),
        (client.0.clone(), format!("{REDIRECT}/")),
    ] {
        let res = get(vec![
            ("client_id", id),
            ("response_type", "code".into()),
            ("redirect_uri", redirect),
        ])
        .await?;
        ensure!(res.status() == StatusCode::BAD_REQUEST, "{}", res.status());
        ensure!(res.headers().get(LOCATION).is_none());
        let ct = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ensure!(ct.starts_with("text/html"), "{ct}");
    }

    // Trusted redirect_uri, bad request: the error goes back to the client.
    let res = get(vec![
        ("client_id", client.0.clone()),
        ("response_type", "token".into()),
        ("redirect_uri", REDIRECT.into()),
        ("state", "st".into()),
    ])
    .await?;
    ensure!(res.status() == StatusCode::FOUND);
    let loc = location(&res)?;
    ensure!(query_param(&loc, "error").as_deref() == Some("unsupported_response_type"));
    ensure!(query_param(&loc, "state").as_deref() == Some("st"));
    let res = get(vec![
        ("client_id", client.0.clone()),
        ("response_type", "code".into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", "spark:all spark:admin".into()),
    ])
    .await?;
    ensure!(res.status() == StatusCode::FOUND);
    ensure!(query_param(&location(&res)?, "error").as_deref() == Some("invalid_scope"));

    let consent = |email: &'static str, token: String, decision: &'static str| {
        ctx.http
            .post(ctx.url("/v1/authorize"))
            .form(&[
                ("client_id", client.0.clone()),
                ("response_type", "code".into()),
                ("redirect_uri", REDIRECT.into()),
                ("state", "st".into()),
                ("email", email.into()),
                ("token", token),
                ("decision", decision.into()),
            ])
            .send()
    };
    // Deny.
    let res = consent("dave@example.com", String::new(), "deny").await?;
    ensure!(res.status() == StatusCode::FOUND);
    let loc = location(&res)?;
    ensure!(query_param(&loc, "error").as_deref() == Some("access_denied"));
    ensure!(query_param(&loc, "state").as_deref() == Some("st"));
    ensure!(query_param(&loc, "code").is_none());

    // Someone else's token, or a bad one: the page again, no code.
    let other = ctx.token("mallory@example.com").await?;
    for token in [other, "x_y_z".to_owned(), String::new()] {
        let res = consent("dave@example.com", token, "allow").await?;
        ensure!(res.status() == StatusCode::UNAUTHORIZED, "{}", res.status());
        ensure!(res.headers().get(LOCATION).is_none());
        ensure!(res.text().await?.contains("do not match"));
    }
    // The right one works.
    let res = consent("dave@example.com", pat, "allow").await?;
    ensure!(res.status() == StatusCode::FOUND);
    ensure!(query_param(&location(&res)?, "code").is_some());
    Ok(())
}

async fn token_endpoint_refusals(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let pat = ctx.token("erin@example.com").await?;

    // Wrong redirect_uri at exchange.
    let code = authorize(&ctx, &client.0, "erin@example.com", &pat, &[]).await?;
    let res = exchange(
        &ctx,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ],
    )
    .await?;
    expect_oauth_error(res, StatusCode::BAD_REQUEST, "invalid_grant").await?;

    // Wrong secret: 401 invalid_client with a Basic challenge.
    let code = authorize(&ctx, &client.0, "erin@example.com", &pat, &[]).await?;
    let wrong = (client.0.clone(), "wrong-secret".to_owned());
    let res = exchange(
        &ctx,
        &wrong,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await?;
    ensure!(
        res.headers()
            .get(WWW_AUTHENTICATE)
            .is_some_and(|v| v.as_bytes().starts_with(b"Basic"))
    );
    expect_oauth_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await?;
    // No credentials at all.
    let res = ctx
        .http
        .post(ctx.url("/v1/access_token"))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await?;
    expect_oauth_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await?;
    // The code survived the failed client authentications.
    let res = exchange(
        &ctx,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await?;
    tokens(res).await?;

    let res = exchange(
        &ctx,
        &client,
        &[("grant_type", "password"), ("username", "x")],
    )
    .await?;
    expect_oauth_error(res, StatusCode::BAD_REQUEST, "unsupported_grant_type").await?;
    let res = exchange(&ctx, &client, &[("code", "x")]).await?;
    expect_oauth_error(res, StatusCode::BAD_REQUEST, "invalid_request").await?;
    let res = exchange(
        &ctx,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", "unknown"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await?;
    expect_oauth_error(res, StatusCode::BAD_REQUEST, "invalid_grant").await?;
    Ok(())
}

async fn code_reuse_revokes(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let pat = ctx.token("frank@example.com").await?;
    let code = authorize(&ctx, &client.0, "frank@example.com", &pat, &[]).await?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let t = tokens(exchange(&ctx, &client, &form).await?).await?;
    ensure!(ctx.me(&t.access_token).await?.status() == StatusCode::OK);

    let again = exchange(&ctx, &client, &form).await?;
    expect_oauth_error(again, StatusCode::BAD_REQUEST, "invalid_grant").await?;
    expect_error(
        ctx.me(&t.access_token).await?,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await?;
    let refresh = t.refresh_token.context("refresh token")?;
    let res = exchange(
        &ctx,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await?;
    expect_oauth_error(res, StatusCode::BAD_REQUEST, "invalid_grant").await?;
    Ok(())
}

async fn pkce(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let pat = ctx.token("grace@example.com").await?;
    let verifier = "a-verifier-of-at-least-forty-three-characters.~_0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    for wrong in [
        None,
        Some("b-verifier-of-at-least-forty-three-characters.~_0123456789"),
    ] {
        let code = authorize(&ctx, &client.0, "grace@example.com", &pat, &pkce).await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(w) = wrong {
            form.push(("code_verifier", w));
        }
        let res = exchange(&ctx, &client, &form).await?;
        expect_oauth_error(res, StatusCode::BAD_REQUEST, "invalid_grant").await?;
    }
    let code = authorize(&ctx, &client.0, "grace@example.com", &pat, &pkce).await?;
    let res = exchange(
        &ctx,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await?;
    let t = tokens(res).await?;
    ensure!(ctx.me(&t.access_token).await?.status() == StatusCode::OK);
    Ok(())
}

async fn refresh_rotation(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let first = code_flow(&ctx, &client, "heidi@example.com").await?;
    let old_refresh = first.refresh_token.clone().context("refresh token")?;

    let refresh = |token: String| {
        let client = client.clone();
        let ctx = ctx.clone();
        async move {
            exchange(
                &ctx,
                &client,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("redirect_uri", REDIRECT),
                ],
            )
            .await
        }
    };
    let second = tokens(refresh(old_refresh.clone()).await?).await?;
    ensure!(second.access_token != first.access_token);
    let new_refresh = second.refresh_token.clone().context("refresh token")?;
    ensure!(new_refresh != old_refresh);
    ensure!(ctx.me(&second.access_token).await?.status() == StatusCode::OK);

    // Replaying the rotated-away refresh token: refused, and the family dies.
    expect_oauth_error(
        refresh(old_refresh).await?,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await?;
    expect_error(
        ctx.me(&second.access_token).await?,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await?;
    expect_oauth_error(
        refresh(new_refresh).await?,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await?;
    Ok(())
}

/// Reusing a rotated-away refresh token revokes the family, and the
/// websocket opened with the family's newest access token closes (4401).
async fn refresh_reuse_closes_sockets(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let first = code_flow(&ctx, &client, "ivan@example.com").await?;
    let old_refresh = first.refresh_token.clone().context("refresh token")?;
    let form = |token: &str| {
        [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token.to_owned()),
        ]
    };
    let res = ctx
        .http
        .post(ctx.url("/v1/access_token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&form(&old_refresh))
        .send()
        .await?;
    let newest = tokens(res).await?;
    let device = crate::support::register_device(&ctx.base, &newest.access_token).await;
    let mut ws = crate::support::connect(&device, &newest.access_token, false).await;

    let replay = ctx
        .http
        .post(ctx.url("/v1/access_token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&form(&old_refresh))
        .send()
        .await?;
    expect_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await?;
    let (code, _) = crate::support::expect_close(&mut ws).await;
    ensure!(code == 4401, "closed with {code}, expected 4401");
    Ok(())
}

async fn revocation_endpoint(ctx: Ctx) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let other = ctx.client().await?;
    let t = code_flow(&ctx, &client, "ivan@example.com").await?;
    let revoke = |client: &(String, String), token: &str, path: &str| {
        ctx.http
            .post(ctx.url(path))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
    };
    // Another client may not revoke it.
    let res = revoke(&other, &t.access_token, "/v1/revoke").await?;
    expect_oauth_error(res, StatusCode::BAD_REQUEST, "unauthorized_client").await?;
    ensure!(ctx.me(&t.access_token).await?.status() == StatusCode::OK);

    let res = revoke(&client, &t.access_token, "/idb/oauth2/v1/revoke").await?;
    ensure!(res.status() == StatusCode::OK, "{}", res.status());
    expect_error(
        ctx.me(&t.access_token).await?,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await?;
    // Unknown and already revoked tokens: still 200 (RFC 7009).
    ensure!(
        revoke(&client, "nothing_PF84_here", "/v1/revoke")
            .await?
            .status()
            == StatusCode::OK
    );
    ensure!(
        revoke(&client, &t.access_token, "/v1/revoke")
            .await?
            .status()
            == StatusCode::OK
    );

    // Revoking the refresh token takes the grant's access tokens with it.
    let t = code_flow(&ctx, &client, "ivan@example.com").await?;
    let refresh = t.refresh_token.context("refresh token")?;
    ensure!(revoke(&client, &refresh, "/v1/revoke").await?.status() == StatusCode::OK);
    expect_error(
        ctx.me(&t.access_token).await?,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await?;

    let res = ctx
        .http
        .post(ctx.url("/v1/revoke"))
        .basic_auth(&client.0, Some("wrong"))
        .form(&[("token", "x")])
        .send()
        .await?;
    expect_oauth_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await?;
    Ok(())
}

// ---------------------------------------------------------------- guests

fn sign(claims: &Value, key: &[u8]) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )?)
}

async fn jwt_login(ctx: Ctx) -> anyhow::Result<()> {
    let (iss, secret) =
        admin::create_guest_issuer(ctx.state.store.as_ref(), "Kiosk", "guests.example.com").await?;
    // Like the SDKs' createJwt: sign with the base64-decoded secret.
    let key = STANDARD.decode(secret.expose_secret())?;
    let exp = chrono::Utc::now().timestamp() + 600;
    let jwt = sign(
        &json!({"sub": "guest-user-1", "iss": iss, "name": "Visitor One", "exp": exp}),
        &key,
    )?;
    let login = |header: String| {
        ctx.http
            .post(ctx.url("/v1/jwt/login"))
            .header("authorization", header)
            .send()
    };

    let res = login(jwt.clone()).await?;
    ensure!(res.status() == StatusCode::OK, "{}", res.status());
    let body: JwtLoginResponse = res.json().await?;
    ensure!(body.expires_in == ctx.state.config.guest_token_ttl.as_secs());
    let me: Person = ctx.me(&body.token).await?.json().await?;
    ensure!(me.kind == PersonType::Appuser);
    ensure!(me.display_name == "Visitor One");
    ensure!(me.emails == [format!("guest-user-1@{}.guest.invalid", iss.to_lowercase())]);

    // `Bearer <jwt>` works too, and finds the same guest.
    let res = login(format!("Bearer {jwt}")).await?;
    ensure!(res.status() == StatusCode::OK);
    let again: JwtLoginResponse = res.json().await?;
    let me2: Person = ctx.me(&again.token).await?.json().await?;
    ensure!(me2.id == me.id);

    let bad_sig = sign(
        &json!({"sub": "g", "iss": iss, "exp": exp}),
        b"not the secret",
    )?;
    let m_sig = expect_error(
        login(bad_sig).await?,
        StatusCode::UNAUTHORIZED,
        "token_unknown",
    )
    .await?;
    let no_exp = sign(&json!({"sub": "g", "iss": iss}), &key)?;
    let m_no_exp = expect_error(
        login(no_exp).await?,
        StatusCode::UNAUTHORIZED,
        "token_malformed",
    )
    .await?;
    let past = sign(&json!({"sub": "g", "iss": iss, "exp": exp - 7200}), &key)?;
    let m_past = expect_error(
        login(past).await?,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await?;
    ensure!(
        m_no_exp != m_past,
        "missing and past exp must be told apart"
    );
    let stranger = sign(
        &json!({"sub": "g", "iss": "no-such-issuer", "exp": exp}),
        &key,
    )?;
    let m_iss = expect_error(
        login(stranger).await?,
        StatusCode::UNAUTHORIZED,
        "token_unknown",
    )
    .await?;
    ensure!(m_iss != m_sig);
    let res = ctx.http.post(ctx.url("/v1/jwt/login")).send().await?;
    expect_error(res, StatusCode::UNAUTHORIZED, "token_missing").await?;
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &json!({"sub": "g", "iss": iss, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )?;
    expect_error(
        login(hs384).await?,
        StatusCode::UNAUTHORIZED,
        "token_malformed",
    )
    .await?;
    Ok(())
}

/// A test named `$name` running the case `$case(Ctx)` on every backend.
macro_rules! identity_case {
    ($name:ident, $case:ident) => {
        on_every_backend!($name, async |server| $case(ctx(server)).await);
    };
}

identity_case!(people_me_returns_the_caller, people_me);
identity_case!(
    people_me_refuses_bad_tokens_with_distinct_codes,
    people_me_unauthorized
);
identity_case!(oauth_authorization_code_flow, authorization_code_flow);
identity_case!(oauth_authorize_refusals, authorize_refusals);
identity_case!(oauth_token_endpoint_refusals, token_endpoint_refusals);
identity_case!(oauth_code_reuse_revokes_its_tokens, code_reuse_revokes);
identity_case!(oauth_pkce, pkce);
identity_case!(oauth_refresh_rotation_and_reuse, refresh_rotation);
identity_case!(
    oauth_refresh_reuse_closes_the_family_sockets,
    refresh_reuse_closes_sockets
);
identity_case!(oauth_revocation, revocation_endpoint);
identity_case!(guest_jwt_login, jwt_login);
