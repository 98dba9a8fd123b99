//! Screen share: the Locus's `mediaShares` (their ids, derived from the
//! Locus id so nothing is stored for them) and `PUT {locusUrl}/mediashares/{id}`,
//! the floor request and release of the official SDK
//! (`share-and-mute-protocol.md` §1.2 step 4, §1.5). The rules are in
//! [`super::floor`].

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use webex_wire::error::ErrorBody;
use webex_wire::locus::{
    FloorDisposition, FloorRequest, LocusEventType, LocusResponse, error_codes,
};

use crate::auth::Caller;
use crate::budget;
use crate::error::{ApiError, ApiResult};
use crate::http::TrackingId;
use crate::state::AppState;
use crate::time::now_millis;

use super::floor::{self, GrantRequest};
use super::routes::{check_id, locus_answer, optional_json};
use super::{events, service};

/// Namespace of the media-share ids (a UUID v5 of the DNS namespace).
const SHARE_NAMESPACE: &str = "mediashares.locus.webex-server";

/// The ids of a Locus's media shares (UUID v5 of its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareIds {
    /// The `content` share (screen share).
    pub content: String,
    /// The `whiteboard` share.
    pub whiteboard: String,
}

impl ShareIds {
    /// The share ids of Locus `locus_id`: the same on every node, never
    /// stored.
    ///
    /// ```
    /// use webex_server::locus::share::ShareIds;
    /// let a = ShareIds::of("6b1c0b6e-0000-4000-8000-000000000001");
    /// assert_eq!(a, ShareIds::of("6b1c0b6e-0000-4000-8000-000000000001"));
    /// assert_ne!(a.content, a.whiteboard);
    /// assert_eq!(a.content.len(), 36);
    /// assert_eq!(&a.content[14..15], "5");
    /// ```
    pub fn of(locus_id: &str) -> Self {
        Self {
            content: v5(&format!("{locus_id}/content")),
            whiteboard: v5(&format!("{locus_id}/whiteboard")),
        }
    }
}

/// A UUID v5 (SHA-1, name-based) of `name` in [`SHARE_NAMESPACE`].
fn v5(name: &str) -> String {
    use sha1::Digest;
    let namespace = {
        let mut h = sha1::Sha1::new();
        h.update(uuid::Uuid::nil().as_bytes());
        h.update(SHARE_NAMESPACE.as_bytes());
        h.finalize()
    };
    let mut h = sha1::Sha1::new();
    h.update(&namespace[..16]);
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Longest `shareInstanceId` (the official SDK sends a UUID).
const MAX_SHARE_INSTANCE_ID: usize = 128;

fn tracking(t: &Option<Extension<TrackingId>>) -> Option<&str> {
    t.as_ref().map(|Extension(TrackingId(id))| id.as_str())
}

/// The participant id `url` names when it is a participant URL of Locus
/// `locus_id` (`…/locus/api/v1/loci/<locus id>/participant/<id>`; the host
/// is not compared: each node names itself).
fn participant_of_url<'a>(url: &'a str, locus_id: &str) -> Option<&'a str> {
    let marker = format!("{}/{locus_id}/participant/", super::LOCI_PATH);
    let at = url.find(&marker)?;
    let id = &url[at + marker.len()..];
    (!id.is_empty() && !id.contains('/') && super::address::plausible_id(id)).then_some(id)
}

/// 400 naming `field` when it is missing or empty.
fn required<'a>(value: Option<&'a str>, field: &str, why: &str) -> ApiResult<&'a str> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Ok(v),
        None => Err(ApiError::bad_request(format!(
            "`{field}` is required: {why}"
        ))),
    }
}

/// Takes (`GRANTED`) or releases (`RELEASED`) the content floor: the
/// official SDK's screen-share floor request. A grant while someone else
/// shares hands the floor over.
#[utoipa::path(
    put,
    path = "/locus/api/v1/loci/{id}/mediashares/{share_id}",
    tag = "locus",
    params(
        ("id" = String, Path, description = "Locus id"),
        ("share_id" = String, Path, description = "Media share id (the last segment of `mediaShares[name=content].url`)"),
    ),
    request_body = FloorRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done; the Locus after the change (with `mediaShares`)", body = LocusResponse),
        (status = 400, description = "Malformed body, a missing `floor.disposition`, `floor.shareInstanceId`, `floor.beneficiary.url` or `floor.beneficiary.devices[0].url`, a beneficiary URL that names no participant of this meeting, or a whiteboard share (not supported)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not a participant (2403010), another participant as beneficiary (2403013), a device not the caller's in this meeting (2403012), or a release of someone else's floor (2403015)", body = ErrorBody),
        (status = 404, description = "No such Locus (2404001) or media share (2404002)", body = ErrorBody),
        (status = 409, description = "The meeting ended (2409001), the caller or its device is not JOINED (2409002), or a release names another share than the current one (2409004)", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn floor(
    State(state): State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    Path((id, share_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    check_id(&state, &id).await?;
    let ids = ShareIds::of(&id);
    if share_id == ids.whiteboard {
        return Err(ApiError::bad_request(
            "whiteboard sharing is not supported: only the `content` share takes floor requests",
        ));
    }
    if share_id != ids.content {
        return Err(
            ApiError::not_found("No media share with that id in this meeting")
                .with_error_code(error_codes::NO_SUCH_SHARE),
        );
    }
    let body: FloorRequest = optional_json(&body)?.ok_or_else(|| {
        ApiError::bad_request("A JSON body `{\"floor\": {\"disposition\": …}}` is required")
    })?;
    let f = &body.floor;
    if let Some(problem) = f
        .share_instance_id
        .as_deref()
        .and_then(|s| budget::identifier_problem("floor.shareInstanceId", s, MAX_SHARE_INSTANCE_ID))
    {
        return Err(ApiError::bad_request(problem));
    }
    let me = caller.person.id.clone();
    let now = now_millis();
    let (mutation, event) = match &f.disposition {
        FloorDisposition::Granted => {
            let beneficiary = f.beneficiary.as_ref();
            let url = required(
                beneficiary.and_then(|b| b.url.as_deref()),
                "floor.beneficiary.url",
                "the participant that shares (`self.url`)",
            )?;
            let participant = participant_of_url(url, &id).ok_or_else(|| {
                ApiError::bad_request(
                    "`floor.beneficiary.url` is not a participant URL of this meeting \
                     (`{locusUrl}/participant/{id}`)",
                )
            })?;
            let device_url = required(
                beneficiary
                    .and_then(|b| b.devices.first())
                    .map(|d| d.url.as_str()),
                "floor.beneficiary.devices[0].url",
                "the device that shares",
            )?;
            let share = required(
                f.share_instance_id.as_deref(),
                "floor.shareInstanceId",
                "the share's id, chosen by the client",
            )?;
            let request = GrantRequest {
                caller: me,
                beneficiary: participant.to_owned(),
                device_url: device_url.to_owned(),
                share_instance_id: share.to_owned(),
            };
            (floor::grant(request, now), LocusEventType::FloorGranted)
        }
        FloorDisposition::Released => (
            floor::release(me, f.share_instance_id.clone(), now),
            LocusEventType::FloorReleased,
        ),
        _ => {
            return Err(ApiError::bad_request(
                "`floor.disposition` must be `GRANTED` or `RELEASED`",
            ));
        }
    };
    let outcome = service::change(&state, &id, mutation).await?;
    events::publish(&state, &outcome, event, tracking(&t)).await;
    Ok(locus_answer(&state, &caller, &outcome.snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_urls_of_this_locus_only() {
        let l = "6b1c0b6e-0000-4000-8000-000000000001";
        let p = "7c2d0b6e-0000-4000-8000-000000000002";
        let url = format!("https://h/locus/api/v1/loci/{l}/participant/{p}");
        assert_eq!(participant_of_url(&url, l), Some(p));
        assert_eq!(participant_of_url(&url, "other"), None);
        assert_eq!(participant_of_url(&format!("{url}/x"), l), None);
        assert_eq!(
            participant_of_url(&format!("https://h/locus/api/v1/loci/{l}/participant/"), l),
            None
        );
    }
}
