//! The steps of `register()`, each bounded by its own timeout and failing
//! with an error that names it.

use std::future::Future;
use std::time::Duration;

use secrecy::ExposeSecret;
use webex_wire::device::{Device, DeviceRequest};
use webex_wire::people::{Person, PersonType};

use super::status::Warning;
use crate::client::Shared;
use crate::credentials::org_id_of;
use crate::device::{self, DeviceKey, Refreshed};
use crate::error::{AuthError, Error, RegisterError, Step};
use crate::http::Http;
use crate::people;
use crate::services::catalog;

/// Runs `fut` as `step`: bounded by `limit`, errors tagged with the step.
pub(crate) async fn bounded<T>(
    step: Step,
    limit: Duration,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(|e| RegisterError::wrap(step, e)),
        Err(_) => Err(RegisterError::Timeout { step, after: limit }.into()),
    }
}

/// Step 1: a usable access token; returns the org id it encodes.
pub(crate) async fn credentials(shared: &Shared) -> Result<Option<String>, Error> {
    bounded(
        Step::Credentials,
        shared.config.timeouts.credentials,
        async {
            let lease = shared.http.tokens.current().await?;
            Ok(org_id_of(lease.token.expose_secret()))
        },
    )
    .await
}

/// Step 2: the service catalog; adopts its `hydra` and returns the `wdm`
/// base URL (a catalog without one is an error).
pub(crate) async fn catalog(shared: &Shared, org_id: Option<&str>) -> Result<String, Error> {
    let discovered = bounded(
        Step::Catalog,
        shared.config.timeouts.catalog,
        catalog::fetch(&shared.http, &shared.config.discovery_url, org_id),
    )
    .await?;
    shared.services.adopt(&discovered);
    // `fetch` refuses a catalog without `wdm`, so this is the URL it listed.
    shared.services.wdm().ok_or_else(|| Error::InvalidResponse {
        url: shared.config.discovery_url.to_string(),
        message: "the service catalog lists no `wdm` service".into(),
    })
}

/// Step 3: `people/me` and `meetingPreferences`; a missing scope or an
/// unavailable endpoint degrades to a warning.
pub(crate) async fn people(
    shared: &Shared,
    warnings: &mut Vec<Warning>,
) -> Result<(Option<Person>, Option<String>), Error> {
    let hydra = shared.services.hydra();
    let limit = shared.config.timeouts.people;
    let person = match bounded(Step::PeopleMe, limit, people::me(&shared.http, &hydra)).await {
        Ok(p) => Some(p),
        Err(Error::Auth(AuthError::MissingScope(reason))) => {
            warnings.push(Warning::MissingScope {
                call: "people/me",
                reason,
            });
            None
        }
        Err(Error::Register(RegisterError::PeopleMe(e)))
            if matches!(e.status(), Some(403 | 404 | 501)) =>
        {
            warnings.push(Warning::PeopleMeUnavailable {
                reason: e.to_string(),
            });
            None
        }
        Err(e) => return Err(e),
    };
    let wants_site = shared.config.meeting_preferences
        && person
            .as_ref()
            .is_none_or(|p| p.kind != PersonType::Appuser);
    let site = if wants_site {
        default_site(shared, &hydra, warnings).await
    } else {
        None
    };
    Ok((person, site))
}

/// `meetingPreferences`, optional: any failure degrades to a warning.
async fn default_site(shared: &Shared, hydra: &str, warnings: &mut Vec<Warning>) -> Option<String> {
    let limit = shared.config.timeouts.people;
    let warning = match tokio::time::timeout(limit, people::default_site(&shared.http, hydra)).await
    {
        Ok(Ok(site)) => return site,
        Ok(Err(Error::Auth(AuthError::MissingScope(reason)))) => Warning::MissingScope {
            call: "meetingPreferences",
            reason,
        },
        Ok(Err(e)) => Warning::MeetingPreferencesUnavailable {
            reason: e.to_string(),
        },
        Err(_) => Warning::MeetingPreferencesUnavailable {
            reason: format!("no answer within {limit:?}"),
        },
    };
    warnings.push(warning);
    None
}

/// The request body this app registers with.
pub(crate) fn device_body(shared: &Shared) -> DeviceRequest {
    device::request_body(
        &shared.config.device_name,
        shared.config.ephemeral_ttl.map(|t| t.as_secs().max(1)),
    )
}

/// Step 4: refresh the stored device (PUT) or register one (POST), reclaiming
/// this app's own oldest devices once if the quota is full.
pub(crate) async fn device(
    shared: &Shared,
    key: &DeviceKey,
    wdm: &str,
    warnings: &mut Vec<Warning>,
) -> Result<(Device, bool), Error> {
    bounded(Step::Device, shared.config.timeouts.device, async {
        let store = &shared.config.device_store;
        let stored = match store.load(key).await {
            Ok(d) => d,
            Err(e) => {
                warnings.push(Warning::DeviceStore {
                    reason: e.to_string(),
                });
                None
            }
        };
        let (device, reused) = put_or_post(
            &shared.http,
            wdm,
            stored.as_ref(),
            &device_body(shared),
            warnings,
        )
        .await?;
        if let Err(e) = store.save(key, &device).await {
            warnings.push(Warning::DeviceStore {
                reason: e.to_string(),
            });
        }
        Ok((device, reused))
    })
    .await
}

/// PUT `stored` if given (POST when WDM no longer knows it), else POST.
pub(crate) async fn put_or_post(
    http: &Http,
    wdm: &str,
    stored: Option<&Device>,
    body: &DeviceRequest,
    warnings: &mut Vec<Warning>,
) -> Result<(Device, bool), Error> {
    if let Some(stored) = stored {
        match device::refresh(http, stored, body).await {
            Ok(Refreshed::Alive(d)) => return Ok((*d, true)),
            Ok(Refreshed::Gone) => {
                tracing::info!("stored device is gone; registering a new one");
            }
            Err(Error::Http(e)) if e.status == 403 => {
                tracing::info!("stored device is not ours (403); registering a new one");
            }
            Err(e) => return Err(e),
        }
    }
    Ok((
        create_reclaiming(http, wdm, body, stored, warnings).await?,
        false,
    ))
}

/// POST; on "excessive device registrations", delete this app's own oldest
/// devices (same name and model, never other clients') and retry once.
async fn create_reclaiming(
    http: &Http,
    wdm: &str,
    body: &DeviceRequest,
    current: Option<&Device>,
    warnings: &mut Vec<Warning>,
) -> Result<Device, Error> {
    let first = match device::create(http, wdm, body).await {
        Ok(d) => return Ok(d),
        Err(e) if device::is_device_limit(&e) => e,
        Err(e) => return Err(e),
    };
    let devices = device::list(http, wdm).await?;
    let count = devices.len() as u64;
    let limit = device::reported_limit(&first).unwrap_or(count);
    let own = device::own_devices_oldest_first(&devices, body, current.map(|d| d.url.as_str()));
    // Free one slot, plus any excess over the limit.
    let to_delete = (count + 1).saturating_sub(limit).max(1) as usize;
    let victims: Vec<&Device> = own.into_iter().take(to_delete).collect();
    if victims.is_empty() {
        return Err(Error::DeviceLimitExceeded { count, limit });
    }
    let mut urls = Vec::new();
    for victim in victims {
        tracing::warn!(device = %victim.url, "device limit reached: deleting this app's oldest device");
        device::delete(http, &victim.url).await?;
        urls.push(victim.url.clone());
    }
    warnings.push(Warning::DevicesReclaimed { urls });
    match device::create(http, wdm, body).await {
        Err(e) if device::is_device_limit(&e) => Err(Error::DeviceLimitExceeded { count, limit }),
        other => other,
    }
}
