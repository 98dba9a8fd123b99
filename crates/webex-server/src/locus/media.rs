//! `PUT {selfUrl}/media`: ROAP between the official SDK and the media
//! engine (`media-protocol.md` §2).
//!
//! Every request carries the sender's mute flags (recorded in the roster,
//! `status.audioStatus` / `videoStatus`) and at most one ROAP message:
//! - `TURN_DISCOVERY_REQUEST` → `TURN_DISCOVERY_RESPONSE` with the
//!   configured TURN server (or empty values: none);
//! - `OFFER` → `ANSWER` with the offer's `seq` and `noOkInTransaction`, or
//!   an `ERROR` the SDK understands (`REFUSED` for a full meeting or media
//!   off, `NOMATCH` for an offer without Opus or H.264, `FAILED` for a full
//!   node, `RETRY` when the anchor did not answer or its engine stopped);
//!   `seq` 1 is a new peer connection (the SDK started over);
//! - `OK`, `ERROR` from the client: taken, nothing to answer;
//! - none: a mute-only request.
//!
//! Only the caller's own admitted, JOINED participant may send it, from one
//! of its JOINED devices. Every answer carries the full Locus.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use webex_wire::error::{ErrorBody, codes};
use webex_wire::locus::error_codes;
use webex_wire::roap::{
    ErrorType, LocalSdp, MediaAnswerConnection, MediaRequest, MediaResponse, MessageType,
    RemoteSdp, RoapMessage,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json};
use crate::http::TrackingId;
use crate::media::{MediaFailure, OfferError, RelayedOffer};
use crate::state::AppState;
use crate::store::meetings::{ChangeRefused, MediaFlags};
use crate::time::now_millis;

use super::routes::{callers_device, check_id, optional_json};
use super::rules::{self, MediaSender};
use super::service::{self, LocusError};
use super::{document, events};

/// Longest SDP offer taken (Chromium's transcoded offers are ~6 KB).
pub const MAX_SDP_BYTES: usize = 64 * 1024;

/// The participant's media id: stable for one participant and device, so
/// the join answer and every `/media` answer agree without storing it.
///
/// ```
/// let a = webex_server::locus::media::media_id("p1", "http://h/wdm/api/v1/devices/d1");
/// assert_eq!(a.len(), 36);
/// assert_ne!(a, webex_server::locus::media::media_id("p2", "http://h/wdm/api/v1/devices/d1"));
/// ```
pub fn media_id(participant_id: &str, device_url: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("media:{participant_id}\n{device_url}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// What one `/media` request says, parsed and checked.
#[derive(Debug)]
pub struct ParsedMedia {
    /// The request.
    pub request: MediaRequest,
    /// Its `localMedias[0].localSdp`.
    pub local: LocalSdp,
}

/// Parses a `/media` body: exactly one `localMedias` entry whose `localSdp`
/// is a JSON [`LocalSdp`]; an offer holds one SDP of at most
/// [`MAX_SDP_BYTES`].
pub fn parse(body: &[u8]) -> ApiResult<ParsedMedia> {
    let request: MediaRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))?;
    let [entry] = request.local_medias.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "`localMedias` must hold exactly one entry, not {}",
            request.local_medias.len()
        )));
    };
    let local: LocalSdp = serde_json::from_str(&entry.local_sdp).map_err(|e| {
        ApiError::bad_request(format!(
            "`localMedias[0].localSdp` must be a JSON string of {{audioMuted, videoMuted, roapMessage}}: {e}"
        ))
    })?;
    if let Some(roap) = &local.roap_message {
        if roap.version != webex_wire::roap::ROAP_VERSION {
            return Err(ApiError::bad_request(format!(
                "ROAP version `{}` is not supported (only \"2\")",
                super::routes::truncate(&roap.version)
            )));
        }
        if roap.message_type == MessageType::Unknown {
            return Err(ApiError::bad_request(
                "`roapMessage.messageType` is not one of OFFER, OK, ERROR, TURN_DISCOVERY_REQUEST",
            ));
        }
        if roap.message_type == MessageType::Offer {
            match roap.sdps.as_slice() {
                [sdp] if !sdp.is_empty() && sdp.len() <= MAX_SDP_BYTES => {}
                [sdp] if sdp.len() > MAX_SDP_BYTES => {
                    return Err(ApiError::bad_request(format!(
                        "the offer's SDP is {} bytes, more than {MAX_SDP_BYTES}",
                        sdp.len()
                    )));
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "an OFFER holds exactly one non-empty SDP in `sdps`",
                    ));
                }
            }
        }
    }
    Ok(ParsedMedia { request, local })
}

/// Sends or changes the caller's media (ROAP), and their mute flags.
#[utoipa::path(
    put,
    path = "/locus/api/v1/loci/{id}/participant/{participant_id}/media",
    tag = "locus",
    params(
        ("id" = String, Path, description = "Locus id"),
        ("participant_id" = String, Path, description = "The caller's participant id (`self.id`)"),
    ),
    request_body = MediaRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The Locus after the request, and the server's ROAP message (ANSWER, TURN_DISCOVERY_RESPONSE or ERROR) in `mediaConnections[0].remoteSdp`", body = MediaResponse),
        (status = 400, description = "Malformed body, `localSdp` or ROAP message", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not the caller's participant, not admitted and JOINED (2403014), or `device.url` not its JOINED device", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 409, description = "The meeting has ended (2409001)", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn media(
    State(state): State<AppState>,
    caller: Caller,
    t: Option<Extension<TrackingId>>,
    Path((id, participant_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    check_id(&state, &id).await?;
    if optional_json::<serde::de::IgnoredAny>(&body)?.is_none() {
        return Err(ApiError::bad_request(
            "A JSON body with `device`, `correlationId` and `localMedias` is required",
        ));
    }
    let ParsedMedia { request, local } = parse(&body)?;
    callers_device(&state, &caller, &request.device.url).await?;
    let sender = MediaSender {
        person_id: caller.person.id.clone(),
        participant_id: participant_id.clone(),
        device_url: request.device.url.clone(),
    };
    let snapshot = state
        .store
        .meeting(&id)
        .await?
        .ok_or_else(|| LocusError::NotFound("No such meeting".into()))?;
    rules::check_media_sender(&snapshot, &sender).map_err(refused)?;
    let flags = MediaFlags {
        audio_muted: local.audio_muted,
        video_muted: local.video_muted,
    };
    let reply = match local.roap_message {
        None => None,
        Some(roap) => roap_reply(&state, &id, &sender, roap, flags).await?,
    };
    let tracking = t.as_ref().map(|Extension(TrackingId(t))| t.as_str());
    let outcome = service::change(&state, &id, rules::media(sender, flags, now_millis()))
        .await
        .map_err(|e| match e {
            LocusError::Refused(r) => refused(r),
            other => other.into(),
        })?;
    if outcome.changed {
        events::publish(
            &state,
            &outcome,
            webex_wire::locus::LocusEventType::ParticipantUpdated,
            tracking,
        )
        .await;
    }
    let remote_sdp = reply
        .map(|roap_message| serde_json::to_string(&RemoteSdp { roap_message }))
        .transpose()
        .map_err(ApiError::internal)?;
    let answer = MediaResponse {
        locus: document::full(
            &outcome.snapshot,
            &super::site(&state),
            Some(&caller.person.id),
        ),
        media_connections: vec![MediaAnswerConnection {
            media_id: Some(media_id(&participant_id, &request.device.url)),
            remote_sdp,
        }],
    };
    Ok(super::with_route_token(&id, Json(answer)))
}

/// The server's ROAP message for the client's `roap`, if any.
async fn roap_reply(
    state: &AppState,
    locus_id: &str,
    sender: &MediaSender,
    roap: RoapMessage,
    flags: MediaFlags,
) -> ApiResult<Option<RoapMessage>> {
    let seq = roap.seq;
    Ok(match roap.message_type {
        MessageType::TurnDiscoveryRequest => Some(RoapMessage::turn_discovery_response(
            seq,
            state.config.media.turn.as_ref(),
        )),
        MessageType::Offer => {
            let sdp = roap.sdps.into_iter().next().unwrap_or_default();
            let offer = RelayedOffer {
                meeting: locus_id.to_owned(),
                participant: sender.participant_id.clone(),
                device_url: sender.device_url.clone(),
                sdp,
                fresh: seq <= 1,
                audio_muted: flags.audio_muted,
                video_muted: flags.video_muted,
            };
            match crate::media::offer(state, offer).await {
                Ok(answered) => Some(RoapMessage::answer(seq, answered.sdp)),
                Err(OfferError::Store(e)) => return Err(e.into()),
                Err(OfferError::Media(f)) => {
                    metrics::counter!("webex_media_offers_refused_total", "reason" => failure_label(&f)).increment(1);
                    tracing::info!(locus = locus_id, reason = %f, "media: offer refused");
                    Some(RoapMessage::error(seq, error_type(&f), f.to_string()))
                }
            }
        }
        MessageType::Error => {
            tracing::info!(
                locus = locus_id,
                error = roap
                    .error_type
                    .and_then(|t| serde_json::to_value(t).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                cause = roap.error_cause.as_deref().map(super::routes::truncate),
                "media: the client reported a ROAP error"
            );
            None
        }
        // An OK closes a transaction; an ANSWER would answer a server
        // offer, which this server never makes.
        MessageType::Ok => None,
        _ => Some(RoapMessage::error(
            seq,
            ErrorType::InvalidState,
            "the server sent no offer to answer",
        )),
    })
}

/// The ROAP error type the official SDK acts on as it should: re-offer
/// later (`RETRY`) or give up with the cause.
fn error_type(f: &MediaFailure) -> ErrorType {
    match f {
        MediaFailure::InvalidOffer(_) => ErrorType::Nomatch,
        MediaFailure::MeetingFull(_) | MediaFailure::Off(_) => ErrorType::Refused,
        MediaFailure::NodeFull(_) => ErrorType::Failed,
        // The anchor moved or the engine is restarting: the SDK offers the
        // same seq again (at most twice), which may reach a live anchor.
        MediaFailure::Unreachable(_) | MediaFailure::Stopped => ErrorType::Retry,
    }
}

fn failure_label(f: &MediaFailure) -> &'static str {
    match f {
        MediaFailure::Off(_) => "off",
        MediaFailure::InvalidOffer(_) => "invalid_offer",
        MediaFailure::MeetingFull(_) => "meeting_full",
        MediaFailure::NodeFull(_) => "node_full",
        MediaFailure::Unreachable(_) => "unreachable",
        MediaFailure::Stopped => "stopped",
    }
}

/// A refused sender: 403 for everything but an ended meeting (409), as a
/// lobby member or a stranger must not learn more.
fn refused(r: ChangeRefused) -> ApiError {
    match r {
        ChangeRefused::Ended => LocusError::Refused(r).into(),
        ChangeRefused::NotJoined => ApiError::forbidden(
            "Only a participant JOINED to the meeting (not waiting in the lobby) may send media",
        )
        .with_error_code(error_codes::NOT_ADMITTED),
        other => ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, other.to_string())
            .with_error_code(error_codes::FOREIGN_PARTICIPANT),
    }
}
