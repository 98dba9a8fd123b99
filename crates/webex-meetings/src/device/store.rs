//! Where the registered device is remembered, so a restarted app refreshes
//! (PUT) its device instead of leaking a new one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use webex_wire::device::Device;
use webex_wire::people::Person;

use crate::error::StoreError;

/// What a stored device is filed under: one device per server, user and
/// device name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceKey {
    /// The discovery (U2C) URL.
    pub discovery_url: String,
    /// The user's person id (empty when `people/me` was unavailable).
    pub user_id: String,
    /// The device name.
    pub device_name: String,
}

impl fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.discovery_url, self.user_id, self.device_name
        )
    }
}

/// What a warm start is filed under: one per server and device name (the
/// user is not known before `people/me`; the record says who it was).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionKey {
    /// The discovery (U2C) URL.
    pub discovery_url: String,
    /// The device name.
    pub device_name: String,
}

/// What a restarting app needs before any network round trip: who it
/// registered as last time (so its device can be found) and the service
/// URLs of the last catalog. `register()` uses it to refresh the device and
/// open Mercury at once, fetching the catalog and `people/me` alongside;
/// whatever proves stale (a device that is gone, a catalog that moved) is
/// corrected in the same `register()`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Session {
    /// The user's person id (empty when `people/me` was unavailable).
    pub user_id: String,
    /// `serviceLinks` of the last catalog (name → base URL).
    pub services: BTreeMap<String, String>,
    /// The user's `people/me` answer, so a start whose device was deleted
    /// (a clean `unregister()`) can report who registered without asking
    /// again. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
    /// The last device's `webSocketUrl`: after a clean `unregister()`, the
    /// next start opens the TCP connection to its host while the new device
    /// is being created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_socket_url: Option<String>,
}

impl Session {
    /// A record of `user_id` and `services`.
    pub fn new(user_id: impl Into<String>, services: BTreeMap<String, String>) -> Self {
        Self {
            user_id: user_id.into(),
            services,
            person: None,
            web_socket_url: None,
        }
    }

    /// The same record, also remembering the device's `webSocketUrl`.
    #[must_use]
    pub fn with_web_socket_url(mut self, url: Option<String>) -> Self {
        self.web_socket_url = url;
        self
    }

    /// The same record, also remembering `person` (its `people/me`).
    #[must_use]
    pub fn with_person(mut self, person: Option<Person>) -> Self {
        self.person = person;
        self
    }
}

/// Persistence for registered devices. Implement it to keep devices in your
/// own database; [`MemoryDeviceStore`] and [`FileDeviceStore`] are provided.
///
/// ```
/// use webex_meetings::{DeviceKey, DeviceStore, MemoryDeviceStore};
///
/// # async fn run() -> Result<(), webex_meetings::StoreError> {
/// let store = MemoryDeviceStore::default();
/// let key = DeviceKey {
///     discovery_url: "https://u2c.wbx2.com/u2c/api/v1".into(),
///     user_id: "u1".into(),
///     device_name: "my-bot".into(),
/// };
/// assert!(store.load(&key).await?.is_none());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait DeviceStore: Send + Sync + 'static {
    /// The device filed under `key`, if any.
    async fn load(&self, key: &DeviceKey) -> Result<Option<Device>, StoreError>;
    /// Files `device` under `key`, replacing what was there.
    async fn save(&self, key: &DeviceKey, device: &Device) -> Result<(), StoreError>;
    /// Forgets the device filed under `key` (no error when there is none).
    async fn remove(&self, key: &DeviceKey) -> Result<(), StoreError>;
    /// The warm-start record filed under `key`, if any. The default keeps
    /// none, so every start is cold (as before this method existed).
    async fn load_session(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let _ = key;
        Ok(None)
    }
    /// Files the warm-start record under `key`, replacing what was there.
    /// The default drops it.
    async fn save_session(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let _ = (key, session);
        Ok(())
    }
}

/// Keeps devices in memory: reused across `register()` calls, lost on exit.
#[derive(Debug, Default)]
pub struct MemoryDeviceStore {
    devices: Mutex<BTreeMap<DeviceKey, Device>>,
    sessions: Mutex<BTreeMap<SessionKey, Session>>,
}

impl MemoryDeviceStore {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<DeviceKey, Device>> {
        self.devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl DeviceStore for MemoryDeviceStore {
    async fn load(&self, key: &DeviceKey) -> Result<Option<Device>, StoreError> {
        Ok(self.map().get(key).cloned())
    }
    async fn save(&self, key: &DeviceKey, device: &Device) -> Result<(), StoreError> {
        self.map().insert(key.clone(), device.clone());
        Ok(())
    }
    async fn remove(&self, key: &DeviceKey) -> Result<(), StoreError> {
        self.map().remove(key);
        Ok(())
    }
    async fn load_session(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        Ok(self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned())
    }
    async fn save_session(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), session.clone());
        Ok(())
    }
}

/// Keeps devices in a JSON file, written atomically (temporary file in the
/// same directory, then rename), so a crash never leaves a torn file.
///
/// ```no_run
/// use webex_meetings::{Credentials, FileDeviceStore, WebexConfig};
///
/// let config = WebexConfig::builder(Credentials::access_token("tok_PF84_org"))
///     .device_store(FileDeviceStore::new("/var/lib/my-bot/devices.json"))
///     .build()?;
/// # Ok::<(), webex_meetings::Error>(())
/// ```
#[derive(Debug)]
pub struct FileDeviceStore {
    path: PathBuf,
    /// Serializes read-modify-write cycles within this process.
    lock: tokio::sync::Mutex<()>,
}

#[derive(Default, Serialize, Deserialize)]
struct FileContents {
    devices: Vec<Entry>,
    /// Absent in files written before warm starts existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sessions: Vec<SessionEntry>,
}

#[derive(Serialize, Deserialize)]
struct SessionEntry {
    key: SessionKey,
    session: Session,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: DeviceKey,
    device: Device,
}

impl FileDeviceStore {
    /// A store in `path` (created on first save, with its directory).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read(&self) -> Result<FileContents, StoreError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) if bytes.is_empty() => Ok(FileContents::default()),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Corrupt(format!(
                    "{} is not a device file ({e}); repair or remove it",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileContents::default()),
            Err(e) => Err(e.into()),
        }
    }

    async fn write(&self, contents: &FileContents) -> Result<(), StoreError> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "devices.json".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let bytes = serde_json::to_vec_pretty(contents)?;
        let result = async {
            tokio::fs::write(&tmp, &bytes).await?;
            let file = tokio::fs::File::open(&tmp).await?;
            file.sync_all().await?;
            tokio::fs::rename(&tmp, &self.path).await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(result?)
    }
}

#[async_trait]
impl DeviceStore for FileDeviceStore {
    async fn load(&self, key: &DeviceKey) -> Result<Option<Device>, StoreError> {
        let _guard = self.lock.lock().await;
        Ok(self
            .read()
            .await?
            .devices
            .into_iter()
            .find(|e| &e.key == key)
            .map(|e| e.device))
    }

    async fn save(&self, key: &DeviceKey, device: &Device) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        let mut contents = self.read().await?;
        contents.devices.retain(|e| &e.key != key);
        contents.devices.push(Entry {
            key: key.clone(),
            device: device.clone(),
        });
        self.write(&contents).await
    }

    async fn remove(&self, key: &DeviceKey) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        let mut contents = self.read().await?;
        let before = contents.devices.len();
        contents.devices.retain(|e| &e.key != key);
        if contents.devices.len() == before {
            return Ok(());
        }
        self.write(&contents).await
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let _guard = self.lock.lock().await;
        Ok(self
            .read()
            .await?
            .sessions
            .into_iter()
            .find(|e| &e.key == key)
            .map(|e| e.session))
    }

    async fn save_session(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        let mut contents = self.read().await?;
        if contents
            .sessions
            .iter()
            .any(|e| &e.key == key && &e.session == session)
        {
            // Unchanged: a warm start does not rewrite the file.
            return Ok(());
        }
        contents.sessions.retain(|e| &e.key != key);
        contents.sessions.push(SessionEntry {
            key: key.clone(),
            session: session.clone(),
        });
        self.write(&contents).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str) -> Device {
        serde_json::from_value(serde_json::json!({
            "url": format!("http://127.0.0.1:1/wdm/api/v1/devices/{id}"),
            "webSocketUrl": "ws://127.0.0.1:1/m",
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn key(user: &str) -> DeviceKey {
        DeviceKey {
            discovery_url: "http://127.0.0.1:1/u2c/api/v1".into(),
            user_id: user.into(),
            device_name: "app".into(),
        }
    }

    #[tokio::test]
    async fn file_store_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("nested/devices.json");
        let store = FileDeviceStore::new(&path);
        assert!(
            store
                .load(&key("u1"))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
        store
            .save(&key("u1"), &device("d1"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .save(&key("u2"), &device("d2"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .save(&key("u1"), &device("d3"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let reopened = FileDeviceStore::new(&path);
        let d = reopened
            .load(&key("u1"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.map(|d| d.id().to_owned()).as_deref(), Some("d3"));
        reopened
            .remove(&key("u1"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            reopened
                .load(&key("u1"))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
        assert!(
            reopened
                .load(&key("u2"))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_some()
        );
        // No temporary files are left behind.
        let leftovers = std::fs::read_dir(dir.path().join("nested"))
            .unwrap_or_else(|e| panic!("{e}"))
            .count();
        assert_eq!(leftovers, 1);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("devices.json");
        std::fs::write(&path, b"{not json").unwrap_or_else(|e| panic!("{e}"));
        let store = FileDeviceStore::new(&path);
        let Err(e) = store.load(&key("u1")).await else {
            panic!("a corrupt file must not load");
        };
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        assert!(e.to_string().contains("devices.json"), "{e}");
        // Trying again cannot help, so it is not reported as retryable.
        assert!(!e.is_retryable());
        assert!(!crate::Error::from(e).is_retryable());
        // Saving over it fails too, rather than dropping the devices it held.
        assert!(store.save(&key("u1"), &device("d1")).await.is_err());
        assert_eq!(
            std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")),
            b"{not json"
        );
    }
}
