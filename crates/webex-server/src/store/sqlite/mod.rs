//! SQLite store.
//!
//! One file in WAL mode. Every write goes through one task that owns the only
//! writing connection and commits queued writes together (`writer.rs`); reads
//! use a read-only pool, which WAL lets run beside the writer. Read-then-write
//! jobs run on the writing connection inside the writer's transaction, which
//! holds the write lock from its start (`BEGIN IMMEDIATE`), so they can
//! neither deadlock nor fail half-way with `SQLITE_BUSY`.

mod client_logs;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use futures::FutureExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection, SqlitePool};

use self::writer::{Isolation, Writer};
use super::rows::{self, ORG_COLUMNS, PERSON_COLUMNS, TOKEN_COLUMNS};
use super::rules::{self, Exchange, Rotation};
use super::*;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    /// The task that runs every write.
    writer: Writer,
    /// Read-only connections.
    pub(super) read: SqlitePool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `url` (`sqlite://PATH`, `sqlite:PATH` or a bare
    /// path), creating missing parent directories and the file, and runs
    /// the migrations.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webex_server::store::StoreError> {
    /// use webex_server::store::{SqliteStore, Store};
    /// let store = SqliteStore::connect("sqlite://data/webex.sqlite").await?;
    /// assert_eq!(store.backend(), "sqlite");
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let base = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        // sqlx opens `:memory:` as a named shared-cache database, which the
        // writer and the readers then share while a connection stays open.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let base = base
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);

        if !in_memory
            && let Some(dir) = base.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let mut conn = if in_memory {
            base.connect().await?
        } else {
            base.clone()
                .journal_mode(SqliteJournalMode::Wal)
                .connect()
                .await?
        };
        sqlx::migrate!("migrations/sqlite").run(&mut conn).await?;
        let readers = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(2, 16);
        let read = SqlitePoolOptions::new()
            .max_connections(u32::try_from(readers).unwrap_or(4))
            // Nothing can break a local file's connection between uses: skip
            // the extra round trip to its thread on every acquire.
            .test_before_acquire(false);
        let read = if in_memory {
            read.min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base)
                .await?
        } else {
            read.connect_with(base.read_only(true)).await?
        };
        Ok(Self {
            writer: Writer::spawn(conn),
            read,
        })
    }

    /// Runs one statement (`job`) through the writer.
    async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut SqliteConnection,
            ) -> futures::future::BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        self.writer.write(Isolation::Statement, job).await
    }

    /// Runs several statements (`job`) through the writer, all or none.
    pub(super) async fn transaction<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut SqliteConnection,
            ) -> futures::future::BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        self.writer.write(Isolation::Savepoint, job).await
    }

    async fn person_where(&self, column: &str, value: &str) -> StoreResult<Option<PersonRecord>> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE {column} = ?");
        sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::person(&r))
            .transpose()
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn close(&self) {
        self.read.close().await;
        self.writer.close().await;
    }

    async fn upsert_person(&self, new: &NewPerson) -> StoreResult<PersonRecord> {
        if let Some(p) = self.person_by_email(&new.email).await? {
            return Ok(p);
        }
        let new = new.clone();
        self.transaction(move |conn| {
            async move {
            let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE email = ?");
            if let Some(row) = sqlx::query(&sql)
                .bind(&new.email)
                .fetch_optional(&mut *conn)
                .await?
            {
                // Created since the unlocked read.
                return rows::person(&row);
            }
            let now = crate::time::now_millis();
            sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING")
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(&new.org_name)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            let org_id: String = sqlx::query_scalar("SELECT id FROM orgs WHERE name = ?")
                .bind(&new.org_name)
                .fetch_one(&mut *conn)
                .await?;
            let person = PersonRecord {
                id: uuid::Uuid::new_v4().to_string(),
                org_id,
                email: new.email.clone(),
                display_name: new.display_name.clone(),
                kind: new.kind,
                created_at: now,
            };
            sqlx::query(
                "INSERT INTO people (id, org_id, email, display_name, kind, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&person.id)
            .bind(&person.org_id)
            .bind(&person.email)
            .bind(&person.display_name)
            .bind(person.kind.as_str())
            .bind(person.created_at)
            .execute(&mut *conn)
            .await?;
                Ok(person)
            }
            .boxed()
        })
        .await
    }

    async fn person(&self, id: &str) -> StoreResult<Option<PersonRecord>> {
        self.person_where("id", id).await
    }

    async fn person_by_email(&self, email: &str) -> StoreResult<Option<PersonRecord>> {
        self.person_where("email", email).await
    }

    async fn org(&self, id: &str) -> StoreResult<Option<OrgRecord>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::org(&r))
            .transpose()
    }

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |conn| async move { insert_token(conn, &token).await }.boxed())
            .await
    }

    async fn token(&self, hash: &SecretHash) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?");
        sqlx::query(&sql)
            .bind(&hash.0)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::token(&r))
            .transpose()
    }

    async fn revoke_token(&self, hash: &SecretHash, now: Millis) -> StoreResult<bool> {
        let hash = hash.0.clone();
        self.write(move |conn| {
            async move {
                let done = sqlx::query(
                    "UPDATE tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&hash)
                .execute(conn)
                .await?;
                Ok(done.rows_affected() > 0)
            }
            .boxed()
        })
        .await
    }

    async fn revoke_family(&self, family_id: &str, now: Millis) -> StoreResult<Vec<SecretHash>> {
        let family_id = family_id.to_owned();
        self.write(move |conn| async move { revoke_family(conn, &family_id, now).await }.boxed())
            .await
    }

    async fn revoke_person_tokens(
        &self,
        person_id: &str,
        now: Millis,
    ) -> StoreResult<Vec<SecretHash>> {
        let person_id = person_id.to_owned();
        self.write(move |conn| {
            async move {
                let revoked: Vec<(String, String)> = sqlx::query_as(
                    "UPDATE tokens SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL \
                     RETURNING hash, kind",
                )
                .bind(now)
                .bind(&person_id)
                .fetch_all(conn)
                .await?;
                Ok(rows::access_hashes(revoked))
            }
            .boxed()
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        old: &SecretHash,
        now: Millis,
        new_access: &TokenRecord,
        new_refresh: &TokenRecord,
    ) -> StoreResult<RotateOutcome> {
        let old = old.0.clone();
        let (new_access, new_refresh) = (new_access.clone(), new_refresh.clone());
        self.transaction(move |conn| {
            async move {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?");
                let current = sqlx::query(&sql)
                    .bind(&old)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| rows::token(&r))
                    .transpose()?;
                let outcome = match rules::rotation(current.as_ref(), now) {
                    Rotation::Reject => return Ok(RotateOutcome::Invalid),
                    Rotation::RevokeFamily(Some(family)) => RotateOutcome::Reused {
                        revoked_access: revoke_family(&mut *conn, &family, now).await?,
                    },
                    Rotation::RevokeFamily(None) => {
                        sqlx::query(
                            "UPDATE tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL",
                        )
                        .bind(now)
                        .bind(&old)
                        .execute(&mut *conn)
                        .await?;
                        // A refresh token without a family: nothing else to revoke.
                        RotateOutcome::Reused {
                            revoked_access: Vec::new(),
                        }
                    }
                    Rotation::Rotate => {
                        sqlx::query("UPDATE tokens SET used_at = ? WHERE hash = ?")
                            .bind(now)
                            .bind(&old)
                            .execute(&mut *conn)
                            .await?;
                        insert_token(&mut *conn, &new_access).await?;
                        insert_token(&mut *conn, &new_refresh).await?;
                        RotateOutcome::Rotated
                    }
                };
                Ok(outcome)
            }
            .boxed()
        })
        .await
    }

    async fn insert_oauth_client(&self, client: &OAuthClientRecord) -> StoreResult<()> {
        let client = client.clone();
        self.write(move |conn| {
            async move {
                sqlx::query(
                    "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, scopes, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&client.id)
                .bind(&client.name)
                .bind(&client.secret_hash.0)
                .bind(rows::redirect_uris_to_db(&client.redirect_uris)?)
                .bind(&client.scopes)
                .bind(client.created_at)
                .execute(&mut *conn)
                .await
                .map_err(rows::write_error("oauth client", "row"))?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClientRecord>> {
        let sql = format!(
            "SELECT {} FROM oauth_clients WHERE id = ?",
            rows::OAUTH_CLIENT_COLUMNS
        );
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::oauth_client(&r))
            .transpose()
    }

    async fn insert_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        let code = code.clone();
        self.write(move |conn| {
            async move {
                sqlx::query(
                    "INSERT INTO auth_codes (hash, client_id, person_id, redirect_uri, scope, \
                     code_challenge, code_challenge_method, family_id, created_at, expires_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                .bind(code.expires_at)
                .execute(&mut *conn)
                .await
                .map_err(rows::write_error("authorization code", "person"))?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    async fn consume_auth_code(
        &self,
        hash: &SecretHash,
        now: Millis,
    ) -> StoreResult<ConsumeOutcome> {
        let hash = hash.0.clone();
        self.transaction(move |conn| {
            async move {
                let sql = format!(
                    "SELECT {} FROM auth_codes WHERE hash = ?",
                    rows::AUTH_CODE_COLUMNS
                );
                let current = sqlx::query(&sql)
                    .bind(&hash)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| rows::auth_code(&r))
                    .transpose()?;
                match (rules::exchange(current.as_ref(), now), current) {
                    (Exchange::Consume, Some((code, _))) => {
                        sqlx::query("UPDATE auth_codes SET used_at = ? WHERE hash = ?")
                            .bind(now)
                            .bind(&hash)
                            .execute(&mut *conn)
                            .await?;
                        Ok(ConsumeOutcome::Consumed(code))
                    }
                    (Exchange::AlreadyUsed, Some((code, _))) => Ok(ConsumeOutcome::AlreadyUsed {
                        family_id: code.family_id,
                    }),
                    _ => Ok(ConsumeOutcome::Invalid),
                }
            }
            .boxed()
        })
        .await
    }

    async fn insert_guest_issuer(&self, issuer: &GuestIssuerRecord) -> StoreResult<()> {
        let issuer = issuer.clone();
        self.write(move |conn| {
            async move {
                sqlx::query(
                    "INSERT INTO guest_issuers (id, name, org_id, secret, created_at) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(&issuer.id)
                .bind(&issuer.name)
                .bind(&issuer.org_id)
                .bind(&issuer.secret)
                .bind(issuer.created_at)
                .execute(&mut *conn)
                .await
                .map_err(rows::write_error("guest issuer", "row"))?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    async fn guest_issuer(&self, id: &str) -> StoreResult<Option<GuestIssuerRecord>> {
        let sql = format!(
            "SELECT {} FROM guest_issuers WHERE id = ?",
            rows::GUEST_ISSUER_COLUMNS
        );
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::guest_issuer(&r))
            .transpose()
    }

    async fn create_device(&self, device: &DeviceRecord, limit: u64) -> StoreResult<()> {
        let extra = rows::extra_to_db(&device.extra)?;
        let record = device.clone();
        let inserted = self
            .write(move |conn| {
                async move {
                    let device = record;
                    // One statement, one round trip: the limit check and the insert run
                    // in the same implicit write transaction (an INSERT takes the write
                    // lock before reading), and writes go through the single writer
                    // connection, so concurrent creates cannot both pass the check (the
                    // writer runs them one after another, each seeing the ones before).
                    let done = sqlx::query(
                        "INSERT INTO devices (id, person_id, org_id, name, device_type, model, \
                     localized_model, system_name, system_version, ttl, extra, created_at, \
                     modified_at, expires_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? \
                     WHERE (SELECT COUNT(*) FROM devices WHERE person_id = ? \
                     AND (expires_at IS NULL OR expires_at > ?)) < ?",
                    )
                    .bind(&device.id)
                    .bind(&device.person_id)
                    .bind(&device.org_id)
                    .bind(&device.name)
                    .bind(&device.device_type)
                    .bind(&device.model)
                    .bind(&device.localized_model)
                    .bind(&device.system_name)
                    .bind(&device.system_version)
                    .bind(rows::ttl_to_db(device.ttl))
                    .bind(extra)
                    .bind(device.created_at)
                    .bind(device.modified_at)
                    .bind(device.expires_at)
                    .bind(&device.person_id)
                    .bind(device.created_at)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .execute(conn)
                    .await
                    .map_err(rows::write_error("device", "person"))?;
                    Ok(done.rows_affected() > 0)
                }
                .boxed()
            })
            .await?;
        if inserted {
            return Ok(());
        }
        // Rejected (rare): count again only to say how many there are.
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM devices WHERE person_id = ? \
             AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(&device.person_id)
        .bind(device.created_at)
        .fetch_one(&self.read)
        .await?;
        Err(StoreError::DeviceLimit {
            count: u64::try_from(live).unwrap_or(0).max(limit),
            limit,
        })
    }

    async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        let sql = format!("SELECT {} FROM devices WHERE id = ?", rows::DEVICE_COLUMNS);
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::device(&r))
            .transpose()
    }

    async fn devices_of(&self, person_id: &str) -> StoreResult<Vec<DeviceRecord>> {
        let sql = format!(
            "SELECT {} FROM devices WHERE person_id = ? ORDER BY created_at, id",
            rows::DEVICE_COLUMNS
        );
        sqlx::query(&sql)
            .bind(person_id)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(rows::device)
            .collect()
    }

    async fn count_live_devices(&self, person_id: &str, now: Millis) -> StoreResult<u64> {
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM devices WHERE person_id = ? \
             AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(person_id)
        .bind(now)
        .fetch_one(&self.read)
        .await?;
        Ok(u64::try_from(live).unwrap_or(0))
    }

    async fn update_device(&self, device: &DeviceRecord) -> StoreResult<bool> {
        let device = device.clone();
        self.write(move |conn| {
            async move {
                let done = sqlx::query(
                    "UPDATE devices SET org_id = ?, name = ?, device_type = ?, model = ?, \
                     localized_model = ?, system_name = ?, system_version = ?, ttl = ?, extra = ?, \
                     modified_at = ?, expires_at = ? WHERE id = ? AND person_id = ?",
                )
                .bind(&device.org_id)
                .bind(&device.name)
                .bind(&device.device_type)
                .bind(&device.model)
                .bind(&device.localized_model)
                .bind(&device.system_name)
                .bind(&device.system_version)
                .bind(rows::ttl_to_db(device.ttl))
                .bind(rows::extra_to_db(&device.extra)?)
                .bind(device.modified_at)
                .bind(device.expires_at)
                .bind(&device.id)
                .bind(&device.person_id)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() > 0)
            }
            .boxed()
        })
        .await
    }

    async fn delete_device(&self, id: &str, person_id: &str) -> StoreResult<Option<DeletedDevice>> {
        let (id, person_id) = (id.to_owned(), person_id.to_owned());
        self.write(move |conn| {
            async move {
                let expires_at: Option<Option<Millis>> = sqlx::query_scalar(
                    "DELETE FROM devices WHERE id = ? AND person_id = ? RETURNING expires_at",
                )
                .bind(id)
                .bind(person_id)
                .fetch_optional(&mut *conn)
                .await?;
                Ok(expires_at.map(|expires_at| DeletedDevice { expires_at }))
            }
            .boxed()
        })
        .await
    }

    async fn delete_expired_devices(&self, now: Millis) -> StoreResult<Vec<DeviceRecord>> {
        self.write(move |conn| {
            async move {
                let sql = format!(
                    "DELETE FROM devices WHERE expires_at <= ? RETURNING {}",
                    rows::DEVICE_COLUMNS
                );
                sqlx::query(&sql)
                    .bind(now)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(rows::device)
                    .collect()
            }
            .boxed()
        })
        .await
    }
}

async fn insert_token<'c>(
    db: impl sqlx::SqliteExecutor<'c>,
    token: &TokenRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (hash, kind, person_id, client_id, family_id, scope, created_at, \
         expires_at, revoked_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&token.hash.0)
    .bind(rows::token_kind_str(token.kind))
    .bind(&token.person_id)
    .bind(&token.client_id)
    .bind(&token.family_id)
    .bind(&token.scope)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.revoked_at)
    .bind(token.used_at)
    .execute(db)
    .await
    .map_err(rows::write_error("token", "person"))?;
    Ok(())
}

async fn revoke_family<'c>(
    db: impl sqlx::SqliteExecutor<'c>,
    family_id: &str,
    now: Millis,
) -> StoreResult<Vec<SecretHash>> {
    let revoked: Vec<(String, String)> = sqlx::query_as(
        "UPDATE tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL RETURNING hash, kind",
    )
    .bind(now)
    .bind(family_id)
    .fetch_all(db)
    .await?;
    Ok(rows::access_hashes(revoked))
}
