//! [`ClientLogStore`] on PostgreSQL. Eviction runs under a transaction-scoped
//! advisory lock, so concurrent uploads on several nodes never each keep
//! "their" share and overshoot the total cap together.

use super::PgStore;
use crate::store::client_logs::{
    self as sql, ClientLogFilter, ClientLogRecord, ClientLogStore, FinalizeOutcome, NewClientLog,
    UploadOutcome,
};
use crate::store::rows;
use crate::store::{Millis, SecretHash, StoreResult};
use async_trait::async_trait;

/// Key of the advisory lock that serializes eviction ("clogs" in ASCII).
const EVICTION_LOCK: i64 = 0x0063_6c6f_6773;

#[async_trait]
impl ClientLogStore for PgStore {
    async fn create_client_log(
        &self,
        log: &NewClientLog,
        max_pending: u32,
        stale_before: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(sql::DELETE_STALE_PENDING)
            .bind(stale_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::TRIM_PENDING)
            .bind(&log.person_id)
            .bind(i64::from(max_pending))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::INSERT)
            .bind(&log.id)
            .bind(&log.person_id)
            .bind(&log.org_id)
            .bind(&log.filename)
            .bind(&log.upload_hash.0)
            .bind(log.created_at)
            .execute(&mut *tx)
            .await
            .map_err(rows::write_error("client log", "person"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn store_client_log_content(
        &self,
        id: &str,
        upload_hash: &SecretHash,
        content: bytes::Bytes,
        now: Millis,
        max_total: u64,
    ) -> StoreResult<UploadOutcome> {
        let mut tx = self.begin().await?;
        let stored = sqlx::query(sql::STORE_CONTENT)
            .bind(id)
            .bind(&upload_hash.0)
            .bind(content.as_ref())
            .bind(sql::size_to_db(content.len()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if stored.rows_affected() == 0 {
            let exists: i64 = sqlx::query_scalar(sql::EXISTS_WITH_HASH)
                .bind(id)
                .bind(&upload_hash.0)
                .fetch_one(&mut *tx)
                .await?;
            return Ok(if exists > 0 {
                UploadOutcome::Finalized
            } else {
                UploadOutcome::NotFound
            });
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVICTION_LOCK)
            .execute(&mut *tx)
            .await?;
        let evicted = sqlx::query(sql::EVICT)
            .bind(id)
            .bind(sql::cap_to_db(max_total))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(UploadOutcome::Stored { evicted })
    }

    async fn finalize_client_log(
        &self,
        id: &str,
        person_id: &str,
        meta: &serde_json::Value,
        now: Millis,
    ) -> StoreResult<FinalizeOutcome> {
        let meta = sql::meta_to_db(meta)?;
        let mut tx = self.begin().await?;
        let done = sqlx::query(sql::FINALIZE)
            .bind(id)
            .bind(person_id)
            .bind(&meta)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let outcome = if done.rows_affected() == 0 {
            let (owned, uploaded): (i64, i64) = sqlx::query_as(sql::OWNED_UPLOADED)
                .bind(id)
                .bind(person_id)
                .fetch_one(&mut *tx)
                .await?;
            if owned > 0 && uploaded == 0 {
                FinalizeOutcome::NotUploaded
            } else {
                FinalizeOutcome::NotFound
            }
        } else {
            let row = sqlx::query(&sql::select_one())
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            FinalizeOutcome::Finalized(sql::record(&row)?)
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_client_log(&self, id: &str, person_id: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query(sql::DELETE)
            .bind(id)
            .bind(person_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn client_log(&self, id: &str) -> StoreResult<Option<ClientLogRecord>> {
        sqlx::query(&sql::select_one())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| sql::record(&r))
            .transpose()
    }

    async fn client_log_content(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let content: Option<Option<Vec<u8>>> = sqlx::query_scalar(sql::CONTENT)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(content.flatten())
    }

    async fn client_logs(&self, filter: &ClientLogFilter) -> StoreResult<Vec<ClientLogRecord>> {
        sqlx::query(&sql::select_page())
            .bind(filter.person_id.as_deref())
            .bind(filter.before)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(sql::record)
            .collect()
    }
}
