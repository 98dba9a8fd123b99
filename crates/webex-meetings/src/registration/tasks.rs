//! Background work while registered: forwarding Mercury events, refreshing
//! an ephemeral device before its TTL runs out, and refreshing the token
//! before it expires. All of it stops when the registration's token is
//! cancelled (unregister) or the SDK is dropped.

use std::sync::Weak;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::core::Core;
use crate::device::{self, Refreshed};
use crate::events::MeetingsEvent;
use crate::locus::{Collection, Input};
use crate::mercury::MercuryEvent;

use super::steps;

/// Waits for cancelled `tasks` to end (they stop at their next await),
/// aborting whatever is still running after `limit`.
pub(crate) async fn join(tasks: Vec<JoinHandle<()>>, limit: Duration) {
    let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
    if tokio::time::timeout(limit, futures::future::join_all(tasks))
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop within {limit:?}; aborting them");
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

/// Turns Mercury events into meetings events, handing Locus events to the
/// meetings list.
pub(crate) async fn pump(
    list: Weak<Collection>,
    mut rx: mpsc::UnboundedReceiver<MercuryEvent>,
    cancel: CancellationToken,
) {
    // Whether the last `network:disconnected` promised a reconnect: if the
    // client then gives up, the app must hear that none is coming.
    let mut reconnect_promised = false;
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = rx.recv() => match e { Some(e) => e, None => return },
        };
        let Some(list) = list.upgrade() else {
            return;
        };
        let core = &list.core;
        match event {
            MercuryEvent::Message(frame) => {
                list.on_frame(&frame);
                core.events.emit(MeetingsEvent::Mercury(frame));
            }
            MercuryEvent::Disconnected {
                code,
                reason,
                will_reconnect,
            } => {
                core.update_status(|s| {
                    s.connected = false;
                    s.last_error = Some(format!("socket closed ({code:?}): {reason}"));
                });
                reconnect_promised = will_reconnect;
                core.events.emit(MeetingsEvent::NetworkDisconnected {
                    code,
                    reason,
                    will_reconnect,
                });
            }
            MercuryEvent::Reconnected => {
                reconnect_promised = false;
                core.update_status(|s| s.connected = true);
                core.events.emit(MeetingsEvent::NetworkReconnected);
                list.schedule(Input::Reconnected);
            }
            MercuryEvent::Replaced => {
                core.update_status(|s| {
                    s.connected = false;
                    s.replaced = true;
                });
                core.events.emit(MeetingsEvent::Replaced);
            }
            MercuryEvent::Stopped(e) => {
                tracing::warn!(error = %e, "mercury stopped");
                core.update_status(|s| {
                    s.connected = false;
                    s.last_error = Some(e.to_string());
                });
                // The official SDK's `offline.permanent`: e.g. a fixed
                // access token refused after a 4401 cannot be refreshed.
                if std::mem::take(&mut reconnect_promised) {
                    core.events.emit(MeetingsEvent::NetworkDisconnected {
                        code: None,
                        reason: e.to_string(),
                        will_reconnect: false,
                    });
                }
            }
            MercuryEvent::Reregistered { .. } => {
                tracing::info!("device re-registered by mercury");
            }
            // The token manager already announced the refresh.
            MercuryEvent::TokenRefreshed => {}
        }
    }
}

/// How long after a registration an ephemeral device is refreshed: half its
/// TTL, so one failed refresh still leaves time for another.
pub(crate) fn device_refresh_interval(ttl: Duration) -> Duration {
    (ttl / 2).max(Duration::from_secs(1))
}

/// PUTs the device every half TTL while registered.
pub(crate) async fn refresh_device(core: Weak<Core>, ttl: Duration, cancel: CancellationToken) {
    let interval = device_refresh_interval(ttl);
    let mut wait = interval;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(core) = core.upgrade() else {
            return;
        };
        let Some(current) = core.current_device() else {
            return;
        };
        let body = steps::device_body(&core);
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            r = device::refresh(&core.http, &current.device, &body) => r,
        };
        wait = match outcome {
            Ok(Refreshed::Alive(d)) => {
                tracing::debug!(device = %d.url, "ephemeral device refreshed");
                core.adopt_device(&current.key, *d).await;
                interval
            }
            Ok(Refreshed::Gone) => {
                // Mercury is closed with 4404 and re-registers the device.
                tracing::warn!("device expired or was deleted; waiting for mercury to re-register");
                interval
            }
            Err(e) => {
                tracing::warn!(error = %e, "device refresh failed; retrying soon");
                core.update_status(|s| s.last_error = Some(e.to_string()));
                (interval / 4).max(Duration::from_secs(1))
            }
        };
    }
}

/// Refreshes the access token at a random 60–90 % of its remaining lifetime.
pub(crate) async fn refresh_token(core: Weak<Core>, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let wait = {
            let Some(core) = core.upgrade() else {
                return;
            };
            let tokens = &core.http.tokens;
            let Some(expires_at) = tokens.expires_at() else {
                return;
            };
            if !tokens.can_refresh() {
                return;
            }
            let remaining = expires_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            if failures > 0 {
                // Retry sooner than expiry while the token is still good;
                // once it has expired, back off 2, 4, … 60 s so a failing
                // identity service is not hammered nor the token quota burnt.
                let floor = Duration::from_secs(1);
                if remaining > floor * 2 {
                    core.config
                        .retry
                        .backoff(failures - 1)
                        .min(remaining / 2)
                        .max(floor)
                } else {
                    (floor * 2u32.pow(failures.min(6))).min(Duration::from_secs(60))
                }
            } else {
                remaining.mul_f64(rand::rng().random_range(0.6..0.9))
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(core) = core.upgrade() else {
            return;
        };
        let tokens = &core.http.tokens;
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokens.refresh(tokens.generation()) => r,
        };
        match result {
            Ok(_) => failures = 0,
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "token refresh failed; retrying");
                failures += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, "token refresh failed for good");
                core.update_status(|s| s.last_error = Some(e.to_string()));
                return;
            }
        }
    }
}
