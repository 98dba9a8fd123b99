//! Device URLs: the one place a WDM device's `url` is made from its id and
//! read back.
//!
//! A device registered here is named by `<public URL>/wdm/api/v1/devices/<id>`:
//! WDM answers it as the device's `url`, a client sends it back as a Locus
//! join's `device.url`, and meetings store it for each participant's device
//! (so that a removed device can leave them). Everything that builds or
//! parses such a URL goes through [`device_url`], [`device_id`] and
//! [`devices_prefix`].
//!
//! ```
//! use webex_server::device_url::{device_id, device_url};
//!
//! let public = "https://webex.example";
//! let url = device_url(public, "0f6c1d");
//! assert_eq!(url, "https://webex.example/wdm/api/v1/devices/0f6c1d");
//! assert_eq!(device_id(public, &url), Some("0f6c1d"));
//! // Another server's device, or not a device at all:
//! assert_eq!(device_id("https://elsewhere.example", &url), None);
//! assert_eq!(device_id(public, "https://webex.example/wdm/api/v1/devices/"), None);
//! ```

/// Path of the WDM device collection; a device's URL is this, `/`, its id.
pub const DEVICES_PATH: &str = "/wdm/api/v1/devices";

/// The URL of device `device_id` on the server whose public URL (no
/// trailing slash) is `public_url`.
///
/// ```
/// assert_eq!(
///     webex_server::device_url::device_url("http://127.0.0.1:8080", "d1"),
///     "http://127.0.0.1:8080/wdm/api/v1/devices/d1"
/// );
/// ```
pub fn device_url(public_url: &str, device_id: &str) -> String {
    format!("{}{device_id}", devices_prefix(public_url))
}

/// What every device URL of the server at `public_url` starts with: the
/// device URL of an empty id. The store compares stored URLs against it
/// to find devices that are no longer registered.
///
/// ```
/// let prefix = webex_server::device_url::devices_prefix("https://webex.example");
/// assert_eq!(prefix, "https://webex.example/wdm/api/v1/devices/");
/// ```
pub fn devices_prefix(public_url: &str) -> String {
    format!("{public_url}{DEVICES_PATH}/")
}

/// The device id in `url` when it is a device URL of the server at
/// `public_url`: the one non-empty path segment after
/// [`devices_prefix`]. `None` for another server's URL, a sub-path, a
/// query or a fragment. The id is not looked up: whether such a device
/// exists (and whose it is) is the caller's to check.
///
/// ```
/// use webex_server::device_url::device_id;
///
/// let public = "https://webex.example";
/// assert_eq!(device_id(public, "https://webex.example/wdm/api/v1/devices/d1"), Some("d1"));
/// assert_eq!(device_id(public, "https://webex.example/wdm/api/v1/devices/d1/x"), None);
/// assert_eq!(device_id(public, "https://webex.example/wdm/api/v1/devices/d1?x"), None);
/// assert_eq!(device_id(public, "https://webex.example/wdm/api/v1/devicesd1"), None);
/// ```
pub fn device_id<'a>(public_url: &str, url: &'a str) -> Option<&'a str> {
    url.strip_prefix(public_url)?
        .strip_prefix(DEVICES_PATH)?
        .strip_prefix('/')
        .filter(|id| !id.is_empty() && !id.contains(['/', '?', '#']))
}
