//! What a `register()` or `unregister()` that ends early leaves behind: a
//! failed one, or one whose future was dropped part-way (a `select!`, a
//! timeout, an aborted task). Either way a device WDM created is never
//! left both alive and forgotten:
//!
//! - it is **kept and recorded** — filed in the device store, so the next
//!   `register()` refreshes it instead of creating another, and remembered
//!   as the orphan that the next `unregister()` deletes (or that the next
//!   successful `register()` deletes if it ends up on another device);
//! - or, when the store cannot record it, **deleted**.
//!
//! The guards here run that rule from `Drop` (in a spawned task: `Drop`
//! cannot wait) when the future goes away before it settled.

use std::sync::Arc;

use tokio::sync::MutexGuard;

use super::{Active, Lifecycle};
use crate::core::{Core, CurrentDevice};
use crate::device as wdm;
use crate::events::MeetingsEvent;

/// Keeps `installed` (filed in the store, so the next `register()` reuses
/// it) or, when the store cannot file it, deletes it. Returns whether it
/// was kept.
pub(crate) async fn keep_or_delete(core: &Core, installed: &CurrentDevice) -> bool {
    let store = &core.config.device_store;
    let recorded = matches!(
        store.load(&installed.key).await,
        Ok(Some(d)) if d.url == installed.device.url
    );
    if recorded {
        return true;
    }
    match store.save(&installed.key, &installed.device).await {
        Ok(()) => return true,
        Err(e) => {
            tracing::warn!(error = %e, device = %installed.device.url, "cannot record the device of a failed registration: deleting it");
        }
    }
    let limit = core.config.timeouts.unregister;
    match tokio::time::timeout(limit, wdm::delete(&core.http, &installed.device.url)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, device = %installed.device.url, "could not delete the device of a failed registration")
        }
        Err(_) => {
            tracing::warn!(device = %installed.device.url, "deleting the device of a failed registration timed out")
        }
    }
    false
}

/// Runs `fut` on the current runtime if there is one (from `Drop`).
fn spawn(fut: impl std::future::Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(fut);
        }
        Err(_) => tracing::warn!("dropped outside a Tokio runtime: no cleanup task"),
    }
}

/// A `register()` in flight, holding the lifecycle lock. Dropped before
/// [`RegisterGuard::settle`], it clears the half-made registration: no
/// current device, status unregistered, the device (if WDM created one)
/// remembered as the orphan and kept or deleted in the background.
pub(crate) struct RegisterGuard<'a> {
    pub(crate) lifecycle: MutexGuard<'a, Lifecycle>,
    core: &'a Arc<Core>,
    settled: bool,
}

impl<'a> RegisterGuard<'a> {
    pub(crate) fn new(lifecycle: MutexGuard<'a, Lifecycle>, core: &'a Arc<Core>) -> Self {
        Self {
            lifecycle,
            core,
            settled: false,
        }
    }

    /// The registration ended one way or the other; nothing to clean up.
    pub(crate) fn settle(&mut self) {
        self.settled = true;
    }
}

impl Drop for RegisterGuard<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        tracing::info!("register() dropped before it finished: cleaning up");
        let installed = self.core.replace_current_device(None);
        self.core.update_status(|s| {
            s.mark_unregistered(Some("register() was cancelled".to_owned()));
        });
        if let Some(installed) = installed {
            self.lifecycle.orphan = Some((installed.key.clone(), installed.device.clone()));
            let core = Arc::clone(self.core);
            spawn(async move {
                keep_or_delete(&core, &installed).await;
            });
        }
    }
}

/// An `unregister()` in flight, owning the registration it took. Dropped
/// before [`UnregisterGuard::settle`], it stops what the registration ran
/// (background tasks, Mercury), clears the current device and remembers
/// the device as the orphan, still filed in the store, so the next
/// `unregister()` deletes it.
pub(crate) struct UnregisterGuard<'a> {
    pub(crate) lifecycle: MutexGuard<'a, Lifecycle>,
    core: &'a Arc<Core>,
    /// The registration being torn down, until its device is settled.
    pub(crate) active: Option<Active>,
    settled: bool,
}

impl<'a> UnregisterGuard<'a> {
    pub(crate) fn new(
        lifecycle: MutexGuard<'a, Lifecycle>,
        core: &'a Arc<Core>,
        active: Active,
    ) -> Self {
        Self {
            lifecycle,
            core,
            active: Some(active),
            settled: false,
        }
    }

    /// The device is dealt with (deleted, left to another connection, or
    /// filed as the orphan by the caller).
    pub(crate) fn settle(&mut self) {
        self.settled = true;
    }
}

impl Drop for UnregisterGuard<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        tracing::info!(
            "unregister() dropped before it finished: the next unregister() deletes the device"
        );
        let Some(active) = self.active.take() else {
            return;
        };
        active.cancel.cancel();
        for task in &active.tasks {
            task.abort();
        }
        let device = self
            .core
            .replace_current_device(None)
            .map(|c| c.device)
            .unwrap_or(active.report.device);
        self.lifecycle.orphan = Some((active.key, device));
        self.core.update_status(|s| {
            s.mark_unregistered(Some("unregister() was cancelled".to_owned()));
        });
        self.core.events.emit(MeetingsEvent::Unregistered);
        // `active.mercury` is dropped here, which closes the socket.
    }
}
