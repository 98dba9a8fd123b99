//! OAuth client authentication (RFC 6749 §2.3.1): HTTP Basic, or the
//! `client_id` / `client_secret` form fields.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::oauth_error::{EndpointError, OAuthCode};
use crate::auth::{hash_secret, hashes_equal};
use crate::state::AppState;
use crate::store::OAuthClientRecord;

/// Credentials as presented; the secret never reaches Debug output.
struct Presented {
    id: String,
    secret: String,
}

/// Authenticates the client from `headers` (Basic) or the form fields.
///
/// Presenting the secret both ways, or a form `client_id` that differs from
/// the Basic one, is `invalid_request`; missing or wrong credentials are
/// `invalid_client`.
pub(crate) async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<OAuthClientRecord, EndpointError> {
    let presented = match basic_credentials(headers)? {
        Some(basic) => {
            if form_secret.is_some() {
                return Err(EndpointError::oauth(
                    OAuthCode::InvalidRequest,
                    "Send the client secret either as HTTP Basic or as a form field, not both",
                ));
            }
            if form_id.is_some_and(|id| id != basic.id) {
                return Err(EndpointError::oauth(
                    OAuthCode::InvalidRequest,
                    "client_id in the form differs from the HTTP Basic client id",
                ));
            }
            basic
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => Presented {
                id: id.to_owned(),
                secret: secret.to_owned(),
            },
            _ => {
                return Err(EndpointError::oauth(
                    OAuthCode::InvalidClient,
                    "Client authentication required: HTTP Basic or client_id and client_secret form fields",
                ));
            }
        },
    };
    // Hash before the lookup so unknown and known clients cost the same.
    let presented_hash = hash_secret(&presented.secret);
    let client = state.store.oauth_client(&presented.id).await?;
    match client {
        Some(c) if hashes_equal(&c.secret_hash, &presented_hash) => Ok(c),
        _ => Err(EndpointError::oauth(
            OAuthCode::InvalidClient,
            "Unknown client or wrong client secret",
        )),
    }
}

/// The Basic credentials, `None` when there is no Basic `Authorization`.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<Presented>, EndpointError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        || EndpointError::oauth(OAuthCode::InvalidClient, "Malformed HTTP Basic credentials");
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let Some(encoded) = value
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("basic "))
        .and_then(|_| value.get(6..))
    else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before encoding.
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    Ok(Some(Presented { id, secret }))
}

/// Form-urldecodes one value (`+` is a space, `%XX` a byte).
fn form_decode(s: &str) -> Option<String> {
    // Only `&` would split the pair; everything after the first `=` is the value.
    let pair = format!("x={}", s.replace('&', "%26"));
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn decodes_basic() {
        let encoded = STANDARD.encode("C123:s%3Acret");
        let got = basic_credentials(&headers(&format!("Basic {encoded}")));
        let Ok(Some(p)) = got else {
            panic!("expected credentials")
        };
        assert_eq!(p.id, "C123");
        assert_eq!(p.secret, "s:cret");
    }

    #[test]
    fn other_schemes_are_not_basic() {
        assert!(matches!(basic_credentials(&headers("Bearer x")), Ok(None)));
        assert!(matches!(basic_credentials(&HeaderMap::new()), Ok(None)));
    }

    #[test]
    fn garbage_is_invalid_client() {
        assert!(basic_credentials(&headers("Basic !!!")).is_err());
        let no_colon = STANDARD.encode("nocolon");
        assert!(basic_credentials(&headers(&format!("Basic {no_colon}"))).is_err());
    }
}
