//! Media signalling: the body of `PUT {selfUrl}/media` and its answer, and
//! the ROAP messages they carry (`media-protocol.md` §2).
//!
//! ROAP rides twice wrapped: the request's `localMedias[0].localSdp` is a
//! JSON *string* holding [`LocalSdp`] (mute flags and the `roapMessage`),
//! and the answer's `mediaConnections[0].remoteSdp` is a JSON string
//! holding [`RemoteSdp`].
//!
//! ```
//! use webex_wire::roap::{LocalSdp, MessageType, RoapMessage};
//! let offer = RoapMessage::offer(1, "v=0\r\n".into());
//! let local = LocalSdp { audio_muted: false, video_muted: true, roap_message: Some(offer), ..Default::default() };
//! let text = serde_json::to_string(&local).unwrap();
//! let back: LocalSdp = serde_json::from_str(&text).unwrap();
//! assert_eq!(back.roap_message.unwrap().message_type, MessageType::Offer);
//! assert!(back.video_muted);
//! ```

use serde::{Deserialize, Serialize};

use crate::locus::{JoinDevice, Locus};

/// The ROAP version the official SDK speaks.
pub const ROAP_VERSION: &str = "2";
/// Header: put the answer in the HTTP response, not in a Mercury event.
pub const INCLUDE_ANSWER_IN_HTTP_RESPONSE: &str = "includeAnswerInHttpResponse";
/// Header: no `OK` follows the `ANSWER`.
pub const NO_OK_IN_TRANSACTION: &str = "noOkInTransaction";
/// The `tieBreaker` the official SDK puts in its offers.
pub const CLIENT_TIE_BREAKER: u32 = 0xFFFF_FFFE;
/// TURN discovery answer headers (`x-cisco-turn-url=<url>`, …); all three
/// are sent, with empty values when there is no TURN server.
pub const TURN_URL_HEADER: &str = "x-cisco-turn-url";
/// See [`TURN_URL_HEADER`].
pub const TURN_USERNAME_HEADER: &str = "x-cisco-turn-username";
/// See [`TURN_URL_HEADER`].
pub const TURN_PASSWORD_HEADER: &str = "x-cisco-turn-password";

/// `roapMessage.messageType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum MessageType {
    /// An SDP offer.
    Offer,
    /// An SDP answer.
    Answer,
    /// The offerer accepted the answer.
    Ok,
    /// Something failed (`errorType`).
    Error,
    /// Ask for the TURN server.
    TurnDiscoveryRequest,
    /// The TURN server (in `headers`).
    TurnDiscoveryResponse,
    /// A type this crate does not know.
    #[serde(other)]
    Unknown,
}

/// `roapMessage.errorType` (RFC-style ROAP errors the official SDK knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorType {
    /// Both sides offered at once; the client re-offers.
    Doubleconflict,
    /// An offer while another is in progress.
    Conflict,
    /// The request failed for good.
    Failed,
    /// Not valid in this state; the client re-offers.
    InvalidState,
    /// The SDP has nothing the other side can take.
    Nomatch,
    /// A lower `seq` than one already seen; the client re-offers.
    OutOfOrder,
    /// Refused by policy (e.g. the meeting's media is full).
    Refused,
    /// Try the same `seq` again.
    Retry,
    /// No answer in time.
    Timeout,
    /// A type this crate does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorType {
    /// Whether the official SDK answers this error with a new offer.
    ///
    /// ```
    /// use webex_wire::roap::ErrorType;
    /// assert!(ErrorType::Retry.client_reoffers());
    /// assert!(!ErrorType::Refused.client_reoffers());
    /// ```
    pub fn client_reoffers(self) -> bool {
        matches!(
            self,
            Self::Doubleconflict | Self::InvalidState | Self::OutOfOrder | Self::Retry
        )
    }
}

/// One ROAP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoapMessage {
    /// What it is.
    pub message_type: MessageType,
    /// `"2"`.
    #[serde(default = "version")]
    pub version: String,
    /// Transaction number: the offerer's, echoed by the answer.
    #[serde(default)]
    pub seq: u64,
    /// SDPs (one for an offer or answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sdps: Vec<String>,
    /// Glare resolution (the SDK sends 0xFFFFFFFE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_breaker: Option<u64>,
    /// Options (`includeAnswerInHttpResponse`, `noOkInTransaction`,
    /// `x-cisco-turn-url=…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// For an `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorType>,
    /// For an `ERROR`: why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_cause: Option<String>,
}

fn version() -> String {
    ROAP_VERSION.to_owned()
}

impl RoapMessage {
    fn new(message_type: MessageType, seq: u64) -> Self {
        Self {
            message_type,
            version: version(),
            seq,
            sdps: Vec::new(),
            tie_breaker: None,
            headers: Vec::new(),
            error_type: None,
            error_cause: None,
        }
    }

    /// A client's offer, as the official SDK sends it.
    pub fn offer(seq: u64, sdp: String) -> Self {
        Self {
            sdps: vec![sdp],
            tie_breaker: Some(u64::from(CLIENT_TIE_BREAKER)),
            headers: vec![
                INCLUDE_ANSWER_IN_HTTP_RESPONSE.into(),
                NO_OK_IN_TRANSACTION.into(),
            ],
            ..Self::new(MessageType::Offer, seq)
        }
    }

    /// The answer to the offer `seq`, without an `OK` to follow.
    ///
    /// ```
    /// let a = webex_wire::roap::RoapMessage::answer(3, "v=0".into());
    /// assert_eq!(a.seq, 3);
    /// assert!(a.has_header(webex_wire::roap::NO_OK_IN_TRANSACTION));
    /// ```
    pub fn answer(seq: u64, sdp: String) -> Self {
        Self {
            sdps: vec![sdp],
            headers: vec![NO_OK_IN_TRANSACTION.into()],
            ..Self::new(MessageType::Answer, seq)
        }
    }

    /// An error for the transaction `seq`.
    pub fn error(seq: u64, error_type: ErrorType, cause: impl Into<String>) -> Self {
        Self {
            error_type: Some(error_type),
            error_cause: Some(cause.into()),
            ..Self::new(MessageType::Error, seq)
        }
    }

    /// The answer to a TURN discovery request: the TURN server, or empty
    /// values for none.
    ///
    /// ```
    /// let r = webex_wire::roap::RoapMessage::turn_discovery_response(0, None);
    /// assert!(r.headers.contains(&"x-cisco-turn-url=".to_string()));
    /// ```
    pub fn turn_discovery_response(seq: u64, turn: Option<&TurnServer>) -> Self {
        let (url, user, password) = turn
            .map(|t| (t.url.as_str(), t.username.as_str(), t.password.as_str()))
            .unwrap_or_default();
        Self {
            headers: vec![
                format!("{TURN_URL_HEADER}={url}"),
                format!("{TURN_USERNAME_HEADER}={user}"),
                format!("{TURN_PASSWORD_HEADER}={password}"),
                NO_OK_IN_TRANSACTION.into(),
            ],
            ..Self::new(MessageType::TurnDiscoveryResponse, seq)
        }
    }

    /// A TURN discovery request, as the official SDK sends it.
    pub fn turn_discovery_request() -> Self {
        Self {
            headers: vec![
                INCLUDE_ANSWER_IN_HTTP_RESPONSE.into(),
                NO_OK_IN_TRANSACTION.into(),
            ],
            ..Self::new(MessageType::TurnDiscoveryRequest, 0)
        }
    }

    /// An `OK` for the answer `seq`.
    pub fn ok(seq: u64) -> Self {
        Self::new(MessageType::Ok, seq)
    }

    /// Whether `headers` holds `name` (exactly, or as `name=…`).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| {
            h == name
                || h.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('='))
        })
    }

    /// The value of a `name=value` header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(name)?.strip_prefix('='))
    }
}

/// A TURN server handed out by TURN discovery.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// `turn:host:port?transport=udp`, `turns:…`.
    pub url: String,
    /// User name.
    pub username: String,
    /// Password (redacted from `Debug`).
    pub password: String,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What `localMedias[0].localSdp` holds (as a JSON string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LocalSdp {
    /// The sender muted its microphone.
    #[serde(default)]
    pub audio_muted: bool,
    /// The sender muted its camera.
    #[serde(default)]
    pub video_muted: bool,
    /// The ROAP message; absent in a mute-only request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roap_message: Option<RoapMessage>,
    /// Reachability results (opaque here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub reachability: Option<serde_json::Value>,
}

/// One entry of `localMedias`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LocalMedia {
    /// [`LocalSdp`] as a JSON string.
    pub local_sdp: String,
    /// The `mediaId` of the join answer, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
}

/// Body of `PUT {selfUrl}/media`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MediaRequest {
    /// The sending device (`url` must be the participant's JOINED device).
    pub device: JoinDevice,
    /// The client's meeting correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Exactly one entry.
    #[serde(default)]
    pub local_medias: Vec<LocalMedia>,
    /// `ipver`, `joinCookie`, `preferTranscoding` (opaque here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub client_media_preferences: Option<serde_json::Value>,
    /// `true` on a mute-only request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp_only_sdp: Option<bool>,
    /// The Locus sequence the client holds (sent with mute-only requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub sequence: Option<serde_json::Value>,
}

/// What `mediaConnections[0].remoteSdp` holds (as a JSON string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RemoteSdp {
    /// The server's ROAP message.
    pub roap_message: RoapMessage,
}

/// One entry of a `/media` answer's `mediaConnections`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MediaAnswerConnection {
    /// The participant's media id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// [`RemoteSdp`] as a JSON string, when the server answers a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_sdp: Option<String>,
}

/// Answer of `PUT {selfUrl}/media`: always the full Locus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MediaResponse {
    /// The Locus after the request, with `self`.
    pub locus: Locus,
    /// One entry.
    #[serde(default)]
    pub media_connections: Vec<MediaAnswerConnection>,
}

impl MediaResponse {
    /// The ROAP message of the first connection's `remoteSdp`, if any.
    ///
    /// # Errors
    /// When `remoteSdp` is not a JSON [`RemoteSdp`].
    pub fn roap_message(&self) -> Result<Option<RoapMessage>, serde_json::Error> {
        match self
            .media_connections
            .first()
            .and_then(|c| c.remote_sdp.as_deref())
        {
            Some(text) => serde_json::from_str::<RemoteSdp>(text).map(|r| Some(r.roap_message)),
            None => Ok(None),
        }
    }
}
