//! `POST /v1/jwt/login`: a guest-issuer JWT (HS256) in, a guest access token
//! out. The guest is a person of type `appuser` in the issuer's org, with the
//! email `<encoded sub>@<issuer id>.guest.invalid`.
//!
//! JWT `sub` is case-sensitive, emails are not: the subject is encoded
//! losslessly into lower case (an upper-case letter `X` becomes `~x`; `~`
//! is not a character `sub` may hold), so `CaseUser` and `caseuser` are two
//! guests. The JWT must be valid now (`nbf`, `exp`), must not be issued in
//! the future (`iat`), and may live at most [`MAX_JWT_LIFETIME_SECS`], each
//! with [`LEEWAY_SECS`] of clock skew.

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
/// Tolerated clock skew when checking `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Longest a guest JWT may be valid: `exp` at most this far after `iat`
/// (or after now, without `iat`), in seconds (24 hours).
pub const MAX_JWT_LIFETIME_SECS: i64 = 24 * 3600;
/// The latest time claim accepted: the last second of the year 9999.
const MAX_TIME_CLAIM: i64 = 253_402_300_799;

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
    /// `nbf` is in the future.
    #[error("The guest JWT is not valid yet (`nbf` is in the future)")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("The guest JWT was issued in the future (`iat`)")]
    IssuedInFuture,
    /// `exp` is too far after `iat` (or now).
    #[error(
        "The guest JWT lives too long: `exp` may be at most {MAX_JWT_LIFETIME_SECS} s after `iat`"
    )]
    TooLong,
    /// `exp`, `nbf` or `iat` is not a whole number of seconds in range.
    #[error(
        "The guest JWT's `{0}` must be a whole number of seconds since 1970 (0 to {MAX_TIME_CLAIM})"
    )]
    BadTime(&'static str),
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

/// The JWT in an `Authorization` value (raw or `Bearer <jwt>`), refused
/// when empty or longer than `MAX_JWT_LEN` bytes.
pub(crate) fn read_jwt(value: &str) -> Result<&str, JwtError> {
    let jwt = strip_bearer(value);
    if jwt.is_empty() || jwt.len() > MAX_JWT_LEN {
        return Err(JwtError::Malformed(format!(
            "expected 1 to {MAX_JWT_LEN} characters"
        )));
    }
    Ok(jwt)
}

/// The `iss` of a JWT, read before its signature can be checked (the issuer
/// says which secret to check it with). Also rejects non-HS256 tokens.
pub(crate) fn unverified_issuer(jwt: &str) -> Result<String, JwtError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| unreadable(&e))?;
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

/// The refusal of a JWT that cannot be read, in words of our own: the
/// library's text can quote the input (serde's ``unknown variant `…` ``),
/// and no error message reflects what the caller sent (found by the
/// `guest_jwt` fuzz target).
fn unreadable(e: &jsonwebtoken::errors::Error) -> JwtError {
    let what = match e.kind() {
        ErrorKind::InvalidToken => "expected three dot-separated base64url parts",
        ErrorKind::Base64(_) => "a part is not base64url",
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            "the header or the claims are not what a guest JWT holds (a JSON object with `alg` HS256; string `sub` and `iss`, numeric times)"
        }
        _ => "it cannot be decoded",
    };
    JwtError::Malformed(what.into())
}

/// Verifies `jwt` with `secret` for issuer `iss`.
pub(crate) fn verify(jwt: &str, iss: &str, secret: &[u8]) -> Result<GuestClaims, JwtError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub", "iss"]);
    v.set_issuer(&[iss]);
    v.validate_aud = false;
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    // Optional fields, so that jsonwebtoken's own checks name what is
    // missing. The times are read as any JSON value and checked here:
    // jsonwebtoken ignores an `nbf` it cannot read as a u64 (a float beyond
    // u64, found by the `guest_jwt` fuzz target) and rounds fractions.
    #[derive(serde::Deserialize)]
    struct Raw {
        sub: Option<String>,
        iss: Option<String>,
        #[serde(default)]
        exp: Option<serde_json::Value>,
        #[serde(default)]
        nbf: Option<serde_json::Value>,
        #[serde(default)]
        iat: Option<serde_json::Value>,
        #[serde(default)]
        name: Option<String>,
    }
    let data = jsonwebtoken::decode::<Raw>(jwt, &DecodingKey::from_secret(secret), &v).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidSignature => JwtError::Signature,
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::MissingRequiredClaim(c) if c == "exp" => JwtError::MissingExp,
            ErrorKind::MissingRequiredClaim(c) => JwtError::MissingClaim(c.clone()),
            ErrorKind::InvalidAlgorithm => JwtError::Algorithm,
            ErrorKind::InvalidIssuer => JwtError::UnknownIssuer,
            _ => unreadable(&e),
        },
    )?;
    let Raw {
        sub,
        iss,
        exp,
        nbf,
        iat,
        name,
    } = data.claims;
    let exp = time_claim("exp", exp)?;
    let nbf = time_claim("nbf", nbf)?;
    let iat = time_claim("iat", iat)?;
    let (Some(sub), Some(iss), Some(exp)) = (sub, iss, exp) else {
        return Err(JwtError::Malformed("sub, iss and exp are required".into()));
    };
    check_times(Times { exp, nbf, iat }, chrono::Utc::now().timestamp())?;
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

/// A time claim (`exp`, `nbf`, `iat`) as whole seconds since the epoch:
/// absent is `None`; anything but an integer from 0 to [`MAX_TIME_CLAIM`]
/// (a fraction, a float, a string, a negative number) is refused.
fn time_claim(
    name: &'static str,
    value: Option<serde_json::Value>,
) -> Result<Option<i64>, JwtError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(t) if (0..=MAX_TIME_CLAIM).contains(&t) => Ok(Some(t)),
            _ => Err(JwtError::BadTime(name)),
        },
        Some(_) => Err(JwtError::BadTime(name)),
    }
}

/// The time claims of a guest JWT, in seconds since the epoch.
#[derive(Debug, Clone, Copy)]
struct Times {
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
}

/// Checks every time claim at `now` (seconds since the epoch), with the
/// leeway; jsonwebtoken has checked `exp` and `nbf` already, this checks
/// them again on the values the server itself read.
fn check_times(times: Times, now: i64) -> Result<(), JwtError> {
    let Times { exp, nbf, iat } = times;
    let leeway = LEEWAY_SECS as i64;
    if exp < now.saturating_sub(leeway) {
        return Err(JwtError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(JwtError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(JwtError::IssuedInFuture);
    }
    let from = iat.unwrap_or(now);
    if exp.saturating_sub(from) > MAX_JWT_LIFETIME_SECS.saturating_add(leeway) {
        return Err(JwtError::TooLong);
    }
    Ok(())
}

/// The guest's display name: the JWT's `name` (trimmed), else its `sub`.
pub(crate) fn display_name(claims: &GuestClaims) -> String {
    if claims.name.trim().is_empty() {
        claims.sub.clone()
    } else {
        claims.name.trim().to_owned()
    }
}

/// The guest's email: `<sub>@<issuer id>.guest.invalid` with `sub` encoded
/// losslessly in lower case (`X` → `~x`), so subjects that differ only in
/// case stay different people.
pub(crate) fn guest_email(sub: &str, issuer_id: &str) -> String {
    let mut local = String::with_capacity(sub.len() + 8);
    for c in sub.chars() {
        if c.is_ascii_uppercase() {
            local.push('~');
            local.push(c.to_ascii_lowercase());
        } else {
            local.push(c);
        }
    }
    format!("{local}@{}.guest.invalid", issuer_id.to_lowercase())
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
        (status = 400, description = "The JWT's `name` is too long or holds control or bidirectional characters", body = ErrorBody),
        (status = 401, description = "Missing or malformed JWT, not HS256, unknown issuer, bad signature, missing or past `exp`, future `nbf` or `iat`, lifetime over 24 h, missing `sub`/`iss` (see `message`)", body = ErrorBody),
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
        .and_then(read_jwt)
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
    let display_name = display_name(&claims);
    crate::budget::check_name("name", &display_name)?;
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
    fn refusals_never_quote_what_the_caller_sent() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256<script>","typ":"JWT"}"#);
        let Err(JwtError::Malformed(why)) = unverified_issuer(&format!("{header}.e30.sig")) else {
            panic!("an unknown alg is malformed");
        };
        assert!(!why.contains("script"), "{why}");
        let jwt = sign(
            json!({"sub":"g","iss":"i1","exp":"<script>"}),
            Algorithm::HS256,
            SECRET,
        );
        let why = verify(&jwt, "i1", SECRET)
            .expect_err("a string exp is refused")
            .to_string();
        assert!(!why.contains("script"), "{why}");
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
        assert_eq!(guest_email("guest-1", "ISS"), "guest-1@iss.guest.invalid");
        assert_eq!(guest_email("Guest-1", "ISS"), "~guest-1@iss.guest.invalid");
        assert_ne!(guest_email("CaseUser", "i"), guest_email("caseuser", "i"));
        assert_ne!(guest_email("CaseUser", "i"), guest_email("cASEuSER", "i"));
    }

    #[test]
    fn time_claims_must_be_whole_seconds_in_range() {
        let now = chrono::Utc::now().timestamp();
        let check = |claims: &str| {
            let claims = claims.replace("$NOW", &now.to_string());
            let value: serde_json::Value = serde_json::from_str(&claims).expect("JSON");
            verify(&sign(value, Algorithm::HS256, SECRET), "i1", SECRET).err()
        };
        // Found by the guest_jwt fuzz target: a float beyond u64 was
        // ignored by jsonwebtoken, so a far-future `nbf` passed.
        assert_eq!(
            check(r#"{"sub":"g","iss":"i1","exp":$NOW,"nbf":9911111111111111111111111199999999}"#),
            Some(JwtError::BadTime("nbf"))
        );
        assert_eq!(
            check(r#"{"sub":"g","iss":"i1","exp":$NOW,"nbf":1e300}"#),
            Some(JwtError::BadTime("nbf"))
        );
        assert_eq!(
            check(r#"{"sub":"g","iss":"i1","exp":$NOW,"iat":1.5}"#),
            Some(JwtError::BadTime("iat"))
        );
        assert_eq!(
            check(r#"{"sub":"g","iss":"i1","exp":$NOW,"nbf":-1}"#),
            Some(JwtError::BadTime("nbf"))
        );
        assert_eq!(
            check(r#"{"sub":"g","iss":"i1","exp":$NOW,"iat":"0"}"#),
            Some(JwtError::BadTime("iat"))
        );
        assert_eq!(
            check(r#"{"sub":"g","iss":"i1","exp":99999999999999}"#),
            Some(JwtError::BadTime("exp"))
        );
        assert_eq!(
            check(r#"{"sub":"g","iss":"i1","exp":$NOW,"nbf":$NOW}"#),
            None
        );
    }

    #[test]
    fn times_are_checked_with_leeway() {
        let now = chrono::Utc::now().timestamp();
        let claims = |extra: serde_json::Value| {
            let mut c = json!({"sub":"g","iss":"i1","exp": now + 600});
            for (k, v) in extra.as_object().into_iter().flatten() {
                c[k] = v.clone();
            }
            sign(c, Algorithm::HS256, SECRET)
        };
        let check = |jwt: String| verify(&jwt, "i1", SECRET).err();
        assert_eq!(
            check(claims(json!({"nbf": now + 365 * 86400}))),
            Some(JwtError::NotYetValid)
        );
        assert_eq!(
            check(claims(json!({"nbf": now + 10}))),
            None,
            "within the leeway"
        );
        assert_eq!(
            check(claims(json!({"iat": now + 3600}))),
            Some(JwtError::IssuedInFuture)
        );
        assert_eq!(
            check(claims(json!({"iat": now + 10}))),
            None,
            "within the leeway"
        );
        assert_eq!(
            check(claims(json!({"exp": 253402300799_i64}))),
            Some(JwtError::TooLong)
        );
        assert_eq!(
            check(claims(json!({"iat": now - 3600, "exp": now + 24 * 3600}))),
            Some(JwtError::TooLong)
        );
        assert_eq!(
            check(claims(json!({"iat": now, "exp": now + 24 * 3600}))),
            None
        );
    }
}
