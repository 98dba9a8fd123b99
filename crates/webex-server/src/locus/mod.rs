//! Meetings without media: the Locus service the official JS SDK's
//! `meetings` plugin talks to (`syncMeetings`, `create`, `join`, `leave`,
//! `endMeetingForAll`, roster events), and the meeting-info lookup it makes
//! first.
//!
//! - [`address`]: what addresses mean (SIP URI, email → personal room,
//!   meeting number, join link) and how spaces are named and numbered.
//! - [`rules`]: ownership and host powers; join (or wait in the lobby),
//!   leave, remove, admit, lock, end and idle expiry as pure decisions on
//!   a stored meeting, run inside the store's transaction.
//! - [`service`]: the operations (resolve, open, join, leave, end, sweep),
//!   each one store transaction and one event.
//! - [`document`]: Locus documents (full and delta) in the shape the
//!   official SDK accepts.
//! - [`events`]: one bus message per change, rendered per person on each
//!   node (`self`), full documents for small meetings, deltas for large.
//! - [`permission`]: the `permissionToken` meetingInfo hands out and joins
//!   by address require.
//! - [`republish`]: changes whose event the bus lost (Redis unreachable),
//!   published again as full documents once it is back.
//! - [`floor`] and [`share`]: the screen-share floor (`mediaShares`,
//!   `PUT {locusUrl}/mediashares/{id}`): one presenter at a time, released
//!   when they stop, leave, are removed, lose their device or the meeting
//!   ends.
//! - [`media`]: ROAP over `{selfUrl}/media` (TURN discovery, offer →
//!   answer, mute flags into the roster), answered by `crate::media`.
//! - `datachannel`: the data-channel registration and socket an admitted
//!   official client opens (nothing is relayed on it).
//! - `routes` (`{locus}/loci…`), `meeting_info`
//!   (`{webex-appapi-service}/meetingInfo`) and `admin`
//!   (`/admin/api/v1/meetings`): the HTTP surface.
//!
//! Storage is [`MeetingStore`](crate::store::MeetingStore).

use axum::Router;
use axum::routing::{get, post, put};

use crate::limits::{self, Class};
use crate::openapi::Shared;
use crate::state::AppState;

pub mod address;
mod admin;
mod datachannel;
pub mod document;
pub mod events;
pub mod floor;
pub mod media;
mod meeting_info;
pub mod permission;
pub mod republish;
mod routes;
pub mod rules;
pub mod service;
pub mod share;

pub use admin::{MeetingList, MeetingSummary, ParticipantSummary};

/// Base path of the `locus` service.
pub const LOCUS_BASE: &str = "/locus/api/v1";
/// Path of the Loci collection.
pub const LOCI_PATH: &str = "/locus/api/v1/loci";
/// Base path of the meetings' data-channel registrations
/// (`info.datachannelUrl` is `{public}{DATACHANNEL_BASE}/<locus id>/registrations`).
pub const DATACHANNEL_BASE: &str = "/datachannel/api/v1/locus";
/// Base path of the `webex-appapi-service` service.
pub const APPAPI_BASE: &str = "/wbxappapi/v1";

/// The header Locus answers carry (and clients echo on later requests to
/// that Locus) to route them to the participant's Locus instance.
pub const ROUTE_TOKEN_HEADER: &str = "x-cisco-part-route-token";

/// The route token of the Locus `locus_id`: opaque, the same for every
/// answer about that Locus and on every node (one instance serves it all
/// here), so an echoed token is always current and nothing is stored.
///
/// ```
/// let t = webex_server::locus::route_token("6b1c0b6e-0000-4000-8000-000000000001");
/// assert_eq!(t.len(), 32);
/// assert_eq!(t, webex_server::locus::route_token("6b1c0b6e-0000-4000-8000-000000000001"));
/// ```
pub fn route_token(locus_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("locus-route:{locus_id}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `answer` with the route token of `locus_id` in its headers.
pub(crate) fn with_route_token(
    locus_id: &str,
    answer: impl axum::response::IntoResponse,
) -> axum::response::Response {
    let mut res = answer.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&route_token(locus_id)) {
        res.headers_mut().insert(ROUTE_TOKEN_HEADER, v);
    }
    res
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/locus/api/v1/loci", get(routes::list))
        .route(
            "/locus/api/v1/loci/call",
            post(routes::call).route_layer(limits::layer(Class::MeetingJoin)),
        )
        .route("/locus/api/v1/loci/{id}", get(routes::get_locus))
        .route(
            "/locus/api/v1/loci/{id}/participant",
            post(routes::join).route_layer(limits::layer(Class::MeetingJoin)),
        )
        .route(
            "/locus/api/v1/loci/{id}/participant/{participant_id}/leave",
            put(routes::leave),
        )
        .route(
            "/locus/api/v1/loci/{id}/participant/{participant_id}/media",
            put(media::media),
        )
        .route(
            "/locus/api/v1/loci/{id}/mediashares/{share_id}",
            put(share::floor),
        )
        .route("/locus/api/v1/loci/{id}/end", post(routes::end))
        .route(
            "/locus/api/v1/loci/{id}/controls",
            put(routes::controls).patch(routes::controls_patch),
        )
        .route(
            "/datachannel/api/v1/locus/{id}/registrations",
            post(datachannel::register),
        )
        .route(
            "/datachannel/api/v1/locus/{id}/socket",
            get(datachannel::socket),
        )
        .route(
            "/wbxappapi/v1/meetingInfo",
            post(meeting_info::meeting_info).route_layer(limits::layer(Class::MeetingInfo)),
        )
        .merge(
            Router::new()
                .route("/admin/api/v1/meetings", get(admin::list))
                .route("/admin/api/v1/meetings/{id}/end", post(admin::end))
                .route_layer(limits::layer(Class::Admin)),
        )
}

/// The OpenAPI description of this module's routes.
///
/// ```
/// let api = webex_server::locus::openapi();
/// assert!(api.paths.paths.contains_key("/locus/api/v1/loci/call"));
/// assert!(api.paths.paths.contains_key("/wbxappapi/v1/meetingInfo"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        routes::list,
        routes::call,
        routes::get_locus,
        routes::join,
        routes::leave,
        media::media,
        share::floor,
        routes::end,
        routes::controls,
        routes::controls_patch,
        datachannel::register,
        datachannel::socket,
        meeting_info::meeting_info,
        admin::list,
        admin::end,
    ),
    tags((name = "locus", description = "Meetings without media (Locus) and meeting info")),
    modifiers(&Shared)
)]
struct ApiDoc;

/// What documents need to know about this server.
pub fn site(state: &AppState) -> document::Site<'_> {
    document::Site {
        public_url: &state.public_url,
        sip_domain: &state.config.sip_domain,
    }
}
