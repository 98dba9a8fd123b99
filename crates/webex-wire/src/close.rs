//! WebSocket close codes used by Mercury, with what each means to a client.

/// Normal closure; a client's `disconnect()`. The server closes a socket
/// that answered none of its pings with this code and the reason `idle`,
/// on which the official SDK reconnects.
pub const NORMAL: u16 = 1000;
/// The server is going away (shutdown); reconnect, possibly to another node.
pub const GOING_AWAY: u16 = 1001;
/// Abnormal closure (no close frame); reconnect.
pub const ABNORMAL: u16 = 1006;
/// Policy violation; used for a consumer too slow to drain its queue.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// Unexpected server condition; reconnect.
pub const INTERNAL_ERROR: u16 = 1011;
/// The official JS SDK closes with this on `meetings.unregister()`.
pub const MEETINGS_UNREGISTER: u16 = 3050;
/// A newer connection for the same device replaced this one. Do not reconnect.
pub const REPLACED: u16 = 4000;
/// The client sent something the server cannot parse or accept.
pub const BAD_REQUEST: u16 = 4400;
/// Authentication failed: missing, invalid, expired or revoked token, or no
/// authorization frame in time. Refresh the token, then reconnect.
pub const AUTH_FAILED: u16 = 4401;
/// The token is valid but may not use this device.
pub const FORBIDDEN: u16 = 4403;
/// The device is unknown (deleted or expired). Re-register, then reconnect.
pub const UNKNOWN_DEVICE: u16 = 4404;

/// What a client should do after the server closed its socket with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseAction {
    /// Reconnect with backoff.
    Reconnect,
    /// Refresh the access token, then reconnect.
    RefreshToken,
    /// Register the device again (PUT, then POST on 404), then reconnect.
    Reregister,
    /// Another connection took over; stand down.
    StandDown,
    /// Nothing a retry can fix.
    Fatal,
}

/// Classifies a close code the way the Webex Mercury team documents it.
///
/// ```
/// use webex_wire::close::{self, CloseAction};
/// assert_eq!(close::action(close::AUTH_FAILED), CloseAction::RefreshToken);
/// assert_eq!(close::action(close::REPLACED), CloseAction::StandDown);
/// ```
pub fn action(code: u16) -> CloseAction {
    match code {
        REPLACED => CloseAction::StandDown,
        AUTH_FAILED => CloseAction::RefreshToken,
        UNKNOWN_DEVICE => CloseAction::Reregister,
        BAD_REQUEST | FORBIDDEN | MESSAGE_TOO_BIG => CloseAction::Fatal,
        _ => CloseAction::Reconnect,
    }
}
