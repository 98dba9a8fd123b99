//! The two token exchanges: OAuth `refresh_token` grant and guest `jwt/login`.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;
use url::Url;
use webex_wire::oauth::{JwtLoginResponse, OAuthError, TokenResponse};

use super::AccessToken;
use crate::error::{AuthError, Error};
use crate::http::{HttpRequest, RawResponse, Transport, join};

/// A token obtained from an exchange.
pub(super) struct Exchanged {
    pub(super) access: AccessToken,
    pub(super) refresh_token: Option<SecretString>,
    pub(super) refresh_expires_at: Option<SystemTime>,
}

impl Exchanged {
    /// Just an access token: the refresh token (if any) stays as it is.
    pub(super) fn access_only(access: AccessToken) -> Self {
        Self {
            access,
            refresh_token: None,
            refresh_expires_at: None,
        }
    }
}

/// Client credentials for the refresh grant.
pub(super) struct Client<'a> {
    pub(super) id: &'a str,
    pub(super) secret: &'a SecretString,
}

/// `POST {token_url}` with `grant_type=refresh_token`.
pub(super) async fn refresh(
    transport: &Transport,
    token_url: Url,
    refresh_token: &SecretString,
    client: Client<'_>,
) -> Result<Exchanged, AuthError> {
    let req = HttpRequest::new(Method::POST, token_url).token_form(vec![
        ("grant_type", SecretString::from("refresh_token")),
        ("refresh_token", refresh_token.clone()),
        ("client_id", SecretString::from(client.id.to_owned())),
        ("client_secret", client.secret.clone()),
    ]);
    let response = send(transport, &req).await?;
    if response.status >= 400 {
        return Err(grant_error(&response));
    }
    let body: TokenResponse = response.json().map_err(transient)?;
    let now = SystemTime::now();
    Ok(Exchanged {
        access: AccessToken::new(body.access_token)
            .expires_in(Duration::from_secs(body.expires_in)),
        refresh_token: body.refresh_token.map(SecretString::from),
        refresh_expires_at: body
            .refresh_token_expires_in
            .and_then(|s| now.checked_add(Duration::from_secs(s))),
    })
}

/// `POST {hydra}/jwt/login` with the raw JWT as `authorization`.
pub(super) async fn jwt_login(
    transport: &Transport,
    hydra: &str,
    jwt: &SecretString,
) -> Result<Exchanged, AuthError> {
    let url = join(hydra, "jwt/login").map_err(transient)?;
    let req = HttpRequest::new(Method::POST, url)
        .without_auth()
        .secret_header(AUTHORIZATION, jwt.clone());
    let response = send(transport, &req).await?;
    if response.status >= 400 {
        return Err(match response.into_error() {
            Error::Auth(e) => e,
            Error::Http(e) if e.status == 400 || e.status == 403 => AuthError::TokenInvalid {
                reason: format!("guest JWT rejected: {}", e.message),
            },
            e => AuthError::RefreshFailed(e.to_string()),
        });
    }
    let body: JwtLoginResponse = response.json().map_err(transient)?;
    Ok(Exchanged::access_only(
        AccessToken::new(body.token).expires_in(Duration::from_secs(body.expires_in)),
    ))
}

async fn send(transport: &Transport, req: &HttpRequest) -> Result<RawResponse, AuthError> {
    let tracking_id = transport.next_tracking_id();
    transport
        .send(req, None, &tracking_id)
        .await
        .map_err(transient)
}

fn transient(e: Error) -> AuthError {
    AuthError::RefreshFailed(e.to_string())
}

/// Reads an RFC 6749 §5.2 error answer.
fn grant_error(response: &RawResponse) -> AuthError {
    let http = response.http_error();
    let error = response
        .json::<OAuthError>()
        .map(|e| e.error)
        .unwrap_or_else(|_| http.code.clone());
    match error.as_str() {
        "invalid_grant" => AuthError::RefreshTokenExpired,
        "" => AuthError::RefreshFailed(http.to_string()),
        _ if response.status >= 500 => AuthError::RefreshFailed(http.to_string()),
        _ => AuthError::RefreshRejected { error },
    }
}
