//! Operator API for meetings: list the active ones with their participants,
//! end one. Guarded like the rest of `/admin/api/v1` ([`Admin`]).

use axum::Extension;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use webex_wire::error::ErrorBody;
use webex_wire::locus::LocusResponse;

use crate::admin::Admin;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::http::TrackingId;
use crate::state::AppState;
use crate::store::meetings::MeetingSnapshot;

use super::address;
use super::document;
use super::service;

/// Most meetings one listing returns.
pub const MAX_LISTED: u32 = 1000;

/// Query of `GET /admin/api/v1/meetings`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Most meetings to return (default and maximum 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// `GET /admin/api/v1/meetings`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingList {
    /// Active meetings, oldest first.
    pub meetings: Vec<MeetingSummary>,
}

/// One active meeting.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingSummary {
    /// Locus id.
    pub locus_id: String,
    /// Locus URL.
    pub locus_url: String,
    /// SIP address of the space.
    pub sip_uri: String,
    /// Meeting number.
    pub meeting_number: String,
    /// Current sequence.
    pub sequence: u64,
    /// Host's person id.
    pub host_id: Option<String>,
    /// RFC 3339 start time.
    pub started: String,
    /// Everyone who joined, with their state.
    pub participants: Vec<ParticipantSummary>,
}

/// One participant of a [`MeetingSummary`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantSummary {
    /// Participant id.
    pub id: String,
    /// Person id.
    pub person_id: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// JOINED or LEFT.
    pub state: String,
    /// URLs of the devices currently joined.
    pub devices: Vec<String>,
}

fn summary(state: &AppState, m: &MeetingSnapshot) -> MeetingSummary {
    let site = super::site(state);
    MeetingSummary {
        locus_id: m.locus.id.clone(),
        locus_url: site.locus_url(&m.locus.id),
        sip_uri: address::sip_uri(&m.space.name, site.sip_domain),
        meeting_number: m.space.meeting_number.clone(),
        sequence: m.locus.sequence,
        host_id: m.locus.host_id.clone(),
        started: crate::time::rfc3339(m.locus.created_at),
        participants: m
            .participants
            .iter()
            .map(|p| ParticipantSummary {
                id: p.id.clone(),
                person_id: p.person_id.clone(),
                name: p.name.clone(),
                email: p.email.clone(),
                state: p.state.to_string(),
                devices: p
                    .devices
                    .iter()
                    .filter(|d| d.state == webex_wire::locus::ParticipantState::Joined)
                    .map(|d| d.url.clone())
                    .collect(),
            })
            .collect(),
    }
}

/// Lists active meetings and their participants.
#[utoipa::path(
    get,
    path = "/admin/api/v1/meetings",
    tag = "admin",
    params(ListQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Active meetings", body = MeetingList),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 404, description = "Admin API disabled", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn list(
    _admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<MeetingList>> {
    let limit = match q.limit {
        None => MAX_LISTED,
        Some(n @ 1..=MAX_LISTED) => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "`limit` must be between 1 and {MAX_LISTED}, not {n}"
            )));
        }
    };
    let meetings = state.store.active_meetings(limit).await?;
    Ok(Json(MeetingList {
        meetings: meetings.iter().map(|m| summary(&state, m)).collect(),
    }))
}

/// Ends a meeting for everyone.
#[utoipa::path(
    post,
    path = "/admin/api/v1/meetings/{id}/end",
    tag = "admin",
    params(("id" = String, Path, description = "Locus id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Ended; the INACTIVE Locus (without `self`)", body = LocusResponse),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 404, description = "No such Locus, or admin API disabled", body = ErrorBody),
        (status = 409, description = "Already ended", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn end(
    _admin: Admin,
    State(state): State<AppState>,
    t: Option<Extension<TrackingId>>,
    Path(id): Path<String>,
) -> ApiResult<Json<LocusResponse>> {
    if !super::address::plausible_id(&id) {
        return Err(super::service::LocusError::NotFound("No such meeting".into()).into());
    }
    let tracking = t.as_ref().map(|Extension(TrackingId(id))| id.as_str());
    let outcome = service::end(&state, &id, None, tracking).await?;
    Ok(Json(LocusResponse {
        locus: document::full(&outcome.snapshot, &super::site(&state), None),
    }))
}
