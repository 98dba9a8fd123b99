//! People, their orgs and their tokens: records, [`PeopleStore`], and the
//! SQL both backends run for it.

use async_trait::async_trait;
use futures::FutureExt;
use webex_wire::people::PersonType;

use super::backend::Backend;
use super::oauth::{GrantSource, bind_grant_source, grant_source};
use super::rules::{self, Rotation};
use super::sql::{Columns, Conn, RowLock, Stmt};
use super::{Millis, SecretHash, StoreError, StoreResult};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRecord {
    /// Org id (UUID).
    pub id: String,
    /// Org name (the email domain it was created for).
    pub name: String,
    /// Creation time.
    pub created_at: Millis,
}

/// What [`PeopleStore::upsert_person`] needs to find or create a person.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Primary email, lower-cased; unique.
    pub email: String,
    /// Display name; used only when the person is created.
    pub display_name: String,
    /// Kind; used only when the person is created.
    pub kind: PersonType,
    /// Name of the org to put a new person in; the org is created when missing.
    pub org_name: String,
}

/// A person (user, bot or guest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    /// Person id (UUID).
    pub id: String,
    /// Org id.
    pub org_id: String,
    /// Primary email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Kind.
    pub kind: PersonType,
    /// Creation time.
    pub created_at: Millis,
}

/// Access or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Bearer access token.
    Access,
    /// OAuth refresh token.
    Refresh,
}

impl TokenKind {
    /// The stored name.
    fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "access" => Ok(Self::Access),
            "refresh" => Ok(Self::Refresh),
            other => Err(StoreError::Corrupt(format!("unknown token kind `{other}`"))),
        }
    }
}

/// A token, stored by the hash of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the token text; primary key.
    pub hash: SecretHash,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Owner.
    pub person_id: String,
    /// OAuth client that obtained it, if any.
    pub client_id: Option<String>,
    /// Tokens issued from one authorization share a family (an opaque id);
    /// reuse of a rotated refresh token revokes the whole family.
    pub family_id: Option<String>,
    /// For a token of an OAuth grant made on the consent page: the personal
    /// access token the grant was made from, and the bound it sets.
    pub grant_source: Option<GrantSource>,
    /// Space-separated scopes.
    pub scope: String,
    /// Creation time.
    pub created_at: Millis,
    /// Expiry; `None` never expires.
    pub expires_at: Option<Millis>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<Millis>,
    /// For refresh tokens: when it was exchanged (rotated away).
    pub used_at: Option<Millis>,
}

/// Result of [`PeopleStore::rotate_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The old refresh token was valid; it is now used and the new pair stored.
    Rotated,
    /// The old refresh token had already been used: its family is now revoked.
    Reused {
        /// Hashes of the family's access tokens this call revoked (their
        /// websockets must be closed).
        revoked_access: Vec<SecretHash>,
    },
    /// No such refresh token, or it is expired or revoked.
    Invalid,
}

/// People, orgs and tokens. Each method is one transaction.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Finds the person with `new.email`, or creates them (and their org,
    /// looked up by `new.org_name`). Returns the stored person.
    async fn upsert_person(&self, new: &NewPerson) -> StoreResult<PersonRecord>;
    /// A person by id.
    async fn person(&self, id: &str) -> StoreResult<Option<PersonRecord>>;
    /// A person by email (lower-cased).
    async fn person_by_email(&self, email: &str) -> StoreResult<Option<PersonRecord>>;
    /// An org by id.
    async fn org(&self, id: &str) -> StoreResult<Option<OrgRecord>>;

    /// Stores a new token.
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    /// A token by hash, whatever its state (the caller checks expiry/revocation).
    async fn token(&self, hash: &SecretHash) -> StoreResult<Option<TokenRecord>>;
    /// Revokes one token. Returns whether it existed and was not yet revoked.
    async fn revoke_token(&self, hash: &SecretHash, now: Millis) -> StoreResult<bool>;
    /// Revokes every token of a family. Returns the hashes of the ACCESS
    /// tokens this call revoked (not those revoked earlier), so the caller
    /// can close the websockets they opened.
    async fn revoke_family(&self, family_id: &str, now: Millis) -> StoreResult<Vec<SecretHash>>;
    /// Revokes every token of a person. Returns the hashes of the ACCESS
    /// tokens this call revoked, as [`PeopleStore::revoke_family`] does.
    async fn revoke_person_tokens(
        &self,
        person_id: &str,
        now: Millis,
    ) -> StoreResult<Vec<SecretHash>>;
    /// Atomically exchanges the refresh token `old` for `new_access` and
    /// `new_refresh` (same family). See [`RotateOutcome`].
    async fn rotate_refresh_token(
        &self,
        old: &SecretHash,
        now: Millis,
        new_access: &TokenRecord,
        new_refresh: &TokenRecord,
    ) -> StoreResult<RotateOutcome>;
}

/// Columns of `orgs`, in [`org`]'s order.
const ORG_COLUMNS: &str = "id, name, created_at";
/// Columns of `people`.
const PERSON_COLUMNS: &str = "id, org_id, email, display_name, kind, created_at";
/// Columns of `tokens`.
const TOKEN_COLUMNS: &str = "hash, kind, person_id, client_id, family_id, scope, created_at, \
     expires_at, revoked_at, used_at, source_token_hash, family_not_after";

fn org(row: &dyn Columns) -> StoreResult<OrgRecord> {
    Ok(OrgRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        created_at: row.int("created_at")?,
    })
}

fn person(row: &dyn Columns) -> StoreResult<PersonRecord> {
    Ok(PersonRecord {
        id: row.text("id")?,
        org_id: row.text("org_id")?,
        email: row.text("email")?,
        display_name: row.text("display_name")?,
        kind: row.text("kind")?.parse().map_err(StoreError::Corrupt)?,
        created_at: row.int("created_at")?,
    })
}

fn token(row: &dyn Columns) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        hash: SecretHash(row.text("hash")?),
        kind: TokenKind::parse(&row.text("kind")?)?,
        person_id: row.text("person_id")?,
        client_id: row.opt_text("client_id")?,
        family_id: row.opt_text("family_id")?,
        grant_source: grant_source(row)?,
        scope: row.text("scope")?,
        created_at: row.int("created_at")?,
        expires_at: row.opt_int("expires_at")?,
        revoked_at: row.opt_int("revoked_at")?,
        used_at: row.opt_int("used_at")?,
    })
}

/// A `(hash, kind)` row of a revoking `UPDATE … RETURNING hash, kind`: the
/// hash when it is an access token's (its websockets must close).
fn revoked_access(row: &dyn Columns) -> StoreResult<Option<SecretHash>> {
    let access = row.text("kind")? == TokenKind::Access.as_str();
    Ok(access
        .then(|| row.text("hash"))
        .transpose()?
        .map(SecretHash))
}

fn person_where(column: &str, value: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {PERSON_COLUMNS} FROM people WHERE {column} = $1"
    ))
    .bind(value)
}

fn insert_token(token: &TokenRecord) -> Stmt {
    let stmt = Stmt::new(
        "INSERT INTO tokens (hash, kind, person_id, client_id, family_id, scope, created_at, \
         expires_at, revoked_at, used_at, source_token_hash, family_not_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&token.hash.0)
    .bind(token.kind.as_str())
    .bind(&token.person_id)
    .bind(&token.client_id)
    .bind(&token.family_id)
    .bind(&token.scope)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.revoked_at)
    .bind(token.used_at);
    bind_grant_source(stmt, token.grant_source.as_ref()).constraint_errors("token", "person")
}

/// Revokes the still-valid tokens `column = value`, returning the access
/// tokens' hashes.
fn revoke_where(column: &str, value: &str, now: Millis) -> Stmt {
    Stmt::new(format!(
        "UPDATE tokens SET revoked_at = $1 WHERE {column} = $2 AND revoked_at IS NULL \
         RETURNING hash, kind"
    ))
    .bind(now)
    .bind(value)
}

fn revoke_one(hash: &str, now: Millis) -> Stmt {
    Stmt::new("UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(hash)
}

/// Revokes the still-valid tokens `column = value` in one statement;
/// returns the access tokens' hashes.
async fn revoke_all<B: Backend>(
    store: &B,
    column: &str,
    value: &str,
    now: Millis,
) -> StoreResult<Vec<SecretHash>> {
    let revoked = store
        .write_all(revoke_where(column, value, now), revoked_access)
        .await?;
    Ok(revoked.into_iter().flatten().collect())
}

/// [`revoke_all`] of a family, inside a transaction.
async fn revoke_family_on<C: Conn>(
    c: &mut C,
    family_id: &str,
    now: Millis,
) -> StoreResult<Vec<SecretHash>> {
    let revoked = c
        .fetch_all(revoke_where("family_id", family_id, now), revoked_access)
        .await?;
    Ok(revoked.into_iter().flatten().collect())
}

#[async_trait]
impl<B: Backend> PeopleStore for B {
    async fn upsert_person(&self, new: &NewPerson) -> StoreResult<PersonRecord> {
        if let Some(p) = self.person_by_email(&new.email).await? {
            return Ok(p);
        }
        let new = new.clone();
        self.transaction(move |c| {
            async move {
                let now = crate::time::now_millis();
                let org = Stmt::new(
                    "INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                );
                let org = org
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(&new.org_name)
                    .bind(now);
                c.execute(org).await?;
                let org_id = Stmt::new("SELECT id FROM orgs WHERE name = $1").bind(&new.org_name);
                let org_id = c
                    .fetch_optional(org_id, |r| r.text("id"))
                    .await?
                    .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
                let person = PersonRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    org_id,
                    email: new.email.clone(),
                    display_name: new.display_name.clone(),
                    kind: new.kind,
                    created_at: now,
                };
                // A concurrent upsert of the same email may have won since
                // the unlocked read: then read its row (PostgreSQL: visible
                // once its transaction committed, READ COMMITTED).
                let insert = Stmt::new(
                    "INSERT INTO people (id, org_id, email, display_name, kind, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
                )
                .bind(&person.id)
                .bind(&person.org_id)
                .bind(&person.email)
                .bind(&person.display_name)
                .bind(person.kind.as_str())
                .bind(person.created_at);
                if c.execute(insert).await? == 1 {
                    return Ok(person);
                }
                c.fetch_optional(person_where("email", &new.email), self::person)
                    .await?
                    .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
            }
            .boxed()
        })
        .await
    }

    async fn person(&self, id: &str) -> StoreResult<Option<PersonRecord>> {
        self.read_optional(person_where("id", id), person).await
    }

    async fn person_by_email(&self, email: &str) -> StoreResult<Option<PersonRecord>> {
        self.read_optional(person_where("email", email), person)
            .await
    }

    async fn org(&self, id: &str) -> StoreResult<Option<OrgRecord>> {
        let stmt = Stmt::new(format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1")).bind(id);
        self.read_optional(stmt, org).await
    }

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        self.execute(insert_token(token)).await.map(drop)
    }

    async fn token(&self, hash: &SecretHash) -> StoreResult<Option<TokenRecord>> {
        let stmt = Stmt::new(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1"
        ))
        .bind(&hash.0);
        self.read_optional(stmt, token).await
    }

    async fn revoke_token(&self, hash: &SecretHash, now: Millis) -> StoreResult<bool> {
        Ok(self.execute(revoke_one(&hash.0, now)).await? > 0)
    }

    async fn revoke_family(&self, family_id: &str, now: Millis) -> StoreResult<Vec<SecretHash>> {
        revoke_all(self, "family_id", family_id, now).await
    }

    async fn revoke_person_tokens(
        &self,
        person_id: &str,
        now: Millis,
    ) -> StoreResult<Vec<SecretHash>> {
        revoke_all(self, "person_id", person_id, now).await
    }

    async fn rotate_refresh_token(
        &self,
        old: &SecretHash,
        now: Millis,
        new_access: &TokenRecord,
        new_refresh: &TokenRecord,
    ) -> StoreResult<RotateOutcome> {
        let old = old.0.clone();
        let current = Stmt::new(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1"
        ))
        .bind(&old)
        .locking(RowLock::Update);
        let inserts = [insert_token(new_access), insert_token(new_refresh)];
        self.transaction(move |c| {
            async move {
                let current = c.fetch_optional(current, token).await?;
                Ok(match rules::rotation(current.as_ref(), now) {
                    Rotation::Reject => RotateOutcome::Invalid,
                    Rotation::RevokeFamily(Some(family)) => RotateOutcome::Reused {
                        revoked_access: revoke_family_on(c, &family, now).await?,
                    },
                    Rotation::RevokeFamily(None) => {
                        c.execute(revoke_one(&old, now)).await?;
                        // A refresh token without a family: nothing else to revoke.
                        RotateOutcome::Reused {
                            revoked_access: Vec::new(),
                        }
                    }
                    Rotation::Rotate => {
                        let used = Stmt::new("UPDATE tokens SET used_at = $1 WHERE hash = $2")
                            .bind(now)
                            .bind(&old);
                        c.execute(used).await?;
                        for insert in inserts {
                            c.execute(insert).await?;
                        }
                        RotateOutcome::Rotated
                    }
                })
            }
            .boxed()
        })
        .await
    }
}
