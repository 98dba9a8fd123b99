//! Credentials: what the SDK authenticates with, and the [`TokenProvider`]
//! trait for apps that manage tokens themselves.
//!
//! Tokens are held as [`SecretString`]s: they never show up in `Debug`
//! output or logs.

mod manager;
mod oauth;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::error::AuthError;

pub(crate) use manager::TokenManager;

/// How the SDK obtains access tokens.
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::{Credentials, OAuthTokens};
///
/// // A personal access token or bot token (never refreshed).
/// let pat = Credentials::access_token("MjE4_PF84_0c2f4a2e-org");
///
/// // An integration's OAuth tokens, refreshed before they expire.
/// let oauth = Credentials::oauth(
///     OAuthTokens::new("access", "refresh", "client-id", "client-secret")
///         .expires_in(Duration::from_secs(14 * 24 * 3600)),
/// );
///
/// // A guest-issuer JWT, exchanged through `jwt/login`.
/// let guest = Credentials::guest_jwt("eyJhbGciOiJIUzI1NiJ9.e30.sig");
/// # let _ = (pat, oauth, guest);
/// ```
#[derive(Clone)]
pub struct Credentials {
    pub(crate) kind: CredentialsKind,
}

#[derive(Clone)]
pub(crate) enum CredentialsKind {
    Static(AccessToken),
    OAuth(OAuthTokens),
    GuestJwt(SecretString),
    Provider(Arc<dyn TokenProvider>),
}

impl Credentials {
    /// A fixed access token (personal access token, bot token). A leading
    /// `Bearer ` is stripped. It is never refreshed; an empty string means
    /// "no credentials".
    pub fn access_token(token: impl Into<String>) -> Self {
        Self {
            kind: CredentialsKind::Static(AccessToken::new(token)),
        }
    }

    /// OAuth integration tokens, refreshed before expiry and on a 401.
    pub fn oauth(tokens: OAuthTokens) -> Self {
        Self {
            kind: CredentialsKind::OAuth(tokens),
        }
    }

    /// A guest JWT, exchanged for an access token with `POST {hydra}/jwt/login`
    /// (again whenever the access token expires or is rejected).
    pub fn guest_jwt(jwt: impl Into<String>) -> Self {
        Self {
            kind: CredentialsKind::GuestJwt(SecretString::from(jwt.into().trim().to_owned())),
        }
    }

    /// Tokens come from the app's own [`TokenProvider`].
    pub fn provider(provider: impl TokenProvider) -> Self {
        Self {
            kind: CredentialsKind::Provider(Arc::new(provider)),
        }
    }

    /// Whether these credentials can produce a new access token on their own.
    pub fn can_refresh(&self) -> bool {
        !matches!(self.kind, CredentialsKind::Static(_))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            CredentialsKind::Static(_) => "access_token",
            CredentialsKind::OAuth(_) => "oauth",
            CredentialsKind::GuestJwt(_) => "guest_jwt",
            CredentialsKind::Provider(_) => "provider",
        };
        f.debug_struct("Credentials")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// An access token and, when known, when it expires.
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::AccessToken;
///
/// let token = AccessToken::new("Bearer abc_PF84_org").expires_in(Duration::from_secs(3600));
/// assert!(token.expires_at().is_some());
/// assert!(!format!("{token:?}").contains("abc"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    pub(crate) secret: SecretString,
    pub(crate) expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// A token with unknown expiry. Whitespace and a leading `Bearer ` are removed.
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        let trimmed = token.trim();
        let bare = trimmed
            .strip_prefix("Bearer ")
            .or_else(|| trimmed.strip_prefix("bearer "))
            .unwrap_or(trimmed)
            .trim();
        Self {
            secret: SecretString::from(bare.to_owned()),
            expires_at: None,
        }
    }

    /// Sets the expiry to `ttl` from now.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires_at = SystemTime::now().checked_add(ttl);
        self
    }

    /// Sets the expiry.
    pub fn expiring_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// When the token expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.secret.expose_secret().is_empty()
    }

    /// Whether the expiry is known and has passed.
    pub(crate) fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// OAuth integration tokens plus the client credentials needed to refresh them.
///
/// The refresh is `POST {token_url}` with the form
/// `grant_type=refresh_token&refresh_token=…&client_id=…&client_secret=…`.
/// The token URL defaults to `https://webexapis.com/v1/access_token`, or, with
/// a self-hosted discovery URL, to the catalog's `hydra` + `/access_token`.
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::OAuthTokens;
///
/// let tokens = OAuthTokens::new("access", "refresh", "id", "secret")
///     .expires_in(Duration::from_secs(3600))
///     .refresh_token_expires_in(Duration::from_secs(90 * 24 * 3600));
/// assert!(!format!("{tokens:?}").contains("secret\""));
/// ```
#[derive(Clone)]
pub struct OAuthTokens {
    pub(crate) access: AccessToken,
    pub(crate) refresh_token: SecretString,
    pub(crate) refresh_expires_at: Option<SystemTime>,
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) token_url: Option<Url>,
}

impl OAuthTokens {
    /// Tokens from an authorization-code grant, with the client that obtained them.
    pub fn new(
        access_token: impl Into<String>,
        refresh_token: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            access: AccessToken::new(access_token),
            refresh_token: SecretString::from(refresh_token.into()),
            refresh_expires_at: None,
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            token_url: None,
        }
    }

    /// Tokens from a token endpoint answer.
    pub fn from_response(
        response: &webex_wire::oauth::TokenResponse,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let mut tokens = Self::new(
            response.access_token.clone(),
            response.refresh_token.clone().unwrap_or_default(),
            client_id,
            client_secret,
        )
        .expires_in(Duration::from_secs(response.expires_in));
        if let Some(s) = response.refresh_token_expires_in {
            tokens = tokens.refresh_token_expires_in(Duration::from_secs(s));
        }
        tokens
    }

    /// The access token expires `ttl` from now.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.access = self.access.expires_in(ttl);
        self
    }

    /// The access token expires at `at`.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.access = self.access.expiring_at(at);
        self
    }

    /// The refresh token expires `ttl` from now.
    pub fn refresh_token_expires_in(mut self, ttl: Duration) -> Self {
        self.refresh_expires_at = SystemTime::now().checked_add(ttl);
        self
    }

    /// Overrides the token endpoint.
    pub fn token_url(mut self, url: Url) -> Self {
        self.token_url = Some(url);
        self
    }
}

impl fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access", &self.access)
            .field("refresh_token", &"[redacted]")
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_url", &self.token_url.as_ref().map(Url::as_str))
            .finish()
    }
}

/// Tokens managed by the application (e.g. kept in a vault or refreshed by
/// another service).
///
/// The SDK calls [`TokenProvider::access_token`] when it has no token yet and
/// [`TokenProvider::refresh`] when its token expires or the server rejects it
/// (one call at a time, however many requests are waiting).
///
/// ```
/// use webex_meetings::{AccessToken, AuthError, TokenProvider};
///
/// struct FromEnv;
///
/// #[async_trait::async_trait]
/// impl TokenProvider for FromEnv {
///     async fn access_token(&self) -> Result<AccessToken, AuthError> {
///         std::env::var("WEBEX_TOKEN")
///             .map(AccessToken::new)
///             .map_err(|_| AuthError::NoCredentials)
///     }
/// }
/// let credentials = webex_meetings::Credentials::provider(FromEnv);
/// # let _ = credentials;
/// ```
#[async_trait]
pub trait TokenProvider: Send + Sync + 'static {
    /// The current access token.
    async fn access_token(&self) -> Result<AccessToken, AuthError>;

    /// A new access token, because the current one expired or was rejected.
    /// Defaults to [`TokenProvider::access_token`].
    async fn refresh(&self) -> Result<AccessToken, AuthError> {
        self.access_token().await
    }
}

/// The org id a token encodes: a JWT's `realm` claim, or the third part of a
/// `<secret>_<region>_<orgId>` token.
pub(crate) fn org_id_of(token: &str) -> Option<String> {
    let parts: Vec<&str> = token.split('.').collect();
    if let [_, claims, _] = parts.as_slice() {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims.trim_end_matches('='))
            .ok()?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        return value
            .get("realm")
            .and_then(|r| r.as_str())
            .map(str::to_owned);
    }
    token
        .parse::<webex_wire::token::AccessTokenParts>()
        .ok()
        .map(|p| p.org_id().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_id_from_token_shapes() {
        assert_eq!(org_id_of("abc_PF84_org-1").as_deref(), Some("org-1"));
        assert_eq!(org_id_of("abc"), None);
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"realm":"org-2","sub":"x"}"#);
        assert_eq!(
            org_id_of(&format!("eyJhbGciOiJub25lIn0.{claims}.sig")).as_deref(),
            Some("org-2")
        );
    }

    #[test]
    fn bearer_prefix_is_stripped_and_debug_redacts() {
        let t = AccessToken::new("  Bearer tok_PF84_org ");
        assert_eq!(t.secret.expose_secret(), "tok_PF84_org");
        let c = Credentials::oauth(OAuthTokens::new("a1", "r1", "cid", "csecret"));
        let shown = format!("{c:?} {:?}", OAuthTokens::new("a1", "r1", "cid", "csecret"));
        assert!(!shown.contains("a1") && !shown.contains("r1") && !shown.contains("csecret"));
    }
}
