//! Reading the `application/x-www-form-urlencoded` bodies of the token and
//! revocation endpoints, with RFC 6749 errors instead of the generic ones.

use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::oauth_error::{EndpointError, OAuthCode};

/// Parses `body` as a form into `T`. A wrong content type, a malformed body
/// or a repeated parameter (RFC 6749 §3.2) is `invalid_request`.
pub(crate) fn parse<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, EndpointError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(EndpointError::oauth(
            OAuthCode::InvalidRequest,
            "Send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (name, _) in url::form_urlencoded::parse(body) {
        if !seen.insert(name.clone()) {
            return Err(EndpointError::oauth(
                OAuthCode::InvalidRequest,
                format!("Parameter `{name}` is repeated"),
            ));
        }
    }
    serde_urlencoded::from_bytes(body).map_err(|e| {
        EndpointError::oauth(
            OAuthCode::InvalidRequest,
            format!("Malformed form body: {e}"),
        )
    })
}

/// A required, non-empty parameter.
pub(crate) fn required<'a>(
    value: &'a Option<String>,
    name: &str,
) -> Result<&'a str, EndpointError> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
        EndpointError::oauth(
            OAuthCode::InvalidRequest,
            format!("Missing parameter `{name}`"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(serde::Deserialize)]
    struct F {
        a: Option<String>,
    }

    fn form_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        h
    }

    #[test]
    fn parses_and_rejects_repeats() {
        let f: Result<F, _> = parse(&form_headers(), b"a=1&b=2");
        assert_eq!(f.ok().and_then(|f| f.a).as_deref(), Some("1"));
        assert!(parse::<F>(&form_headers(), b"a=1&a=2").is_err());
    }

    #[test]
    fn requires_the_form_content_type() {
        assert!(parse::<F>(&HeaderMap::new(), b"a=1").is_err());
    }
}
