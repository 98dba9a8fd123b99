//! The steps of `register()`, each bounded by its own timeout and failing
//! with an error that names it.

use std::sync::Arc;

use tokio::sync::mpsc;

use webex_wire::device::{Device, DeviceRequest};
use webex_wire::people::{Person, PersonType};

use super::host::Host;
use crate::core::{Core, CurrentDevice, RegistrationState, Warning};
use crate::device::{self, DeviceKey, Refreshed, Session, SessionKey};
use crate::error::{AuthError, CallStep, Error, RegisterError, Step};
use crate::http::Http;
use crate::mercury::{MercuryClient, MercuryEvent, MercuryHost};
use crate::people;

/// Step 3: `GET {hydra}/people/me` at the `hydra` known now; a missing
/// scope or an unavailable endpoint degrades to a warning.
pub(crate) async fn people_me(core: &Core) -> Result<(Option<Person>, Vec<Warning>), Error> {
    let hydra = core.services.hydra();
    let limit = core.config.timeouts.people;
    let mut warnings = Vec::new();
    let person =
        match RegisterError::bounded(CallStep::PeopleMe, limit, people::me(&core.http, &hydra))
            .await
        {
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
    Ok((person, warnings))
}

/// `meetingPreferences`, optional (and skipped when disabled): any failure
/// degrades to a warning. Runs alongside `people/me`; an app user's answer
/// is dropped afterwards ([`site_for`]).
async fn default_site(core: &Core) -> (Option<String>, Vec<Warning>) {
    if !core.config.meeting_preferences {
        return (None, Vec::new());
    }
    let hydra = core.services.hydra();
    let limit = core.config.timeouts.people;
    let warning = match tokio::time::timeout(limit, people::default_site(&core.http, &hydra)).await
    {
        Ok(Ok(site)) => return (site, Vec::new()),
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
    (None, vec![warning])
}

/// The default site as `register()` reports it: none for an app user (the
/// SDK never asks on their behalf).
fn site_for(
    person: Option<&Person>,
    site: (Option<String>, Vec<Warning>),
    warnings: &mut Vec<Warning>,
) -> Option<String> {
    if person.is_some_and(|p| p.kind == PersonType::Appuser) {
        return None;
    }
    warnings.extend(site.1);
    site.0
}

/// The request body this app registers with.
pub(crate) fn device_body(core: &Core) -> DeviceRequest {
    device::request_body(
        &core.config.device_name,
        core.config.ephemeral_ttl.map(|t| t.as_secs().max(1)),
    )
}

/// Step 4: refresh the stored device (PUT) or register one (POST), reclaiming
/// this app's own oldest devices once if the quota is full. The caller files
/// the result ([`remember`]).
pub(crate) async fn device(
    core: &Core,
    key: &DeviceKey,
    wdm: &str,
    warnings: &mut Vec<Warning>,
) -> Result<(Device, bool), Error> {
    RegisterError::bounded(CallStep::Device, core.config.timeouts.device, async {
        let store = &core.config.device_store;
        let stored = match store.load(key).await {
            Ok(d) => d,
            Err(e) => {
                warnings.push(Warning::DeviceStore {
                    reason: e.to_string(),
                });
                None
            }
        };
        put_or_post(
            &core.http,
            wdm,
            stored.as_ref(),
            &device_body(core),
            warnings,
        )
        .await
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

/// What a successful registration hands to [`super::Registration`].
pub(crate) struct Registration {
    pub(crate) key: DeviceKey,
    pub(crate) device: Device,
    pub(crate) reused: bool,
    pub(crate) person: Option<Person>,
    pub(crate) default_site: Option<String>,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) mercury: MercuryClient,
    pub(crate) events: mpsc::UnboundedReceiver<MercuryEvent>,
}

/// The whole of `register()`, with as few sequential round trips as the
/// protocol allows:
///
/// - **cold start** (nothing remembered): catalog (limited and
///   authenticated at once), `people/me` and `meetingPreferences` in
///   parallel → device (PUT the stored one or POST) → Mercury, while the
///   device and the warm-start record are filed. Over plain TCP that is
///   connect + catalog, device (on a kept-alive connection), websocket
///   connect + upgrade + authorization: six round trips.
/// - **warm start** (the store remembers the user, the catalog and a
///   device): the device's PUT and its Mercury socket start at once, with
///   the catalog and `people/me` refreshed alongside: connect + upgrade +
///   authorization, three round trips. A remembered device that is gone is
///   registered again at the fresh catalog's `wdm` and Mercury reconnects
///   to it; a catalog that moved replaces the remembered one.
/// - **warm after unregister** (the store remembers the user and the
///   catalog, but a clean `unregister()` deleted the device): the device is
///   created at the remembered `wdm` at once while the TCP connection to the
///   last socket's host opens, then Mercury: connect and device POST, then
///   upgrade and authorization, four round trips, with no catalog and no
///   `people/me` (see [`rewarm`]).
///
/// Every step keeps its own timeout and named error.
pub(crate) async fn register(core: &Arc<Core>) -> Result<Registration, Error> {
    let at = |step| core.update_status(|s| s.state = RegistrationState::Registering(step));
    let mut warnings = Vec::new();
    at(Step::Credentials);
    let org_id = core.org_id().await?;
    let store = &core.config.device_store;
    let session_key = SessionKey {
        discovery_url: core.config.discovery_url.to_string(),
        device_name: core.config.device_name.clone(),
    };
    let session = store.load_session(&session_key).await.unwrap_or_else(|e| {
        warnings.push(Warning::DeviceStore {
            reason: e.to_string(),
        });
        None
    });
    let mut remembered = None;
    let mut known = None;
    if let Some(session) = session {
        core.services.adopt_links(&session.services);
        let key = device_key(core, &session.user_id);
        if let Some(device) = load(core, &key, &mut warnings).await {
            remembered = Some((key, device));
        } else if !session.user_id.is_empty() && core.services.wdm().is_some() {
            known = Some(session);
        }
    }
    // Boxed: the joined steps make large futures, and debug builds poll
    // them on small task stacks.
    if let Some((key, device)) = remembered {
        return Box::pin(warm(core, org_id.as_deref(), key, device, warnings)).await;
    }
    if let Some(session) = known {
        match Box::pin(rewarm(core, session, &mut warnings)).await {
            Ok(Some(registration)) => return Ok(registration),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    Box::pin(cold(core, org_id.as_deref(), warnings)).await
}

/// Whether the device WDM created belongs to `person_id` (a plain id or a
/// hydra id, `base64("ciscospark://…/PEOPLE/<uuid>")`); `None` when the
/// answer has no `userId` to tell.
fn same_user(person_id: &str, device_user_id: &str) -> Option<bool> {
    use base64::Engine;
    if device_user_id.is_empty() {
        return None;
    }
    if person_id == device_user_id {
        return Some(true);
    }
    let bare = person_id.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(bare)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(bare))
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(
        decoded
            .as_deref()
            .and_then(|d| d.rsplit_once("/PEOPLE/"))
            .is_some_and(|(_, uuid)| uuid.eq_ignore_ascii_case(device_user_id)),
    )
}

/// **Warm start after a clean `unregister()`**: the store remembers the
/// user and the catalog but its device was deleted. The device is created
/// at once at the remembered `wdm` (with `meetingPreferences` alongside,
/// and the TCP connection to the last socket's host opening), then Mercury
/// opens: no catalog and no `people/me` round trip. The
/// device's `userId` revalidates the user: another person's token (or a
/// device that cannot be created at the remembered `wdm`) deletes what was
/// made and returns `None`, and the caller starts cold. An authentication
/// failure is returned as is (a cold start could not do better).
async fn rewarm(
    core: &Arc<Core>,
    session: Session,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Registration>, Error> {
    let Some(wdm) = core.services.wdm() else {
        return Ok(None);
    };
    core.update_status(|s| s.state = RegistrationState::Registering(Step::Device));
    let body = device_body(core);
    let mut created_warnings = Vec::new();
    // The new device's socket is most likely on the last one's host: its
    // TCP handshake overlaps the device request.
    let preconnect = async {
        if let Some(ws) = &session.web_socket_url {
            let limit = core.config.timeouts.device;
            let _ =
                tokio::time::timeout(limit, crate::mercury::preconnect(ws, &core.config.mercury))
                    .await;
        }
    };
    let (created, site, ()) = tokio::join!(
        Box::pin(RegisterError::bounded(
            CallStep::Device,
            core.config.timeouts.device,
            create_reclaiming(&core.http, &wdm, &body, None, &mut created_warnings),
        )),
        Box::pin(default_site(core)),
        Box::pin(preconnect)
    );
    let device = match created {
        Ok(d) => d,
        Err(e @ Error::Auth(_)) => return Err(e),
        Err(e) => {
            tracing::info!(error = %e, "no device at the remembered wdm; starting cold");
            return Ok(None);
        }
    };
    let person = match same_user(&session.user_id, &device.user_id) {
        Some(true) => session.person.clone(),
        Some(false) => None,
        // No `userId` in the answer: ask who the token is.
        None => match people_me(core).await {
            Ok((Some(p), _)) if p.id == session.user_id => Some(p),
            _ => None,
        },
    };
    let same = match (&person, &session.person) {
        (Some(_), _) => true,
        // Never knew the person (people/me was unavailable): the id match
        // is all there is.
        (None, None) => same_user(&session.user_id, &device.user_id) == Some(true),
        (None, Some(_)) => false,
    };
    if !same {
        tracing::info!("the token is another user's now; starting cold");
        let limit = core.config.timeouts.device;
        if let Err(e) = RegisterError::bounded(
            CallStep::Device,
            limit,
            device::delete(&core.http, &device.url),
        )
        .await
        {
            tracing::warn!(error = %e, device = %device.url, "could not delete the device made for the wrong user");
        }
        return Ok(None);
    }
    warnings.extend(created_warnings);
    let default_site = site_for(person.as_ref(), site, warnings);
    let key = device_key(core, &session.user_id);
    install(core, &key, &device, &wdm);
    core.update_status(|s| s.state = RegistrationState::Registering(Step::Mercury));
    let (tx, rx) = mpsc::unbounded_channel();
    let (mercury, stored) = tokio::join!(
        mercury(core, &device.web_socket_url, tx),
        remember(core, &key, &device, &session.user_id, person.as_ref())
    );
    let warnings = std::mem::take(warnings);
    finish(
        key,
        device,
        false,
        person,
        default_site,
        warnings,
        stored,
        mercury,
        rx,
    )
    .map(Some)
}

/// The device filed under `key`, if any (a store failure is a warning).
async fn load(core: &Core, key: &DeviceKey, warnings: &mut Vec<Warning>) -> Option<Device> {
    match core.config.device_store.load(key).await {
        Ok(d) => d,
        Err(e) => {
            warnings.push(Warning::DeviceStore {
                reason: e.to_string(),
            });
            None
        }
    }
}

fn device_key(core: &Core, user_id: &str) -> DeviceKey {
    DeviceKey {
        discovery_url: core.config.discovery_url.to_string(),
        user_id: user_id.to_owned(),
        device_name: core.config.device_name.clone(),
    }
}

async fn cold(
    core: &Arc<Core>,
    org_id: Option<&str>,
    mut warnings: Vec<Warning>,
) -> Result<Registration, Error> {
    core.update_status(|s| s.state = RegistrationState::Registering(Step::Catalog));
    let hydra_before = core.services.hydra();
    let (wdm, me, site) = tokio::join!(
        Box::pin(core.wdm(org_id)),
        Box::pin(people_me(core)),
        Box::pin(default_site(core))
    );
    let wdm = wdm?;
    // `people/me` went to the hydra known before the catalog; if the
    // catalog names another one, that one answers.
    let (person, me_warnings) = match me {
        _ if core.services.hydra() != hydra_before => people_me(core).await?,
        other => other?,
    };
    warnings.extend(me_warnings);
    let default_site = site_for(person.as_ref(), site, &mut warnings);
    let user_id = person.as_ref().map(|p| p.id.clone()).unwrap_or_default();
    let key = device_key(core, &user_id);
    core.update_status(|s| s.state = RegistrationState::Registering(Step::Device));
    let (device, reused) = device(core, &key, &wdm, &mut warnings).await?;
    install(core, &key, &device, &wdm);
    core.update_status(|s| s.state = RegistrationState::Registering(Step::Mercury));
    let (tx, rx) = mpsc::unbounded_channel();
    let (mercury, stored) = tokio::join!(
        mercury(core, &device.web_socket_url, tx),
        remember(core, &key, &device, &user_id, person.as_ref())
    );
    warnings.extend(stored);
    Ok(Registration {
        key,
        device,
        reused,
        person,
        default_site,
        warnings,
        mercury: mercury?,
        events: rx,
    })
}

async fn warm(
    core: &Arc<Core>,
    org_id: Option<&str>,
    remembered_key: DeviceKey,
    stored: Device,
    mut warnings: Vec<Warning>,
) -> Result<Registration, Error> {
    core.update_status(|s| s.state = RegistrationState::Registering(Step::Device));
    let body = device_body(core);
    let device_limit = core.config.timeouts.device;
    let refresh = RegisterError::bounded(CallStep::Device, device_limit, async {
        match device::refresh(&core.http, &stored, &body).await {
            Ok(Refreshed::Alive(d)) => Ok(Some(*d)),
            Ok(Refreshed::Gone) => Ok(None),
            Err(Error::Http(e)) if e.status == 403 => Ok(None),
            Err(e) => Err(e),
        }
    });
    // The socket opens on the remembered URL at once. No current device is
    // installed yet, so a socket refused as unknown (404 / 4404) fails
    // instead of re-registering behind the device step's back.
    let (tx, rx) = mpsc::unbounded_channel();
    let early = mercury(core, &stored.web_socket_url, tx);
    let hydra_before = core.services.hydra();
    let (refreshed, early, wdm, me, site) = tokio::join!(
        Box::pin(refresh),
        Box::pin(early),
        Box::pin(core.wdm(org_id)),
        Box::pin(people_me(core)),
        Box::pin(default_site(core))
    );
    // A remembered `hydra` that moved: the fresh catalog's answers.
    let (person, me_warnings) = match me {
        _ if core.services.hydra() != hydra_before => people_me(core).await?,
        other => other?,
    };
    warnings.extend(me_warnings);
    let default_site = site_for(person.as_ref(), site, &mut warnings);
    let user_id = person
        .as_ref()
        .map(|p| p.id.clone())
        .unwrap_or_else(|| remembered_key.user_id.clone());
    let key = device_key(core, &user_id);
    let refreshed = refreshed?;
    let wdm = match (wdm, &refreshed) {
        (Ok(wdm), _) => wdm,
        // Gone (or not this user's) and no fresh catalog to register at.
        (Err(e), None) => return Err(e),
        (Err(e), Some(_)) => {
            warnings.push(Warning::CatalogRefreshFailed {
                reason: e.to_string(),
            });
            core.services.wdm().unwrap_or_default()
        }
    };
    let (device, reused) = match refreshed {
        Some(device) => (device, true),
        None => {
            // Register a new one where the fresh catalog says WDM is.
            tracing::info!("remembered device is gone; registering a new one");
            let created = RegisterError::bounded(
                CallStep::Device,
                device_limit,
                create_reclaiming(&core.http, &wdm, &body, None, &mut warnings),
            )
            .await?;
            (created, false)
        }
    };
    install(core, &key, &device, &wdm);
    core.update_status(|s| s.state = RegistrationState::Registering(Step::Mercury));
    let stored_elsewhere = key != remembered_key;
    let (mercury, stored) = match early {
        Ok(client) if device.web_socket_url == stored.web_socket_url => (
            Ok(client),
            remember(core, &key, &device, &user_id, person.as_ref()).await,
        ),
        early => {
            if let Err(e) = &early {
                tracing::info!(error = %e, "early Mercury connect failed; connecting to the registered device");
            }
            drop(early);
            let (tx, rx) = mpsc::unbounded_channel();
            let (m, s) = tokio::join!(
                mercury(core, &device.web_socket_url, tx),
                remember(core, &key, &device, &user_id, person.as_ref())
            );
            return finish(
                key,
                device,
                reused,
                person,
                default_site,
                warnings,
                s,
                m,
                rx,
            )
            .map(|r| forget_elsewhere(core, stored_elsewhere, remembered_key, r));
        }
    };
    finish(
        key,
        device,
        reused,
        person,
        default_site,
        warnings,
        stored,
        mercury,
        rx,
    )
    .map(|r| forget_elsewhere(core, stored_elsewhere, remembered_key, r))
}

/// The remembered device was filed under another user (the token is
/// someone else's now): that entry is stale; drop it in the background.
fn forget_elsewhere(
    core: &Arc<Core>,
    elsewhere: bool,
    key: DeviceKey,
    r: Registration,
) -> Registration {
    if elsewhere {
        let store = Arc::clone(&core.config.device_store);
        tokio::spawn(async move {
            if let Err(e) = store.remove(&key).await {
                tracing::warn!(error = %e, "could not forget a stale device entry");
            }
        });
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn finish(
    key: DeviceKey,
    device: Device,
    reused: bool,
    person: Option<Person>,
    default_site: Option<String>,
    mut warnings: Vec<Warning>,
    stored: Vec<Warning>,
    mercury: Result<MercuryClient, Error>,
    events: mpsc::UnboundedReceiver<MercuryEvent>,
) -> Result<Registration, Error> {
    warnings.extend(stored);
    Ok(Registration {
        key,
        device,
        reused,
        person,
        default_site,
        warnings,
        mercury: mercury?,
        events,
    })
}

/// Makes `device` the registered one (requests carry `cisco-device-url`;
/// Mercury may re-register it from now on).
fn install(core: &Core, key: &DeviceKey, device: &Device, wdm: &str) {
    core.replace_current_device(Some(CurrentDevice {
        device: device.clone(),
        key: key.clone(),
        wdm: wdm.to_owned(),
    }));
}

/// Files the device and the warm-start record (user, service URLs); a
/// failure is a warning: the registration works, the next start is cold.
async fn remember(
    core: &Core,
    key: &DeviceKey,
    device: &Device,
    user_id: &str,
    person: Option<&Person>,
) -> Vec<Warning> {
    let store = &core.config.device_store;
    let session_key = SessionKey {
        discovery_url: key.discovery_url.clone(),
        device_name: key.device_name.clone(),
    };
    let session = Session::new(user_id, core.services.links())
        .with_person(person.cloned())
        .with_web_socket_url(Some(device.web_socket_url.clone()));
    let mut warnings = Vec::new();
    if let Err(e) = store.save(key, device).await {
        warnings.push(Warning::DeviceStore {
            reason: e.to_string(),
        });
    }
    if let Err(e) = store.save_session(&session_key, &session).await {
        warnings.push(Warning::DeviceStore {
            reason: e.to_string(),
        });
    }
    warnings
}

/// The Mercury step: connects to `web_socket_url` within the step's
/// timeout; events go to `events`.
pub(crate) async fn mercury(
    core: &Arc<Core>,
    web_socket_url: &str,
    events: mpsc::UnboundedSender<MercuryEvent>,
) -> Result<MercuryClient, Error> {
    let host: Arc<dyn MercuryHost> = Arc::new(Host {
        core: Arc::downgrade(core),
    });
    let limit = core.config.timeouts.mercury;
    let connect = MercuryClient::connect(web_socket_url, host, core.config.mercury.clone(), events);
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(mercury)) => Ok(mercury),
        Ok(Err(e)) => Err(RegisterError::Mercury(e).into()),
        Err(_) => Err(RegisterError::Timeout {
            step: Step::Mercury,
            after: limit,
        }
        .into()),
    }
}
