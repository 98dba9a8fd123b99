//! Persistent state: one trait per domain, with SQLite and PostgreSQL
//! backends (sqlx, one migration set each).
//!
//! Times are Unix milliseconds ([`Millis`]). Secrets are never stored:
//! tokens, refresh tokens, authorization codes and client secrets are kept
//! as SHA-256 hex digests ([`SecretHash`]).
//!
//! # Layout
//!
//! - One file per domain holds its records, its trait and the SQL it runs,
//!   written once for both backends: `people.rs` ([`PeopleStore`]: people,
//!   orgs, tokens), `oauth.rs` ([`OAuthStore`]: clients, authorization
//!   codes), `guests.rs` ([`GuestIssuerStore`]), `devices.rs`
//!   ([`DeviceStore`]), `meetings.rs` ([`MeetingStore`]: meeting spaces,
//!   Loci, participants; its cache of recent snapshots is
//!   `meetings/snapshot_cache.rs`). Each trait is implemented once, for
//!   every backend.
//! - [`Store`] is all of them plus `backend`/`ping`/`close`; the server holds
//!   an `Arc<dyn Store>`, on which every domain method can be called without
//!   importing its trait. Code generic over a store, or holding a concrete
//!   [`SqliteStore`]/[`PgStore`], imports [`prelude`].
//! - `sql.rs`: a statement is SQL text with `$1, $2, …` placeholders and its
//!   arguments in order (`Stmt`); both drivers bind `$N` by number, so one
//!   text and one bind sequence serve both. Rows are read by column name
//!   through `Columns`, whichever database they came from.
//! - `backend.rs`: how a backend runs statements (`Backend`): a read on a
//!   read connection, one write, or several statements as one transaction.
//!   `sqlite/` runs writes through a single writer task with group commit
//!   (`sqlite/writer.rs`) and reads on a read-only pool; `postgres/` reads on
//!   a pool, commits statement-built writes in batches from a few writer
//!   tasks (`postgres/writer.rs`: no savepoints, a write is re-run instead,
//!   batches sorted by the row they lock), runs the domains' multi-statement
//!   transactions on the pool, and honours the row locks (`FOR UPDATE`) a
//!   read-then-write asks for. These are the only per-backend files.
//! - `rules.rs`: the backend-independent decisions of the single-use flows
//!   (refresh-token rotation, code exchange). `suite.rs`: the test suite,
//!   run against both backends.
//!
//! Every trait method is one transaction: it either fully happens or not at
//! all, and it returns `Ok` only once durable.
//!
//! # To add a domain
//!
//! 1. Add a migration to BOTH `migrations/sqlite` and `migrations/postgres`
//!    (same file name; the dialects differ only in types such as `BLOB` /
//!    `BYTEA`).
//! 2. Write `store/<domain>.rs`: the records; a `#[async_trait] pub trait
//!    <Domain>Store: Send + Sync`, documenting that each method is one
//!    transaction; row decoders `fn(&dyn Columns) -> StoreResult<Record>`;
//!    and `#[async_trait] impl<B: Backend> <Domain>Store for B`, each method
//!    building `Stmt`s and running them with `Backend::read_optional`,
//!    `read_all`, `execute`, `write_optional`, `write_all`,
//!    `write_guarded`, or `transaction` for several statements (lock the
//!    rows a decision rests on with `Stmt::locking`). Map unique and
//!    foreign-key violations with `Stmt::constraint_errors`.
//! 3. In this file: `mod <domain>;`, `pub use` its records and trait, add
//!    the trait to [`Store`]'s supertraits and to [`prelude`].
//! 4. Add cases to `suite.rs` (they run on both backends).
//!
//! Only where the dialects really differ does a backend file change
//! (a new lock kind, say); keep such differences in `sql.rs`/`backend.rs`
//! with a comment saying why.

use async_trait::async_trait;

mod backend;
mod client_logs;
mod devices;
mod guests;
pub mod meetings;
mod oauth;
mod people;
pub mod postgres;
mod retention;
mod rules;
mod secrets;
mod sql;
pub mod sqlite;
#[cfg(test)]
mod suite;

pub use crate::time::Millis;
pub use client_logs::{
    ClientLogCaps, ClientLogFilter, ClientLogRecord, ClientLogState, ClientLogStore,
    FinalizeOutcome, NewClientLog, UploadOutcome,
};
pub use devices::{DeletedDevice, DeviceRecord, DeviceStore, DeviceUpdateOutcome};
pub use guests::{GuestIssuerRecord, GuestIssuerStore};
pub use meetings::MeetingStore;
pub use oauth::{AuthCodeRecord, ConsumeOutcome, GrantSource, OAuthClientRecord, OAuthStore};
pub use people::{
    NewPerson, OrgRecord, PeopleStore, PersonRecord, RotateOutcome, TokenKind, TokenRecord,
};
pub use postgres::PgStore;
pub use retention::{Purged, RetentionStore};
pub use secrets::SecretsStore;
pub use sqlite::SqliteStore;

/// The store traits, for code that calls store methods on a concrete or
/// generic store (`use webex_server::store::prelude::*;`). On a
/// `dyn Store` every method is callable without it.
pub mod prelude {
    pub use super::{
        ClientLogStore, DeviceStore, GuestIssuerStore, MeetingStore, OAuthStore, PeopleStore,
        RetentionStore, SecretsStore, Store,
    };
}

/// SHA-256 hex digest of a secret (token, code, client secret).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(pub String);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to correlate in logs without aiding an attacker.
        write!(f, "SecretHash({}…)", self.0.get(..8).unwrap_or(""))
    }
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

/// Everything the server persists: every domain's trait, plus what concerns
/// the whole database.
///
/// Each method is one transaction: it either fully happens or not at all.
/// Implemented for every backend (see the module docs).
#[async_trait]
pub trait Store:
    PeopleStore
    + OAuthStore
    + GuestIssuerStore
    + DeviceStore
    + MeetingStore
    + ClientLogStore
    + RetentionStore
    + SecretsStore
    + Send
    + Sync
    + 'static
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Waits for in-flight calls and closes every connection (SQLite also
    /// checkpoints its write-ahead log). Calls made afterwards fail with
    /// [`StoreError::Database`].
    async fn close(&self);
}

#[async_trait]
impl<B: backend::Backend + meetings::MeetingBackend> Store for B {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn ping(&self) -> StoreResult<()> {
        backend::Backend::ping(self).await
    }

    async fn close(&self) {
        backend::Backend::close(self).await;
    }
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
