//! Devices: records, [`DeviceStore`], and the SQL both backends run for it.

use async_trait::async_trait;

use super::backend::Backend;
use super::sql::{self, Columns, Stmt};
use super::{Millis, StoreError, StoreResult};

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
    /// Version of the stored fields: as given to
    /// [`DeviceStore::create_device`] (registration stores 1), one more on
    /// every [`DeviceStore::update_device`].
    pub version: i64,
}

/// What [`DeviceStore::update_device`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceUpdateOutcome {
    /// Stored; the device is now at this version.
    Updated(i64),
    /// Nothing stored: the device is no longer at the version the update
    /// required (someone else updated it since it was read).
    Stale,
    /// Nothing stored: the owner has no such device.
    Missing,
}

/// A device [`DeviceStore::delete_device`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedDevice {
    /// Its expiry (`None`: persistent), to tell a live device from one the
    /// sweeper had not removed yet.
    pub expires_at: Option<Millis>,
}

/// Devices. Each method is one transaction.
#[async_trait]
pub trait DeviceStore: Send + Sync {
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
    /// `device.person_id` and bumps its version, in one statement;
    /// `device.version` is not read. With `if_version`, only while the
    /// stored version is still that one: of two updates made from the same
    /// version, one is [`DeviceUpdateOutcome::Stale`] (an `If-Match` that
    /// cannot lose an update).
    async fn update_device(
        &self,
        device: &DeviceRecord,
        if_version: Option<i64>,
    ) -> StoreResult<DeviceUpdateOutcome>;
    /// Deletes the device `id` owned by `person_id` in one statement.
    /// Returns what was deleted, `None` when there was no such device.
    async fn delete_device(&self, id: &str, person_id: &str) -> StoreResult<Option<DeletedDevice>>;
    /// Deletes every device whose `expires_at <= now`; returns them.
    async fn delete_expired_devices(&self, now: Millis) -> StoreResult<Vec<DeviceRecord>>;
}

/// Columns of `devices`.
const DEVICE_COLUMNS: &str = "id, person_id, org_id, name, device_type, model, \
     localized_model, system_name, system_version, ttl, extra, created_at, modified_at, expires_at, \
     version";

/// Live devices of `$1` at `$2`, counted as `live`.
const COUNT_LIVE: &str = "SELECT COUNT(*) AS live FROM devices WHERE person_id = $1 \
     AND (expires_at IS NULL OR expires_at > $2)";

fn device(row: &dyn Columns) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        id: row.text("id")?,
        person_id: row.text("person_id")?,
        org_id: row.text("org_id")?,
        name: row.text("name")?,
        device_type: row.text("device_type")?,
        model: row.text("model")?,
        localized_model: row.text("localized_model")?,
        system_name: row.text("system_name")?,
        system_version: row.text("system_version")?,
        ttl: row
            .opt_int("ttl")?
            .map(u64::try_from)
            .transpose()
            .map_err(|_| StoreError::Corrupt("column `ttl`: negative".into()))?,
        extra: sql::json(row, "extra")?,
        created_at: row.int("created_at")?,
        modified_at: row.int("modified_at")?,
        expires_at: row.opt_int("expires_at")?,
        version: row.int("version")?,
    })
}

/// A TTL as stored; values beyond `i64::MAX` seconds mean "forever" anyway,
/// so they saturate.
fn ttl_to_db(ttl: Option<u64>) -> Option<i64> {
    ttl.map(|t| i64::try_from(t).unwrap_or(i64::MAX))
}

/// Binds `$1`…`$11` as the device insert and update both number them: id,
/// owner, then the stored fields from `org_id` to `extra`.
fn bind_identity_and_fields(stmt: Stmt, device: &DeviceRecord) -> StoreResult<Stmt> {
    Ok(stmt
        .bind(&device.id)
        .bind(&device.person_id)
        .bind(&device.org_id)
        .bind(&device.name)
        .bind(&device.device_type)
        .bind(&device.model)
        .bind(&device.localized_model)
        .bind(&device.system_name)
        .bind(&device.system_version)
        .bind(ttl_to_db(device.ttl))
        .bind(sql::to_json(&device.extra, "device extra fields")?))
}

#[async_trait]
impl<B: Backend> DeviceStore for B {
    async fn create_device(&self, device: &DeviceRecord, limit: u64) -> StoreResult<()> {
        // The limit check and the insert are one statement. Concurrent
        // creates for one owner take turns (`write_guarded`: PostgreSQL locks
        // the owner's row first; under READ COMMITTED the statement's snapshot
        // is taken after that lock was granted, so it sees every device a
        // concurrent create committed before releasing it; SQLite's single
        // writer runs one write at a time).
        let insert = Stmt::new(
            "INSERT INTO devices (id, person_id, org_id, name, device_type, model, \
             localized_model, system_name, system_version, ttl, extra, created_at, \
             modified_at, expires_at, version) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $16 \
             WHERE (SELECT COUNT(*) FROM devices WHERE person_id = $2 \
             AND (expires_at IS NULL OR expires_at > $12)) < $15",
        );
        let insert = bind_identity_and_fields(insert, device)?
            .bind(device.created_at)
            .bind(device.modified_at)
            .bind(device.expires_at)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(device.version)
            .constraint_errors("device", "person");
        let owner = Stmt::new("SELECT 1 FROM people WHERE id = $1").bind(&device.person_id);
        match self.write_guarded(owner, insert).await? {
            None => Err(StoreError::MissingReference("person")),
            Some(0) => {
                // Rejected (rare): count again only to say how many there
                // are (at least the limit, whatever changed since).
                let live = self
                    .count_live_devices(&device.person_id, device.created_at)
                    .await?;
                Err(StoreError::DeviceLimit {
                    count: live.max(limit),
                    limit,
                })
            }
            Some(_) => Ok(()),
        }
    }

    async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        let stmt = Stmt::new(format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1"
        ))
        .bind(id);
        self.read_optional(stmt, device).await
    }

    async fn devices_of(&self, person_id: &str) -> StoreResult<Vec<DeviceRecord>> {
        let stmt = Stmt::new(format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE person_id = $1 ORDER BY created_at, id"
        ))
        .bind(person_id);
        self.read_all(stmt, device).await
    }

    async fn count_live_devices(&self, person_id: &str, now: Millis) -> StoreResult<u64> {
        let stmt = Stmt::new(COUNT_LIVE).bind(person_id).bind(now);
        let live = self.read_optional(stmt, |r| r.int("live")).await?;
        Ok(live.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    async fn update_device(
        &self,
        device: &DeviceRecord,
        if_version: Option<i64>,
    ) -> StoreResult<DeviceUpdateOutcome> {
        // The version check is part of the UPDATE, so it holds at the write:
        // PostgreSQL re-checks the WHERE of a row a concurrent update changed
        // once that update commits; SQLite's single writer runs one at a time.
        const SET: &str = "UPDATE devices SET org_id = $3, name = $4, device_type = $5, \
             model = $6, localized_model = $7, system_name = $8, system_version = $9, \
             ttl = $10, extra = $11, modified_at = $12, expires_at = $13, \
             version = version + 1 WHERE id = $1 AND person_id = $2";
        let stmt = Stmt::new(match if_version {
            None => format!("{SET} RETURNING version"),
            Some(_) => format!("{SET} AND version = $14 RETURNING version"),
        });
        let mut stmt = bind_identity_and_fields(stmt, device)?
            .bind(device.modified_at)
            .bind(device.expires_at);
        if let Some(version) = if_version {
            stmt = stmt.bind(version);
        }
        if let Some(version) = self.write_optional(stmt, |r| r.int("version")).await? {
            return Ok(DeviceUpdateOutcome::Updated(version));
        }
        if if_version.is_none() {
            return Ok(DeviceUpdateOutcome::Missing);
        }
        // Nothing was written; read only to say why.
        let exists = Stmt::new("SELECT 1 AS one FROM devices WHERE id = $1 AND person_id = $2")
            .bind(&device.id)
            .bind(&device.person_id);
        Ok(match self.read_optional(exists, |_| Ok(())).await? {
            Some(()) => DeviceUpdateOutcome::Stale,
            None => DeviceUpdateOutcome::Missing,
        })
    }

    async fn delete_device(&self, id: &str, person_id: &str) -> StoreResult<Option<DeletedDevice>> {
        let stmt =
            Stmt::new("DELETE FROM devices WHERE id = $1 AND person_id = $2 RETURNING expires_at")
                .bind(id)
                .bind(person_id);
        let deleted = self
            .write_optional(stmt, |r| r.opt_int("expires_at"))
            .await?;
        Ok(deleted.map(|expires_at| DeletedDevice { expires_at }))
    }

    async fn delete_expired_devices(&self, now: Millis) -> StoreResult<Vec<DeviceRecord>> {
        let stmt = Stmt::new(format!(
            "DELETE FROM devices WHERE expires_at <= $1 RETURNING {DEVICE_COLUMNS}"
        ))
        .bind(now);
        self.write_all(stmt, device).await
    }
}
