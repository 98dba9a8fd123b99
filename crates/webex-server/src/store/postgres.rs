//! PostgreSQL store.
//!
//! One connection pool. Read-then-write transactions lock the rows they
//! decide on (`SELECT … FOR UPDATE`; the owner's `people` row for the
//! device limit), so concurrent calls serialize on exactly what they share
//! and the default READ COMMITTED isolation is enough.

mod client_logs;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use super::rows::{self, ORG_COLUMNS, PERSON_COLUMNS, TOKEN_COLUMNS};
use super::rules::{self, Exchange, Rotation};
use super::*;

/// Connections the pool may open.
const MAX_CONNECTIONS: u32 = 10;

/// PostgreSQL-backed [`Store`].
pub struct PgStore {
    pub(super) pool: PgPool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`), which must exist,
    /// and runs the migrations (concurrent starts are safe: sqlx takes an
    /// advisory lock while migrating).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webex_server::store::StoreError> {
    /// use webex_server::store::{PgStore, Store};
    /// let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/webex").await?;
    /// assert_eq!(store.backend(), "postgres");
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            // sqlx already tests a connection when it is given back; testing
            // it again when taken costs a round trip per query. A connection
            // that died while idle (server restart) fails one query with a
            // retryable error and is then dropped.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn person_where(&self, column: &str, value: &str) -> StoreResult<Option<PersonRecord>> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE {column} = $1");
        sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| rows::person(&r))
            .transpose()
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn upsert_person(&self, new: &NewPerson) -> StoreResult<PersonRecord> {
        if let Some(p) = self.person_by_email(&new.email).await? {
            return Ok(p);
        }
        let mut tx = self.begin().await?;
        let now = crate::time::now_millis();
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&new.org_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let org_id: String = sqlx::query_scalar("SELECT id FROM orgs WHERE name = $1")
            .bind(&new.org_name)
            .fetch_one(&mut *tx)
            .await?;
        let person = PersonRecord {
            id: uuid::Uuid::new_v4().to_string(),
            org_id,
            email: new.email.clone(),
            display_name: new.display_name.clone(),
            kind: new.kind,
            created_at: now,
        };
        // A concurrent upsert of the same email may win: then read its row
        // (visible once its transaction committed; READ COMMITTED).
        let inserted = sqlx::query(
            "INSERT INTO people (id, org_id, email, display_name, kind, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&person.id)
        .bind(&person.org_id)
        .bind(&person.email)
        .bind(&person.display_name)
        .bind(person.kind.as_str())
        .bind(person.created_at)
        .execute(&mut *tx)
        .await?;
        let person = if inserted.rows_affected() == 1 {
            person
        } else {
            let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE email = $1");
            rows::person(
                &sqlx::query(&sql)
                    .bind(&new.email)
                    .fetch_one(&mut *tx)
                    .await?,
            )?
        };
        tx.commit().await?;
        Ok(person)
    }

    async fn person(&self, id: &str) -> StoreResult<Option<PersonRecord>> {
        self.person_where("id", id).await
    }

    async fn person_by_email(&self, email: &str) -> StoreResult<Option<PersonRecord>> {
        self.person_where("email", email).await
    }

    async fn org(&self, id: &str) -> StoreResult<Option<OrgRecord>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| rows::org(&r))
            .transpose()
    }

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        insert_token(&self.pool, token).await
    }

    async fn token(&self, hash: &SecretHash) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1");
        sqlx::query(&sql)
            .bind(&hash.0)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| rows::token(&r))
            .transpose()
    }

    async fn revoke_token(&self, hash: &SecretHash, now: Millis) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(&hash.0)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_family(&self, family_id: &str, now: Millis) -> StoreResult<Vec<SecretHash>> {
        revoke_family(&self.pool, family_id, now).await
    }

    async fn revoke_person_tokens(
        &self,
        person_id: &str,
        now: Millis,
    ) -> StoreResult<Vec<SecretHash>> {
        let revoked: Vec<(String, String)> = sqlx::query_as(
            "UPDATE tokens SET revoked_at = $1 WHERE person_id = $2 AND revoked_at IS NULL RETURNING hash, kind",
        )
        .bind(now)
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::access_hashes(revoked))
    }

    async fn rotate_refresh_token(
        &self,
        old: &SecretHash,
        now: Millis,
        new_access: &TokenRecord,
        new_refresh: &TokenRecord,
    ) -> StoreResult<RotateOutcome> {
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 FOR UPDATE");
        let current = sqlx::query(&sql)
            .bind(&old.0)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| rows::token(&r))
            .transpose()?;
        let outcome = match rules::rotation(current.as_ref(), now) {
            Rotation::Reject => return Ok(RotateOutcome::Invalid),
            Rotation::RevokeFamily(Some(family)) => RotateOutcome::Reused {
                revoked_access: revoke_family(&mut *tx, &family, now).await?,
            },
            Rotation::RevokeFamily(None) => {
                sqlx::query(
                    "UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&old.0)
                .execute(&mut *tx)
                .await?;
                // A refresh token without a family: nothing else to revoke.
                RotateOutcome::Reused {
                    revoked_access: Vec::new(),
                }
            }
            Rotation::Rotate => {
                sqlx::query("UPDATE tokens SET used_at = $1 WHERE hash = $2")
                    .bind(now)
                    .bind(&old.0)
                    .execute(&mut *tx)
                    .await?;
                insert_token(&mut *tx, new_access).await?;
                insert_token(&mut *tx, new_refresh).await?;
                RotateOutcome::Rotated
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn insert_oauth_client(&self, client: &OAuthClientRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(&client.secret_hash.0)
        .bind(rows::redirect_uris_to_db(&client.redirect_uris)?)
        .bind(&client.scopes)
        .bind(client.created_at)
        .execute(&self.pool)
        .await
        .map_err(rows::write_error("oauth client", "row"))?;
        Ok(())
    }

    async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClientRecord>> {
        let sql = format!(
            "SELECT {} FROM oauth_clients WHERE id = $1",
            rows::OAUTH_CLIENT_COLUMNS
        );
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| rows::oauth_client(&r))
            .transpose()
    }

    async fn insert_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO auth_codes (hash, client_id, person_id, redirect_uri, scope, \
             code_challenge, code_challenge_method, family_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .execute(&self.pool)
        .await
        .map_err(rows::write_error("authorization code", "person"))?;
        Ok(())
    }

    async fn consume_auth_code(
        &self,
        hash: &SecretHash,
        now: Millis,
    ) -> StoreResult<ConsumeOutcome> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT {} FROM auth_codes WHERE hash = $1 FOR UPDATE",
            rows::AUTH_CODE_COLUMNS
        );
        let current = sqlx::query(&sql)
            .bind(&hash.0)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| rows::auth_code(&r))
            .transpose()?;
        match (rules::exchange(current.as_ref(), now), current) {
            (Exchange::Consume, Some((code, _))) => {
                sqlx::query("UPDATE auth_codes SET used_at = $1 WHERE hash = $2")
                    .bind(now)
                    .bind(&hash.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(ConsumeOutcome::Consumed(code))
            }
            (Exchange::AlreadyUsed, Some((code, _))) => Ok(ConsumeOutcome::AlreadyUsed {
                family_id: code.family_id,
            }),
            _ => Ok(ConsumeOutcome::Invalid),
        }
    }

    async fn insert_guest_issuer(&self, issuer: &GuestIssuerRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO guest_issuers (id, name, org_id, secret, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&issuer.id)
        .bind(&issuer.name)
        .bind(&issuer.org_id)
        .bind(&issuer.secret)
        .bind(issuer.created_at)
        .execute(&self.pool)
        .await
        .map_err(rows::write_error("guest issuer", "row"))?;
        Ok(())
    }

    async fn guest_issuer(&self, id: &str) -> StoreResult<Option<GuestIssuerRecord>> {
        let sql = format!(
            "SELECT {} FROM guest_issuers WHERE id = $1",
            rows::GUEST_ISSUER_COLUMNS
        );
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| rows::guest_issuer(&r))
            .transpose()
    }

    async fn create_device(&self, device: &DeviceRecord, limit: u64) -> StoreResult<()> {
        let extra = rows::extra_to_db(&device.extra)?;
        let mut tx = self.begin().await?;
        // Serializes device creation per owner (NO KEY UPDATE does not block
        // the key-share locks that inserts referencing the person take).
        sqlx::query("SELECT 1 FROM people WHERE id = $1 FOR NO KEY UPDATE")
            .bind(&device.person_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::MissingReference("person"))?;
        // Limit check and insert in one statement; under READ COMMITTED its
        // snapshot is taken after the lock above was granted, so it sees
        // every device a concurrent create committed before releasing it.
        let done = sqlx::query(
            "INSERT INTO devices (id, person_id, org_id, name, device_type, model, \
             localized_model, system_name, system_version, ttl, extra, created_at, \
             modified_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
             WHERE (SELECT COUNT(*) FROM devices WHERE person_id = $2 \
             AND (expires_at IS NULL OR expires_at > $12)) < $15",
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
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(rows::write_error("device", "person"))?;
        if done.rows_affected() == 0 {
            // Rejected (rare): count again, under the lock, to say how many.
            let live: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM devices WHERE person_id = $1 \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(&device.person_id)
            .bind(device.created_at)
            .fetch_one(&mut *tx)
            .await?;
            return Err(StoreError::DeviceLimit {
                count: u64::try_from(live).unwrap_or(0),
                limit,
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        let sql = format!("SELECT {} FROM devices WHERE id = $1", rows::DEVICE_COLUMNS);
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| rows::device(&r))
            .transpose()
    }

    async fn devices_of(&self, person_id: &str) -> StoreResult<Vec<DeviceRecord>> {
        let sql = format!(
            "SELECT {} FROM devices WHERE person_id = $1 ORDER BY created_at, id",
            rows::DEVICE_COLUMNS
        );
        sqlx::query(&sql)
            .bind(person_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::device)
            .collect()
    }

    async fn count_live_devices(&self, person_id: &str, now: Millis) -> StoreResult<u64> {
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM devices WHERE person_id = $1 \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(person_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(live).unwrap_or(0))
    }

    async fn update_device(&self, device: &DeviceRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE devices SET org_id = $1, name = $2, device_type = $3, model = $4, \
             localized_model = $5, system_name = $6, system_version = $7, ttl = $8, extra = $9, \
             modified_at = $10, expires_at = $11 WHERE id = $12 AND person_id = $13",
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
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_device(&self, id: &str, person_id: &str) -> StoreResult<Option<DeletedDevice>> {
        let expires_at: Option<Option<Millis>> = sqlx::query_scalar(
            "DELETE FROM devices WHERE id = $1 AND person_id = $2 RETURNING expires_at",
        )
        .bind(id)
        .bind(person_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(expires_at.map(|expires_at| DeletedDevice { expires_at }))
    }

    async fn delete_expired_devices(&self, now: Millis) -> StoreResult<Vec<DeviceRecord>> {
        let sql = format!(
            "DELETE FROM devices WHERE expires_at <= $1 RETURNING {}",
            rows::DEVICE_COLUMNS
        );
        sqlx::query(&sql)
            .bind(now)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::device)
            .collect()
    }
}

async fn insert_token<'c>(db: impl sqlx::PgExecutor<'c>, token: &TokenRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (hash, kind, person_id, client_id, family_id, scope, created_at, \
         expires_at, revoked_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    db: impl sqlx::PgExecutor<'c>,
    family_id: &str,
    now: Millis,
) -> StoreResult<Vec<SecretHash>> {
    let revoked: Vec<(String, String)> = sqlx::query_as(
        "UPDATE tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL RETURNING hash, kind",
    )
    .bind(now)
    .bind(family_id)
    .fetch_all(db)
    .await?;
    Ok(rows::access_hashes(revoked))
}
