//! Meeting operations shared by the HTTP routes, the admin API and the
//! idle sweeper: resolving addresses to spaces, joining, leaving, ending.
//! Each change is one store transaction followed by one event.

use std::time::Duration;

use axum::http::StatusCode;
use webex_wire::error::codes;
use webex_wire::locus::{LocusEventType, error_codes};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::meetings::{ChangeOutcome, ChangeRefused, LocusRecord, SpaceKey, SpaceRecord};
use crate::store::{PersonRecord, StoreError};
use crate::time::now_millis;

use super::address::{self, Address};
use super::{events, rules};

/// Why a meeting operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocusError {
    /// The address or Locus is not one this server hosts (404). Retrying
    /// does not help.
    #[error("{0}")]
    NotFound(String),
    /// The rules refused the change (403/409). Retrying does not help.
    #[error(transparent)]
    Refused(#[from] ChangeRefused),
    /// The store failed; retrying may help when the error says so.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LocusError {
    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }
}

impl From<LocusError> for ApiError {
    fn from(e: LocusError) -> Self {
        match e {
            LocusError::NotFound(m) => {
                ApiError::not_found(m).with_error_code(error_codes::NO_SUCH_MEETING)
            }
            LocusError::Refused(r) => refused(&r),
            LocusError::Store(e) => e.into(),
        }
    }
}

fn refused(r: &ChangeRefused) -> ApiError {
    let msg = r.to_string();
    match r {
        ChangeRefused::Ended => ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, msg)
            .with_error_code(error_codes::MEETING_ENDED),
        ChangeRefused::NotJoined => ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, msg)
            .with_error_code(error_codes::NOT_JOINED),
        ChangeRefused::NotParticipant => {
            ApiError::forbidden(msg).with_error_code(error_codes::NOT_PARTICIPANT)
        }
        ChangeRefused::NotHost => ApiError::forbidden(msg).with_error_code(error_codes::NOT_HOST),
        ChangeRefused::Invalid(_) => {
            ApiError::forbidden(msg).with_error_code(error_codes::FOREIGN_PARTICIPANT)
        }
        ChangeRefused::TooMany(_) => ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, msg)
            .with_error_code(error_codes::LIMIT_REACHED),
        ChangeRefused::BadField(_) => ApiError::bad_request(msg),
        ChangeRefused::ForeignDevice => {
            ApiError::forbidden(msg).with_error_code(error_codes::FOREIGN_DEVICE)
        }
        ChangeRefused::NotFloorHolder => {
            ApiError::forbidden(msg).with_error_code(error_codes::NOT_FLOOR_HOLDER)
        }
        ChangeRefused::StaleShare(_) => ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, msg)
            .with_error_code(error_codes::STALE_SHARE),
    }
}

/// What an address names, found without creating anything: the one owner
/// of the rule of which addresses this server hosts ([`look_up`]), which
/// [`resolve`] follows when it creates.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A space that exists.
    Space(SpaceRecord),
    /// A space that joining would create, under `name`: the personal room
    /// of `owner`, or an ad-hoc space made by whoever joins first.
    Unmade {
        /// Its name (its SIP address and join link follow from it).
        name: String,
        /// Whose personal room it is.
        owner: Option<PersonRecord>,
    },
}

/// What `address` names for `caller`, creating nothing: a space in our SIP
/// domain (a name reserved for personal rooms only when it exists or is
/// the name a person's room would get, see `room_by_name`), the personal
/// room of a person by email, a space by number (only one that exists:
/// numbers are drawn when a space is made). `Ok(None)`: not ours.
pub async fn look_up(
    state: &AppState,
    address: &str,
    caller: &str,
) -> Result<Option<Lookup>, LocusError> {
    let store = &state.store;
    match address::classify(address, &state.config.sip_domain, &state.public_url) {
        Address::Space(name) => {
            if let Some(s) = store.space(SpaceKey::Name(&name)).await? {
                return Ok(Some(Lookup::Space(s)));
            }
            if address::is_reserved_for_personal_rooms(&name) {
                return room_by_name(state, &name, caller).await;
            }
            Ok(Some(Lookup::Unmade { name, owner: None }))
        }
        Address::Email(email) => match store.person_by_email(&email).await? {
            Some(p) => Ok(Some(look_up_personal_room(state, &p).await?)),
            None => Ok(None),
        },
        Address::Number(n) => Ok(store.space(SpaceKey::Number(&n)).await?.map(Lookup::Space)),
        Address::Foreign => Ok(None),
    }
}

/// The personal room not made yet that `name` (reserved for personal
/// rooms) would be: that of `caller` or of the person whose email it is
/// made from, when [`personal_room`] would give it this name. Nobody else
/// gets a space with that name.
async fn room_by_name(
    state: &AppState,
    name: &str,
    caller: &str,
) -> Result<Option<Lookup>, LocusError> {
    let store = &state.store;
    let mut people: Vec<PersonRecord> = store.person(caller).await?.into_iter().collect();
    for email in address::personal_room_owner_candidates(name) {
        people.extend(store.person_by_email(&email).await?);
    }
    for p in people {
        let found = look_up_personal_room(state, &p).await?;
        let named = match &found {
            Lookup::Space(s) => &s.name,
            Lookup::Unmade { name, .. } => name,
        };
        if named == name {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The personal room of `person`, or the name [`personal_room`] would give
/// it now: the plain name unless another space has it, else the suffixed
/// one. Creates nothing.
pub async fn look_up_personal_room(
    state: &AppState,
    person: &PersonRecord,
) -> Result<Lookup, LocusError> {
    let store = &state.store;
    if let Some(s) = store.space(SpaceKey::Owner(&person.id)).await? {
        return Ok(Lookup::Space(s));
    }
    let plain = address::personal_room_name(&person.email, None);
    let name = if store.space(SpaceKey::Name(&plain)).await?.is_some() {
        suffixed_room_name(person)
    } else {
        plain
    };
    Ok(Lookup::Unmade {
        name,
        owner: Some(person.clone()),
    })
}

/// The space `address` names, creating ad-hoc spaces in our SIP domain
/// (made by `creator`, who hosts them) and personal rooms on first use:
/// what [`look_up`] finds, made. `Ok(None)`: not ours.
pub async fn resolve(
    state: &AppState,
    address: &str,
    creator: &str,
) -> Result<Option<SpaceRecord>, LocusError> {
    Ok(match look_up(state, address, creator).await? {
        None => None,
        Some(Lookup::Space(s)) => Some(s),
        Some(Lookup::Unmade { owner: Some(p), .. }) => Some(personal_room(state, &p).await?),
        Some(Lookup::Unmade { name, owner: None }) => {
            Some(create_space(state, name, None, Some(creator.to_owned())).await?)
        }
    })
}

/// The personal room of `person`, created on first use.
pub async fn personal_room(
    state: &AppState,
    person: &PersonRecord,
) -> Result<SpaceRecord, LocusError> {
    if let Some(s) = state.store.space(SpaceKey::Owner(&person.id)).await? {
        return Ok(s);
    }
    let plain = address::personal_room_name(&person.email, None);
    let space = match create_space(state, plain, Some(person.id.clone()), None).await {
        Ok(s) => s,
        Err(e) => return owned_room(state, person, e).await,
    };
    if space.owner_id.as_deref() == Some(person.id.as_str()) {
        return Ok(space);
    }
    // The plain name belongs to another space: use one only this person has.
    match create_space(
        state,
        suffixed_room_name(person),
        Some(person.id.clone()),
        None,
    )
    .await
    {
        Ok(s) => Ok(s),
        Err(e) => owned_room(state, person, e).await,
    }
}

/// The personal-room name of `person` when the plain one belongs to
/// another space: the plain name with a suffix from the person id.
fn suffixed_room_name(person: &PersonRecord) -> String {
    let suffix: String = person
        .id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    address::personal_room_name(&person.email, Some(&suffix.to_ascii_lowercase()))
}

/// After creating a personal room failed with `e`: the room a concurrent
/// request created meanwhile (the owner is unique), else `e`.
async fn owned_room(
    state: &AppState,
    person: &PersonRecord,
    e: LocusError,
) -> Result<SpaceRecord, LocusError> {
    match state.store.space(SpaceKey::Owner(&person.id)).await? {
        Some(s) => Ok(s),
        None => Err(e),
    }
}

/// Stores a space named `name` (or returns the one already named so),
/// retrying on meeting-number clashes.
async fn create_space(
    state: &AppState,
    name: String,
    owner_id: Option<String>,
    creator_id: Option<String>,
) -> Result<SpaceRecord, LocusError> {
    let mut last = None;
    for _ in 0..5 {
        let candidate = SpaceRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.clone(),
            meeting_number: address::random_meeting_number(),
            owner_id: owner_id.clone(),
            creator_id: creator_id.clone(),
            created_at: now_millis(),
        };
        match state.store.ensure_space(&candidate).await {
            Ok(s) => return Ok(s),
            // Another space has this number (or, for an owner, already has
            // a personal room): try again.
            Err(StoreError::Conflict(what)) => last = Some(StoreError::Conflict(what)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.unwrap_or(StoreError::Conflict("meeting space")).into())
}

/// The active Locus of `space`, opened when there is none.
pub async fn open(state: &AppState, space: &SpaceRecord) -> Result<LocusRecord, LocusError> {
    let id = uuid::Uuid::new_v4().to_string();
    Ok(state.store.open_locus(&space.id, &id, now_millis()).await?)
}

/// Most active meetings one person may be in (or waiting in the lobby of)
/// at once.
pub const MAX_MEETINGS_PER_PERSON: u64 = 16;

/// Whether `joiner` must wait in the lobby of `space` by its policy: a
/// guest, or someone of another org than the owner, joining someone else's
/// personal room.
async fn must_wait(
    state: &AppState,
    space: &SpaceRecord,
    joiner: &rules::Joiner,
) -> Result<bool, LocusError> {
    let Some(owner) = space.owner_id.as_deref() else {
        return Ok(false);
    };
    if owner == joiner.person_id {
        return Ok(false);
    }
    if joiner.guest {
        return Ok(true);
    }
    let owner_org = state.store.person(owner).await?.map(|p| p.org_id);
    Ok(owner_org.as_deref() != Some(joiner.org_id.as_str()))
}

/// Joins `joiner` to the Locus `locus_id` (or puts them in its lobby) and
/// publishes the change.
pub async fn join(
    state: &AppState,
    locus_id: &str,
    mut joiner: rules::Joiner,
    tracking_id: Option<&str>,
) -> Result<ChangeOutcome, LocusError> {
    let locus = state
        .store
        .locus(locus_id)
        .await?
        .ok_or_else(|| LocusError::NotFound("No such meeting".into()))?;
    if let Some(space) = state.store.space(SpaceKey::Id(&locus.space_id)).await? {
        joiner.must_wait = must_wait(state, &space, &joiner).await?;
    }
    let elsewhere = state
        .store
        .count_meetings_of(&joiner.person_id, locus_id)
        .await?;
    if elsewhere >= MAX_MEETINGS_PER_PERSON {
        return Err(ChangeRefused::TooMany(format!(
            "a person may be in at most {MAX_MEETINGS_PER_PERSON} meetings at once; leave one first"
        ))
        .into());
    }
    let mutation = rules::join(joiner, uuid::Uuid::new_v4().to_string(), now_millis());
    let outcome = change(state, locus_id, mutation).await?;
    events::publish(
        state,
        &outcome,
        LocusEventType::ParticipantJoined,
        tracking_id,
    )
    .await;
    Ok(outcome)
}

/// Joins `joiner` to the active Locus of `space`, opening one when needed.
pub async fn join_space(
    state: &AppState,
    space: &SpaceRecord,
    joiner: rules::Joiner,
    tracking_id: Option<&str>,
) -> Result<ChangeOutcome, LocusError> {
    // The Locus may end between opening and joining (idle sweep); then the
    // next attempt opens a fresh one.
    for _ in 0..3 {
        let locus = open(state, space).await?;
        match join(state, &locus.id, joiner.clone(), tracking_id).await {
            Err(LocusError::Refused(ChangeRefused::Ended)) => continue,
            other => return other,
        }
    }
    Err(ChangeRefused::Ended.into())
}

/// Makes a participant leave and publishes the change.
pub async fn leave(
    state: &AppState,
    locus_id: &str,
    request: rules::LeaveRequest,
    tracking_id: Option<&str>,
) -> Result<ChangeOutcome, LocusError> {
    let outcome = change(state, locus_id, rules::leave(request, now_millis())).await?;
    events::publish(
        state,
        &outcome,
        LocusEventType::ParticipantLeft,
        tracking_id,
    )
    .await;
    Ok(outcome)
}

/// Lets the participants `ids` in from the lobby (`caller` must be the
/// JOINED host) and publishes the change.
pub async fn admit(
    state: &AppState,
    locus_id: &str,
    caller: String,
    ids: Vec<String>,
    tracking_id: Option<&str>,
) -> Result<ChangeOutcome, LocusError> {
    let outcome = change(state, locus_id, rules::admit(caller, ids, now_millis())).await?;
    events::publish(
        state,
        &outcome,
        LocusEventType::ParticipantUpdated,
        tracking_id,
    )
    .await;
    Ok(outcome)
}

/// Locks or unlocks a meeting (`caller` must be the JOINED host) and
/// publishes the change.
pub async fn lock(
    state: &AppState,
    locus_id: &str,
    caller: String,
    locked: bool,
    tracking_id: Option<&str>,
) -> Result<ChangeOutcome, LocusError> {
    let outcome = change(state, locus_id, rules::lock(caller, locked, now_millis())).await?;
    events::publish(
        state,
        &outcome,
        LocusEventType::ControlsUpdated,
        tracking_id,
    )
    .await;
    Ok(outcome)
}

/// Makes the devices `device_urls` (deleted or expired) leave every active
/// meeting they are in, publishing each change. Returns how many meetings
/// changed. Meetings left empty end after the idle grace.
pub async fn devices_gone(state: &AppState, device_urls: &[String]) -> Result<usize, LocusError> {
    let mut changed = 0;
    for id in state.store.loci_with_devices(device_urls).await? {
        let mutation = rules::devices_gone(device_urls.to_vec(), now_millis());
        let outcome = match change(state, &id, mutation).await {
            Ok(o) => o,
            Err(LocusError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        if outcome.changed {
            changed += 1;
            events::publish(state, &outcome, LocusEventType::ParticipantLeft, None).await;
        }
    }
    Ok(changed)
}

/// Ends a meeting (`caller` must be its JOINED host; `None`: the operator)
/// and publishes the change.
pub async fn end(
    state: &AppState,
    locus_id: &str,
    caller: Option<String>,
    tracking_id: Option<&str>,
) -> Result<ChangeOutcome, LocusError> {
    let outcome = change(state, locus_id, rules::end(caller, now_millis())).await?;
    events::publish(
        state,
        &outcome,
        LocusEventType::ControlsUpdated,
        tracking_id,
    )
    .await;
    Ok(outcome)
}

pub(crate) async fn change(
    state: &AppState,
    locus_id: &str,
    mutation: crate::store::meetings::Mutation,
) -> Result<ChangeOutcome, LocusError> {
    match state.store.change_meeting(locus_id, mutation).await? {
        Some(Ok(outcome)) => Ok(outcome),
        Some(Err(refused)) => Err(refused.into()),
        None => Err(LocusError::NotFound("No such meeting".into())),
    }
}

/// Makes devices that are no longer registered leave their meetings.
async fn sweep_orphans(state: &AppState) -> Result<(), LocusError> {
    let prefix = crate::device_url::devices_prefix(&state.public_url);
    let orphans = state
        .store
        .orphaned_devices(&prefix, ORPHANS_PER_SWEEP)
        .await?;
    if !orphans.is_empty() {
        let n = devices_gone(state, &orphans).await?;
        tracing::info!(
            devices = orphans.len(),
            meetings = n,
            "locus: unregistered devices left"
        );
    }
    Ok(())
}

/// Most orphaned devices one sweep makes leave.
const ORPHANS_PER_SWEEP: u32 = 256;

/// Ends every meeting that has been empty for longer than the grace period,
/// after making devices that are no longer registered leave (those whose
/// removal did not reach [`devices_gone`], e.g. a node that stopped
/// between the two). Returns how many meetings ended.
pub async fn sweep_idle(state: &AppState, grace: Duration) -> Result<usize, LocusError> {
    // A failure here must not keep empty meetings from ending.
    if let Err(e) = sweep_orphans(state).await {
        tracing::warn!(error = %e, "locus: sweeping unregistered devices failed");
    }
    let now = now_millis();
    let cutoff = now - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let mut ended = 0;
    for id in state.store.idle_loci(cutoff).await? {
        let outcome = change(state, &id, rules::end_if_idle(cutoff, now)).await?;
        if outcome.changed {
            ended += 1;
            events::publish(state, &outcome, LocusEventType::ControlsUpdated, None).await;
        }
    }
    Ok(ended)
}

/// Runs [`sweep_idle`] every `grace / 2` (at least every 250 ms, at most
/// every 30 s) until `cancel` fires.
pub fn spawn_idle_sweeper(
    state: AppState,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let grace = state.config.locus_idle_grace;
    let period = (grace / 2).clamp(Duration::from_millis(250), Duration::from_secs(30));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            match sweep_idle(&state, grace).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "locus: ended idle meetings"),
                Err(e) => tracing::warn!(error = %e, "locus: idle sweep failed"),
            }
        }
    })
}
