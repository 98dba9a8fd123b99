//! Persistent state behind one small trait, with SQLite and PostgreSQL
//! implementations (sqlx, one migration set each).
//!
//! Times are Unix milliseconds (`i64`). Secrets are never stored: tokens,
//! refresh tokens, authorization codes and client secrets are kept as
//! SHA-256 hex digests ([`SecretHash`]).

use async_trait::async_trait;
use webex_wire::people::PersonType;

pub mod client_logs;
pub mod meetings;
pub mod postgres;
mod rows;
mod rules;
pub mod sqlite;
#[cfg(test)]
mod suite;

pub use client_logs::ClientLogStore;
pub use meetings::MeetingStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Unix milliseconds.
pub type Millis = i64;

/// SHA-256 hex digest of a secret (token, code, client secret).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(pub String);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to correlate in logs without aiding an attacker.
        write!(f, "SecretHash({}…)", self.0.get(..8).unwrap_or(""))
    }
}

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

/// What [`Store::upsert_person`] needs to find or create a person.
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
    /// Tokens issued from one authorization share a family; reuse of a
    /// rotated refresh token revokes the whole family.
    pub family_id: Option<String>,
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

/// Result of [`Store::rotate_refresh_token`].
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
    /// Family id the tokens issued from this code will carry.
    pub family_id: String,
    /// Creation time.
    pub created_at: Millis,
    /// Expiry.
    pub expires_at: Millis,
}

/// Result of [`Store::consume_auth_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// First use: the code is now spent.
    Consumed(AuthCodeRecord),
    /// The code was already spent; carries its family so tokens can be revoked.
    AlreadyUsed {
        /// Family of the tokens issued from the code.
        family_id: String,
    },
    /// Unknown or expired code.
    Invalid,
}

/// A guest issuer whose HS256 JWTs `POST /v1/jwt/login` accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestIssuerRecord {
    /// Issuer id (the JWT `iss`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Org the guests are created in.
    pub org_id: String,
    /// The signing secret, as raw bytes. It must be recoverable to verify
    /// signatures, so it cannot be stored as a hash.
    pub secret: Vec<u8>,
    /// Creation time.
    pub created_at: Millis,
}

impl std::fmt::Debug for GuestIssuerRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestIssuerRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("org_id", &self.org_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// A registered device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    /// Device id (UUID); the last segment of its URL.
    pub id: String,
    /// Owner.
    pub person_id: String,
    /// Owner's org.
    pub org_id: String,
    /// Name as registered.
    pub name: String,
    /// Device type.
    pub device_type: String,
    /// Model.
    pub model: String,
    /// Localized model.
    pub localized_model: String,
    /// System name.
    pub system_name: String,
    /// System version.
    pub system_version: String,
    /// Ephemeral TTL in seconds.
    pub ttl: Option<u64>,
    /// Other fields the client sent, as a JSON object.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    pub created_at: Millis,
    /// Last registration or refresh.
    pub modified_at: Millis,
    /// When an ephemeral device expires (`modified_at + ttl`).
    pub expires_at: Option<Millis>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The person already owns `limit` devices.
    #[error("person has {count} devices; the limit is {limit}")]
    DeviceLimit {
        /// Devices the person has.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// A unique key already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A row refers to a row that does not exist (e.g. a token or device
    /// for an unknown person). A caller bug; retrying does not help.
    #[error("the referenced {0} does not exist")]
    MissingReference(&'static str),
    /// The database is unreachable or failed; retrying may help.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The write was undone with the others committed alongside it, because
    /// one of them hit a database failure (SQLite group commit); nothing of
    /// it was stored, and retrying may help.
    #[error("write rolled back: {0}")]
    RolledBack(String),
    /// Migrations failed at startup.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be decoded (corrupt or from a newer version).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Database(e) => !matches!(
                e,
                sqlx::Error::RowNotFound | sqlx::Error::ColumnDecode { .. }
            ),
            Self::RolledBack(_) => true,
            _ => false,
        }
    }
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A device [`Store::delete_device`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedDevice {
    /// Its expiry (`None`: persistent), to tell a live device from one the
    /// sweeper had not removed yet.
    pub expires_at: Option<Millis>,
}

/// Everything the server persists.
///
/// Each method is one transaction: it either fully happens or not at all.
#[async_trait]
pub trait Store: ClientLogStore + MeetingStore + Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Waits for in-flight calls and closes every connection (SQLite also
    /// checkpoints its write-ahead log). Calls made afterwards fail with
    /// [`StoreError::Database`].
    async fn close(&self);

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
    /// tokens this call revoked, as [`Store::revoke_family`] does.
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

    /// Registers a guest issuer.
    async fn insert_guest_issuer(&self, issuer: &GuestIssuerRecord) -> StoreResult<()>;
    /// A guest issuer by id.
    async fn guest_issuer(&self, id: &str) -> StoreResult<Option<GuestIssuerRecord>>;

    /// Creates a device unless its owner already has `limit` live devices
    /// (checked in the same transaction): [`StoreError::DeviceLimit`].
    /// A device is live when its `expires_at` is unset or later than the new
    /// device's `created_at`. An unknown owner is
    /// [`StoreError::MissingReference`].
    async fn create_device(&self, device: &DeviceRecord, limit: u64) -> StoreResult<()>;
    /// A device by id (expired or not; the caller checks `expires_at`).
    async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>>;
    /// A person's devices, oldest first.
    async fn devices_of(&self, person_id: &str) -> StoreResult<Vec<DeviceRecord>>;
    /// How many devices of `person_id` have not expired at `now` (one
    /// `COUNT(*)`, no rows read out).
    async fn count_live_devices(&self, person_id: &str, now: Millis) -> StoreResult<u64>;
    /// Replaces the stored fields of the device `device.id` owned by
    /// `device.person_id`. Returns false when there is no such device.
    async fn update_device(&self, device: &DeviceRecord) -> StoreResult<bool>;
    /// Deletes the device `id` owned by `person_id` in one statement.
    /// Returns what was deleted, `None` when there was no such device.
    async fn delete_device(&self, id: &str, person_id: &str) -> StoreResult<Option<DeletedDevice>>;
    /// Deletes every device whose `expires_at <= now`; returns them.
    async fn delete_expired_devices(&self, now: Millis) -> StoreResult<Vec<DeviceRecord>>;
}

/// Opens the store named by a database URL and runs its migrations:
/// `postgres://…` or `postgresql://…` opens a [`PgStore`]; anything else
/// (`sqlite://PATH`, `sqlite:PATH` or a bare path) a [`SqliteStore`].
///
/// ```no_run
/// # async fn run() -> Result<(), webex_server::store::StoreError> {
/// let store = webex_server::store::connect("sqlite://data/webex.sqlite").await?;
/// store.ping().await?;
/// store.close().await;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::connect(url).await?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::connect(url).await?))
    }
}
