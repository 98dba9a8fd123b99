//! PostgreSQL store. (skeleton)

use super::*;

/// PostgreSQL-backed [`Store`].
pub struct PgStore;

impl PgStore {
    /// Opens (creating) the database and runs migrations.
    pub async fn connect(_url: &str) -> StoreResult<Self> {
        Err(StoreError::Corrupt(
            "postgres store not implemented yet".into(),
        ))
    }
}
