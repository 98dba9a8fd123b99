//! `POST /v1/jwt/login`: a guest-issuer JWT (HS256) in, a guest access token
//! out. The guest is a person of type `appuser` in the issuer's org, with the
//! email `<sub>@<issuer id>.guest.invalid`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use webex_wire::error::{ErrorBody, codes};
use webex_wire::oauth::{GuestClaims, JwtLoginResponse};
use webex_wire::people::PersonType;

use crate::auth::{TokenSpec, mint_token, strip_bearer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::NewPerson;

/// The longest JWT accepted.
const MAX_JWT_LEN: usize = 8 * 1024;
/// The longest `sub` accepted (it becomes an email's local part).
const MAX_SUB_LEN: usize = 64;
/// Scopes of a guest token.
const GUEST_SCOPE: &str = "spark:all";
/// Tolerated clock skew when checking `exp`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// Why a JWT was refused; each is a 401 with its own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum JwtError {
    /// No `Authorization` header.
    #[error("Missing Authorization header; send the guest JWT as `Authorization: <jwt>`")]
    Missing,
    /// Not a JWT.
    #[error("The guest JWT is malformed: {0}")]
    Malformed(String),
    /// Signed with something other than HS256.
    #[error("The guest JWT must be signed with HS256")]
    Algorithm,
    /// No such issuer.
    #[error("The guest JWT's issuer is not known to this server")]
    UnknownIssuer,
    /// The signature does not verify with the issuer's secret.
    #[error("The guest JWT's signature is invalid")]
    Signature,
    /// No `exp` claim.
    #[error("The guest JWT has no `exp` claim; guest JWTs must expire")]
    MissingExp,
    /// `exp` is in the past.
    #[error("The guest JWT has expired (`exp` is in the past)")]
    Expired,
    /// Another required claim is missing.
    #[error("The guest JWT has no `{0}` claim")]
    MissingClaim(String),
    /// `sub` cannot name a guest.
    #[error("The guest JWT's `sub` must be 1 to {MAX_SUB_LEN} characters of A-Z a-z 0-9 . _ -")]
    BadSubject,
}

impl JwtError {
    fn into_api(self) -> ApiError {
        let code = match &self {
            Self::Missing => codes::TOKEN_MISSING,
            Self::Expired => codes::TOKEN_EXPIRED,
            Self::UnknownIssuer | Self::Signature => codes::TOKEN_UNKNOWN,
            _ => codes::TOKEN_MALFORMED,
        };
        ApiError::unauthorized(code, self.to_string())
    }
}

/// The `iss` of a JWT, read before its signature can be checked (the issuer
/// says which secret to check it with). Also rejects non-HS256 tokens.
fn unverified_issuer(jwt: &str) -> Result<String, JwtError> {
    let header =
        jsonwebtoken::decode_header(jwt).map_err(|e| JwtError::Malformed(e.to_string()))?;
    if header.alg != Algorithm::HS256 {
        return Err(JwtError::Algorithm);
    }
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| JwtError::Malformed("expected three dot-separated parts".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed("the payload is not base64url".into()))?;
    let claims: Iss = serde_json::from_slice(&bytes)
        .map_err(|_| JwtError::Malformed("the payload is not a JSON object".into()))?;
    claims
        .iss
        .ok_or_else(|| JwtError::MissingClaim("iss".into()))
}

/// Verifies `jwt` with `secret` for issuer `iss`.
fn verify(jwt: &str, iss: &str, secret: &[u8]) -> Result<GuestClaims, JwtError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub", "iss"]);
    v.set_issuer(&[iss]);
    v.validate_aud = false;
    v.leeway = LEEWAY_SECS;
    // Optional fields, so that jsonwebtoken's own checks name what is missing.
    #[derive(serde::Deserialize)]
    struct Raw {
        sub: Option<String>,
        iss: Option<String>,
        exp: Option<i64>,
        #[serde(default)]
        name: Option<String>,
    }
    let data = jsonwebtoken::decode::<Raw>(jwt, &DecodingKey::from_secret(secret), &v).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidSignature => JwtError::Signature,
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::MissingRequiredClaim(c) if c == "exp" => JwtError::MissingExp,
            ErrorKind::MissingRequiredClaim(c) => JwtError::MissingClaim(c.clone()),
            ErrorKind::InvalidAlgorithm => JwtError::Algorithm,
            ErrorKind::InvalidIssuer => JwtError::UnknownIssuer,
            _ => JwtError::Malformed(e.to_string()),
        },
    )?;
    let Raw {
        sub,
        iss,
        exp,
        name,
    } = data.claims;
    let (Some(sub), Some(iss), Some(exp)) = (sub, iss, exp) else {
        return Err(JwtError::Malformed("sub, iss and exp are required".into()));
    };
    let sub_ok = !sub.is_empty()
        && sub.len() <= MAX_SUB_LEN
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !sub_ok {
        return Err(JwtError::BadSubject);
    }
    Ok(GuestClaims {
        sub,
        name: name.unwrap_or_default(),
        iss,
        exp,
    })
}

/// The guest's email: `<sub>@<issuer id>.guest.invalid`, lower-cased.
pub(crate) fn guest_email(sub: &str, issuer_id: &str) -> String {
    format!("{sub}@{issuer_id}.guest.invalid").to_lowercase()
}

/// Exchanges a guest-issuer JWT for a guest access token.
///
/// Rate limited per issuer (`--token-rate`).
#[utoipa::path(
    post,
    path = "/v1/jwt/login",
    tag = "people",
    params(("authorization" = String, Header, description = "The guest JWT, raw or as `Bearer <jwt>`")),
    responses(
        (status = 200, description = "A guest access token (`Cache-Control: no-store`)", body = JwtLoginResponse),
        (status = 401, description = "Missing or malformed JWT, not HS256, unknown issuer, bad signature, missing or past `exp`, missing `sub`/`iss` (see `message`)", body = ErrorBody),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let jwt = headers
        .get(header::AUTHORIZATION)
        .ok_or(JwtError::Missing)
        .and_then(|v| {
            v.to_str()
                .map_err(|_| JwtError::Malformed("the header is not valid text".into()))
        })
        .map(strip_bearer)
        .and_then(|jwt| {
            if jwt.is_empty() || jwt.len() > MAX_JWT_LEN {
                Err(JwtError::Malformed(format!(
                    "expected 1 to {MAX_JWT_LEN} characters"
                )))
            } else {
                Ok(jwt)
            }
        })
        .map_err(JwtError::into_api)?;
    let iss = unverified_issuer(jwt).map_err(JwtError::into_api)?;
    let issuer = state
        .store
        .guest_issuer(&iss)
        .await?
        .ok_or_else(|| JwtError::UnknownIssuer.into_api())?;
    let claims = verify(jwt, &issuer.id, &issuer.secret).map_err(JwtError::into_api)?;
    let org = state
        .store
        .org(&issuer.org_id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("guest issuer {} has no org", issuer.id)))?;
    let display_name = if claims.name.trim().is_empty() {
        claims.sub.clone()
    } else {
        claims.name.trim().to_owned()
    };
    let person = state
        .store
        .upsert_person(&NewPerson {
            email: guest_email(&claims.sub, &issuer.id),
            display_name,
            kind: PersonType::Appuser,
            org_name: org.name,
        })
        .await?;
    if person.org_id != issuer.org_id || person.kind != PersonType::Appuser {
        return Err(ApiError::forbidden(
            "The guest's email belongs to a person who is not a guest of this issuer",
        ));
    }
    let ttl = state.config.guest_token_ttl;
    let minted = mint_token(
        &person,
        &state.config.region,
        TokenSpec {
            scope: GUEST_SCOPE.into(),
            ttl_ms: Some(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            ..TokenSpec::default()
        },
    );
    state.store.insert_token(&minted.record).await?;
    tracing::info!(issuer = %issuer.id, person = %person.id, "guest signed in");
    let mut res = axum::Json(JwtLoginResponse {
        token: minted.text.expose_secret().to_owned(),
        expires_in: ttl.as_secs(),
    })
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sign(claims: serde_json::Value, alg: Algorithm, key: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key))
            .unwrap_or_default()
    }

    fn future() -> i64 {
        chrono::Utc::now().timestamp() + 600
    }

    #[test]
    fn accepts_a_good_token() {
        let jwt = sign(
            json!({"sub":"guest-1","iss":"i1","name":"G","exp":future()}),
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(unverified_issuer(&jwt), Ok("i1".into()));
        let claims = verify(&jwt, "i1", SECRET).map_err(|e| e.to_string());
        assert_eq!(claims.map(|c| c.name), Ok("G".into()));
    }

    #[test]
    fn distinguishes_failures() {
        let good = json!({"sub":"g","iss":"i1","exp":future()});
        let jwt = sign(good.clone(), Algorithm::HS256, b"other secret");
        assert_eq!(verify(&jwt, "i1", SECRET).err(), Some(JwtError::Signature));
        let jwt = sign(json!({"sub":"g","iss":"i1"}), Algorithm::HS256, SECRET);
        assert_eq!(verify(&jwt, "i1", SECRET).err(), Some(JwtError::MissingExp));
        let past = chrono::Utc::now().timestamp() - 3600;
        let jwt = sign(
            json!({"sub":"g","iss":"i1","exp":past}),
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(verify(&jwt, "i1", SECRET).err(), Some(JwtError::Expired));
        let jwt = sign(good, Algorithm::HS384, SECRET);
        assert_eq!(unverified_issuer(&jwt).err(), Some(JwtError::Algorithm));
        let jwt = sign(
            json!({"sub":"a@b","iss":"i1","exp":future()}),
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(verify(&jwt, "i1", SECRET).err(), Some(JwtError::BadSubject));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        // alg "none" is not even parsed by jsonwebtoken: malformed.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"g","iss":"i1","exp":9999999999}"#);
        assert!(unverified_issuer(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn guest_email_shape() {
        assert_eq!(guest_email("Guest-1", "ISS"), "guest-1@iss.guest.invalid");
    }
}
