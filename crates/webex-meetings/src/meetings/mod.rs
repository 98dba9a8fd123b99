//! [`Meetings`]: register and unregister this app with Webex, and listen to
//! what happens.
//!
//! `register()` and `unregister()` are serialized: a call made while another
//! runs waits for it, then sees its outcome (both are idempotent).

mod cancel;
mod host;
mod status;
pub(crate) mod steps;
mod tasks;

use std::sync::{Arc, PoisonError};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webex_wire::device::Device;

pub use status::{RegistrationReport, RegistrationState, RegistrationStatus, Warning};

use crate::client::Shared;
use crate::device::{self as wdm, DeviceKey};
use crate::error::Error;
use crate::events::{EventStream, MeetingsEvent, Subscription};
use crate::mercury::{MercuryClient, MercuryEvent};

/// The meetings handle. Cheap to clone; all handles share one registration.
///
/// ```no_run
/// use webex_meetings::{Credentials, Webex, WebexConfig};
///
/// # async fn run() -> Result<(), webex_meetings::Error> {
/// let webex = Webex::init(WebexConfig::builder(Credentials::access_token("tok_PF84_org")).build()?);
/// let meetings = webex.meetings();
/// meetings.on("meetings:registered", |_| println!("registered"))?.detach();
/// let report = meetings.register().await?;
/// println!("device {}", report.device.url);
/// meetings.unregister().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Meetings {
    pub(crate) shared: Arc<Shared>,
}

/// The registration being held (behind the lifecycle lock).
#[derive(Default)]
pub(crate) struct Lifecycle {
    active: Option<Active>,
    /// A device whose DELETE failed; the next `unregister()` retries it.
    orphan: Option<(DeviceKey, Device)>,
}

struct Active {
    key: DeviceKey,
    mercury: MercuryClient,
    /// Cancels `tasks` (a child of the SDK's shutdown token).
    cancel: CancellationToken,
    /// The background tasks of this registration; `unregister()` waits for
    /// them so none outlives it.
    tasks: Vec<JoinHandle<()>>,
    report: RegistrationReport,
}

/// The registered device, readable without the lifecycle lock.
#[derive(Clone)]
pub(crate) struct CurrentDevice {
    pub(crate) device: Device,
    pub(crate) key: DeviceKey,
    pub(crate) wdm: String,
}

impl Shared {
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

    pub(crate) fn update_status(&self, f: impl FnOnce(&mut RegistrationStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl Meetings {
    /// Registers: catalog, `people/me`, device (reused if stored), Mercury,
    /// each step with its own timeout, independent ones at once and a warm
    /// start without waiting for what it remembers (see the device store);
    /// then emits
    /// `meetings:registered`. Returns at once when already registered.
    ///
    /// Errors name the failed step ([`crate::RegisterError`]); auth problems
    /// come as [`Error::Auth`], a full device quota as
    /// [`Error::DeviceLimitExceeded`].
    ///
    /// # Failure and cancellation
    ///
    /// A registration that fails, or whose future is dropped part-way,
    /// leaves no current device and the status unregistered. A device WDM
    /// already created is either kept and recorded — filed in the device
    /// store, so the next `register()` refreshes it instead of creating
    /// another, and deleted by the next `unregister()` — or, when the store
    /// cannot file it, deleted. (After a drop that cleanup runs on a
    /// spawned task.) One case is beyond any client: a future dropped while
    /// the device POST is on the wire, whose answer (and so the device's
    /// URL) never arrives; this app's devices are reclaimed when the quota
    /// is reached.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) {
    /// use std::time::Duration;
    /// // Giving up on a slow registration is safe: nothing is left half-made.
    /// if tokio::time::timeout(Duration::from_secs(5), meetings.register()).await.is_err() {
    ///     assert!(!meetings.is_registered());
    ///     assert!(meetings.device().is_none());
    /// }
    /// # }
    /// ```
    pub async fn register(&self) -> Result<RegistrationReport, Error> {
        let lifecycle = self.shared.lifecycle.lock().await;
        let mut guard = cancel::RegisterGuard::new(lifecycle, &self.shared);
        if let Some(active) = &guard.lifecycle.active {
            let report = active.report.clone();
            guard.settle();
            return Ok(report);
        }
        match self.run_register().await {
            Ok(active) => {
                let report = active.report.clone();
                guard.lifecycle.active = Some(active);
                if let Some((_, old)) = guard.lifecycle.orphan.take()
                    && old.url != report.device.url
                {
                    self.delete_orphan_later(old);
                }
                guard.settle();
                self.shared.update_status(|s| s.mark_registered(&report));
                self.shared.hub.emit(MeetingsEvent::Registered);
                Ok(report)
            }
            Err(e) => {
                tracing::warn!(error = %e, step = ?e.step(), "register failed");
                let installed = self.shared.replace_current_device(None);
                self.shared
                    .update_status(|s| s.mark_unregistered(Some(e.to_string())));
                if let Some(installed) = installed {
                    // Remembered first: a drop during the cleanup below
                    // still leaves it for the next `unregister()`.
                    guard.lifecycle.orphan =
                        Some((installed.key.clone(), installed.device.clone()));
                    guard.settle();
                    if !cancel::keep_or_delete(&self.shared, &installed).await {
                        guard.lifecycle.orphan = None;
                    }
                }
                guard.settle();
                Err(e)
            }
        }
    }

    /// Deletes `device`, an earlier registration's leftover, in the
    /// background (a failure is only logged).
    fn delete_orphan_later(&self, device: Device) {
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let limit = shared.config.timeouts.unregister;
            match tokio::time::timeout(limit, wdm::delete(&shared.http, &device.url)).await {
                Ok(Ok(())) => {
                    tracing::info!(device = %device.url, "deleted a device left by an earlier registration")
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, device = %device.url, "could not delete a leftover device")
                }
                Err(_) => {
                    tracing::warn!(device = %device.url, "deleting a leftover device timed out")
                }
            }
        });
    }

    async fn run_register(&self) -> Result<Active, Error> {
        let r = Box::pin(steps::register(&self.shared)).await?;
        let cancel = self.shared.shutdown.child_token();
        let background = spawn_background(&self.shared, r.events, &cancel);
        Ok(Active {
            key: r.key,
            mercury: r.mercury,
            cancel,
            tasks: background,
            report: RegistrationReport {
                device: r.device,
                reused_device: r.reused,
                person: r.person,
                default_site: r.default_site,
                warnings: r.warnings,
            },
        })
    }

    /// Unregisters: stops every timer and retry, closes the socket (1000),
    /// deletes the device (a 404 counts as success), forgets the stored
    /// device, then emits `meetings:unregistered`. Does nothing when not
    /// registered. If the DELETE fails, the error is returned and the next
    /// `unregister()` tries again.
    ///
    /// After `network:replaced` the device is left alone (neither deleted nor
    /// forgotten): the connection that replaced this one is using it.
    ///
    /// # Cancellation
    ///
    /// Dropping the future part-way still ends the registration: background
    /// tasks stop, the socket closes, there is no current device and the
    /// status is unregistered (`meetings:unregistered` is emitted). The
    /// device stays filed in the device store and remembered, so the next
    /// `unregister()` deletes it (and the next successful `register()`
    /// reuses or deletes it). A drop while only that leftover is being
    /// deleted keeps it remembered too.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::Error> {
    /// use std::time::Duration;
    /// if tokio::time::timeout(Duration::from_millis(100), meetings.unregister()).await.is_err() {
    ///     assert!(!meetings.is_registered());
    ///     meetings.unregister().await?; // deletes the device the first call left
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn unregister(&self) -> Result<(), Error> {
        let mut lifecycle = self.shared.lifecycle.lock().await;
        let limit = self.shared.config.timeouts.unregister;
        let Some(active) = lifecycle.active.take() else {
            // Cloned, not taken: a drop during the DELETE keeps it.
            let Some((key, device)) = lifecycle.orphan.clone() else {
                return Ok(());
            };
            self.delete_device(&key, &device, limit).await?;
            lifecycle.orphan = None;
            return Ok(());
        };
        let mut guard = cancel::UnregisterGuard::new(lifecycle, &self.shared, active);
        self.shared
            .update_status(|s| s.state = RegistrationState::Unregistering);
        let (key, fallback, tasks) = {
            let Some(active) = guard.active.as_mut() else {
                return Ok(());
            };
            active.cancel.cancel();
            if tokio::time::timeout(limit, active.mercury.close())
                .await
                .is_err()
            {
                tracing::warn!("mercury did not close within {limit:?}");
            }
            (
                active.key.clone(),
                active.report.device.clone(),
                std::mem::take(&mut active.tasks),
            )
        };
        tasks::join(tasks, limit).await;
        let device = self
            .shared
            .current_device()
            .map(|c| c.device)
            .unwrap_or(fallback);
        // After a 4000 the device belongs to the connection that replaced
        // this one (typically another instance sharing the device store):
        // deleting it would cut that instance off.
        let result = if self.status().replaced {
            tracing::info!(device = %device.url, "replaced by another connection: leaving the device to it");
            Ok(())
        } else {
            self.delete_device(&key, &device, limit).await
        };
        // The DELETE itself still names the device (as the JS SDK does).
        self.shared.replace_current_device(None);
        if result.is_err() {
            guard.lifecycle.orphan = Some((key, device));
        }
        guard.settle();
        drop(guard.active.take());
        self.shared.update_status(|s| {
            s.mark_unregistered(result.as_ref().err().map(ToString::to_string));
        });
        self.shared.hub.emit(MeetingsEvent::Unregistered);
        result
    }

    async fn delete_device(
        &self,
        key: &DeviceKey,
        device: &Device,
        limit: std::time::Duration,
    ) -> Result<(), Error> {
        match tokio::time::timeout(limit, wdm::delete(&self.shared.http, &device.url)).await {
            Ok(Ok(())) => {
                if let Err(e) = self.shared.config.device_store.remove(key).await {
                    tracing::warn!(error = %e, "could not forget the deleted device");
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout {
                url: device.url.clone(),
                after: limit,
            }),
        }
    }

    /// Waits until the SDK is ready. `Webex::init` makes it ready at once,
    /// so this never blocks; it exists so code written against the event
    /// model can await readiness explicitly.
    pub async fn ready(&self) {
        let mut events = self.shared.hub.subscribe();
        while let Some(e) = events.recv().await {
            if matches!(e, MeetingsEvent::Ready) {
                return;
            }
        }
    }

    /// Whether `register()` succeeded and `unregister()` has not run since.
    pub fn is_registered(&self) -> bool {
        self.status().state == RegistrationState::Registered
    }

    /// A snapshot of the registration.
    pub fn status(&self) -> RegistrationStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The registered device, if any.
    pub fn device(&self) -> Option<Device> {
        self.shared.current_device().map(|c| c.device)
    }

    /// Every event, starting with the current state (`meetings:ready`, then
    /// `meetings:registered` if registered), so subscribing late misses
    /// nothing that matters.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) {
    /// use futures::StreamExt;
    /// let mut events = meetings.events();
    /// assert_eq!(events.next().await.map(|e| e.name()).as_deref(), Some("meetings:ready"));
    /// # }
    /// ```
    pub fn events(&self) -> EventStream {
        self.shared.hub.subscribe()
    }

    /// Runs `handler` for every event named `name` (see
    /// [`MeetingsEvent::matches`]), starting with the current state. Dropping
    /// the returned [`Subscription`] unsubscribes; `.detach()` keeps it.
    ///
    /// `name` is a name from [`crate::EventName`], `event:<eventType>` (or a
    /// dotted prefix of it), `event` or `*`. Any other name is refused with
    /// [`Error::UnknownEvent`], which lists the known names: a handler that
    /// could never fire is almost always a typo. The events of one meeting
    /// (`members:update`, `meeting:stateChange`, `meeting:self:left`) are
    /// refused with [`Error::MeetingEventOnMeetings`]: subscribe to them on
    /// the [`crate::Meeting`] (`meeting.on(…)`).
    ///
    /// # Panics
    /// Outside a Tokio runtime (the handler runs on a spawned task).
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::Error> {
    /// let _sub = meetings.on("meetings:ready", |_| println!("ready"))?;
    /// assert!(meetings.on("meetings:registerd", |_| {}).is_err());
    /// assert!(meetings.on("members:update", |_| {}).is_err());
    /// # Ok(()) }
    /// ```
    pub fn on(
        &self,
        name: impl Into<String>,
        handler: impl Fn(MeetingsEvent) + Send + Sync + 'static,
    ) -> Result<Subscription, Error> {
        let name = name.into();
        crate::events::check_name(&name)?;
        Ok(Subscription::spawn(
            name,
            self.shared.hub.subscribe(),
            handler,
        ))
    }
}

/// Starts the registration's background tasks (event pump, token refresh,
/// ephemeral device refresh); they hold the SDK weakly and stop on `cancel`.
fn spawn_background(
    shared: &Arc<Shared>,
    events: mpsc::UnboundedReceiver<MercuryEvent>,
    cancel: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let weak = Arc::downgrade(shared);
    let mut background = vec![
        tokio::spawn(tasks::pump(weak.clone(), events, cancel.clone())),
        tokio::spawn(tasks::refresh_token(weak.clone(), cancel.clone())),
        tokio::spawn(crate::locus::worker::run(
            weak.clone(),
            shared.locus.attach_worker(),
            cancel.clone(),
        )),
    ];
    if let Some(ttl) = shared.config.ephemeral_ttl {
        background.push(tokio::spawn(tasks::refresh_device(
            weak,
            ttl,
            cancel.clone(),
        )));
    }
    background
}

impl std::fmt::Debug for Meetings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meetings")
            .field("status", &self.status())
            .finish()
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
        let shared = &webex.shared;

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
        let shared = &webex.shared;
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
