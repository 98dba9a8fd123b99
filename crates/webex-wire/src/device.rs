//! WDM device registration: request bodies and the device record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Body of `POST {wdm}/devices` and `PUT {device.url}`.
///
/// Unknown fields are kept in [`DeviceRequest::extra`] so a PUT that sends the
/// whole stored record round-trips.
///
/// ```
/// use webex_wire::device::DeviceRequest;
/// let body = DeviceRequest::web_sdk("my-app").with_ttl(1800);
/// let json = serde_json::to_value(&body)?;
/// assert_eq!(json["deviceType"], "WEB");
/// assert_eq!(json["ttl"], 1800);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceRequest {
    /// Stable, per-app device name; used to find this app's own devices.
    #[serde(default)]
    pub name: String,
    /// `WEB` for SDK clients.
    #[serde(default)]
    pub device_type: String,
    /// e.g. `web-js-sdk`, `webex-rs`.
    #[serde(default)]
    pub model: String,
    /// Human readable model.
    #[serde(default)]
    pub localized_model: String,
    /// e.g. `WEBEX_JS_SDK`, `WEBEX_RS`.
    #[serde(default)]
    pub system_name: String,
    /// Client version.
    #[serde(default)]
    pub system_version: String,
    /// Seconds until an ephemeral device expires unless refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Any other field the client sent.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

impl DeviceRequest {
    /// The body this crate's SDK sends, named `name`.
    pub fn web_sdk(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            device_type: "WEB".into(),
            model: "webex-rs".into(),
            localized_model: "webex-rs".into(),
            system_name: "WEBEX_RS".into(),
            system_version: env!("CARGO_PKG_VERSION").into(),
            ttl: None,
            extra: Map::new(),
        }
    }

    /// Makes the device ephemeral: it expires `ttl` seconds after its last refresh.
    pub fn with_ttl(mut self, ttl: u64) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// A registered device as WDM returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The device's URL; it is also its identity.
    pub url: String,
    /// Where to open the Mercury websocket.
    pub web_socket_url: String,
    /// Owner's person id.
    #[serde(default)]
    pub user_id: String,
    /// Owner's org id.
    #[serde(default)]
    pub org_id: String,
    /// Device name as registered.
    #[serde(default)]
    pub name: String,
    /// Device type as registered.
    #[serde(default)]
    pub device_type: String,
    /// Model as registered.
    #[serde(default)]
    pub model: String,
    /// Localized model as registered.
    #[serde(default)]
    pub localized_model: String,
    /// System name as registered.
    #[serde(default)]
    pub system_name: String,
    /// System version as registered.
    #[serde(default)]
    pub system_version: String,
    /// Ephemeral TTL in seconds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Feature toggles.
    #[serde(default)]
    pub features: Features,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub creation_time: String,
    /// RFC 3339 time of the last registration or refresh.
    #[serde(default)]
    pub modification_time: String,
    /// Any other field the server sent.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

impl Device {
    /// The device id: the last path segment of [`Device::url`].
    ///
    /// ```
    /// # use webex_wire::device::Device;
    /// # let mut d: Device = serde_json::from_str(r#"{"url":"http://h/wdm/api/v1/devices/abc","webSocketUrl":"ws://h/m"}"#).unwrap();
    /// assert_eq!(d.id(), "abc");
    /// ```
    pub fn id(&self) -> &str {
        self.url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }
}

/// `GET {wdm}/devices` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    /// The caller's devices.
    pub devices: Vec<Device>,
}

/// Feature toggles attached to a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// Developer toggles.
    #[serde(default)]
    pub developer: Vec<Feature>,
    /// Entitlements.
    #[serde(default)]
    pub entitlement: Vec<Feature>,
    /// User toggles.
    #[serde(default)]
    pub user: Vec<Feature>,
}

/// One feature toggle. `val` is a string the client parses.
///
/// Every field is optional, as the official SDK reads them (its feature
/// model defaults each one): WDM leaves out `type` and `lastModified` on
/// some toggles, and a device answer must not fail on that. An absent field
/// stays absent when the record is written back.
///
/// ```
/// use webex_wire::device::Feature;
/// let f: Feature = serde_json::from_str(r#"{"key":"k","val":"true"}"#)?;
/// assert_eq!(f.kind, None);
/// assert_eq!(f.last_modified, None);
/// assert_eq!(serde_json::to_value(&f)?, serde_json::json!({"key":"k","val":"true"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Feature {
    /// Toggle key.
    #[serde(default)]
    pub key: String,
    /// Value as a string.
    #[serde(default)]
    pub val: String,
    /// Value, typed (boolean, number or string); absent is `null`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub value: Value,
    /// Kind, e.g. `DEV`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether the user may change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutable: Option<bool>,
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}
