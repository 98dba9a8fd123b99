//! The `locus` service routes: join by address, join a known Locus, leave
//! (or remove someone), admit and lock (`{locusUrl}/controls`), end, read
//! one Locus, list the caller's meetings.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use webex_wire::error::ErrorBody;
use webex_wire::locus::{
    ControlsRequest, JoinRequest, JoinResponse, LeaveRequest, LociList, LocusResponse,
    MediaConnection, ParticipantState, error_codes,
};
use webex_wire::people::PersonType;

use crate::auth::Caller;
use crate::budget;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::http::TrackingId;
use crate::state::AppState;
use crate::store::meetings::{ChangeRefused, MeetingSnapshot};
use crate::time::now_millis;

use super::address::{clean, plausible_id};
use super::document;
use super::rules::{self, Joiner};
use super::service::{self, LocusError};

/// Query accepted on joins (the official SDK always sends it).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Accepted for compatibility; redirects are never needed here.
pub(super) struct JoinQuery {
    /// `true`: the client can follow a redirect to another cluster.
    alternate_redirect: Option<String>,
}

fn tracking(t: &Option<Extension<TrackingId>>) -> Option<&str> {
    t.as_ref().map(|Extension(TrackingId(id))| id.as_str())
}

/// 404 unless the Locus `id` exists. Checked before the body, so a request
/// for a Locus that does not exist is a 404 whatever it carries.
pub(super) async fn check_id(state: &AppState, id: &str) -> ApiResult<()> {
    if plausible_id(id) && state.store.locus(id).await?.is_some() {
        Ok(())
    } else {
        Err(LocusError::NotFound("No such meeting".into()).into())
    }
}

/// Checks that `url` is a live device of the caller registered here.
pub(super) async fn callers_device(state: &AppState, caller: &Caller, url: &str) -> ApiResult<()> {
    let foreign = || {
        ApiError::forbidden("`device.url` is not a device of the caller registered on this server")
            .with_error_code(error_codes::FOREIGN_DEVICE)
    };
    let Some(id) =
        crate::device_url::device_id(&state.public_url, url).filter(|id| plausible_id(id))
    else {
        return Err(foreign());
    };
    match state.store.device(id).await? {
        Some(d)
            if d.person_id == caller.person.id
                && d.expires_at.is_none_or(|at| at > now_millis()) =>
        {
            Ok(())
        }
        _ => Err(foreign()),
    }
}

/// Longest join `correlationId` (the official SDK sends a UUID).
const MAX_CORRELATION_ID: usize = 128;
/// Longest `device.deviceType`.
const MAX_DEVICE_TYPE: usize = 32;

/// 400 unless the join's `correlationId` and `device.deviceType`, which
/// every other participant sees, are short plain identifiers.
fn check_shown_fields(body: &JoinRequest) -> ApiResult<()> {
    let checks = [
        (
            "correlationId",
            body.correlation_id.as_deref(),
            MAX_CORRELATION_ID,
        ),
        (
            "device.deviceType",
            Some(body.device.device_type.as_str()).filter(|t| !t.is_empty()),
            MAX_DEVICE_TYPE,
        ),
    ];
    for (field, value, max) in checks {
        if let Some(problem) = value.and_then(|v| budget::identifier_problem(field, v, max)) {
            return Err(ApiError::bad_request(problem));
        }
    }
    Ok(())
}

/// 400 naming the first field the official SDK always sends that `body`
/// lacks: `device.url`, `device.deviceType`, `correlationId` (the cloud
/// ties the join to the device and the client's meeting by them).
fn check_required_fields(body: &JoinRequest) -> ApiResult<()> {
    let blank = |v: Option<&str>| v.is_none_or(|v| v.trim().is_empty());
    let required = [
        ("device.url", Some(body.device.url.as_str())),
        ("device.deviceType", Some(body.device.device_type.as_str())),
        ("correlationId", body.correlation_id.as_deref()),
    ];
    match required.iter().find(|(_, v)| blank(*v)) {
        Some((field, _)) => Err(ApiError::bad_request(format!(
            "`{field}` is required: a join names the joining device (`device.url`, \
             `device.deviceType`, e.g. `WEB`) and the client's meeting (`correlationId`)"
        ))),
        None => Ok(()),
    }
}

async fn joiner(state: &AppState, caller: &Caller, body: &JoinRequest) -> ApiResult<Joiner> {
    check_required_fields(body)?;
    check_shown_fields(body)?;
    callers_device(state, caller, &body.device.url).await?;
    Ok(Joiner {
        person_id: caller.person.id.clone(),
        name: caller.person.display_name.clone(),
        email: caller.person.email.clone(),
        org_id: caller.person.org_id.clone(),
        guest: caller.person.kind == PersonType::Appuser,
        must_wait: false,
        device_url: body.device.url.clone(),
        device_type: clean(&body.device.device_type, 32),
        correlation_id: body.correlation_id.as_deref().map(|c| clean(c, 128)),
    })
}

/// `{"locus": …}`, the full document as `caller` sees it, with the route
/// token: the answer of a leave and of the host's controls.
pub(super) fn locus_answer(
    state: &AppState,
    caller: &Caller,
    m: &MeetingSnapshot,
) -> axum::response::Response {
    super::with_route_token(
        &m.locus.id,
        Json(LocusResponse {
            locus: document::full(m, &super::site(state), Some(&caller.person.id)),
        }),
    )
}

/// The join answer: the document, and the participant's `mediaId` for
/// the device that joined (the SDK echoes it in `/media`).
fn joined(
    state: &AppState,
    caller: &Caller,
    m: &MeetingSnapshot,
    device_url: &str,
) -> JoinResponse {
    let media_connections = m
        .participant_of(&caller.person.id)
        .map(|p| MediaConnection {
            media_id: Some(super::media::media_id(&p.id, device_url)),
        })
        .into_iter()
        .collect();
    JoinResponse {
        locus: document::full(m, &super::site(state), Some(&caller.person.id)),
        media_connections,
    }
}

/// Joins the meeting at `invitee.address`, starting it when nobody is in it.
#[utoipa::path(
    post,
    path = "/locus/api/v1/loci/call",
    tag = "locus",
    params(JoinQuery),
    request_body = JoinRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Joined; the Locus with `self`", body = JoinResponse),
        (status = 400, description = "Malformed body, or no `invitee.address`, `permissionToken`, `device.url`, `device.deviceType` or `correlationId`", body = ErrorBody),
        (status = 415, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "`device.url` is not one of the caller's devices, or the `permissionToken` is not meetingInfo's for this caller and meeting (or expired)", body = ErrorBody),
        (status = 404, description = "No meeting at that address", body = ErrorBody),
        (status = 409, description = "The meeting ended while joining", body = ErrorBody),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn call(
    State(state): State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    Query(_q): Query<JoinQuery>,
    Json(body): Json<JoinRequest>,
) -> ApiResult<axum::response::Response> {
    let Some(address) = body.invitee.as_ref().map(|i| i.address.as_str()) else {
        return Err(ApiError::bad_request("`invitee.address` is required"));
    };
    let j = joiner(&state, &caller, &body).await?;
    let not_found =
        || LocusError::NotFound(format!("No meeting at address `{}`", truncate(address)));
    // The token names the space meetingInfo found; checked before anything
    // is made, so a refused join creates nothing.
    let found = service::look_up(&state, address, &caller.person.id)
        .await?
        .ok_or_else(not_found)?;
    let name = match &found {
        service::Lookup::Space(s) => s.name.as_str(),
        service::Lookup::Unmade { name, .. } => name.as_str(),
    };
    let Some(token) = body.permission_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(ApiError::bad_request(
            "`permissionToken` is required to join by address: ask meetingInfo \
             (`POST {webex-appapi-service}/meetingInfo`) and send the token it answers",
        ));
    };
    super::permission::check(&state, token, &caller.person.id, name)?;
    let space = service::resolve(&state, address, &caller.person.id)
        .await?
        .ok_or_else(not_found)?;
    let device_url = j.device_url.clone();
    let outcome = service::join_space(&state, &space, j, tracking(&t)).await?;
    Ok(super::with_route_token(
        &outcome.snapshot.locus.id,
        Json(joined(&state, &caller, &outcome.snapshot, &device_url)),
    ))
}

/// Joins a known Locus.
#[utoipa::path(
    post,
    path = "/locus/api/v1/loci/{id}/participant",
    tag = "locus",
    params(("id" = String, Path, description = "Locus id"), JoinQuery),
    request_body = JoinRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Joined (or already joined from this device)", body = JoinResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "`device.url` is not one of the caller's devices", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 409, description = "The meeting has ended (errorCode 2409001)", body = ErrorBody),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn join(
    State(state): State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    Path(id): Path<String>,
    Query(_q): Query<JoinQuery>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    check_id(&state, &id).await?;
    let body: JoinRequest = optional_json(&body)?
        .ok_or_else(|| ApiError::bad_request("A JSON body with `device.url` is required"))?;
    let j = joiner(&state, &caller, &body).await?;
    let device_url = j.device_url.clone();
    let outcome = service::join(&state, &id, j, tracking(&t)).await?;
    Ok(super::with_route_token(
        &id,
        Json(joined(&state, &caller, &outcome.snapshot, &device_url)),
    ))
}

/// Leaves a Locus or its lobby (the caller's own participant); the JOINED
/// host removes someone else this way (the official SDK sends
/// `reason: FORCED`): they stop seeing the meeting, and wait in the lobby if
/// they join again.
#[utoipa::path(
    put,
    path = "/locus/api/v1/loci/{id}/participant/{participant_id}/leave",
    tag = "locus",
    params(
        ("id" = String, Path, description = "Locus id"),
        ("participant_id" = String, Path, description = "Participant id (`self.id`)"),
    ),
    request_body = LeaveRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Left; the Locus after the change", body = LocusResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not a participant, not the caller's participant, or not the JOINED host (errorCode 2403011)", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 409, description = "Already left (errorCode 2409002) or meeting ended", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    Path((id, participant_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    check_id(&state, &id).await?;
    let body: LeaveRequest = optional_json(&body)?.unwrap_or_default();
    // Who leaves is the participant id; `reason: FORCED` only says what
    // the rules tell anyway (someone else's participant is a removal).
    let _ = body.reason;
    let request = rules::LeaveRequest {
        caller: caller.person.id.clone(),
        participant_id,
        device_url: body.device.map(|d| d.url).filter(|u| !u.is_empty()),
    };
    let outcome = service::leave(&state, &id, request, tracking(&t)).await?;
    Ok(locus_answer(&state, &caller, &outcome.snapshot))
}

/// Ends the meeting for everyone (the JOINED host only).
#[utoipa::path(
    post,
    path = "/locus/api/v1/loci/{id}/end",
    tag = "locus",
    params(("id" = String, Path, description = "Locus id")),
    request_body(content = Option<Object>, description = "Ignored (the official SDK sends its `sequence`)"),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Ended, without a body, as the cloud answers: the INACTIVE Locus reaches every participant as an event (and `GET {locusUrl}`)"),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not a participant, or not the JOINED host", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 409, description = "Already ended", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn end(
    State(state): State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    check_id(&state, &id).await?;
    optional_json::<serde::de::IgnoredAny>(&body)?;
    service::end(&state, &id, Some(caller.person.id.clone()), tracking(&t)).await?;
    Ok(super::with_route_token(
        &id,
        axum::http::StatusCode::ACCEPTED,
    ))
}

/// The full Locus document (admitted participants only; also after it
/// ended). Someone waiting in the lobby reads only their own participant;
/// someone removed, or gone from the lobby, reads nothing.
#[utoipa::path(
    get,
    path = "/locus/api/v1/loci/{id}",
    tag = "locus",
    params(("id" = String, Path, description = "Locus id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The Locus with `self`", body = webex_wire::locus::Locus),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not a participant (2403010), or removed (2403014)", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn get_locus(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::response::Response> {
    let m = match plausible_id(&id) {
        true => state.store.meeting(&id).await?,
        false => None,
    }
    .ok_or_else(|| LocusError::NotFound("No such meeting".into()))?;
    match m.participant_of(&caller.person.id) {
        None => return Err(LocusError::Refused(ChangeRefused::NotParticipant).into()),
        Some(p) if !p.admitted && p.state != ParticipantState::Idle => {
            return Err(not_admitted());
        }
        Some(_) => {}
    }
    Ok(super::with_route_token(
        &id,
        Json(document::full(
            &m,
            &super::site(&state),
            Some(&caller.person.id),
        )),
    ))
}

/// The caller's active meetings (those they are joined to or wait in the
/// lobby of; a lobby seen as its waiting participant sees it).
#[utoipa::path(
    get,
    path = "/locus/api/v1/loci",
    tag = "locus",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active Loci with `self`", body = LociList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<LociList>> {
    let site = super::site(&state);
    let loci = state
        .store
        .meetings_of(&caller.person.id)
        .await?
        .iter()
        .map(|m| document::full(m, &site, Some(&caller.person.id)))
        .collect();
    Ok(Json(LociList {
        loci,
        ..LociList::default()
    }))
}

pub(super) fn not_admitted() -> ApiError {
    ApiError::forbidden("You were removed from this meeting or were not admitted to it")
        .with_error_code(error_codes::NOT_ADMITTED)
}

/// Admits people from the lobby (`admit.participantIds`, an array or one
/// string), or locks/unlocks the meeting (`lock.locked`). Host only; the
/// official SDK sends admit with `PUT` and lock with `PATCH`.
#[utoipa::path(
    put,
    path = "/locus/api/v1/loci/{id}/controls",
    tag = "locus",
    params(("id" = String, Path, description = "Locus id")),
    request_body = ControlsRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done; the Locus after the change", body = LocusResponse),
        (status = 400, description = "Malformed body, or neither `admit` nor `lock`", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not a participant, not the JOINED host (2403011), or an id not waiting in the lobby", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 409, description = "The meeting has ended", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn controls(
    State(state): State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    check_id(&state, &id).await?;
    let body: ControlsRequest = optional_json(&body)?.unwrap_or_default();
    let me = caller.person.id.clone();
    let outcome = match (body.admit, body.lock) {
        (Some(admit), None) => {
            let ids = admit.participant_ids.into_vec();
            if ids.is_empty() || ids.len() > MAX_ADMIT {
                return Err(ApiError::bad_request(format!(
                    "`admit.participantIds` must name 1 to {MAX_ADMIT} participants"
                )));
            }
            service::admit(&state, &id, me, ids, tracking(&t)).await?
        }
        (None, Some(lock)) => service::lock(&state, &id, me, lock.locked, tracking(&t)).await?,
        _ => {
            return Err(ApiError::bad_request(
                "Send exactly one of `admit` and `lock`",
            ));
        }
    };
    Ok(locus_answer(&state, &caller, &outcome.snapshot))
}

/// `PATCH {locusUrl}/controls`: the same as [`controls`] (the official SDK
/// locks with `PATCH`).
#[utoipa::path(
    patch,
    path = "/locus/api/v1/loci/{id}/controls",
    tag = "locus",
    params(("id" = String, Path, description = "Locus id")),
    request_body = ControlsRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done; the Locus after the change", body = LocusResponse),
        (status = 400, description = "Malformed body, or neither `admit` nor `lock`", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not a participant, or not the JOINED host (2403011)", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 409, description = "The meeting has ended", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn controls_patch(
    state: State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    id: Path<String>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    controls(state, caller, t, id, body).await
}

/// Most participants one admit may name.
const MAX_ADMIT: usize = 100;

/// Parses `body` as JSON `T` when it is not empty.
pub(super) fn optional_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<Option<T>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))
}

/// At most 128 characters of `s`, for error messages.
pub(super) fn truncate(s: &str) -> String {
    s.chars().take(128).collect()
}
