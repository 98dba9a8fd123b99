//! [`ClientLogStore`] on SQLite: reads from the read-only pool, writes
//! through the single writer (which also serializes eviction).

use super::SqliteStore;
use crate::store::client_logs::{
    self as sql, ClientLogFilter, ClientLogRecord, ClientLogStore, FinalizeOutcome, NewClientLog,
    UploadOutcome,
};
use crate::store::rows;
use crate::store::{Millis, SecretHash, StoreResult};
use async_trait::async_trait;
use futures::FutureExt;

#[async_trait]
impl ClientLogStore for SqliteStore {
    async fn create_client_log(
        &self,
        log: &NewClientLog,
        max_pending: u32,
        stale_before: Millis,
    ) -> StoreResult<()> {
        let log = log.clone();
        self.transaction(move |conn| {
            async move {
                sqlx::query(sql::DELETE_STALE_PENDING)
                    .bind(stale_before)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(sql::TRIM_PENDING)
                    .bind(&log.person_id)
                    .bind(i64::from(max_pending))
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(sql::INSERT)
                    .bind(&log.id)
                    .bind(&log.person_id)
                    .bind(&log.org_id)
                    .bind(&log.filename)
                    .bind(&log.upload_hash.0)
                    .bind(log.created_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(rows::write_error("client log", "person"))?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    async fn store_client_log_content(
        &self,
        id: &str,
        upload_hash: &SecretHash,
        content: bytes::Bytes,
        now: Millis,
        max_total: u64,
    ) -> StoreResult<UploadOutcome> {
        let (id, hash) = (id.to_owned(), upload_hash.0.clone());
        self.transaction(move |conn| {
            async move {
                let stored = sqlx::query(sql::STORE_CONTENT)
                    .bind(&id)
                    .bind(&hash)
                    .bind(content.as_ref())
                    .bind(sql::size_to_db(content.len()))
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                if stored.rows_affected() == 0 {
                    let exists: i64 = sqlx::query_scalar(sql::EXISTS_WITH_HASH)
                        .bind(&id)
                        .bind(&hash)
                        .fetch_one(&mut *conn)
                        .await?;
                    return Ok(if exists > 0 {
                        UploadOutcome::Finalized
                    } else {
                        UploadOutcome::NotFound
                    });
                }
                let evicted = sqlx::query(sql::EVICT)
                    .bind(&id)
                    .bind(sql::cap_to_db(max_total))
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                Ok(UploadOutcome::Stored { evicted })
            }
            .boxed()
        })
        .await
    }

    async fn finalize_client_log(
        &self,
        id: &str,
        person_id: &str,
        meta: &serde_json::Value,
        now: Millis,
    ) -> StoreResult<FinalizeOutcome> {
        let meta = sql::meta_to_db(meta)?;
        let (id, person_id) = (id.to_owned(), person_id.to_owned());
        self.transaction(move |conn| {
            async move {
                let done = sqlx::query(sql::FINALIZE)
                    .bind(&id)
                    .bind(&person_id)
                    .bind(&meta)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 0 {
                    let (owned, uploaded): (i64, i64) = sqlx::query_as(sql::OWNED_UPLOADED)
                        .bind(&id)
                        .bind(&person_id)
                        .fetch_one(&mut *conn)
                        .await?;
                    return Ok(if owned > 0 && uploaded == 0 {
                        FinalizeOutcome::NotUploaded
                    } else {
                        FinalizeOutcome::NotFound
                    });
                }
                let row = sqlx::query(&sql::select_one())
                    .bind(&id)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(FinalizeOutcome::Finalized(sql::record(&row)?))
            }
            .boxed()
        })
        .await
    }

    async fn delete_client_log(&self, id: &str, person_id: Option<&str>) -> StoreResult<bool> {
        let (id, person_id) = (id.to_owned(), person_id.map(str::to_owned));
        self.write(move |conn| {
            async move {
                let done = sqlx::query(sql::DELETE)
                    .bind(&id)
                    .bind(person_id.as_deref())
                    .execute(conn)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
            .boxed()
        })
        .await
    }

    async fn client_log(&self, id: &str) -> StoreResult<Option<ClientLogRecord>> {
        sqlx::query(&sql::select_one())
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| sql::record(&r))
            .transpose()
    }

    async fn client_log_content(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let content: Option<Option<Vec<u8>>> = sqlx::query_scalar(sql::CONTENT)
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(content.flatten())
    }

    async fn client_logs(&self, filter: &ClientLogFilter) -> StoreResult<Vec<ClientLogRecord>> {
        sqlx::query(&sql::select_page())
            .bind(filter.person_id.as_deref())
            .bind(filter.before)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(sql::record)
            .collect()
    }
}
