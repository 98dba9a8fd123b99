//! `GET /admin/api/v1/media/sessions`: the media sessions this node
//! carries (whose, state, mute flags, counts; never addresses or keys).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::Admin;
use crate::error::{ApiResult, Json};
use crate::limits::{self, Class};
use crate::openapi::Shared;
use crate::state::AppState;

/// One media session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaSessionSummary {
    /// Locus id.
    pub locus_id: String,
    /// Participant id.
    pub participant_id: String,
    /// `new`, `checking`, `connected` or `closed`.
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
    /// Mute flags.
    pub audio_muted: bool,
    /// Mute flags.
    pub video_muted: bool,
    /// The participant whose main video this one receives now (with more
    /// than two, the active speaker; the speaker gets the previous one).
    pub watching: Option<String>,
    /// Frames received from the participant.
    pub frames_in: u64,
    /// Frames forwarded to the participant.
    pub frames_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes forwarded.
    pub bytes_out: u64,
    /// Whether the participant holds the content floor (its slides are
    /// forwarded).
    pub presenting: bool,
}

/// This node's media sessions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaSessions {
    /// This node's id.
    pub node: String,
    /// Whether media is on here.
    pub enabled: bool,
    /// The sessions, by Locus then participant.
    pub sessions: Vec<MediaSessionSummary>,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api/v1/media/sessions", get(sessions))
        .route_layer(limits::layer(Class::Admin))
}

/// This node's media sessions.
#[utoipa::path(
    get,
    path = "/admin/api/v1/media/sessions",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "This node's media sessions", body = MediaSessions),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 404, description = "The admin API is off (no admin token)", body = webex_wire::error::ErrorBody),
    )
)]
pub(crate) async fn sessions(
    _admin: Admin,
    State(state): State<AppState>,
) -> ApiResult<Json<MediaSessions>> {
    let sessions = match state.media.engine() {
        Some(engine) => engine.sessions().await,
        None => Vec::new(),
    };
    Ok(Json(MediaSessions {
        node: state.config.node_id.clone(),
        enabled: state.media.engine().is_some(),
        sessions: sessions
            .into_iter()
            .map(|s| MediaSessionSummary {
                locus_id: s.key.meeting,
                participant_id: s.key.participant,
                state: s.state.to_owned(),
                created_at: s.created_at_ms,
                audio_muted: s.audio_muted,
                video_muted: s.video_muted,
                watching: s.watching,
                frames_in: s.frames_in,
                frames_out: s.frames_out,
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                presenting: s.presenting,
            })
            .collect(),
    }))
}

/// The OpenAPI description of this module's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(sessions), modifiers(&Shared))]
struct ApiDoc;
