//! The token endpoint (RFC 6749 §3.2): `authorization_code` (with PKCE) and
//! `refresh_token` (rotating; reuse revokes the family) grants.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::ToSchema;
use webex_wire::oauth::{OAuthError, TokenResponse};

use super::client_auth::authenticate_client;
use super::oauth_error::{EndpointError, OAuthCode};
use super::oauth_form::{self, required};
use super::{grant, pkce, revocation, scope};
use crate::auth::{MintedToken, TokenSpec, hash_secret, mint_token};
use crate::http::TrackingId;
use crate::state::AppState;
use crate::store::{ConsumeOutcome, OAuthClientRecord, PersonRecord, RotateOutcome, TokenKind};
use crate::time::now_millis;

/// Form of `POST /v1/access_token`.
#[derive(Default, Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    grant_type: Option<String>,
    /// The authorization code (`authorization_code`).
    code: Option<String>,
    /// The redirect URI the code was requested with (`authorization_code`).
    redirect_uri: Option<String>,
    /// PKCE verifier, when the code was requested with a challenge.
    code_verifier: Option<String>,
    /// The refresh token (`refresh_token`).
    refresh_token: Option<String>,
    /// Narrower scopes for the new access token (`refresh_token`).
    scope: Option<String>,
    /// Client id, when not sent as HTTP Basic.
    client_id: Option<String>,
    /// Client secret, when not sent as HTTP Basic.
    client_secret: Option<String>,
}

/// A freshly issued access/refresh pair.
struct Issued {
    access: MintedToken,
    refresh: MintedToken,
    scope: String,
    access_ttl: std::time::Duration,
    refresh_ttl: std::time::Duration,
}

fn invalid_grant(description: &str) -> EndpointError {
    EndpointError::oauth(OAuthCode::InvalidGrant, description)
}

fn ttl_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Mints (but does not store) a pair for `person` in `family`, each token
/// ending by the family's bound and recording its source (see [`grant`]).
/// The refresh token keeps `refresh_scope` so later refreshes can widen
/// back to it.
fn mint_pair(
    state: &AppState,
    person: &PersonRecord,
    client: &OAuthClientRecord,
    family: &grant::Family,
    access_scope: &str,
    refresh_scope: &str,
) -> Result<Issued, EndpointError> {
    let now = now_millis();
    let (Some(access_ttl), Some(refresh_ttl)) = (
        family.cap(state.config.access_token_ttl, now),
        family.cap(state.config.refresh_token_ttl, now),
    ) else {
        return Err(invalid_grant(
            "The token this grant was made from has expired, and the grant with it",
        ));
    };
    let spec = |kind, scope: &str, ttl| TokenSpec {
        kind: Some(kind),
        client_id: Some(client.id.clone()),
        family_id: Some(family.id.clone()),
        grant_source: family.source.clone(),
        scope: scope.to_owned(),
        ttl_ms: Some(ttl_ms(ttl)),
    };
    let region = &state.config.region;
    Ok(Issued {
        access: mint_token(
            person,
            region,
            spec(TokenKind::Access, access_scope, access_ttl),
        ),
        refresh: mint_token(
            person,
            region,
            spec(TokenKind::Refresh, refresh_scope, refresh_ttl),
        ),
        scope: access_scope.to_owned(),
        access_ttl,
        refresh_ttl,
    })
}

/// Ends the grant `family` when the token it was made from no longer
/// stands (revoked, expired, deleted): revokes every token of the family
/// and answers `invalid_grant`. Grants without a recorded source pass.
async fn require_source(state: &AppState, family: &grant::Family) -> Result<(), EndpointError> {
    let Some(source) = &family.source else {
        return Ok(());
    };
    let now = now_millis();
    let record = state.store.token(&source.token_hash).await?;
    if let Err(why) = grant::source_alive(record.as_ref(), now) {
        metrics::counter!("webex_oauth_grant_ended_total", "reason" => "source").increment(1);
        tracing::info!(family = %family.id, "grant ended: its source token no longer stands");
        revocation::revoke_family(
            state.store.as_ref(),
            Some(state.bus.as_ref()),
            &family.id,
            now,
        )
        .await?;
        return Err(invalid_grant(why));
    }
    Ok(())
}

async fn exchange(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, EndpointError> {
    let req: TokenRequest = oauth_form::parse(headers, body)?;
    let grant = required(&req.grant_type, "grant_type")?;
    let client = authenticate_client(
        state,
        headers,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
    )
    .await?;
    let issued = match grant {
        "authorization_code" => code_grant(state, &client, &req).await?,
        "refresh_token" => refresh_grant(state, &client, &req).await?,
        other => {
            return Err(EndpointError::oauth(
                OAuthCode::UnsupportedGrantType,
                format!(
                    "grant_type `{other}` is not supported; use authorization_code or refresh_token"
                ),
            ));
        }
    };
    Ok(token_response(issued))
}

async fn code_grant(
    state: &AppState,
    client: &OAuthClientRecord,
    req: &TokenRequest,
) -> Result<Issued, EndpointError> {
    let code = required(&req.code, "code")?;
    let redirect_uri = required(&req.redirect_uri, "redirect_uri")?;
    let now = now_millis();
    let record = match state
        .store
        .consume_auth_code(&hash_secret(code), now)
        .await?
    {
        ConsumeOutcome::Consumed(record) => *record,
        ConsumeOutcome::AlreadyUsed { family_id } => {
            // RFC 6749 §4.1.2: a replayed code may be stolen; revoke what it bought.
            tracing::warn!(client = %client.id, family = %family_id, "authorization code reused");
            revocation::revoke_family(
                state.store.as_ref(),
                Some(state.bus.as_ref()),
                &family_id,
                now,
            )
            .await?;
            return Err(invalid_grant(
                "The authorization code was already used; the tokens issued from it are revoked",
            ));
        }
        ConsumeOutcome::Invalid => {
            return Err(invalid_grant("Unknown or expired authorization code"));
        }
    };
    if record.client_id != client.id {
        return Err(invalid_grant(
            "The authorization code was issued to another client",
        ));
    }
    if record.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri differs from the one the code was requested with",
        ));
    }
    match (&record.code_challenge, req.code_verifier.as_deref()) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier sent, but the code was requested without PKCE",
            ));
        }
        (Some(_), None) => return Err(invalid_grant("The code requires a code_verifier (PKCE)")),
        (Some(challenge), Some(verifier)) => {
            let method = pkce::Method::parse(record.code_challenge_method.as_deref())
                .ok_or_else(|| invalid_grant("The code carries an unknown PKCE method"))?;
            if !pkce::verify(method, challenge, verifier) {
                return Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
    }
    let person = state
        .store
        .person(&record.person_id)
        .await?
        .ok_or_else(|| invalid_grant("The user who granted the code no longer exists"))?;
    let family = grant::Family::of_code(&record);
    require_source(state, &family).await?;
    let issued = mint_pair(
        state,
        &person,
        client,
        &family,
        &record.scope,
        &record.scope,
    )?;
    state.store.insert_token(&issued.refresh.record).await?;
    state.store.insert_token(&issued.access.record).await?;
    tracing::info!(client = %client.id, person = %person.id, "tokens issued for an authorization code");
    Ok(issued)
}

async fn refresh_grant(
    state: &AppState,
    client: &OAuthClientRecord,
    req: &TokenRequest,
) -> Result<Issued, EndpointError> {
    let presented = required(&req.refresh_token, "refresh_token")?;
    let old_hash = hash_secret(presented);
    let old = state
        .store
        .token(&old_hash)
        .await?
        .filter(|t| t.kind == TokenKind::Refresh)
        .ok_or_else(|| invalid_grant("Unknown refresh token"))?;
    if old.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(invalid_grant(
            "The refresh token was issued to another client",
        ));
    }
    let family = grant::Family::of_token(&old)
        .ok_or_else(|| invalid_grant("The refresh token belongs to no grant"))?;
    let access_scope = match req.scope.as_deref().map(scope::normalize) {
        Some(s) if !s.is_empty() => {
            if !scope::is_subset(&s, &old.scope) {
                return Err(EndpointError::oauth(
                    OAuthCode::InvalidScope,
                    "scope exceeds what the refresh token grants",
                ));
            }
            s
        }
        _ => old.scope.clone(),
    };
    let person = state
        .store
        .person(&old.person_id)
        .await?
        .ok_or_else(|| invalid_grant("The user who granted the token no longer exists"))?;
    if old.revoked_at.is_none() && old.used_at.is_none() {
        require_source(state, &family).await?;
    }
    let issued = mint_pair(state, &person, client, &family, &access_scope, &old.scope)?;
    let now = now_millis();
    match state
        .store
        .rotate_refresh_token(
            &old_hash,
            now,
            &issued.access.record,
            &issued.refresh.record,
        )
        .await?
    {
        RotateOutcome::Rotated => Ok(issued),
        RotateOutcome::Reused { revoked_access } => {
            // The store revoked the family in the same transaction; close
            // the sockets its access tokens opened.
            tracing::warn!(client = %client.id, family = %family.id, "refresh token reused; family revoked");
            revocation::announce(Some(state.bus.as_ref()), &revoked_access).await;
            Err(invalid_grant(
                "The refresh token was already used; every token of this grant is revoked",
            ))
        }
        RotateOutcome::Invalid => Err(invalid_grant("The refresh token is expired or revoked")),
    }
}

fn token_response(issued: Issued) -> Response {
    let body = TokenResponse {
        access_token: issued.access.text.expose_secret().to_owned(),
        expires_in: issued.access_ttl.as_secs(),
        refresh_token: Some(issued.refresh.text.expose_secret().to_owned()),
        refresh_token_expires_in: Some(issued.refresh_ttl.as_secs()),
        token_type: "Bearer".into(),
        scope: Some(issued.scope),
    };
    let mut res = axum::Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

macro_rules! token_route {
    ($name:ident, $path:literal) => {
        /// Exchanges an authorization code or a refresh token for tokens.
        ///
        /// Rate limited per client id (`--token-rate`).
        #[utoipa::path(
            post,
            path = $path,
            tag = "oauth",
            security((), ("basic" = [])),
            request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
            responses(
                (status = 200, description = "New access and refresh tokens (`Cache-Control: no-store`)", body = TokenResponse),
                (status = 400, description = "RFC 6749 error: invalid_request, invalid_grant (unknown/expired/reused code or refresh token, redirect_uri or PKCE mismatch), invalid_scope, unsupported_grant_type", body = OAuthError),
                (status = 401, response = crate::openapi::InvalidClient),
                (status = 429, response = crate::openapi::RateLimited),
                (status = 503, response = crate::openapi::Unavailable),
            )
        )]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            tracking: Option<Extension<TrackingId>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            exchange(&state, &headers, &body)
                .await
                .unwrap_or_else(|e| e.into_response(tracking))
        }
    };
}

token_route!(access_token_v1, "/v1/access_token");
token_route!(access_token_idb, "/idb/oauth2/v1/access_token");
