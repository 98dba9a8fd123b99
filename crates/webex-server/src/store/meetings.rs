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
//! The SQL is written once for both backends (`$N` placeholders work in
//! sqlx's SQLite driver too); the only dialect difference is PostgreSQL's
//! explicit row lock, which SQLite does not need (its single writer already
//! holds the database lock).

use async_trait::async_trait;
use webex_wire::locus::{LocusState, ParticipantState};

use super::{Millis, StoreError, StoreResult};

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
    /// Creation time.
    pub created_at: Millis,
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
    /// Person id of the host (the first joiner).
    pub host_id: Option<String>,
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
    /// JOINED or LEFT.
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
    /// JOINED or LEFT.
    pub state: ParticipantState,
    /// First join time.
    pub joined_at: Millis,
    /// Last leave time.
    pub left_at: Option<Millis>,
    /// Devices, in the order they first joined.
    pub devices: Vec<ParticipantDeviceRecord>,
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
/// snapshot. It may change the Locus's `state`, `host_id`, `last_active`,
/// `ended_at`, `idle_since`, add participants, and change participants'
/// `state`, `left_at` and devices; other fields are not written.
pub type Mutation =
    Box<dyn FnOnce(&mut MeetingSnapshot) -> Result<Applied, ChangeRefused> + Send + 'static>;

/// The result of [`MeetingStore::change_meeting`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// The meeting after the change, with the new sequence.
    pub snapshot: MeetingSnapshot,
    /// Whether anything changed (and the sequence moved by one).
    pub changed: bool,
    /// Ids of the participants that were added or changed.
    pub changed_participants: Vec<String>,
    /// Whether the Locus row (state, host) changed.
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
    /// Active Loci in which `person_id` is a JOINED participant.
    async fn meetings_of(&self, person_id: &str) -> StoreResult<Vec<MeetingSnapshot>>;
    /// Every active Locus, oldest first, at most `limit`.
    async fn active_meetings(&self, limit: u32) -> StoreResult<Vec<MeetingSnapshot>>;
    /// Ids of active Loci where nobody is joined since `idle_before` or earlier.
    async fn idle_loci(&self, idle_before: Millis) -> StoreResult<Vec<String>>;
    /// Changes a meeting in one transaction (see the module docs). `None`
    /// when there is no such Locus.
    async fn change_meeting(
        &self,
        locus_id: &str,
        mutation: Mutation,
    ) -> StoreResult<Option<Result<ChangeOutcome, ChangeRefused>>>;
}

/// Columns of `meeting_spaces`.
const SPACE_COLUMNS: &str = "id, name, meeting_number, owner_id, created_at";
/// Columns of `loci`.
const LOCUS_COLUMNS: &str =
    "id, space_id, state, host_id, sequence, created_at, last_active, ended_at, idle_since";

fn space_row<R: super::rows::Columns>(r: &R) -> StoreResult<SpaceRecord>
where
    String: for<'x> sqlx::Decode<'x, R::Db> + sqlx::Type<R::Db>,
    Option<String>: for<'x> sqlx::Decode<'x, R::Db> + sqlx::Type<R::Db>,
    i64: for<'x> sqlx::Decode<'x, R::Db> + sqlx::Type<R::Db>,
{
    Ok(SpaceRecord {
        id: r.col("id")?,
        name: r.col("name")?,
        meeting_number: r.col("meeting_number")?,
        owner_id: r.col("owner_id")?,
        created_at: r.col("created_at")?,
    })
}

fn locus_row<R: super::rows::Columns>(r: &R) -> StoreResult<LocusRecord>
where
    String: for<'x> sqlx::Decode<'x, R::Db> + sqlx::Type<R::Db>,
    Option<String>: for<'x> sqlx::Decode<'x, R::Db> + sqlx::Type<R::Db>,
    i64: for<'x> sqlx::Decode<'x, R::Db> + sqlx::Type<R::Db>,
    Option<i64>: for<'x> sqlx::Decode<'x, R::Db> + sqlx::Type<R::Db>,
{
    let sequence: i64 = r.col("sequence")?;
    Ok(LocusRecord {
        id: r.col("id")?,
        space_id: r.col("space_id")?,
        state: LocusState::from(r.col::<String>("state")?),
        host_id: r.col("host_id")?,
        sequence: u64::try_from(sequence)
            .map_err(|_| StoreError::Corrupt(format!("negative sequence {sequence}")))?,
        created_at: r.col("created_at")?,
        last_active: r.col("last_active")?,
        ended_at: r.col("ended_at")?,
        idle_since: r.col("idle_since")?,
    })
}

/// The rows of `after` that differ from `before`: participants added or
/// changed, and for each, devices added or changed.
fn diff(before: &MeetingSnapshot, after: &MeetingSnapshot) -> Vec<usize> {
    after
        .participants
        .iter()
        .enumerate()
        .filter(|(_, p)| before.participants.iter().find(|b| b.id == p.id) != Some(p))
        .map(|(i, _)| i)
        .collect()
}

/// One implementation of the queries for a connection type; instantiated
/// for SQLite and PostgreSQL below with the same SQL text.
macro_rules! meeting_queries {
    ($conn:ty) => {
        use futures::TryStreamExt;
        use webex_wire::locus::ParticipantState;

        use super::super::{Millis, StoreError, StoreResult};
        use super::*;

        pub(crate) async fn space(
            conn: &mut $conn,
            key: SpaceKey<'_>,
        ) -> StoreResult<Option<SpaceRecord>> {
            let (column, value) = match key {
                SpaceKey::Id(v) => ("id", v),
                SpaceKey::Name(v) => ("name", v),
                SpaceKey::Number(v) => ("meeting_number", v),
                SpaceKey::Owner(v) => ("owner_id", v),
            };
            let sql = format!("SELECT {SPACE_COLUMNS} FROM meeting_spaces WHERE {column} = $1");
            sqlx::query(&sql)
                .bind(value)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| space_row(&r))
                .transpose()
        }

        pub(crate) async fn ensure_space(
            conn: &mut $conn,
            s: &SpaceRecord,
        ) -> StoreResult<SpaceRecord> {
            if let Some(found) = space(&mut *conn, SpaceKey::Name(&s.name)).await? {
                return Ok(found);
            }
            sqlx::query(
                "INSERT INTO meeting_spaces (id, name, meeting_number, owner_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&s.id)
            .bind(&s.name)
            .bind(&s.meeting_number)
            .bind(&s.owner_id)
            .bind(s.created_at)
            .execute(&mut *conn)
            .await
            .map_err(super::super::rows::write_error("meeting space", "person"))?;
            space(&mut *conn, SpaceKey::Name(&s.name))
                .await?
                .ok_or(StoreError::Conflict("meeting space"))
        }

        pub(crate) async fn active_locus_of(
            conn: &mut $conn,
            space_id: &str,
        ) -> StoreResult<Option<LocusRecord>> {
            let sql = format!(
                "SELECT {LOCUS_COLUMNS} FROM loci WHERE space_id = $1 AND state = 'ACTIVE'"
            );
            sqlx::query(&sql)
                .bind(space_id)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| locus_row(&r))
                .transpose()
        }

        pub(crate) async fn open_locus(
            conn: &mut $conn,
            space_id: &str,
            new_id: &str,
            now: Millis,
        ) -> StoreResult<LocusRecord> {
            if let Some(l) = active_locus_of(&mut *conn, space_id).await? {
                return Ok(l);
            }
            // The partial unique index allows one ACTIVE Locus per space; a
            // concurrent opener's row wins and is returned below.
            sqlx::query(
                "INSERT INTO loci (id, space_id, state, host_id, sequence, created_at, \
                 last_active, ended_at, idle_since) \
                 VALUES ($1, $2, 'ACTIVE', NULL, 0, $3, $3, NULL, $3) ON CONFLICT DO NOTHING",
            )
            .bind(new_id)
            .bind(space_id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(super::super::rows::write_error("locus", "meeting space"))?;
            active_locus_of(&mut *conn, space_id)
                .await?
                .ok_or(StoreError::Conflict("locus"))
        }

        pub(crate) async fn locus(
            conn: &mut $conn,
            locus_id: &str,
        ) -> StoreResult<Option<LocusRecord>> {
            let sql = format!("SELECT {LOCUS_COLUMNS} FROM loci WHERE id = $1");
            sqlx::query(&sql)
                .bind(locus_id)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| locus_row(&r))
                .transpose()
        }

        /// The Locus `locus_id` with its space and participants.
        pub(crate) async fn meeting(
            conn: &mut $conn,
            locus_id: &str,
        ) -> StoreResult<Option<MeetingSnapshot>> {
            let sql = format!("SELECT {LOCUS_COLUMNS} FROM loci WHERE id = $1");
            let Some(locus) = sqlx::query(&sql)
                .bind(locus_id)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| locus_row(&r))
                .transpose()?
            else {
                return Ok(None);
            };
            let space = space(&mut *conn, SpaceKey::Id(&locus.space_id))
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("locus {locus_id} has no space")))?;
            let mut participants: Vec<ParticipantRecord> = Vec::new();
            {
                let mut rows = sqlx::query(
                    "SELECT p.id, p.person_id, p.state, p.joined_at, p.left_at, \
                     u.display_name, u.email, u.org_id \
                     FROM locus_participants p JOIN people u ON u.id = p.person_id \
                     WHERE p.locus_id = $1 ORDER BY p.joined_at, p.id",
                )
                .bind(locus_id)
                .fetch(&mut *conn);
                while let Some(r) = rows.try_next().await? {
                    participants.push(ParticipantRecord {
                        id: r.col("id")?,
                        person_id: r.col("person_id")?,
                        name: r.col("display_name")?,
                        email: r.col("email")?,
                        org_id: r.col("org_id")?,
                        state: ParticipantState::from(r.col::<String>("state")?),
                        joined_at: r.col("joined_at")?,
                        left_at: r.col("left_at")?,
                        devices: Vec::new(),
                    });
                }
            }
            let mut rows = sqlx::query(
                "SELECT d.participant_id, d.device_url, d.device_type, d.correlation_id, d.state \
                 FROM locus_devices d JOIN locus_participants p ON p.id = d.participant_id \
                 WHERE p.locus_id = $1 ORDER BY d.position, d.device_url",
            )
            .bind(locus_id)
            .fetch(&mut *conn);
            while let Some(r) = rows.try_next().await? {
                let pid: String = r.col("participant_id")?;
                let device = ParticipantDeviceRecord {
                    url: r.col("device_url")?,
                    device_type: r.col("device_type")?,
                    correlation_id: r.col("correlation_id")?,
                    state: ParticipantState::from(r.col::<String>("state")?),
                };
                if let Some(p) = participants.iter_mut().find(|p| p.id == pid) {
                    p.devices.push(device);
                }
            }
            Ok(Some(MeetingSnapshot {
                space,
                locus,
                participants,
            }))
        }

        pub(crate) async fn locus_ids_of(
            conn: &mut $conn,
            person_id: &str,
        ) -> StoreResult<Vec<String>> {
            Ok(sqlx::query_scalar(
                "SELECT l.id FROM loci l JOIN locus_participants p ON p.locus_id = l.id \
                 WHERE p.person_id = $1 AND p.state = 'JOINED' AND l.state = 'ACTIVE' \
                 ORDER BY l.created_at, l.id",
            )
            .bind(person_id)
            .fetch_all(&mut *conn)
            .await?)
        }

        pub(crate) async fn active_locus_ids(
            conn: &mut $conn,
            limit: u32,
        ) -> StoreResult<Vec<String>> {
            Ok(sqlx::query_scalar(
                "SELECT id FROM loci WHERE state = 'ACTIVE' ORDER BY created_at, id LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?)
        }

        pub(crate) async fn idle_loci(
            conn: &mut $conn,
            idle_before: Millis,
        ) -> StoreResult<Vec<String>> {
            Ok(sqlx::query_scalar(
                "SELECT id FROM loci WHERE state = 'ACTIVE' AND idle_since IS NOT NULL \
                 AND idle_since <= $1 ORDER BY idle_since, id",
            )
            .bind(idle_before)
            .fetch_all(&mut *conn)
            .await?)
        }

        /// Loads, decides, writes the difference and bumps the sequence.
        /// The caller holds the Locus row's lock (or the database's).
        pub(crate) async fn change_meeting(
            conn: &mut $conn,
            locus_id: &str,
            mutation: Mutation,
        ) -> StoreResult<Option<Result<ChangeOutcome, ChangeRefused>>> {
            let Some(before) = meeting(&mut *conn, locus_id).await? else {
                return Ok(None);
            };
            let mut after = before.clone();
            let applied = match mutation(&mut after) {
                Ok(a) => a,
                Err(refused) => return Ok(Some(Err(refused))),
            };
            if applied == Applied::Unchanged {
                return Ok(Some(Ok(ChangeOutcome {
                    snapshot: before,
                    changed: false,
                    changed_participants: Vec::new(),
                    locus_changed: false,
                })));
            }
            let changed = diff(&before, &after);
            for &i in &changed {
                let p = &after.participants[i];
                sqlx::query(
                    "INSERT INTO locus_participants (id, locus_id, person_id, state, joined_at, left_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (id) DO UPDATE SET state = $4, left_at = $6",
                )
                .bind(&p.id)
                .bind(locus_id)
                .bind(&p.person_id)
                .bind(p.state.as_str())
                .bind(p.joined_at)
                .bind(p.left_at)
                .execute(&mut *conn)
                .await
                .map_err(super::super::rows::write_error("participant", "person"))?;
                let old = before.participants.iter().find(|b| b.id == p.id);
                for (order, d) in p.devices.iter().enumerate() {
                    let same = old.and_then(|o| o.devices.iter().find(|od| od.url == d.url));
                    if same == Some(d) {
                        continue;
                    }
                    sqlx::query(
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
                    .bind(i64::try_from(order).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await?;
                }
            }
            let l = &after.locus;
            let sequence: i64 = sqlx::query_scalar(
                "UPDATE loci SET sequence = sequence + 1, state = $2, host_id = $3, \
                 last_active = $4, ended_at = $5, idle_since = $6 WHERE id = $1 RETURNING sequence",
            )
            .bind(locus_id)
            .bind(l.state.as_str())
            .bind(&l.host_id)
            .bind(l.last_active)
            .bind(l.ended_at)
            .bind(l.idle_since)
            .fetch_one(&mut *conn)
            .await
            .map_err(super::super::rows::write_error("active locus", "locus"))?;
            let locus_changed = before.locus.state != after.locus.state
                || before.locus.host_id != after.locus.host_id;
            after.locus.sequence = u64::try_from(sequence)
                .map_err(|_| StoreError::Corrupt(format!("negative sequence {sequence}")))?;
            let changed_participants = changed
                .iter()
                .map(|&i| after.participants[i].id.clone())
                .collect();
            Ok(Some(Ok(ChangeOutcome {
                snapshot: after,
                changed: true,
                changed_participants,
                locus_changed,
            })))
        }
    };
}

/// Queries on the SQLite writing (or reading) connection.
pub(super) mod sqlite_sql {
    use super::super::rows::Columns;
    meeting_queries!(sqlx::SqliteConnection);
}

/// Queries on a PostgreSQL connection.
pub(super) mod pg_sql {
    use super::super::rows::Columns;
    meeting_queries!(sqlx::PgConnection);
}

#[async_trait]
impl MeetingStore for super::SqliteStore {
    async fn ensure_space(&self, space: &SpaceRecord) -> StoreResult<SpaceRecord> {
        let space = space.clone();
        self.transaction(move |conn| {
            Box::pin(async move { sqlite_sql::ensure_space(conn, &space).await })
        })
        .await
    }

    async fn space(&self, key: SpaceKey<'_>) -> StoreResult<Option<SpaceRecord>> {
        let mut conn = self.read.acquire().await?;
        sqlite_sql::space(&mut conn, key).await
    }

    async fn open_locus(
        &self,
        space_id: &str,
        new_id: &str,
        now: Millis,
    ) -> StoreResult<LocusRecord> {
        let (space_id, new_id) = (space_id.to_owned(), new_id.to_owned());
        self.transaction(move |conn| {
            Box::pin(async move { sqlite_sql::open_locus(conn, &space_id, &new_id, now).await })
        })
        .await
    }

    async fn active_locus_of(&self, space_id: &str) -> StoreResult<Option<LocusRecord>> {
        let mut conn = self.read.acquire().await?;
        sqlite_sql::active_locus_of(&mut conn, space_id).await
    }

    async fn locus(&self, locus_id: &str) -> StoreResult<Option<LocusRecord>> {
        let mut conn = self.read.acquire().await?;
        sqlite_sql::locus(&mut conn, locus_id).await
    }

    async fn meeting(&self, locus_id: &str) -> StoreResult<Option<MeetingSnapshot>> {
        let mut conn = self.read.acquire().await?;
        sqlite_sql::meeting(&mut conn, locus_id).await
    }

    async fn meetings_of(&self, person_id: &str) -> StoreResult<Vec<MeetingSnapshot>> {
        let mut conn = self.read.acquire().await?;
        let ids = sqlite_sql::locus_ids_of(&mut conn, person_id).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(sqlite_sql::meeting(&mut conn, &id).await?);
        }
        Ok(out)
    }

    async fn active_meetings(&self, limit: u32) -> StoreResult<Vec<MeetingSnapshot>> {
        let mut conn = self.read.acquire().await?;
        let ids = sqlite_sql::active_locus_ids(&mut conn, limit).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(sqlite_sql::meeting(&mut conn, &id).await?);
        }
        Ok(out)
    }

    async fn idle_loci(&self, idle_before: Millis) -> StoreResult<Vec<String>> {
        let mut conn = self.read.acquire().await?;
        sqlite_sql::idle_loci(&mut conn, idle_before).await
    }

    async fn change_meeting(
        &self,
        locus_id: &str,
        mutation: Mutation,
    ) -> StoreResult<Option<Result<ChangeOutcome, ChangeRefused>>> {
        let locus_id = locus_id.to_owned();
        // The writer's transaction holds SQLite's write lock from its start,
        // so the load below already sees the latest committed state.
        self.transaction(move |conn| {
            Box::pin(async move { sqlite_sql::change_meeting(conn, &locus_id, mutation).await })
        })
        .await
    }
}

#[async_trait]
impl MeetingStore for super::PgStore {
    async fn ensure_space(&self, space: &SpaceRecord) -> StoreResult<SpaceRecord> {
        let mut conn = self.pool.acquire().await?;
        pg_sql::ensure_space(&mut conn, space).await
    }

    async fn space(&self, key: SpaceKey<'_>) -> StoreResult<Option<SpaceRecord>> {
        let mut conn = self.pool.acquire().await?;
        pg_sql::space(&mut conn, key).await
    }

    async fn open_locus(
        &self,
        space_id: &str,
        new_id: &str,
        now: Millis,
    ) -> StoreResult<LocusRecord> {
        // Autocommit statements: a concurrent opener's INSERT waits on the
        // unique index, does nothing, and the SELECT then sees its row.
        let mut conn = self.pool.acquire().await?;
        pg_sql::open_locus(&mut conn, space_id, new_id, now).await
    }

    async fn active_locus_of(&self, space_id: &str) -> StoreResult<Option<LocusRecord>> {
        let mut conn = self.pool.acquire().await?;
        pg_sql::active_locus_of(&mut conn, space_id).await
    }

    async fn locus(&self, locus_id: &str) -> StoreResult<Option<LocusRecord>> {
        let mut conn = self.pool.acquire().await?;
        pg_sql::locus(&mut conn, locus_id).await
    }

    async fn meeting(&self, locus_id: &str) -> StoreResult<Option<MeetingSnapshot>> {
        // One snapshot for the three reads.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let m = pg_sql::meeting(&mut tx, locus_id).await?;
        tx.commit().await?;
        Ok(m)
    }

    async fn meetings_of(&self, person_id: &str) -> StoreResult<Vec<MeetingSnapshot>> {
        let mut conn = self.pool.acquire().await?;
        let ids = pg_sql::locus_ids_of(&mut conn, person_id).await?;
        drop(conn);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.meeting(&id).await?);
        }
        Ok(out)
    }

    async fn active_meetings(&self, limit: u32) -> StoreResult<Vec<MeetingSnapshot>> {
        let mut conn = self.pool.acquire().await?;
        let ids = pg_sql::active_locus_ids(&mut conn, limit).await?;
        drop(conn);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.meeting(&id).await?);
        }
        Ok(out)
    }

    async fn idle_loci(&self, idle_before: Millis) -> StoreResult<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        pg_sql::idle_loci(&mut conn, idle_before).await
    }

    async fn change_meeting(
        &self,
        locus_id: &str,
        mutation: Mutation,
    ) -> StoreResult<Option<Result<ChangeOutcome, ChangeRefused>>> {
        let mut tx = self.pool.begin().await?;
        // PostgreSQL only: serialize changes of one Locus on its row. The
        // loads below start after the lock is granted, so under READ
        // COMMITTED they see every change committed before.
        let found = sqlx::query("SELECT id FROM loci WHERE id = $1 FOR UPDATE")
            .bind(locus_id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        let out = pg_sql::change_meeting(&mut tx, locus_id, mutation).await?;
        if matches!(out, Some(Ok(ChangeOutcome { changed: true, .. }))) {
            tx.commit().await?;
        }
        Ok(out)
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
                created_at: 0,
            },
            locus: LocusRecord {
                id: "l".into(),
                space_id: "s".into(),
                state: LocusState::Active,
                host_id: None,
                sequence: 0,
                created_at: 0,
                last_active: 0,
                ended_at: None,
                idle_since: None,
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
            state: ParticipantState::Joined,
            joined_at: 0,
            left_at: None,
            devices: Vec::new(),
        });
        assert_eq!(diff(&before, &after), vec![0]);
        assert!(diff(&after, &after).is_empty());
    }
}
