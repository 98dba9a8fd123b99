//! Mercury websocket frames.
//!
//! Client → server: [`ClientFrame`] (`authorization`, `ping`, `ack`).
//! Server → client: [`ServerFrame`], either a `pong` or an event envelope whose
//! `data.eventType` names the event. The first envelope after a successful
//! authorization is always [`BUFFER_STATE`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data.eventType` of the server's first frame after authorization.
pub const BUFFER_STATE: &str = "mercury.buffer_state";
/// Alternative first-frame event type used with shared Mercury.
pub const REGISTRATION_STATUS: &str = "mercury.registration_status";

/// A frame the client sends.
///
/// ```
/// use webex_wire::mercury::ClientFrame;
/// let f: ClientFrame = serde_json::from_str(r#"{"id":"1","type":"ping"}"#)?;
/// assert_eq!(f, ClientFrame::Ping { id: "1".into() });
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum ClientFrame {
    /// First frame: authenticates the socket.
    Authorization {
        /// Frame id.
        id: String,
        /// `{token: "Bearer …"}`.
        data: AuthorizationData,
        /// Client tracking id.
        #[serde(
            default,
            rename = "trackingId",
            skip_serializing_if = "Option::is_none"
        )]
        tracking_id: Option<String>,
    },
    /// Keepalive; answered with a pong carrying the same id.
    Ping {
        /// Frame id, echoed in the pong.
        id: String,
    },
    /// Acknowledges a server frame.
    Ack {
        /// Id of the acknowledged frame.
        #[serde(rename = "messageId")]
        message_id: String,
    },
}

impl ClientFrame {
    /// An authorization frame for `access_token` (sent as `Bearer <token>`).
    pub fn authorization(
        id: impl Into<String>,
        access_token: &str,
        tracking_id: Option<String>,
    ) -> Self {
        Self::Authorization {
            id: id.into(),
            data: AuthorizationData {
                token: format!("Bearer {access_token}"),
            },
            tracking_id,
        }
    }
}

/// Payload of the authorization frame.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationData {
    /// `Bearer <access token>`.
    pub token: String,
}

impl std::fmt::Debug for AuthorizationData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationData")
            .field("token", &"[redacted]")
            .finish()
    }
}

/// A frame the server sends: a pong (`type: "pong"`) or an event envelope
/// (no `type`, `data.eventType` set).
///
/// ```
/// use webex_wire::mercury::ServerFrame;
/// let f: ServerFrame = serde_json::from_str(
///     r#"{"id":"e1","sequenceNumber":2,"data":{"eventType":"locus.difference","locus":{}}}"#)?;
/// assert_eq!(f.event_type(), Some("locus.difference"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerFrame {
    /// Frame id; every server frame has one.
    pub id: String,
    /// `pong` for pongs; absent on events.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Per-connection increasing number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// Event payload with `eventType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<EventData>,
    /// Unix milliseconds when the server published the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Tracking id of the publishing request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_id: Option<String>,
}

impl ServerFrame {
    /// `data.eventType`, if this is an event.
    pub fn event_type(&self) -> Option<&str> {
        self.data.as_ref().map(|d| d.event_type.as_str())
    }

    /// Whether this is a pong.
    pub fn is_pong(&self) -> bool {
        self.kind.as_deref() == Some("pong")
    }
}

/// The `data` of an event envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    /// Dotted event name, e.g. `locus.difference`; empty when the frame has
    /// none (the frame is still acknowledged, as the official SDK does).
    #[serde(default)]
    pub event_type: String,
    /// Everything else in `data`.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl EventData {
    /// Event data with no extra fields.
    pub fn new(event_type: impl Into<String>) -> Self {
        Self {
            event_type: event_type.into(),
            rest: Map::new(),
        }
    }
}
