//! [`Core`]: what every feature of the SDK works with — the configuration,
//! the HTTP client (with its tokens), the service URLs, the event fan-out,
//! the registered device and the registration status. The features
//! (`locus`, `registration`) take it; it knows none of them.

mod status;

use std::sync::{Arc, Mutex, PoisonError};

use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use webex_wire::device::Device;

pub use status::{RegistrationReport, RegistrationState, RegistrationStatus, Warning};

use crate::config::WebexConfig;
use crate::credentials::{TokenManager, org_id_of};
use crate::device::DeviceKey;
use crate::error::{CallStep, Error, RegisterError};
use crate::events::{EventHub, MeetingsEvent};
use crate::http::{Http, Transport};
use crate::services::{Services, catalog};

/// The SDK's shared state. [`crate::Webex`] and [`crate::Meetings`] hold it
/// (through the features); background tasks hold it weakly, so dropping
/// the SDK stops them.
pub(crate) struct Core {
    pub(crate) config: WebexConfig,
    pub(crate) http: Http,
    /// Service URLs learned from the catalog.
    pub(crate) services: Arc<Services>,
    pub(crate) events: Arc<EventHub>,
    device: Mutex<Option<CurrentDevice>>,
    status: Mutex<RegistrationStatus>,
    /// Cancelled when the SDK is dropped.
    pub(crate) shutdown: CancellationToken,
}

/// The registered device, readable without the registration's lock.
#[derive(Clone)]
pub(crate) struct CurrentDevice {
    pub(crate) device: Device,
    pub(crate) key: DeviceKey,
    pub(crate) wdm: String,
}

impl Drop for Core {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Core {
    /// Builds the core of a new SDK instance. Does no I/O; `meetings:ready`
    /// is emitted at once.
    pub(crate) fn new(config: WebexConfig) -> Arc<Self> {
        let transport = Arc::new(Transport::new(
            config.http.clone(),
            &config.user_agent,
            &config.http_user_agent,
            config.retry,
            config.timeouts.request,
        ));
        let services = Arc::new(Services::new(
            config.hydra_url.clone(),
            config.token_url.clone(),
            config.self_hosted,
        ));
        services.trust_url(config.discovery_url.as_str());
        if let Some(token_url) = &config.token_url {
            services.trust_url(token_url);
        }
        let events = Arc::new(EventHub::default());
        let on_refresh = {
            let events = Arc::clone(&events);
            Box::new(move || events.emit(MeetingsEvent::TokenRefreshed))
        };
        let tokens = Arc::new(TokenManager::new(
            config.credentials.clone(),
            Arc::clone(&transport),
            Arc::clone(&services),
            on_refresh,
        ));
        events.emit(MeetingsEvent::Ready);
        Arc::new(Self {
            http: Http {
                transport,
                tokens,
                services: Arc::clone(&services),
            },
            services,
            events,
            device: Mutex::new(None),
            status: Mutex::new(RegistrationStatus::default()),
            shutdown: CancellationToken::new(),
            config,
        })
    }

    /// A usable access token (bounded as the `credentials` step); returns
    /// the org id it encodes.
    pub(crate) async fn org_id(&self) -> Result<Option<String>, Error> {
        RegisterError::bounded(
            CallStep::Credentials,
            self.config.timeouts.credentials,
            async {
                let lease = self.http.tokens.current().await?;
                Ok(org_id_of(lease.token.expose_secret()))
            },
        )
        .await
    }

    /// Fetches the service catalog (bounded as the `catalog` step), adopts
    /// its URLs and returns the `wdm` base URL (a catalog without one is an
    /// error).
    pub(crate) async fn wdm(&self, org_id: Option<&str>) -> Result<String, Error> {
        let discovered = RegisterError::bounded(
            CallStep::Catalog,
            self.config.timeouts.catalog,
            catalog::fetch(&self.http, &self.config.discovery_url, org_id),
        )
        .await?;
        self.services.adopt(&discovered);
        // `fetch` refuses a catalog without `wdm`, so this is the URL it listed.
        self.services.wdm().ok_or_else(|| Error::InvalidResponse {
            url: self.config.discovery_url.to_string(),
            message: "the service catalog lists no `wdm` service".into(),
        })
    }

    pub(crate) fn current_device(&self) -> Option<CurrentDevice> {
        self.device
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the registered device's record (refreshed or registered
    /// again); requests name it in `cisco-device-url` from now on. Does
    /// nothing once the registration is gone, so a late refresh can never
    /// bring back the header of a device `unregister()` deleted.
    pub(crate) fn set_current_device(&self, device: Device) {
        let mut current = self.device.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(c) = current.as_mut() else {
            tracing::debug!(device = %device.url, "no registration any more: ignoring the device record");
            return;
        };
        self.http.transport.set_device_url(Some(&device.url));
        self.update_status(|s| s.device_url = Some(device.url.clone()));
        c.device = device;
    }

    /// Files `device` in the device store under `key` (a failure is only
    /// logged: the device works, it just will not be reused after a
    /// restart), then makes it the current device.
    pub(crate) async fn adopt_device(&self, key: &DeviceKey, device: Device) {
        if let Err(e) = self.config.device_store.save(key, &device).await {
            tracing::warn!(error = %e, device = %device.url, "could not store the device; it will not be reused after a restart");
        }
        self.set_current_device(device);
    }

    /// Installs (or clears) the registered device and the
    /// `cisco-device-url` header; returns the previous one.
    pub(crate) fn replace_current_device(
        &self,
        current: Option<CurrentDevice>,
    ) -> Option<CurrentDevice> {
        self.http
            .transport
            .set_device_url(current.as_ref().map(|c| c.device.url.as_str()));
        std::mem::replace(
            &mut *self.device.lock().unwrap_or_else(PoisonError::into_inner),
            current,
        )
    }

    /// A snapshot of the registration status.
    pub(crate) fn status(&self) -> RegistrationStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn update_status(&self, f: impl FnOnce(&mut RegistrationStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

#[cfg(test)]
mod tests {
    use crate::{Credentials, Webex, WebexConfig};

    use super::*;

    fn device(url: &str) -> Device {
        serde_json::from_value(serde_json::json!({
            "url": url,
            "webSocketUrl": "ws://127.0.0.1:1/m",
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Regression: an ephemeral-device refresh that finished after
    /// `unregister()` used to put the deleted device back into
    /// `cisco-device-url` and the status.
    #[test]
    fn a_late_device_record_does_not_outlive_the_registration() {
        let config = WebexConfig::builder(Credentials::access_token("a_b_c"))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let webex = Webex::init(config);
        let shared = &webex.core;

        shared.set_current_device(device("http://127.0.0.1:1/devices/late"));

        assert!(shared.current_device().is_none());
        assert!(shared.http.transport.device_url().is_none());
        assert_eq!(webex.meetings().status().device_url, None);
    }

    #[test]
    fn the_current_device_record_is_replaced_while_registered() {
        let config = WebexConfig::builder(Credentials::access_token("a_b_c"))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let webex = Webex::init(config);
        let shared = &webex.core;
        shared.replace_current_device(Some(CurrentDevice {
            device: device("http://127.0.0.1:1/devices/d1"),
            key: DeviceKey {
                discovery_url: String::new(),
                user_id: String::new(),
                device_name: "app".into(),
            },
            wdm: "http://127.0.0.1:1".into(),
        }));

        shared.set_current_device(device("http://127.0.0.1:1/devices/d2"));

        let url = "http://127.0.0.1:1/devices/d2";
        assert_eq!(
            shared.current_device().map(|c| c.device.url).as_deref(),
            Some(url)
        );
        assert_eq!(
            shared
                .http
                .transport
                .device_url()
                .as_ref()
                .map(|v| v.as_bytes()),
            Some(url.as_bytes())
        );
        assert_eq!(webex.meetings().status().device_url.as_deref(), Some(url));
    }
}
