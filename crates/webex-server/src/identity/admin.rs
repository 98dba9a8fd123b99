//! Credential administration as plain library calls on a [`Store`] — what
//! the `webex` CLI runs against the database directly, no HTTP involved.
//!
//! Secrets are returned once, as [`SecretString`]; only their hashes are
//! stored (guest-issuer secrets excepted: they must verify signatures).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use secrecy::SecretString;
use webex_wire::people::PersonType;

use super::revocation;
use super::scope;
use crate::auth::{TokenSpec, hash_secret, mint_token, random_secret};
use crate::bus::Bus;
use crate::store::{GuestIssuerRecord, NewPerson, OAuthClientRecord, Store, StoreError};
use crate::time::now_millis;

/// Scopes of tokens minted by [`create_token`].
pub const PERSONAL_TOKEN_SCOPE: &str = "spark:all";

/// Bytes of randomness in a guest issuer's signing secret.
const GUEST_SECRET_BYTES: usize = 32;

/// Why an administrative call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The email address is not usable. Retrying won't help.
    #[error("`{0}` is not an email address")]
    InvalidEmail(String),
    /// A redirect URI is not an absolute URL without fragment. Retrying won't help.
    #[error("redirect URI `{uri}` is invalid: {reason}")]
    InvalidRedirectUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required value is empty. Retrying won't help.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The store failed; see [`AdminError::is_retryable`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    /// Whether retrying the same call later may succeed (database down).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }
}

/// Splits a trimmed, lower-cased email into (email, local part, domain).
fn parse_email(email: &str) -> Result<(String, String, String), AdminError> {
    let email = email.trim().to_lowercase();
    let invalid = || AdminError::InvalidEmail(email.clone());
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"@<>\"(),;:[]\\".contains(c));
    if !domain_ok || !local_ok {
        return Err(invalid());
    }
    Ok((email.clone(), local.to_owned(), domain.to_owned()))
}

/// Mints an access token for `email`, creating the person (of type `kind`,
/// named after the email's local part) and their org (named after the
/// email's domain) when missing. An existing person keeps their type.
/// `expires_in: None` never expires.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use std::time::Duration;
/// use secrecy::ExposeSecret;
/// use webex_server::identity::admin::create_token;
/// use webex_wire::people::PersonType;
///
/// let store = webex_server::store::connect("sqlite://webex.sqlite").await?;
/// let token = create_token(
///     store.as_ref(),
///     "PF84",
///     "alice@example.com",
///     PersonType::Person,
///     Some(Duration::from_secs(12 * 3600)),
/// )
/// .await?;
/// println!("{}", token.expose_secret());
/// # Ok(()) }
/// ```
pub async fn create_token(
    store: &dyn Store,
    region: &str,
    email: &str,
    kind: PersonType,
    expires_in: Option<Duration>,
) -> Result<SecretString, AdminError> {
    let (email, local, domain) = parse_email(email)?;
    let person = store
        .upsert_person(&NewPerson {
            email,
            display_name: local,
            kind,
            org_name: domain,
        })
        .await?;
    let minted = mint_token(
        &person,
        region,
        TokenSpec {
            scope: PERSONAL_TOKEN_SCOPE.into(),
            ttl_ms: expires_in.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            ..TokenSpec::default()
        },
    );
    store.insert_token(&minted.record).await?;
    Ok(minted.text)
}

/// Registers an OAuth integration allowed to redirect to exactly
/// `redirect_uris` and to request (a subset of) `scopes` (space separated).
/// Returns its client id and secret.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use webex_server::identity::admin::create_oauth_client;
///
/// let store = webex_server::store::connect("sqlite://webex.sqlite").await?;
/// let (client_id, secret) = create_oauth_client(
///     store.as_ref(),
///     "My integration",
///     &["http://localhost:8080/callback".to_owned()],
///     "spark:all spark:people_read",
/// )
/// .await?;
/// println!("client id {client_id}");
/// # drop(secret);
/// # Ok(()) }
/// ```
pub async fn create_oauth_client(
    store: &dyn Store,
    name: &str,
    redirect_uris: &[String],
    scopes: &str,
) -> Result<(String, SecretString), AdminError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::Empty("the client name"));
    }
    if redirect_uris.is_empty() {
        return Err(AdminError::Empty("the list of redirect URIs"));
    }
    for uri in redirect_uris {
        check_redirect_uri(uri)?;
    }
    let scopes = scope::normalize(scopes);
    if scopes.is_empty() {
        return Err(AdminError::Empty("the scopes"));
    }
    let id = format!(
        "C{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let secret = random_secret();
    store
        .insert_oauth_client(&OAuthClientRecord {
            id: id.clone(),
            name: name.to_owned(),
            secret_hash: hash_secret(&secret),
            redirect_uris: redirect_uris.to_vec(),
            scopes,
            created_at: now_millis(),
        })
        .await?;
    Ok((id, secret.into()))
}

fn check_redirect_uri(uri: &str) -> Result<(), AdminError> {
    let invalid = |reason: &str| AdminError::InvalidRedirectUri {
        uri: uri.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(uri).map_err(|e| invalid(&e.to_string()))?;
    if url.fragment().is_some() {
        return Err(invalid("it must not have a fragment (RFC 6749 §3.1.2)"));
    }
    if url.as_str() != uri {
        return Err(invalid(&format!(
            "write it in normalized form, `{url}`, so it can be compared exactly"
        )));
    }
    Ok(())
}

/// Registers a guest issuer whose guests live in the org `org_name`
/// (created when missing). Returns the issuer id (the JWT `iss`) and the
/// signing secret, base64-encoded as the Webex SDKs' `createJwt` expects.
///
/// The issuer is represented in its org by a bot person
/// `<issuer id>@guest-issuers.invalid` that owns no tokens.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use webex_server::identity::admin::create_guest_issuer;
///
/// let store = webex_server::store::connect("sqlite://webex.sqlite").await?;
/// let (issuer_id, secret) = create_guest_issuer(store.as_ref(), "Kiosk", "example.com").await?;
/// println!("issuer {issuer_id}");
/// # drop(secret);
/// # Ok(()) }
/// ```
pub async fn create_guest_issuer(
    store: &dyn Store,
    name: &str,
    org_name: &str,
) -> Result<(String, SecretString), AdminError> {
    let name = name.trim();
    let org_name = org_name.trim();
    if name.is_empty() {
        return Err(AdminError::Empty("the issuer name"));
    }
    if org_name.is_empty() {
        return Err(AdminError::Empty("the org name"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    // The store creates orgs only along with a person: the issuer's own.
    let identity = store
        .upsert_person(&NewPerson {
            email: format!("{id}@guest-issuers.invalid"),
            display_name: name.to_owned(),
            kind: PersonType::Bot,
            org_name: org_name.to_owned(),
        })
        .await?;
    let mut secret = vec![0u8; GUEST_SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let encoded = STANDARD.encode(&secret);
    store
        .insert_guest_issuer(&GuestIssuerRecord {
            id: id.clone(),
            name: name.to_owned(),
            org_id: identity.org_id,
            secret,
            created_at: now_millis(),
        })
        .await?;
    Ok((id, encoded.into()))
}

/// Revokes the token whose text is `token_text` (a refresh token takes every
/// token of its grant with it) and, given a `bus`, tells every node so open
/// websockets authenticated with it close. Returns whether a token was
/// revoked (`false`: unknown or already revoked).
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use webex_server::identity::admin::revoke_token;
///
/// let store = webex_server::store::connect("sqlite://webex.sqlite").await?;
/// let revoked = revoke_token(store.as_ref(), None, "secret_PF84_org").await?;
/// println!("revoked: {revoked}");
/// # Ok(()) }
/// ```
pub async fn revoke_token(
    store: &dyn Store,
    bus: Option<&dyn Bus>,
    token_text: &str,
) -> Result<bool, AdminError> {
    let token_text = token_text.trim();
    if token_text.is_empty() {
        return Err(AdminError::Empty("the token"));
    }
    let Some(record) = store.token(&hash_secret(token_text)).await? else {
        return Ok(false);
    };
    Ok(revocation::revoke_record(store, bus, &record, now_millis()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        let parsed = parse_email(" Alice@Example.COM ").map_err(|e| e.to_string());
        assert_eq!(
            parsed,
            Ok((
                "alice@example.com".into(),
                "alice".into(),
                "example.com".into()
            ))
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@c.d",
            "a@b c",
            "a@.b",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris_must_be_exact_and_fragment_free() {
        assert!(check_redirect_uri("http://localhost:8080/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb#x").is_err());
        assert!(check_redirect_uri("not a url").is_err());
        assert!(check_redirect_uri("http://LOCALHOST/cb").is_err());
    }
}
