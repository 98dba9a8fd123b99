//! SQLite store. (skeleton)

use super::*;

/// SQLite-backed [`Store`].
pub struct SqliteStore;

impl SqliteStore {
    /// Opens (creating) the database and runs migrations.
    pub async fn connect(_url: &str) -> StoreResult<Self> {
        Err(StoreError::Corrupt(
            "sqlite store not implemented yet".into(),
        ))
    }
}
