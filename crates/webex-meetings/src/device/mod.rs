//! WDM device registration: create, refresh, delete and list this user's
//! devices, and reclaim this app's own old devices when the quota is hit.

mod store;

use reqwest::Method;
use serde_json::Value;
use webex_wire::device::{Device, DeviceList, DeviceRequest};
use webex_wire::error::codes;

use crate::error::Error;
use crate::http::{Http, HttpRequest, join};

pub use store::{DeviceKey, DeviceStore, FileDeviceStore, MemoryDeviceStore, Session, SessionKey};

/// `includeUpstreamServices` value sent on POST and PUT.
const UPSTREAM: &str = "includeUpstreamServices=all";

/// The body this SDK registers with.
pub(crate) fn request_body(name: &str, ttl: Option<u64>) -> DeviceRequest {
    let body = DeviceRequest::web_sdk(name);
    match ttl {
        Some(ttl) => body.with_ttl(ttl),
        None => body,
    }
}

/// `POST {wdm}/devices`.
///
/// WDM has created the device once it answers 2xx. When that answer cannot
/// be read as a device but names one (`url`), the device is deleted before
/// the error is returned: nothing else could ever delete it, and every such
/// attempt would use up one of the user's device slots.
pub(crate) async fn create(http: &Http, wdm: &str, body: &DeviceRequest) -> Result<Device, Error> {
    let mut url = join(wdm, "devices")?;
    url.set_query(Some(UPSTREAM));
    let body = to_json("the device request", wdm, body)?;
    let response = http
        .send(HttpRequest::new(Method::POST, url).json(body))
        .await?;
    let error = match response.json::<Device>() {
        Ok(device) => return Ok(received(device)),
        Err(e) => e,
    };
    let created = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| v.get("url").and_then(Value::as_str).map(str::to_owned));
    if let Some(created) = created {
        tracing::warn!(device = %created, error = %error, "unreadable device answer: deleting the device WDM created");
        if let Err(e) = delete(http, &created).await {
            tracing::warn!(device = %created, error = %e, "could not delete the unreadable device");
        }
    }
    Err(error)
}

/// What a refresh found.
pub(crate) enum Refreshed {
    /// The device is alive; here is its record.
    Alive(Box<Device>),
    /// WDM no longer knows it (404/410): register a new one.
    Gone,
}

/// Fields of a WDM answer that are WDM's own view of the user's services,
/// never part of the device: the official SDK deletes them on receipt.
const WDM_OWNED: [&str; 2] = ["services", "serviceHostMap"];

/// A device as WDM answered it, minus [`WDM_OWNED`] fields.
fn received(mut device: Device) -> Device {
    for field in WDM_OWNED {
        device.extra.remove(field);
    }
    device
}

/// `PUT {device.url}` with the stored record's own fields (identity,
/// description, times; no features, and none of the fields WDM adds that
/// this SDK does not model, such as `services`, `serviceHostMap` or
/// settings) and our body.
pub(crate) async fn refresh(
    http: &Http,
    device: &Device,
    body: &DeviceRequest,
) -> Result<Refreshed, Error> {
    let mut url = parse_device_url(&device.url)?;
    url.set_query(Some(UPSTREAM));
    let own = Device {
        extra: serde_json::Map::new(),
        ..device.clone()
    };
    let mut record = to_json("the stored device record", &device.url, &own)?;
    if let Some(map) = record.as_object_mut() {
        for field in ["features", "mediaCluster", "etag"] {
            map.remove(field);
        }
        if let Ok(Value::Object(ours)) = serde_json::to_value(body) {
            map.extend(ours);
        }
        if body.ttl.is_none() {
            map.remove("ttl");
        }
    }
    let response = http
        .send_any(&HttpRequest::new(Method::PUT, url).json(record))
        .await?;
    match response.status {
        404 | 410 => Ok(Refreshed::Gone),
        s if s >= 400 => Err(response.into_error()),
        _ => Ok(Refreshed::Alive(Box::new(received(response.json()?)))),
    }
}

/// `DELETE {device.url}`; a 404 means it is already gone, which is success.
pub(crate) async fn delete(http: &Http, device_url: &str) -> Result<(), Error> {
    let url = parse_device_url(device_url)?;
    let response = http
        .send_any(&HttpRequest::new(Method::DELETE, url))
        .await?;
    match response.status {
        404 | 410 => Ok(()),
        s if s >= 400 => Err(response.into_error()),
        _ => Ok(()),
    }
}

/// A device's `url` as WDM (or the device store) gave it.
fn parse_device_url(device_url: &str) -> Result<url::Url, Error> {
    url::Url::parse(device_url).map_err(|e| Error::InvalidResponse {
        url: device_url.to_owned(),
        message: format!(
            "the device URL is not a URL ({e}); remove the stored device or pass a device id"
        ),
    })
}

/// `value` as JSON; `what` names it in the (never expected) error, which
/// blames `url`: the record came from that server.
fn to_json(what: &str, url: &str, value: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::InvalidResponse {
        url: url.to_owned(),
        message: format!("{what} cannot be serialized: {e}"),
    })
}

/// `GET {wdm}/devices`: the user's devices.
pub(crate) async fn list(http: &Http, wdm: &str) -> Result<Vec<Device>, Error> {
    let url = join(wdm, "devices")?;
    Ok(http
        .json::<DeviceList>(HttpRequest::get(url))
        .await?
        .devices)
}

/// Whether `error` is WDM's "User has excessive device registrations".
pub(crate) fn is_device_limit(error: &Error) -> bool {
    match error {
        Error::Http(e) => {
            e.code == codes::EXCESSIVE_DEVICE_REGISTRATIONS
                || std::iter::once(&e.message).chain(&e.details).any(|m| {
                    m.to_ascii_lowercase()
                        .contains("excessive device registrations")
                })
        }
        _ => false,
    }
}

/// The limit WDM reports in its error text ("… the limit is 100 …"), if any.
pub(crate) fn reported_limit(error: &Error) -> Option<u64> {
    let Error::Http(e) = error else { return None };
    std::iter::once(&e.message).chain(&e.details).find_map(|m| {
        let lower = m.to_ascii_lowercase();
        let rest = &lower[lower.find("limit is")? + "limit is".len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// This app's own devices among `devices` (same name and model), oldest first,
/// never including `keep`.
pub(crate) fn own_devices_oldest_first<'a>(
    devices: &'a [Device],
    body: &DeviceRequest,
    keep: Option<&str>,
) -> Vec<&'a Device> {
    let mut own: Vec<&Device> = devices
        .iter()
        .filter(|d| d.name == body.name && d.model == body.model)
        .filter(|d| Some(d.url.as_str()) != keep)
        .collect();
    own.sort_by(|a, b| {
        (a.creation_time.as_str(), a.modification_time.as_str())
            .cmp(&(b.creation_time.as_str(), b.modification_time.as_str()))
    });
    own
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HttpError;

    fn limit_error() -> Error {
        Error::from(HttpError {
            method: "POST".into(),
            url: "u".into(),
            status: 403,
            code: "excessive_device_registrations".into(),
            message: "User has excessive device registrations".into(),
            details: vec![
                "User has excessive device registrations".into(),
                "User has excessive device registrations (2 devices; the limit is 2). Delete unused devices first.".into(),
            ],
            tracking_id: "t".into(),
            retry_after: None,
        })
    }

    #[test]
    fn recognises_the_device_limit() {
        let e = limit_error();
        assert!(is_device_limit(&e));
        assert_eq!(reported_limit(&e), Some(2));
    }

    #[test]
    fn only_own_devices_are_candidates_oldest_first() {
        let d = |url: &str, name: &str, model: &str, created: &str| -> Device {
            serde_json::from_value(serde_json::json!({
                "url": url, "webSocketUrl": "ws://x", "name": name, "model": model,
                "creationTime": created,
            }))
            .unwrap()
        };
        let devices = vec![
            d("u3", "app", "webex-rs", "2024-01-03T00:00:00Z"),
            d("u1", "app", "webex-rs", "2024-01-01T00:00:00Z"),
            d("u0", "Webex Desktop", "webex-rs", "2023-01-01T00:00:00Z"),
            d("u2", "app", "web-js-sdk", "2023-06-01T00:00:00Z"),
            d("u4", "app", "webex-rs", "2024-01-04T00:00:00Z"),
        ];
        let body = request_body("app", None);
        let own: Vec<&str> = own_devices_oldest_first(&devices, &body, Some("u4"))
            .iter()
            .map(|d| d.url.as_str())
            .collect();
        assert_eq!(own, ["u1", "u3"]);
    }
}
