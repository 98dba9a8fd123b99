//! Tokens: minting, hashing, and authenticating a request's bearer token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use webex_wire::error::codes;
use webex_wire::token::AccessTokenParts;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{GrantSource, Millis, PersonRecord, SecretHash, TokenKind, TokenRecord};
use crate::time::now_millis;

/// Characters of randomness in a minted secret: 44 alphanumerics ≈ 262 bits.
const SECRET_LEN: usize = 44;

/// A random alphanumeric secret of `SECRET_LEN` characters (≥ 256 bits).
pub fn random_secret() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect()
}

/// SHA-256 hex digest of a secret; what the store keeps instead of it.
pub fn hash_secret(secret: &str) -> SecretHash {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{b:02x}");
    }
    SecretHash(hex)
}

/// Constant-time equality of two secrets' hashes.
pub fn hashes_equal(a: &SecretHash, b: &SecretHash) -> bool {
    use subtle::ConstantTimeEq;
    a.0.as_bytes().ct_eq(b.0.as_bytes()).into()
}

/// A freshly minted token: its text (shown once) and the record to store.
pub struct MintedToken {
    /// The token text `<secret>_<region>_<orgId>`. Never log it.
    pub text: secrecy::SecretString,
    /// What the store keeps.
    pub record: TokenRecord,
}

/// What a minted token is for.
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    /// Access or refresh.
    pub kind: Option<TokenKind>,
    /// OAuth client, if any.
    pub client_id: Option<String>,
    /// Family, for OAuth rotation.
    pub family_id: Option<String>,
    /// The personal access token an OAuth grant was made from.
    pub grant_source: Option<GrantSource>,
    /// Scopes.
    pub scope: String,
    /// Lifetime in milliseconds; `None` never expires.
    pub ttl_ms: Option<i64>,
}

/// Mints a Webex-shaped token for `person`: `<secret>_<region>_<orgId>`.
pub fn mint_token(person: &PersonRecord, region: &str, spec: TokenSpec) -> MintedToken {
    let text = format!("{}_{}_{}", random_secret(), region, person.org_id);
    let now = now_millis();
    let record = TokenRecord {
        hash: hash_secret(&text),
        kind: spec.kind.unwrap_or(TokenKind::Access),
        person_id: person.id.clone(),
        client_id: spec.client_id,
        family_id: spec.family_id,
        grant_source: spec.grant_source,
        scope: spec.scope,
        created_at: now,
        expires_at: spec.ttl_ms.map(|ttl| now + ttl),
        revoked_at: None,
        used_at: None,
    };
    MintedToken {
        text: text.into(),
        record,
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub person: PersonRecord,
    /// With which token.
    pub token: TokenRecord,
}

/// Why a token was not accepted. Maps to 401 (HTTP) and 4401 (websocket).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("Missing Authorization header; send `Authorization: Bearer <access token>`")]
    Missing,
    /// Not `Bearer <token>`, or the token is not Webex-shaped.
    #[error("Malformed access token: {0}")]
    Malformed(String),
    /// Not known here.
    #[error("The access token is not valid")]
    Unknown,
    /// Past its expiry.
    #[error("The access token has expired")]
    Expired,
    /// Revoked.
    #[error("The access token has been revoked")]
    Revoked,
}

impl AuthError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => codes::TOKEN_MISSING,
            Self::Malformed(_) => codes::TOKEN_MALFORMED,
            Self::Unknown => codes::TOKEN_UNKNOWN,
            Self::Expired => codes::TOKEN_EXPIRED,
            Self::Revoked => codes::TOKEN_REVOKED,
        }
    }
}

/// Strips an optional `Bearer ` prefix (any case) and surrounding whitespace.
pub fn strip_bearer(value: &str) -> &str {
    let v = value.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    }
}

/// Whether `token` (without `Bearer `) has the Webex shape
/// `<secret>_<region>_<orgId>`; checked before any store lookup, so a
/// malformed token costs no query.
///
/// ```
/// use webex_server::auth::{AuthError, check_token_shape};
/// assert!(check_token_shape("s3cr3t_PF84_org-1").is_ok());
/// assert!(matches!(check_token_shape("not a token"), Err(AuthError::Malformed(_))));
/// ```
pub fn check_token_shape(token: &str) -> Result<(), AuthError> {
    if token.is_empty() {
        return Err(AuthError::Malformed("empty token".into()));
    }
    token
        .parse::<AccessTokenParts>()
        .map(drop)
        .map_err(|e| AuthError::Malformed(e.to_string()))
}

/// Checks a token's text against the store at time `now`.
///
/// Successful results are cached by token hash in
/// [`AppState::auth_cache`](crate::state::Inner::auth_cache) for a few
/// seconds (never past the token's expiry; revocations invalidate them).
pub async fn authenticate_token(
    state: &AppState,
    token: &str,
    now: Millis,
) -> Result<Result<Caller, AuthError>, ApiError> {
    if let Err(e) = check_token_shape(token) {
        return Ok(Err(e));
    }
    let hash = hash_secret(token);
    if let Some(caller) = state.auth_cache.get(&hash, now) {
        metrics::counter!("webex_auth_cache_hits_total").increment(1);
        return Ok(Ok(caller));
    }
    // Before the lookup: a revocation racing with it keeps it out of the cache.
    let epoch = state.auth_cache.epoch();
    let Some(record) = state.store.token(&hash).await? else {
        return Ok(Err(AuthError::Unknown));
    };
    if record.kind != TokenKind::Access {
        return Ok(Err(AuthError::Unknown));
    }
    if record.revoked_at.is_some() {
        return Ok(Err(AuthError::Revoked));
    }
    if record.expires_at.is_some_and(|exp| exp <= now) {
        return Ok(Err(AuthError::Expired));
    }
    let Some(person) = state.store.person(&record.person_id).await? else {
        return Ok(Err(AuthError::Unknown));
    };
    let caller = Caller {
        person,
        token: record,
    };
    state.auth_cache.insert(epoch, caller.clone());
    Ok(Ok(caller))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(codes::TOKEN_MISSING, AuthError::Missing.to_string())
            })?;
        let value = header.to_str().map_err(|_| {
            ApiError::unauthorized(
                codes::TOKEN_MALFORMED,
                "Authorization header is not valid text",
            )
        })?;
        let v = value.trim();
        if !v
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
        {
            return Err(ApiError::unauthorized(
                codes::TOKEN_MALFORMED,
                "Authorization header must be `Bearer <access token>`",
            ));
        }
        match authenticate_token(state, strip_bearer(v), now_millis()).await? {
            Ok(caller) => Ok(caller),
            Err(e) => Err(ApiError::unauthorized(e.code(), e.to_string())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::TestServer;

    async fn people_me(ts: &TestServer, token: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/v1/people/me", ts.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn cached_caller_is_served_and_revocation_is_immediate() {
        let ts = TestServer::start().await.unwrap();
        let state = ts.server().state();
        let token = ts.token_for("cache@example.com").await.unwrap();
        assert!(state.auth_cache.is_empty());
        assert_eq!(people_me(&ts, &token).await, 200);
        let hash = hash_secret(&token);
        assert!(
            state.auth_cache.get(&hash, now_millis()).is_some(),
            "cached"
        );
        assert_eq!(people_me(&ts, &token).await, 200, "served from the cache");

        let res = reqwest::Client::new()
            .post(format!("{}/admin/api/v1/tokens/revoke", ts.base_url()))
            .bearer_auth("admin-secret")
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        // No waiting for the bus: the revocation invalidated before returning.
        assert!(state.auth_cache.get(&hash, now_millis()).is_none());
        assert_eq!(people_me(&ts, &token).await, 401);
        ts.shutdown().await;
    }

    #[tokio::test]
    async fn cached_caller_never_outlives_the_token() {
        let ts = TestServer::start().await.unwrap();
        let state = ts.server().state();
        let token = ts
            .token_with("expiring@example.com", Some(60_000))
            .await
            .unwrap();
        let now = now_millis();
        let caller = authenticate_token(state, &token, now)
            .await
            .unwrap()
            .unwrap();
        let expires_at = caller.token.expires_at.unwrap();
        assert!(state.auth_cache.get(&caller.token.hash, now).is_some());
        let later = authenticate_token(state, &token, expires_at).await.unwrap();
        assert_eq!(later.unwrap_err(), AuthError::Expired);
        ts.shutdown().await;
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let a = random_secret();
        assert_eq!(a.len(), SECRET_LEN);
        assert_ne!(a, random_secret());
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn strip_bearer_handles_case_and_space() {
        assert_eq!(strip_bearer("  bearer   abc "), "abc");
        assert_eq!(strip_bearer("BEARER abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash_secret("abc").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
