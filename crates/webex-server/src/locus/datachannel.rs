//! The meeting data channel (LLM) as far as the official SDK needs it: at
//! admission it registers its device at `info.datachannelUrl` and opens a
//! Mercury-class socket at the URL it gets back, and treats a failure of
//! either as an unhandled rejection. This server relays nothing on that
//! channel: the socket authenticates, sends `mercury.buffer_state`, answers
//! pings, and closes when the participant is no longer in the meeting or
//! the server shuts down.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use webex_wire::error::ErrorBody;
use webex_wire::locus::ParticipantState;

use crate::auth::{Caller, authenticate_token, strip_bearer};
use crate::error::{ApiResult, Json};
use crate::mercury::frame;
use crate::mercury::session::{authorization, ping_id};
use crate::state::AppState;
use crate::store::meetings::ChangeRefused;
use crate::time::now_millis;

use super::routes::{check_id, not_admitted, optional_json};
use super::service::LocusError;

/// Largest frame the socket reads (pings and the authorization frame).
const MAX_FRAME: usize = 16 * 1024;
/// How often an open socket checks that its participant is still in.
const RECHECK: Duration = Duration::from_secs(2);

/// Body of the data-channel registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct DataChannelRequest {
    /// The registering device.
    #[allow(dead_code)] // Accepted for compatibility.
    device_url: Option<String>,
}

/// Answer of the data-channel registration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct DataChannelResponse {
    /// Where the client's data-channel socket connects.
    web_socket_url: String,
    /// The binding of that socket.
    binding: String,
}

/// Whether `person` is an admitted participant of the active or ended
/// Locus `locus_id` who is still in it (`Ok(false)`: not, or no more).
async fn still_in(state: &AppState, locus_id: &str, person: &str) -> Result<bool, LocusError> {
    let Some(m) = state.store.meeting(locus_id).await? else {
        return Ok(false);
    };
    Ok(m.participant_of(person)
        .is_some_and(|p| p.admitted && p.state == ParticipantState::Joined))
}

/// Registers an admitted participant's device for the meeting's data
/// channel (`info.datachannelUrl`).
#[utoipa::path(
    post,
    path = "/datachannel/api/v1/locus/{id}/registrations",
    tag = "locus",
    params(("id" = String, Path, description = "Locus id")),
    request_body = DataChannelRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Registered", body = DataChannelResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "Not an admitted participant", body = ErrorBody),
        (status = 404, description = "No such Locus", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<DataChannelResponse>> {
    check_id(&state, &id).await?;
    optional_json::<serde::de::IgnoredAny>(&body)?;
    let m = state
        .store
        .meeting(&id)
        .await?
        .ok_or_else(|| LocusError::NotFound("No such meeting".into()))?;
    match m.participant_of(&caller.person.id) {
        Some(p) if p.admitted => {}
        Some(_) => return Err(not_admitted()),
        None => return Err(LocusError::Refused(ChangeRefused::NotParticipant).into()),
    }
    Ok(Json(DataChannelResponse {
        web_socket_url: format!(
            "{}{}/{id}/socket",
            state.public_ws_url(),
            super::DATACHANNEL_BASE
        ),
        binding: format!("locus.{id}"),
    }))
}

/// The data-channel socket (a websocket; the client authenticates with
/// its first frame, as on Mercury).
#[utoipa::path(
    get,
    path = "/datachannel/api/v1/locus/{id}/socket",
    tag = "locus",
    params(("id" = String, Path, description = "Locus id")),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, description = "Not a websocket upgrade request"),
    )
)]
pub(super) async fn socket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| run(socket, state, id))
}

async fn run(mut ws: WebSocket, state: AppState, locus_id: String) {
    let (code, reason) = match serve(&mut ws, &state, &locus_id).await {
        Ok(()) => return,
        Err(close) => close,
    };
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = ws.send(close).await;
}

/// Runs the socket; `Ok` when the client closed it, else the close to send.
async fn serve(
    ws: &mut WebSocket,
    state: &AppState,
    locus_id: &str,
) -> Result<(), (u16, &'static str)> {
    const AUTH: u16 = 4401;
    const GONE: u16 = 4404;
    let first = tokio::time::timeout(state.config.auth_timeout, next_text(ws))
        .await
        .map_err(|_| (AUTH, "authentication did not happen within the timeout"))?
        .ok_or((1000, "closed"))?;
    let token = authorization(&first)?;
    let caller = match authenticate_token(state, strip_bearer(&token), now_millis()).await {
        Ok(Ok(caller)) => caller,
        _ => return Err((AUTH, "the token is not valid")),
    };
    let person = caller.person.id;
    if !still_in(state, locus_id, &person).await.unwrap_or(false) {
        return Err((GONE, "not in this meeting"));
    }
    let mut seq = 1;
    let hello = frame::buffer_state(&uuid::Uuid::new_v4().to_string(), seq, now_millis());
    ws.send(Message::Text(hello.into()))
        .await
        .map_err(|_| (1000, "gone"))?;
    let mut tick = tokio::time::interval(RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            text = next_text(ws) => {
                let Some(text) = text else { return Ok(()) };
                if let Some(id) = ping_id(&text) {
                    seq += 1;
                    ws.send(Message::Text(frame::pong(&id, seq).into()))
                        .await
                        .map_err(|_| (1000, "gone"))?;
                }
            }
            _ = tick.tick() => {
                if state.hub.is_shutting_down() {
                    return Err((1001, "server shutting down"));
                }
                if !still_in(state, locus_id, &person).await.unwrap_or(true) {
                    return Err((GONE, "no longer in this meeting"));
                }
            }
        }
    }
}

/// The next text frame; `None` when the client closed or the connection
/// failed.
async fn next_text(ws: &mut WebSocket) -> Option<String> {
    loop {
        match ws.recv().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
