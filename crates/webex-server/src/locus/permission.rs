//! meetingInfo's `permissionToken`: a short-lived JWT (HS256, signed with
//! the configured [`ServerConfig::permission_secret`](crate::ServerConfig)
//! or else the deployment's key in the store, [`SECRET_NAME`]) saying that
//! this person may join the meeting space of this name. meetingInfo hands
//! one out with every answer; a join by address (`POST {locus}/loci/call`)
//! requires it in its body, as the cloud does (the official SDK always
//! sends the one meetingInfo gave it, and asks meetingInfo again when it
//! expires within 30 s). Joins of a known Locus (`{locusUrl}/participant`)
//! do not need it (the joiner names the Locus, which only its participants
//! and meetingInfo learn); a token sent there is not checked.
//!
//! Claims: `iss` ([`ISSUER`]), `sub` (the person id), `space` (the space's
//! name: its SIP address and join link follow from it), `iat`, `exp`.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// `iss` of every permission token this server signs.
pub const ISSUER: &str = "webex-rs/appapi";

/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 5;

/// What a permission token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// [`ISSUER`].
    pub iss: String,
    /// The person it was issued to.
    pub sub: String,
    /// The name of the meeting space it lets them join.
    pub space: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

/// The name of the deployment's permission-token key in
/// [`SecretsStore`](crate::store::SecretsStore).
pub const SECRET_NAME: &str = "permission_token";

/// A token for `person` and the space `space`, valid for the configured
/// lifetime from `now` (Unix seconds).
pub fn issue(state: &AppState, person: &str, space: &str, now: u64) -> Result<String, ApiError> {
    let claims = Claims {
        iss: ISSUER.to_owned(),
        sub: person.to_owned(),
        space: space.to_owned(),
        iat: now,
        exp: now.saturating_add(state.config.permission_token_ttl.as_secs().max(1)),
    };
    let key = EncodingKey::from_secret(state.permission_key.expose_secret().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map_err(ApiError::internal)
}

/// Checks `token` for `person` joining the space named `space`; the
/// refusal says what is wrong (403).
pub fn check(state: &AppState, token: &str, person: &str, space: &str) -> Result<(), ApiError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub", "iss"]);
    v.set_issuer(&[ISSUER]);
    v.validate_aud = false;
    v.leeway = LEEWAY_SECS;
    let key = DecodingKey::from_secret(state.permission_key.expose_secret().as_bytes());
    let refused = |why: &str| {
        ApiError::forbidden(format!(
            "`permissionToken` {why}: ask meetingInfo for this meeting again and join with its token"
        ))
    };
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => refused("has expired"),
            ErrorKind::InvalidSignature | ErrorKind::InvalidIssuer => {
                refused("was not issued by this server")
            }
            _ => refused("is not a permission token of this server"),
        })?
        .claims;
    if claims.sub != person {
        return Err(refused("was issued to someone else"));
    }
    if claims.space != space {
        return Err(refused("is for another meeting"));
    }
    Ok(())
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn state() -> (crate::testing::TestServer, AppState) {
        let server = crate::testing::TestServer::start_with(|c| {
            c.permission_token_ttl = Duration::from_secs(60);
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let state = server.server().state().clone();
        (server, state)
    }

    #[tokio::test]
    async fn a_token_is_for_one_person_one_space_and_a_while() {
        let (server, state) = state().await;
        let now = now_secs();
        let token = issue(&state, "p1", "room", now).unwrap_or_default();
        assert!(check(&state, &token, "p1", "room").is_ok());
        let refused = |t: &str, p: &str, s: &str| {
            check(&state, t, p, s)
                .err()
                .map(|e| e.message)
                .unwrap_or_default()
        };
        assert!(refused(&token, "p2", "room").contains("someone else"));
        assert!(refused(&token, "p1", "other").contains("another meeting"));
        let old = issue(&state, "p1", "room", now - 3600).unwrap_or_default();
        assert!(refused(&old, "p1", "room").contains("expired"));
        assert!(refused("not-a-jwt", "p1", "room").contains("not a permission token"));
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                iss: ISSUER.into(),
                sub: "p1".into(),
                space: "room".into(),
                iat: now,
                exp: now + 60,
            },
            &EncodingKey::from_secret(b"another key"),
        )
        .unwrap_or_default();
        assert!(refused(&forged, "p1", "room").contains("not issued by this server"));
        server.shutdown().await;
    }
}
