//! Row <-> record conversion shared by both backends: column lists, typed
//! column access that reports [`StoreError::Corrupt`] instead of panicking,
//! and the mapping of constraint violations to [`StoreError`] variants.

use super::{
    AuthCodeRecord, DeviceRecord, GuestIssuerRecord, OAuthClientRecord, OrgRecord, PersonRecord,
    SecretHash, StoreError, StoreResult, TokenKind, TokenRecord,
};
use sqlx::{ColumnIndex, Decode, Row, Type};

/// Columns of `orgs`, in [`org`]'s order.
pub(super) const ORG_COLUMNS: &str = "id, name, created_at";
/// Columns of `people`, in [`person`]'s order.
pub(super) const PERSON_COLUMNS: &str = "id, org_id, email, display_name, kind, created_at";
/// Columns of `tokens`.
pub(super) const TOKEN_COLUMNS: &str = "hash, kind, person_id, client_id, family_id, scope, created_at, expires_at, revoked_at, used_at";
/// Columns of `oauth_clients`.
pub(super) const OAUTH_CLIENT_COLUMNS: &str =
    "id, name, secret_hash, redirect_uris, scopes, created_at";
/// Columns of `auth_codes` (plus `used_at`, which is not part of the record).
pub(super) const AUTH_CODE_COLUMNS: &str = "hash, client_id, person_id, redirect_uri, scope, \
     code_challenge, code_challenge_method, family_id, created_at, expires_at, used_at";
/// Columns of `guest_issuers`.
pub(super) const GUEST_ISSUER_COLUMNS: &str = "id, name, org_id, secret, created_at";
/// Columns of `devices`.
pub(super) const DEVICE_COLUMNS: &str = "id, person_id, org_id, name, device_type, model, \
     localized_model, system_name, system_version, ttl, extra, created_at, modified_at, expires_at";

/// Typed access to a row's columns by name; a missing column or a value of
/// the wrong type is [`StoreError::Corrupt`].
pub(super) trait Columns {
    /// A non-null column of type `T`.
    fn col<T>(&self, name: &str) -> StoreResult<T>
    where
        T: for<'r> Decode<'r, Self::Db> + Type<Self::Db>;
    /// The database the row comes from.
    type Db: sqlx::Database;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
{
    type Db = R::Database;

    fn col<T>(&self, name: &str) -> StoreResult<T>
    where
        T: for<'r> Decode<'r, Self::Db> + Type<Self::Db>,
    {
        self.try_get(name)
            .map_err(|e| StoreError::Corrupt(format!("column `{name}`: {e}")))
    }
}

/// The stored name of a token kind.
pub(super) fn token_kind_str(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
    }
}

/// The access-token hashes among `(hash, kind)` rows a revoking `UPDATE …
/// RETURNING hash, kind` produced.
pub(super) fn access_hashes(revoked: Vec<(String, String)>) -> Vec<SecretHash> {
    let access = token_kind_str(TokenKind::Access);
    revoked
        .into_iter()
        .filter(|(_, kind)| kind == access)
        .map(|(hash, _)| SecretHash(hash))
        .collect()
}

fn token_kind(s: &str) -> StoreResult<TokenKind> {
    match s {
        "access" => Ok(TokenKind::Access),
        "refresh" => Ok(TokenKind::Refresh),
        other => Err(StoreError::Corrupt(format!("unknown token kind `{other}`"))),
    }
}

/// A device TTL as stored; values beyond `i64::MAX` seconds mean "forever"
/// anyway, so they saturate.
pub(super) fn ttl_to_db(ttl: Option<u64>) -> Option<i64> {
    ttl.map(|t| i64::try_from(t).unwrap_or(i64::MAX))
}

/// A device's `extra` object as stored JSON text.
pub(super) fn extra_to_db(
    extra: &serde_json::Map<String, serde_json::Value>,
) -> StoreResult<String> {
    serde_json::to_string(extra)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode device extra fields: {e}")))
}

/// A client's redirect URIs as stored JSON text.
pub(super) fn redirect_uris_to_db(uris: &[String]) -> StoreResult<String> {
    serde_json::to_string(uris)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode redirect URIs: {e}")))
}

/// Decodes an `orgs` row.
pub(super) fn org<R: Columns>(row: &R) -> StoreResult<OrgRecord>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    Ok(OrgRecord {
        id: row.col("id")?,
        name: row.col("name")?,
        created_at: row.col("created_at")?,
    })
}

/// Decodes a `people` row.
pub(super) fn person<R: Columns>(row: &R) -> StoreResult<PersonRecord>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    let kind: String = row.col("kind")?;
    Ok(PersonRecord {
        id: row.col("id")?,
        org_id: row.col("org_id")?,
        email: row.col("email")?,
        display_name: row.col("display_name")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        created_at: row.col("created_at")?,
    })
}

/// Decodes a `tokens` row.
pub(super) fn token<R: Columns>(row: &R) -> StoreResult<TokenRecord>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Option<String>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Option<i64>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    let kind: String = row.col("kind")?;
    Ok(TokenRecord {
        hash: SecretHash(row.col("hash")?),
        kind: token_kind(&kind)?,
        person_id: row.col("person_id")?,
        client_id: row.col("client_id")?,
        family_id: row.col("family_id")?,
        scope: row.col("scope")?,
        created_at: row.col("created_at")?,
        expires_at: row.col("expires_at")?,
        revoked_at: row.col("revoked_at")?,
        used_at: row.col("used_at")?,
    })
}

/// Decodes an `oauth_clients` row.
pub(super) fn oauth_client<R: Columns>(row: &R) -> StoreResult<OAuthClientRecord>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    let uris: String = row.col("redirect_uris")?;
    Ok(OAuthClientRecord {
        id: row.col("id")?,
        name: row.col("name")?,
        secret_hash: SecretHash(row.col("secret_hash")?),
        redirect_uris: serde_json::from_str(&uris)
            .map_err(|e| StoreError::Corrupt(format!("column `redirect_uris`: {e}")))?,
        scopes: row.col("scopes")?,
        created_at: row.col("created_at")?,
    })
}

/// Decodes an `auth_codes` row, with its `used_at`.
pub(super) fn auth_code<R: Columns>(row: &R) -> StoreResult<(AuthCodeRecord, Option<i64>)>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Option<String>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Option<i64>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    let code = AuthCodeRecord {
        hash: SecretHash(row.col("hash")?),
        client_id: row.col("client_id")?,
        person_id: row.col("person_id")?,
        redirect_uri: row.col("redirect_uri")?,
        scope: row.col("scope")?,
        code_challenge: row.col("code_challenge")?,
        code_challenge_method: row.col("code_challenge_method")?,
        family_id: row.col("family_id")?,
        created_at: row.col("created_at")?,
        expires_at: row.col("expires_at")?,
    };
    Ok((code, row.col("used_at")?))
}

/// Decodes a `guest_issuers` row.
pub(super) fn guest_issuer<R: Columns>(row: &R) -> StoreResult<GuestIssuerRecord>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Vec<u8>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    Ok(GuestIssuerRecord {
        id: row.col("id")?,
        name: row.col("name")?,
        org_id: row.col("org_id")?,
        secret: row.col("secret")?,
        created_at: row.col("created_at")?,
    })
}

/// Decodes a `devices` row.
pub(super) fn device<R: Columns>(row: &R) -> StoreResult<DeviceRecord>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Option<i64>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    let ttl: Option<i64> = row.col("ttl")?;
    let extra: String = row.col("extra")?;
    Ok(DeviceRecord {
        id: row.col("id")?,
        person_id: row.col("person_id")?,
        org_id: row.col("org_id")?,
        name: row.col("name")?,
        device_type: row.col("device_type")?,
        model: row.col("model")?,
        localized_model: row.col("localized_model")?,
        system_name: row.col("system_name")?,
        system_version: row.col("system_version")?,
        ttl: ttl
            .map(u64::try_from)
            .transpose()
            .map_err(|_| StoreError::Corrupt("column `ttl`: negative".into()))?,
        extra: serde_json::from_str(&extra)
            .map_err(|e| StoreError::Corrupt(format!("column `extra`: {e}")))?,
        created_at: row.col("created_at")?,
        modified_at: row.col("modified_at")?,
        expires_at: row.col("expires_at")?,
    })
}

/// Maps constraint violations of a write to store errors: a duplicate key
/// is [`StoreError::Conflict`]`(what)`, a dangling reference
/// [`StoreError::MissingReference`]`(referenced)`.
pub(super) fn write_error(
    what: &'static str,
    referenced: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match e.as_database_error().map(|d| d.kind()) {
        Some(sqlx::error::ErrorKind::UniqueViolation) => StoreError::Conflict(what),
        Some(sqlx::error::ErrorKind::ForeignKeyViolation) => {
            StoreError::MissingReference(referenced)
        }
        _ => StoreError::Database(e),
    }
}
