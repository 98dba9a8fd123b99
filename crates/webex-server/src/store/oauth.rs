//! OAuth clients and authorization codes: records, [`OAuthStore`], and the
//! SQL both backends run for it.

use async_trait::async_trait;
use futures::FutureExt;

use super::backend::Backend;
use super::rules::{self, Exchange};
use super::sql::{self, Columns, Conn, RowLock, Stmt};
use super::{Millis, SecretHash, StoreError, StoreResult};

/// A registered OAuth client (integration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClientRecord {
    /// Public client id.
    pub id: String,
    /// Display name shown on the consent page.
    pub name: String,
    /// Hash of the client secret.
    pub secret_hash: SecretHash,
    /// Exact redirect URIs allowed.
    pub redirect_uris: Vec<String>,
    /// Space-separated scopes the client may request.
    pub scopes: String,
    /// Creation time.
    pub created_at: Millis,
}

/// Where an OAuth grant made on the consent page came from: the personal
/// access token the person consented with. The grant's authorization code
/// and every one of its tokens carry it (columns `source_token_hash` and
/// `family_not_after`), so that the token endpoint ends the grant with that
/// token and never lets one of its tokens outlive it (`identity::grant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSource {
    /// Hash of the personal access token the grant was made from.
    pub token_hash: SecretHash,
    /// No token of the grant may live past this: that token's expiry
    /// (`None`: it never expires).
    pub not_after: Option<Millis>,
}

/// The [`GrantSource`] a row of `tokens` or `auth_codes` records, if any.
pub(super) fn grant_source(row: &dyn Columns) -> StoreResult<Option<GrantSource>> {
    let not_after = row.opt_int("family_not_after")?;
    match row.opt_text("source_token_hash")? {
        Some(hash) => Ok(Some(GrantSource {
            token_hash: SecretHash(hash),
            not_after,
        })),
        None if not_after.is_some() => Err(StoreError::Corrupt(
            "column `family_not_after` is set without `source_token_hash`".into(),
        )),
        None => Ok(None),
    }
}

/// Binds the next two placeholders: `source_token_hash`, then
/// `family_not_after`.
pub(super) fn bind_grant_source(stmt: Stmt, source: Option<&GrantSource>) -> Stmt {
    stmt.bind(&source.map(|s| s.token_hash.0.clone()))
        .bind(source.and_then(|s| s.not_after))
}

/// A single-use OAuth authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCodeRecord {
    /// Hash of the code.
    pub hash: SecretHash,
    /// Client it was issued to.
    pub client_id: String,
    /// Person who consented.
    pub person_id: String,
    /// redirect_uri of the authorize request; must match at exchange.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scope: String,
    /// PKCE challenge, if the client used PKCE.
    pub code_challenge: Option<String>,
    /// PKCE method (`S256` or `plain`).
    pub code_challenge_method: Option<String>,
    /// Family id the tokens issued from this code will carry (opaque).
    pub family_id: String,
    /// The personal access token the grant was made from; `None` for codes
    /// issued before grants recorded it.
    pub grant_source: Option<GrantSource>,
    /// Creation time.
    pub created_at: Millis,
    /// Expiry.
    pub expires_at: Millis,
}

/// Result of [`OAuthStore::consume_auth_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// First use: the code is now spent (boxed: a record is large beside
    /// the other outcomes).
    Consumed(Box<AuthCodeRecord>),
    /// The code was already spent; carries its family so tokens can be revoked.
    AlreadyUsed {
        /// Family of the tokens issued from the code.
        family_id: String,
    },
    /// Unknown or expired code.
    Invalid,
}

/// OAuth clients and authorization codes. Each method is one transaction.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Registers an OAuth client.
    async fn insert_oauth_client(&self, client: &OAuthClientRecord) -> StoreResult<()>;
    /// An OAuth client by id.
    async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClientRecord>>;
    /// Stores an authorization code.
    async fn insert_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()>;
    /// Spends an authorization code (single use), atomically.
    async fn consume_auth_code(
        &self,
        hash: &SecretHash,
        now: Millis,
    ) -> StoreResult<ConsumeOutcome>;
}

/// Columns of `oauth_clients`.
const OAUTH_CLIENT_COLUMNS: &str = "id, name, secret_hash, redirect_uris, scopes, created_at";
/// Columns of `auth_codes` (plus `used_at`, which is not part of the record).
const AUTH_CODE_COLUMNS: &str = "hash, client_id, person_id, redirect_uri, scope, \
     code_challenge, code_challenge_method, family_id, source_token_hash, family_not_after, \
     created_at, expires_at, used_at";

fn oauth_client(row: &dyn Columns) -> StoreResult<OAuthClientRecord> {
    Ok(OAuthClientRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        secret_hash: SecretHash(row.text("secret_hash")?),
        redirect_uris: sql::json(row, "redirect_uris")?,
        scopes: row.text("scopes")?,
        created_at: row.int("created_at")?,
    })
}

/// An `auth_codes` row, with its `used_at`.
fn auth_code(row: &dyn Columns) -> StoreResult<(AuthCodeRecord, Option<Millis>)> {
    let code = AuthCodeRecord {
        hash: SecretHash(row.text("hash")?),
        client_id: row.text("client_id")?,
        person_id: row.text("person_id")?,
        redirect_uri: row.text("redirect_uri")?,
        scope: row.text("scope")?,
        code_challenge: row.opt_text("code_challenge")?,
        code_challenge_method: row.opt_text("code_challenge_method")?,
        family_id: row.text("family_id")?,
        grant_source: grant_source(row)?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
    };
    Ok((code, row.opt_int("used_at")?))
}

#[async_trait]
impl<B: Backend> OAuthStore for B {
    async fn insert_oauth_client(&self, client: &OAuthClientRecord) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(&client.secret_hash.0)
        .bind(sql::to_json(&client.redirect_uris, "redirect URIs")?)
        .bind(&client.scopes)
        .bind(client.created_at)
        .constraint_errors("oauth client", "row");
        self.execute(stmt).await.map(drop)
    }

    async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClientRecord>> {
        let stmt = Stmt::new(format!(
            "SELECT {OAUTH_CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1"
        ))
        .bind(id);
        self.read_optional(stmt, oauth_client).await
    }

    async fn insert_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO auth_codes (hash, client_id, person_id, redirect_uri, scope, \
             code_challenge, code_challenge_method, family_id, created_at, expires_at, \
             source_token_hash, family_not_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&code.hash.0)
        .bind(&code.client_id)
        .bind(&code.person_id)
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(&code.code_challenge)
        .bind(&code.code_challenge_method)
        .bind(&code.family_id)
        .bind(code.created_at)
        .bind(code.expires_at);
        let stmt = bind_grant_source(stmt, code.grant_source.as_ref())
            .constraint_errors("authorization code", "person");
        self.execute(stmt).await.map(drop)
    }

    async fn consume_auth_code(
        &self,
        hash: &SecretHash,
        now: Millis,
    ) -> StoreResult<ConsumeOutcome> {
        let current = Stmt::new(format!(
            "SELECT {AUTH_CODE_COLUMNS} FROM auth_codes WHERE hash = $1"
        ))
        .bind(&hash.0)
        .locking(RowLock::Update);
        let spend = Stmt::new("UPDATE auth_codes SET used_at = $1 WHERE hash = $2")
            .bind(now)
            .bind(&hash.0);
        self.transaction(move |c| {
            async move {
                let current = c.fetch_optional(current, auth_code).await?;
                Ok(match (rules::exchange(current.as_ref(), now), current) {
                    (Exchange::Consume, Some((code, _))) => {
                        c.execute(spend).await?;
                        ConsumeOutcome::Consumed(Box::new(code))
                    }
                    (Exchange::AlreadyUsed, Some((code, _))) => ConsumeOutcome::AlreadyUsed {
                        family_id: code.family_id,
                    },
                    _ => ConsumeOutcome::Invalid,
                })
            }
            .boxed()
        })
        .await
    }
}
