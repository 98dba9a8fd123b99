//! The meetings domain: meeting spaces (addresses), their Locus instances,
//! participants and the devices they joined with.
//!
//! Every change of a Locus is one transaction that locks the Locus, loads it
//! whole ([`MeetingSnapshot`]), lets the caller's [`Mutation`] decide what
//! changes (the business rules live in `crate::locus`, not here), writes
//! back only the rows that differ and bumps `sequence` by exactly one
//! (`UPDATE loci SET sequence = sequence + 1 … RETURNING sequence`). So the
//! sequence is assigned by the database: two nodes changing one meeting at
//! once never hand out the same number.
//!
//! The store keeps the last committed snapshot of recently changed meetings
//! in memory (`snapshot_cache`, this module's own: each backend value holds
//! one through `MeetingBackend`), so that a change of a large meeting does
//! not reload every participant.
//!
//! The SQL is written once for both backends (`$N` placeholders work in
//! sqlx's SQLite driver too); the only dialect difference is PostgreSQL's
//! explicit row lock, which SQLite does not need (its single writer already
//! holds the database lock).

mod snapshot_cache;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;
use webex_wire::locus::{LocusState, ParticipantState};
use webex_wire::people::PersonType;

use super::backend::Backend;
use super::sql::{Columns, Conn, RowLock, Stmt};
use super::{Millis, StoreError, StoreResult};
pub(crate) use snapshot_cache::SnapshotCache;

/// A meeting space: an address people join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceRecord {
    /// Space id (UUID).
    pub id: String,
    /// Local part of its SIP URI (`name@<sip domain>`), lower-case; unique.
    pub name: String,
    /// Meeting number (digits); unique.
    pub meeting_number: String,
    /// For a personal room: its owner's person id.
    pub owner_id: Option<String>,
    /// For another space: the person who made it (by first joining it),
    /// who hosts it. `None` for spaces made before owners
    /// were recorded.
    pub creator_id: Option<String>,
    /// Creation time.
    pub created_at: Millis,
}

impl SpaceRecord {
    /// Who hosts the space's meetings: the personal room's owner, else the
    /// space's creator.
    ///
    /// ```
    /// # use webex_server::store::meetings::SpaceRecord;
    /// let s = SpaceRecord { id: "s".into(), name: "n".into(), meeting_number: "1".into(),
    ///     owner_id: None, creator_id: Some("u1".into()), created_at: 0 };
    /// assert_eq!(s.host_person(), Some("u1"));
    /// ```
    pub fn host_person(&self) -> Option<&str> {
        self.owner_id.as_deref().or(self.creator_id.as_deref())
    }
}

/// How to find a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpaceKey<'a> {
    /// By id.
    Id(&'a str),
    /// By name (SIP local part).
    Name(&'a str),
    /// By meeting number.
    Number(&'a str),
    /// The personal room of this person.
    Owner(&'a str),
}

/// One Locus instance of a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocusRecord {
    /// Locus id (UUID); the last segment of its URL.
    pub id: String,
    /// The space it belongs to.
    pub space_id: String,
    /// ACTIVE or INACTIVE.
    pub state: LocusState,
    /// Person id of the host: the space's owner or creator (for older
    /// spaces without one, the first joiner who is not a guest).
    pub host_id: Option<String>,
    /// Whether the host locked the meeting (everyone else waits in the
    /// lobby).
    pub locked: bool,
    /// Version; bumped by exactly one per change.
    pub sequence: u64,
    /// Creation time.
    pub created_at: Millis,
    /// Time of the last change.
    pub last_active: Millis,
    /// When it became INACTIVE.
    pub ended_at: Option<Millis>,
    /// Since when nobody has been joined (for the idle grace period).
    pub idle_since: Option<Millis>,
    /// The content (screen share) floor; `None` before anyone shared.
    pub floor: Option<FloorRecord>,
    /// The active speaker (participant id) the media engine chose from
    /// audio levels; `None` before anyone spoke in a meeting of three or more.
    pub active_speaker: Option<String>,
}

/// The content floor of a Locus: who shares, or shared last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorRecord {
    /// Whether the floor is held (GRANTED) or was released.
    pub granted: bool,
    /// The presenter client's `shareInstanceId`.
    pub share_instance_id: String,
    /// Participant id of who shares (or shared last).
    pub beneficiary: String,
    /// The device URL that shares.
    pub device_url: String,
    /// Participant id of who asked for the floor.
    pub requester: String,
    /// When it was granted.
    pub granted_at: Millis,
    /// When it was released.
    pub released_at: Option<Millis>,
}

impl FloorRecord {
    /// The participant id of who holds the floor now, if anyone.
    ///
    /// ```
    /// # use webex_server::store::meetings::FloorRecord;
    /// let mut f = FloorRecord { granted: true, share_instance_id: "s".into(),
    ///     beneficiary: "p1".into(), device_url: "d".into(), requester: "p1".into(),
    ///     granted_at: 0, released_at: None };
    /// assert_eq!(f.holder(), Some("p1"));
    /// f.granted = false;
    /// assert_eq!(f.holder(), None);
    /// ```
    pub fn holder(&self) -> Option<&str> {
        self.granted.then_some(self.beneficiary.as_str())
    }
}

/// One device a participant joined with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantDeviceRecord {
    /// WDM device URL.
    pub url: String,
    /// Device type (`WEB`, …).
    pub device_type: String,
    /// The client's correlation id for this join.
    pub correlation_id: Option<String>,
    /// JOINED, IDLE (waiting in the lobby) or LEFT.
    pub state: ParticipantState,
}

/// A participant of a Locus (one per person and Locus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    /// Participant id (UUID).
    pub id: String,
    /// The person.
    pub person_id: String,
    /// The person's display name (read from `people`; not written).
    pub name: String,
    /// The person's email (read from `people`; not written).
    pub email: String,
    /// The person's org (read from `people`; not written).
    pub org_id: String,
    /// Whether the person is a guest (read from `people`; not written).
    pub guest: bool,
    /// JOINED, IDLE (waiting in the lobby) or LEFT.
    pub state: ParticipantState,
    /// Whether they were let in (joined directly or admitted) and not
    /// removed since: only admitted participants see the meeting.
    pub admitted: bool,
    /// Whether the host removed them (until admitted again).
    pub removed: bool,
    /// First join time.
    pub joined_at: Millis,
    /// Last leave time.
    pub left_at: Option<Millis>,
    /// Devices, in the order they first joined.
    pub devices: Vec<ParticipantDeviceRecord>,
    /// The mute flags of their last `/media` request; `None` before any.
    pub media: Option<MediaFlags>,
}

/// A participant's mute flags, as their client last sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaFlags {
    /// Microphone muted.
    pub audio_muted: bool,
    /// Camera muted.
    pub video_muted: bool,
}

/// A Locus with its space and participants, as one transaction saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingSnapshot {
    /// The space.
    pub space: SpaceRecord,
    /// The Locus.
    pub locus: LocusRecord,
    /// Participants, in the order they first joined.
    pub participants: Vec<ParticipantRecord>,
}

impl MeetingSnapshot {
    /// The participant of `person_id`, if any.
    pub fn participant_of(&self, person_id: &str) -> Option<&ParticipantRecord> {
        self.participants.iter().find(|p| p.person_id == person_id)
    }

    /// Whether `person_id` is the host and JOINED: host powers need both.
    pub fn is_joined_host(&self, person_id: &str) -> bool {
        self.locus.host_id.as_deref() == Some(person_id)
            && self
                .participant_of(person_id)
                .is_some_and(|p| p.state == ParticipantState::Joined)
    }

    /// How many participants are JOINED.
    pub fn joined_count(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.state == ParticipantState::Joined)
            .count()
    }
}

/// Why a [`Mutation`] refused to change a meeting. Retrying the same
/// request does not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeRefused {
    /// The meeting has ended.
    #[error("the meeting has ended")]
    Ended,
    /// The caller is not a participant.
    #[error("not a participant of this meeting")]
    NotParticipant,
    /// The participant is not (or no longer) joined.
    #[error("the participant is not in the meeting")]
    NotJoined,
    /// Only the host may do this.
    #[error("only the host may do this")]
    NotHost,
    /// Another condition, explained.
    #[error("{0}")]
    Invalid(String),
    /// A cap was reached (explained); leaving somewhere first helps.
    #[error("{0}")]
    TooMany(String),
    /// A field of the request is wrong for this meeting (explained).
    #[error("{0}")]
    BadField(String),
    /// The device named is not one of the caller's devices in the meeting.
    #[error("the device is not one the caller joined this meeting with")]
    ForeignDevice,
    /// Someone else holds the share floor.
    #[error(
        "the floor is held by another participant: only they (or the JOINED host) may release it"
    )]
    NotFloorHolder,
    /// The request names another share than the current one (explained).
    #[error("{0}")]
    StaleShare(String),
}

/// What a [`Mutation`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Something changed: write it and bump the sequence.
    Changed,
    /// Nothing to do (e.g. a repeated join): no write, no new sequence.
    Unchanged,
}

/// The decision of one change, run inside the transaction on the locked
/// snapshot. It may change the Locus's `state`, `host_id`, `locked`,
/// `last_active`, `ended_at`, `idle_since`, `floor`, `active_speaker`, add participants, and change
/// participants' `state`, `left_at`, `admitted`, `removed`, `media` and devices;
/// other fields are not written.
pub type Mutation =
    Box<dyn FnOnce(&mut MeetingSnapshot) -> Result<Applied, ChangeRefused> + Send + 'static>;

/// The result of [`MeetingStore::change_meeting`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// The meeting after the change, with the new sequence (shared with
    /// the store's cache of recent snapshots).
    pub snapshot: Arc<MeetingSnapshot>,
    /// Whether anything changed (and the sequence moved by one).
    pub changed: bool,
    /// Ids of the participants that were added or changed.
    pub changed_participants: Vec<String>,
    /// Whether the Locus row (state, host, lock, floor) changed.
    pub locus_changed: bool,
}

/// The meetings domain of the store.
///
/// Each method is one transaction.
#[async_trait]
pub trait MeetingStore: Send + Sync + 'static {
    /// Stores `space` unless one with its name exists; returns the stored
    /// space with that name. A meeting-number clash with another space is
    /// [`StoreError::Conflict`] (pick another number and retry).
    async fn ensure_space(&self, space: &SpaceRecord) -> StoreResult<SpaceRecord>;
    /// A space by key.
    async fn space(&self, key: SpaceKey<'_>) -> StoreResult<Option<SpaceRecord>>;
    /// The active Locus of a space, creating it (with id `new_id`, sequence
    /// 0 and nobody in it) when there is none.
    async fn open_locus(
        &self,
        space_id: &str,
        new_id: &str,
        now: Millis,
    ) -> StoreResult<LocusRecord>;
    /// The active Locus of a space, if any.
    async fn active_locus_of(&self, space_id: &str) -> StoreResult<Option<LocusRecord>>;
    /// A Locus row alone (one cheap read; [`MeetingStore::meeting`] for all of it).
    async fn locus(&self, locus_id: &str) -> StoreResult<Option<LocusRecord>>;
    /// A Locus with its space and participants.
    async fn meeting(&self, locus_id: &str) -> StoreResult<Option<MeetingSnapshot>>;
    /// Active Loci in which `person_id` is a JOINED participant or waits in
    /// the lobby (IDLE).
    async fn meetings_of(&self, person_id: &str) -> StoreResult<Vec<MeetingSnapshot>>;
    /// Every active Locus, oldest first, at most `limit`.
    async fn active_meetings(&self, limit: u32) -> StoreResult<Vec<MeetingSnapshot>>;
    /// Ids of active Loci where nobody is joined since `idle_before` or earlier.
    async fn idle_loci(&self, idle_before: Millis) -> StoreResult<Vec<String>>;
    /// How many active Loci other than `except_locus` `person_id` is in
    /// (JOINED or waiting in the lobby).
    async fn count_meetings_of(&self, person_id: &str, except_locus: &str) -> StoreResult<u64>;
    /// URLs (`device_prefix` + device id) of devices joined or waiting in
    /// an active Locus that are no longer registered, at most `limit`.
    async fn orphaned_devices(&self, device_prefix: &str, limit: u32) -> StoreResult<Vec<String>>;
    /// Ids of active Loci in which one of `device_urls` is joined or waiting
    /// in the lobby.
    async fn loci_with_devices(&self, device_urls: &[String]) -> StoreResult<Vec<String>>;
    /// Changes a meeting in one transaction (see the module docs). `None`
    /// when there is no such Locus.
    async fn change_meeting(
        &self,
        locus_id: &str,
        mutation: Mutation,
    ) -> StoreResult<Option<Result<ChangeOutcome, ChangeRefused>>>;
    /// The node carrying the media of Locus `locus_id`: `node` when none
    /// was recorded yet or the recorded one is `replacing` (a node found
    /// gone), else the recorded one. `None`: no such Locus.
    async fn claim_media_node(
        &self,
        locus_id: &str,
        node: &str,
        replacing: Option<&str>,
    ) -> StoreResult<Option<String>>;
}

/// Columns of `meeting_spaces`.
const SPACE_COLUMNS: &str = "id, name, meeting_number, owner_id, creator_id, created_at";
/// Columns of `loci`.
const LOCUS_COLUMNS: &str = "id, space_id, state, host_id, locked, sequence, created_at, \
     last_active, ended_at, idle_since, floor_state, floor_instance, floor_beneficiary, \
     floor_device, floor_requester, floor_granted_at, floor_released_at, active_speaker";

fn space_row(r: &dyn Columns) -> StoreResult<SpaceRecord> {
    Ok(SpaceRecord {
        id: r.text("id")?,
        name: r.text("name")?,
        meeting_number: r.text("meeting_number")?,
        owner_id: r.opt_text("owner_id")?,
        creator_id: r.opt_text("creator_id")?,
        created_at: r.int("created_at")?,
    })
}

fn locus_row(r: &dyn Columns) -> StoreResult<LocusRecord> {
    let sequence = r.int("sequence")?;
    Ok(LocusRecord {
        id: r.text("id")?,
        space_id: r.text("space_id")?,
        state: LocusState::from(r.text("state")?),
        host_id: r.opt_text("host_id")?,
        locked: r.int("locked")? != 0,
        sequence: u64::try_from(sequence)
            .map_err(|_| StoreError::Corrupt(format!("negative sequence {sequence}")))?,
        created_at: r.int("created_at")?,
        last_active: r.int("last_active")?,
        ended_at: r.opt_int("ended_at")?,
        idle_since: r.opt_int("idle_since")?,
        floor: floor_row(r)?,
        active_speaker: r.opt_text("active_speaker")?,
    })
}

/// The floor columns of a `loci` row (`None`: nobody ever shared).
fn floor_row(r: &dyn Columns) -> StoreResult<Option<FloorRecord>> {
    let Some(state) = r.opt_text("floor_state")? else {
        return Ok(None);
    };
    Ok(Some(FloorRecord {
        granted: state == "GRANTED",
        share_instance_id: r.opt_text("floor_instance")?.unwrap_or_default(),
        beneficiary: r.opt_text("floor_beneficiary")?.unwrap_or_default(),
        device_url: r.opt_text("floor_device")?.unwrap_or_default(),
        requester: r.opt_text("floor_requester")?.unwrap_or_default(),
        granted_at: r.opt_int("floor_granted_at")?.unwrap_or_default(),
        released_at: r.opt_int("floor_released_at")?,
    }))
}

fn participant_row(r: &dyn Columns) -> StoreResult<ParticipantRecord> {
    Ok(ParticipantRecord {
        id: r.text("id")?,
        person_id: r.text("person_id")?,
        name: r.text("display_name")?,
        email: r.text("email")?,
        org_id: r.text("org_id")?,
        guest: r.text("kind")? == PersonType::Appuser.as_str(),
        state: ParticipantState::from(r.text("state")?),
        admitted: r.int("admitted")? != 0,
        removed: r.int("removed")? != 0,
        joined_at: r.int("joined_at")?,
        left_at: r.opt_int("left_at")?,
        devices: Vec::new(),
        media: match (r.opt_int("audio_muted")?, r.opt_int("video_muted")?) {
            (Some(a), Some(v)) => Some(MediaFlags {
                audio_muted: a != 0,
                video_muted: v != 0,
            }),
            _ => None,
        },
    })
}

fn device_row(r: &dyn Columns) -> StoreResult<(String, ParticipantDeviceRecord)> {
    Ok((
        r.text("participant_id")?,
        ParticipantDeviceRecord {
            url: r.text("device_url")?,
            device_type: r.text("device_type")?,
            correlation_id: r.opt_text("correlation_id")?,
            state: ParticipantState::from(r.text("state")?),
        },
    ))
}

fn id_row(r: &dyn Columns) -> StoreResult<String> {
    r.text("id")
}

fn space_by(key: SpaceKey<'_>) -> Stmt {
    let (column, value) = match key {
        SpaceKey::Id(v) => ("id", v),
        SpaceKey::Name(v) => ("name", v),
        SpaceKey::Number(v) => ("meeting_number", v),
        SpaceKey::Owner(v) => ("owner_id", v),
    };
    Stmt::new(format!(
        "SELECT {SPACE_COLUMNS} FROM meeting_spaces WHERE {column} = $1"
    ))
    .bind(value)
}

fn active_locus_stmt(space_id: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {LOCUS_COLUMNS} FROM loci WHERE space_id = $1 AND state = 'ACTIVE'"
    ))
    .bind(space_id)
}

fn locus_stmt(locus_id: &str) -> Stmt {
    Stmt::new(format!("SELECT {LOCUS_COLUMNS} FROM loci WHERE id = $1")).bind(locus_id)
}

/// Loads the Locus `locus_id` with its space and participants on `c`.
///
/// Outside a change's transaction the three reads may straddle a concurrent
/// change. They run Locus row first, so a document's `sequence` is never
/// newer than its participants: a reader that resyncs from it applies the
/// next delta on top (re-applying a change it already shows is harmless),
/// and never skips one.
///
/// When `cache` holds the meeting at the sequence the Locus row shows, that
/// snapshot is the answer (see `snapshot_cache`).
async fn load<C: Conn>(
    c: &mut C,
    cache: &SnapshotCache,
    locus_id: &str,
) -> StoreResult<Option<Arc<MeetingSnapshot>>> {
    let Some(locus) = c.fetch_optional(locus_stmt(locus_id), locus_row).await? else {
        return Ok(None);
    };
    if let Some(hit) = cache.get(locus_id, locus.sequence) {
        return Ok(Some(hit));
    }
    let space = c
        .fetch_optional(space_by(SpaceKey::Id(&locus.space_id)), space_row)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("locus {locus_id} has no space")))?;
    let mut participants = c
        .fetch_all(
            Stmt::new(
                "SELECT p.id, p.person_id, p.state, p.joined_at, p.left_at, p.admitted, \
                 p.removed, p.audio_muted, p.video_muted, u.display_name, u.email, u.org_id, u.kind \
                 FROM locus_participants p JOIN people u ON u.id = p.person_id \
                 WHERE p.locus_id = $1 ORDER BY p.joined_at, p.id",
            )
            .bind(locus_id),
            participant_row,
        )
        .await?;
    let devices = c
        .fetch_all(
            Stmt::new(
                "SELECT d.participant_id, d.device_url, d.device_type, d.correlation_id, \
                 d.state FROM locus_devices d \
                 JOIN locus_participants p ON p.id = d.participant_id \
                 WHERE p.locus_id = $1 ORDER BY d.position, d.device_url",
            )
            .bind(locus_id),
            device_row,
        )
        .await?;
    // By index: a linear search per device made every change of a
    // thousand-person meeting cost a million comparisons in the writer.
    let index: HashMap<String, usize> = participants
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    for (pid, device) in devices {
        if let Some(&i) = index.get(&pid) {
            participants[i].devices.push(device);
        }
    }
    Ok(Some(Arc::new(MeetingSnapshot {
        space,
        locus,
        participants,
    })))
}

/// Loads every Locus in `ids` on `c` (skipping any that vanished).
async fn load_all<C: Conn>(
    c: &mut C,
    cache: &SnapshotCache,
    ids: Vec<String>,
) -> StoreResult<Vec<MeetingSnapshot>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(load(c, cache, &id).await?.map(Arc::unwrap_or_clone));
    }
    Ok(out)
}

/// Writes what `mutation` changed and bumps the sequence, on `c` inside the
/// caller's transaction (which holds the Locus row's lock).
async fn apply<C: Conn>(
    c: &mut C,
    before: Arc<MeetingSnapshot>,
    mutation: Mutation,
) -> StoreResult<Result<ChangeOutcome, ChangeRefused>> {
    let mut after = MeetingSnapshot::clone(&before);
    match mutation(&mut after) {
        Err(refused) => return Ok(Err(refused)),
        Ok(Applied::Unchanged) => {
            return Ok(Ok(ChangeOutcome {
                snapshot: before,
                changed: false,
                changed_participants: Vec::new(),
                locus_changed: false,
            }));
        }
        Ok(Applied::Changed) => {}
    }
    // The order a load gives (`ORDER BY p.joined_at, p.id`), so a cached
    // snapshot lists participants as the database would.
    let order = |a: &ParticipantRecord, b: &ParticipantRecord| {
        (a.joined_at, &a.id).cmp(&(b.joined_at, &b.id))
    };
    if !after.participants.is_sorted_by(|a, b| order(a, b).is_le()) {
        after.participants.sort_by(order);
    }
    let locus_id = after.locus.id.clone();
    let changed = diff(&before, &after);
    for &i in &changed {
        let p = &after.participants[i];
        c.execute(
            Stmt::new(
                "INSERT INTO locus_participants (id, locus_id, person_id, state, joined_at, \
                 left_at, admitted, removed, audio_muted, video_muted) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET state = $4, left_at = $6, admitted = $7, \
                 removed = $8, audio_muted = $9, video_muted = $10",
            )
            .bind(&p.id)
            .bind(&locus_id)
            .bind(&p.person_id)
            .bind(p.state.as_str())
            .bind(p.joined_at)
            .bind(p.left_at)
            .bind(i64::from(p.admitted))
            .bind(i64::from(p.removed))
            .bind(p.media.map(|f| i64::from(f.audio_muted)))
            .bind(p.media.map(|f| i64::from(f.video_muted)))
            .constraint_errors("participant", "person"),
        )
        .await?;
        let old = before.participants.iter().find(|b| b.id == p.id);
        for (position, d) in p.devices.iter().enumerate() {
            if old.and_then(|o| o.devices.iter().find(|od| od.url == d.url)) == Some(d) {
                continue;
            }
            c.execute(
                Stmt::new(
                    "INSERT INTO locus_devices (participant_id, device_url, device_type, \
                     correlation_id, state, position) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (participant_id, device_url) DO UPDATE SET \
                     device_type = $3, correlation_id = $4, state = $5",
                )
                .bind(&p.id)
                .bind(&d.url)
                .bind(&d.device_type)
                .bind(&d.correlation_id)
                .bind(d.state.as_str())
                .bind(i64::try_from(position).unwrap_or(i64::MAX)),
            )
            .await?;
        }
    }
    let l = &after.locus;
    let floor_text = |f: fn(&FloorRecord) -> String| l.floor.as_ref().map(f);
    let sequence = c
        .fetch_optional(
            Stmt::new(
                "UPDATE loci SET sequence = sequence + 1, state = $2, host_id = $3, \
                 last_active = $4, ended_at = $5, idle_since = $6, locked = $7, \
                 floor_state = $8, floor_instance = $9, floor_beneficiary = $10, \
                 floor_device = $11, floor_requester = $12, floor_granted_at = $13, \
                 floor_released_at = $14, active_speaker = $15 WHERE id = $1 RETURNING sequence",
            )
            .bind(&locus_id)
            .bind(l.state.as_str())
            .bind(&l.host_id)
            .bind(l.last_active)
            .bind(l.ended_at)
            .bind(l.idle_since)
            .bind(i64::from(l.locked))
            .bind(&floor_text(|f| {
                if f.granted { "GRANTED" } else { "RELEASED" }.to_owned()
            }))
            .bind(&floor_text(|f| f.share_instance_id.clone()))
            .bind(&floor_text(|f| f.beneficiary.clone()))
            .bind(&floor_text(|f| f.device_url.clone()))
            .bind(&floor_text(|f| f.requester.clone()))
            .bind(l.floor.as_ref().map(|f| f.granted_at))
            .bind(l.floor.as_ref().and_then(|f| f.released_at))
            .bind(&l.active_speaker)
            .constraint_errors("active locus", "meeting space"),
            |r| r.int("sequence"),
        )
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("locus {locus_id} vanished under lock")))?;
    after.locus.sequence = u64::try_from(sequence)
        .map_err(|_| StoreError::Corrupt(format!("negative sequence {sequence}")))?;
    let locus_changed = before.locus.state != after.locus.state
        || before.locus.host_id != after.locus.host_id
        || before.locus.locked != after.locus.locked
        || before.locus.floor != after.locus.floor
        || before.locus.active_speaker != after.locus.active_speaker;
    let changed_participants = changed
        .iter()
        .map(|&i| after.participants[i].id.clone())
        .collect();
    Ok(Ok(ChangeOutcome {
        snapshot: Arc::new(after),
        changed: true,
        changed_participants,
        locus_changed,
    }))
}

/// The rows of `after` that differ from `before`: participants added or
/// changed, and for each, devices added or changed.
fn diff(before: &MeetingSnapshot, after: &MeetingSnapshot) -> Vec<usize> {
    let old: HashMap<&str, &ParticipantRecord> = before
        .participants
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    after
        .participants
        .iter()
        .enumerate()
        .filter(|(_, p)| old.get(p.id.as_str()) != Some(p))
        .map(|(i, _)| i)
        .collect()
}

/// A backend value holding this store's [`SnapshotCache`]. The cache is
/// the meetings store's own (the generic [`Backend`] knows nothing of it);
/// each backend only keeps one per store value, so that every store
/// opened has its own.
pub(crate) trait MeetingBackend: Backend {
    /// The meetings this store changed last, as committed.
    fn snapshots(&self) -> &Arc<SnapshotCache>;
}

#[async_trait]
impl<B: MeetingBackend> MeetingStore for B {
    async fn ensure_space(&self, space: &SpaceRecord) -> StoreResult<SpaceRecord> {
        if let Some(found) = self
            .read_optional(space_by(SpaceKey::Name(&space.name)), space_row)
            .await?
        {
            return Ok(found);
        }
        let s = space.clone();
        self.transaction(move |c| {
            async move {
                c.execute(
                    Stmt::new(
                        "INSERT INTO meeting_spaces (id, name, meeting_number, owner_id, \
                         creator_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(&s.id)
                    .bind(&s.name)
                    .bind(&s.meeting_number)
                    .bind(&s.owner_id)
                    .bind(&s.creator_id)
                    .bind(s.created_at)
                    .constraint_errors("meeting space", "person"),
                )
                .await?;
                c.fetch_optional(space_by(SpaceKey::Name(&s.name)), space_row)
                    .await?
                    .ok_or(StoreError::Conflict("meeting space"))
            }
            .boxed()
        })
        .await
    }

    async fn space(&self, key: SpaceKey<'_>) -> StoreResult<Option<SpaceRecord>> {
        self.read_optional(space_by(key), space_row).await
    }

    async fn open_locus(
        &self,
        space_id: &str,
        new_id: &str,
        now: Millis,
    ) -> StoreResult<LocusRecord> {
        if let Some(l) = self.active_locus_of(space_id).await? {
            return Ok(l);
        }
        let (space_id, new_id) = (space_id.to_owned(), new_id.to_owned());
        self.transaction(move |c| {
            async move {
                // One ACTIVE Locus per space (partial unique index): a
                // concurrent opener's INSERT waits for ours, does nothing,
                // and its SELECT then sees our row.
                c.execute(
                    Stmt::new(
                        "INSERT INTO loci (id, space_id, state, host_id, sequence, created_at, \
                         last_active, ended_at, idle_since) \
                         VALUES ($1, $2, 'ACTIVE', NULL, 0, $3, $3, NULL, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&new_id)
                    .bind(&space_id)
                    .bind(now)
                    .constraint_errors("locus", "meeting space"),
                )
                .await?;
                c.fetch_optional(active_locus_stmt(&space_id), locus_row)
                    .await?
                    .ok_or(StoreError::Conflict("locus"))
            }
            .boxed()
        })
        .await
    }

    async fn active_locus_of(&self, space_id: &str) -> StoreResult<Option<LocusRecord>> {
        self.read_optional(active_locus_stmt(space_id), locus_row)
            .await
    }

    async fn locus(&self, locus_id: &str) -> StoreResult<Option<LocusRecord>> {
        self.read_optional(locus_stmt(locus_id), locus_row).await
    }

    async fn meeting(&self, locus_id: &str) -> StoreResult<Option<MeetingSnapshot>> {
        let id = locus_id.to_owned();
        let cache = self.snapshots().clone();
        let loaded = self
            .run_read(Box::new(move |c| {
                async move { load(c, &cache, &id).await }.boxed()
            }))
            .await?;
        Ok(loaded.map(Arc::unwrap_or_clone))
    }

    async fn meetings_of(&self, person_id: &str) -> StoreResult<Vec<MeetingSnapshot>> {
        let ids = Stmt::new(
            "SELECT l.id FROM loci l JOIN locus_participants p ON p.locus_id = l.id \
             WHERE p.person_id = $1 AND p.state IN ('JOINED', 'IDLE') AND l.state = 'ACTIVE' \
             ORDER BY l.created_at, l.id",
        )
        .bind(person_id);
        let cache = self.snapshots().clone();
        self.run_read(Box::new(move |c| {
            async move {
                let ids = c.fetch_all(ids, id_row).await?;
                load_all(c, &cache, ids).await
            }
            .boxed()
        }))
        .await
    }

    async fn active_meetings(&self, limit: u32) -> StoreResult<Vec<MeetingSnapshot>> {
        let ids = Stmt::new(
            "SELECT id FROM loci WHERE state = 'ACTIVE' ORDER BY created_at, id LIMIT $1",
        )
        .bind(i64::from(limit));
        let cache = self.snapshots().clone();
        self.run_read(Box::new(move |c| {
            async move {
                let ids = c.fetch_all(ids, id_row).await?;
                load_all(c, &cache, ids).await
            }
            .boxed()
        }))
        .await
    }

    async fn idle_loci(&self, idle_before: Millis) -> StoreResult<Vec<String>> {
        let stmt = Stmt::new(
            "SELECT id FROM loci WHERE state = 'ACTIVE' AND idle_since IS NOT NULL \
             AND idle_since <= $1 ORDER BY idle_since, id",
        )
        .bind(idle_before);
        self.read_all(stmt, id_row).await
    }

    async fn count_meetings_of(&self, person_id: &str, except_locus: &str) -> StoreResult<u64> {
        let stmt = Stmt::new(
            "SELECT COUNT(*) AS n FROM loci l JOIN locus_participants p ON p.locus_id = l.id \
             WHERE p.person_id = $1 AND p.state IN ('JOINED', 'IDLE') AND l.state = 'ACTIVE' \
             AND l.id <> $2",
        )
        .bind(person_id)
        .bind(except_locus);
        let n = self
            .read_optional(stmt, |r| r.int("n"))
            .await?
            .unwrap_or_default();
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn orphaned_devices(&self, device_prefix: &str, limit: u32) -> StoreResult<Vec<String>> {
        // By the device id after the prefix, so each check is a primary-key
        // lookup.
        let start = i64::try_from(device_prefix.chars().count()).unwrap_or(i64::MAX) + 1;
        let stmt = Stmt::new(
            "SELECT DISTINCT d.device_url AS id FROM locus_devices d \
             JOIN locus_participants p ON p.id = d.participant_id \
             JOIN loci l ON l.id = p.locus_id \
             WHERE l.state = 'ACTIVE' AND d.state <> 'LEFT' \
             AND NOT EXISTS (SELECT 1 FROM devices v WHERE v.id = substr(d.device_url, CAST($1 AS INTEGER))) \
             ORDER BY d.device_url LIMIT $2",
        )
        .bind(start)
        .bind(i64::from(limit));
        self.read_all(stmt, id_row).await
    }

    async fn loci_with_devices(&self, device_urls: &[String]) -> StoreResult<Vec<String>> {
        if device_urls.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=device_urls.len()).map(|i| format!("${i}")).collect();
        let mut stmt = Stmt::new(format!(
            "SELECT DISTINCT l.id FROM loci l \
             JOIN locus_participants p ON p.locus_id = l.id \
             JOIN locus_devices d ON d.participant_id = p.id \
             WHERE l.state = 'ACTIVE' AND d.state <> 'LEFT' AND d.device_url IN ({}) \
             ORDER BY l.id",
            placeholders.join(", ")
        ));
        for url in device_urls {
            stmt = stmt.bind(url);
        }
        self.read_all(stmt, id_row).await
    }

    async fn claim_media_node(
        &self,
        locus_id: &str,
        node: &str,
        replacing: Option<&str>,
    ) -> StoreResult<Option<String>> {
        let (id, node, replacing) = (
            locus_id.to_owned(),
            node.to_owned(),
            replacing.map(str::to_owned),
        );
        self.transaction(move |c| {
            async move {
                // One conditional update: two nodes claiming at once agree
                // on whichever committed first.
                c.execute(
                    Stmt::new(
                        "UPDATE loci SET media_node = $2 WHERE id = $1 \
                         AND (media_node IS NULL OR media_node = $3)",
                    )
                    .bind(&id)
                    .bind(&node)
                    .bind(replacing.as_deref().unwrap_or("")),
                )
                .await?;
                c.fetch_optional(
                    Stmt::new("SELECT media_node FROM loci WHERE id = $1").bind(&id),
                    |r| r.opt_text("media_node"),
                )
                .await
                .map(Option::flatten)
            }
            .boxed()
        })
        .await
    }

    async fn change_meeting(
        &self,
        locus_id: &str,
        mutation: Mutation,
    ) -> StoreResult<Option<Result<ChangeOutcome, ChangeRefused>>> {
        let id = locus_id.to_owned();
        let cache = self.snapshots().clone();
        let outcome = self
            .transaction(move |c| {
                async move {
                    // Changes of one Locus take turns on its row (PostgreSQL;
                    // SQLite's writer already runs one transaction at a
                    // time). The reads below start after the lock is
                    // granted, so under READ COMMITTED they see every change
                    // committed before.
                    let lock = Stmt::new("SELECT id FROM loci WHERE id = $1")
                        .bind(&id)
                        .locking(RowLock::Update);
                    if c.fetch_optional(lock, id_row).await?.is_none() {
                        return Ok(None);
                    }
                    // The snapshot this node committed last when nobody
                    // changed the meeting since, else the whole meeting.
                    let Some(before) = load(c, &cache, &id).await? else {
                        return Ok(None);
                    };
                    let outcome = apply(c, before, mutation).await?;
                    if let (true, Ok(o)) = (Self::SERIAL_WRITES, &outcome) {
                        cache.replace(o.snapshot.clone());
                    }
                    Ok(Some(outcome))
                }
                .boxed()
            })
            .await;
        match &outcome {
            // Committed: the snapshot is what the database now holds.
            Ok(Some(Ok(o))) => self.snapshots().put(o.snapshot.clone()),
            Err(_) => self.snapshots().forget(locus_id),
            Ok(_) => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> MeetingSnapshot {
        MeetingSnapshot {
            space: SpaceRecord {
                id: "s".into(),
                name: "n".into(),
                meeting_number: "1".into(),
                owner_id: None,
                creator_id: None,
                created_at: 0,
            },
            locus: LocusRecord {
                id: "l".into(),
                space_id: "s".into(),
                state: LocusState::Active,
                host_id: None,
                locked: false,
                sequence: 0,
                created_at: 0,
                last_active: 0,
                ended_at: None,
                idle_since: None,
                floor: None,
                active_speaker: None,
            },
            participants: Vec::new(),
        }
    }

    #[test]
    fn diff_finds_added_and_changed_participants() {
        let before = snapshot();
        let mut after = before.clone();
        after.participants.push(ParticipantRecord {
            id: "p".into(),
            person_id: "u".into(),
            name: String::new(),
            email: String::new(),
            org_id: String::new(),
            guest: false,
            state: ParticipantState::Joined,
            admitted: true,
            removed: false,
            joined_at: 0,
            left_at: None,
            devices: Vec::new(),
            media: None,
        });
        assert_eq!(diff(&before, &after), vec![0]);
        assert!(diff(&after, &after).is_empty());
    }
}
