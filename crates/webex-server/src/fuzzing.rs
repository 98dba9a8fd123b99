//! Entry points for the cargo-fuzz targets in `fuzz/` at the workspace root
//! (the `fuzzing` feature; normal builds do not have this module).
//!
//! Each function runs the server's own code for one kind of untrusted input,
//! from the text a client sends up to the first store lookup, and returns
//! what the server would answer. Nothing here parses anything itself: the
//! targets assert properties of the answers (no panic, close reasons that
//! fit a close frame, pongs that parse, …). Not a stable API.

use webex_wire::oauth::GuestClaims;

use crate::auth::{check_token_shape, strip_bearer};
use crate::identity::guest;
use crate::mercury::{frame, session};

/// A Mercury client's first text frame, read as the server reads it: the
/// access token it carries (`Bearer ` stripped, shape checked) when the
/// socket would go on to the token lookup, or the close code and reason
/// (as cut for the close frame) the server answers with.
pub fn mercury_first_frame(text: &str) -> Result<String, (u16, String)> {
    let token = session::authorization(text).map_err(|(code, r)| (code, r.to_owned()))?;
    let token = strip_bearer(&token);
    match check_token_shape(token) {
        Ok(()) => Ok(token.to_owned()),
        Err(e) => Err((
            webex_wire::close::AUTH_FAILED,
            frame::close_reason(&e.to_string()).to_owned(),
        )),
    }
}

/// A later text frame of an authenticated socket: the ping id and the pong
/// the server sends back at sequence `seq`, or `None` when the server
/// ignores the frame.
pub fn mercury_later_frame(text: &str, seq: u64) -> Option<(String, String)> {
    let id = session::ping_id(text)?;
    let pong = frame::pong(&id, seq);
    Some((id, pong))
}

/// An `Authorization` header value as a bearer access token: the token
/// when its shape is acceptable, else the 401 message.
pub fn access_token(value: &str) -> Result<String, String> {
    let token = strip_bearer(value);
    check_token_shape(token)
        .map(|()| token.to_owned())
        .map_err(|e| e.to_string())
}

/// The clock skew tolerated on a guest JWT's `exp`, `nbf` and `iat`, in seconds.
pub const GUEST_JWT_LEEWAY_SECS: u64 = guest::LEEWAY_SECS;
/// The longest a guest JWT may be valid, in seconds.
pub const GUEST_JWT_MAX_LIFETIME_SECS: i64 = guest::MAX_JWT_LIFETIME_SECS;

/// What `POST /v1/jwt/login` makes of an `Authorization` value when every
/// issuer is known and holds `secret`: the verified claims, the guest's
/// email and display name (the display name checked as the server checks
/// it), or the refusal's message.
pub fn guest_jwt(value: &str, secret: &[u8]) -> Result<(GuestClaims, String, String), String> {
    let jwt = guest::read_jwt(value).map_err(|e| e.to_string())?;
    let iss = guest::unverified_issuer(jwt).map_err(|e| e.to_string())?;
    let claims = guest::verify(jwt, &iss, secret).map_err(|e| e.to_string())?;
    let name = guest::display_name(&claims);
    crate::budget::check_name("name", &name).map_err(|e| e.to_string())?;
    let email = guest::guest_email(&claims.sub, &iss);
    Ok((claims, email, name))
}

/// What the server makes of a `PUT {selfUrl}/media` body before it looks
/// anything up: the ROAP message type (`None`: a mute-only request) and
/// the mute flags, with the engine's verdict on an offer's SDP
/// (`Some(Err(message))`: the ROAP error it would answer); or the 400
/// message.
pub fn media_request(body: &[u8]) -> Result<MediaRequestSummary, String> {
    let parsed = crate::locus::media::parse(body).map_err(|e| e.message)?;
    let roap = parsed.local.roap_message.as_ref();
    let offer = roap
        .filter(|r| r.message_type == webex_wire::roap::MessageType::Offer)
        .and_then(|r| r.sdps.first())
        .map(|sdp| webex_media::check_offer(sdp).map_err(|e| e.to_string()));
    Ok(MediaRequestSummary {
        message_type: roap.map(|r| r.message_type.clone()),
        audio_muted: parsed.local.audio_muted,
        video_muted: parsed.local.video_muted,
        offer,
    })
}

/// See [`media_request`].
#[derive(Debug)]
pub struct MediaRequestSummary {
    /// The ROAP message's type.
    pub message_type: Option<webex_wire::roap::MessageType>,
    /// `audioMuted`.
    pub audio_muted: bool,
    /// `videoMuted`.
    pub video_muted: bool,
    /// For an offer: whether the engine takes its SDP.
    pub offer: Option<Result<(), String>>,
}
