//! Registration: this app's device with WDM and its Mercury socket, held
//! from `register()` to `unregister()`, with the background work that
//! keeps them alive.
//!
//! `register()` and `unregister()` are serialized: a call made while another
//! runs waits for it, then sees its outcome (both are idempotent).
//!
//! - `steps`: the steps of `register()`, each bounded and named.
//! - `host`: what the Mercury client asks of the SDK (tokens, re-registration).
//! - `tasks`: the event pump and the refresh timers.
//! - `cancel`: what a failed or dropped `register()`/`unregister()` leaves.

mod cancel;
mod host;
mod steps;
mod tasks;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webex_wire::device::Device;

use crate::core::{Core, RegistrationReport, RegistrationState};
use crate::device::{self as wdm, DeviceKey};
use crate::error::Error;
use crate::events::MeetingsEvent;
use crate::locus::Collection;
use crate::mercury::{MercuryClient, MercuryEvent};

/// The registration of one SDK instance (shared by every `Meetings` handle).
pub(crate) struct Registration {
    core: Arc<Core>,
    /// The meetings list: it gets the Locus events and its worker runs
    /// while registered.
    list: Arc<Collection>,
    lifecycle: tokio::sync::Mutex<Lifecycle>,
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

impl Registration {
    pub(crate) fn new(core: Arc<Core>, list: Arc<Collection>) -> Self {
        Self {
            core,
            list,
            lifecycle: tokio::sync::Mutex::new(Lifecycle::default()),
        }
    }

    /// See [`crate::Meetings::register`].
    pub(crate) async fn register(&self) -> Result<RegistrationReport, Error> {
        let lifecycle = self.lifecycle.lock().await;
        let mut guard = cancel::RegisterGuard::new(lifecycle, &self.core);
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
                self.core.update_status(|s| s.mark_registered(&report));
                self.core.events.emit(MeetingsEvent::Registered);
                Ok(report)
            }
            Err(e) => {
                tracing::warn!(error = %e, step = ?e.step(), "register failed");
                let installed = self.core.replace_current_device(None);
                self.core
                    .update_status(|s| s.mark_unregistered(Some(e.to_string())));
                if let Some(installed) = installed {
                    // Remembered first: a drop during the cleanup below
                    // still leaves it for the next `unregister()`.
                    guard.lifecycle.orphan =
                        Some((installed.key.clone(), installed.device.clone()));
                    guard.settle();
                    if !cancel::keep_or_delete(&self.core, &installed).await {
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
        let core = Arc::clone(&self.core);
        tokio::spawn(async move {
            let limit = core.config.timeouts.unregister;
            match tokio::time::timeout(limit, wdm::delete(&core.http, &device.url)).await {
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
        let r = Box::pin(steps::register(&self.core)).await?;
        let cancel = self.core.shutdown.child_token();
        let background = self.spawn_background(r.events, &cancel);
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

    /// See [`crate::Meetings::unregister`].
    pub(crate) async fn unregister(&self) -> Result<(), Error> {
        let mut lifecycle = self.lifecycle.lock().await;
        let limit = self.core.config.timeouts.unregister;
        let Some(active) = lifecycle.active.take() else {
            // Cloned, not taken: a drop during the DELETE keeps it.
            let Some((key, device)) = lifecycle.orphan.clone() else {
                return Ok(());
            };
            self.delete_device(&key, &device, limit).await?;
            lifecycle.orphan = None;
            return Ok(());
        };
        self.list.stop_all_media();
        let mut guard = cancel::UnregisterGuard::new(lifecycle, &self.core, active);
        self.core
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
            .core
            .current_device()
            .map(|c| c.device)
            .unwrap_or(fallback);
        // After a 4000 the device belongs to the connection that replaced
        // this one (typically another instance sharing the device store):
        // deleting it would cut that instance off.
        let result = if self.core.status().replaced {
            tracing::info!(device = %device.url, "replaced by another connection: leaving the device to it");
            Ok(())
        } else {
            self.delete_device(&key, &device, limit).await
        };
        // The DELETE itself still names the device (as the JS SDK does).
        self.core.replace_current_device(None);
        if result.is_err() {
            guard.lifecycle.orphan = Some((key, device));
        }
        guard.settle();
        drop(guard.active.take());
        self.core.update_status(|s| {
            s.mark_unregistered(result.as_ref().err().map(ToString::to_string));
        });
        self.core.events.emit(MeetingsEvent::Unregistered);
        result
    }

    async fn delete_device(
        &self,
        key: &DeviceKey,
        device: &Device,
        limit: std::time::Duration,
    ) -> Result<(), Error> {
        match tokio::time::timeout(limit, wdm::delete(&self.core.http, &device.url)).await {
            Ok(Ok(())) => {
                if let Err(e) = self.core.config.device_store.remove(key).await {
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

    /// Starts the registration's background tasks (event pump, token
    /// refresh, meetings worker, ephemeral device refresh); they hold the
    /// SDK weakly and stop on `cancel`.
    fn spawn_background(
        &self,
        events: mpsc::UnboundedReceiver<MercuryEvent>,
        cancel: &CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        let core = Arc::downgrade(&self.core);
        let list = Arc::downgrade(&self.list);
        let mut background = vec![
            tokio::spawn(tasks::pump(list.clone(), events, cancel.clone())),
            tokio::spawn(tasks::refresh_token(core.clone(), cancel.clone())),
            tokio::spawn(crate::locus::worker::run(
                list,
                self.list.attach_worker(),
                cancel.clone(),
            )),
        ];
        if let Some(ttl) = self.core.config.ephemeral_ttl {
            background.push(tokio::spawn(tasks::refresh_device(
                core,
                ttl,
                cancel.clone(),
            )));
        }
        background
    }
}
